//! Output for people: progress on stderr, the report and its counterexample traces on stdout.

use groupy_model::check::{self, Report, Status, Verdict};
use groupy_model::memory;
use groupy_model::trace::{NodeList, Trace};
use groupy_model::{Config, ProtocolName};
use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use std::path::Path;

/// Progress lines on stderr: rewritten in place on a terminal, one per second otherwise.
pub struct Progress {
    enabled: bool,
    tty: bool,
    drawn: bool,
}

impl Progress {
    pub fn new(enabled: bool) -> Self {
        Progress {
            enabled,
            tty: std::io::stderr().is_terminal(),
            drawn: false,
        }
    }

    pub fn update(&mut self, p: &check::Progress) {
        if !self.enabled {
            return;
        }
        let secs = p.elapsed.as_secs_f64().max(1e-3);
        let line = format!(
            "  {:>12} states  {:>11} unique  depth {:>3}  {:>9.0} states/s  {:>6.1}s",
            group(p.states),
            group(p.unique_states),
            p.max_depth,
            p.states as f64 / secs,
            secs
        );
        let mut err = std::io::stderr().lock();
        if self.tty {
            let _ = write!(err, "\r\x1b[2K{line}");
            self.drawn = true;
        } else {
            let _ = writeln!(err, "{line}");
        }
        let _ = err.flush();
    }

    /// Clears the in-place line before other output.
    pub fn finish(&mut self) {
        if self.drawn {
            let _ = write!(std::io::stderr(), "\r\x1b[2K");
            self.drawn = false;
        }
    }
}

pub use groupy_model::expected::group_digits as group;

fn status_word(status: Status, claimed: bool) -> String {
    let w = match status {
        Status::Holds => "holds",
        Status::Violated => "VIOLATED",
        Status::Witnessed => "witnessed",
        Status::Unwitnessed => "UNWITNESSED",
    };
    if claimed {
        format!("{w} (claimed)")
    } else {
        w.to_string()
    }
}

pub fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Holds => "HOLDS",
        Verdict::Violated => "VIOLATED",
        Verdict::Inconclusive => "INCONCLUSIVE",
    }
}

/// How to show a report.
pub struct View<'a> {
    /// Draw colour swatches (a terminal, and `NO_COLOR` unset).
    pub colour: bool,
    /// List violated unclaimed properties, one line each.
    pub verbose: bool,
    /// Show only this property.
    pub property: Option<&'a str>,
}

/// The whole report as text: the header, the property table, the verdict, the traces of
/// violated claimed properties (with `--verbose`, a line for each unclaimed one), and a
/// one-line summary at the end.
pub fn report(r: &Report, view: &View, verdict: Verdict) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "groupy check {}  ({})", r.protocol, r.config);
    let _ = writeln!(
        s,
        "explored {} states ({} unique, max depth {}) in {:.2}s with {:?}: {}",
        group(r.states),
        group(r.unique_states),
        r.max_depth,
        r.seconds,
        r.strategy,
        match &r.cut_short {
            None => "complete".to_string(),
            Some(why) => format!("NOT complete: {why}"),
        }
    );
    if !r.processes.is_empty() {
        let shares: Vec<String> = r
            .processes
            .iter()
            .map(|p| match p.peak_bytes {
                Some(b) => format!(
                    "process {}: {}, peak {}",
                    p.process,
                    group(p.states),
                    memory::Bytes(b).human()
                ),
                None => format!("process {}: {}", p.process, group(p.states)),
            })
            .collect();
        let _ = writeln!(
            s,
            "across {} processes (unique states and peak resident set each: {})",
            r.processes.len(),
            shares.join(", ")
        );
    }
    let _ = writeln!(s, "livelock check: {}", r.livelock);
    s.push('\n');
    let shown = |p: &&check::PropertyReport| view.property.is_none_or(|name| p.name == name);
    let width = r.properties.iter().map(|p| p.name.len()).max().unwrap_or(0);
    for p in r.properties.iter().filter(shown) {
        let _ = writeln!(
            s,
            "  {:width$}  {:13}  {}",
            p.name,
            p.kind,
            status_word(p.status, p.claimed)
        );
    }
    s.push('\n');
    let why = match (verdict, view.property) {
        (Verdict::Holds, Some(_)) => "the property holds on a complete exploration",
        (Verdict::Violated, Some(_)) => "the property is violated",
        (Verdict::Holds, None) => "every claimed property holds and every witness was reached",
        (Verdict::Violated, None) => "a property the protocol claims is violated",
        (Verdict::Inconclusive, _) if r.cut_short.is_some() => "the exploration was cut short",
        (Verdict::Inconclusive, _) if r.livelock.starts_with("could not run") => {
            "the livelock check could not run, so progress was not judged"
        }
        (Verdict::Inconclusive, _) => "a witness was never reached: the check may prove nothing",
    };
    let _ = writeln!(
        s,
        "verdict: {} ({why}; exit {})",
        verdict_word(verdict),
        verdict.exit_code()
    );
    let mut traced = std::collections::HashSet::new();
    for p in r.properties.iter().filter(shown) {
        if p.status != Status::Violated {
            continue;
        }
        let Some(t) = &p.counterexample else { continue };
        // Unclaimed violations are information: traced only when asked for by name.
        if !p.claimed && view.property.is_none() {
            continue;
        }
        s.push('\n');
        if !traced.insert(t.explorer_path.clone()) {
            let _ = writeln!(s, "{} is violated by the same trace as above.", p.name);
            continue;
        }
        s.push_str(&counterexample(t, p.claimed, p.description, view.colour));
    }
    let unclaimed: Vec<_> = r
        .properties
        .iter()
        .filter(|p| p.status == Status::Violated && !p.claimed && view.property.is_none())
        .collect();
    if view.verbose && !unclaimed.is_empty() {
        let _ = writeln!(
            s,
            "\nviolated, not claimed by {} (information):",
            r.protocol
        );
        for p in &unclaimed {
            let where_ = match &p.counterexample {
                Some(t) => format!(
                    "after {} steps, {}; --property {} shows the trace",
                    t.steps.len(),
                    t.explorer_path,
                    p.name
                ),
                None => "no path recorded".to_string(),
            };
            let _ = writeln!(s, "  {}: {where_}", p.name);
        }
    }
    s.push('\n');
    s.push_str(&summary(r, verdict, view, unclaimed.len()));
    s
}

