//! Benchmarks of the live group, each against the raw-UDP bound measured in the same run.
//! Used by `groupy bench` (one table) and by the criterion bench
//! `benches/benches/live.rs` (through the `groupy` library).
//!
//! - **The bound**: [`fanout`], one sender to N−1 receivers on loopback, 64-byte datagrams as
//!   fast as `send_to` goes; a sequencer that sends each multicast once to each slave can do
//!   at most that rate divided by N−1. [`round_trip`]: a 64-byte ping-pong between two threads.
//! - **The group**: [`run_group`] runs N nodes in one process (the runtime of `groupy run`,
//!   the very actor types the checker explores) under a [`Load`], optionally kills the
//!   leader, drains, and judges every node's delivery log with the model's property
//!   functions ([`judge`]): a run that loses order is reported as violated, whatever its
//!   speed. Timestamps come from the runtime ([`super::node::Timing`]): when each multicast
//!   was issued, when each node logged each event.
//! - **Under loss**: the saturated throughput of the protocols that recover lost datagrams
//!   themselves (their link is `raw`) with every node dropping `--drop` of its datagrams
//!   ([`super::faults`]), against their loss-free throughput measured in the same run; the
//!   slowest sender's share beside the sum, and any multicasts the drain left undelivered.

use super::faults::Faults;
use super::node::{start_group, stop_group, Outcome};
use super::options::LiveArgs;
use crate::judge::judge;
use groupy_model::app::Event;
use groupy_model::log::{divergence, Divergence};
use groupy_model::registry::Visit;
use groupy_model::Link;
use groupy_model::{Protocol, ProtocolName};
use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The payload of the raw-UDP bound's datagrams.
pub const PAYLOAD: usize = 64;

fn loopback() -> io::Result<UdpSocket> {
    UdpSocket::bind("127.0.0.1:0")
}

/// One sender to `receivers` receivers (each on its own thread) on loopback, 64-byte
/// datagrams round-robin as fast as `send_to` returns, for `dur`. Returns the datagrams
/// received per second, summed over the receivers (what is lost to a full receive buffer
/// does not count).
pub fn fanout(receivers: usize, dur: Duration) -> io::Result<f64> {
    let sender = loopback()?;
    let socks = (0..receivers.max(1))
        .map(|_| loopback())
        .collect::<io::Result<Vec<_>>>()?;
    let addrs = socks
        .iter()
        .map(|s| s.local_addr())
        .collect::<io::Result<Vec<SocketAddr>>>()?;
    let stop = Arc::new(AtomicBool::new(false));
    let received = Arc::new(AtomicU64::new(0));
    let mut threads = Vec::new();
    for s in socks {
        s.set_read_timeout(Some(Duration::from_millis(10)))?;
        let (stop, received) = (Arc::clone(&stop), Arc::clone(&received));
        threads.push(std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                if s.recv_from(&mut buf).is_ok() {
                    n += 1;
                }
            }
            received.fetch_add(n, Ordering::Relaxed);
        }));
    }
    let payload = [7u8; PAYLOAD];
    let start = Instant::now();
    'send: loop {
        for _ in 0..16 {
            for a in &addrs {
                let _ = sender.send_to(&payload, a);
            }
        }
        if start.elapsed() >= dur {
            break 'send;
        }
    }
    let elapsed = start.elapsed();
    // What is still queued at the receivers was sent in time: let them read it.
    std::thread::sleep(Duration::from_millis(20));
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    Ok(received.load(Ordering::Relaxed) as f64 / elapsed.as_secs_f64())
}

/// `samples` round trips of a 64-byte datagram between two sockets on two threads (after a
/// few unmeasured ones), sorted.
pub fn round_trip(samples: usize) -> io::Result<Vec<Duration>> {
    round_trips(samples, None)
}

/// Like [`round_trip`], with the pinging thread on CPU `cpus.0` and the echoing one on
/// `cpus.1` (Linux; an error elsewhere, or when a CPU is not available to this process). On
/// a virtual machine whose idle CPUs halt at once, the two placements differ by an order of
/// magnitude (notes/performance.md).
pub fn pinned_round_trip(samples: usize, cpus: (usize, usize)) -> io::Result<Vec<Duration>> {
    round_trips(samples, Some(cpus))
}

