//! `groupy sim`: many seeded runs of the live node cores in virtual time ([`sim`]), each
//! judged with the checker's property functions; a failing seed is printed with the command
//! that replays it, and its logs are kept.

use super::faults::Faults;
use super::options::{Disruptions, Kill, Partition, Pause, Restart, ScenarioArgs};
use super::sim::{self, Drained, Run, Scenario};
use crate::verify::{self, broken_claims, Judgement};
use crate::{emit, Format};
use groupy_model::log::divergence;
use groupy_model::registry::Visit;
use groupy_model::{Protocol, ProtocolName};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where a failing seed's logs go when no `--log-dir` is given.
const FAILURES: &str = "groupy-sim";

/// The seeds of a `groupy sim`: `A..B` (inclusive) or one seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Seeds {
    pub first: u64,
    pub last: u64,
}

impl Seeds {
    fn count(&self) -> u64 {
        self.last - self.first + 1
    }

    fn text(&self) -> String {
        if self.first == self.last {
            self.first.to_string()
        } else {
            format!("{}..{}", self.first, self.last)
        }
    }
}

pub fn parse_seeds(s: &str) -> Result<Seeds, String> {
    let bad = || {
        format!(
            "'{s}' is not a seed range; write A..B (inclusive), e.g. 1..1000, or one seed, e.g. 17"
        )
    };
    let (a, b) = match s.split_once("..") {
        Some((a, b)) => (a, b),
        None => (s, s),
    };
    let (Ok(first), Ok(last)) = (a.trim().parse::<u64>(), b.trim().parse::<u64>()) else {
        return Err(bad());
    };
    if first > last || last == u64::MAX {
        return Err(bad());
    }
    Ok(Seeds { first, last })
}

/// `groupy sim`'s flags.
#[derive(clap::Args)]
pub struct SimArgs {
    /// The protocol to simulate.
    #[arg(value_enum)]
    pub protocol: ProtocolName,
    /// Nodes in the group (node 0 leads), 1 to 64.
    #[arg(long, default_value_t = 5, value_parser = super::cluster::parse_group_size)]
    pub nodes: usize,
    /// The seeds to run: A..B (inclusive), or one seed. Each fixes a whole run.
    #[arg(long, value_name = "A..B", default_value = "1..100", value_parser = parse_seeds)]
    pub seeds: Seeds,
    /// Virtual seconds of multicasting in each run, before the drain.
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = parse_virtual_secs)]
    pub virtual_secs: Duration,
    #[command(flatten)]
    pub scenario: ScenarioArgs,
    #[command(flatten)]
    pub disruptions: Disruptions,
    /// Kill a node's process and start it again under its id, with an empty state:
    /// NODE:AT_MS:FOR_MS (repeatable), e.g. 0:3000:500; a node killed earlier only comes
    /// back. For protocols that model restarts (groupy list: gms5).
    #[arg(long = "restart", value_name = "NODE:AT_MS:FOR_MS", value_parser = super::options::parse_restart)]
    pub restarts: Vec<super::options::Restart>,
    /// Each seed draws its own mix of faults (loss, duplication, delay, a pause, a
    /// partition, kills of a minority), printed with its replay command.
    #[arg(long)]
    pub swarm: bool,
    /// Every fault stops when multicasting ends, and every run must then settle, with every
    /// claimed liveness property (validity) holding, within the drain's cap.
    #[arg(long)]
    pub liveness: bool,
    /// Trace validation: every step of every node is also checked against the model's
    /// next-state relation (the same actors, the model's environment with no bounds, --reduce
    /// none); a run that is not a behaviour of the model fails, with its first divergent step.
    #[arg(long)]
    pub validate: bool,
    /// Virtual processor time, in microseconds, that each datagram costs the node that
    /// receives it and the node that sends it (0: free). A busy node's datagrams wait in its
    /// socket, and what overflows --socket-buffer is lost: a load the group cannot keep up
    /// with shows, as it does live.
    #[arg(long, value_name = "US", default_value_t = 0)]
    pub cpu_us: u64,
    /// And microseconds per KiB a datagram carries (encoding, the MAC, copying).
    #[arg(long, value_name = "US", default_value_t = 0)]
    pub cpu_us_per_kib: u64,
    /// With --cpu-us: the bytes a busy node's socket holds (each datagram counted as its
    /// payload and 768 bytes of the kernel's bookkeeping) before it drops what comes; the
    /// default is Linux's default receive buffer.
    #[arg(long, value_name = "BYTES", default_value_t = sim::Cpu::default().socket_buffer,
          value_parser = clap::builder::TypedValueParser::map(
              clap::value_parser!(u64).range(1..=1 << 30), |n| n as usize))]
    pub socket_buffer: usize,
    /// Runs at once (default: the machine's cores).
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
    #[command(flatten)]
    pub output: crate::Output,
    /// No progress on stderr.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

