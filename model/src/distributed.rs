//! Distributed exhaustive search on timely dataflow: `groupy check ... --processes K` (K local
//! processes) or `--hostfile FILE --process I` (process I of a run across hosts).
//!
//! Another search strategy over the same [`GroupModel`], not a second model. Every state is
//! owned by one worker, chosen by its fingerprint; each worker keeps its share of the visited
//! set (fingerprint -> parent fingerprint). The frontier goes round a timely loop whose
//! timestamp is the depth, and crosses workers through timely's exchange, as bytes
//! ([`encode`]: stateright's state types implement `Serialize` but not `Deserialize`). A
//! worker handles a depth only once timely's progress tracking says no more states of that
//! depth can arrive, so the search is breadth-first, level by level, exactly: the first parent
//! a state is recorded with lies on a shortest path to it. When no state is left in the loop,
//! timely says so, and the search is over.
//!
//! Each worker tells every other, through the same loop, what it has found after each depth it
//! handled ([`Stats`]): its share of the unique states, its discoveries, and whether it must
//! stop (Ctrl-C, the deadline, the memory guard, a violation with `--fail-fast`). Every
//! worker stops at the next depth, so a stop on one process ends the search on all.
//!
//! A violation's trace is rebuilt from the parent records (a second, small dataflow walks from
//! the violating state's fingerprint to a root, each step at the worker that owns it) and then
//! replayed from the initial state, matching fingerprints, into the model's actions.

use crate::check::Progress;
use crate::livelock;
use crate::memory;
use crate::model::is_quiescent;
use crate::model::{GroupAction, GroupModel, GroupState};
use crate::protocol::Protocol;
use serde::{Deserialize, Serialize};
use stateright::actor::{ActorModelState, Envelope, Id, Network, RandomChoices, Timers};
use stateright::{Expectation, Model};
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use timely::communication::allocator::zero_copy::initialize::initialize_networking_from_sockets;
use timely::communication::allocator::ProcessBuilder;
use timely::communication::AllocatorBuilder;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::operator::Operator;
use timely::dataflow::operators::{Capability, Concat};
use timely::dataflow::operators::{ConnectLoop, Feedback, ToStream};

/// Where the processes of a distributed search are.
#[derive(Clone, Debug)]
pub struct Cluster {
    /// `host:port` of every process, in process order (one entry: a single process).
    pub addresses: Vec<String>,
    /// This process's index in `addresses`.
    pub process: usize,
    /// Worker threads per process.
    pub workers: usize,
}

/// One process's share of the unique states.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Share {
    pub process: usize,
    pub states: usize,
    /// The process's peak resident set while it searched, in bytes, where the system says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_bytes: Option<u64>,
}