fn round_trips(samples: usize, cpus: Option<(usize, usize)>) -> io::Result<Vec<Duration>> {
    let a = loopback()?;
    let b = loopback()?;
    let (a_addr, b_addr) = (a.local_addr()?, b.local_addr()?);
    a.set_read_timeout(Some(Duration::from_secs(1)))?;
    b.set_read_timeout(Some(Duration::from_secs(1)))?;
    let saved = match cpus {
        Some((ping, _)) => Some(pin_thread(ping)?),
        None => None,
    };
    let (pinned_tx, pinned_rx) = std::sync::mpsc::channel();
    let echo = std::thread::spawn(move || {
        let pinned = cpus.map_or(Ok(()), |(_, echo)| pin_thread(echo).map(drop));
        let ok = pinned.is_ok();
        let _ = pinned_tx.send(pinned);
        if !ok {
            return;
        }
        let mut buf = [0u8; 2048];
        while let Ok((n, _)) = b.recv_from(&mut buf) {
            if buf[0] == 0 {
                break;
            }
            let _ = b.send_to(&buf[..n], a_addr);
        }
    });
    let measured = (|| -> io::Result<Vec<Duration>> {
        pinned_rx
            .recv()
            .map_err(|_| io::Error::other("the echo thread ended"))??;
        let ping = [1u8; PAYLOAD];
        let mut buf = [0u8; 2048];
        let mut times = Vec::with_capacity(samples);
        let warm_up = 20;
        for i in 0..samples + warm_up {
            let t = Instant::now();
            a.send_to(&ping, b_addr)?;
            a.recv_from(&mut buf)?;
            if i >= warm_up {
                times.push(t.elapsed());
            }
        }
        Ok(times)
    })();
    let _ = a.send_to(&[0u8; PAYLOAD], b_addr);
    let _ = echo.join();
    if let Some(saved) = saved {
        // The caller's thread goes back to the CPUs it had, whatever happened.
        restore_thread(saved)?;
    }
    let mut times: Vec<Duration> = measured?;
    times.sort();
    Ok(times)
}

/// Binds the calling thread to one CPU; returns the CPUs it had.
#[cfg(target_os = "linux")]
fn pin_thread(cpu: usize) -> io::Result<libc::cpu_set_t> {
    if cpu >= libc::CPU_SETSIZE as usize {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "no such CPU"));
    }
    let size = std::mem::size_of::<libc::cpu_set_t>();
    // SAFETY: cpu_set_t is plain bits (all zeroes is the empty set); sched_getaffinity writes
    // and sched_setaffinity reads `size` bytes of live locals; CPU_SET writes inside the set
    // for an index below CPU_SETSIZE, checked above.
    unsafe {
        let mut saved: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, size, &mut saved) != 0 {
            return Err(io::Error::last_os_error());
        }
        let mut one: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut one);
        if libc::sched_setaffinity(0, size, &one) != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(saved)
    }
}

#[cfg(target_os = "linux")]
fn restore_thread(saved: libc::cpu_set_t) -> io::Result<()> {
    // SAFETY: sched_setaffinity reads `size_of::<cpu_set_t>()` bytes of a live local.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &saved) };
    match rc {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

#[cfg(not(target_os = "linux"))]
fn pin_thread(_cpu: usize) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "pinning a thread to a CPU is implemented for Linux only",
    ))
}

#[cfg(not(target_os = "linux"))]
fn restore_thread(_saved: ()) -> io::Result<()> {
    Ok(())
}

/// The value at quantile `q` (0..=1) of sorted values.
pub fn quantile<T: Copy>(sorted: &[T], q: f64) -> Option<T> {
    if sorted.is_empty() {
        return None;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    Some(sorted[i.min(sorted.len() - 1)])
}

/// The median of some figures (the lower middle one of an even count).
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    quantile(&v, 0.5).unwrap_or(f64::NAN)
}

/// How the workers multicast.
#[derive(Clone, Copy, Debug)]
pub enum Load {
    /// As fast as the runtime lets them: the `Mcast` timer fires at once while fewer than
    /// `window` of the worker's own multicasts are undelivered back to it.
    Saturate { window: u32 },
    /// The worker's sleep between two multicasts (drawn from SLEEP/2..=3·SLEEP/2).
    Sleep(Duration),
    /// No multicasts at all (the detector's heartbeats only).
    Idle,
}

/// One live run of a group in this process.
#[derive(Clone, Debug)]
pub struct RunSpec {
    pub protocol: ProtocolName,
    pub nodes: usize,
    /// The multicasting phase (a drain follows).
    pub duration: Duration,
    pub load: Load,
    /// Default: the protocol's (`fifo`, `raw` for gms4).
    pub link: Option<Link>,
    /// Crash node 0 (the leader) this long into the run.
    pub kill_leader_at: Option<Duration>,
    /// The flags every live command takes: timers, seed, the wire.
    pub live: LiveArgs,
    /// The runtime's `--batch`: a turn's frames to one peer in one datagram.
    pub batch: bool,
    /// What every node does to its datagrams (`groupy run`'s `--drop`, ...). Default: none.
    pub faults: Faults,
}

impl RunSpec {
    /// A run at the live flags' defaults ([`LiveArgs::default`]).
    pub fn new(protocol: ProtocolName, nodes: usize, duration: Duration, load: Load) -> Self {
        RunSpec {
            protocol,
            nodes,
            duration,
            load,
            link: None,
            kill_leader_at: None,
            live: LiveArgs::default(),
            batch: false,
            faults: Faults::default(),
        }
    }
}

