//! A live node without I/O: the protocol's actor (the very type the checker explores) and
//! everything the runtime adds around it, driven by events the caller hands in, in the shape
//! of quinn-proto's `Connection`. No socket and no clock read: the driver passes the time of
//! every event, takes the datagrams to send ([`NodeCore::poll_transmit`]) and the next
//! deadline ([`NodeCore::poll_timeout`]), and writes out the log lines it is given
//! ([`NodeCore::take_log`]). The UDP driver (`node.rs`) and the simulator (`sim.rs`) are
//! two such callers, so what the simulator finds is what the live node does.
//!
//! What the core adds to the actor, the model leaving it to its environment:
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
//! - **Links** (`link.rs`) and **faults** (`faults.rs`, and the partition a driver sets
//!   with [`NodeCore::set_cut_off`]), applied to every datagram sent; the **framing**
//!   (batches and parts) is the codec's (`codec.rs`): the core hands it whole frames.

use super::codec::{Codec, Datagram, DropCounts, Dropped, Sent};
use super::faults::{CrashBudget, Dice, Fate, FaultStats, Faults};
use super::link::{FifoLink, Frame, LinkStats};
use super::logfile::LogWriter;
use groupy_model::app::Event;
use groupy_model::group::{suspected, GroupTimer, Incarnation, Member, Role, TimerKind};
use groupy_model::{Link, NodeLog, Protocol};
use serde::Serialize;
use stateright::actor::{Command, Id, Out};
use std::borrow::Cow;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// How a node runs, beyond its protocol.
#[derive(Clone, Debug)]
pub struct Options {
    pub sleep: Duration,
    pub heartbeat: Duration,
    pub suspect_after: Duration,
    /// The fifo link's retransmission timeout; for the protocol's retransmission timers,
    /// their timeout before a round trip is measured, and its ceiling ([`Rto`]).
    pub rto: Duration,
    /// The floor of the protocol's measured retransmission timeout (`--rto-min`; equal to
    /// `rto`, the timeout is fixed).
    pub rto_min: Duration,
    pub link: Link,
    pub faults: Faults,
    pub seed: u64,
    pub group_id: u32,
    pub key: Option<[u8; 32]>,
    pub log_dir: Option<std::path::PathBuf>,
    /// A frame whose datagram would be larger goes in parts (`--max-datagram`).
    pub max_datagram: usize,
    /// Saturating worker (`groupy bench`): the `Mcast` timer fires as soon as it is armed,
    /// but only while fewer than this many of the node's own multicasts are issued and not
    /// yet delivered back to it (a window, so a queue cannot grow without bound). `None`:
    /// the timer keeps its `--sleep`.
    pub window: Option<u32>,
    /// Flow control (`--in-flight`): the worker issues no multicast while this many of its
    /// own are undelivered back to it. `None`: no bound.
    pub in_flight: Option<u32>,
    /// Record when each multicast was issued and each log event happened (`groupy bench`).
    pub timing: bool,
    /// Frames to one peer made in one turn of the loop go in one datagram (the codec's batch).
    pub batch: bool,
    /// The crashes `--crash-rate` may still make in the node's group (`None`: no bound, a
    /// node on its own).
    pub crash_budget: Option<CrashBudget>,
}

impl Options {
    /// How long a group must have taken no step to count as settled: longer than the
    /// failure detector and the links need to act on anything still pending.
    pub fn quiet(&self) -> Duration {
        self.suspect_after + self.heartbeat * 2 + self.rto * 2
    }
}

/// The wall clock at one instant of the driver's clock: log lines are stamped with the
/// wall-clock milliseconds of the instant they were written at (a simulator's clock starts
/// at 0), and the codec's counter starts from the same clock (see the codec's Replay).
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    pub at: Instant,
    pub unix_ms: u64,
}

impl Clock {
    /// The real clock, now.
    pub fn now() -> Clock {
        Clock {
            at: Instant::now(),
            unix_ms: super::logfile::now_ms(),
        }
    }

    fn ms(&self, t: Instant) -> u64 {
        self.unix_ms + t.saturating_duration_since(self.at).as_millis() as u64
    }
}

/// Which life of its node a core runs: how many restarts came before it, and what the node's
/// storage kept (the model's `Storage`: the incarnation number a protocol with restarts
/// saves, and nothing else). A restart keeps the storage and nothing of the state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Life {
    pub restarts: u32,
    pub storage: Option<Incarnation>,
}