/// What a distributed search found: on process 0 the whole search's figures, on the others
/// their own share only (`discoveries` empty).
pub struct Outcome<A: Protocol> {
    pub states: usize,
    pub unique_states: usize,
    pub max_depth: usize,
    pub quiescent_states: usize,
    /// Each discovered property with a shortest path to it.
    pub discoveries: Vec<(&'static str, Option<Vec<GroupAction<A>>>)>,
    /// The livelock check, run across the processes, where [`Limits::livelock`] asked and
    /// the search was complete.
    pub livelock: Option<livelock::Outcome<A>>,
    pub interrupted: bool,
    /// Why the search stopped early (the memory guard), if it did.
    pub stopped: Option<String>,
    pub processes: Vec<Share>,
    /// This process is process 0, which reports.
    pub lead: bool,
}

/// How the search is bounded, as every process sees it.
pub struct Limits {
    pub deadline: Option<Instant>,
    pub interrupt: Option<Arc<AtomicBool>>,
    pub memory: Option<memory::Guard>,
    /// Stop once one of these properties (by index in the model's list) is violated.
    pub fail_fast: Vec<usize>,
    /// Run the livelock check too (the protocol claims liveness): every state must reach a
    /// quiescent one by protocol steps.
    pub livelock: bool,
}

// ---------------------------------------------------------------------------------------
// Fingerprints and the state codec.

/// A state's fingerprint, as stateright computes it (ahash with stateright's fixed keys), so
/// that every process, and stateright's own checker, name a state alike. Never zero (zero
/// marks a root's parent).
// Spelled out as stateright spells it (not `hash_one`, which ahash may specialise).
#[allow(clippy::manual_hash_one)]
pub fn fingerprint<T: Hash>(value: &T) -> u64 {
    let mut h =
        ahash::RandomState::with_seeds(123_456_789_987_654_321, 98_765_432_123_456_789, 0, 0)
            .build_hasher();
    value.hash(&mut h);
    h.finish().max(1)
}

/// A state's parts, in a form serde can read back.
#[derive(Serialize, Deserialize)]
struct Wire<S, M, T, St, H> {
    actor_states: Vec<S>,
    network: WireNetwork<M>,
    timers: Vec<Vec<T>>,
    random_choices: usize,
    crashed: Vec<bool>,
    history: H,
    storages: Vec<Option<St>>,
}

#[derive(Serialize, Deserialize)]
enum WireNetwork<M> {
    Duplicating(Vec<(Id, Id, M)>, Option<(Id, Id, M)>),
    NonDuplicating(Vec<(Id, Id, M, usize)>),
    Ordered(Vec<(Id, Id, Vec<M>)>),
}

/// A model state as bytes, for another process.
pub fn encode<A: Protocol>(s: &GroupState<A>) -> Result<Vec<u8>, String> {
    let flat = |e: &Envelope<A::Msg>| (e.src, e.dst, e.msg.clone());
    let network = match &s.network {
        Network::UnorderedDuplicating(set, last) => {
            WireNetwork::Duplicating(set.iter().map(flat).collect(), last.as_ref().map(flat))
        }
        Network::UnorderedNonDuplicating(map) => WireNetwork::NonDuplicating(
            map.iter()
                .map(|(e, n)| (e.src, e.dst, e.msg.clone(), *n))
                .collect(),
        ),
        Network::Ordered(channels) => WireNetwork::Ordered(
            channels
                .iter()
                .map(|((src, dst), q)| (*src, *dst, q.iter().cloned().collect()))
                .collect(),
        ),
    };
    // groupy's actors make no random choices (`Random = ()`): only empty sets to carry.
    if s.random_choices.iter().any(|r| !r.map.is_empty()) {
        return Err("a state with random choices cannot be encoded".to_string());
    }
    let wire = Wire {
        actor_states: s.actor_states.iter().map(|a| (**a).clone()).collect(),
        network,
        timers: s
            .timers_set
            .iter()
            .map(|t| {
                let mut v: Vec<A::Timer> = t.iter().cloned().collect();
                v.sort();
                v
            })
            .collect(),
        random_choices: s.random_choices.len(),
        crashed: s.crashed.clone(),
        history: s.history.clone(),
        storages: s.actor_storages.clone(),
    };
    postcard::to_stdvec(&wire).map_err(|e| format!("cannot encode a state: {e}"))
}

/// A model state back from [`encode`]'s bytes.
pub fn decode<A: Protocol>(bytes: &[u8]) -> Result<GroupState<A>, String> {
    type W<A> = Wire<
        <A as stateright::actor::Actor>::State,
        <A as stateright::actor::Actor>::Msg,
        <A as stateright::actor::Actor>::Timer,
        <A as stateright::actor::Actor>::Storage,
        crate::model::Faults,
    >;
    let w: W<A> = postcard::from_bytes(bytes).map_err(|e| format!("cannot decode a state: {e}"))?;
    let env = |(src, dst, msg)| Envelope { src, dst, msg };
    let network = match w.network {
        WireNetwork::Duplicating(set, last) => Network::new_unordered_duplicating_with_last_msg(
            set.into_iter().map(env),
            last.map(env),
        ),
        WireNetwork::NonDuplicating(counted) => Network::new_unordered_nonduplicating(
            counted
                .into_iter()
                .flat_map(|(src, dst, msg, n)| std::iter::repeat_n(Envelope { src, dst, msg }, n)),
        ),
        WireNetwork::Ordered(channels) => Network::new_ordered(
            channels
                .into_iter()
                .flat_map(|(src, dst, q)| q.into_iter().map(move |msg| Envelope { src, dst, msg })),
        ),
    };
    Ok(ActorModelState {
        actor_states: w.actor_states.into_iter().map(Arc::new).collect(),
        network,
        timers_set: w
            .timers
            .into_iter()
            .map(|ts| {
                let mut t = Timers::new();
                for x in ts {
                    t.set(x);
                }
                t
            })
            .collect(),
        random_choices: (0..w.random_choices)
            .map(|_| RandomChoices::default())
            .collect(),
        crashed: w.crashed,
        history: w.history,
        actor_storages: w.storages,
    })
}

// ---------------------------------------------------------------------------------------
// Connections between processes.

/// How long processes wait for each other to come up.
const CONNECT_WITHIN: Duration = Duration::from_secs(60);

/// What a process sends first on each connection: this, then its index. A connection that
/// does not begin so is not one of the search's and is dropped.
const HELLO: &[u8; 16] = b"groupy-check/1\0\0";

/// One TCP connection to every other process (`None` at this process's own index), as timely
/// wants them: each process connects to those before it and accepts those after it. Set up
/// here rather than by timely, which prints its waiting to stdout (where the report goes),
/// waits without end for a process that never comes, and takes any connection for one.
fn connect(cluster: &Cluster, within: Duration) -> Result<Vec<Option<TcpStream>>, String> {
    let me = cluster.process;
    let n = cluster.addresses.len();
    if me >= n {
        return Err(format!("process {me} of a search of {n} processes"));
    }
    let deadline = Instant::now() + within;
    let mut sockets: Vec<Option<TcpStream>> = (0..n).map(|_| None).collect();
    let listener = TcpListener::bind(cluster.addresses[me].as_str()).map_err(|e| {
        format!(
            "process {me} cannot listen on {}: {e} (its line in the host file)",
            cluster.addresses[me]
        )
    })?;
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("cannot set up a listener: {e}"))?;
    for (i, address) in cluster.addresses.iter().enumerate().take(me) {
        let stream = loop {
            match TcpStream::connect(address.as_str()) {
                Ok(s) => break s,
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                Err(e) => {
                    return Err(format!(
                        "process {i} at {address} did not answer within {} s: {e}",
                        within.as_secs()
                    ))
                }
            }
        };
        let mut stream = stream;
        let hello = [&HELLO[..], &(me as u64).to_be_bytes()].concat();
        stream
            .set_nodelay(true)
            .and_then(|_| stream.write_all(&hello))
            .map_err(|e| format!("cannot greet process {i} at {address}: {e}"))?;
        sockets[i] = Some(stream);
    }
    while sockets
        .iter()
        .enumerate()
        .any(|(i, s)| i > me && s.is_none())
    {
        match listener.accept() {
            Ok((mut stream, _)) => {
                let mut hello = [0u8; 24];
                let read = stream
                    .set_nonblocking(false)
                    .and_then(|_| stream.set_read_timeout(Some(Duration::from_secs(5))))
                    .and_then(|_| stream.read_exact(&mut hello));
                let mut index = [0u8; 8];
                index.copy_from_slice(&hello[16..]);
                let index = u64::from_be_bytes(index) as usize;
                if read.is_err() || &hello[..16] != HELLO || index <= me || index >= n {
                    continue;
                }
                stream
                    .set_read_timeout(None)
                    .and_then(|_| stream.set_nodelay(true))
                    .map_err(|e| {
                        format!("cannot set up the connection from process {index}: {e}")
                    })?;
                sockets[index] = Some(stream);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    let missing: Vec<String> = (me + 1..n)
                        .filter(|i| sockets[*i].is_none())
                        .map(|i| format!("{i} ({})", cluster.addresses[i]))
                        .collect();
                    return Err(format!(
                        "process(es) {} did not connect within {} s: start each with the same \
                         command and its --process",
                        missing.join(", "),
                        within.as_secs()
                    ));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(format!("cannot accept a connection: {e}")),
        }
    }
    Ok(sockets)
}

// ---------------------------------------------------------------------------------------
// The search.

type Visited = HashMap<u64, u64, BuildHasherDefault<nohash_hasher::NoHashHasher<u64>>>;

/// What a worker tells every worker after a depth it handled.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Stats {
    worker: u32,
    /// The depth (0: the initial states) this is as of.
    level: u32,
    unique: u64,
    generated: u64,
    quiescent: u64,
    /// The deepest depth with a state this worker owned.
    deepest: u32,
    /// Per property (its index in the model's list): the depth and fingerprint of the first
    /// state found showing it.
    found: Vec<(u32, u32, u64)>,
    /// Why the search must stop, if it must; `interrupted` when Ctrl-C stopped it.
    stop: Option<String>,
    /// This worker's process's peak resident set so far (bytes; 0 if unknown).
    peak: u64,
}