/// What a run measured.
#[derive(Clone, Debug, Default)]
pub struct RunResult {
    /// Multicasts delivered by every live node within the multicasting phase (the first
    /// tenth left out as warm-up), per second.
    pub throughput: f64,
    /// The same, of the live node whose own multicasts got through least: a sender starved
    /// while the others go on does not show in the sum.
    pub slowest_sender: f64,
    /// Issue to delivered-by-every-live-node, for the multicasts issued in the measured part
    /// of the multicasting phase, sorted.
    pub latencies: Vec<Duration>,
    /// Claimed properties the drained logs violate (empty: consistent).
    pub violated: Vec<&'static str>,
    /// Where two of the drained logs first differ, if they do.
    pub divergence: Option<Divergence>,
    /// Leader killed → every survivor has delivered a multicast in a view without it.
    pub failover: Option<Duration>,
    /// Multicasts the live nodes issued that no live node delivered (after the drain).
    pub lost: usize,
    /// Multicasts the live nodes issued that some live node had not delivered after the
    /// drain (lost ones included): a group cut off by the drain's cap before it caught up,
    /// or one that lost them.
    pub undelivered: usize,
    /// Views installed after the start (an idle group's are false suspicions).
    pub new_views: usize,
    /// Datagrams sent by all nodes.
    pub datagrams: u64,
}

/// Runs a group, drains it, judges its logs.
pub fn run_group(spec: &RunSpec) -> Result<RunResult, String> {
    spec.protocol.visit(Group(spec))
}

struct Group<'a>(&'a RunSpec);