/// When things happened at a node (with [`Options::timing`]): the `k`-th multicast it
/// issued, and each event of its application log, by position.
#[derive(Clone, Debug, Default)]
pub struct Timing {
    pub issued: Vec<Instant>,
    pub events: Vec<Instant>,
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
    /// Steps taken.
    pub steps: u64,
    /// Steps that changed what the application or the group can see (see
    /// [`NodeCore::progress`]): a drain is over when no node makes any.
    pub progress: u64,
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
    /// The protocol's retransmission timeout at the end, in µs ([`Rto`]), the round trips
    /// it was measured from, and how often a retransmission timer fired.
    pub rto_us: u64,
    pub rtt_samples: u64,
    pub retransmit_timeouts: u64,
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

/// A datagram for the driver to send: to peer `peer` (an index into the address book).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    pub peer: usize,
    pub bytes: Vec<u8>,
    /// When the step that sent it was taken (earlier than now for one `--delay` held): the
    /// simulator loses what was sent to a node's earlier life, as the model does.
    pub made: Instant,
}

/// A bound on the mailbox of held-back messages; past it the oldest is dropped and counted.
const MAILBOX_MAX: usize = 100_000;
/// At most this many timers fire in one [`NodeCore::handle_timeout`], so a burst of sends
/// cannot starve the receives.
const FIRE_BURST: usize = 64;
/// A fifo link's acknowledgements are cumulative, so they are coalesced: sent once the
/// socket has nothing more to read ([`NodeCore::handle_idle`]), or this long after the
/// first one owed.
const ACK_DELAY: Duration = Duration::from_millis(1);

/// A datagram held back by `--delay`: when it is due, a tie-breaker, the peer, the bytes,
/// when it was made.
type Delayed = (Instant, u64, usize, Vec<u8>, Instant);

/// The protocol's retransmission timeout, from measured round trips as TCP's (RFC 6298): a
/// smoothed round trip and its variation, `srtt + 4 * rttvar`, between `--rto-min` and
/// `--rto`, doubled (up to `--rto`) each time a retransmission timer fires again before the
/// node delivers anything or takes a sample (RFC 6298, 5.5; ended by progress, as Linux
/// ends it on new data acknowledged). A sample is
/// the time from issuing one of the node's own multicasts to delivering it back, which
/// spans what a retransmission timer waits for (a slave's request sequenced, a leader's
/// proposal acknowledged); one is timed at a time, from its last transmission: a
/// retransmission timer that fires meanwhile may repeat it, and then the repeat is timed.
/// (TCP's Karn rule discards such a sample instead, and keeps the backed-off timeout until
/// an unrepeated one comes; under steady loss with go-back-N at the leader almost every
/// sample overlaps a repeat, and slaves stayed at 50 ms. A repeat answered by the late
/// original times short, which costs spurious repeats, not safety.) A fixed `--rto` (50 ms
/// by default)
/// let one lost multicast stall its sender for 50 ms on a network whose round trip is a
/// tenth of a millisecond: gms4 at 2 % loss kept 4 % of its loss-free throughput (issue 23).
#[derive(Clone, Debug)]
struct Rto {
    srtt: Option<Duration>,
    rttvar: Duration,
    rto: Duration,
    min: Duration,
    max: Duration,
    /// The multicast being timed: its number among this node's, and when it was issued.
    probe: Option<(u32, Instant)>,
    samples: u64,
    fired: u64,
    /// Timer firings since the node last delivered or took a sample (at most 17): the
    /// timeout is doubled once for each after the first.
    backoff: u32,
}

impl Rto {
    fn new(min: Duration, max: Duration) -> Rto {
        Rto {
            srtt: None,
            rttvar: Duration::ZERO,
            rto: max,
            min: min.min(max),
            max,
            probe: None,
            samples: 0,
            fired: 0,
            backoff: 0,
        }
    }

    /// The timeout to arm: the estimate, doubled for each firing after the first since the
    /// group last moved. One firing between deliveries is a loss being repaired, not a
    /// stalled group: backing off there cost the slowest sender under 2 % loss 4x.
    fn current(&self) -> Duration {
        self.rto
            .saturating_mul(1 << self.backoff.saturating_sub(1))
            .min(self.max)
    }