/// What goes round the loop.
#[derive(Clone, Debug, Serialize, Deserialize)]
enum Item {
    State {
        fp: u64,
        parent: u64,
        /// Reached from `parent` by a protocol step (not a fault): an edge of the livelock
        /// check's graph.
        protocol: bool,
        bytes: Vec<u8>,
    },
    Stats {
        to: u32,
        stats: Stats,
    },
}

/// A walk from a violating state to a root, a step at a time, each at the state's owner.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Walk {
    property: u32,
    /// Fingerprints from the violating state back; complete once its last is a root.
    chain: Vec<u64>,
    complete: bool,
}

const INTERRUPTED: &str = "interrupted";

/// One worker's share of the search.
#[derive(Default)]
struct Local {
    visited: Visited,
    generated: u64,
    deepest: u32,
    /// First discovery per property: (depth, fingerprint).
    found: BTreeMap<u32, (u32, u64)>,
    /// The latest [`Stats`] of every worker, this one's included.
    known: BTreeMap<u32, Stats>,
    stop: Option<String>,
    /// Set once this worker has told the others it stops.
    told_stop: bool,
    walks: Vec<Walk>,
    /// With the livelock check: the protocol steps into states this worker owns, as
    /// (state, predecessor), and the quiescent states it owns.
    preds: Vec<(u64, u64)>,
    quiescent: Vec<u64>,
    /// The states that reach a quiescent one by protocol steps.
    can: std::collections::HashSet<u64, BuildHasherDefault<nohash_hasher::NoHashHasher<u64>>>,
    /// With the livelock check: the states this worker owns, by depth (the search is
    /// breadth first, so a state's depth is its distance from the start).
    levels: Vec<Vec<u64>>,
    /// Per worker: how many states it owns cannot, and the nearest of them (depth, then
    /// fingerprint).
    cannot: Vec<(u64, u32, u64)>,
}

/// The figures every process's workers agree on once the search is over, as worker 0 of
/// process 0 reads them.
struct Summary {
    unique: u64,
    generated: u64,
    quiescent: u64,
    deepest: u32,
    found: BTreeMap<u32, (u32, u64)>,
    stop: Option<String>,
    /// Per worker: its unique states and its process's peak resident set.
    per_worker: Vec<(u32, u64, u64)>,
}

fn summarize(known: &BTreeMap<u32, Stats>) -> Summary {
    let mut found: BTreeMap<u32, (u32, u64)> = BTreeMap::new();
    for s in known.values() {
        for &(p, level, fp) in &s.found {
            let e = found.entry(p).or_insert((level, fp));
            if (level, fp) < *e {
                *e = (level, fp);
            }
        }
    }
    Summary {
        unique: known.values().map(|s| s.unique).sum(),
        generated: known.values().map(|s| s.generated).sum(),
        quiescent: known.values().map(|s| s.quiescent).sum(),
        deepest: known.values().map(|s| s.deepest).max().unwrap_or(0),
        found,
        stop: known
            .values()
            .filter_map(|s| s.stop.clone())
            .min_by_key(|s| s != INTERRUPTED),
        per_worker: known
            .values()
            .map(|s| (s.worker, s.unique, s.peak))
            .collect(),
    }
}

/// Shared with the thread that started the search, for its progress line.
#[derive(Default)]
struct Live {
    unique: AtomicUsize,
    generated: AtomicUsize,
    depth: AtomicUsize,
    /// Workers of this process that have finished.
    finished: AtomicUsize,
}

/// Counts a worker as finished when dropped, on a panic too.
struct Finished(Arc<Live>);

/// While a search across processes runs: when a peer process dies, timely's threads here
/// panic on the closed connection (and then this thread, in timely's code, as it joins
/// them), and the default hook would print each panic with its backtrace. This hook keeps
/// the panics of timely's threads (`timely:send-…`, `recv-…`, `work-…`) and of timely's code
/// off stderr and remembers the first, for the search's error; any other panic goes to the
/// hook that was there, which is put back on drop.
struct QuietTimely {
    first: Arc<Mutex<Option<String>>>,
    prev: Arc<dyn Fn(&std::panic::PanicHookInfo<'_>) + Send + Sync>,
}

impl QuietTimely {
    fn install() -> QuietTimely {
        let prev: Arc<dyn Fn(&std::panic::PanicHookInfo<'_>) + Send + Sync> =
            Arc::from(std::panic::take_hook());
        let first = Arc::new(Mutex::new(None));
        let (others, keep) = (Arc::clone(&prev), Arc::clone(&first));
        std::panic::set_hook(Box::new(move |info| {
            let thread = std::thread::current();
            let name = thread.name().unwrap_or("main");
            let in_timely = info
                .location()
                .is_some_and(|l| l.file().contains("/timely_communication-"));
            match name {
                name if name.starts_with("timely:") || in_timely => {
                    let p = info.payload();
                    let what = p
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| p.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "a panic".into());
                    if let Ok(mut first) = keep.lock() {
                        first.get_or_insert(format!("{name}: {what}"));
                    }
                }
                _ => others(info),
            }
        }));
        QuietTimely { first, prev }
    }

