//! `groupy`: check the Groupy protocols exhaustively, browse their counterexamples in
//! stateright's Explorer, run them live on UDP.
//!
//! # Layout
//! - `main.rs`: the command line (clap) and dispatch; `list`, `completions`, `man`. The flags
//!   of the environment are `groupy_model::Config`'s; those of the live commands are
//!   `live::options`' (shared by `run`, `node` and `bench`).
//! - `render`: text and JSON output of a check, counterexample traces, files written and
//!   counterexamples saved.
//! - `svg`: a counterexample as a standalone SVG sequence diagram.
//! - `matrix`: every protocol under each environment, compared with `notes/verdicts.md`.
//! - `explore`: serving the Explorer for one model.
//! - `verify`: delivery logs read from files, judged with the model's property functions.
//! - `replay`: a saved counterexample reprinted, and its path taken again in today's model.
//! - `live`: the live group on UDP: `run` (a whole group in one process) and `node` (one
//!   node per process), driving the very actor types the checker explores.
//!
//! Exit codes: 0 every claimed property holds on a complete exploration; 1 a claimed property
//! is violated; 2 bad usage or error; 3 inconclusive (cut short, interrupted, a witness not
//! reached, or the livelock check could not run).

mod explore;
use groupy::judge;
mod live;
mod matrix;
mod processes;
mod render;
mod replay;
mod svg;
mod verify;

use clap::parser::ValueSource;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use groupy_model::check::{self, Search, Strategy, Verdict};
use groupy_model::memory;
use groupy_model::{Config, ProtocolName};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

// stateright clones and drops a state per transition: allocation is a fifth of a check's time
// with the system allocator (notes/reductions.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The memory the allocator has committed, for the checker's memory guard.
fn committed() -> Option<u64> {
    let mut commit = 0usize;
    let null = std::ptr::null_mut();
    // SAFETY: every out-parameter may be null; `commit` is a valid place for its figure.
    unsafe {
        libmimalloc_sys::mi_process_info(null, null, null, null, null, &mut commit, null, null);
    }
    (commit > 0).then_some(commit as u64)
}

const CHECK_EXAMPLES: &str = "\
Examples:
  groupy check                          run the default verdict matrix (every protocol, every environment)
  groupy check gms2                     find gms2's out-of-sync counterexample
  groupy check gms3 --nodes 4           prove gms3 for 4 nodes, 2 multicasts, 1 crash
  groupy check gms3 --fd unreliable     what a wrongly suspected leader does to gms3
  groupy check gms3 --network lossy --format json
  groupy check gms2 --svg cex.svg --trace-json cex.json
  groupy check gms3 --crashes 2 --property uniform_agreement   one property, even an unclaimed one
  groupy list                           protocols, what each claims, properties, environments

A violated claimed property's counterexample is saved under groupy-results/ (--results,
--no-save). Ctrl-C stops a long check and reports what it found so far.

Exit codes: 0 holds (complete exploration, every witness reached), 1 a claimed property is
violated, 2 bad usage or error, 3 inconclusive (timeout, --max-states, --max-depth, Ctrl-C or
simulation cut the search short, a witness was never reached, or the memory guard stopped the
livelock check).";

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
                  assignment: each protocol (groupy list) checked exhaustively with stateright, \
                  and run live on UDP with its logs judged by the same property functions."
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
    /// List the protocols (what each adds and claims), the properties and the environments.
    List(ListArgs),
    /// Print a shell completion script: groupy completions bash > /etc/bash_completion.d/groupy
    Completions(CompletionsArgs),
    /// Print the man page (roff) of groupy or of one command: groupy man check > groupy-check.1
    Man(ManArgs),
    /// Judge delivery logs read from files with the checker's own property functions.
    #[command(after_help = VERIFY_HELP)]
    Verify(VerifyArgs),
    /// Reprint a counterexample saved by check, and check that today's model still takes its path.
    #[command(after_help = replay::REPLAY_HELP)]
    Replay(replay::ReplayArgs),
    /// Run a whole group live on loopback UDP in one process, then judge its logs.
    #[command(after_help = RUN_HELP)]
    Run(live::cluster::RunArgs),
    /// Simulate the live group: many seeded runs of the node cores in virtual time, each
    /// judged; a failing seed is printed with the command that replays it.
    #[command(after_help = SIM_HELP, mut_arg("seed", |a| a.hide(true)))]
    Sim(live::simulate::SimArgs),
    /// Run one node of a live group as its own process.
    #[command(after_help = NODE_HELP)]
    Node(live::solo::NodeArgs),
    /// Benchmark the live group on loopback against the raw-UDP bound measured in the same
    /// run: throughput, latency, failover, false suspicions; every run's logs judged.
    #[command(after_help = BENCH_HELP)]
    Bench(BenchArgs),
}