impl Visit for Group<'_> {
    type Output = Result<RunResult, String>;

    fn visit<A: Protocol>(self) -> Self::Output {
        let spec = self.0;
        let n = spec.nodes;
        if !(1..=64).contains(&n) {
            return Err("a group has 1 to 64 nodes".into());
        }
        let link = spec.link.unwrap_or(A::DESCRIPTOR.link);
        let sleep = match spec.load {
            Load::Sleep(d) => d,
            // Unused: a saturating worker's timer fires at once, an idle one never multicasts.
            _ => Duration::from_millis(100),
        };
        let mut opts = spec.live.options(link, sleep)?;
        opts.window = match spec.load {
            Load::Saturate { window } => Some(window.max(1)),
            _ => None,
        };
        opts.timing = true;
        opts.batch = spec.batch;
        opts.faults = spec.faults;
        let idle = matches!(spec.load, Load::Idle);
        let (controls, threads) = start_group::<A>(n, &opts, |control| {
            if idle {
                control.drain.store(true, Ordering::Relaxed);
            }
        })?;
        let start = Instant::now();
        let mut killed = None;
        if let Some(at) = spec.kill_leader_at.filter(|at| *at < spec.duration) {
            std::thread::sleep(at);
            controls[0].crash.store(true, Ordering::Relaxed);
            killed = Some(Instant::now());
        }
        std::thread::sleep(spec.duration.saturating_sub(start.elapsed()));
        let end = Instant::now();
        for c in &controls {
            c.drain.store(true, Ordering::Relaxed);
        }
        // Drain until no node steps for a while (heartbeats are not steps) and the live nodes
        // have delivered as many messages, or a cap: the properties judged at quiescence need
        // it, and a slave that fell behind under saturation catches up at the link's
        // retransmission rate (seconds, after 10^5 messages).
        let quiet = spec.live.heartbeat * 2 + spec.live.rto * 2;
        let cap = spec.live.suspect_after * 2 + Duration::from_secs(10);
        let mut last = u64::MAX;
        let mut since = Instant::now();
        while end.elapsed() < cap {
            let st: Vec<_> = controls
                .iter()
                .filter_map(|c| c.status.lock().ok().map(|s| s.clone()))
                .collect();
            let steps: u64 = st.iter().map(|s| s.steps).sum();
            // Settled: the live nodes have delivered as many messages, and nobody steps.
            let live: Vec<usize> = st
                .iter()
                .filter(|s| !s.crashed)
                .map(|s| s.delivered)
                .collect();
            let level = live.windows(2).all(|w| w[0] == w[1]);
            if steps != last || !level {
                last = steps;
                since = Instant::now();
            } else if since.elapsed() >= quiet {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let outcomes = stop_group((controls, threads))?;
        if std::env::var_os("GROUPY_BENCH_DEBUG").is_some() {
            // The runtime's counters per node, for finding what limits a figure.
            eprintln!(
                "{} N={n} {:?}: drain {:.2} s",
                A::DESCRIPTOR.name,
                spec.load,
                end.elapsed().as_secs_f64()
            );
            for o in &outcomes {
                eprintln!("  {}", serde_json::to_string(&o.report).unwrap_or_default());
            }
        }
        Ok(measure(
            spec,
            A::DESCRIPTOR.claims,
            &outcomes,
            start,
            end,
            killed,
        ))
    }
}

/// The figures of a finished run, from its logs and timestamps.
fn measure(
    spec: &RunSpec,
    claims: &[&str],
    outcomes: &[Outcome],
    start: Instant,
    end: Instant,
    killed: Option<Instant>,
) -> RunResult {
    let logs: Vec<_> = outcomes.iter().map(|o| o.log.clone()).collect();
    let (judgements, _) = judge(&logs, Some(claims));
    let violated = judgements
        .iter()
        .filter(|j| j.claimed && !j.holds)
        .map(|j| j.property)
        .collect();
    let live: Vec<&Outcome> = outcomes.iter().filter(|o| !o.log.crashed).collect();
    // Each multicast: how many live nodes delivered it, and when the last one did.
    let mut seen: HashMap<(usize, u32), (usize, Instant)> = HashMap::new();
    let mut failover: Option<Duration> = killed.map(|_| Duration::ZERO);
    let mut new_views = 0;
    for o in &live {
        let Some(t) = &o.timing else { continue };
        let mut views_here = 0;
        let mut first_in_new_view = None;
        let mut in_new_view = false;
        for (pos, e) in o.log.events.iter().enumerate() {
            let at = t.events.get(pos).copied().unwrap_or(end);
            match e {
                Event::Deliver(p) => {
                    let k = seen.entry((usize::from(p.from), p.seq)).or_insert((0, at));
                    k.0 += 1;
                    k.1 = k.1.max(at);
                    if in_new_view && first_in_new_view.is_none() {
                        first_in_new_view = Some(at);
                    }
                }
                Event::View(v) => {
                    if at > start {
                        views_here += 1;
                    }
                    in_new_view = killed.is_some() && !v.iter().any(|&i| usize::from(i) == 0);
                }
            }
        }
        new_views = new_views.max(views_here);
        if let (Some(k), Some(f)) = (killed, failover) {
            failover = first_in_new_view.map(|at| f.max(at.saturating_duration_since(k)));
        }
    }
    let warm = start + spec.duration / 10;
    let window = end.saturating_duration_since(warm).as_secs_f64();
    let mut all = 0usize;
    let mut by_sender = vec![0usize; outcomes.len()];
    let mut latencies = Vec::new();
    for ((from, seq), (count, last)) in &seen {
        if *count < live.len() {
            continue;
        }
        if *last >= warm && *last <= end {
            all += 1;
            if let Some(k) = by_sender.get_mut(*from) {
                *k += 1;
            }
        }
        let issued = outcomes
            .get(*from)
            .and_then(|o| o.timing.as_ref())
            .and_then(|t| t.issued.get(*seq as usize).copied());
        if let Some(at) = issued.filter(|at| *at >= warm && *at <= end) {
            latencies.push(last.saturating_duration_since(at));
        }
    }
    latencies.sort();
    // Lost: issued by a live node, delivered by no live node; undelivered: not by all.
    let issued_live = || {
        live.iter().flat_map(|o| {
            let me = usize::from(o.log.node);
            (0..o.log.multicast.len() as u32).map(move |k| (me, k))
        })
    };
    let lost = issued_live().filter(|m| !seen.contains_key(m)).count();
    let undelivered = issued_live()
        .filter(|m| seen.get(m).is_none_or(|(count, _)| *count < live.len()))
        .count();
    let rate = |k: usize| if window > 0.0 { k as f64 / window } else { 0.0 };
    let slowest_sender = live
        .iter()
        .filter_map(|o| by_sender.get(usize::from(o.log.node)))
        .map(|&k| rate(k))
        .min_by(f64::total_cmp)
        .unwrap_or(0.0);
    RunResult {
        throughput: rate(all),
        slowest_sender,
        latencies,
        violated,
        divergence: divergence(&logs),
        failover,
        lost,
        undelivered,
        new_views,
        datagrams: outcomes.iter().map(|o| o.report.datagrams_out).sum(),
    }
}

/// What `groupy bench` measures: the protocols' runs, their repetitions and lengths.
#[derive(Clone, Debug)]
pub struct BenchSpec {
    pub nodes: Vec<usize>,
    pub reps: usize,
    pub quick: bool,
    /// The saturating workers' window of undelivered own multicasts.
    pub window: u32,
    /// Only these parts (`throughput`, `lossy`, `latency`, `failover`, `idle`; the bound is
    /// always measured); empty: all.
    pub only: Vec<String>,
    /// Only these protocols (benchmarked ones, by name); empty: every benchmarked one.
    pub protocols: Vec<String>,
    /// The flags every live command takes, for every run.
    pub live: LiveArgs,
    /// The lossy part's datagram loss rate, at every node (the other parts run loss-free).
    pub drop: f64,
}

impl BenchSpec {
    fn wants(&self, part: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|o| o == part)
    }

    /// The benchmarked protocols asked for, each on the link its descriptor names.
    fn protocols(&self) -> Vec<(ProtocolName, Link)> {
        ProtocolName::benchmarked()
            .filter(|p| self.protocols.is_empty() || self.protocols.iter().any(|q| q == p.name()))
            .map(|p| (p, p.descriptor().link))
            .collect()
    }

    /// A run of the bench, with its flags.
    fn run(&self, protocol: ProtocolName, n: usize, duration: Duration, load: Load) -> RunSpec {
        RunSpec {
            live: self.live.clone(),
            ..RunSpec::new(protocol, n, duration, load)
        }
    }

    fn secs(&self, full: f64, quick: f64) -> Duration {
        Duration::from_secs_f64(if self.quick { quick } else { full })
    }
}