    /// The first panic of a timely thread, if there was one.
    fn first(&self) -> Option<String> {
        self.first.lock().ok().and_then(|f| f.clone())
    }
}

impl Drop for QuietTimely {
    fn drop(&mut self) {
        // Setting a hook from a panicking thread would itself panic.
        if !std::thread::panicking() {
            let prev = Arc::clone(&self.prev);
            std::panic::set_hook(Box::new(move |info| prev(info)));
        }
    }
}

impl Drop for Finished {
    fn drop(&mut self) {
        self.0.finished.fetch_add(1, Ordering::Relaxed);
    }
}

/// What one worker hands back.
struct WorkerResult<A: Protocol> {
    unique: usize,
    lead: Option<LeadResult<A>>,
}

struct LeadResult<A: Protocol> {
    summary: Summary,
    discoveries: Vec<(&'static str, Option<Vec<GroupAction<A>>>)>,
    livelock: Option<livelock::Outcome<A>>,
}

/// The walk that rebuilds the path to the livelock's state (not a property's index).
const LIVELOCK_WALK: u32 = u32::MAX;

/// Runs this process's part of the search of `model` on `cluster`. Process 0's outcome holds
/// the whole search's figures; `progress` is called about once a second there.
pub fn explore<A: Protocol>(
    model: &GroupModel<A>,
    cluster: &Cluster,
    limits: Limits,
    progress: &mut dyn FnMut(&Progress),
) -> Result<Outcome<A>, String> {
    let workers = cluster.workers.max(1);
    let start = Instant::now();
    let live = Arc::new(Live::default());
    let errors = Arc::new(Mutex::new(Vec::<String>::new()));
    let shared = (
        model.clone(),
        Arc::new(limits),
        Arc::clone(&live),
        Arc::clone(&errors),
    );
    let search = move |worker: &mut timely::worker::Worker| {
        let (model, limits, live, errors) = &shared;
        // Counted however the worker ends: a worker whose peer process died panics in timely.
        let _finished = Finished(Arc::clone(live));
        // Each worker its own model: its quiescent-state count is its own.
        let model = GroupModel {
            judged_quiescent: Arc::default(),
            ..model.clone()
        };
        search_worker(worker, model, limits, live, errors)
    };
    let quiet = (cluster.addresses.len() > 1).then(QuietTimely::install);
    let guards = if cluster.addresses.len() <= 1 {
        timely::execute(timely::Config::process(workers), search)?
    } else {
        let sockets = connect(cluster, CONNECT_WITHIN)?;
        let hooks = timely::communication::Hooks::default();
        let local = ProcessBuilder::new_typed_vector(workers, hooks.refill.clone(), None);
        let (builders, comms) =
            initialize_networking_from_sockets(local, sockets, cluster.process, workers, hooks)
                .map_err(|e| format!("cannot set up the connections between processes: {e}"))?;
        timely::execute::execute_from(
            builders.into_iter().map(AllocatorBuilder::Tcp).collect(),
            Box::new(comms),
            timely::WorkerConfig::default(),
            search,
        )?
    };
    let mut last = Instant::now();
    while live.finished.load(Ordering::Relaxed) < workers {
        std::thread::sleep(Duration::from_millis(20));
        // Process 0 holds the whole search's figures; the others say nothing.
        if cluster.process == 0 && last.elapsed() >= Duration::from_secs(1) {
            last = Instant::now();
            progress(&Progress {
                states: live.generated.load(Ordering::Relaxed),
                unique_states: live.unique.load(Ordering::Relaxed),
                max_depth: live.depth.load(Ordering::Relaxed),
                elapsed: start.elapsed(),
            });
        }
    }
    // A process that dies takes its connections with it: timely's threads here panic, and
    // dropping its connection guard panics too. Caught, it is this search's error.
    let joined =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| guards.join())).map_err(|_| {
            let why = quiet.as_ref().and_then(QuietTimely::first);
            let why = why.map(|w| format!(": {w}")).unwrap_or_default();
            format!("a process of the search was lost (its connection closed){why}")
        })?;
    drop(quiet);
    let mut results = Vec::new();
    for r in joined {
        results.push(r.map_err(|e| format!("a search worker failed: {e}"))?);
    }
    if let Some(e) = errors.lock().ok().and_then(|e| e.first().cloned()) {
        return Err(e);
    }
    let own: usize = results.iter().map(|r| r.unique).sum();
    let lead = results.iter_mut().find_map(|r| r.lead.take());
    let Some(lead) = lead else {
        return Ok(Outcome {
            states: 0,
            unique_states: own,
            max_depth: 0,
            quiescent_states: 0,
            discoveries: vec![],
            livelock: None,
            interrupted: false,
            stopped: None,
            processes: vec![Share {
                process: cluster.process,
                states: own,
                peak_bytes: memory::peak_resident(),
            }],
            lead: false,
        });
    };
    let s = lead.summary;
    let mut processes: Vec<Share> = (0..cluster.addresses.len().max(1))
        .map(|process| Share {
            process,
            states: 0,
            peak_bytes: None,
        })
        .collect();
    for (w, unique, peak) in &s.per_worker {
        if let Some(p) = processes.get_mut(*w as usize / workers) {
            p.states += *unique as usize;
            if *peak > 0 {
                p.peak_bytes = p.peak_bytes.max(Some(*peak));
            }
        }
    }
    let interrupted = s.stop.as_deref() == Some(INTERRUPTED);
    Ok(Outcome {
        states: s.generated as usize,
        unique_states: s.unique as usize,
        max_depth: s.deepest as usize + 1,
        quiescent_states: s.quiescent as usize,
        discoveries: lead.discoveries,
        livelock: lead.livelock,
        interrupted,
        stopped: s.stop.filter(|_| !interrupted),
        processes,
        lead: true,
    })
}