    /// This node delivered something: the group is moving, so the back-off ends (as Linux
    /// ends it on an acknowledgement of new data, without waiting for a sample: under
    /// steady loss a sample is rare and the back-off would halve throughput).
    fn progress(&mut self) {
        self.backoff = 0;
    }

    fn sample(&mut self, r: Duration) {
        let (srtt, rttvar) = match self.srtt {
            None => (r, r / 2),
            Some(s) => {
                let diff = s.abs_diff(r);
                (s * 7 / 8 + r / 8, self.rttvar * 3 / 4 + diff / 4)
            }
        };
        self.srtt = Some(srtt);
        self.rttvar = rttvar;
        self.samples += 1;
        self.rto = (srtt + rttvar * 4).clamp(self.min, self.max);
        self.backoff = 0;
    }

    /// A retransmission timer fired at `now`: the multicast being timed may be repeated, so
    /// it is timed from the repeat.
    fn fired(&mut self, now: Instant) {
        self.fired += 1;
        // RFC 6298, 5.5: back off. Without it a failover, which gives no samples, kept the
        // loopback timeout of a millisecond, and every slave repeated its window of
        // multicasts to the candidate each millisecond, which under load starved the
        // election for as long as the load lasted (notes/gms5.md).
        self.backoff = (self.backoff + 1).min(17);
        if let Some((_, since)) = &mut self.probe {
            *since = now;
        }
    }
}

/// One node: its actor and state, and the runtime around them, with no I/O.
pub struct NodeCore<A: Protocol> {
    id: Id,
    me: usize,
    actor: A,
    /// Always `Cow::Owned`, so a handler's `to_mut()` is free: a borrowed state would be
    /// cloned whole (its delivery log included) at every step that changes it.
    state: Cow<'static, A::State>,
    addrs: Vec<SocketAddr>,
    codec: Codec,
    opts: Options,
    dice: Dice,
    clock: Clock,
    /// The time of the event being handled.
    now: Instant,
    /// Armed timers other than `Suspect`, with their deadlines.
    timers: Vec<(A::Timer, Instant)>,
    /// Armed `Suspect` timers, with when each was armed.
    suspect: Vec<(A::Timer, Instant)>,
    mailbox: VecDeque<(Id, A::Msg)>,
    link: FifoLink<A::Msg>,
    heard: Vec<Option<Instant>>,
    next_heartbeat: Instant,
    next_resend: Instant,
    delayed: BinaryHeap<Reverse<Delayed>>,
    delayed_seq: u64,
    /// The datagrams the codec made of the frame being transmitted (kept for its capacity).
    datagrams: Vec<Datagram>,
    transmits: VecDeque<Transmit>,
    log: Option<LogWriter<Vec<u8>>>,
    /// It started in the group (a member of the initial view), not as a joiner.
    founder: bool,
    rto: Rto,
    /// Which life this is, its storage updated by the actor's `Save` commands.
    life: Life,
    draining: bool,
    /// The peers a partition cuts this node off from, one bit per node id.
    cut_off: u64,
    crashed: bool,
    steps: u64,
    progress: u64,
    /// The step being taken sent something to a peer heard from lately.
    sent_to_live: bool,
    /// What the last step left visible: log length, multicasts issued, views accepted,
    /// role, view.
    seen: (usize, u32, usize, Role, Vec<Id>),
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
    /// The steps taken since the last [`NodeCore::take_steps`], once
    /// [`NodeCore::record_steps`] asked for them (trace validation); `None` costs nothing.
    recorded: Option<Vec<Recorded<A>>>,
}

/// What made an actor step: a message handed to `on_msg`, or a timer to `on_timeout`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input<M, T> {
    Msg { src: Id, msg: M },
    Timeout(T),
}

/// One thing a node did, as trace validation (`validate.rs`) checks it against the model.
#[derive(Clone, Debug)]
pub enum Recorded<A: Protocol> {
    /// The node when recording began: its state and armed timers.
    From {
        state: A::State,
        timers: Vec<A::Timer>,
    },
    /// A handler ran: what it was given, the state it left, the timers armed after its
    /// commands (`None` if the node crashed while performing them: the rest were not).
    Step {
        input: Input<A::Msg, A::Timer>,
        state: A::State,
        timers: Option<Vec<A::Timer>>,
    },
    /// Fail-stop: a kill, or `--crash-rate`'s dice mid-broadcast.
    Crash,
}