/// One line of the table.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Figure {
    pub figure: String,
    pub median: f64,
    pub unit: &'static str,
    /// The bound it is measured against, in the same unit (measured in the same run).
    pub bound: Option<f64>,
    pub bound_name: &'static str,
    /// Runs whose logs violated a claimed property, of all runs for this figure.
    pub violated_runs: usize,
    pub runs: usize,
    pub violated: Vec<&'static str>,
    /// Where the logs of the first violating run diverge, if they do.
    pub divergence: Option<Divergence>,
}

impl Figure {
    /// A figure with no bound of its own and no run judged (the bound itself, a count).
    fn plain(figure: String, median: f64, unit: &'static str, runs: usize) -> Figure {
        Figure {
            figure,
            median,
            unit,
            bound: None,
            bound_name: "",
            violated_runs: 0,
            runs,
            violated: vec![],
            divergence: None,
        }
    }

    pub fn ratio(&self) -> Option<f64> {
        self.bound.filter(|b| *b > 0.0).map(|b| self.median / b)
    }
}

/// What the runs of one figure said about consistency.
#[derive(Clone, Debug, Default)]
struct Judged {
    /// Runs that violated a claimed property.
    bad: usize,
    violated: Vec<&'static str>,
    /// The first violating run's divergence.
    divergence: Option<Divergence>,
}

/// Repeats a run, collecting one figure per run and whether each was consistent.
fn repeat(
    spec: &RunSpec,
    reps: usize,
    mut f: impl FnMut(&RunResult) -> Option<f64>,
) -> Result<(Vec<f64>, Judged), String> {
    let mut values = Vec::new();
    let mut judged = Judged::default();
    for _ in 0..reps {
        let r = run_group(spec)?;
        if !r.violated.is_empty() {
            judged.bad += 1;
            if judged.divergence.is_none() {
                judged.divergence = r.divergence.clone();
            }
            for v in &r.violated {
                if !judged.violated.contains(v) {
                    judged.violated.push(*v);
                }
            }
        }
        if let Some(v) = f(&r) {
            values.push(v);
        }
    }
    Ok((values, judged))
}

/// The figures of a repeated run with saturating workers.
struct Saturated {
    /// Medians: multicasts delivered by every live node per second (all, and the slowest
    /// sender's); datagrams sent per multicast delivered; multicasts left undelivered after
    /// the drain.
    throughput: f64,
    slowest_sender: f64,
    per_msg: f64,
    undelivered: f64,
    /// Runs that left a multicast undelivered after the drain.
    short_runs: usize,
    runs: usize,
    judged: Judged,
}

/// Repeats a run of `n` saturating workers on `link` with `faults`.
fn saturated(
    spec: &BenchSpec,
    p: ProtocolName,
    link: Link,
    n: usize,
    batch: bool,
    faults: Faults,
) -> Result<Saturated, String> {
    let window = spec.window;
    let mut rs = spec.run(p, n, spec.secs(3.0, 1.0), Load::Saturate { window });
    rs.link = Some(link);
    rs.batch = batch;
    rs.faults = faults;
    let runs = spec.reps.max(1);
    let (mut per_msg, mut undelivered, mut slowest) = (Vec::new(), Vec::new(), Vec::new());
    let (v, judged) = repeat(&rs, runs, |r| {
        let delivered = r.throughput * rs.duration.as_secs_f64();
        if delivered > 0.0 {
            per_msg.push(r.datagrams as f64 / delivered);
        }
        undelivered.push(r.undelivered as f64);
        slowest.push(r.slowest_sender);
        Some(r.throughput)
    })?;
    Ok(Saturated {
        throughput: median(v),
        slowest_sender: median(slowest),
        per_msg: median(per_msg),
        short_runs: undelivered.iter().filter(|u| **u > 0.0).count(),
        undelivered: median(undelivered),
        runs,
        judged,
    })
}