fn search_worker<A: Protocol>(
    worker: &mut timely::worker::Worker,
    model: GroupModel<A>,
    limits: &Arc<Limits>,
    live: &Arc<Live>,
    errors: &Arc<Mutex<Vec<String>>>,
) -> WorkerResult<A> {
    let index = worker.index();
    let peers = worker.peers();
    let local = Rc::new(RefCell::new(Local::default()));
    let model = Arc::new(model);
    let properties = model.properties();
    let expectations: Vec<Expectation> = properties.iter().map(|p| p.expectation.clone()).collect();

    // The initial states, from worker 0 only, at depth 0.
    let roots: Vec<Item> = if index == 0 {
        model
            .init_states()
            .into_iter()
            .filter(|s| model.within_boundary(s))
            .filter_map(|s| match encode::<A>(&s) {
                Ok(bytes) => Some(Item::State {
                    fp: fingerprint(&s),
                    parent: 0,
                    protocol: false,
                    bytes,
                }),
                Err(e) => {
                    report(errors, e);
                    None
                }
            })
            .collect()
    } else {
        vec![]
    };
    {
        let local = Rc::clone(&local);
        let model = Arc::clone(&model);
        let limits = Arc::clone(limits);
        let live = Arc::clone(live);
        let errors = Arc::clone(errors);
        let expectations = expectations.clone();
        worker.dataflow::<u32, _, _>(move |scope| {
            let (handle, cycle) = scope.feedback(1u32);
            roots
                .to_stream(scope)
                .container::<Vec<Item>>()
                .concat(cycle)
                .unary_frontier::<timely::container::CapacityContainerBuilder<Vec<Item>>, _, _, _>(
                    Exchange::new(|x: &Item| match x {
                        Item::State { fp, .. } => *fp,
                        Item::Stats { to, .. } => u64::from(*to),
                    }),
                    "Explore",
                    move |_cap, _info| {
                        let mut pending: BTreeMap<u32, (Capability<u32>, Vec<Item>)> =
                            BTreeMap::new();
                        let mut actions = Vec::new();
                        move |(input, frontier), output| {
                            input.for_each_stamp(|cap, data| {
                                if let Some(cap) = cap.retain_least(output.output_index()) {
                                    let t = *cap.time();
                                    let e = pending.entry(t).or_insert_with(|| (cap, Vec::new()));
                                    e.1.extend(data.flat_map(|d| d.drain(..)));
                                }
                            });
                            while let Some(&t) = pending.keys().next() {
                                if frontier.frontier().less_equal(&t) {
                                    break;
                                }
                                let Some((cap, items)) = pending.remove(&t) else {
                                    break;
                                };
                                let mut session = output.session(&cap);
                                let mut l = local.borrow_mut();
                                let out = level::<A>(
                                    &model,
                                    &expectations,
                                    &limits,
                                    &mut l,
                                    t,
                                    items,
                                    index,
                                    peers,
                                    &mut actions,
                                    &errors,
                                );
                                if index == 0 {
                                    let s = summarize(&l.known);
                                    live.unique.store(s.unique as usize, Ordering::Relaxed);
                                    live.generated
                                        .store(s.generated as usize, Ordering::Relaxed);
                                    live.depth.store(t as usize, Ordering::Relaxed);
                                }
                                session.give_iterator(out.into_iter());
                            }
                        }
                    },
                )
                .connect_loop(handle);
        });
    }
    while worker.step_or_park(None) {}

    let summary = summarize(&local.borrow().known);
    // Every worker has the same stats now, so all agree on whether to run the check.
    let livelock_runs = limits.livelock && summary.stop.is_none();
    if livelock_runs {
        can_reach_quiescence(worker, &local);
    }

    // Rebuild the discoveries' paths (and the livelock's) from the parent records.
    let mut walks: Vec<Walk> = if index == 0 {
        summary
            .found
            .iter()
            .filter(|(p, _)| {
                expectations.get(**p as usize) == Some(&Expectation::Always)
                    || expectations.get(**p as usize) == Some(&Expectation::Sometimes)
            })
            .map(|(p, (_, fp))| Walk {
                property: *p,
                chain: vec![*fp],
                complete: false,
            })
            .collect()
    } else {
        vec![]
    };
    let cannot: u64 = local.borrow().cannot.iter().map(|(n, ..)| n).sum();
    let nearest = local
        .borrow()
        .cannot
        .iter()
        .filter(|(n, ..)| *n > 0)
        .map(|(_, depth, fp)| (*depth, *fp))
        .min()
        .map(|(_, fp)| fp);
    if let (0, Some(fp)) = (index, nearest) {
        walks.push(Walk {
            property: LIVELOCK_WALK,
            chain: vec![fp],
            complete: false,
        });
    }
    {
        let local = Rc::clone(&local);
        worker.dataflow::<u32, _, _>(move |scope| {
            let (handle, cycle) = scope.feedback(1u32);
            walks
                .to_stream(scope)
                .container::<Vec<Walk>>()
                .concat(cycle)
                .unary::<timely::container::CapacityContainerBuilder<Vec<Walk>>, _, _, _>(
                    Exchange::new(|w: &Walk| {
                        if w.complete {
                            0
                        } else {
                            w.chain.last().copied().unwrap_or(0)
                        }
                    }),
                    "Walk",
                    move |_cap, _info| {
                        move |input, output| {
                            input.for_each(|cap, data| {
                                let mut session = output.session(&cap);
                                let mut l = local.borrow_mut();
                                for mut w in data.drain(..) {
                                    if w.complete {
                                        l.walks.push(w);
                                        continue;
                                    }
                                    let last = w.chain.last().copied().unwrap_or(0);
                                    match l.visited.get(&last) {
                                        Some(0) | None => w.complete = true,
                                        Some(parent) => w.chain.push(*parent),
                                    }
                                    session.give(w);
                                }
                            });
                        }
                    },
                )
                .connect_loop(handle);
        });
    }
    while worker.step_or_park(None) {}
    let unique = local.borrow().visited.len();
    let lead = (index == 0).then(|| {
        let mut walks = std::mem::take(&mut local.borrow_mut().walks);
        walks.sort_by_key(|w| w.property);
        let unique = summary.unique as usize;
        let livelock = livelock_runs.then(|| match walks.last() {
            Some(w) if w.property == LIVELOCK_WALK => {
                let mut chain = w.chain.clone();
                chain.reverse();
                match replay_to(&model, &chain) {
                    Some((stem, state)) => livelock::lasso(&model, state, stem, unique),
                    None => livelock::Outcome::NotRun(
                        "the path to the livelock does not replay".to_string(),
                    ),
                }
            }
            _ if cannot > 0 => {
                livelock::Outcome::NotRun("the livelock's path was not rebuilt".to_string())
            }
            _ => livelock::Outcome::Free { states: unique },
        });
        let discoveries = walks
            .into_iter()
            .filter(|w| w.property != LIVELOCK_WALK)
            .filter_map(|w| {
                let name = properties.get(w.property as usize)?.name;
                let mut chain = w.chain;
                chain.reverse();
                Some((name, replay(&model, &chain)))
            })
            .collect();
        LeadResult {
            summary,
            discoveries,
            livelock,
        }
    });
    WorkerResult { unique, lead }
}

fn report(errors: &Mutex<Vec<String>>, e: String) {
    if let Ok(mut all) = errors.lock() {
        all.push(e);
    }
}

