//! One live node on a UDP socket: the thin driver around its sans-I/O core
//! ([`super::core::NodeCore`], where the actor, the runtime's timers, failure detector,
//! links and faults live). The loop reads datagrams into the core, sends what it asks to
//! send, waits until the socket is readable or the core's next deadline, and writes the log
//! lines the core formats; it also carries out what the outside world asks through
//! [`Control`] (stop, drain, pause, crash, partition).
//!
//! Threads and std's `UdpSocket`, one thread per node, rather than `mio`: a node has one
//! socket and a handful of timers, so "read what is there, else wait until the socket is
//! readable or the next deadline" is the whole event loop (the wait is one `ppoll`, precise
//! to the microsecond); no dependency, and the same code serves a node in its own process
//! (`groupy node`) and N nodes in one (`groupy run`).

pub use super::core::{hex, standing, Life, NodeReport, Options, Outcome, Status, Timing};
use super::core::{Clock, NodeCore};
use super::faults::CrashBudget;
use super::logfile;
use groupy_model::Protocol;
use std::fs::File;
use std::io::{ErrorKind, Write};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

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
    let opts = &Options {
        crash_budget: Some(CrashBudget::new(n, &opts.faults)),
        ..opts.clone()
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
/// How often the loop looks at the stop, drain and pause flags when nothing else is due.
const POLL: Duration = Duration::from_millis(20);
/// A busy node's wait when its socket is empty (see [`Node::run`]).
const NAP: Duration = Duration::from_micros(250);
/// Traffic is heavy from this many datagrams read in a millisecond (16 k/s) on. A low-load
/// multicast brings a node a handful (gms4's leader at N=5: the request and four acks).
const HEAVY: u32 = 16;

/// With `--batch`, at most this many datagrams are read in one turn of the loop.
const RECV_BURST: u32 = 32;
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
    /// The group settled in its drain (set before `stop`): the log's `end` line says so.
    pub settled: AtomicBool,
    pub status: Mutex<Status>,
}

