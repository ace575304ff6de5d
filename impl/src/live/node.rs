//! One live node: the event loop that drives a protocol's actor (the very type the checker
//! explores) over a UDP socket. No protocol logic lives here: the loop decodes datagrams,
//! calls the actor's handlers, and performs the commands they return (send, set timer,
//! cancel timer), plus what the model leaves to its environment:
//!
//! - **Timers**: `Mcast` fires after `--sleep` (jittered), `Send` at once, `Retransmit` after
//!   `--rto`; `Suspect` is the failure detector's (below).
//! - **Selective receive**: a message the actor would only hold back
//!   ([`Protocol::holds_back`]) waits in the mailbox, as the model leaves it in the network;
//!   after every step the mailbox is retried, oldest first. On `fifo` links only the oldest
//!   waiting message of each sender is eligible (the model's channels are FIFO per pair); on
//!   `raw` any is.
//! - **Failure detection**, once for every protocol: a leader sends a heartbeat to its view
//!   every `--heartbeat`, and a slave to its leader (gms4's leader monitors its slaves);
//!   any datagram from a node counts as life; an armed `Suspect` timer
//!   fires once the node it is about ([`suspected`]) has been silent for `--suspect-after`
//!   (counted from when the timer was armed at the earliest): the model's `unreliable`
//!   detector, made real.
//! - **Links** (`link.rs`) and **faults** (`faults.rs`), applied to every datagram sent.
//!
//! Threads and std's `UdpSocket`, one thread per node, rather than `mio`: a node has one
//! socket and a handful of timers, so "read what is there, else wait until the socket is
//! readable or the next deadline" is the whole event loop (the wait is one `ppoll`, precise
//! to the microsecond); no dependency, and the same code serves a node in its own process
//! (`groupy node`) and N nodes in one (`groupy run`).

use super::codec::{Codec, DropCounts, Dropped};
use super::faults::{Dice, Fate, FaultStats, Faults};
use super::link::{FifoLink, Frame, LinkStats, Reassembly, BATCH_BYTES, MAX_PARTS, PART_BYTES};
use super::logfile::LogWriter;
use groupy_model::app::Event;
use groupy_model::group::{suspected, GroupTimer, Member, Role, TimerKind};
use groupy_model::{Link, NodeLog, Protocol};
use serde::Serialize;
use stateright::actor::{Command, Id, Out};
use std::borrow::Cow;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How a node runs, beyond its protocol.
#[derive(Clone, Debug)]
pub struct Options {
    pub sleep: Duration,
    pub heartbeat: Duration,
    pub suspect_after: Duration,
    pub rto: Duration,
    pub link: Link,
    pub faults: Faults,
    pub seed: u64,
    pub group_id: u32,
    pub key: Option<[u8; 32]>,
    pub log_dir: Option<PathBuf>,
    /// A frame whose datagram would be larger goes in parts (`--max-datagram`).
    pub max_datagram: usize,
    /// Saturating worker (`groupy bench`): the `Mcast` timer fires as soon as it is armed,
    /// but only while fewer than this many of the node's own multicasts are issued and not
    /// yet delivered back to it (a window, so a queue cannot grow without bound). `None`:
    /// the timer keeps its `--sleep`.
    pub window: Option<u32>,
    /// Record when each multicast was issued and each log event happened (`groupy bench`).
    pub timing: bool,
    /// Frames to one peer made in one turn of the loop go in one datagram (`Frame::Batch`).
    pub batch: bool,
}

/// When things happened at a node (with [`Options::timing`]): the `k`-th multicast it
/// issued, and each event of its application log, by position.
#[derive(Clone, Debug, Default)]
pub struct Timing {
    pub issued: Vec<Instant>,
    pub events: Vec<Instant>,
}

/// A started group: each node's control, and its thread (which returns its outcome).
pub type Started = (Vec<Arc<Control>>, Vec<JoinHandle<Outcome>>);

/// Starts `n` nodes of protocol `A` on loopback, one thread each, as `groupy run` and
/// `groupy bench` do: node `i` has the setup of node `i` of an `n`-node group, with no limit
/// on its multicasts. `prepare` sees each node's control before its thread starts.
pub fn start_group<A: Protocol>(
    n: usize,
    opts: &Options,
    prepare: impl Fn(&Control),
) -> Result<Started, String> {
    let sockets = (0..n)
        .map(|_| UdpSocket::bind("127.0.0.1:0"))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("cannot bind a loopback UDP socket: {e}"))?;
    let addrs = sockets
        .iter()
        .map(|s| s.local_addr())
        .collect::<Result<Vec<SocketAddr>, _>>()
        .map_err(|e| format!("cannot read a socket's address: {e}"))?;
    let cfg = groupy_model::Config {
        nodes: n,
        ..groupy_model::Config::default()
    };
    let mut controls = Vec::new();
    let mut threads = Vec::new();
    for (i, socket) in sockets.into_iter().enumerate() {
        let setup = groupy_model::group::Setup {
            quota: u32::MAX,
            ..groupy_model::group::Setup::for_node(&cfg, i)
        };
        let control = Arc::new(Control::default());
        prepare(&control);
        let node = Node::new(
            A::with_setup(setup),
            i,
            socket,
            addrs.clone(),
            opts.clone(),
            Arc::clone(&control),
        )?;
        let handle = std::thread::Builder::new()
            .name(format!("node{i}"))
            .spawn(move || node.run())
            .map_err(|e| format!("cannot start node {i}'s thread: {e}"))?;
        controls.push(control);
        threads.push(handle);
    }
    Ok((controls, threads))
}

