//! Output for people: progress on stderr, the report and its counterexample traces on stdout.

use groupy_model::check::{self, Report, Status, Verdict};
use groupy_model::model::GroupAction;
use groupy_model::protocol::Visit;
use groupy_model::trace::Trace;
use groupy_model::{Config, GroupModel, Protocol, ProtocolName};
use stateright::Model;
use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

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

/// The whole report as text.
pub fn report(r: &Report, colour: bool) -> String {
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
    s.push('\n');
    let width = r.properties.iter().map(|p| p.name.len()).max().unwrap_or(0);
    for p in &r.properties {
        let _ = writeln!(
            s,
            "  {:width$}  {:13}  {}",
            p.name,
            p.kind,
            status_word(p.status, p.claimed)
        );
    }
    s.push('\n');
    let why = match r.verdict {
        Verdict::Holds => "every claimed property holds and every witness was reached",
        Verdict::Violated => "a property the protocol claims is violated",
        Verdict::Inconclusive if r.cut_short.is_some() => "the exploration was cut short",
        Verdict::Inconclusive => "a witness was never reached: the check may prove nothing",
    };
    let _ = writeln!(
        s,
        "verdict: {} ({why}; exit {})",
        verdict_word(r.verdict),
        r.verdict.exit_code()
    );
    // Claimed violations first, then the others: each is information.
    let mut violated: Vec<_> = r
        .properties
        .iter()
        .filter(|p| p.status == Status::Violated)
        .collect();
    violated.sort_by_key(|p| !p.claimed);
    let mut shown = std::collections::HashSet::new();
    for p in violated {
        let Some(t) = &p.counterexample else { continue };
        s.push('\n');
        if !shown.insert(t.explorer_path.clone()) {
            let _ = writeln!(s, "{} is violated by the same trace as above.", p.name);
            continue;
        }
        let _ = writeln!(
            s,
            "counterexample: {} violated{} ({}), {} steps{}",
            p.name,
            if p.claimed { "" } else { " (not claimed)" },
            p.description,
            t.steps.len(),
            if t.shortest { ", shortest" } else { "" }
        );
        s.push_str(&trace(t, colour));
    }
    s
}

/// A trace as numbered events, the final state of every node, and the divergence.
pub fn trace(t: &Trace, colour: bool) -> String {
    let mut s = String::new();
    for step in &t.steps {
        let _ = writeln!(s, "  {:>3}. {}", step.step, step.text);
        for e in &step.effects {
            let _ = writeln!(s, "         {e}");
        }
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
            "    n{} {:<7}{} view {:<12} colour {swatch}#{r:02x}{g:02x}{b:02x}  log [{}]",
            n.node,
            format!("{:?}", n.role).to_lowercase(),
            if n.crashed { " CRASHED" } else { "        " },
            n.view,
            n.log.join(", ")
        );
    }
    if let Some(d) = &t.divergence {
        let _ = writeln!(
            s,
            "  logs diverge at position {}: n{} delivered {}, n{} delivered {}",
            d.position,
            d.a,
            d.a_has.as_deref().unwrap_or("nothing"),
            d.b,
            d.b_has.as_deref().unwrap_or("nothing")
        );
    }
    let _ = writeln!(s, "  explorer path: #/steps/{}", t.explorer_path);
    s
}

/// The counterexample `--svg` and `--trace-json` write: the first violated claimed property
/// (else the first violated one).
fn chosen(report: &Report) -> Option<&Trace> {
    let violated = |claimed: bool| {
        report
            .properties
            .iter()
            .find(|p| p.status == Status::Violated && p.claimed == claimed)
            .and_then(|p| p.counterexample.as_ref())
    };
    violated(true).or_else(|| violated(false))
}

pub fn write_files(
    protocol: ProtocolName,
    cfg: &Config,
    report: &Report,
    svg: Option<PathBuf>,
    json: Option<PathBuf>,
) -> Result<(), String> {
    if svg.is_none() && json.is_none() {
        return Ok(());
    }
    let Some(t) = chosen(report) else {
        return Err("no property was violated, so there is no counterexample to write".into());
    };
    if let Some(path) = json {
        let data = serde_json::to_string_pretty(t).map_err(|e| e.to_string())?;
        std::fs::write(&path, data).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    if let Some(path) = svg {
        let data = protocol
            .visit(Svg {
                cfg,
                explorer_path: &t.explorer_path,
            })
            .ok_or("the counterexample could not be replayed to draw it")?;
        std::fs::write(&path, data).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(())
}

struct Svg<'a> {
    cfg: &'a Config,
    explorer_path: &'a str,
}

impl Visit for Svg<'_> {
    type Output = Option<String>;
    fn visit<A: Protocol>(self) -> Option<String> {
        svg_of::<A>(self.cfg, self.explorer_path)
    }
}

/// stateright's sequence diagram of the path given as Explorer action indices.
pub fn svg_of<A: Protocol>(cfg: &Config, explorer_path: &str) -> Option<String> {
    let model = GroupModel::<A>::new(cfg.clone());
    let mut indices = explorer_path.split('/').map(|i| i.parse::<usize>().ok());
    let init = indices.next()??;
    let mut state = model.init_states().into_iter().nth(init)?;
    let mut actions: Vec<GroupAction<A>> = Vec::new();
    for i in indices {
        let mut enabled = Vec::new();
        model.actions(&state, &mut enabled);
        let action = enabled.into_iter().nth(i?)?;
        state = model.next_state(&state, action.clone())?;
        actions.push(action);
    }
    let path = check::replay(&model, &actions)?;
    model.as_svg(path)
}