const SIM_HELP: &str = "\
Each seed fixes a whole run: every node's timer jitter and faults, the network's latencies,
and so the order of every event. The same seed gives the same logs, byte for byte; the
nodes are the live runtime's own cores (the code `groupy run` drives over UDP), in one
thread, in virtual time. A failing seed's logs are kept (under groupy-sim/<protocol>/seed-N
unless --log-dir says where) and the command that replays it is printed.

Exit: 0 every run held its protocol's claims (validity included once a run has settled),
1 a run did not, 2 bad arguments, 3 interrupted before every seed ran.

Examples:
  groupy sim gms4 --seeds 1..1000 --drop 0.05 --duplicate 0.05 --delay 5 --kill 3:4000
  groupy sim gms2 --crash-rate 1/50 --seeds 1..50     caught out of sync, with a replay
  groupy sim gms5 --swarm --liveness --seeds 1..500   each seed its own mix of faults
";

const BENCH_HELP: &str = "\
Examples:
  groupy bench --quick                    about 3 minutes: 3 short runs of each figure
  groupy bench --nodes 3,5,9              the groups measured (the bound is measured for each N)
  groupy bench --only lossy --drop 0.05   gms4 and gms5 at 5 % loss, beside loss-free

Each figure is the median of --reps runs, next to the bound it is measured against, measured
in the same run: throughput against the sequencer bound (raw UDP fan-out from one sender to
N-1 receivers, 64-byte datagrams, divided by N-1), latency against the raw UDP round trip
(p50) with its two threads pinned to two CPUs (also shown: on one CPU, and unpinned; on a
virtual machine they can differ twentyfold), failover against --suspect-after. The lossy
part runs the protocols built for raw UDP at the largest N with every node dropping --drop
(2 %) of the datagrams it sends, against their loss-free throughput in the same run; the
slowest sender's throughput is shown beside the sum, which can hide a starved sender. Each
protocol runs on the link it is built for (groupy list names it); every run's delivery logs
are judged with the model's property functions, and a run that violates a claimed property
is reported as FAILED whatever its speed (one that leaves multicasts undelivered after the
drain says so on its line). The timers and the wire (--heartbeat, --suspect-after, --rto,
--seed, --key-file...) are groupy run's and groupy node's, with the same defaults; each
figure sets its own load, link, batching and loss.
Exit codes: 0 every run consistent, 1 a run violated a claimed property, 2 error.";

#[derive(Args)]
struct BenchArgs {
    /// Shorter runs (about 3 minutes in all on 2 cores).
    #[arg(long)]
    quick: bool,
    /// Repetitions of each run (the median is shown).
    #[arg(long, default_value_t = 3)]
    reps: usize,
    /// Group sizes, comma-separated (each from 2 to 64).
    #[arg(long, value_delimiter = ',', default_value = "3,5", value_parser = parse_bench_size)]
    nodes: Vec<usize>,
    /// A saturating worker's window: at most this many of its own multicasts undelivered.
    #[arg(long, default_value_t = 64)]
    window: u32,
    /// Only these parts, comma-separated: throughput, lossy, latency, failover, idle (the
    /// bound is always measured).
    #[arg(long, value_delimiter = ',',
          value_parser = ["throughput", "lossy", "latency", "failover", "idle"])]
    only: Vec<String>,
    /// The lossy part's loss rate: every node drops this share of the datagrams it sends
    /// (as groupy run --drop). The other parts run without loss.
    #[arg(long, value_name = "P", default_value_t = 0.02,
          value_parser = live::faults::parse_probability)]
    drop: f64,
    /// Only these protocols, comma-separated (each runs on the link it is built for).
    #[arg(long, value_delimiter = ',', value_parser = benchmarked_protocols())]
    protocol: Vec<String>,
    #[command(flatten)]
    output: Output,
    #[command(flatten)]
    live: live::options::LiveArgs,
}

fn parse_bench_size(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if (2..=64).contains(&n) => Ok(n),
        _ => Err(format!(
            "'{s}' is not a group size; write numbers of nodes from 2 to 64, e.g. 3,5"
        )),
    }
}