/// Stops every node of a group [`start_group`] started and collects their outcomes, in node
/// order.
pub fn stop_group((controls, threads): Started) -> Result<Vec<Outcome>, String> {
    for c in &controls {
        c.stop.store(true, Ordering::Relaxed);
    }
    threads
        .into_iter()
        .enumerate()
        .map(|(i, t)| t.join().map_err(|_| format!("node {i}'s thread panicked")))
        .collect()
}

/// Room for the largest UDP datagram (65,507 bytes over IPv4), and one byte to spare.
const RECV_BUF: usize = 65_536;
/// The gap between two parts of one frame.
const PART_GAP: Duration = Duration::from_micros(500);
/// A bound on the mailbox of held-back messages; past it the oldest is dropped and counted.
const MAILBOX_MAX: usize = 100_000;
/// How often the loop looks at the stop, drain and pause flags when nothing else is due.
const POLL: Duration = Duration::from_millis(20);
/// At most this many timers fire between two receives, so a burst of sends cannot starve them.
const FIRE_BURST: usize = 64;
/// A busy node's wait when its socket is empty (see [`Node::run`]).
const NAP: Duration = Duration::from_micros(250);
/// Traffic is heavy from this many datagrams read in a millisecond (16 k/s) on. A low-load
/// multicast brings a node a handful (gms4's leader at N=5: the request and four acks).
const HEAVY: u32 = 16;

/// With `--batch`, at most this many datagrams are read in one turn of the loop.
const RECV_BURST: u32 = 32;
/// A fifo link's acknowledgements are cumulative, so they are coalesced: sent once the
/// socket has nothing more to read, or this long after the first one owed.
const ACK_DELAY: Duration = Duration::from_millis(1);
/// The receive buffer asked for (the kernel caps it at `net.core.rmem_max`): the default
/// (about 200 kB, a few hundred small datagrams once the kernel's overhead is counted)
/// overflows whenever a node on a busy machine is descheduled for a few milliseconds.
const RCVBUF: i32 = 4 << 20;

/// How many datagrams a node read in its last whole millisecond.
#[derive(Default)]
struct Traffic {
    count: u32,
    since: Option<Instant>,
    heavy: bool,
}

impl Traffic {
    fn heavy(&mut self, now: Instant) -> bool {
        let since = *self.since.get_or_insert(now);
        if now.duration_since(since) >= Duration::from_millis(1) {
            self.heavy = self.count >= HEAVY;
            self.count = 0;
            self.since = Some(now);
        }
        self.heavy
    }
}

/// What a node shows while it runs (the live display reads it).
#[derive(Clone, Debug, Default)]
pub struct Status {
    pub delivered: usize,
    pub colour: [u8; 3],
    pub role: Option<Role>,
    pub view: Vec<usize>,
    pub crashed: bool,
    pub stopped: bool,
    /// Steps taken (a drain is over when no node takes any).
    pub steps: u64,
}

/// How the outside world steers a running node.
#[derive(Default)]
pub struct Control {
    /// Stop now (clean shutdown: the log gets its `end` line).
    pub stop: AtomicBool,
    /// Issue no more multicasts; everything else goes on, so the group can settle.
    pub drain: AtomicBool,
    /// Freeze the node (no receive, no timer, no send) until then: a false suspicion.
    pub pause_until: Mutex<Option<Instant>>,
    /// Crash now (fail-stop, as `--crash-rate` does): a leader killed in `groupy bench`.
    pub crash: AtomicBool,
    /// The peers this node cannot reach now, one bit per node id (`groupy run
    /// --partition`): a datagram to one is lost as it leaves, delayed ones included.
    pub cut_off: AtomicU64,
    pub status: Mutex<Status>,
}

/// What a node ended with.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub log: NodeLog<'static>,
    pub report: NodeReport,
    /// With [`Options::timing`].
    pub timing: Option<Timing>,
}

/// A node's counters, for the run's report.
#[derive(Clone, Debug, Default, Serialize)]
pub struct NodeReport {
    pub node: usize,
    pub role: Option<Role>,
    pub delivered: usize,
    pub colour: String,
    pub crashed: bool,
    pub datagrams_in: u64,
    pub datagrams_out: u64,
    pub dropped_in: u64,
    pub dropped_reasons: String,
    pub link: LinkStats,
    pub faults: FaultStats,
    pub held_max: usize,
    pub mailbox_overflow: u64,
    pub encode_errors: u64,
    /// Sends to an id that is not in the address book.
    pub unreachable: u64,
    /// Frames too large for one datagram, sent in parts.
    pub sent_in_parts: u64,
}