impl<A: Protocol> NodeCore<A> {
    /// Node `me` of the group whose members' addresses are `addrs` (ids are indices), at
    /// time `clock.at`. The actor starts here (`on_start`; its commands are performed, so a
    /// joiner's request is the first transmit).
    pub fn new(actor: A, me: usize, addrs: Vec<SocketAddr>, opts: Options, clock: Clock) -> Self {
        Self::start(actor, me, addrs, opts, clock, Life::default())
    }

    /// Node `me` starting `life`: its first with [`Life::default`], or the one a restart
    /// begins ([`NodeCore::next_life`]), with the storage the last life left.
    pub fn start(
        actor: A,
        me: usize,
        addrs: Vec<SocketAddr>,
        opts: Options,
        clock: Clock,
        life: Life,
    ) -> Self {
        let id = Id::from(me);
        let now = clock.at;
        let mut probe = Out::new();
        let state = actor.on_start(id, &life.storage, &mut probe);
        let founder = state.role() != Role::Outside;
        let codec = Codec::new(opts.group_id, opts.key, me as u32)
            .with_framing(opts.max_datagram, opts.batch);
        // The counter starts at the clock's nanoseconds since the epoch (see the codec).
        codec.start_counter_at(clock.unix_ms.saturating_mul(1_000_000));
        let mut core = NodeCore {
            id,
            me,
            founder,
            actor,
            state: Cow::Owned(state),
            heard: vec![None; addrs.len()],
            addrs,
            codec,
            // A later life throws other dice than the first did.
            dice: Dice::new(
                opts.seed ^ u64::from(life.restarts).wrapping_mul(0x9E37_79B9_7F4A_7C15),
                me,
                opts.faults,
            ),
            life,
            rto: Rto::new(opts.rto_min, opts.rto),
            timing: opts.timing.then(Timing::default),
            log: None,
            opts,
            clock,
            now,
            timers: Vec::new(),
            suspect: Vec::new(),
            mailbox: VecDeque::new(),
            link: FifoLink::new(),
            next_heartbeat: now,
            next_resend: now,
            delayed: BinaryHeap::new(),
            delayed_seq: 0,
            datagrams: Vec::new(),
            transmits: VecDeque::new(),
            draining: false,
            cut_off: 0,
            crashed: false,
            steps: 0,
            progress: 0,
            sent_to_live: false,
            seen: (0, 0, 0, Role::Outside, Vec::new()),
            drops: DropCounts::default(),
            report: NodeReport {
                node: me,
                ..NodeReport::default()
            },
            counted: 0,
            delivered: 0,
            own_delivered: 0,
            colour: [0; 3],
            ack_owed: Vec::new(),
            ack_since: None,
            recorded: None,
        };
        if core.opts.log_dir.is_some() {
            // Formatting into a buffer cannot fail.
            core.log =
                LogWriter::new(Vec::new(), me, life.restarts, A::DESCRIPTOR.name, founder).ok();
        }
        // on_start's commands are performed like any step's.
        core.apply(probe);
        core.after_step();
        core.flush_batches();
        core
    }

