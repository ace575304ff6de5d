//! Runs the checker on one protocol and configuration and says what it found, in a
//! [`Report`] that the CLI prints (text or JSON) and the tests assert on.
//!
//! Verdict: `violated` if a property the protocol claims fails; otherwise `inconclusive` if
//! the exploration was cut short (timeout, state cap, depth cap, or simulation, which samples
//! paths and never proves) or a witness was never reached; otherwise `holds`.

pub use crate::distributed::Cluster;
use crate::distributed::{self, Share};
use crate::livelock;
use crate::memory;
use crate::model::{self, GroupAction, GroupModel};
use crate::properties;
use crate::protocol::Protocol;
use crate::registry::{ProtocolName, Visit};
use crate::trace::{self, Trace};
use crate::Config;
use serde::Serialize;
use stateright::{Checker, Expectation, HasDiscoveries, Model, UniformChooser};
use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::Hash;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How to search the state space (`--strategy`: each variant's doc comment is its help).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    // Depth-first is 1.8x faster than breadth-first here and keeps an order of magnitude less
    // memory; counterexamples are still reported shortest, by a breadth-first search of their
    // own. Where copies linger, gms1-gms3's spaces are infinite, and a depth-first search
    // could wander there forever.
    /// depth-first; breadth-first with --fail-fast on a network that duplicates (duplicating,
    /// udp)
    Auto,
    /// breadth-first
    Bfs,
    /// depth-first
    Dfs,
    /// random paths (--seed, --max-depth): never complete, so at best inconclusive
    Simulation,
}

impl FromStr for Strategy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(Strategy::Auto),
            "bfs" => Ok(Strategy::Bfs),
            "dfs" => Ok(Strategy::Dfs),
            "simulation" => Ok(Strategy::Simulation),
            _ => Err(format!(
                "unknown strategy '{s}'; valid values: auto, bfs, dfs, simulation"
            )),
        }
    }
}

/// How to search, and where to stop.
#[derive(Clone, Debug)]
pub struct Search {
    pub strategy: Strategy,
    /// Checker threads; 0 for the available cores (one with `fail_fast`).
    pub threads: usize,
    pub timeout: Option<Duration>,
    /// Stop after this many unique states (off by default: the memory guard is what keeps a
    /// run within the machine).
    pub max_states: Option<usize>,
    /// Stop before memory runs out ([`memory::Guard`]).
    pub memory: Option<memory::Guard>,
    pub max_depth: Option<usize>,
    /// Seed for `simulation`.
    pub seed: u64,
    /// Stop as soon as a claimed property is violated (the verdict cannot change after that).
    pub fail_fast: bool,
    /// Set (by a Ctrl-C handler) to stop the search and report what was found so far.
    pub interrupt: Option<Arc<AtomicBool>>,
    /// Search across processes on timely dataflow ([`distributed`]), breadth first.
    pub cluster: Option<distributed::Cluster>,
}

impl Search {
    /// Whether `interrupt` was set (Ctrl-C).
    pub fn interrupted(&self) -> bool {
        self.interrupt
            .as_ref()
            .is_some_and(|i| i.load(Ordering::Relaxed))
    }
}

/// With `--strategy simulation`, each random path stops at this depth unless `--max-depth`
/// says otherwise: on an infinite state space (the duplicating network) a path never ends on
/// its own, and stateright looks at its deadline only between paths.
pub const SIMULATION_DEPTH: usize = 200;

impl Default for Search {
    fn default() -> Self {
        Search {
            strategy: Strategy::Auto,
            threads: 1,
            timeout: None,
            max_states: None,
            memory: None,
            max_depth: None,
            seed: 0,
            fail_fast: false,
            interrupt: None,
            cluster: None,
        }
    }
}

/// A snapshot of a running check, for progress output.
#[derive(Clone, Debug)]
pub struct Progress {
    pub states: usize,
    pub unique_states: usize,
    pub max_depth: usize,
    pub elapsed: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Holds,
    Violated,
    Witnessed,
    Unwitnessed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Holds,
    Violated,
    Inconclusive,
}