/// A node on its socket: the core, and what only a real node has.
pub struct Node<A: Protocol> {
    core: NodeCore<A>,
    me: usize,
    socket: UdpSocket,
    addrs: Vec<SocketAddr>,
    batch: bool,
    log: Option<File>,
    control: Arc<Control>,
    /// `groupy node`: the life file's directory and the life last saved there.
    lives: Option<(std::path::PathBuf, Life)>,
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
        Self::start(actor, me, socket, addrs, opts, control, None)
    }

    /// A node starting `life` (`groupy node`, whose life file in `--log-dir` says which,
    /// and where the storage the actor saves is kept, durably, before anything that
    /// relies on it is sent); with `None`, a first life that keeps nothing.
    pub fn start(
        actor: A,
        me: usize,
        socket: UdpSocket,
        addrs: Vec<SocketAddr>,
        opts: Options,
        control: Arc<Control>,
        life: Option<Life>,
    ) -> Result<Self, String> {
        let restarts = life.map_or(0, |l| l.restarts);
        let log = match &opts.log_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir)
                    .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
                let p = logfile::path(dir, me, restarts);
                // A later life's log never replaces an earlier one's.
                let file = if restarts > 0 {
                    File::create_new(&p)
                } else {
                    File::create(&p)
                };
                Some(file.map_err(|e| format!("cannot create {}: {e}", p.display()))?)
            }
            None => None,
        };
        let lives = match (life, &opts.log_dir) {
            (Some(l), Some(dir)) => {
                logfile::save_life(dir, me, l.restarts, l.storage)?;
                Some((dir.clone(), l))
            }
            _ => None,
        };
        set_recv_buffer(&socket, RCVBUF);
        socket
            .set_nonblocking(true)
            .map_err(|e| format!("cannot make the node's socket non-blocking: {e}"))?;
        let batch = opts.batch;
        let core = NodeCore::start(
            actor,
            me,
            addrs.clone(),
            opts,
            Clock::now(),
            life.unwrap_or_default(),
        );
        let mut node = Node {
            core,
            me,
            socket,
            addrs,
            batch,
            log,
            control,
            lives,
        };
        node.flush();
        node.show();
        Ok(node)
    }

    /// Runs until stopped or crashed; returns the node's log and counters.
    pub fn run(mut self) -> Outcome {
        let mut rbuf = vec![0u8; RECV_BUF];
        let mut traffic = Traffic::default();
        while !self.core.crashed() && !self.control.stop.load(Ordering::Relaxed) {
            if self.control.crash.load(Ordering::Relaxed) {
                self.core.crash();
                break;
            }
            if self.paused() {
                continue;
            }
            self.core
                .set_draining(self.control.drain.load(Ordering::Relaxed));
            self.core
                .set_cut_off(self.control.cut_off.load(Ordering::Relaxed));
            // The socket never blocks: a busy node reads without waiting, an idle one waits
            // in `wait_readable`, whose timeout (unlike a blocking receive's, rounded up to
            // the kernel's tick) wakes it at its deadline and not up to 4 ms later.
            // With --batch, a node reads what else is queued before its timers fire, so one
            // turn's sends share datagrams.
            let burst = if self.batch { RECV_BURST } else { 1 };
            match self.read_queued(&mut rbuf, burst) {
                Ok(read) => traffic.count += read,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    // Nothing more to read: what is owed goes now; then wait for a datagram
                    // or the next deadline.
                    self.core.handle_idle(Instant::now());
                    self.flush();
                    let now = Instant::now();
                    let next = self
                        .core
                        .poll_timeout()
                        .map_or(now + POLL, |t| t.min(now + POLL));
                    let wait = next.saturating_duration_since(now);
                    if wait.is_zero() {
                        // A deadline is due: the timers first.
                    } else if traffic.heavy(now) {
                        // Under load, a short nap lets datagrams pile up and be read in one
                        // go: waking for each one cost gms3 a third of its throughput.
                        std::thread::sleep(wait.min(NAP));
                    } else {
                        // Otherwise wake for the next datagram at once: low-load latency.
                        wait_readable(&self.socket, wait);
                    }
                }
                // ICMP errors from a closed peer port surface here on some systems: not ours.
                Err(_) => {}
            }
            self.core.handle_timeout(Instant::now());
            self.flush();
            self.show();
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
        self.core.handle_timeout(Instant::now());
        self.flush();
        true
    }

    /// Reads and hands the core up to `max` datagrams already queued at the socket. Returns
    /// how many, or the first read's error when there was none (`WouldBlock`: the socket is
    /// empty).
    fn read_queued(&mut self, rbuf: &mut [u8], max: u32) -> std::io::Result<u32> {
        let mut read = 0;
        while read < max {
            match self.socket.recv_from(rbuf) {
                Ok((n, from)) => {
                    read += 1;
                    let bytes = &rbuf[..n.min(rbuf.len())];
                    self.core.handle_datagram(Instant::now(), from, bytes);
                    self.flush();
                }
                Err(e) if read == 0 => return Err(e),
                Err(_) => break,
            }
        }
        Ok(read)
    }

    /// Writes the log lines the core formatted, then sends its datagrams: a peer never hears
    /// of a step the log does not hold.
    fn flush(&mut self) {
        // What the actor saved is on disk before anything it sent after saving it leaves:
        // a node that cannot keep it stops (restarted, it would reuse an incarnation).
        if let Some((dir, saved)) = &mut self.lives {
            let now = self.core.life();
            if now != *saved {
                match logfile::save_life(dir, self.me, now.restarts, now.storage) {
                    Ok(()) => *saved = now,
                    Err(e) => {
                        eprintln!("error: node {}: {e}; it stops", self.me);
                        self.core.crash();
                        while self.core.poll_transmit().is_some() {}
                    }
                }
            }
        }
        let lines = self.core.take_log();
        if let Some(f) = &mut self.log {
            if !lines.is_empty() {
                if let Err(e) = f.write_all(&lines) {
                    eprintln!(
                        "warning: cannot write node {}'s log: {e}; it stops logging",
                        self.me
                    );
                    self.log = None;
                    self.core.stop_logging();
                }
            }
        }
        while let Some(t) = self.core.poll_transmit() {
            if let Some(addr) = self.addrs.get(t.peer) {
                // A full socket buffer or an unreachable peer is a lost datagram, as UDP's
                // are.
                let _ = self.socket.send_to(&t.bytes, addr);
            }
        }
    }

    /// Publishes the core's status for the display.
    fn show(&self) {
        if let Ok(mut s) = self.control.status.lock() {
            *s = self.core.status();
        }
    }

    fn finish(mut self) -> Outcome {
        let settled = self.control.settled.load(Ordering::Relaxed);
        let outcome = self.core.finish(settled);
        // The end line, and what a crash mid-broadcast left unsent is lost with the node.
        let lines = self.core.take_log();
        if let Some(f) = &mut self.log {
            if let Err(e) = f.write_all(&lines) {
                eprintln!("warning: cannot write node {}'s log: {e}", self.me);
            }
        }
        if !self.core.crashed() {
            while let Some(t) = self.core.poll_transmit() {
                if let Some(addr) = self.addrs.get(t.peer) {
                    let _ = self.socket.send_to(&t.bytes, addr);
                }
            }
        }
        if let Ok(mut s) = self.control.status.lock() {
            *s = self.core.status();
            s.stopped = true;
        }
        outcome
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
