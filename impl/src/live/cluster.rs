//! `groupy run`: a whole group on loopback in one process, one thread per node, each on its
//! own UDP socket (ports chosen by the OS, so runs never collide). Node 0 leads; every
//! initial member's worker multicasts on its actor's own `Mcast` timer, without a quota.
//!
//! A run has two phases: for `--duration` the workers multicast (under the faults asked
//! for); then the group drains: no more multicasts, everything else goes on until no node
//! has taken a step for longer than the failure detector needs to act (or a cap). The final
//! logs are then judged with the model's property functions, the protocol's claims
//! deciding the exit code.

use super::node::{hex, standing, start_group, stop_group, Control, NodeReport, Outcome, Status};
use super::options::{self, Disruptions, Kill, Partition, Pause, ScenarioArgs};
use super::sim::{Drained, Settle};
use crate::verify::{self, Judgement};
use crate::{emit, Format};
use groupy_model::group::Role;
use groupy_model::log::{divergence, Divergence};
use groupy_model::registry::Visit;
use groupy_model::{Protocol, ProtocolName};
use serde::Serialize;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// `groupy run`'s flags: the shared ones ([`ScenarioArgs`]) and its own.
#[derive(clap::Args)]
pub struct RunArgs {
    /// The protocol to run.
    #[arg(value_enum)]
    pub protocol: ProtocolName,
    /// Nodes in the group (node 0 leads), 1 to 64.
    #[arg(long, default_value_t = 5, value_parser = parse_group_size)]
    pub nodes: usize,
    /// Seconds of multicasting before the group drains (up to a day).
    #[arg(long, value_name = "SECS", default_value = "10", allow_negative_numbers = true,
          value_parser = parse_run_duration)]
    pub duration: Duration,
    #[command(flatten)]
    pub scenario: ScenarioArgs,
    #[command(flatten)]
    pub disruptions: Disruptions,
    #[command(flatten)]
    pub output: crate::Output,
    /// No live display or progress on stderr.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

pub fn parse_group_size(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if (1..=64).contains(&n) => Ok(n),
        _ => Err(format!(
            "'{s}' is not a group size; write a number of nodes from 1 to 64"
        )),
    }
}

fn parse_run_duration(s: &str) -> Result<Duration, String> {
    options::parse_seconds(s, true, 86_400.0)
}

#[derive(Serialize)]
struct RunReport {
    protocol: &'static str,
    nodes: usize,
    duration_s: f64,
    drain_s: f64,
    link: &'static str,
    seed: u64,
    faults: super::faults::Faults,
    pauses: Vec<Pause>,
    partitions: Vec<Partition>,
    kills: Vec<Kill>,
    node_reports: Vec<NodeReport>,
    properties: Vec<Judgement>,
    divergence: Option<Divergence>,
    /// How the drain ended: `settled` (no progress for longer than the failure detector and
    /// the links need), `capped` (its cap came first), `interrupted` (Ctrl-C).
    drained: &'static str,
    /// `consistent` (exit 0: every claim holds, liveness included), `violated` (exit 1), or
    /// `inconclusive` (exit 3: safety held, but the group never settled, so its liveness
    /// could not be judged).
    verdict: &'static str,
}

/// Runs the group; the exit code.
pub fn run(spec: RunArgs, interrupted: Arc<AtomicBool>) -> u8 {
    if let Err(e) = spec.disruptions.check(spec.nodes, spec.duration) {
        return crate::usage_error(&e);
    }
    let opts = match spec.scenario.options(spec.protocol.descriptor().link) {
        Ok(o) => o,
        Err(e) => return crate::usage_error(&e),
    };
    if let Some(dir) = &opts.log_dir {
        if let Err(e) = clear_logs(dir, spec.nodes) {
            eprintln!("error: {e}");
            return 2;
        }
    }
    let result = spec.protocol.visit(Group {
        spec: &spec,
        opts: &opts,
        interrupted,
    });
    let (outcomes, drain, drained) = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    report(&spec, &opts, outcomes, drain, drained)
}

/// A run replaces the logs of an earlier one in the same directory: the files of nodes this
/// run does not have (an earlier, larger group's), and of lives it does not start (a
/// restarted `groupy node`'s later logs, its life file), are removed, or `groupy verify`
/// would judge them with this run's.
fn clear_logs(dir: &std::path::Path, nodes: usize) -> Result<(), String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            continue;
        };
        let Some(id) = name
            .strip_prefix("node-")
            .and_then(|n| n.split(['.', '-']).next())
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|&id| super::logfile::is_node_file(name, id))
        else {
            continue;
        };
        let first_life = super::logfile::path(dir, id, 0);
        if id >= nodes || first_life.file_name().is_none_or(|f| f != name) {
            std::fs::remove_file(entry.path())
                .map_err(|e| format!("cannot remove {}: {e}", entry.path().display()))?;
        }
    }
    Ok(())
}

struct Group<'a> {
    spec: &'a RunArgs,
    opts: &'a super::node::Options,
    interrupted: Arc<AtomicBool>,
}