const RUN_HELP: &str = "\
Examples:
  groupy run gms3                              5 nodes for 10 s, colours shown live
  groupy run gms2 --nodes 4 --crash-rate 1/100 --seed 3   the assignment's crash: out of sync?
  groupy run gms3 --drop 0.05 --log-dir logs   lossy UDP under the fifo link; then groupy verify logs
  groupy run gms3 --link raw --drop 0.01       gms3 on UDP as it is
  groupy run gms3 --pause 0:2000:1000          freeze the leader for 1 s: a false suspicion

Node ids 0..N are loopback sockets on ports the OS picks; node 0 leads. Every worker
multicasts on its actor's own timer (--sleep) for --duration seconds; then the group drains
(no new multicasts) until it is quiet, and the final logs are judged with the model's
property functions, the protocol's claims deciding the verdict.
Exit codes: 0 consistent, 1 a claimed property is violated, 2 bad usage or error.";

const NODE_HELP: &str = "\
Examples (three terminals):
  groupy node gms3 --id 0 --listen 127.0.0.1:7000 --peers 127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002 --log-dir logs
  groupy node gms3 --id 1 --listen 127.0.0.1:7001 --peers 127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002 --log-dir logs
  groupy node gms3 --id 2 --listen 127.0.0.1:7002 --peers 127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002 --log-dir logs
  then: groupy verify logs
A joiner: list it in --peers after the first --initial K, start it with --join <a member>.
It runs until SIGTERM/SIGINT, or --duration seconds plus --drain ms without multicasts.
Exit codes: 0 stopped, 1 crashed (--crash-rate), 2 bad usage or error.";