/// How reports name a node's standing.
pub fn standing(role: Option<Role>, crashed: bool) -> &'static str {
    match (crashed, role) {
        (true, _) => "CRASHED",
        (false, Some(Role::Leader)) => "leader",
        (false, Some(Role::Slave)) => "slave",
        (false, _) => "outside",
    }
}

/// `#rrggbb`.
pub fn hex(c: [u8; 3]) -> String {
    format!("#{:02x}{:02x}{:02x}", c[0], c[1], c[2])
}

/// A datagram held back by `--delay`: when it is due, a tie-breaker, the peer, the bytes.
type Delayed = (Instant, u64, usize, Vec<u8>);

pub struct Node<A: Protocol> {
    id: Id,
    me: usize,
    actor: A,
    /// Always `Cow::Owned`, so a handler's `to_mut()` is free: a borrowed state would be
    /// cloned whole (its delivery log included) at every step that changes it.
    state: Cow<'static, A::State>,
    socket: UdpSocket,
    addrs: Vec<SocketAddr>,
    codec: Codec,
    opts: Options,
    dice: Dice,
    /// Armed timers other than `Suspect`, with their deadlines.
    timers: Vec<(A::Timer, Instant)>,
    /// Armed `Suspect` timers, with when each was armed.
    suspect: Vec<(A::Timer, Instant)>,
    mailbox: VecDeque<(Id, A::Msg)>,
    link: FifoLink<A::Msg>,
    parts: Reassembly,
    part_id: u64,
    /// Extra delay for the frame being transmitted (the pacing of parts).
    spacing: Duration,
    heard: Vec<Option<Instant>>,
    next_heartbeat: Instant,
    next_resend: Instant,
    delayed: BinaryHeap<Reverse<Delayed>>,
    delayed_seq: u64,
    buf: Vec<u8>,
    log: Option<LogWriter>,
    /// It started in the group (a member of the initial view), not as a joiner.
    founder: bool,
    control: Arc<Control>,
    crashed: bool,
    steps: u64,
    drops: DropCounts,
    report: NodeReport,
    /// Log events already counted into the status (delivered, own delivered, colour), so a
    /// step costs what it adds, not the log's length.
    counted: usize,
    delivered: usize,
    own_delivered: u32,
    colour: [u8; 3],
    timing: Option<Timing>,
    /// Cumulative acknowledgements owed (fifo link), per peer, and since when.
    ack_owed: Vec<Option<u64>>,
    ack_since: Option<Instant>,
    /// With `--batch`: the frames waiting for the end of the turn, per peer, and their bytes.
    batches: Vec<(Vec<Vec<u8>>, usize)>,
}

impl<A: Protocol> Node<A> {
    /// A node `me` of the group whose members' addresses are `addrs` (ids are indices), on a
    /// bound socket. The actor starts here (`on_start`, its commands performed: a joiner's
    /// request goes out at once); [`Node::run`] then drives it.
    pub fn new(
        actor: A,
        me: usize,
        socket: UdpSocket,
        addrs: Vec<SocketAddr>,
        opts: Options,
        control: Arc<Control>,
    ) -> Result<Self, String> {
        let id = Id::from(me);
        let mut probe = Out::new();
        let state = actor.on_start(id, &None, &mut probe);
        let log = match &opts.log_dir {
            Some(dir) => Some(LogWriter::create(
                dir,
                me,
                A::DESCRIPTOR.name,
                state.role() != Role::Outside,
            )?),
            None => None,
        };
        let now = Instant::now();
        let founder = state.role() != Role::Outside;
        let mut node = Node {
            id,
            me,
            founder,
            actor,
            state: Cow::Owned(state),
            socket,
            heard: vec![None; addrs.len()],
            addrs,
            codec: Codec::new(opts.group_id, opts.key, me as u32),
            dice: Dice::new(opts.seed, me, opts.faults),
            opts,
            timers: Vec::new(),
            suspect: Vec::new(),
            mailbox: VecDeque::new(),
            link: FifoLink::new(),
            parts: Reassembly::default(),
            part_id: 0,
            spacing: Duration::ZERO,
            next_heartbeat: now,
            next_resend: now,
            delayed: BinaryHeap::new(),
            delayed_seq: 0,
            buf: Vec::with_capacity(2048),
            log,
            control,
            crashed: false,
            steps: 0,
            drops: DropCounts::default(),
            report: NodeReport {
                node: me,
                ..NodeReport::default()
            },
            counted: 0,
            delivered: 0,
            own_delivered: 0,
            colour: [0; 3],
            timing: None,
            ack_owed: Vec::new(),
            ack_since: None,
            batches: Vec::new(),
        };
        set_recv_buffer(&node.socket, RCVBUF);
        node.socket
            .set_nonblocking(true)
            .map_err(|e| format!("cannot make the node's socket non-blocking: {e}"))?;
        if node.opts.timing {
            node.timing = Some(Timing::default());
        }
        // on_start's commands are performed like any step's.
        node.apply(probe);
        node.after_step();
        node.flush_batches();
        Ok(node)
    }