/// Handles one depth's items at one worker: takes in the others' stats, stores the states it
/// has not seen, judges them, and returns their successors and this worker's stats.
#[allow(clippy::too_many_arguments)]
fn level<A: Protocol>(
    model: &GroupModel<A>,
    expectations: &[Expectation],
    limits: &Limits,
    l: &mut Local,
    t: u32,
    items: Vec<Item>,
    index: usize,
    peers: usize,
    actions: &mut Vec<GroupAction<A>>,
    errors: &Mutex<Vec<String>>,
) -> Vec<Item> {
    let properties = model.properties();
    let mut states = Vec::new();
    for item in items {
        match item {
            Item::Stats { stats, .. } => {
                if l.known
                    .get(&stats.worker)
                    .is_none_or(|k| k.level <= stats.level)
                {
                    l.known.insert(stats.worker, stats);
                }
            }
            Item::State {
                fp,
                parent,
                protocol,
                bytes,
            } => {
                if protocol && limits.livelock {
                    l.preds.push((fp, parent));
                }
                states.push((fp, parent, bytes))
            }
        }
    }
    // Whether to stop: told so by another worker, or for a reason of this one's own.
    if l.stop.is_none() {
        l.stop = l.known.values().find_map(|s| s.stop.clone());
        // Every worker has it from the same stats: none needs telling again.
        l.told_stop = l.stop.is_some();
    }
    if l.stop.is_none() {
        let violated = l
            .known
            .values()
            .flat_map(|s| &s.found)
            .any(|(p, _, _)| limits.fail_fast.contains(&(*p as usize)));
        if violated {
            l.stop = Some("stopped at the first violation of a claimed property".to_string());
            // Every worker reads this from the stats; none needs telling.
            l.told_stop = true;
        }
    }
    if l.stop.is_none() {
        if limits
            .interrupt
            .as_ref()
            .is_some_and(|i| i.load(Ordering::Relaxed))
        {
            l.stop = Some(INTERRUPTED.to_string());
        } else if limits.deadline.is_some_and(|d| Instant::now() >= d) {
            l.stop = Some("timeout".to_string());
        } else if let Some(why) = limits
            .memory
            .as_ref()
            .and_then(|g| g.check(l.visited.len() * peers).err())
        {
            l.stop = Some(why);
        }
    }
    // A state reached by several parents at this depth keeps the least (and a property the
    // least violating state, below): the trace then does not depend on how many processes
    // there are, or on what arrived first.
    // A sender sends a state's bytes once a depth; its other parents come as steps alone
    // (empty bytes), so a group of one fingerprint takes the bytes from whichever has them.
    states.sort_unstable_by_key(|(fp, parent, _)| (*fp, *parent));
    let mut grouped: Vec<(u64, u64, Vec<u8>)> = Vec::with_capacity(states.len());
    for (fp, parent, bytes) in states {
        match grouped.last_mut() {
            Some(last) if last.0 == fp => {
                if last.2.is_empty() {
                    last.2 = bytes;
                }
            }
            _ => grouped.push((fp, parent, bytes)),
        }
    }
    let states = grouped;
    // Successors this worker has sent at this depth (their bytes go once).
    let mut sent: std::collections::HashSet<
        u64,
        BuildHasherDefault<nohash_hasher::NoHashHasher<u64>>,
    > = Default::default();
    let mut out = Vec::new();
    let mut handled = false;
    if l.stop.is_none() {
        for (fp, parent, bytes) in states {
            if l.visited.contains_key(&fp) {
                continue;
            }
            l.visited.insert(fp, parent);
            if limits.livelock {
                let depth = t as usize;
                if l.levels.len() <= depth {
                    l.levels.resize_with(depth + 1, Vec::new);
                }
                l.levels[depth].push(fp);
            }
            handled = true;
            let state = match decode::<A>(&bytes) {
                Ok(s) => s,
                Err(e) => {
                    report(errors, e);
                    continue;
                }
            };
            l.deepest = l.deepest.max(t);
            if limits.livelock && is_quiescent(model, &state) {
                l.quiescent.push(fp);
            }
            // Judge it as stateright does: an always-property is shown where it fails, a
            // sometimes-property where it holds; the first such state is kept.
            let mut awaiting = false;
            for (i, p) in properties.iter().enumerate() {
                let holds = (p.condition)(model, &state);
                let shown = match expectations[i] {
                    Expectation::Always => !holds,
                    Expectation::Sometimes => holds,
                    // groupy judges liveness at quiescent states, with always-properties.
                    Expectation::Eventually => false,
                };
                if shown {
                    let first = l.found.entry(i as u32).or_insert((t, fp));
                    *first = (*first).min((t, fp));
                } else {
                    awaiting = true;
                }
            }
            // stateright stops expanding once nothing is left to find: so does this.
            if !awaiting {
                continue;
            }
            model.actions(&state, actions);
            for action in actions.drain(..) {
                let protocol = limits.livelock && !livelock::is_fault(&state, &action);
                let Some(next) = model.next_state(&state, action) else {
                    continue;
                };
                if !model.within_boundary(&next) {
                    continue;
                }
                l.generated += 1;
                let nfp = fingerprint(&next);
                // A state this worker owns and has seen need not go round.
                if nfp as usize % peers == index && l.visited.contains_key(&nfp) {
                    if protocol {
                        l.preds.push((nfp, fp));
                    }
                    continue;
                }
                if !sent.insert(nfp) {
                    out.push(Item::State {
                        fp: nfp,
                        parent: fp,
                        protocol,
                        bytes: Vec::new(),
                    });
                    continue;
                }
                match encode::<A>(&next) {
                    Ok(bytes) => out.push(Item::State {
                        fp: nfp,
                        parent: fp,
                        protocol,
                        bytes,
                    }),
                    Err(e) => report(errors, e),
                }
            }
        }
    }
    if t == 0 {
        // The initial states are generated too (stateright counts them), each by its owner.
        l.generated += l.visited.len() as u64;
    }
    let tell_stop = l.stop.is_some() && !l.told_stop;
    if handled || tell_stop {
        l.told_stop |= tell_stop;
        let stats = Stats {
            worker: index as u32,
            level: t,
            unique: l.visited.len() as u64,
            generated: l.generated,
            quiescent: model.judged_quiescent.load(Ordering::Relaxed) as u64,
            deepest: l.deepest,
            found: l.found.iter().map(|(p, (lv, fp))| (*p, *lv, *fp)).collect(),
            stop: l.stop.clone().filter(|_| tell_stop),
            peak: memory::peak_resident().unwrap_or(0),
        };
        l.known.insert(index as u32, stats.clone());
        for to in 0..peers as u32 {
            if to != index as u32 {
                out.push(Item::Stats {
                    to,
                    stats: stats.clone(),
                });
            }
        }
    }
    out
}