const VERIFY_HELP: &str = "\
A live node's log (groupy run/node --log-dir: node-<id>.jsonl) is JSON lines, one per event,
as the node wrote them. An older node log (*.json) is one JSON object:
  {\"node\": 1, \"crashed\": false, \"member\": true,
   \"events\": [{\"View\": [0, 1, 2]}, {\"Deliver\": {\"from\": 0, \"seq\": 0, \"value\": 7}}],
   \"multicast\": [{\"from\": 1, \"seq\": 0, \"value\": 3}]}
The logs are judged as final (the run has drained). A live log without its end line is judged
as a crashed node's, and the output says the node crashed or its log was truncated.
Exit codes: 0 every claimed property holds, 1 one is violated, 2 a file is missing or
malformed (also: a duplicated line, text after the end line, a position written twice),
3 inconclusive: a node that the logs' views or deliveries name has no log.";

#[derive(Args)]
struct VerifyArgs {
    /// Log files, or directories whose *.jsonl (live nodes') and *.json files are logs.
    #[arg(required = true)]
    logs: Vec<PathBuf>,
    #[command(flatten)]
    output: Output,
}

#[derive(Args)]
struct ManArgs {
    /// The command whose page to print (default: groupy's own page).
    #[arg(value_name = "COMMAND")]
    command: Option<String>,
}

#[derive(Args)]
struct CompletionsArgs {
    /// bash, zsh, fish, elvish or powershell.
    shell: clap_complete::Shell,
}

#[derive(Args)]
struct ListArgs {
    #[command(flatten)]
    output: Output,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// for people
    Text,
    /// for machines: one JSON document on stdout
    Json,
}

/// `--format`, the same flag for every command that prints a result.
#[derive(Args, Clone, Copy)]
struct Output {
    /// How to print the result.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(Args)]
struct CheckArgs {
    /// The protocol to check; omit it to run the verdict matrix (every protocol under five
    /// environments, each cell compared with notes/verdicts.md; it sets --network and --fd
    /// itself, cell by cell).
    #[arg(value_enum)]
    protocol: Option<ProtocolName>,
    #[command(flatten)]
    model: Config,
    #[command(flatten)]
    output: Output,
    /// How to search the state space. Counterexamples of claimed properties are reported
    /// shortest whatever the strategy.
    #[arg(long, value_enum, ignore_case = true, default_value_t = Strategy::Auto)]
    strategy: Strategy,
    /// Checker threads. Default: the available cores, or one with --fail-fast (where the
    /// search stops, and so the states it counts, would depend on the threads' timing). With
    /// --timeout, at least two for stateright's searches (a lone worker never looks at the
    /// deadline). One thread where the protocol claims liveness and the search is a complete
    /// depth-first one: the search and the livelock check are then one walk, which is
    /// sequential and faster than a parallel search followed by the check.
    /// Counterexamples are reported shortest either way: groupy searches for them again,
    /// breadth first, on one thread.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    threads: Option<u16>,
    /// Stop after this many seconds, at most a day (the result is then inconclusive unless a
    /// claimed property was already violated).
    #[arg(long, value_name = "SECS", allow_negative_numbers = true, value_parser = parse_timeout)]
    timeout: Option<Duration>,
    /// Stop after this many unique states (inconclusive, as above); 0, like the default, for
    /// no cap: the memory guard (--max-memory) is what keeps a run within the machine.
    #[arg(long, value_name = "N")]
    max_states: Option<u64>,
    /// Stop before the search has committed this much memory (inconclusive, as above; exit
    /// 3, the reason named), leaving room for its tables to grow: e.g. 8G, 512M. Default:
    /// half the physical memory; lowered to the cgroup's memory.max, and kept within the
    /// address-space limit (ulimit -v), where those are lower.
    #[arg(long, value_name = "SIZE", default_value_t = memory::default_allowance(), value_parser = parse_size)]
    max_memory: memory::Bytes,
    /// Do not explore past this depth (inconclusive, as above; reported as cut short once
    /// the deepest state reached is within one step of it). --strategy simulation stops each
    /// random path at depth 200 unless this says otherwise.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    max_depth: Option<u32>,
    /// Stop at the first violation of a claimed property (the verdict is then known; the
    /// other properties' statuses may be incomplete).
    #[arg(long)]
    fail_fast: bool,
    /// Seed for --strategy simulation.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Search across K processes on this machine, on timely dataflow: breadth first, each
    /// process keeping its share of the visited states (by fingerprint), --threads workers
    /// each (default 1). Process 0, this one, reports. notes/scale.md.
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u16).range(1..=256), conflicts_with = "hostfile")]
    processes: Option<u16>,
    /// Search across hosts: FILE lists every process's host:port, one a line, process 0
    /// first. Run the same command on each host with its --process; process 0 reports.
    #[arg(long, value_name = "FILE", requires = "process")]
    hostfile: Option<PathBuf>,
    /// This process's line of --hostfile, from 0.
    #[arg(long, value_name = "I", requires = "hostfile")]
    process: Option<u16>,
    /// Symmetry reduction. No groupy model supports it yet: node ids are not
    /// interchangeable, because the peer-list order decides who leads next.
    #[arg(long)]
    symmetry: bool,
    /// No progress and no notices on stderr (warnings and errors still show).
    #[arg(long, short = 'q')]
    quiet: bool,
    /// The matrix only: run its long cells too (documented rows of over a million unique
    /// states, minutes each). Without it they are shown as notes/verdicts.md documents them.
    #[arg(long)]
    long: bool,
    /// Write a counterexample as a standalone SVG sequence diagram: the first violated
    /// claimed property's, else the first violated property's (a warning if none is).
    #[arg(long)]
    svg: Option<PathBuf>,
    /// Write the same counterexample as JSON (its "property" field names the property).
    #[arg(long)]
    trace_json: Option<PathBuf>,
    /// Where a violated claimed property's counterexample is saved (trace JSON and SVG), as
    /// SPIN saves a .trail: DIR/<protocol>-<configuration>/<property>.{json,svg}.
    #[arg(long, value_name = "DIR", default_value = "groupy-results")]
    results: PathBuf,
    /// Do not save counterexamples under --results.
    #[arg(long)]
    no_save: bool,
    /// Show and judge only this property (its row, its trace; the exit code is its verdict).
    #[arg(long, value_name = "NAME", value_parser = parse_property)]
    property: Option<String>,
    /// Also list each violated property the protocol does not claim, one line each.
    #[arg(long, short = 'v')]
    verbose: bool,
}

/// A property or witness name, checked against the properties groupy knows.
fn parse_property(s: &str) -> Result<String, String> {
    let known = groupy_model::properties::all_names();
    if known.contains(&s) {
        Ok(s.to_string())
    } else {
        Err(format!(
            "unknown property '{s}'; valid values: {}",
            known.join(", ")
        ))
    }
}