    /// Runs until stopped or crashed; returns the node's log and counters.
    pub fn run(mut self) -> Outcome {
        let mut rbuf = vec![0u8; RECV_BUF];
        let mut traffic = Traffic::default();
        while !self.crashed && !self.control.stop.load(Ordering::Relaxed) {
            if self.control.crash.load(Ordering::Relaxed) {
                self.crash();
                break;
            }
            if self.paused() {
                continue;
            }
            // The socket never blocks: a busy node reads without waiting, an idle one waits
            // in `wait_readable`, whose timeout (unlike a blocking receive's, rounded up to
            // the kernel's tick) wakes it at its deadline and not up to 4 ms later.
            // With --batch, a node reads what else is queued before its timers fire, so one
            // turn's sends share datagrams.
            let burst = if self.opts.batch { RECV_BURST } else { 1 };
            match self.read_queued(&mut rbuf, burst) {
                Ok(read) => traffic.count += read,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    // Nothing more to read: what is owed goes now; then wait for a datagram
                    // or the next deadline.
                    if self.ack_since.is_some() {
                        self.flush_acks();
                    }
                    let now = Instant::now();
                    let wait = self.next_deadline(now).saturating_duration_since(now);
                    if wait.is_zero() {
                        // A deadline is due: the timers first.
                    } else if traffic.heavy(now) {
                        // Under load, a short nap lets datagrams pile up and be read in one
                        // go: waking for each one cost gms3 a third of its throughput.
                        std::thread::sleep(wait.min(NAP));
                    } else {
                        // Otherwise wake for the next datagram at once: low-load latency.
                        wait_readable(&self.socket, wait.min(POLL));
                    }
                }
                // ICMP errors from a closed peer port surface here on some systems: not ours.
                Err(_) => {}
            }
            self.tick(Instant::now());
            self.flush_batches();
        }
        self.finish()
    }

    /// Sleeps through a pause; afterwards reads what piled up before anything else, as a
    /// resumed process would find its socket full. Returns whether it paused.
    fn paused(&mut self) -> bool {
        let until = self
            .control
            .pause_until
            .lock()
            .ok()
            .and_then(|mut p| p.take());
        let Some(until) = until else {
            return false;
        };
        let now = Instant::now();
        if until > now {
            std::thread::sleep(until - now);
        }
        let mut rbuf = vec![0u8; RECV_BUF];
        let _ = self.read_queued(&mut rbuf, 100_000);
        self.flush_batches();
        true
    }

    /// Reads and handles up to `max` datagrams already queued at the socket. Returns how many,
    /// or the first read's error when there was none (`WouldBlock`: the socket is empty).
    fn read_queued(&mut self, rbuf: &mut [u8], max: u32) -> std::io::Result<u32> {
        let mut read = 0;
        while read < max {
            match self.socket.recv_from(rbuf) {
                Ok((n, from)) => {
                    read += 1;
                    self.on_datagram(&rbuf[..n.min(rbuf.len())], from);
                }
                Err(e) if read == 0 => return Err(e),
                Err(_) => break,
            }
        }
        Ok(read)
    }

    /// Whether the worker's `Mcast` timer waits: the group drains, or a saturating worker's
    /// window is full.
    fn mcast_held(&self) -> bool {
        self.control.drain.load(Ordering::Relaxed)
            || self.opts.window.is_some_and(|w| {
                // A sequencer delivers its own multicasts at once: its window is the fifo
                // link's, the frames its slaves have not acknowledged yet.
                let peers = self.addrs.len().saturating_sub(1).max(1);
                self.state
                    .worker()
                    .issued
                    .saturating_sub(self.own_delivered)
                    >= w
                    || self.link.unacked() >= 4 * w as usize * peers
            })
    }

    fn next_deadline(&self, now: Instant) -> Instant {
        let held = self.mcast_held();
        let mut next = now + POLL;
        for (t, at) in &self.timers {
            if !(held && t.kind() == TimerKind::Mcast) {
                next = next.min(*at);
            }
        }
        // Each armed `Suspect` timer is due when its node will have been silent for
        // `--suspect-after` (later, if the node is heard from meanwhile: recomputed each turn).
        for (timer, armed) in &self.suspect {
            if let Some(p) = suspected(&*self.state, timer) {
                let heard = self.heard.get(usize::from(p)).copied().flatten();
                let last = heard.map_or(*armed, |h| h.max(*armed));
                next = next.min(last + self.opts.suspect_after);
            }
        }
        if self.state.role() != Role::Outside {
            next = next.min(self.next_heartbeat);
        }
        if self.link.unacked() > 0 {
            next = next.min(self.next_resend);
        }
        if let Some(Reverse((at, ..))) = self.delayed.peek() {
            next = next.min(*at);
        }
        if let Some(t) = self.ack_since {
            next = next.min(t + ACK_DELAY);
        }
        next
    }

    /// Everything due at `now`: timers, suspicions, heartbeats, retransmissions, delayed sends.
    fn tick(&mut self, now: Instant) {
        for _ in 0..FIRE_BURST {
            if self.crashed {
                return;
            }
            let held = self.mcast_held();
            let due = self
                .timers
                .iter()
                .enumerate()
                .filter(|(_, (t, at))| {
                    // A `Send` or `Propose` timer armed by a step of this burst is due "at
                    // once", though its instant is after `now`: a broadcast's sends go in one
                    // turn.
                    (*at <= now || matches!(t.kind(), TimerKind::Send | TimerKind::Propose))
                        && !(held && t.kind() == TimerKind::Mcast)
                })
                .min_by_key(|(_, (_, at))| *at)
                .map(|(i, _)| i);
            let Some(i) = due else { break };
            let (timer, _) = self.timers.remove(i);
            self.step(|a, id, st, o| a.on_timeout(id, st, &timer, o));
            self.release();
        }
        self.detect(now);
        if self.crashed {
            return;
        }
        if self.ack_since.is_some_and(|t| now >= t + ACK_DELAY) {
            self.flush_acks();
        }
        if now >= self.next_heartbeat {
            self.next_heartbeat = now + self.opts.heartbeat;
            for p in self.watchers() {
                self.transmit(p, &Frame::<&A::Msg>::Heartbeat);
            }
        }
        if self.opts.link == Link::Fifo && now >= self.next_resend {
            self.next_resend = now + self.opts.rto / 4;
            let heard = self.heard.clone();
            let due = self
                .link
                .due(now, self.opts.rto, self.opts.suspect_after, |p| {
                    heard.get(p).copied().flatten()
                });
            for (peer, seq, msg) in due {
                self.transmit(peer, &Frame::Data { seq, msg: &msg });
            }
        }
        while let Some(Reverse((at, ..))) = self.delayed.peek() {
            if *at > now {
                break;
            }
            if let Some(Reverse((_, _, peer, bytes))) = self.delayed.pop() {
                self.send_bytes(peer, &bytes);
            }
        }
    }

    /// Who may be watching this node, so gets its heartbeats: a leader's slaves (they
    /// monitor it), and a slave's leader (gms4's leader monitors each slave; for gms1..gms3,
    /// whose leaders watch nobody, it is one small datagram per period that nothing reads).
    fn watchers(&self) -> Vec<usize> {
        let view = self.state.view().iter().map(|&p| usize::from(p));
        match self.state.role() {
            Role::Leader => view.filter(|&p| p != self.me).collect(),
            Role::Slave => view.take(1).filter(|&p| p != self.me).collect(),
            Role::Outside => Vec::new(),
        }
    }

    /// The failure detector: fires each armed `Suspect` timer whose node has been silent for
    /// `--suspect-after` since the later of its last datagram and the timer's arming.
    fn detect(&mut self, now: Instant) {
        let mut i = 0;
        while i < self.suspect.len() && !self.crashed {
            let (timer, armed) = self.suspect[i].clone();
            let fire = suspected(&*self.state, &timer).is_some_and(|p| {
                let p = usize::from(p);
                let last = self
                    .heard
                    .get(p)
                    .copied()
                    .flatten()
                    .map_or(armed, |h| h.max(armed));
                now.saturating_duration_since(last) >= self.opts.suspect_after
            });
            if fire {
                self.suspect.remove(i);
                self.step(|a, id, st, o| a.on_timeout(id, st, &timer, o));
                self.release();
            } else {
                i += 1;
            }
        }
    }

    fn on_datagram(&mut self, bytes: &[u8], from: SocketAddr) {
        self.report.datagrams_in += 1;
        // Only the group's members, from where they are: anything else is foreign, and is
        // refused before it can move the named sender's replay window.
        let member = |s: u32| s as usize != self.me && self.addrs.get(s as usize) == Some(&from);
        let (sender, frame) = match self.codec.decode::<Frame<A::Msg>>(bytes, member) {
            Ok(x) => x,
            Err(d) => return self.drops.record(&d),
        };
        let sender = sender as usize;
        self.heard[sender] = Some(Instant::now());
        self.on_frame(sender, frame);
    }

    fn on_frame(&mut self, sender: usize, frame: Frame<A::Msg>) {
        match (frame, self.opts.link) {
            (Frame::Raw(msg), Link::Raw) => self.receive(Id::from(sender), msg),
            (Frame::Data { seq, msg }, Link::Fifo) => {
                let (ready, next) = self.link.on_data(sender, seq, msg);
                if self.ack_owed.len() <= sender {
                    self.ack_owed.resize(sender + 1, None);
                }
                self.ack_owed[sender] = Some(next);
                self.ack_since.get_or_insert_with(Instant::now);
                for msg in ready {
                    self.receive(Id::from(sender), msg);
                }
            }
            (Frame::Ack { next }, Link::Fifo) => {
                if let Some((seq, msg)) = self.link.on_ack(sender, next, Instant::now()) {
                    self.transmit(sender, &Frame::Data { seq, msg: &msg });
                }
            }
            (Frame::Heartbeat, _) => {}
            (
                Frame::Part {
                    id,
                    index,
                    count,
                    bytes,
                },
                _,
            ) => {
                let now = Instant::now();
                let whole = self.parts.on_part(sender, id, index, count, bytes, now);
                match whole.map(|w| postcard::from_bytes::<Frame<A::Msg>>(&w)) {
                    None => {}
                    Some(Ok(Frame::Part { .. }) | Err(_)) => self.drops.record(&Dropped::Malformed),
                    Some(Ok(frame)) => self.on_frame(sender, frame),
                }
            }
            (Frame::Batch(items), _) => {
                for item in items {
                    match postcard::from_bytes::<Frame<A::Msg>>(&item) {
                        Ok(Frame::Batch(_) | Frame::Part { .. }) | Err(_) => {
                            self.drops.record(&Dropped::Malformed)
                        }
                        Ok(frame) => self.on_frame(sender, frame),
                    }
                }
            }
            // A peer on the other kind of link: misconfigured, not this group's traffic.
            _ => self.drops.record(&Dropped::Foreign),
        }
    }

    /// Sends the acknowledgements owed, one cumulative `Ack` per peer.
    fn flush_acks(&mut self) {
        self.ack_since = None;
        for peer in 0..self.ack_owed.len() {
            if let Some(next) = self.ack_owed[peer].take() {
                self.transmit(peer, &Frame::<&A::Msg>::Ack { next });
            }
        }
    }

    /// A protocol message arrives: held back in the mailbox, or handled, then the mailbox
    /// retried.
    fn receive(&mut self, src: Id, msg: A::Msg) {
        if self.crashed {
            return;
        }
        let queued_behind =
            self.opts.link == Link::Fifo && self.mailbox.iter().any(|(s, _)| *s == src);
        if queued_behind || self.actor.holds_back(self.id, &*self.state, src, &msg) {
            if self.mailbox.len() >= MAILBOX_MAX {
                self.mailbox.pop_front();
                self.report.mailbox_overflow += 1;
            }
            self.mailbox.push_back((src, msg));
            self.report.held_max = self.report.held_max.max(self.mailbox.len());
            return;
        }
        self.step(|a, id, st, o| a.on_msg(id, st, src, msg, o));
        self.release();
    }

    /// Handles, oldest first, every held-back message the actor now takes, until none is.
    fn release(&mut self) {
        while !self.crashed {
            let fifo = self.opts.link == Link::Fifo;
            let mut seen: Vec<Id> = Vec::new();
            let mut found = None;
            for (i, (src, msg)) in self.mailbox.iter().enumerate() {
                if fifo && seen.contains(src) {
                    continue;
                }
                seen.push(*src);
                if !self.actor.holds_back(self.id, &*self.state, *src, msg) {
                    found = Some(i);
                    break;
                }
            }
            let Some((src, msg)) = found.and_then(|i| self.mailbox.remove(i)) else {
                return;
            };
            self.step(|a, id, st, o| a.on_msg(id, st, src, msg, o));
        }
    }

    /// One step of the actor: run a handler on the state, keep the new state, perform its
    /// commands, log what the application was delivered.
    fn step(&mut self, f: impl FnOnce(&A, Id, &mut Cow<A::State>, &mut Out<A>)) {
        let mut out = Out::new();
        f(&self.actor, self.id, &mut self.state, &mut out);
        self.steps += 1;
        self.apply(out);
        self.after_step();
    }

    fn apply(&mut self, out: Out<A>) {
        let now = Instant::now();
        for cmd in out {
            if self.crashed {
                return;
            }
            match cmd {
                Command::Send(dst, msg) => {
                    self.send(dst, msg, now);
                    if self.state.mid_broadcast() && self.dice.crash() {
                        self.crash();
                    }
                }
                Command::SetTimer(timer, _range) => {
                    self.timers.retain(|(t, _)| *t != timer);
                    self.suspect.retain(|(t, _)| *t != timer);
                    let at = match timer.kind() {
                        TimerKind::Mcast if self.opts.window.is_some() => now,
                        TimerKind::Mcast => now + self.dice.jitter(self.opts.sleep),
                        TimerKind::Send | TimerKind::Propose => now,
                        TimerKind::Retransmit => now + self.opts.rto,
                        TimerKind::Suspect => {
                            self.suspect.push((timer, now));
                            continue;
                        }
                    };
                    self.timers.push((timer, at));
                }
                Command::CancelTimer(timer) => {
                    self.timers.retain(|(t, _)| *t != timer);
                    self.suspect.retain(|(t, _)| *t != timer);
                }
                // Protocols have no random choices and no storage (`Protocol`'s bounds).
                Command::ChooseRandom(..) | Command::Save(_) => {}
            }
        }
    }

    fn send(&mut self, dst: Id, msg: A::Msg, now: Instant) {
        // A message to itself (no version sends one) would go through the socket like any
        // other, as the model's network carries it.
        let peer = usize::from(dst);
        // A node outside the address book (a view from a forged or foreign datagram could
        // name one) cannot be reached: the message is lost, and no link state is grown for it.
        if peer >= self.addrs.len() {
            self.report.unreachable += 1;
            return;
        }
        match self.opts.link {
            Link::Raw => self.transmit(peer, &Frame::Raw(&msg)),
            Link::Fifo => {
                let seq = self.link.send(peer, msg.clone(), now);
                self.transmit(peer, &Frame::Data { seq, msg: &msg });
            }
        }
    }

    /// Encodes a frame and sends it to `peer`, through the datagram faults; a frame too large
    /// for one datagram goes in parts.
    fn transmit(&mut self, peer: usize, frame: &Frame<&A::Msg>) {
        if self.opts.batch && !matches!(frame, Frame::Part { .. } | Frame::Batch(_)) {
            if let Ok(bytes) = postcard::to_allocvec(frame) {
                if bytes.len() < BATCH_BYTES {
                    return self.batch(peer, bytes);
                }
            }
        }
        let mut buf = std::mem::take(&mut self.buf);
        let part = matches!(frame, Frame::Part { .. });
        match self.codec.encode(peer as u32, frame, &mut buf) {
            Ok(()) if part || buf.len() <= self.opts.max_datagram => {
                self.send_with_faults(peer, &buf)
            }
            Ok(()) => self.send_in_parts(peer, frame),
            // Whatever the codec calls its size error: a whole frame that does not encode
            // is tried in parts, and only a part that does not encode is an error.
            Err(_) if !part => self.send_in_parts(peer, frame),
            Err(e) => {
                if self.report.encode_errors == 0 {
                    eprintln!("warning: node {} cannot send a frame: {e:?}", self.me);
                }
                self.report.encode_errors += 1;
            }
        }
        self.buf = buf;
    }

    /// Adds an encoded frame to `peer`'s batch, sent when full or at the end of the turn.
    fn batch(&mut self, peer: usize, bytes: Vec<u8>) {
        if self.batches.len() <= peer {
            self.batches.resize_with(peer + 1, Default::default);
        }
        if self.batches[peer].1 + bytes.len() > BATCH_BYTES {
            self.flush_batch(peer);
        }
        let b = &mut self.batches[peer];
        b.1 += bytes.len() + 2;
        b.0.push(bytes);
    }

    fn flush_batch(&mut self, peer: usize) {
        let Some((items, _)) = self.batches.get_mut(peer).map(std::mem::take) else {
            return;
        };
        if !items.is_empty() {
            self.transmit(peer, &Frame::Batch(items));
        }
    }

    /// Sends every batch (the end of the loop's turn: nothing is held across a wait).
    fn flush_batches(&mut self) {
        for peer in 0..self.batches.len() {
            self.flush_batch(peer);
        }
    }

    fn send_in_parts(&mut self, peer: usize, frame: &Frame<&A::Msg>) {
        let whole = match postcard::to_allocvec(frame) {
            Ok(w) if w.len() <= PART_BYTES * MAX_PARTS => w,
            Ok(w) => {
                eprintln!(
                    "warning: node {} cannot send a frame of {} bytes",
                    self.me,
                    w.len()
                );
                self.report.encode_errors += 1;
                return;
            }
            Err(e) => {
                eprintln!("warning: node {} cannot send a frame: {e}", self.me);
                self.report.encode_errors += 1;
                return;
            }
        };
        self.part_id += 1;
        self.report.sent_in_parts += 1;
        let count = whole.len().div_ceil(PART_BYTES) as u32;
        for (index, bytes) in whole.chunks(PART_BYTES).enumerate() {
            let part = Frame::Part {
                id: self.part_id,
                index: index as u32,
                count,
                bytes: bytes.to_vec(),
            };
            // Paced: a burst of large datagrams would overflow the receiver's socket buffer
            // (about 200 kB by default on Linux) and be lost whole, at every retransmission.
            self.spacing = PART_GAP * index as u32;
            self.transmit(peer, &part);
        }
        self.spacing = Duration::ZERO;
    }

    fn send_with_faults(&mut self, peer: usize, bytes: &[u8]) {
        match self.dice.fate() {
            Fate::Drop => {}
            Fate::Send(copies, delay) => {
                let delay = delay + self.spacing;
                for _ in 0..copies {
                    if delay.is_zero() {
                        self.send_bytes(peer, bytes);
                    } else {
                        self.delayed_seq += 1;
                        self.delayed.push(Reverse((
                            Instant::now() + delay,
                            self.delayed_seq,
                            peer,
                            bytes.to_vec(),
                        )));
                    }
                }
            }
        }
    }

    fn send_bytes(&mut self, peer: usize, bytes: &[u8]) {
        let cut = self.control.cut_off.load(Ordering::Relaxed);
        if peer < 64 && cut & (1 << peer) != 0 {
            self.dice.stats.cut += 1;
            return;
        }
        if let Some(addr) = self.addrs.get(peer) {
            self.report.datagrams_out += 1;
            // A full socket buffer or an unreachable peer is a lost datagram, as UDP's are.
            let _ = self.socket.send_to(bytes, addr);
        }
    }

    /// Fail-stop: the node's loop stops for good; its log ends with a crash mark.
    fn crash(&mut self) {
        self.crashed = true;
    }

    fn after_step(&mut self) {
        let app = self.state.app();
        let log = &app.log;
        let now = Instant::now();
        let new_view = log
            .get(self.counted..)
            .is_some_and(|new| new.iter().any(|e| matches!(e, Event::View(_))));
        if log.len() < self.counted || new_view {
            // A log may be adopted whole with a view (a joiner's): count it again. Views
            // are rare, so this costs little.
            self.counted = 0;
            self.delivered = 0;
            self.own_delivered = 0;
            self.colour = [0; 3];
        }
        for e in &log[self.counted..] {
            if let Event::Deliver(p) = e {
                self.delivered += 1;
                self.own_delivered += u32::from(p.from == self.id);
                let [r, g, b] = self.colour;
                self.colour = [g, b, r.wrapping_add(p.value)];
            }
        }
        self.counted = log.len();
        if let Some(t) = &mut self.timing {
            t.events.truncate(log.len());
            t.events.resize(log.len(), now);
            let issued = self.state.worker().issued as usize;
            t.issued.resize(issued.max(t.issued.len()), now);
        }
        if let Some(w) = &mut self.log {
            let st = &self.state;
            let res = w.update(&app.log, st.accepted(), st.view(), st.worker().issued);
            if let Err(e) = res {
                eprintln!("warning: {e}; node {} stops logging", self.me);
                self.log = None;
            }
        }
        if let Ok(mut s) = self.control.status.lock() {
            s.delivered = self.delivered;
            s.colour = self.colour;
            s.role = Some(self.state.role());
            s.view = self.state.view().iter().map(|&i| usize::from(i)).collect();
            s.crashed = self.crashed;
            s.steps = self.steps;
        }
    }

    fn finish(mut self) -> Outcome {
        if let Some(w) = &mut self.log {
            if let Err(e) = w.end(self.crashed, self.state.role() != Role::Outside) {
                eprintln!("warning: {e}");
            }
        }
        if let Ok(mut s) = self.control.status.lock() {
            s.crashed = self.crashed;
            s.stopped = true;
        }
        let app = self.state.app();
        let issued = self.state.worker().issued;
        let id = self.id;
        let mut report = self.report;
        report.role = Some(self.state.role());
        report.delivered = app.messages().count();
        report.colour = hex(app.colour());
        report.crashed = self.crashed;
        report.dropped_in = self.drops.total();
        report.dropped_reasons = self.drops.to_string();
        report.link = self.link.stats;
        report.faults = self.dice.stats;
        Outcome {
            log: NodeLog {
                node: id,
                crashed: self.crashed,
                founder: self.founder,
                member: self.state.role() != Role::Outside,
                events: Cow::Owned(app.log.clone()),
                accepted: Cow::Owned(self.state.accepted().to_vec()),
                multicast: Cow::Owned(
                    (0..issued)
                        .map(|k| groupy_model::app::Payload::issued_by(id, k))
                        .collect(),
                ),
            },
            report,
            timing: self.timing,
        }
    }
}