/// One line that ends every run, like cargo test's.
fn summary(r: &Report, verdict: Verdict, view: &View, unclaimed: usize) -> String {
    let claimed: Vec<_> = r.properties.iter().filter(|p| p.claimed).collect();
    let broken: Vec<_> = claimed
        .iter()
        .filter(|p| p.status == Status::Violated)
        .map(|p| p.name)
        .collect();
    let witnesses = r
        .properties
        .iter()
        .filter(|p| p.kind == "sometimes")
        .count();
    let reached = r
        .properties
        .iter()
        .filter(|p| p.status == Status::Witnessed)
        .count();
    let mut s = format!(
        "summary: {} {}: {} of {} claimed properties violated{}; {reached} of {witnesses} \
         witnesses reached",
        r.protocol,
        verdict_word(verdict),
        broken.len(),
        claimed.len(),
        if broken.is_empty() {
            String::new()
        } else {
            format!(" ({})", broken.join(", "))
        },
    );
    if unclaimed > 0 && !view.verbose {
        s.push_str(&format!("; {unclaimed} unclaimed violated (--verbose)"));
    }
    s.push_str(&format!(
        "; {} unique states, {:.2}s; exit {}\n",
        group(r.unique_states),
        r.seconds,
        verdict.exit_code()
    ));
    s
}

/// A counterexample as `check` prints it (and `replay` reprints it): a heading naming the
/// property, then the trace.
pub fn counterexample(t: &Trace, claimed: bool, description: &str, colour: bool) -> String {
    format!(
        "counterexample: {} violated{} ({description}), {} steps{}\n{}",
        t.property,
        if claimed { "" } else { " (not claimed)" },
        t.steps.len(),
        if t.shortest { ", shortest" } else { "" },
        trace(t, colour)
    )
}

/// A trace as numbered events, the final state of every node, the messages still in flight,
/// and the divergence.
pub fn trace(t: &Trace, colour: bool) -> String {
    let mut s = String::new();
    let cycle = |s: &mut String| {
        let _ = writeln!(
            s,
            "  --- from here the protocol cycles for ever: the steps below lead back to a state \
             already seen, and no quiescent state can be reached without a fault ---"
        );
    };
    for step in t.start.iter().chain(&t.steps) {
        if t.cycle_from == Some(step.step) && step.step > 0 {
            cycle(&mut s);
        }
        let _ = writeln!(s, "  {:>3}. {}", step.step, step.action);
        for e in &step.effects {
            let _ = writeln!(s, "         {e}");
        }
    }
    if t.cycle_from == Some(t.steps.len() + 1) {
        let _ = writeln!(
            s,
            "  --- stuck: not quiescent, and no step of the protocol is possible from here ---"
        );
    }
    let _ = writeln!(s, "  final state:");
    for n in &t.nodes {
        let [r, g, b] = n.colour;
        let swatch = if colour {
            format!("\x1b[48;2;{r};{g};{b}m    \x1b[0m ")
        } else {
            String::new()
        };
        let _ = writeln!(
            s,
            "    n{} {:<7}{} view {:<12} colour {swatch}#{r:02x}{g:02x}{b:02x}  log {:?}",
            n.node,
            format!("{:?}", n.role).to_lowercase(),
            if n.crashed { " CRASHED" } else { "        " },
            NodeList(&n.view).to_string(),
            n.log
        );
    }
    if !t.in_flight.is_empty() {
        let flying: Vec<String> = t.in_flight.iter().map(ToString::to_string).collect();
        let _ = writeln!(s, "  still in flight: {}", flying.join("; "));
    }
    if !t.lost.is_empty() {
        let _ = writeln!(s, "  lost: {}", t.lost.join("; "));
    }
    if let Some(d) = &t.divergence {
        let _ = writeln!(s, "  {d}");
    }
    let _ = writeln!(s, "  explorer path: {}", t.explorer_path);
    s
}

