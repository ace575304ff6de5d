//! `groupy`: check the Groupy protocols exhaustively, browse their counterexamples in
//! stateright's Explorer.
//!
//! # Layout
//! - `main.rs`: the command line (clap) and dispatch.
//! - `render`: text and JSON output of a check, counterexample traces, the verdict matrix.
//! - `explore`: serving the Explorer for one model.
//!
//! Exit codes: 0 every claimed property holds on a complete exploration; 1 a claimed property
//! is violated; 2 bad usage or error; 3 inconclusive (cut short, or a witness not reached).

mod explore;
mod matrix;
mod render;

use clap::{Args, Parser, Subcommand, ValueEnum};
use groupy_model::check::{self, Search, Strategy};
use groupy_model::{ModelArgs, ProtocolName};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Default cap on generated states: about 10 GiB at the sizes groupy models reach.
pub const DEFAULT_MAX_STATES: usize = 20_000_000;

const CHECK_EXAMPLES: &str = "\
Examples:
  groupy check                          run the default verdict matrix (every protocol, every environment)
  groupy check gms2                     find gms2's out-of-sync counterexample
  groupy check gms3 --nodes 4           prove gms3 for 4 nodes, 2 multicasts, 1 crash
  groupy check gms3 --fd unreliable     what a wrongly suspected leader does to gms3
  groupy check gms3 --network lossy --format json
  groupy check gms2 --svg cex.svg --trace-json cex.json

Exit codes: 0 holds (complete exploration, every witness reached), 1 a claimed property is
violated, 2 bad usage or error, 3 inconclusive (timeout, --max-states, --max-depth or
simulation cut the search short, or a witness was never reached).";

const EXPLORE_EXAMPLES: &str = "\
Examples:
  groupy explore gms2                   serve the Explorer on http://localhost:3000
  groupy explore gms3 --fd unreliable --addr 127.0.0.1:8080

It first checks the model (as `groupy check` does) and prints a link to each counterexample,
then serves until Ctrl-C.";

#[derive(Parser)]
#[command(
    name = "groupy",
    version,
    about = "Group membership with atomic multicast, proved by model checking",
    long_about = "Group membership with atomic (total-order) multicast after the KTH Groupy \
                  assignment: gms1..gms3 checked exhaustively with stateright."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Model-check a protocol (or, without one, the default verdict matrix).
    #[command(after_help = CHECK_EXAMPLES)]
    Check(CheckArgs),
    /// Serve stateright's Explorer for a protocol, with links to its counterexamples.
    #[command(after_help = EXPLORE_EXAMPLES)]
    Explore(ExploreArgs),
    /// List the protocols: what each adds, what it claims, the witnesses it can reach.
    List(ListArgs),
}

#[derive(Args)]
struct ListArgs {
    /// text for people, json for machines.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
}

#[derive(Args)]
struct CheckArgs {
    /// The protocol to check; omit it to run the verdict matrix (every protocol under five
    /// environments, each cell compared with notes/verdicts.md; it sets --network and --fd
    /// itself, cell by cell).
    #[arg(value_enum)]
    protocol: Option<ProtocolName>,
    #[command(flatten)]
    model: ModelArgs,
    /// text for people, json (one object) for machines.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// bfs (shortest counterexamples), dfs (less memory) or simulation (random paths;
    /// never complete, so at best inconclusive).
    #[arg(long, default_value = "bfs", value_parser = parse_strategy)]
    strategy: Strategy,
    /// Checker threads. One by default: on this project's 2-core machine stateright's
    /// multi-threaded search was 20% slower than one thread (notes/reductions.md).
    /// Counterexamples are reported shortest either way: groupy searches for them again,
    /// breadth first, on one thread.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    threads: u16,
    /// Stop after this many seconds (the result is then inconclusive unless a claimed
    /// property was already violated). Runs at least two checker threads: stateright looks
    /// at its deadline only between batches of work.
    #[arg(long, allow_negative_numbers = true)]
    timeout: Option<f64>,
    /// Stop after generating about this many states (inconclusive, as above); 0 for no cap.
    /// The default keeps a run within a few GiB of memory.
    #[arg(long, default_value_t = DEFAULT_MAX_STATES)]
    max_states: usize,
    /// Do not explore past this depth (inconclusive, as above; reported as cut short once
    /// the deepest state reached is within one step of it).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    max_depth: Option<u32>,
    /// Stop at the first violation of a claimed property (the verdict is then known; the
    /// other properties' statuses may be incomplete).
    #[arg(long)]
    fail_fast: bool,
    /// Seed for --strategy simulation.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Symmetry reduction. No groupy model supports it yet: node ids are not
    /// interchangeable, because the peer-list order decides who leads next.
    #[arg(long)]
    symmetry: bool,
    /// No progress output on stderr.
    #[arg(long, short = 'q')]
    quiet: bool,
    /// Write a counterexample as an SVG sequence diagram: the first violated claimed
    /// property's, else the first violated property's (an error if none is violated).
    #[arg(long)]
    svg: Option<PathBuf>,
    /// Write the same counterexample as JSON (its "property" field names the property).
    #[arg(long)]
    trace_json: Option<PathBuf>,
}

