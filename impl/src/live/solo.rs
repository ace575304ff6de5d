//! `groupy node`: one node as its own process, so a group can span processes and hosts.
//!
//! Node ids are indices in `--peers` (the same list, in the same order, for every node). The
//! first `--initial K` peers (all by default) form the initial group, led by the first; a
//! node started with `--join IP:PORT` starts outside it and asks that member to let it in
//! (the protocol's join, `Setup::contact`): its id must be one of the peers after the first K,
//! so every member already knows where to send to it.
//!
//! It runs until SIGTERM or SIGINT (a clean stop: its log gets its `end` line), or for
//! `--duration` seconds of multicasting followed by `--drain` ms without any, so that nodes
//! started together stop with settled logs.

use super::logfile;
use super::node::{standing, Control, Life, Node, Options};
use super::options::{self, ScenarioArgs};
use groupy_model::group::Setup;
use groupy_model::registry::Visit;
use groupy_model::{Config, Protocol, ProtocolName};
use stateright::actor::Id;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// `groupy node`'s flags: the shared ones ([`ScenarioArgs`]) and its own.
#[derive(clap::Args)]
pub struct NodeArgs {
    /// The protocol to run.
    #[arg(value_enum)]
    pub protocol: ProtocolName,
    /// The address to listen on: this node's entry in --peers.
    #[arg(long, value_name = "IP:PORT")]
    pub listen: SocketAddr,
    /// This node's id: its index in --peers.
    #[arg(long)]
    pub id: usize,
    /// Every node's address, in id order, the same list for every node.
    #[arg(
        long,
        value_name = "IP:PORT,...",
        value_delimiter = ',',
        required = true
    )]
    pub peers: Vec<SocketAddr>,
    /// The first K peers form the initial group (default: all).
    #[arg(long, value_name = "K")]
    pub initial: Option<usize>,
    /// Start outside the group and ask this member to join (the protocol's join).
    #[arg(long, value_name = "IP:PORT")]
    pub join: Option<SocketAddr>,
    /// Multicast for this many seconds, drain, and stop (default: until SIGTERM/SIGINT).
    #[arg(long, value_name = "SECS", allow_negative_numbers = true,
          value_parser = parse_node_duration)]
    pub duration: Option<Duration>,
    /// After --duration, run this long without multicasting before stopping, in ms.
    #[arg(long, value_name = "MS", default_value = "1500", value_parser = options::parse_millis)]
    pub drain: Duration,
    #[command(flatten)]
    pub scenario: ScenarioArgs,
    /// Start a new group's node: remove this node's logs and life file of an earlier run
    /// from --log-dir first. Without it, a node whose files are there restarts (gms5: as a
    /// new life that joins again) or, for a protocol without restarts, is refused.
    #[arg(long)]
    pub fresh: bool,
    /// No summary on stderr.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

fn parse_node_duration(s: &str) -> Result<Duration, String> {
    // Far past any run, and small enough that adding --drain cannot overflow.
    options::parse_seconds(s, false, 1e9)
}

/// Runs the node; the exit code (0 stopped cleanly, 1 crashed by `--crash-rate`, 2 error).
pub fn run(spec: NodeArgs, stop: Arc<AtomicBool>) -> u8 {
    let k = spec.initial.unwrap_or(spec.peers.len());
    if spec.id >= spec.peers.len() {
        return crate::usage_error(&format!(
            "--id {} is not an index in --peers (0..{})",
            spec.id,
            spec.peers.len().saturating_sub(1)
        ));
    }
    // Two ids at one address: datagrams to either reach one socket, and the address check
    // cannot tell the two senders apart.
    for (j, addr) in spec.peers.iter().enumerate() {
        if let Some(i) = spec.peers[..j].iter().position(|p| p == addr) {
            return crate::usage_error(&format!(
                "--peers lists {addr} twice (entries {i} and {j}): every node needs its own \
                 IP:PORT"
            ));
        }
    }
    if k == 0 || k > spec.peers.len() {
        return crate::usage_error("--initial must be from 1 to the number of --peers");
    }
    if spec.peers[spec.id] != spec.listen {
        return crate::usage_error(&format!(
            "--listen {} is not --peers' entry {} ({}): the peers must list each node's address \
             as the others reach it",
            spec.listen, spec.id, spec.peers[spec.id]
        ));
    }
    let contact = match spec.join {
        None if spec.id >= k => {
            return crate::usage_error(&format!(
                "node {} is not among the first {k} (--initial) peers: start it with --join",
                spec.id
            ))
        }
        None => None,
        Some(_) if spec.id < k => {
            return crate::usage_error(&format!(
                "node {} is in the initial group (the first {k} peers): it cannot --join",
                spec.id
            ))
        }
        Some(addr) => match spec.peers[..k].iter().position(|p| *p == addr) {
            Some(c) => Some(c),
            None => {
                return crate::usage_error(&format!(
                    "--join {addr} is not one of the initial group's --peers"
                ))
            }
        },
    };
    let opts = match spec.scenario.options(spec.protocol.descriptor().link) {
        Ok(o) => o,
        Err(e) => return crate::usage_error(&e),
    };
    if opts.key.is_none() && !spec.listen.ip().is_loopback() {
        // Said once, at start: anybody who can reach the port can speak for any member.
        eprintln!(
            "warning: listening on {} without --key-file: anyone who can send to this address \
             can forge any member's messages (see notes/live.md, \"Without a key\"); give every \
             node the same --key-file",
            spec.listen
        );
    }
    let life = match which_life(&spec, &opts) {
        Ok(l) => l,
        Err((2, e)) => return crate::usage_error(&e),
        Err((code, e)) => {
            eprintln!("error: {e}");
            return code;
        }
    };
    let socket = match UdpSocket::bind(spec.listen) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: cannot listen on {}: {e}", spec.listen);
            return 2;
        }
    };
    let cfg = Config {
        nodes: k,
        joins: spec.peers.len() - k,
        ..Config::default()
    };
    let setup = match contact {
        Some(c) => Setup::joiner(c.into(), (0..k).map(Id::from).collect(), u32::MAX),
        None => Setup {
            quota: u32::MAX,
            ..Setup::for_node(&cfg, spec.id)
        },
    };
    spec.protocol.visit(One {
        spec: &spec,
        setup,
        socket,
        opts,
        stop,
        life,
    })
}