#[derive(Args)]
struct ExploreArgs {
    /// The protocol to explore.
    #[arg(value_enum)]
    protocol: ProtocolName,
    #[command(flatten)]
    model: Config,
    /// Address to serve the Explorer on.
    #[arg(long, default_value = "localhost:3000")]
    addr: String,
    /// No progress output on stderr.
    #[arg(long, short = 'q')]
    quiet: bool,
}

/// `--timeout`: a day is far past any useful exploration and keeps deadlines representable.
fn parse_timeout(s: &str) -> Result<Duration, String> {
    live::options::parse_seconds(s, false, 86_400.0)
}

fn parse_size(s: &str) -> Result<memory::Bytes, String> {
    s.parse()
}

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let code = match cli.command {
        Command::Check(args) => {
            let given = matches
                .subcommand_matches("check")
                .map(given)
                .unwrap_or_default();
            run_check(args, &given)
        }
        Command::Explore(args) => explore::run(args),
        Command::List(args) => list(args),
        Command::Completions(args) => completions(args),
        Command::Man(args) => man(args),
        Command::Verify(args) => verify::run(&args.logs, args.output.format),
        Command::Replay(args) => replay::run(&args),
        Command::Run(args) => run_live(args),
        Command::Sim(args) => live::simulate::run(args, interrupt_on_ctrl_c()),
        Command::Node(args) => run_node(args),
        Command::Bench(args) => run_bench(args),
    };
    ExitCode::from(code)
}

#[derive(serde::Serialize)]
struct Entry {
    name: &'static str,
    /// `always`, `at quiescence`, `eventually`, `sometimes`, or the flag it is a value of.
    kind: &'static str,
    description: &'static str,
}

fn entries<T: groupy_model::config::Named>(flag: &'static str) -> Vec<Entry> {
    T::ALL
        .iter()
        .map(|v| Entry {
            name: v.name(),
            kind: flag,
            description: v.help(),
        })
        .collect()
}

/// The values `groupy bench --protocol` takes: the protocols whose descriptor says they are
/// benchmarked.
fn benchmarked_protocols() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(ProtocolName::benchmarked().map(|p| p.name()))
}

#[derive(serde::Serialize)]
struct Listing {
    protocols: Vec<groupy_model::Descriptor>,
    properties: Vec<Entry>,
    environment: Vec<Entry>,
}

/// `groupy list`: the protocols with what each claims, the properties and witnesses with
/// their meaning, and the environment's values, all read from the code that checks them.
fn list(args: ListArgs) -> u8 {
    use groupy_model::properties::PROPERTIES;
    use groupy_model::witness::WITNESSES;
    use groupy_model::{CrashAt, Detector, JoinVia, NetworkKind, Reduce, Senders};
    let listing = Listing {
        protocols: ProtocolName::ALL.iter().map(|p| p.descriptor()).collect(),
        properties: PROPERTIES
            .iter()
            .map(|p| Entry {
                name: p.name,
                kind: p.when.name(),
                description: p.description,
            })
            .chain(WITNESSES.iter().map(|w| Entry {
                name: w.name,
                kind: "sometimes",
                description: w.description,
            }))
            .collect(),
        environment: [
            entries::<NetworkKind>("--network"),
            entries::<Detector>("--fd"),
            entries::<CrashAt>("--crash-at"),
            entries::<Senders>("--senders"),
            entries::<JoinVia>("--join-via"),
            entries::<Reduce>("--reduce"),
        ]
        .into_iter()
        .flatten()
        .collect(),
    };
    match args.output.format {
        Format::Json => {
            if let Err(code) = crate::emit_json(&listing, "list") {
                return code;
            }
        }
        Format::Text => {
            let mut s = String::from("Protocols (groupy check <protocol>):\n");
            for i in &listing.protocols {
                s.push_str(&format!("  {:<15} {}\n", i.name, i.summary));
                s.push_str(&format!("  {:<15} claims: {}\n", "", i.claims.join(", ")));
                let witnesses: Vec<_> = i.witnesses.iter().map(|w| w.name).collect();
                s.push_str(&format!(
                    "  {:<15} witnesses: {}\n",
                    "",
                    witnesses.join(", ")
                ));
                s.push_str(&format!(
                    "  {:<15} runs live on the {} link{}\n",
                    "",
                    i.link.name(),
                    if i.benchmarked { "; benchmarked" } else { "" }
                ));
                if let Some(w) = &i.liveness_where {
                    s.push_str(&format!("  {:<15} what needs progress (at quiescence, eventually) is claimed only {}\n", "", w.when));
                }
                if let Some(inf) = &i.infinite {
                    s.push_str(&format!("  {:<15} infinite {}\n", "", inf.when));
                }
            }
            s.push_str(
                "\nProperties (claimed ones decide the exit code; --property NAME shows one):\n",
            );
            let width = listing.properties.iter().map(|p| p.name.len()).max();
            let width = width.unwrap_or(0);
            for p in &listing.properties {
                s.push_str(&format!(
                    "  {:<width$} {:<13} {}\n",
                    p.name, p.kind, p.description
                ));
            }
            s.push_str("\nEnvironment (flags of groupy check and groupy explore):\n");
            for e in &listing.environment {
                s.push_str(&format!(
                    "  {:<11} {:<12} {}\n",
                    e.kind, e.name, e.description
                ));
            }
            s.push_str("\nSemantics: notes/semantics.md. Exit codes: 0 holds, 1 violated, 2 usage or error, 3 inconclusive.\n");
            emit(&s);
        }
    }
    0
}