impl Verdict {
    /// The CLI's exit code: 0 holds, 1 violated, 3 inconclusive (2 is bad usage).
    pub fn exit_code(self) -> i32 {
        match self {
            Verdict::Holds => 0,
            Verdict::Violated => 1,
            Verdict::Inconclusive => 3,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct PropertyReport {
    pub name: &'static str,
    pub kind: &'static str,
    /// Whether the protocol promises it (only claimed properties decide the verdict).
    pub claimed: bool,
    pub status: Status,
    pub description: &'static str,
    /// For a violated property: a shortest path to a violating state (for `validity`, a
    /// path to a terminal state where it never held). For a witness: the path that reached it.
    pub counterexample: Option<Trace>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub protocol: &'static str,
    pub config: Config,
    pub strategy: Strategy,
    pub complete: bool,
    /// Why the exploration is not complete, if it is not.
    pub cut_short: Option<String>,
    pub states: usize,
    pub unique_states: usize,
    pub max_depth: usize,
    /// Quiescent states judged (validity and convergence are judged at each).
    pub quiescent_states: usize,
    pub seconds: f64,
    pub verdict: Verdict,
    pub properties: Vec<PropertyReport>,
    /// Whether the livelock check ran, and what it found (`progress` is its row).
    pub livelock: String,
    /// A distributed search (`--processes`, `--hostfile`): each process's share of the
    /// unique states. Empty for a search on one process.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub processes: Vec<Share>,
    /// This report is a distributed search's process other than 0: it holds only its own
    /// share, and process 0 reports the search.
    #[serde(skip)]
    pub follower: bool,
}

impl Report {
    pub fn property(&self, name: &str) -> Option<&PropertyReport> {
        self.properties.iter().find(|p| p.name == name)
    }

    pub fn status(&self, name: &str) -> Option<Status> {
        self.property(name).map(|p| p.status)
    }
}

/// Checks `protocol` under `cfg`; `progress` is called about once a second while it runs.
pub fn check(
    protocol: ProtocolName,
    cfg: &Config,
    search: &Search,
    progress: &mut dyn FnMut(&Progress),
) -> Report {
    struct Check<'a> {
        cfg: &'a Config,
        search: &'a Search,
        progress: &'a mut dyn FnMut(&Progress),
    }
    impl Visit for Check<'_> {
        type Output = Report;
        fn visit<A: Protocol>(self) -> Report {
            check_protocol::<A>(self.cfg, self.search, self.progress)
        }
    }
    protocol.visit(Check {
        cfg,
        search,
        progress,
    })
}

/// Checks protocol `A` under `cfg`.
pub fn check_protocol<A: Protocol>(
    cfg: &Config,
    search: &Search,
    progress: &mut dyn FnMut(&Progress),
) -> Report {
    let model = GroupModel::<A>::new(cfg.clone());
    let claims = |name: &str| A::DESCRIPTOR.claims_under(name, cfg);
    let search = &Search {
        strategy: match search.strategy {
            // An infinite space (gms1-gms3 where copies linger) is searched for its first
            // violation (--fail-fast), breadth first so that it is found; a finite one (gms4's)
            // depth first, which keeps only fingerprints.
            // A distributed search is breadth first, level by level.
            _ if search.cluster.is_some() => Strategy::Bfs,
            Strategy::Auto if cfg.network.duplicates() && search.fail_fast => Strategy::Bfs,
            Strategy::Auto => Strategy::Dfs,
            s => s,
        },
        ..search.clone()
    };
    // stateright's simulation checker records a wrong action index when an action leads
    // nowhere (`next_state` is `None`), and then cannot replay its own paths: give it a model
    // that offers only actions that lead somewhere. The state graph is the same; only the
    // action indices differ, so paths are rendered with `model`.
    let searched = GroupModel {
        only_transitions: search.strategy == Strategy::Simulation,
        brake: Arc::new(model::Brake::with_cap(search.max_states)),
        judged_quiescent: Arc::default(),
        ..model.clone()
    };
    let brake = Arc::clone(&searched.brake);
    let judged_quiescent = Arc::clone(&searched.judged_quiescent);
    // 0: the available cores, but one thread when the search stops at the first violation
    // (where it stops, and so the states it counted, would depend on the threads' timing).
    let threads = match search.threads {
        0 if search.fail_fast => 1,
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let one_thread = threads == 1;
    // stateright looks at its deadline only between batches of work (simulating: between
    // paths), which a lone BFS/DFS worker never reaches: with a timeout, run two workers so
    // that they do stop (the walk below holds its deadline itself). `drive` holds the
    // deadline itself too, and reports on time.
    let threads = match (search.timeout, search.strategy) {
        (Some(_), Strategy::Auto | Strategy::Bfs | Strategy::Dfs) => threads.max(2),
        _ => threads,
    };
    let mut builder = searched.clone().checker().threads(threads);
    if let Some(t) = search.timeout {
        builder = builder.timeout(t);
    }
    let max_depth = match (search.max_depth, search.strategy) {
        (None, Strategy::Simulation) => Some(SIMULATION_DEPTH),
        (d, _) => d,
    };
    if let Some(d) = max_depth {
        builder = builder.target_max_depth(d);
    }
    if search.fail_fast {
        let claimed = model
            .properties()
            .iter()
            .filter(|p| p.expectation != Expectation::Sometimes && claims(p.name))
            .map(|p| p.name)
            .collect();
        builder = builder.finish_when(HasDiscoveries::AnyOf(claimed));
    }
    let start = Instant::now();
    let mut processes = vec![];
    let mut quiescent = None;
    let mut spread_livelock = None;
    // Where liveness is claimed, a complete depth-first search is the livelock check's walk
    // with every state judged on the way: one walk instead of a search and then the check,
    // which walks every state again (on one thread: the check's walk is sequential, and on
    // its own it took as long as the search). On one thread the walk is also the faster
    // search where liveness is not claimed (notes/semantics.md, "One walk").
    let liveness = claims(properties::VALIDITY);
    let one_walk = search.cluster.is_none()
        && search.strategy == Strategy::Dfs
        && !search.fail_fast
        && max_depth.is_none()
        && (liveness || one_thread);
    let run = match (&search.cluster, search.strategy) {
        (None, Strategy::Dfs) if one_walk => {
            let (run, livelock) = walk(&searched, start, search, liveness, progress);
            spread_livelock = livelock;
            run
        }
        (Some(cluster), _) => {
            let limits = distributed::Limits {
                deadline: search.timeout.map(|t| start + t),
                interrupt: search.interrupt.clone(),
                memory: search.memory.clone(),
                fail_fast: match search.fail_fast {
                    true => (model.properties().iter().enumerate())
                        .filter(|(_, p)| p.expectation == Expectation::Always && claims(p.name))
                        .map(|(i, _)| i)
                        .collect(),
                    false => vec![],
                },
                livelock: claims(properties::VALIDITY),
            };
            match distributed::explore(&model, cluster, limits, progress) {
                Ok(o) if !o.lead => return follower_report::<A>(cfg, search, o.processes, start),
                Ok(o) => {
                    processes = o.processes;
                    quiescent = Some(o.quiescent_states);
                    spread_livelock = o.livelock;
                    Run {
                        states: o.states,
                        unique_states: o.unique_states,
                        max_depth: o.max_depth,
                        discoveries: o.discoveries,
                        interrupted: o.interrupted,
                        stopped: o.stopped,
                    }
                }
                Err(e) => Run {
                    states: 0,
                    unique_states: 0,
                    max_depth: 0,
                    discoveries: vec![],
                    interrupted: false,
                    stopped: Some(format!("the distributed search failed: {e}")),
                },
            }
        }
        (None, Strategy::Bfs | Strategy::Auto) => {
            drive(builder.spawn_bfs(), start, search, &brake, progress)
        }
        (None, Strategy::Dfs) => drive(builder.spawn_dfs(), start, search, &brake, progress),
        (None, Strategy::Simulation) => drive(
            builder.spawn_simulation(search.seed, UniformChooser),
            start,
            search,
            &brake,
            progress,
        ),
    };
    let seconds = start.elapsed().as_secs_f64();
    let cut_short = if run.interrupted {
        Some("interrupted (Ctrl-C): what was found so far".to_string())
    } else if search.strategy == Strategy::Simulation {
        Some(format!(
            "simulation samples paths (each stops at depth {}); it never explores them all",
            max_depth.unwrap_or(SIMULATION_DEPTH)
        ))
    } else if search.timeout.is_some_and(|t| start.elapsed() >= t) {
        Some(format!("timeout after {seconds:.1}s"))
    } else if let Some(why) = &run.stopped {
        Some(why.clone())
    } else if brake.capped() {
        // The cap counts states expanded, each unique state once (stateright's own cap counts
        // generated ones, which on a duplicating network run far ahead of the unique).
        Some(format!(
            "stopped at the state cap (--max-states {}): {} unique states",
            search.max_states.unwrap_or_default(),
            run.unique_states
        ))
    } else if max_depth.is_some_and(|d| run.max_depth + 1 >= d) {
        Some(format!("depth cap reached (depth {})", run.max_depth))
    } else {
        None
    };

    let fail_fast_hit = search.fail_fast && run.discoveries.iter().any(|(n, _)| claims(n));
    let cut_short = cut_short.or_else(|| {
        fail_fast_hit.then(|| "stopped at the first violation of a claimed property".to_string())
    });

    // The search for a shortest counterexample gets its own budget: never more states than
    // the exploration found, nor (much) more time than it took; past that, the checker's
    // own path is shown.
    let budget = Budget {
        states: run.unique_states.max(1),
        until: Instant::now() + Duration::from_secs_f64(seconds.max(5.0)),
    };
    // BFS keeps the *last* violating path it meets, not the first: search again, breadth
    // first and single-threaded, for a shortest one; one search for every violated claimed
    // property. (An unclaimed one keeps the checker's own path: the search costs about a
    // quarter of a run, and those traces are information.)
    let violated: Vec<_> = model
        .properties()
        .into_iter()
        .filter(|p| {
            !run.interrupted
                && p.expectation == Expectation::Always
                && claims(p.name)
                && run.discoveries.iter().any(|(n, _)| *n == p.name)
        })
        .map(|p| (p.name, p.condition))
        .collect();
    let mut shortest = match &search.cluster {
        // The distributed search is breadth first, level by level: its paths are shortest.
        Some(_) => run
            .discoveries
            .iter()
            .filter(|(n, _)| violated.iter().any(|(v, _)| v == n))
            .filter_map(|(n, path)| Some((*n, path.clone()?)))
            .collect(),
        None => shortest_violations(&model, &violated, &budget, search.memory.as_ref()),
    };
    let mut properties: Vec<PropertyReport> = model
        .properties()
        .into_iter()
        .map(|p| {
            let found = run.discoveries.iter().find(|(n, _)| *n == p.name);
            let status = match (&p.expectation, found.is_some()) {
                (Expectation::Sometimes, true) => Status::Witnessed,
                (Expectation::Sometimes, false) => Status::Unwitnessed,
                (_, true) => Status::Violated,
                (_, false) => Status::Holds,
            };
            let path = match (&p.expectation, found) {
                (Expectation::Always, Some((_, fallback))) => match shortest.remove(p.name) {
                    Some(path) => Some((path, true)),
                    None => fallback.clone().map(|path| (path, false)),
                },
                (_, found) => found.and_then(|(_, path)| path.clone()).map(|p| (p, false)),
            };
            PropertyReport {
                name: p.name,
                kind: properties::find(p.name)
                    .map_or_else(|| model::kind(&p.expectation), |lp| lp.when.name()),
                claimed: claims(p.name),
                status,
                description: properties::describe(p.name),
                counterexample: path.map(|(actions, shortest)| {
                    let t = trace::render(&model, &actions);
                    Trace {
                        property: p.name.to_string(),
                        shortest,
                        // What was lost is the point of a liveness trace, which ends where
                        // the run does; mid-run, "not delivered" only means "not yet".
                        lost: if properties::find(p.name)
                            .is_some_and(|lp| lp.when == properties::When::Eventually)
                        {
                            t.lost.clone()
                        } else {
                            vec![]
                        },
                        ..t
                    }
                }),
            }
        })
        .collect();

    // The livelock check, where the protocol claims liveness and the exploration was
    // complete (what it found is then all there is to check).
    // A claimed property left unjudged: the run cannot say it holds.
    let mut progress_unchecked = false;
    let livelock = match (liveness, &cut_short, run.interrupted) {
        (false, _, _) => match A::DESCRIPTOR.liveness_not_claimed(cfg) {
            Some(when) => format!(
                "not run: {} claims no liveness here, only {when}",
                A::DESCRIPTOR.name
            ),
            None => "not run: the protocol claims no liveness".to_string(),
        },
        (true, Some(_), _) | (true, _, true) => {
            "not run: the exploration was not complete".to_string()
        }
        (true, None, false) => match spread_livelock
            .take()
            .unwrap_or_else(|| livelock::check(&model, search.memory.as_ref()))
        {
            livelock::Outcome::NotRun(why) => {
                progress_unchecked = true;
                format!("could not run: {why}")
            }
            livelock::Outcome::Free { states } => {
                properties.push(progress_report(Status::Holds, None));
                format!("ran on {states} states: none")
            }
            livelock::Outcome::Livelock {
                states,
                stem,
                cycle,
            } => {
                let t = trace::render_lasso(&model, &stem, &cycle);
                let t = Trace {
                    property: properties::PROGRESS.to_string(),
                    ..t
                };
                properties.push(progress_report(Status::Violated, Some(t)));
                format!("ran on {states} states: a livelock")
            }
        },
    };
    let livelock = match (&search.cluster, livelock.starts_with("ran ")) {
        (Some(c), true) => format!("{livelock} (across {} processes)", c.addresses.len().max(1)),
        _ => livelock,
    };
    let violated = properties
        .iter()
        .any(|p| p.claimed && p.status == Status::Violated);
    let unwitnessed = properties.iter().any(|p| p.status == Status::Unwitnessed);
    // An interrupted run is inconclusive whatever it found: the user stopped it.
    let verdict = if violated && !run.interrupted {
        Verdict::Violated
    } else if cut_short.is_some() || unwitnessed || progress_unchecked {
        Verdict::Inconclusive
    } else {
        Verdict::Holds
    };
    Report {
        protocol: A::DESCRIPTOR.name,
        config: cfg.clone(),
        strategy: search.strategy,
        complete: cut_short.is_none(),
        cut_short,
        states: run.states,
        unique_states: run.unique_states,
        max_depth: run.max_depth,
        quiescent_states: quiescent
            .unwrap_or_else(|| judged_quiescent.load(std::sync::atomic::Ordering::Relaxed)),
        seconds,
        verdict,
        properties,
        livelock,
        processes,
        follower: false,
    }
}

/// The report of a distributed search's process other than 0: its share, nothing judged.
fn follower_report<A: Protocol>(
    cfg: &Config,
    search: &Search,
    processes: Vec<Share>,
    start: Instant,
) -> Report {
    Report {
        protocol: A::DESCRIPTOR.name,
        config: cfg.clone(),
        strategy: search.strategy,
        complete: true,
        cut_short: None,
        states: 0,
        unique_states: processes.iter().map(|p| p.states).sum(),
        max_depth: 0,
        quiescent_states: 0,
        seconds: start.elapsed().as_secs_f64(),
        verdict: Verdict::Holds,
        properties: vec![],
        livelock: "not run here: process 0 reports the search".to_string(),
        processes,
        follower: true,
    }
}

/// The livelock check's row in a report (claimed with liveness).
fn progress_report(status: Status, counterexample: Option<Trace>) -> PropertyReport {
    PropertyReport {
        name: properties::PROGRESS,
        kind: "from anywhere",
        claimed: true,
        status,
        description: properties::describe(properties::PROGRESS),
        counterexample,
    }
}

struct Run<Action> {
    states: usize,
    unique_states: usize,
    max_depth: usize,
    /// Discovered properties, with the path when stateright could rebuild it.
    discoveries: Vec<(&'static str, Option<Vec<Action>>)>,
    /// Stopped by `Search::interrupt`: the figures are what was found so far.
    interrupted: bool,
    /// Stopped by the state cap or the memory guard: why.
    stopped: Option<String>,
}

fn drive<A: Protocol, C: Checker<GroupModel<A>>>(
    checker: C,
    start: Instant,
    search: &Search,
    brake: &model::Brake,
    progress: &mut dyn FnMut(&Progress),
) -> Run<GroupAction<A>> {
    let mut last = Instant::now();
    let interrupted = || search.interrupted();
    // stateright looks at its own deadline only between batches of work (or, simulating,
    // between paths): hold the deadline here too.
    let overdue = || search.timeout.is_some_and(|t| start.elapsed() >= t);
    let limit = || {
        let unique = checker.unique_state_count();
        search.memory.as_ref()?.check(unique).err()
    };
    while !checker.is_done() {
        let stopped = if interrupted() || overdue() {
            None
        } else {
            match limit() {
                None => {
                    std::thread::sleep(Duration::from_millis(20));
                    if last.elapsed() >= Duration::from_secs(1) {
                        last = Instant::now();
                        progress(&Progress {
                            states: checker.state_count(),
                            unique_states: checker.unique_state_count(),
                            max_depth: checker.max_depth(),
                            elapsed: start.elapsed(),
                        });
                    }
                    continue;
                }
                why => why,
            }
        };
        // Report what was found so far. Then the model offers no more actions, so the
        // checker's threads drain their queues and end with nothing new stored; what they
        // report after this moment (a state left without successors looks terminal) is not
        // read.
        let run = Run {
            states: checker.state_count(),
            unique_states: checker.unique_state_count(),
            max_depth: checker.max_depth(),
            discoveries: brake.released(|| discoveries(&checker)),
            interrupted: interrupted(),
            stopped,
        };
        brake.pull();
        return run;
    }
    let checker = checker.join();
    Run {
        states: checker.state_count(),
        unique_states: checker.unique_state_count(),
        max_depth: checker.max_depth(),
        discoveries: brake.released(|| discoveries(&checker)),
        interrupted: false,
        stopped: None,
    }
}

/// The search as one depth-first walk that also checks for livelocks ([`livelock::walk`]):
/// each state judged as stateright judges it (every property, once per state), the
/// discoveries' paths kept as the walk's, and the livelock check's outcome if the walk ended.
fn walk<A: Protocol>(
    model: &GroupModel<A>,
    start: Instant,
    search: &Search,
    livelock: bool,
    progress: &mut dyn FnMut(&Progress),
) -> (Run<GroupAction<A>>, Option<livelock::Outcome<A>>) {
    let properties = model.properties();
    let mut found: Vec<Option<std::rc::Rc<livelock::PathStep>>> = vec![None; properties.len()];
    let mut last = Instant::now();
    let mut interrupted = false;
    // Stopped by the visitor (Ctrl-C, the deadline, the cap): read off the search as for
    // stateright's; any other stop (the memory guard) is the walk's own, with its reason.
    let mut stopped_here = false;
    let guard = search.memory.as_ref();
    let (walked, outcome) = livelock::walk(model, guard, livelock, &mut |state, path, walked| {
        for (p, found) in properties.iter().zip(found.iter_mut()) {
            let discovered = match p.expectation {
                Expectation::Always => !(p.condition)(model, state),
                Expectation::Sometimes => (p.condition)(model, state),
                Expectation::Eventually => false,
            };
            if discovered && found.is_none() {
                *found = Some(path.clone());
            }
        }
        if walked.visited.is_multiple_of(1024) {
            interrupted = search.interrupted();
            stopped_here = interrupted
                || search.timeout.is_some_and(|t| start.elapsed() >= t)
                || model.brake.capped();
            if stopped_here {
                return Some("stopped by the search".to_string());
            }
            if last.elapsed() >= Duration::from_secs(1) {
                last = Instant::now();
                progress(&Progress {
                    states: walked.generated,
                    unique_states: walked.visited,
                    max_depth: walked.max_depth,
                    elapsed: start.elapsed(),
                });
            }
        }
        None
    });
    let discoveries = properties
        .iter()
        .zip(found)
        .filter_map(|(p, path)| {
            let path = path?;
            // A replay is not an expansion: the state cap does not count it.
            let replayed = model.brake.released(|| livelock::replay(model, &path));
            Some((p.name, replayed.map(|(_, a)| a)))
        })
        .collect();
    let complete = walked.stopped.is_none();
    let stopped = walked.stopped.filter(|_| !stopped_here);
    let run = Run {
        states: walked.generated,
        unique_states: walked.visited,
        max_depth: walked.max_depth,
        discoveries,
        interrupted,
        stopped,
    };
    (run, (complete && livelock).then_some(outcome))
}

/// The checker's discoveries with their paths (which stateright rebuilds by replaying).
fn discoveries<A: Protocol, C: Checker<GroupModel<A>>>(
    checker: &C,
) -> Vec<(&'static str, Option<Vec<GroupAction<A>>>)> {
    checker
        .discoveries()
        .into_iter()
        .map(|(name, path)| (name, Some(path.into_actions())))
        .collect()
}

/// A property's condition, as stateright stores it.
pub type Condition<M> = fn(&M, &<M as Model>::State) -> bool;

/// Limits on [`shortest_violations`].
pub struct Budget {
    pub states: usize,
    pub until: Instant,
}

/// Breadth-first search for a shortest path to a state that violates each of `conditions`,
/// within `budget`: one walk for all of them, stopping once each has a path. Deterministic:
/// actions are tried in the model's order.
pub fn shortest_violations<M>(
    model: &M,
    conditions: &[(&'static str, Condition<M>)],
    budget: &Budget,
    memory: Option<&memory::Guard>,
) -> HashMap<&'static str, Vec<M::Action>>
where
    M: Model,
    M::State: Hash,
    M::Action: Clone,
{
    let mut found = HashMap::new();
    if conditions.is_empty() {
        return found;
    }
    // Each visited state remembers its parent and the action that reached it.
    let mut tree: Vec<(usize, Option<M::Action>)> = Vec::new();
    let mut seen = HashSet::new();
    let mut queue = VecDeque::new();
    for s in model.init_states() {
        if seen.insert(hash(&s)) {
            tree.push((usize::MAX, None));
            queue.push_back((s, tree.len() - 1));
        }
    }
    let path_to = |tree: &[(usize, Option<M::Action>)], node: usize| {
        let mut path = Vec::new();
        let mut at = node;
        while let Some(action) = tree[at].1.clone() {
            path.push(action);
            at = tree[at].0;
        }
        path.reverse();
        path
    };
    let mut actions = Vec::new();
    while let Some((state, node)) = queue.pop_front() {
        for (name, condition) in conditions {
            if !found.contains_key(name) && !condition(model, &state) {
                found.insert(*name, path_to(&tree, node));
            }
        }
        if found.len() == conditions.len() {
            break;
        }
        let overdue = || Instant::now() > budget.until;
        let full = || memory.is_some_and(|m| m.check(tree.len()).is_err());
        if tree.len() >= budget.states || (tree.len() % 4096 == 0 && (overdue() || full())) {
            break;
        }
        model.actions(&state, &mut actions);
        for action in actions.drain(..) {
            if let Some(next) = model.next_state(&state, action.clone()) {
                if model.within_boundary(&next) && seen.insert(hash(&next)) {
                    tree.push((node, Some(action)));
                    queue.push_back((next, tree.len() - 1));
                }
            }
        }
    }
    found
}

/// A state's fingerprint for groupy's own searches (the shortest path, the livelock check):
/// aHash with fixed keys, as stateright's own fingerprints (SipHash, std's default, took a
/// third of the livelock check).
pub(crate) fn hash<T: Hash>(t: &T) -> u64 {
    hasher().hash_one(t)
}

/// The hasher behind [`hash`], for what is hashed piece by piece.
pub(crate) fn hasher() -> ahash::RandomState {
    const KEYS: [u64; 4] = [0x243f_6a88_85a3_08d3, 0x1319_8a2e_0370_7344, 0, 0];
    ahash::RandomState::with_seeds(KEYS[0], KEYS[1], KEYS[2], KEYS[3])
}