impl Visit for Group<'_> {
    type Output = Result<(Vec<Outcome>, Duration, Option<Drained>), String>;

    fn visit<A: Protocol>(self) -> Self::Output {
        let (controls, threads) = start_group::<A>(self.spec.nodes, self.opts, |_| {})?;
        let start = Instant::now();
        let mut display = Display::new(self.spec, start);
        let plan = &self.spec.disruptions;
        let mut pauses = plan.pauses.clone();
        let mut kills = plan.kills.clone();
        // Phase 1: the workers multicast.
        while start.elapsed() < self.spec.duration && !self.interrupted.load(Ordering::Relaxed) {
            let cut = plan.cut_off(controls.len(), start.elapsed());
            for (c, bits) in controls.iter().zip(cut) {
                c.cut_off.store(bits, Ordering::Relaxed);
            }
            pauses.retain(|p| {
                let due = start.elapsed() >= Duration::from_millis(p.at_ms);
                if due {
                    if let Ok(mut until) = controls[p.node].pause_until.lock() {
                        *until = Some(Instant::now() + Duration::from_millis(p.for_ms));
                    }
                }
                !due
            });
            kills.retain(|k| {
                let due = start.elapsed() >= Duration::from_millis(k.at_ms);
                if due {
                    controls[k.node].crash.store(true, Ordering::Relaxed);
                }
                !due
            });
            display.show(&statuses(&controls), start.elapsed());
            std::thread::sleep(Duration::from_millis(50));
        }
        // Phase 2: drain until no node steps for longer than an election takes. Every cut
        // has healed (a heal due at the very end of phase 1 is done here).
        for c in &controls {
            c.cut_off.store(0, Ordering::Relaxed);
            c.drain.store(true, Ordering::Relaxed);
        }
        let drain_start = Instant::now();
        let mut settle = Settle::new(self.opts, drain_start);
        let drained = loop {
            if self.interrupted.load(Ordering::Relaxed) {
                break None;
            }
            let st = statuses(&controls);
            if let Some(d) = settle.observe(Instant::now(), st.iter().map(|s| s.progress).sum()) {
                break Some(d);
            }
            display.show(&st, start.elapsed());
            std::thread::sleep(Duration::from_millis(20));
        };
        let drain = drain_start.elapsed();
        if drained == Some(Drained::Settled) {
            for c in &controls {
                c.settled.store(true, Ordering::Relaxed);
            }
        }
        let outcomes = stop_group((controls.clone(), threads))?;
        display.show(&statuses(&controls), start.elapsed());
        display.finish();
        Ok((outcomes, drain, drained))
    }
}

fn statuses(controls: &[Arc<Control>]) -> Vec<Status> {
    controls
        .iter()
        .map(|c| c.status.lock().map(|s| s.clone()).unwrap_or_default())
        .collect()
}

/// The live view: on a terminal a line of truecolor blocks, one per node, redrawn a few times
/// a second; otherwise a plain progress line once a second.
struct Display {
    tty: bool,
    quiet: bool,
    last: Option<Instant>,
    started: Instant,
}

impl Display {
    fn new(spec: &RunArgs, started: Instant) -> Display {
        Display {
            tty: std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
            quiet: spec.quiet,
            last: None,
            started,
        }
    }

    fn show(&mut self, st: &[Status], elapsed: Duration) {
        if self.quiet {
            return;
        }
        let period = if self.tty {
            Duration::from_millis(200)
        } else {
            Duration::from_secs(1)
        };
        if self.last.is_some_and(|t| t.elapsed() < period) {
            return;
        }
        self.last = Some(Instant::now());
        let mut line = String::new();
        if self.tty {
            line.push_str(&format!("\r\x1b[K{:>5.1}s ", elapsed.as_secs_f64()));
            for (i, s) in st.iter().enumerate() {
                let [r, g, b] = s.colour;
                let mark = if s.crashed {
                    "x"
                } else if s.role == Some(Role::Leader) {
                    "L"
                } else {
                    " "
                };
                // Black or white lettering, whichever the block's colour leaves readable.
                let luma = 299 * u32::from(r) + 587 * u32::from(g) + 114 * u32::from(b);
                let fg = if luma > 128_000 { 30 } else { 97 };
                line.push_str(&format!(
                    " n{i}\x1b[{fg};48;2;{r};{g};{b}m {mark} \x1b[0m{:<5}",
                    s.delivered
                ));
            }
        } else {
            line.push_str(&format!("{:>5.1}s", elapsed.as_secs_f64()));
            for (i, s) in st.iter().enumerate() {
                let state = if s.crashed {
                    " crashed"
                } else if s.role == Some(Role::Leader) {
                    " leader"
                } else {
                    ""
                };
                line.push_str(&format!("  n{i} {} {}{state}", s.delivered, hex(s.colour)));
            }
            line.push('\n');
        }
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(line.as_bytes()).and_then(|_| err.flush());
    }

    fn finish(&mut self) {
        if self.tty && !self.quiet && self.last.is_some() {
            eprintln!();
        }
        let _ = self.started;
    }
}