/// The actions that lead from a root through the states `chain` names, found by trying each
/// action and matching fingerprints.
fn replay<A: Protocol>(model: &GroupModel<A>, chain: &[u64]) -> Option<Vec<GroupAction<A>>> {
    replay_to(model, chain).map(|(path, _)| path)
}

/// [`replay`]'s actions, and the state they end in.
fn replay_to<A: Protocol>(
    model: &GroupModel<A>,
    chain: &[u64],
) -> Option<(Vec<GroupAction<A>>, GroupState<A>)> {
    let first = *chain.first()?;
    let mut state = model
        .init_states()
        .into_iter()
        .find(|s| fingerprint(s) == first)?;
    let mut path = Vec::new();
    let mut actions = Vec::new();
    for &next_fp in &chain[1..] {
        model.brake.released(|| model.actions(&state, &mut actions));
        let step = actions.drain(..).find_map(|a| {
            let next = model.next_state(&state, a.clone())?;
            (model.within_boundary(&next) && fingerprint(&next) == next_fp).then_some((a, next))
        });
        actions.clear();
        let (a, next) = step?;
        path.push(a);
        state = next;
    }
    Some((path, state))
}

/// The livelock check across workers: which states reach a quiescent one by protocol steps,
/// found backwards from the quiescent states along the recorded protocol steps, each state
/// at its owner; then each worker tells every other how many of its states cannot, and the
/// nearest of them (the least depth, then the least fingerprint), which the lasso's stem
/// leads to: a shortest stem, as on one process.
fn can_reach_quiescence(worker: &mut timely::worker::Worker, local: &Rc<RefCell<Local>>) {
    let peers = worker.peers();
    let seeds = {
        let mut l = local.borrow_mut();
        l.preds.sort_unstable();
        l.preds.dedup();
        std::mem::take(&mut l.quiescent)
    };
    {
        let local = Rc::clone(local);
        worker.dataflow::<u32, _, _>(move |scope| {
            let (handle, cycle) = scope.feedback(1u32);
            seeds
                .to_stream(scope)
                .container::<Vec<u64>>()
                .concat(cycle)
                .unary::<timely::container::CapacityContainerBuilder<Vec<u64>>, _, _, _>(
                    Exchange::new(|fp: &u64| *fp),
                    "CanReach",
                    move |_cap, _info| {
                        move |input, output| {
                            input.for_each(|cap, data| {
                                let mut session = output.session(&cap);
                                let mut l = local.borrow_mut();
                                for fp in data.drain(..) {
                                    if !l.can.insert(fp) {
                                        continue;
                                    }
                                    let from = l.preds.partition_point(|(c, _)| *c < fp);
                                    let to = l.preds.partition_point(|(c, _)| *c <= fp);
                                    session
                                        .give_iterator(l.preds[from..to].iter().map(|(_, p)| *p));
                                }
                            });
                        }
                    },
                )
                .connect_loop(handle);
        });
    }
    while worker.step_or_park(None) {}
    let mine = {
        let mut l = local.borrow_mut();
        l.preds = Vec::new();
        let levels = std::mem::take(&mut l.levels);
        let cannot = l.visited.keys().filter(|fp| !l.can.contains(fp)).count();
        // The nearest: the least fingerprint at the least depth that holds one.
        let nearest = levels.iter().enumerate().find_map(|(depth, level)| {
            let least = level.iter().filter(|fp| !l.can.contains(fp)).min()?;
            Some((depth as u32, *least))
        });
        let (depth, least) = nearest.unwrap_or((0, 0));
        (cannot as u64, depth, least)
    };
    let tell: Vec<(u64, u64, u32, u64)> = (0..peers as u64)
        .map(|to| (to, mine.0, mine.1, mine.2))
        .collect();
    {
        let local = Rc::clone(local);
        worker.dataflow::<u32, _, _>(move |scope| {
            tell.to_stream(scope)
                .container::<Vec<(u64, u64, u32, u64)>>()
                .sink(
                    Exchange::new(|t: &(u64, u64, u32, u64)| t.0),
                    "Cannot",
                    move |(input, _)| {
                        input.for_each(|_, data| {
                            let mut l = local.borrow_mut();
                            for (_, n, depth, least) in data.drain(..) {
                                l.cannot.push((n, depth, least));
                            }
                        });
                    },
                );
        });
    }
    while worker.step_or_park(None) {}
}

