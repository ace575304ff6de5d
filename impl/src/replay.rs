//! `groupy replay FILE`: reprints a counterexample that `groupy check` saved (under
//! `groupy-results/`, or with `--trace-json`) as text, SVG or JSON, and checks that its path
//! is still a path of today's model, as SPIN's `-t` replays a `.trail`: from the initial
//! state, each saved action must be enabled in turn ([`groupy_model::trace::replay`]).

use crate::render;
use groupy_model::registry::Visit;
use groupy_model::trace::{self, Trace};
use groupy_model::{properties, GroupModel, Protocol, ProtocolName};
use std::io::IsTerminal;
use std::path::PathBuf;

pub const REPLAY_HELP: &str = "\
Examples:
  groupy replay groupy-results/gms2-N=3_M=2_J=0_C=1_crash-at=any_fd=perfect_network=ordered/agreement.json
  groupy replay cex.json --svg cex.svg     the trace as text, and its sequence diagram
  groupy replay cex.json --format json     the trace as groupy check --trace-json wrote it

The file is a trace that groupy check saved (under groupy-results/ or with --trace-json). It
names its protocol, configuration and path; the path is taken again from the initial state of
today's model, step by step, and the replay says whether every step is still enabled and
whether the steps still read as saved.
Exit codes: 0 the path replays, 1 it no longer does (a step is no longer enabled, and its
number is printed; or the protocol it names is gone), 2 bad usage or a file that is missing
or not a saved trace.";

#[derive(clap::Args)]
pub struct ReplayArgs {
    /// A trace saved by groupy check (a .json file under groupy-results/, or --trace-json's).
    file: PathBuf,
    /// text (as groupy check prints it), svg (the sequence diagram) or json (the trace).
    #[arg(long, value_enum, default_value_t = ReplayFormat::Text)]
    format: ReplayFormat,
    /// Also write the sequence diagram to this file.
    #[arg(long, value_name = "OUT")]
    svg: Option<PathBuf>,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ReplayFormat {
    Text,
    Svg,
    Json,
}

/// What taking the saved path again in today's model found.
enum Outcome {
    /// Every step is enabled; `Some(k)`: step `k` now reads differently.
    Replays { differs_at: Option<usize> },
    /// Model step `k` (1-based) is not enabled.
    Stuck(usize),
}

struct Replay<'a>(&'a Trace);

impl Visit for Replay<'_> {
    type Output = Outcome;
    fn visit<A: Protocol>(self) -> Outcome {
        let saved = self.0;
        let model = GroupModel::<A>::new(saved.config.clone());
        match trace::replay(&model, &saved.path) {
            Err(k) => Outcome::Stuck(k),
            Ok(actions) => {
                let today = trace::render(&model, &actions);
                let differs_at = saved
                    .steps
                    .iter()
                    .zip(&today.steps)
                    .find(|(a, b)| a != b)
                    .map(|(a, _)| a.step)
                    .or_else(|| {
                        (saved.steps.len() != today.steps.len())
                            .then(|| saved.steps.len().min(today.steps.len()) + 1)
                    });
                Outcome::Replays { differs_at }
            }
        }
    }
}

pub fn run(args: &ReplayArgs) -> u8 {
    let file = args.file.display();
    let text = match std::fs::read_to_string(&args.file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: cannot read {file}: {e}");
            return 2;
        }
    };
    let t: Trace = match serde_json::from_str(&text) {
        Ok(t) => t,
        Err(e) => {
            eprintln!(
                "error: {file} is not a trace saved by groupy check ({e}); see groupy replay --help"
            );
            return 2;
        }
    };
    let description = properties::describe(&t.property);
    let drawing = || crate::svg::render(&t, description);
    if let Some(out) = &args.svg {
        if let Err(e) = std::fs::write(out, drawing()) {
            eprintln!("error: cannot write {}: {e}", out.display());
            return 2;
        }
    }
    let protocol = t.protocol.parse::<ProtocolName>();
    match args.format {
        ReplayFormat::Text => {
            let claimed = protocol.as_ref().map_or(true, |p| {
                p.descriptor().claims_under(&t.property, &t.config)
            });
            let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            crate::emit(&render::counterexample(&t, claimed, description, colour));
        }
        ReplayFormat::Svg => crate::emit(&drawing()),
        ReplayFormat::Json => {
            if let Err(code) = crate::emit_json(&t, "trace") {
                return code;
            }
        }
    }
    let (code, verdict) = match protocol {
        Err(e) => (1, format!("cannot replay: the trace names an {e}")),
        Ok(p) => match t.config.validate() {
            Err(e) => (
                2,
                format!("cannot replay: the trace's configuration is invalid: {e}"),
            ),
            Ok(()) => verdict(&t, p, p.visit(Replay(&t))),
        },
    };
    let line = format!("replay: {verdict}; exit {code}\n");
    // After a text trace, the verdict is part of the report; after SVG or JSON on stdout it
    // must not corrupt the document.
    if args.format == ReplayFormat::Text {
        crate::emit(&line);
    } else {
        eprint!("{line}");
    }
    code
}

/// The verdict line and exit code.
fn verdict(t: &Trace, p: ProtocolName, outcome: Outcome) -> (u8, String) {
    let model = format!("today's {} model ({})", p.name(), t.config);
    match outcome {
        Outcome::Replays { differs_at: None } => (
            0,
            format!(
                "every step is still enabled in {model} and reads as saved ({} steps)",
                t.steps.len()
            ),
        ),
        Outcome::Replays {
            differs_at: Some(k),
        } => (
            0,
            format!(
                "every step is still enabled in {model}, but step {k} now reads differently \
                 (groupy check shows today's trace)"
            ),
        ),
        Outcome::Stuck(k) => {
            // Name the first actor step of the model step that is stuck, as the trace numbers it.
            let step = t.steps.iter().find(|s| s.model_step == k);
            let what = match (step, t.path.get(k - 1)) {
                (Some(s), _) => format!("step {} ({})", s.step, s.action),
                (None, Some(a)) => format!("model step {k} ({a})"),
                (None, None) => format!("model step {k}"),
            };
            (
                1,
                format!("{what} is no longer enabled in {model}: the path does not replay"),
            )
        }
    }
}