/// `groupy completions <shell>` and `groupy man`: generated from the same clap definition.
fn completions(args: CompletionsArgs) -> u8 {
    let mut cmd = Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "groupy", &mut std::io::stdout());
    0
}

/// `groupy man [COMMAND]`: the page of groupy, or of one of its commands (named
/// `groupy-<command>`, as git's are).
fn man(args: ManArgs) -> u8 {
    let mut cli = Cli::command();
    // A subcommand gets its full name (`groupy-check`) only once the parent is built.
    cli.build();
    let page = match args.command.as_deref() {
        None => cli,
        Some(name) => {
            // clap's own `help` command has no page worth printing.
            let found = cli
                .get_subcommands()
                .find(|c| c.get_name() == name && name != "help");
            match found {
                Some(sub) => sub.clone(),
                None => {
                    let valid: Vec<_> = cli
                        .get_subcommands()
                        .map(|c| c.get_name())
                        .filter(|n| *n != "help")
                        .collect();
                    return usage_error(&format!(
                        "no command '{name}'; valid commands: {}",
                        valid.join(", ")
                    ));
                }
            }
        }
    };
    let mut out = Vec::new();
    let source = format!("groupy {}", env!("CARGO_PKG_VERSION"));
    if let Err(e) = clap_mangen::Man::new(page).source(source).render(&mut out) {
        eprintln!("error: cannot render the man page: {e}");
        return 2;
    }
    emit(&String::from_utf8_lossy(&out));
    0
}

/// Prints a usage error the way clap does and returns exit code 2.
/// The usage error for `flag` (`check --restarts`, `sim --restart`) on a protocol without
/// restarts.
fn no_restarts(protocol: &str, flag: &str) -> String {
    let with: Vec<&str> = ProtocolName::ALL
        .iter()
        .map(|p| p.descriptor())
        .filter(|d| d.restarts)
        .map(|d| d.name)
        .collect();
    format!(
        "{protocol} does not model restarts: a node that comes back with an empty state under \
         its old id needs incarnations the protocol does not have. {flag} works with: {}",
        with.join(", ")
    )
}

fn usage_error(msg: &str) -> u8 {
    eprintln!("error: {msg}");
    eprintln!("\nFor more information, try '--help'.");
    2
}

/// The flags of `groupy check` given on the command line (not defaulted).
fn given(matches: &ArgMatches) -> Vec<String> {
    matches
        .ids()
        .filter(|id| matches.value_source(id.as_str()) == Some(ValueSource::CommandLine))
        .map(|id| id.as_str().to_string())
        .collect()
}

/// Ctrl-C asks a running check to stop and report what it found; a second one quits at once.
fn interrupt_on_ctrl_c() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let set = Arc::clone(&flag);
    let installed = ctrlc::set_handler(move || {
        if set.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("\ninterrupted: reporting what was found so far (Ctrl-C again to quit)");
    });
    if let Err(e) = installed {
        eprintln!("warning: Ctrl-C will not report partial results: {e}");
    }
    flag
}

/// `groupy run`: Ctrl-C ends the multicasting phase early (the group still drains and is
/// judged); a second one quits at once.
fn run_live(args: live::cluster::RunArgs) -> u8 {
    live::cluster::run(args, interrupt_on_ctrl_c())
}