fn report(
    spec: &RunArgs,
    opts: &super::node::Options,
    outcomes: Vec<Outcome>,
    drain: Duration,
    drained: Option<Drained>,
) -> u8 {
    let logs: Vec<_> = outcomes.iter().map(|o| o.log.clone()).collect();
    let info = spec.protocol.descriptor();
    // A settled group's run is over as far as the protocol can tell: every claim decides. A
    // drain cut at its cap, or interrupted, leaves all but safety open.
    let settled = drained == Some(Drained::Settled);
    let (properties, violated) = verify::judge_run(&logs, info.claims, settled);
    let code = if violated {
        1
    } else if settled {
        0
    } else {
        3
    };
    let r = RunReport {
        protocol: info.name,
        nodes: spec.nodes,
        duration_s: spec.duration.as_secs_f64(),
        drain_s: drain.as_secs_f64(),
        link: opts.link.name(),
        seed: opts.seed,
        faults: opts.faults,
        pauses: spec.disruptions.pauses.clone(),
        partitions: spec.disruptions.partitions.clone(),
        kills: spec.disruptions.kills.clone(),
        node_reports: outcomes.into_iter().map(|o| o.report).collect(),
        divergence: divergence(&logs),
        properties,
        drained: match drained {
            Some(Drained::Settled) => "settled",
            Some(Drained::Capped) => "capped",
            None => "interrupted",
        },
        verdict: match code {
            0 => "consistent",
            1 => "violated",
            _ => "inconclusive",
        },
    };
    match spec.output.format {
        Format::Json => {
            if let Err(code) = crate::emit_json(&r, "run report") {
                return code;
            }
        }
        Format::Text => emit(&text(&r, spec)),
    }
    code
}

fn text(r: &RunReport, spec: &RunArgs) -> String {
    let f = &r.faults;
    let mut s = format!(
        "groupy run {}: {} nodes, {:.1} s + {:.1} s drain, link {}, seed {}, sleep {} ms",
        r.protocol,
        r.nodes,
        r.duration_s,
        r.drain_s,
        r.link,
        r.seed,
        spec.scenario.sleep.as_millis()
    );
    if let Some(k) = f.crash_one_in {
        s.push_str(&format!(", crash rate 1/{k}"));
    }
    for (name, p) in [("drop", f.drop), ("duplicate", f.duplicate)] {
        if p > 0.0 {
            s.push_str(&format!(", {name} {p}"));
        }
    }
    if !f.delay.is_zero() {
        s.push_str(&format!(", delay 0..={} ms", f.delay.as_millis()));
    }
    for p in &r.pauses {
        s.push_str(&format!(", n{} paused {}+{} ms", p.node, p.at_ms, p.for_ms));
    }
    for k in &r.kills {
        s.push_str(&format!(", n{} killed at {} ms", k.node, k.at_ms));
    }
    for p in &r.partitions {
        s.push_str(&format!(
            ", {} cut {}+{} ms",
            p.sides_text(),
            p.at_ms,
            p.for_ms
        ));
    }
    s.push_str("\n\n  node  role     delivered  colour   datagrams in/out  resent  dropped in\n");
    for n in &r.node_reports {
        let role = standing(n.role, n.crashed);
        s.push_str(&format!(
            "  n{:<4} {:<8} {:>9}  {}  {:>8}/{:<8} {:>6}  {}\n",
            n.node,
            role,
            n.delivered,
            n.colour,
            n.datagrams_in,
            n.datagrams_out,
            n.link.resent,
            n.dropped_reasons
        ));
    }
    s.push_str(&verify::judgement_text(&r.properties));
    if let Some(d) = &r.divergence {
        s.push_str(&format!("\n  {d}\n"));
    }
    let live: Vec<_> = r.node_reports.iter().filter(|n| !n.crashed).collect();
    let same_colour = live.windows(2).all(|w| w[0].colour == w[1].colour);
    let broken = verify::broken_claims(&r.properties);
    let safety_broken = r
        .properties
        .iter()
        .any(|p| p.claimed && !p.holds && p.when != "eventually");
    let code = match r.verdict {
        "consistent" => 0,
        "violated" => 1,
        _ => 3,
    };
    s.push_str(&format!(
        "\nsummary: {} {}: {} of {} nodes live{}, {}; exit {code}\n",
        r.protocol,
        match (code, safety_broken) {
            (0, _) => "CONSISTENT",
            (1, true) => "OUT OF SYNC",
            (1, false) => "INCOMPLETE",
            _ => "INCONCLUSIVE",
        },
        live.len(),
        r.nodes,
        if same_colour && !live.is_empty() {
            format!(", all {} ({} delivered)", live[0].colour, live[0].delivered)
        } else {
            ", colours differ".to_string()
        },
        match (broken.is_empty(), r.drained) {
            (false, _) => format!("violated: {}", broken.join(", ")),
            (true, "settled") => "every claimed property holds".to_string(),
            (true, "capped") => "safety holds; the drain hit its cap before the group \
                                 settled, so liveness was not judged"
                .to_string(),
            (true, _) => "safety holds; interrupted before the group settled, so liveness \
                          was not judged"
                .to_string(),
        }
    ));
    s
}