/// The states of a depth-first walk of the model up to `limit`, for tests.
#[cfg(test)]
fn some_states<A: Protocol>(model: &GroupModel<A>, limit: usize) -> Vec<GroupState<A>> {
    let mut seen = std::collections::HashSet::new();
    let mut queue: std::collections::VecDeque<GroupState<A>> = model.init_states().into();
    let mut out = Vec::new();
    let mut actions = Vec::new();
    while let Some(s) = queue.pop_front() {
        if out.len() >= limit {
            break;
        }
        if !seen.insert(fingerprint(&s)) {
            continue;
        }
        model.actions(&s, &mut actions);
        for a in actions.drain(..) {
            if let Some(n) = model.next_state(&s, a) {
                queue.push_back(n);
            }
        }
        out.push(s);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, NetworkKind};
    use crate::{gms4::Gms4, gms5::Gms5};

    /// Every state of a short walk survives the codec with its fingerprint unchanged, on every
    /// kind of network stateright has (ordered, unordered, duplicating).
    #[test]
    fn a_state_survives_the_round_trip_with_its_fingerprint_unchanged() {
        for network in [NetworkKind::Ordered, NetworkKind::Lossy, NetworkKind::Udp] {
            let cfg = Config {
                network,
                losses: Some(1),
                ..Config::default()
            };
            let model = GroupModel::<Gms4>::new(cfg.clone());
            let states = some_states(&model, 2_000);
            assert!(states.len() > 500, "{network:?}: {}", states.len());
            for s in &states {
                let bytes = encode::<Gms4>(s).unwrap_or_else(|e| panic!("{e}"));
                let back = decode::<Gms4>(&bytes).unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(fingerprint(&back), fingerprint(s), "{network:?}");
                assert!(back == *s, "{network:?}: a state changed in the round trip");
            }
        }
        let model = GroupModel::<Gms5>::new(Config {
            restarts: 1,
            ..Config::default()
        });
        for s in some_states(&model, 2_000) {
            let back = decode::<Gms5>(&encode::<Gms5>(&s).unwrap_or_else(|e| panic!("{e}")))
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(fingerprint(&back), fingerprint(&s));
        }
    }

    #[test]
    fn bytes_that_are_not_a_state_are_an_error() {
        assert!(decode::<Gms4>(&[0xff, 0xff, 0xff]).is_err());
        assert!(decode::<Gms4>(&[]).is_err());
    }

    use crate::check::{check_protocol, Report, Search, Strategy, Verdict};
    use crate::gms2::Gms2;
    use crate::gms3::Gms3;
    use crate::protocol::Protocol;

    fn one<A: Protocol>(cfg: &Config) -> Report {
        let search = Search {
            strategy: Strategy::Bfs,
            threads: 1,
            ..Search::default()
        };
        check_protocol::<A>(cfg, &search, &mut |_| {})
    }

    fn spread<A: Protocol>(cfg: &Config, cluster: Cluster) -> Report {
        let search = Search {
            cluster: Some(cluster),
            ..Search::default()
        };
        check_protocol::<A>(cfg, &search, &mut |_| {})
    }

    fn same(a: &Report, b: &Report) {
        assert_eq!(a.verdict, b.verdict, "{}", a.protocol);
        assert_eq!(a.unique_states, b.unique_states, "{}", a.protocol);
        assert_eq!(a.states, b.states, "{}", a.protocol);
        assert_eq!(a.max_depth, b.max_depth, "{}", a.protocol);
        assert_eq!(a.quiescent_states, b.quiescent_states, "{}", a.protocol);
        // The livelock check, run across the workers, finds what one process's finds.
        let livelock = |r: &Report| r.livelock.split(" (across").next().map(str::to_string);
        assert_eq!(livelock(a), livelock(b), "{}", a.protocol);
        let statuses = |r: &Report| {
            r.properties
                .iter()
                .map(|p| (p.name, p.status))
                .collect::<Vec<_>>()
        };
        assert_eq!(statuses(a), statuses(b), "{}", a.protocol);
        let lengths = |r: &Report| {
            r.properties
                .iter()
                // Claimed: their paths are searched shortest (in model steps); an unclaimed
                // property keeps the path the search met first.
                .filter(|p| p.claimed && p.status == crate::check::Status::Violated)
                .map(|p| (p.name, p.counterexample.as_ref().map(|t| t.path.len())))
                .collect::<Vec<_>>()
        };
        assert_eq!(lengths(a), lengths(b), "{}", a.protocol);
    }

    /// Two workers in one process find what stateright's own breadth-first search finds:
    /// the verdict, every count, every property's status, and counterexamples as short.
    #[test]
    fn two_workers_count_what_stateright_counts() {
        let workers = || Cluster {
            addresses: vec![],
            process: 0,
            workers: 2,
        };
        let cfg = Config::default();
        same(&one::<Gms2>(&cfg), &spread::<Gms2>(&cfg, workers()));
        same(&one::<Gms3>(&cfg), &spread::<Gms3>(&cfg, workers()));
        let lossy = Config {
            network: NetworkKind::Lossy,
            losses: Some(1),
            msgs: 1,
            ..Config::default()
        };
        let a = one::<Gms4>(&lossy);
        assert_eq!(a.verdict, Verdict::Holds);
        same(&a, &spread::<Gms4>(&lossy, workers()));
    }

    /// Two processes on loopback, the rows issue 26 names (about a minute):
    /// `cargo test --release -p groupy-model -- --ignored the_issues_rows`.
    #[test]
    #[ignore]
    fn the_issues_rows_across_two_processes_match_one() {
        let gms3 = Config {
            nodes: 5,
            msgs: 3,
            crashes: 2,
            ..Config::default()
        };
        let gms4 = Config {
            network: NetworkKind::Lossy,
            msgs: 2,
            crashes: 2,
            ..Config::default()
        };
        let (a, b) = on_two_processes::<Gms3>(&gms3);
        same(&one::<Gms3>(&gms3), &a);
        assert_eq!(a.unique_states, 348_008);
        assert!(b.follower);
        let (a, _) = on_two_processes::<Gms4>(&gms4);
        same(&one::<Gms4>(&gms4), &a);
        assert_eq!(a.unique_states, 286_746);
    }

    fn on_two_processes<A: Protocol>(cfg: &Config) -> (Report, Report) {
        let ports: Vec<String> = (0..2)
            .map(|_| {
                let l =
                    std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
                let a = l.local_addr().unwrap_or_else(|e| panic!("{e}"));
                a.to_string()
            })
            .collect();
        let mut reports: Vec<Report> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..2)
                .map(|process| {
                    let cluster = Cluster {
                        addresses: ports.clone(),
                        process,
                        workers: 1,
                    };
                    s.spawn(move || spread::<A>(cfg, cluster))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| panic!("a process panicked")))
                .collect()
        });
        let b = reports.remove(1);
        (reports.remove(0), b)
    }

    /// Two processes on loopback (here two threads, each with its own timely networking):
    /// the same figures, and each process holds a share.
    #[test]
    fn two_processes_on_loopback_count_what_one_counts() {
        let cfg = Config {
            network: NetworkKind::Lossy,
            losses: Some(1),
            msgs: 1,
            ..Config::default()
        };
        let reports = on_two_processes::<Gms4>(&cfg);
        let (lead, follower) = (&reports.0, &reports.1);
        assert!(!lead.follower && follower.follower);
        same(&one::<Gms4>(&cfg), lead);
        assert_eq!(lead.processes.len(), 2);
        let total: usize = lead.processes.iter().map(|p| p.states).sum();
        assert_eq!(total, lead.unique_states);
        for p in &lead.processes {
            assert!(
                p.states * 4 > lead.unique_states,
                "an unfair share: {:?}",
                lead.processes
            );
        }
        assert_eq!(follower.unique_states, lead.processes[1].states);
    }
}