/// Which life this process begins, from its files in `--log-dir` (see [`NodeArgs::fresh`]):
/// `None` for a protocol without restarts, which keeps nothing. Errors are (exit code,
/// message).
fn which_life(spec: &NodeArgs, opts: &Options) -> Result<Option<Life>, (u8, String)> {
    let d = spec.protocol.descriptor();
    let id = spec.id;
    let Some(dir) = &opts.log_dir else {
        if d.restarts {
            return Err((
                2,
                format!(
                    "{} keeps what a restart needs (its incarnation) in --log-dir: without it a \
                     restarted node would come back as the member it was, which can break \
                     agreement; give --log-dir",
                    d.name
                ),
            ));
        }
        return Ok(None);
    };
    if spec.fresh {
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                if e.file_name()
                    .to_str()
                    .is_some_and(|n| logfile::is_node_file(n, id))
                {
                    std::fs::remove_file(e.path()).map_err(|err| {
                        (1, format!("cannot remove {}: {err}", e.path().display()))
                    })?;
                }
            }
        }
    }
    let earlier = logfile::earlier_lives(dir, id).map_err(|e| (1, e))?;
    match (earlier, d.restarts) {
        (None, true) => Ok(Some(Life::default())),
        (None, false) => Ok(None),
        // The model's restart: one more life, the next incarnation number.
        (Some((last, storage)), true) => {
            let life = Life {
                restarts: last + 1,
                storage: Some(storage.map_or(1, |k| k + 1)),
            };
            if !spec.quiet {
                eprintln!(
                    "node {id}: restarted (life {}, incarnation {}): it joins the group again \
                     as a new life; its log is {}",
                    life.restarts,
                    life.storage.unwrap_or(0),
                    logfile::path(dir, id, life.restarts).display()
                );
            }
            Ok(Some(life))
        }
        (Some(_), false) => Err((
            2,
            format!(
                "{} holds node {id}'s files of an earlier run ({}): {} cannot restart a node \
                 under its old id (it has no incarnations: it would start a group of its own). \
                 For a new group, give a fresh --log-dir or --fresh (which removes node {id}'s \
                 old files); gms5 restarts nodes",
                dir.display(),
                logfile::path(dir, id, 0).display(),
                d.name
            ),
        )),
    }
}

struct One<'a> {
    spec: &'a NodeArgs,
    setup: Setup,
    socket: UdpSocket,
    opts: Options,
    stop: Arc<AtomicBool>,
    life: Option<Life>,
}

impl Visit for One<'_> {
    type Output = u8;

    fn visit<A: Protocol>(self) -> u8 {
        let control = Arc::new(Control::default());
        let node = match Node::start(
            A::with_setup(self.setup),
            self.spec.id,
            self.socket,
            self.spec.peers.clone(),
            self.opts,
            Arc::clone(&control),
            self.life,
        ) {
            Ok(n) => n,
            Err(e) => {
                eprintln!("error: {e}");
                return 2;
            }
        };
        let handle = match std::thread::Builder::new()
            .name(format!("node{}", self.spec.id))
            .spawn(move || node.run())
        {
            Ok(h) => h,
            Err(e) => {
                eprintln!("error: cannot start the node's thread: {e}");
                return 2;
            }
        };
        let start = Instant::now();
        let duration = self.spec.duration;
        let drain = self.spec.drain;
        loop {
            let stopped = control.status.lock().map(|s| s.stopped).unwrap_or(true);
            if stopped || self.stop.load(Ordering::Relaxed) {
                break;
            }
            if let Some(d) = duration {
                if start.elapsed() >= d {
                    control.drain.store(true, Ordering::Relaxed);
                }
                if start.elapsed() >= d + drain {
                    break;
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        control.stop.store(true, Ordering::Relaxed);
        let Ok(outcome) = handle.join() else {
            eprintln!("error: the node's thread panicked");
            return 2;
        };
        let r = &outcome.report;
        if !self.spec.quiet {
            eprintln!(
                "node {} ({}): {} after {:.1} s as {}, delivered {}, colour {}, datagrams in {} \
                 out {}, resent {}, dropped in: {}",
                r.node,
                A::DESCRIPTOR.name,
                if r.crashed { "CRASHED" } else { "stopped" },
                start.elapsed().as_secs_f64(),
                standing(r.role, false),
                r.delivered,
                r.colour,
                r.datagrams_in,
                r.datagrams_out,
                r.link.resent,
                r.dropped_reasons
            );
        }
        u8::from(r.crashed)
    }
}