fn parse_virtual_secs(s: &str) -> Result<Duration, String> {
    super::options::parse_seconds(s, false, 86_400.0)
}

/// One run's verdict, as reported.
#[derive(Serialize)]
struct RunVerdict {
    seed: u64,
    /// `consistent`, `violated`, or `unsettled` (safety held; the drain hit its cap).
    verdict: &'static str,
    broken: Vec<&'static str>,
    drain_s: f64,
    events: u64,
    /// Datagrams lost to a full socket buffer (`--cpu-us`).
    overflowed: u64,
    /// Every flag of the run, for a swarm seed its drawn mix too.
    replay: String,
    logs: Option<String>,
    divergence: Option<String>,
    /// With `--validate`: the steps checked against the model.
    steps_checked: Option<u64>,
    /// With `--validate`: the first step the model cannot take, if any.
    not_a_model_behaviour: Option<String>,
}

#[derive(Serialize)]
struct SimReport {
    protocol: &'static str,
    nodes: usize,
    seeds: Seeds,
    virtual_secs: f64,
    swarm: bool,
    liveness: bool,
    /// Trace validation was on (`--validate`).
    validate: bool,
    /// Steps checked against the model, over every run.
    steps_checked: u64,
    runs: u64,
    consistent: u64,
    violated: u64,
    unsettled: u64,
    /// Datagrams lost to full sockets over every run (`--cpu-us`).
    overflowed: u64,
    /// Runs a minute of wall-clock time.
    rate: f64,
    /// The runs that did not hold, in seed order.
    failures: Vec<RunVerdict>,
    /// `consistent` (exit 0) or `violated` (exit 1).
    verdict: &'static str,
}