/// `groupy bench`: the table, or its figures as JSON.
fn run_bench(args: BenchArgs) -> u8 {
    if args.nodes.is_empty() {
        return usage_error("--nodes takes group sizes from 2 to 64, e.g. 3,5");
    }
    let spec = live::bench::BenchSpec {
        nodes: args.nodes,
        reps: args.reps.max(1),
        quick: args.quick,
        window: args.window,
        only: args.only,
        protocols: args.protocol,
        live: args.live,
        drop: args.drop,
    };
    let started = std::time::Instant::now();
    let figs = match live::bench::run_bench(&spec, |what| eprintln!("  running: {what}")) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let failed = figs.iter().any(|f| f.violated_runs > 0);
    match args.output.format {
        Format::Json => {
            if let Err(code) = emit_json(&figs, "figures") {
                return code;
            }
        }
        Format::Text => emit(&format!(
            "groupy bench{}: {} repetitions, loopback, {} cores, seed {}, {:.0} s\n\n{}\nsummary: {}; exit {}\n",
            if spec.quick { " --quick" } else { "" },
            spec.reps,
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            spec.live.seed,
            started.elapsed().as_secs_f64(),
            live::bench::table(&figs),
            if failed {
                "a run violated a claimed property (FAILED above)"
            } else {
                "every run's logs consistent"
            },
            u8::from(failed)
        )),
    }
    u8::from(failed)
}

/// `groupy node`: SIGTERM or SIGINT stops the node cleanly.
fn run_node(args: live::solo::NodeArgs) -> u8 {
    let stop = Arc::new(AtomicBool::new(false));
    let set = Arc::clone(&stop);
    if let Err(e) = ctrlc::set_handler(move || set.store(true, Ordering::SeqCst)) {
        eprintln!("warning: SIGTERM/SIGINT will not stop the node cleanly: {e}");
    }
    live::solo::run(args, stop)
}