    /// A datagram arrived from `from`.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        if self.crashed {
            return;
        }
        self.now = now;
        self.report.datagrams_in += 1;
        // Only the group's members, from where they are: anything else is foreign, and is
        // refused before it can move the sender's replay window.
        let (me, addrs) = (self.me, &self.addrs);
        let member = |s: u32| s as usize != me && addrs.get(s as usize) == Some(&from);
        let received = match self.codec.receive::<Frame<A::Msg>>(bytes, member, now) {
            Ok(x) => x,
            Err(d) => return self.drops.record(&d),
        };
        let sender = received.sender as usize;
        self.heard[sender] = Some(now);
        if let Some(d) = received.dropped {
            self.drops.record(&d);
        }
        for frame in received.frames {
            self.on_frame(sender, frame);
        }
    }

    /// Nothing more has arrived for now: the acknowledgements owed go.
    pub fn handle_idle(&mut self, now: Instant) {
        if self.ack_since.is_some() && !self.crashed {
            self.now = now;
            self.flush_acks();
        }
    }

    /// The end of a turn: everything due at `now` (timers, suspicions, heartbeats,
    /// retransmissions, delayed datagrams), then the turn's batches are closed.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.crashed {
            return;
        }
        self.now = now;
        self.tick();
        self.flush_batches();
    }

    /// The next datagram to send, if any.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// When [`NodeCore::handle_timeout`] is next due (`None`: only an event can wake it).
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.crashed {
            return None;
        }
        let held = self.mcast_held();
        let mut next: Option<Instant> = None;
        let mut due = |t: Instant| next = Some(next.map_or(t, |n| n.min(t)));
        for (t, at) in &self.timers {
            if !(held && t.kind() == TimerKind::Mcast) {
                due(*at);
            }
        }
        // Each armed `Suspect` timer is due when its node will have been silent for
        // `--suspect-after` (later, if the node is heard from meanwhile: recomputed each turn).
        for (timer, armed) in &self.suspect {
            if let Some(p) = suspected(&*self.state, timer) {
                let heard = self.heard.get(usize::from(p)).copied().flatten();
                let last = heard.map_or(*armed, |h| h.max(*armed));
                due(last + self.opts.suspect_after);
            }
        }
        if self.state.role() != Role::Outside {
            due(self.next_heartbeat);
        }
        if self.link.unacked() > 0 {
            due(self.next_resend);
        }
        if let Some(Reverse((at, ..))) = self.delayed.peek() {
            due(*at);
        }
        if let Some(t) = self.ack_since {
            due(t + ACK_DELAY);
        }
        next
    }

    /// The log lines formatted since the last call (empty without a log).
    pub fn take_log(&mut self) -> Vec<u8> {
        self.log.as_mut().map(LogWriter::take).unwrap_or_default()
    }

    /// Stops formatting log lines (the driver could not write them).
    pub fn stop_logging(&mut self) {
        self.log = None;
    }

    /// What the node shows now.
    pub fn status(&self) -> Status {
        Status {
            delivered: self.delivered,
            colour: self.colour,
            role: Some(self.state.role()),
            view: self.state.view().iter().map(|&i| usize::from(i)).collect(),
            crashed: self.crashed,
            stopped: false,
            steps: self.steps,
            progress: self.progress,
        }
    }

    /// The group drains: the worker issues no more multicasts (everything else goes on).
    pub fn set_draining(&mut self, draining: bool) {
        self.draining = draining;
    }

    /// The peers this node cannot reach now, one bit per node id: a datagram to one is lost
    /// as it leaves (a delayed one too, if the cut is in force when it is due).
    pub fn set_cut_off(&mut self, peers: u64) {
        self.cut_off = peers;
    }

    /// The network heals: no more datagram faults or crashes from here on (the simulator's
    /// liveness mode).
    pub fn stop_faults(&mut self) {
        self.dice.faults = Faults::default();
    }

    /// Fail-stop: the node takes no more steps and sends nothing more.
    pub fn crash(&mut self) {
        if let Some(r) = self.recorded.as_mut().filter(|_| !self.crashed) {
            r.push(Recorded::Crash);
        }
        self.crashed = true;
    }

    /// Starts (or stops) recording every step the actor takes, for trace validation; the
    /// first record is the node as it is now.
    pub fn record_steps(&mut self, on: bool) {
        self.recorded = on.then(|| {
            let from = Recorded::From {
                state: (*self.state).clone(),
                timers: self.armed(),
            };
            vec![from]
        });
    }

    /// The steps recorded since the last call, oldest first.
    pub fn take_steps(&mut self) -> Vec<Recorded<A>> {
        self.recorded
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// The armed timers, `Suspect` ones included.
    fn armed(&self) -> Vec<A::Timer> {
        let all = self.timers.iter().chain(&self.suspect);
        all.map(|(t, _)| t.clone()).collect()
    }

    pub fn crashed(&self) -> bool {
        self.crashed
    }

    /// This life of the node.
    pub fn life(&self) -> Life {
        self.life
    }

    /// The life a restart of this node begins: one more restart, and the storage the model's
    /// environment gives a recovered actor (`GroupModel`'s restart): the next incarnation
    /// number, 1 after a life that saved none.
    pub fn next_life(&self) -> Life {
        Life {
            restarts: self.life.restarts + 1,
            storage: Some(self.life.storage.map_or(1, |k| k + 1)),
        }
    }

    /// Steps the actor has taken that changed what the application or the group can see (a
    /// delivery, a view, a multicast issued, a view accepted, a change of role) or sent
    /// something to a peer heard from within `--suspect-after`. A repetition to a peer that
    /// has gone silent (a leader re-sending to a removed member that will never answer) is
    /// a step but not progress, as the checker's quiescence does not count a delivery to a
    /// crashed node.
    pub fn progress(&self) -> u64 {
        self.progress
    }

    /// The protocol state (for a simulator's judgement and for tests).
    pub fn state(&self) -> &A::State {
        &self.state
    }

    /// Ends the log (its `end` line, taken with [`NodeCore::take_log`] like any other, which
    /// says whether the group had `settled`) and returns what the node ended with.
    pub fn finish(&mut self, settled: bool) -> Outcome {
        if let Some(w) = &mut self.log {
            let member = self.state.role() != Role::Outside;
            // Formatting into a buffer cannot fail.
            let _ = w.end(self.crashed, member, settled && !self.crashed);
        }
        let app = self.state.app();
        let issued = self.state.worker().issued;
        let id = self.id;
        let mut report = self.report.clone();
        report.role = Some(self.state.role());
        report.delivered = app.messages().count();
        report.colour = hex(app.colour());
        report.crashed = self.crashed;
        report.dropped_in = self.drops.total();
        report.dropped_reasons = self.drops.to_string();
        report.link = self.link.stats;
        report.rto_us = self.rto.current().as_micros() as u64;
        report.rtt_samples = self.rto.samples;
        report.retransmit_timeouts = self.rto.fired;
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
            timing: self.timing.take(),
        }
    }

    /// Whether `peer` has been heard from within `--suspect-after` (or is this node).
    fn alive(&self, peer: usize) -> bool {
        peer == self.me
            || self
                .heard
                .get(peer)
                .copied()
                .flatten()
                .is_some_and(|h| self.now.saturating_duration_since(h) < self.opts.suspect_after)
    }

    /// Whether the worker's `Mcast` timer waits: the group drains, or a saturating worker's
    /// window is full.
    fn mcast_held(&self) -> bool {
        let undelivered = self
            .state
            .worker()
            .issued
            .saturating_sub(self.own_delivered);
        self.draining
            || self.opts.in_flight.is_some_and(|w| undelivered >= w)
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

    /// Everything due at `self.now`: timers, suspicions, heartbeats, retransmissions, delayed
    /// sends.
    fn tick(&mut self) {
        let now = self.now;
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
            if timer.kind() == TimerKind::Retransmit {
                self.rto.fired(now);
            }
            self.step(Input::Timeout(timer));
            self.release();
        }
        self.detect();
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
            if let Some(Reverse((_, _, peer, bytes, made))) = self.delayed.pop() {
                self.send_bytes(peer, bytes, made);
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
    fn detect(&mut self) {
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
                self.now.saturating_duration_since(last) >= self.opts.suspect_after
            });
            if fire {
                self.suspect.remove(i);
                self.step(Input::Timeout(timer));
                self.release();
            } else {
                i += 1;
            }
        }
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
                self.ack_since.get_or_insert(self.now);
                for msg in ready {
                    self.receive(Id::from(sender), msg);
                }
            }
            (Frame::Ack { next }, Link::Fifo) => {
                if let Some((seq, msg)) = self.link.on_ack(sender, next, self.now) {
                    self.transmit(sender, &Frame::Data { seq, msg: &msg });
                }
            }
            (Frame::Heartbeat, _) => {}
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
        self.step(Input::Msg { src, msg });
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
            self.step(Input::Msg { src, msg });
        }
    }

    /// One step of the actor: run a handler on the state, keep the new state, perform its
    /// commands, log what the application was delivered.
    fn step(&mut self, input: Input<A::Msg, A::Timer>) {
        // Cloned only when recording: the handler consumes the message.
        let copy = self.recorded.is_some().then(|| input.clone());
        let mut out = Out::new();
        let (a, id, st) = (&self.actor, self.id, &mut self.state);
        match input {
            Input::Msg { src, msg } => a.on_msg(id, st, src, msg, &mut out),
            Input::Timeout(timer) => a.on_timeout(id, st, &timer, &mut out),
        }
        self.steps += 1;
        // A crash while performing the commands is recorded after this step.
        let at = self.recorded.as_ref().map(Vec::len);
        self.apply(out);
        if let (Some(input), Some(at)) = (copy, at) {
            let step = Recorded::Step {
                input,
                state: (*self.state).clone(),
                timers: (!self.crashed).then(|| self.armed()),
            };
            if let Some(r) = self.recorded.as_mut() {
                r.insert(at, step);
            }
        }
        self.after_step();
    }

    fn apply(&mut self, out: Out<A>) {
        let now = self.now;
        for cmd in out {
            if self.crashed {
                return;
            }
            match cmd {
                Command::Send(dst, msg) => {
                    self.sent_to_live |= self.alive(usize::from(dst));
                    self.send(dst, msg);
                    if self.state.mid_broadcast()
                        && self.dice.crash()
                        && self
                            .opts
                            .crash_budget
                            .as_ref()
                            .is_none_or(CrashBudget::take)
                    {
                        self.crash();
                    }
                }
                Command::SetTimer(timer, _range) => {
                    let running = self.timers.iter().find(|(t, _)| *t == timer).map(|x| x.1);
                    self.timers.retain(|(t, _)| *t != timer);
                    self.suspect.retain(|(t, _)| *t != timer);
                    let at = match timer.kind() {
                        TimerKind::Mcast if self.opts.window.is_some() => now,
                        TimerKind::Mcast => now + self.dice.jitter(self.opts.sleep),
                        TimerKind::Send | TimerKind::Propose => now,
                        // A retransmission timer already running keeps its deadline (RFC
                        // 6298, 5.1: start it only if it is not running). Set again at every
                        // multicast and proposal, it would otherwise be put off for as long
                        // as the load lasts, and a lost message with it. The model cannot
                        // tell the two apart: its timers have no deadlines.
                        TimerKind::Retransmit => running.unwrap_or(now + self.rto.current()),
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
                // What a restart keeps (a live node would write it to stable storage first).
                Command::Save(storage) => self.life.storage = Some(storage),
                // Protocols have no random choices (`Protocol`'s bounds).
                Command::ChooseRandom(..) => {}
            }
        }
    }

    fn send(&mut self, dst: Id, msg: A::Msg) {
        // A message to itself (no version sends one) would go through the network like any
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
                let seq = self.link.send(peer, msg.clone(), self.now);
                self.transmit(peer, &Frame::Data { seq, msg: &msg });
            }
        }
    }

    /// Hands a frame to the codec and sends what datagrams it makes of it to `peer` (none
    /// while it waits in a batch, several in parts), through the datagram faults.
    fn transmit(&mut self, peer: usize, frame: &Frame<&A::Msg>) {
        let mut datagrams = std::mem::take(&mut self.datagrams);
        match self.codec.send(peer as u32, frame, &mut datagrams) {
            Ok(Sent::InParts) => self.report.sent_in_parts += 1,
            Ok(Sent::Batched | Sent::Alone) => {}
            Err(e) => {
                if self.report.encode_errors == 0 {
                    eprintln!("warning: node {} cannot send a frame: {e}", self.me);
                }
                self.report.encode_errors += 1;
            }
        }
        self.send_datagrams(&mut datagrams);
        self.datagrams = datagrams;
    }

    /// Sends every batch (the end of the turn: nothing is held across a wait).
    fn flush_batches(&mut self) {
        let mut datagrams = std::mem::take(&mut self.datagrams);
        self.codec.flush(&mut datagrams);
        self.send_datagrams(&mut datagrams);
        self.datagrams = datagrams;
    }

    fn send_datagrams(&mut self, datagrams: &mut Vec<Datagram>) {
        for d in datagrams.drain(..) {
            self.send_with_faults(d.receiver as usize, d.bytes, d.pace);
        }
    }

    /// Sends a datagram through the datagram faults, `pace` later than it would have gone
    /// (the pacing of parts).
    fn send_with_faults(&mut self, peer: usize, bytes: Vec<u8>, pace: Duration) {
        match self.dice.fate() {
            Fate::Drop => {}
            Fate::Send(copies, delay) => {
                let delay = delay + pace;
                for _ in 1..copies {
                    self.send_after(delay, peer, bytes.clone());
                }
                if copies > 0 {
                    self.send_after(delay, peer, bytes);
                }
            }
        }
    }

    /// Sends a datagram now, or keeps it until `delay` has passed.
    fn send_after(&mut self, delay: Duration, peer: usize, bytes: Vec<u8>) {
        if delay.is_zero() {
            self.send_bytes(peer, bytes, self.now);
        } else {
            self.delayed_seq += 1;
            let at = self.now + delay;
            self.delayed
                .push(Reverse((at, self.delayed_seq, peer, bytes, self.now)));
        }
    }

    fn send_bytes(&mut self, peer: usize, bytes: Vec<u8>, made: Instant) {
        if peer < 64 && self.cut_off & (1 << peer) != 0 {
            self.dice.stats.cut += 1;
            return;
        }
        if peer < self.addrs.len() {
            self.report.datagrams_out += 1;
            self.transmits.push_back(Transmit { peer, bytes, made });
        }
    }

    fn after_step(&mut self) {
        let app = self.state.app();
        let log = &app.log;
        let now = self.now;
        let st = &self.state;
        let (issued, accepted, role) = (st.worker().issued, st.accepted().len(), st.role());
        if issued > self.seen.1 && self.rto.probe.is_none() {
            // Its newest multicast, timed until it comes back (see `Rto`).
            self.rto.probe = Some((issued - 1, now));
        }
        let seen = &self.seen;
        if (seen.0, seen.1, seen.2, seen.3) != (log.len(), issued, accepted, role)
            || seen.4 != st.view()
        {
            self.progress += 1;
            self.seen = (log.len(), issued, accepted, role, st.view().to_vec());
        } else if std::mem::take(&mut self.sent_to_live) {
            self.progress += 1;
        }
        self.sent_to_live = false;
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
                self.rto.progress();
                self.delivered += 1;
                self.own_delivered += u32::from(p.from == self.id);
                if let Some((k, at)) = self.rto.probe {
                    if p.from == self.id && p.seq == k {
                        self.rto.sample(now.saturating_duration_since(at));
                        self.rto.probe = None;
                    }
                }
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
            let at_ms = self.clock.ms(now);
            // Formatting into a buffer cannot fail.
            let _ = w.update(
                &app.log,
                st.accepted(),
                st.view(),
                st.worker().issued,
                at_ms,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_retransmission_timeout_follows_round_trips_between_its_bounds() {
        let ms = Duration::from_millis;
        let t0 = Instant::now();
        let mut rto = Rto::new(ms(1), ms(50));
        assert_eq!(rto.rto, ms(50), "before any sample: the ceiling");
        // Steady 2 ms round trips: the estimate comes down to about them.
        for _ in 0..50 {
            rto.sample(ms(2));
        }
        assert!(rto.rto >= ms(2) && rto.rto < ms(3), "{:?}", rto.rto);
        // Tiny ones: the floor.
        for _ in 0..50 {
            rto.sample(Duration::from_micros(10));
        }
        assert_eq!(rto.rto, ms(1));
        // Wild ones: the ceiling.
        rto.sample(ms(500));
        assert_eq!(rto.rto, ms(50));
        // A timed multicast repeated is timed from the repeat.
        rto.probe = Some((7, t0));
        rto.fired(t0 + ms(40));
        assert_eq!(rto.probe, Some((7, t0 + ms(40))));
        assert_eq!((rto.samples, rto.fired), (101, 1));
        // Each firing after the first doubles the timeout, up to the ceiling (a failover
        // gives no samples), and the next sample sets it from the estimate again.
        let mut backoff = Rto::new(ms(1), ms(50));
        for _ in 0..50 {
            backoff.sample(Duration::from_micros(10));
        }
        let mut seen = vec![backoff.current()];
        for _ in 0..20 {
            backoff.fired(t0);
            seen.push(backoff.current());
        }
        let want: Vec<Duration> = [1, 1, 2, 4, 8, 16, 32]
            .into_iter()
            .chain([50; 14])
            .map(ms)
            .collect();
        assert_eq!(seen, want);
        backoff.sample(Duration::from_micros(10));
        assert_eq!(backoff.current(), ms(1));
        // So does a delivery: the group is moving again.
        backoff.fired(t0);
        backoff.fired(t0);
        backoff.fired(t0);
        assert_eq!(backoff.current(), ms(4));
        backoff.progress();
        assert_eq!(backoff.current(), ms(1));
        // --rto-min equal to --rto: fixed.
        let mut fixed = Rto::new(ms(50), ms(50));
        fixed.sample(ms(1));
        assert_eq!(fixed.rto, ms(50));
    }
}