/// Runs the seeds; the exit code.
pub fn run(spec: SimArgs, interrupted: Arc<AtomicBool>) -> u8 {
    if spec.scenario.live.seed != 0 {
        return crate::usage_error(
            "groupy sim takes --seeds A..B (or --seeds S for one), not --seed",
        );
    }
    let descriptor = spec.protocol.descriptor();
    if !spec.restarts.is_empty() && !descriptor.restarts {
        return crate::usage_error(&crate::no_restarts(descriptor.name, "--restart"));
    }
    let (base, keep_all) = match scenario(&spec) {
        Ok(s) => s,
        Err(e) => return crate::usage_error(&e),
    };
    let jobs = spec
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let started = Instant::now();
    let result = spec.protocol.visit(Seeded {
        spec: &spec,
        base: &base,
        keep_all: keep_all.as_deref(),
        jobs,
        interrupted: &interrupted,
    });
    let mut verdicts = match result {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    verdicts.sort_by_key(|v| v.seed);
    let runs = verdicts.len() as u64;
    let count = |w: &str| verdicts.iter().filter(|v| v.verdict == w).count() as u64;
    let (violated, unsettled) = (count("violated"), count("unsettled"));
    let elapsed = started.elapsed().as_secs_f64().max(1e-9);
    let report = SimReport {
        protocol: spec.protocol.descriptor().name,
        nodes: spec.nodes,
        seeds: spec.seeds,
        virtual_secs: spec.virtual_secs.as_secs_f64(),
        swarm: spec.swarm,
        liveness: spec.liveness,
        validate: spec.validate,
        steps_checked: verdicts.iter().filter_map(|v| v.steps_checked).sum(),
        runs,
        consistent: count("consistent"),
        violated,
        unsettled,
        overflowed: verdicts.iter().map(|v| v.overflowed).sum(),
        rate: runs as f64 * 60.0 / elapsed,
        failures: verdicts
            .into_iter()
            .filter(|v| v.verdict != "consistent")
            .collect(),
        verdict: if violated > 0 {
            "violated"
        } else {
            "consistent"
        },
    };
    let interrupted = interrupted.load(Ordering::Relaxed);
    match spec.output.format {
        Format::Json => {
            if let Err(code) = crate::emit_json(&report, "sim report") {
                return code;
            }
        }
        Format::Text => emit(&text(&report, interrupted)),
    }
    if violated > 0 {
        1
    } else if interrupted && runs < spec.seeds.count() {
        // Interrupted before every seed ran: what ran held, but the whole did not run.
        3
    } else {
        0
    }
}

struct Seeded<'a> {
    spec: &'a SimArgs,
    base: &'a Scenario,
    keep_all: Option<&'a Path>,
    jobs: usize,
    interrupted: &'a AtomicBool,
}

impl Visit for Seeded<'_> {
    type Output = Result<Vec<RunVerdict>, String>;

    fn visit<A: Protocol>(self) -> Self::Output {
        let seeds = self.spec.seeds;
        let next = AtomicU64::new(seeds.first);
        let done = AtomicU64::new(0);
        let failed = AtomicU64::new(0);
        let verdicts = Mutex::new(Vec::new());
        let errors = Mutex::new(Vec::new());
        let started = Instant::now();
        std::thread::scope(|s| {
            for _ in 0..self.jobs.min(seeds.count() as usize) {
                s.spawn(|| loop {
                    if self.interrupted.load(Ordering::Relaxed) {
                        return;
                    }
                    let seed = next.fetch_add(1, Ordering::Relaxed);
                    if seed > seeds.last {
                        return;
                    }
                    let sc = if self.spec.swarm {
                        swarm::<A>(self.base, seed)
                    } else {
                        self.base.clone()
                    };
                    let run = sim::run::<A>(&sc, seed);
                    match judge::<A>(self.spec, &sc, run, self.keep_all) {
                        Ok(v) => {
                            if v.verdict == "violated" {
                                failed.fetch_add(1, Ordering::Relaxed);
                            }
                            if let Ok(mut all) = verdicts.lock() {
                                all.push(v);
                            }
                        }
                        Err(e) => {
                            if let Ok(mut all) = errors.lock() {
                                all.push(e);
                            }
                            self.interrupted.store(true, Ordering::Relaxed);
                        }
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                });
            }
            if !self.spec.quiet {
                s.spawn(|| progress(&done, &failed, seeds.count(), started, self.interrupted));
            }
        });
        if let Some(e) = errors.into_inner().ok().and_then(|e| e.into_iter().next()) {
            return Err(e);
        }
        verdicts
            .into_inner()
            .map_err(|_| "a simulation thread panicked".to_string())
    }
}