fn run_check(args: CheckArgs, given: &[String]) -> u8 {
    if args.symmetry {
        return usage_error(
            "--symmetry is not supported by any groupy model: node ids are not interchangeable \
             (the peer-list order decides who leads next)",
        );
    }
    let cfg = match args.model.clone().validated() {
        Ok(cfg) => cfg,
        Err(e) => return usage_error(&e),
    };
    let search = Search {
        strategy: args.strategy,
        threads: args.threads.map_or(0, usize::from),
        timeout: args.timeout,
        max_states: args.max_states.filter(|n| *n > 0).map(|n| n as usize),
        memory: Some(memory::Guard::new(Some(args.max_memory), committed)),
        max_depth: args.max_depth.map(|d| d as usize),
        seed: args.seed,
        fail_fast: args.fail_fast,
        interrupt: Some(interrupt_on_ctrl_c()),
        cluster: None,
    };
    let distributed = args.processes.is_some() || args.hostfile.is_some();
    if distributed {
        if let Err(e) = processes::distributable(args.protocol.is_some(), args.strategy, given) {
            return usage_error(&e);
        }
    }
    let mut progress = render::Progress::new(!args.quiet);
    let Some(protocol) = args.protocol else {
        let cannot = ["network", "fd", "svg", "trace_json", "property", "restarts"];
        if let Some(flag) = given.iter().find(|g| cannot.contains(&g.as_str())) {
            return usage_error(&format!(
                "the matrix (groupy check without a protocol) cannot honour --{}: it sets --network \
                 and --fd itself, cell by cell, and has no single counterexample to draw or show. \
                 It honours the bounds (--nodes, --msgs, --joins, --crashes, --crash-at, \
                 --senders, --join-via, --reduce) and the search flags. For one cell: groupy \
                 check <protocol> --network <network> --fd <fd>",
                flag.replace('_', "-")
            ));
        }
        return matrix::run(
            &args.model,
            &search,
            args.long,
            args.output.format,
            args.quiet,
            &mut progress,
        );
    };
    if args.long {
        return usage_error(
            "--long is the matrix's (groupy check without a protocol): it runs the cells \
             documented as long rows. With a protocol, every run is run in full",
        );
    }
    // Where the space is infinite an unbounded exhaustive search ends only at the memory
    // guard: say so now, with what bounds it, rather than minutes and gigabytes later.
    let bounded = search.fail_fast
        || search.max_states.is_some()
        || search.max_depth.is_some()
        || search.timeout.is_some()
        || search.strategy == Strategy::Simulation;
    let d = protocol.descriptor();
    if cfg.restarts > 0 && !d.restarts {
        return usage_error(&no_restarts(d.name, "--restarts"));
    }
    if let Some(inf) = d.infinite_under(&cfg).filter(|_| !bounded) {
        return usage_error(&format!(
            "{}'s state space is infinite {}: {}. An exhaustive search would end only when \
             memory runs out. Bound it with --fail-fast (stop at the first violation), \
             --max-states N, --max-depth N, --timeout SECONDS or --strategy simulation, or \
             choose another --network (groupy list says where each protocol is infinite)",
            d.name, inf.when, inf.why
        ));
    }
    // A distributed search: this process's place in it, and the local processes it starts.
    let mut search = search;
    let mut children = None;
    if distributed {
        let workers = args.threads.map_or(1, usize::from);
        let cluster = match (&args.hostfile, args.process, args.processes) {
            (Some(file), Some(process), _) => {
                processes::from_hostfile(file, process.into(), workers)
            }
            (_, _, Some(k)) if k > 1 => {
                match processes::spawn(k.into(), given.iter().any(|g| g == "quiet")) {
                    Ok((addresses, kids)) => {
                        children = Some(kids);
                        Ok(check::Cluster {
                            addresses,
                            process: 0,
                            workers,
                        })
                    }
                    Err(e) => Err(e),
                }
            }
            _ => Ok(check::Cluster {
                addresses: vec![],
                process: 0,
                workers,
            }),
        };
        match cluster {
            Ok(c) => search.cluster = Some(c),
            Err(e) => return usage_error(&e),
        }
    }
    let report = check::check(protocol, &cfg, &search, &mut |p| progress.update(p));
    progress.finish();
    if let Some(kids) = children {
        if let Err(e) = kids.wait() {
            eprintln!("error: {e}");
            return 2;
        }
    }
    if report.follower {
        if !args.quiet {
            eprintln!(
                "process {}: {} unique states in {:.2}s; process 0 reports the search",
                args.process.unwrap_or(0),
                report.unique_states,
                report.seconds
            );
        }
        return 0;
    }
    let verdict = match &args.property {
        Some(name) => match report.status(name) {
            Some(check::Status::Violated) => Verdict::Violated,
            Some(check::Status::Holds | check::Status::Witnessed) if report.complete => {
                Verdict::Holds
            }
            Some(_) => Verdict::Inconclusive,
            None => {
                return usage_error(&format!(
                    "{name} is not checked at these bounds (a witness the configuration cannot \
                     reach); `groupy list` says which witnesses each protocol has"
                ))
            }
        },
        None => report.verdict,
    };
    let mut code = verdict.exit_code() as u8;
    match render::write_files(
        &report,
        args.property.as_deref(),
        args.svg.as_deref(),
        args.trace_json.as_deref(),
    ) {
        Ok(lines) => lines
            .iter()
            .filter(|l| !args.quiet || l.starts_with("warning"))
            .for_each(|l| eprintln!("{l}")),
        Err(e) => {
            eprintln!("error: {e}");
            code = 2;
        }
    }
    if !args.no_save && report.verdict == Verdict::Violated && code != 2 {
        match render::save_results(protocol, &cfg, &report, &args.results) {
            Ok(lines) if !args.quiet => lines.iter().for_each(|l| eprintln!("{l}")),
            Ok(_) => {}
            Err(e) => eprintln!("warning: counterexample not saved: {e}"),
        }
    }
    let view = render::View {
        colour: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        verbose: args.verbose,
        property: args.property.as_deref(),
    };
    match args.output.format {
        Format::Json => {
            if let Err(code) = crate::emit_json(&report, "report") {
                return code;
            }
        }
        Format::Text => emit(&render::report(&report, &view, verdict)),
    }
    code
}

/// Writes `value` to stdout as pretty JSON; `Err(2)`, the error exit code, if it cannot be
/// encoded (it names `what`).
pub fn emit_json<T: serde::Serialize>(value: &T, what: &str) -> Result<(), u8> {
    match serde_json::to_string_pretty(value) {
        Ok(s) => {
            emit(&format!("{s}\n"));
            Ok(())
        }
        Err(e) => {
            eprintln!("error: cannot encode the {what}: {e}");
            Err(2)
        }
    }
}

/// Writes to stdout; a reader that went away (`groupy check | head`) is not an error.
pub fn emit(s: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(s.as_bytes()).and_then(|_| out.flush());
}