/// The counterexample `--svg` and `--trace-json` write: the `--property` asked for, else the
/// first violated claimed property (else the first violated one).
fn chosen<'a>(report: &'a Report, property: Option<&str>) -> Option<&'a Trace> {
    let violated = |claimed: bool| {
        report
            .properties
            .iter()
            .find(|p| {
                p.status == Status::Violated
                    && property.map_or(p.claimed == claimed, |name| p.name == name)
            })
            .and_then(|p| p.counterexample.as_ref())
    };
    violated(true).or_else(|| violated(false))
}

/// Writes `--svg` and `--trace-json`; returns a line per file written (or a warning that
/// there is nothing to draw). Both destinations are opened before either is written, so an
/// unwritable one leaves nothing half done.
pub fn write_files(
    report: &Report,
    property: Option<&str>,
    svg: Option<&Path>,
    json: Option<&Path>,
) -> Result<Vec<String>, String> {
    if svg.is_none() && json.is_none() {
        return Ok(vec![]);
    }
    let Some(t) = chosen(report, property) else {
        return Ok(vec![
            "warning: no property was violated, so there is no counterexample to write".into(),
        ]);
    };
    let mut outputs = Vec::new();
    if let Some(path) = json {
        let data = serde_json::to_string_pretty(t).map_err(|e| e.to_string())?;
        outputs.push((path, data, "trace"));
    }
    if let Some(path) = svg {
        outputs.push((path, drawing(report, t), "sequence diagram"));
    }
    write_all(&outputs, &t.property)
}

/// The SVG of a counterexample in `report`.
fn drawing(report: &Report, t: &Trace) -> String {
    let description = report.property(&t.property).map_or("", |p| p.description);
    crate::svg::render(t, description)
}

/// Creates every file, then writes them; on any failure removes what it created.
fn write_all(outputs: &[(&Path, String, &str)], property: &str) -> Result<Vec<String>, String> {
    let mut files = Vec::new();
    for (path, _, _) in outputs {
        match std::fs::File::create(path) {
            Ok(f) => files.push(f),
            Err(e) => {
                for (created, _, _) in &outputs[..files.len()] {
                    let _ = std::fs::remove_file(created);
                }
                return Err(format!("cannot write {}: {e}", path.display()));
            }
        }
    }
    let mut lines = Vec::new();
    for ((path, data, what), mut file) in outputs.iter().zip(files) {
        file.write_all(data.as_bytes())
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        lines.push(format!(
            "wrote {}: {what} of the {property} counterexample",
            path.display()
        ));
    }
    Ok(lines)
}

/// Saves every violated claimed property's counterexample under `dir`, like SPIN's .trail.
pub fn save_results(
    protocol: ProtocolName,
    cfg: &Config,
    report: &Report,
    dir: &Path,
) -> Result<Vec<String>, String> {
    let run = dir.join(format!("{}-{}", protocol.name(), slug(cfg)));
    std::fs::create_dir_all(&run).map_err(|e| format!("cannot create {}: {e}", run.display()))?;
    let mut lines = Vec::new();
    for p in &report.properties {
        let (Status::Violated, true, Some(t)) = (p.status, p.claimed, &p.counterexample) else {
            continue;
        };
        let json = run.join(format!("{}.json", p.name));
        let svg = run.join(format!("{}.svg", p.name));
        let data = serde_json::to_string_pretty(t).map_err(|e| e.to_string())?;
        let drawing = drawing(report, t);
        write_all(
            &[(&json, data, "trace"), (&svg, drawing, "sequence diagram")],
            p.name,
        )?;
        // The final logs, one file per node, as `groupy verify` reads them.
        let logs = run.join(format!("{}-logs", p.name));
        std::fs::create_dir_all(&logs)
            .map_err(|e| format!("cannot create {}: {e}", logs.display()))?;
        for log in &t.logs {
            let file = logs.join(format!("n{}.json", usize::from(log.node)));
            let data = serde_json::to_string_pretty(log).map_err(|e| e.to_string())?;
            std::fs::write(&file, data)
                .map_err(|e| format!("cannot write {}: {e}", file.display()))?;
        }
        lines.push(format!(
            "saved the {} counterexample: {} and {} (final logs: groupy verify {})",
            p.name,
            json.display(),
            svg.display(),
            logs.display()
        ));
    }
    Ok(lines)
}

/// A configuration as a directory name: its usual spelling with `_` for spaces,
/// `N=3_M=2_J=0_C=1_crash-at=any_fd=perfect_network=ordered`.
fn slug(cfg: &Config) -> String {
    cfg.to_string().replace(' ', "_")
}