/// Asks for a larger receive buffer (best effort: on failure the kernel's default stays).
#[cfg(unix)]
fn set_recv_buffer(socket: &UdpSocket, bytes: i32) {
    use std::os::fd::AsRawFd;
    // SAFETY: setsockopt reads `size_of::<c_int>()` bytes from a pointer to a live c_int,
    // on a descriptor the socket owns for the duration of the call.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            std::ptr::from_ref(&bytes).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

#[cfg(not(unix))]
fn set_recv_buffer(_socket: &UdpSocket, _bytes: i32) {}

/// Waits until the socket is readable or `timeout` has passed, whichever is first (a signal
/// or an error ends the wait early: the caller's loop looks again).
#[cfg(target_os = "linux")]
fn wait_readable(socket: &UdpSocket, timeout: Duration) {
    use std::os::fd::AsRawFd;
    let mut fd = libc::pollfd {
        fd: socket.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let ts = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: ppoll reads one pollfd (and writes its revents) through a pointer to a live
    // local, and reads the timespec; the descriptor is the socket's, open for the call.
    unsafe {
        libc::ppoll(&mut fd, 1, &ts, std::ptr::null());
    }
}

/// Elsewhere: short naps (std has no readiness wait for a `UdpSocket`).
#[cfg(not(target_os = "linux"))]
fn wait_readable(_socket: &UdpSocket, timeout: Duration) {
    std::thread::sleep(timeout.min(Duration::from_micros(250)));
}