impl Saturated {
    /// Its lines of the table: the throughput against `bound`, datagrams per multicast, and
    /// (when a run left any) the multicasts undelivered after the drain. `mode` ends the
    /// figures' names (", batched").
    fn push(
        &self,
        figs: &mut Vec<Figure>,
        name: &str,
        mode: &str,
        (bound, bound_name): (Option<f64>, &'static str),
    ) {
        // A run that did not deliver everything says so on its throughput line: the figure
        // counts only multicasts every live node delivered, so it would not show.
        let short = match self.short_runs {
            0 => String::new(),
            k => format!(" ({k} of {} runs left some undelivered)", self.runs),
        };
        let judged = &self.judged;
        figs.push(Figure {
            figure: format!("{name} throughput{mode}, delivered at all{short}"),
            median: self.throughput,
            unit: "msg/s",
            bound,
            bound_name,
            violated_runs: judged.bad,
            runs: self.runs,
            violated: judged.violated.clone(),
            divergence: judged.divergence.clone(),
        });
        figs.push(Figure::plain(
            format!("{name} datagrams sent per multicast{mode}"),
            self.per_msg,
            "dgram",
            self.runs,
        ));
        if self.short_runs > 0 {
            figs.push(Figure::plain(
                format!("{name} multicasts undelivered after the drain{mode}"),
                self.undelivered,
                "msg",
                self.runs,
            ));
        }
    }
}

/// The start of a group's figures' names: "gms4 (raw) N=5".
fn row(p: ProtocolName, link: Link, n: usize) -> String {
    format!("{} ({}) N={n}", p.name(), link.name())
}

/// A low-load worker's sleep between multicasts (varied by half either way).
const LOW_LOAD_SLEEP: Duration = Duration::from_millis(50);

/// Runs every benchmark; `progress` is told what runs (one line each).
pub fn run_bench(spec: &BenchSpec, mut progress: impl FnMut(&str)) -> Result<Vec<Figure>, String> {
    spec.live.warn_about_timers();
    let mut figs = Vec::new();
    let reps = spec.reps.max(1);
    let io = |e: io::Error| format!("raw UDP bound: {e}");
    // The bounds, measured first, in the same run.
    progress("raw UDP round trip");
    let p50 = |t: Vec<Duration>| quantile(&t, 0.5).unwrap_or_default().as_secs_f64() * 1e6;
    let mut rtts = Vec::new();
    for _ in 0..reps {
        rtts.push(p50(round_trip(2000).map_err(io)?));
    }
    let rtt = median(rtts);
    figs.push(Figure::plain(
        "raw UDP round trip p50 (64 B)".into(),
        rtt,
        "µs",
        reps,
    ));
    // Left to the scheduler, the ping-pong's two threads share one CPU in some runs and not
    // in others, and on this project's virtual machine (idle CPUs halt at once) that alone
    // moves the round trip from ~3 to ~60 µs. So it is also measured pinned: on one CPU, and
    // across two, as every hop of a group whose nodes the scheduler spreads over the CPUs
    // may be (notes/performance.md). Latency is shown against the round trip across CPUs.
    let mut rtt_bound = (rtt, "raw RTT p50");
    if spec.wants("latency") {
        for (cpus, name) in [((0, 0), "one CPU"), ((0, 1), "two CPUs")] {
            progress(&format!("raw UDP round trip, pinned to {name}"));
            let mut rtts = Vec::new();
            for _ in 0..reps {
                match pinned_round_trip(2000, cpus) {
                    Ok(t) => rtts.push(p50(t)),
                    Err(e) => progress(&format!("  (not measured: {e})")),
                }
            }
            if rtts.is_empty() {
                continue;
            }
            let v = median(rtts);
            if cpus.0 != cpus.1 {
                rtt_bound = (v, "RTT p50, 2 CPUs");
            }
            figs.push(Figure::plain(
                format!("raw UDP round trip p50 (64 B), pinned to {name}"),
                v,
                "µs",
                reps,
            ));
        }
    }
    let mut bound = HashMap::new();
    for &n in &spec.nodes {
        progress(&format!("raw UDP fan-out to {} receivers", n - 1));
        let mut rates = Vec::new();
        for _ in 0..reps {
            rates.push(fanout(n - 1, spec.secs(1.0, 0.5)).map_err(io)?);
        }
        let rate = median(rates);
        bound.insert(n, rate / (n - 1) as f64);
        figs.push(Figure::plain(
            format!("raw UDP fan-out, 1 → {} (64 B)", n - 1),
            rate,
            "dgram/s",
            reps,
        ));
        figs.push(Figure::plain(
            format!("sequencer bound N={n} (fan-out / {})", n - 1),
            rate / (n - 1) as f64,
            "msg/s",
            reps,
        ));
    }
    // Throughput, saturating workers.
    let mut max_rate = HashMap::new();
    let modes = [(false, ""), (true, ", batched")];
    let throughput = |p: ProtocolName,
                      link: Link,
                      n: usize,
                      (batch, mode): (bool, &str),
                      figs: &mut Vec<Figure>,
                      progress: &mut dyn FnMut(&str)| {
        progress(&format!("{} N={n} throughput{mode}", p.name()));
        let s = saturated(spec, p, link, n, batch, Faults::default())?;
        let sequencer = (bound.get(&n).copied(), "sequencer bound");
        s.push(figs, &row(p, link, n), mode, sequencer);
        Ok::<_, String>((s.throughput, s.slowest_sender))
    };
    for (p, link) in spec
        .protocols()
        .into_iter()
        .filter(|_| spec.wants("throughput"))
    {
        for (n, mode) in spec
            .nodes
            .iter()
            .flat_map(|&n| modes.iter().map(move |m| (n, *m)))
        {
            let m = throughput(p, link, n, mode, &mut figs, &mut progress)?;
            max_rate.insert((p, n, mode.0), m);
        }
    }
    // Throughput under loss at the largest group, against the loss-free throughput measured
    // in this run in the same mode (here, if the throughput part did not run). Only for the
    // protocols built for the raw link, which recover lost datagrams themselves: on the fifo
    // link the link's retransmission would be measured, not the protocol's. Batched too:
    // batching decides how many multicasts one lost datagram takes with it.
    let n = spec.nodes.iter().copied().max().unwrap_or(5);
    let pct = format!("{} % loss", (spec.drop * 1e4).round() / 100.0);
    let lossy = Faults {
        drop: spec.drop,
        ..Faults::default()
    };
    let raw = |(_, link): &(ProtocolName, Link)| *link == Link::Raw;
    for ((p, link), (batch, mode)) in spec
        .protocols()
        .into_iter()
        .filter(|pl| raw(pl) && spec.wants("lossy"))
        .flat_map(|pl| modes.iter().map(move |m| (pl, *m)))
    {
        let (clean, clean_slowest) = match max_rate.get(&(p, n, batch)).copied() {
            Some(m) => m,
            None => throughput(p, link, n, (batch, mode), &mut figs, &mut progress)?,
        };
        progress(&format!("{} N={n} throughput{mode}, {pct}", p.name()));
        let s = saturated(spec, p, link, n, batch, lossy)?;
        let name = row(p, link, n);
        let same_run = "loss-free, same run";
        s.push(
            &mut figs,
            &name,
            &format!("{mode}, {pct}"),
            (Some(clean), same_run),
        );
        // The sum can hold up while one sender starves: a leader's own worker never waits
        // for the network, a slave's waits for its retries.
        figs.push(Figure::plain(
            format!("{name} slowest sender's throughput{mode}, loss-free"),
            clean_slowest,
            "msg/s",
            s.runs,
        ));
        figs.push(Figure {
            bound: Some(clean_slowest),
            bound_name: same_run,
            ..Figure::plain(
                format!("{name} slowest sender's throughput{mode}, {pct}"),
                s.slowest_sender,
                "msg/s",
                s.runs,
            )
        });
    }
    // Latency, multicast → delivered by all: low load, then ~50% of the maximum.
    for (p, link) in spec
        .protocols()
        .into_iter()
        .filter(|_| spec.wants("latency"))
    {
        for &n in &spec.nodes {
            let low = format!("low load (sleep {} ms)", LOW_LOAD_SLEEP.as_millis());
            let mut loads = vec![(low, LOW_LOAD_SLEEP, false)];
            // At half the maximum measured in the same mode (when it was measured): n
            // workers, each one multicast per sleep on average.
            for (batch, mode) in modes {
                if let Some(half) = max_rate.get(&(p, n, batch)).map(|m| m.0 * 0.5) {
                    if half > 0.0 {
                        loads.push((
                            format!("~50% of max ({half:.0}/s){mode}"),
                            Duration::from_secs_f64(n as f64 / half),
                            batch,
                        ));
                    }
                }
            }
            for (name, sleep, batch) in loads {
                progress(&format!("{} N={n} latency, {name}", p.name()));
                let mut rs = spec.run(p, n, spec.secs(2.0, 1.0), Load::Sleep(sleep));
                rs.link = Some(link);
                rs.batch = batch;
                let mut p99s = Vec::new();
                let (p50s, judged) = repeat(&rs, reps, |r| {
                    p99s.push(quantile(&r.latencies, 0.99)?.as_secs_f64() * 1e6);
                    Some(quantile(&r.latencies, 0.5)?.as_secs_f64() * 1e6)
                })?;
                for (q, v) in [("p50", p50s), ("p99", p99s)] {
                    figs.push(Figure {
                        figure: format!("{} ({}) N={n} latency {q}, {name}", p.name(), link.name()),
                        median: median(v),
                        unit: "µs",
                        bound: Some(rtt_bound.0),
                        bound_name: rtt_bound.1,
                        violated_runs: judged.bad,
                        runs: reps,
                        violated: judged.violated.clone(),
                        divergence: judged.divergence.clone(),
                    });
                }
            }
        }
    }
    // Failover: the leader killed mid-run, detected after --suspect-after.
    for (p, link) in spec
        .protocols()
        .into_iter()
        .filter(|_| spec.wants("failover"))
    {
        progress(&format!("{} N={n} failover", p.name()));
        let mut rs = spec.run(
            p,
            n,
            spec.secs(2.5, 2.0),
            Load::Sleep(Duration::from_millis(10)),
        );
        rs.link = Some(link);
        rs.kill_leader_at = Some(Duration::from_millis(800));
        let mut lost = Vec::new();
        let (v, judged) = repeat(&rs, reps, |r| {
            lost.push(r.lost as f64);
            Some(r.failover?.as_secs_f64() * 1e3)
        })?;
        let failed = reps - v.len();
        figs.push(Figure {
            figure: format!(
                "{} ({}) N={n} leader killed → delivery in new view at all{}",
                p.name(),
                link.name(),
                if failed > 0 {
                    format!(" ({failed} runs without one)")
                } else {
                    String::new()
                }
            ),
            median: median(v),
            unit: "ms",
            bound: Some(rs.live.suspect_after.as_secs_f64() * 1e3),
            bound_name: "--suspect-after",
            violated_runs: judged.bad,
            runs: reps,
            violated: judged.violated.clone(),
            divergence: judged.divergence.clone(),
        });
        figs.push(Figure {
            figure: format!(
                "{} ({}) N={n} multicasts lost per leader kill",
                p.name(),
                link.name()
            ),
            median: median(lost),
            unit: "msg",
            bound: None,
            bound_name: "",
            violated_runs: judged.bad,
            runs: reps,
            violated: judged.violated,
            divergence: judged.divergence,
        });
    }
    // False suspicions of an idle group.
    for (p, link) in spec.protocols().into_iter().filter(|_| spec.wants("idle")) {
        progress(&format!("{} N={n} idle", p.name()));
        let mut rs = spec.run(p, n, spec.secs(3.0, 1.5), Load::Idle);
        rs.link = Some(link);
        let (v, judged) = repeat(&rs, reps, |r| Some(r.new_views as f64))?;
        figs.push(Figure {
            figure: format!(
                "{} ({}) N={n} false suspicions (views), idle {:.1} s",
                p.name(),
                link.name(),
                rs.duration.as_secs_f64()
            ),
            median: median(v),
            unit: "views",
            bound: None,
            bound_name: "",
            violated_runs: judged.bad,
            runs: reps,
            violated: judged.violated,
            divergence: judged.divergence,
        });
    }
    Ok(figs)
}

/// The table `groupy bench` prints.
pub fn table(figs: &[Figure]) -> String {
    let mut s = String::from(
        "  figure                                                         median        unit     ratio  to\n",
    );
    for f in figs {
        let ratio = f.ratio().map_or("-".to_string(), |r| format!("{r:.2}×"));
        let mut line = format!(
            "  {:<62} {:>12.1}  {:<8} {:>6}  {}",
            f.figure, f.median, f.unit, ratio, f.bound_name
        );
        if f.violated_runs > 0 {
            line.push_str(&format!(
                "  FAILED: {} of {} runs violated {}",
                f.violated_runs,
                f.runs,
                f.violated.join(", ")
            ));
            if let Some(d) = &f.divergence {
                line.push_str(&format!("; {d}"));
            }
        }
        s.push_str(line.trim_end());
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_of_sorted_values() {
        let v = [1, 2, 3, 4, 5];
        assert_eq!(quantile(&v, 0.0), Some(1));
        assert_eq!(quantile(&v, 0.5), Some(3));
        assert_eq!(quantile(&v, 1.0), Some(5));
        assert_eq!(quantile::<u32>(&[], 0.5), None);
    }

    /// Two live nodes: n0's two multicasts reach both in the measured window; n1's first
    /// reaches n0 only, its second no one. The sum counts only what every live node
    /// delivered, and the starved sender and the undelivered multicasts show.
    #[test]
    fn a_run_shows_its_slowest_sender_and_what_it_left_undelivered() {
        use super::super::core::{NodeReport, Timing};
        use groupy_model::app::Payload;
        use groupy_model::NodeLog;
        use stateright::actor::Id;
        use std::borrow::Cow;
        let start = Instant::now();
        let end = start + Duration::from_secs(1);
        let at = start + Duration::from_millis(500);
        let m = |from: usize, seq| Event::Deliver(Payload::issued_by(Id::from(from), seq));
        let node = |id: usize, events: Vec<Event>| Outcome {
            log: NodeLog {
                node: Id::from(id),
                crashed: false,
                founder: true,
                member: true,
                multicast: Cow::Owned(
                    (0..2)
                        .map(|k| Payload::issued_by(Id::from(id), k))
                        .collect(),
                ),
                accepted: Cow::Owned(vec![]),
                events: Cow::Owned(events),
            },
            report: NodeReport::default(),
            timing: None,
        };
        let mut outcomes = vec![
            node(0, vec![m(0, 0), m(1, 0), m(0, 1)]),
            node(1, vec![m(0, 0), m(0, 1)]),
        ];
        for o in &mut outcomes {
            o.timing = Some(Timing {
                issued: vec![at; 2],
                events: vec![at; o.log.events.len()],
            });
        }
        let spec = RunSpec::new(ProtocolName::Gms4, 2, Duration::from_secs(1), Load::Idle);
        let r = measure(&spec, &[], &outcomes, start, end, None);
        // 2 multicasts over the 0.9 s after the warm-up tenth; n1 got none through to all.
        assert!((r.throughput - 2.0 / 0.9).abs() < 1e-9, "{}", r.throughput);
        assert_eq!(r.slowest_sender, 0.0);
        assert_eq!((r.lost, r.undelivered), (1, 2));
    }

    #[test]
    fn round_trips_are_sorted() {
        let t = round_trip(50).expect("loopback round trip");
        assert_eq!(t.len(), 50);
        assert!(t.windows(2).all(|w| w[0] <= w[1]));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_pinned_round_trip_runs_where_asked_and_gives_the_thread_its_cpus_back() {
        let before = std::thread::available_parallelism().map(|n| n.get()).ok();
        let t = pinned_round_trip(20, (0, 0)).expect("both threads on CPU 0");
        assert_eq!(t.len(), 20);
        assert_eq!(
            std::thread::available_parallelism().map(|n| n.get()).ok(),
            before
        );
        // A CPU the process may not use is an error, not a hang, and the thread is unpinned.
        let start = Instant::now();
        assert!(pinned_round_trip(5, (0, libc::CPU_SETSIZE as usize - 1)).is_err());
        assert!(pinned_round_trip(5, (libc::CPU_SETSIZE as usize, 0)).is_err());
        assert!(start.elapsed() < Duration::from_millis(500));
        assert_eq!(
            std::thread::available_parallelism().map(|n| n.get()).ok(),
            before
        );
    }
}