#[derive(Args)]
struct ExploreArgs {
    /// The protocol to explore.
    #[arg(value_enum)]
    protocol: ProtocolName,
    #[command(flatten)]
    model: ModelArgs,
    /// Address to serve the Explorer on.
    #[arg(long, default_value = "localhost:3000")]
    addr: String,
    /// No progress output on stderr.
    #[arg(long, short = 'q')]
    quiet: bool,
}

fn parse_strategy(s: &str) -> Result<Strategy, String> {
    s.parse()
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Check(args) => run_check(args),
        Command::Explore(args) => explore::run(args),
        Command::List(args) => list(args),
    };
    ExitCode::from(code)
}

fn list(args: ListArgs) -> u8 {
    let infos: Vec<_> = ProtocolName::ALL.iter().map(|p| p.info()).collect();
    match args.format {
        Format::Json => match serde_json::to_string_pretty(&infos) {
            Ok(s) => emit(&format!("{s}\n")),
            Err(e) => {
                eprintln!("error: cannot encode the list: {e}");
                return 2;
            }
        },
        Format::Text => {
            let mut s = String::new();
            for i in &infos {
                s.push_str(&format!("{:<15} {}\n", i.name, i.summary));
                s.push_str(&format!("{:<15} claims: {}\n", "", i.claims.join(", ")));
                s.push_str(&format!(
                    "{:<15} witnesses: {}\n",
                    "",
                    i.witnesses.join(", ")
                ));
            }
            emit(&s);
        }
    }
    0
}

/// Prints a usage error the way clap does and returns exit code 2.
fn usage_error(msg: &str) -> u8 {
    eprintln!("error: {msg}");
    eprintln!("\nFor more information, try '--help'.");
    2
}

fn run_check(args: CheckArgs) -> u8 {
    if args.symmetry {
        return usage_error(
            "--symmetry is not supported by any groupy model: node ids are not interchangeable \
             (the peer-list order decides who leads next)",
        );
    }
    let cfg = match args.model.config() {
        Ok(cfg) => cfg,
        Err(e) => return usage_error(&e),
    };
    // A day is far past any useful exploration and keeps deadlines representable.
    if args
        .timeout
        .is_some_and(|t| !(t.is_finite() && t > 0.0 && t <= 86_400.0))
    {
        return usage_error("--timeout must be a number of seconds between 0 and 86400");
    }
    let search = Search {
        strategy: args.strategy,
        threads: usize::from(args.threads),
        timeout: args.timeout.map(Duration::from_secs_f64),
        max_states: (args.max_states > 0).then_some(args.max_states),
        max_depth: args.max_depth.map(|d| d as usize),
        seed: args.seed,
        fail_fast: args.fail_fast,
    };
    let mut progress = render::Progress::new(!args.quiet);
    let Some(protocol) = args.protocol else {
        return matrix::run(&args.model, &search, args.format, args.quiet, &mut progress);
    };
    let report = check::check(protocol, &cfg, &search, &mut |p| progress.update(p));
    progress.finish();
    if let Err(e) = render::write_files(protocol, &cfg, &report, args.svg, args.trace_json) {
        eprintln!("error: {e}");
        return 2;
    }
    match args.format {
        Format::Json => match serde_json::to_string_pretty(&report) {
            Ok(s) => emit(&format!("{s}\n")),
            Err(e) => {
                eprintln!("error: cannot encode the report: {e}");
                return 2;
            }
        },
        Format::Text => emit(&render::report(&report, std::io::stdout().is_terminal())),
    }
    report.verdict.exit_code() as u8
}

/// Writes to stdout; a reader that went away (`groupy check | head`) is not an error.
pub fn emit(s: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(s.as_bytes()).and_then(|_| out.flush());
}