/// The scenario every seed of `spec` starts from, and the directory that keeps every run's
/// logs (`--log-dir`), if asked.
fn scenario(spec: &SimArgs) -> Result<(Scenario, Option<PathBuf>), String> {
    let mut disruptions = spec.disruptions.clone();
    disruptions.restarts = spec.restarts.clone();
    disruptions.check(spec.nodes, spec.virtual_secs)?;
    let mut opts = spec.scenario.options(spec.protocol.descriptor().link)?;
    // Logs are formatted for every run (they are what is judged and saved); only the
    // directory decides which are kept.
    let keep_all = opts.log_dir.take();
    opts.log_dir = Some(PathBuf::new());
    let base = Scenario {
        nodes: spec.nodes,
        duration: spec.virtual_secs,
        opts,
        disruptions,
        heal: spec.liveness,
        adjust: None,
        validate: spec.validate,
        cpu: sim::Cpu {
            per_datagram: Duration::from_micros(spec.cpu_us),
            per_kib: Duration::from_micros(spec.cpu_us_per_kib),
            socket_buffer: spec.socket_buffer,
        },
    };
    Ok((base, keep_all))
}

/// A line on stderr once a second while runs remain.
fn progress(done: &AtomicU64, failed: &AtomicU64, total: u64, started: Instant, stop: &AtomicBool) {
    let mut last = Instant::now();
    loop {
        let d = done.load(Ordering::Relaxed);
        if d >= total || stop.load(Ordering::Relaxed) {
            return;
        }
        if last.elapsed() >= Duration::from_secs(1) {
            last = Instant::now();
            let mut err = std::io::stderr().lock();
            let _ = writeln!(
                err,
                "  {d}/{total} runs, {} violated, {:.0} s",
                failed.load(Ordering::Relaxed),
                started.elapsed().as_secs_f64()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Judges one run, keeps its logs where asked (and a failing run's always).
fn judge<A: Protocol>(
    spec: &SimArgs,
    sc: &Scenario,
    run: Run,
    keep_all: Option<&Path>,
) -> Result<RunVerdict, String> {
    // Every life is judged, a life a restart ended as a crashed node's (as the checker does).
    let logs: Vec<_> = run.all_outcomes().map(|o| o.log.clone()).collect();
    let claims = A::DESCRIPTOR.claims;
    let settled = run.drained == Drained::Settled;
    let (properties, violated): (Vec<Judgement>, bool) = verify::judge_run(&logs, claims, settled);
    let unsettled = !settled && spec.liveness;
    let broken = broken_claims(&properties);
    let (steps_checked, diverged) = match &run.validation {
        None => (None, None),
        Some(Ok(n)) => (Some(*n), None),
        Some(Err(d)) => (Some(d.checked), Some(d.to_string())),
    };
    let verdict = if violated || unsettled || diverged.is_some() {
        "violated"
    } else if settled {
        "consistent"
    } else {
        "unsettled"
    };
    let dir_root = keep_all
        .map(Path::to_path_buf)
        .or_else(|| (verdict == "violated").then(|| Path::new(FAILURES).join(A::DESCRIPTOR.name)));
    let logs_at = match dir_root {
        Some(root) => {
            let dir = root.join(format!("seed-{}", run.seed));
            save(&dir, &run)?;
            Some(dir)
        }
        None => None,
    };
    let mut broken = broken;
    if unsettled {
        broken.push("settled (the drain hit its cap)");
    }
    if diverged.is_some() {
        broken.push("trace validation (a step the model cannot take)");
    }
    Ok(RunVerdict {
        seed: run.seed,
        verdict,
        broken,
        drain_s: run.drain.as_secs_f64(),
        events: run.events,
        overflowed: run.overflowed,
        replay: replay_command(spec, sc, run.seed, logs_at.as_deref(), keep_all),
        logs: logs_at.map(|d| d.display().to_string()),
        divergence: divergence(&logs).map(|d| d.to_string()),
        steps_checked,
        not_a_model_behaviour: diverged,
    })
}

/// Writes a run's logs as a live group would have: `node-<id>.jsonl` in `dir` (and
/// `node-<id>-restart-<k>.jsonl` for a restarted node's later lives), nothing else.
fn save(dir: &Path, run: &Run) -> Result<(), String> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| format!("cannot clear {}: {e}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    for (i, restarts, bytes) in run.all_logs() {
        let p = super::logfile::path(dir, i, restarts);
        std::fs::write(&p, bytes).map_err(|e| format!("cannot write {}: {e}", p.display()))?;
    }
    Ok(())
}

/// The command that runs this seed alone, with every flag that shapes it (a swarm seed's
/// drawn faults written out), its logs going where they went.
fn replay_command(
    spec: &SimArgs,
    sc: &Scenario,
    seed: u64,
    logs: Option<&Path>,
    keep_all: Option<&Path>,
) -> String {
    let live = &spec.scenario.live;
    let mut c = format!(
        "groupy sim {} --nodes {} --seeds {seed} --virtual-secs {}",
        spec.protocol.descriptor().name,
        spec.nodes,
        spec.virtual_secs.as_secs_f64()
    );
    let o = &sc.opts;
    if o.sleep != Duration::from_millis(100) {
        c.push_str(&format!(" --sleep {}", o.sleep.as_millis()));
    }
    let defaults = super::options::LiveArgs::default();
    for (flag, v, d) in [
        ("--heartbeat", live.heartbeat, defaults.heartbeat),
        (
            "--suspect-after",
            live.suspect_after,
            defaults.suspect_after,
        ),
        ("--rto", live.rto, defaults.rto),
        ("--rto-min", live.rto_min, defaults.rto_min),
    ] {
        if v != d {
            c.push_str(&format!(" {flag} {}", v.as_millis()));
        }
    }
    if let Some(l) = spec.scenario.link {
        c.push_str(&format!(" --link {}", l.name()));
    }
    if spec.scenario.batch {
        c.push_str(" --batch");
    }
    if live.max_datagram != defaults.max_datagram {
        c.push_str(&format!(" --max-datagram {}", live.max_datagram));
    }
    if let Some(k) = &live.key_file {
        c.push_str(&format!(" --key-file {}", k.display()));
    }
    if live.group_id != defaults.group_id {
        c.push_str(&format!(" --group-id {}", live.group_id));
    }
    c.push_str(&fault_flags(&o.faults, &sc.disruptions));
    if sc.cpu.costly() {
        c.push_str(&format!(
            " --cpu-us {} --cpu-us-per-kib {}",
            sc.cpu.per_datagram.as_micros(),
            sc.cpu.per_kib.as_micros()
        ));
        if sc.cpu.socket_buffer != sim::Cpu::default().socket_buffer {
            c.push_str(&format!(" --socket-buffer {}", sc.cpu.socket_buffer));
        }
    }
    if spec.liveness {
        c.push_str(" --liveness");
    }
    if spec.validate {
        c.push_str(" --validate");
    }
    // With --log-dir every run's logs land under it, seed by seed; a failing run's went under
    // the default root, which the replay names so that it writes them to the same place.
    let root = keep_all
        .map(Path::to_path_buf)
        .or_else(|| logs.and_then(Path::parent).map(Path::to_path_buf));
    if let Some(root) = root {
        c.push_str(&format!(" --log-dir {}", root.display()));
    }
    c
}

fn fault_flags(f: &Faults, d: &Disruptions) -> String {
    let mut c = String::new();
    if f.drop > 0.0 {
        c.push_str(&format!(" --drop {}", f.drop));
    }
    if f.duplicate > 0.0 {
        c.push_str(&format!(" --duplicate {}", f.duplicate));
    }
    if !f.delay.is_zero() {
        c.push_str(&format!(" --delay {}", f.delay.as_millis()));
    }
    if let Some(k) = f.crash_one_in {
        c.push_str(&format!(" --crash-rate 1/{k}"));
    }
    for p in &d.pauses {
        c.push_str(&format!(" --pause {}:{}:{}", p.node, p.at_ms, p.for_ms));
    }
    for p in &d.partitions {
        let side = |s: &[usize]| {
            s.iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join(",")
        };
        c.push_str(&format!(
            " --partition '{}|{}:{}:{}'",
            side(&p.sides[0]),
            side(&p.sides[1]),
            p.at_ms,
            p.for_ms
        ));
    }
    for k in &d.kills {
        c.push_str(&format!(" --kill {}:{}", k.node, k.at_ms));
    }
    for r in &d.restarts {
        c.push_str(&format!(" --restart {}:{}:{}", r.node, r.at_ms, r.for_ms));
    }
    c
}

/// A seed's own mix of faults (`--swarm`), drawn from the seed alone, on top of the flags
/// given: loss, duplication, delay, perhaps a pause, perhaps a partition, kills of at most a
/// minority once those have healed (so a majority protocol can still be live), some of them
/// restarts where the protocol models restarts.
fn swarm<A: Protocol>(base: &Scenario, seed: u64) -> Scenario {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5A4A_12D0_0000_0001);
    let mut sc = base.clone();
    let n = sc.nodes;
    let span = sc.duration.as_millis().max(1) as u64;
    let pick = |rng: &mut StdRng, xs: &[f64]| xs[rng.random_range(0..xs.len())];
    let f = &mut sc.opts.faults;
    f.drop = f
        .drop
        .max(pick(&mut rng, &[0.0, 0.0, 0.01, 0.02, 0.05, 0.1]));
    f.duplicate = f.duplicate.max(pick(&mut rng, &[0.0, 0.0, 0.01, 0.05]));
    let delay = pick(&mut rng, &[0.0, 0.0, 1.0, 5.0, 20.0]) as u64;
    f.delay = f.delay.max(Duration::from_millis(delay));
    let d = &mut sc.disruptions;
    if n >= 2 && rng.random_ratio(1, 3) {
        let for_ms = rng.random_range(200..=2_000).min(span);
        d.pauses.push(Pause {
            node: rng.random_range(0..n),
            at_ms: rng.random_range(0..span),
            for_ms,
        });
    }
    if n >= 2 && rng.random_ratio(1, 4) {
        let for_ms = rng.random_range(200..=2_000u64).min(span / 2).max(1);
        let at_ms = rng.random_range(0..=span - for_ms);
        let mut side: Vec<usize> = (0..n).filter(|_| rng.random_bool(0.5)).collect();
        if side.is_empty() {
            side.push(0);
        }
        if side.len() == n {
            side.pop();
        }
        let other: Vec<usize> = (0..n).filter(|i| !side.contains(i)).collect();
        d.partitions.push(Partition {
            sides: [side, other],
            at_ms,
            for_ms,
        });
    }
    // Kills come once every pause and cut has healed and the nodes they left out have had
    // time to rejoin (3 s): a minority killed then leaves a majority of the view, where a
    // kill during a cut could take a majority of a view the cut had already shrunk.
    let healed = d
        .pauses
        .iter()
        .map(|p| p.at_ms + p.for_ms)
        .chain(d.partitions.iter().map(|p| p.at_ms + p.for_ms))
        .map(|t| t + 3_000)
        .max()
        .unwrap_or(0);
    let minority = (n - 1) / 2;
    let kills = rng.random_range(0..=minority);
    let mut victims: Vec<usize> = (0..n).collect();
    for _ in 0..kills {
        let v = victims.remove(rng.random_range(0..victims.len()));
        let at_ms = rng.random_range(0..span);
        if at_ms < healed {
            continue;
        }
        if A::DESCRIPTOR.restarts && rng.random_bool(0.5) {
            let for_ms = rng.random_range(0..=1_000).min(span - at_ms);
            d.restarts.push(Restart {
                node: v,
                at_ms,
                for_ms,
            });
        } else {
            d.kills.push(Kill { node: v, at_ms });
        }
    }
    sc
}

fn text(r: &SimReport, interrupted: bool) -> String {
    let mut s = String::new();
    for f in &r.failures {
        let what = match f.verdict {
            "violated" => format!("VIOLATED {}", f.broken.join(", ")),
            _ => "unsettled: the drain hit its cap, liveness not judged".to_string(),
        };
        s.push_str(&format!("seed {}: {what}\n", f.seed));
        if let Some(d) = &f.divergence {
            s.push_str(&format!("  {d}\n"));
        }
        if let Some(d) = &f.not_a_model_behaviour {
            s.push_str(&format!("  not a behaviour of the model: {d}\n"));
        }
        if let Some(l) = &f.logs {
            s.push_str(&format!("  logs: {l} (groupy verify {l})\n"));
        }
        s.push_str(&format!("  replay: {}\n", f.replay));
    }
    s.push_str(&format!(
        "\nsummary: {} {} runs (seeds {}, {} nodes, {} virtual s each{}{}{}): {} consistent, {} \
         violated, {} unsettled{}{}; {:.0} runs/min{}; exit {}{}\n",
        r.protocol,
        r.runs,
        r.seeds.text(),
        r.nodes,
        r.virtual_secs,
        if r.swarm { ", swarm" } else { "" },
        if r.liveness { ", liveness" } else { "" },
        if r.validate { ", validated" } else { "" },
        r.consistent,
        r.violated,
        r.unsettled,
        if r.overflowed > 0 {
            format!("; {} datagrams lost to full sockets", r.overflowed)
        } else {
            String::new()
        },
        if r.validate {
            format!("; {} steps checked against the model", r.steps_checked)
        } else {
            String::new()
        },
        r.rate,
        if r.validate { " with validation" } else { "" },
        if r.violated > 0 {
            1
        } else if interrupted && r.runs < r.seeds.count() {
            3
        } else {
            0
        },
        if interrupted { " (interrupted)" } else { "" }
    ));
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use groupy::live::validate::{actors, Validator};
    use groupy_model::gms4::Gms4;
    use groupy_model::NetworkKind;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        sim: SimArgs,
    }

    /// The CLI offers no run the model cannot take (each protocol is validated against its
    /// own network), so this one is checked against a network it is not a behaviour of: gms4
    /// over the fifo link against `ordered` (validate.rs). The run fails with its step, and
    /// the replay command keeps every flag that shaped it, `--validate` included.
    #[test]
    fn a_run_the_model_cannot_take_fails_with_its_step_and_a_replay_keeping_validate() {
        let args = [
            "sim",
            "gms4",
            "--nodes",
            "4",
            "--virtual-secs",
            "3",
            "--drop",
            "0.05",
            "--link",
            "fifo",
            "--seeds",
            "1",
            "--validate",
        ];
        let spec = match Cli::try_parse_from(args) {
            Ok(c) => c.sim,
            Err(e) => panic!("{e}"),
        };
        let (sc, _) = scenario(&spec).unwrap_or_else(|e| panic!("{e}"));
        let ordered = Validator::on(actors::<Gms4>(sc.nodes, None), NetworkKind::Ordered);
        let run = sim::run_with::<Gms4>(&sc, 1, Some(ordered));
        let dir = std::env::temp_dir().join(format!("groupy-simulate-{}", std::process::id()));
        let v = judge::<Gms4>(&spec, &sc, run, Some(&dir)).unwrap_or_else(|e| panic!("{e}"));
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(v.verdict, "violated");
        assert!(
            v.broken.iter().any(|b| b.starts_with("trace validation")),
            "{:?}",
            v.broken
        );
        let step = v.not_a_model_behaviour.unwrap_or_default();
        assert!(step.contains("retransmits"), "{step}");
        assert!(
            v.replay
                .starts_with("groupy sim gms4 --nodes 4 --seeds 1 --virtual-secs 3")
                && v.replay.contains("--link fifo")
                && v.replay.contains("--drop 0.05")
                && v.replay.contains("--validate"),
            "{}",
            v.replay
        );
    }
}
