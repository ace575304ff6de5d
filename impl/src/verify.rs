//! `groupy verify`: judge delivery logs read from files with the very property functions the
//! checker uses on model states (`groupy_model::properties`).
//!
//! Two formats are read:
//! - a `*.json` file is one node's [`NodeLog`] (`{"node": 0, "crashed": false, "member":
//!   true, "events": [...], "multicast": [...]}`, events as `{"Deliver": {"from": 1, "seq":
//!   0, "value": 7}}` or `{"View": [0, 1, 2]}`), as saved with a counterexample;
//! - a `*.jsonl` file is a live node's log, JSON lines (`live::logfile`): it names the
//!   protocol the node ran, and that protocol's claims decide the exit code (the other
//!   properties are reported as information, as `groupy check` does).
//!
//! The logs are taken to be final (the run has drained), so the properties judged at
//! quiescence and at the end of a run are judged on them. Where two logs diverge, the first
//! differing position is printed with both entries
//! ([`groupy_model::log::divergence`], the one `check` and `run` print too).
//!
//! What the logs cannot show is said, not assumed:
//! - a live log without its `end` line is read as a crashed node's, and the output says that
//!   the node crashed *or its log was truncated* (verify cannot tell; a truncated log of a
//!   node that did not crash is judged more leniently than it should be). The exit code is
//!   the judgement's: a SIGKILLed node is the ordinary case.
//! - a node that the logs' views (or deliveries) name but that has no log makes the verdict
//!   **inconclusive** (exit 3), whatever the table says: the properties compare every
//!   node's log, and a missing one can both hide a violation and fake one (`integrity` fails
//!   for its multicasts, whose record is in its own log).
//!
//! Exit codes, as the other commands': 0 every claimed property holds on a complete set of
//! logs, 1 one is violated, 2 a file is missing, unreadable or malformed (a duplicated line,
//! text after `end`, a position written twice or skipped: see `live::logfile`), 3
//! inconclusive (a node's log is missing).

use crate::live::logfile;
use crate::{emit, Format};
use groupy_model::app::Event;
use groupy_model::log::{divergence, Divergence};
use groupy_model::{NodeLog, ProtocolName};
use serde::Serialize;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

pub use crate::judge::{broken_claims, judge, judge_run, Judgement};
use groupy_model::properties::When;

/// The property table, one line each.
pub fn judgement_text(properties: &[Judgement]) -> String {
    let mut s = String::from("\n");
    for p in properties {
        s.push_str(&format!(
            "  {:<20} {:<13} {}{}\n",
            p.property,
            p.when,
            if p.holds { "holds" } else { "VIOLATED" },
            match (p.claimed, p.in_claims, p.when == When::Eventually.name()) {
                (true, ..) => "",
                // Judged only once the group has settled: until then a live run is cut off,
                // not over.
                (false, true, true) => "  (liveness: reported, not judged: not known settled)",
                (false, true, false) => "  (claimed; not judged: not known settled)",
                (false, false, _) => "  (not claimed)",
            }
        ));
    }
    s
}

#[derive(Serialize)]
struct Verification {
    files: Vec<String>,
    nodes: usize,
    /// The protocol the live logs name, if they do.
    protocol: Option<String>,
    properties: Vec<Judgement>,
    divergence: Option<Divergence>,
    /// Live logs without their `end` line, by node: crashed or truncated, read as crashed.
    unended: Vec<usize>,
    /// Nodes the logs name in a view or a delivery that have no log.
    missing: Vec<usize>,
    /// Every surviving node's `end` line says the group had settled (`groupy run`, `groupy
    /// sim`): validity is judged too.
    settled: bool,
    /// `holds` (exit 0), `violated` (exit 1) or `inconclusive` (exit 3: a log is missing).
    verdict: &'static str,
}

/// One log file read: the log, and what the file says about itself.
struct Read {
    log: NodeLog<'static>,
    /// The protocol a live log names.
    protocol: Option<String>,
    /// False for a live log without its `end` line.
    ended: bool,
    /// The nodes its views and deliveries name.
    named: BTreeSet<usize>,
    /// Its `end` line says the group had settled.
    settled: bool,
    /// The node's restarts before the life this log is of.
    restarts: u32,
}

/// The nodes a log's views, accepted views and deliveries name.
fn named(log: &NodeLog) -> BTreeSet<usize> {
    let mut named = BTreeSet::new();
    for e in log.events.iter() {
        match e {
            Event::View(v) => named.extend(v.iter().map(|&i| usize::from(i))),
            Event::Deliver(p) => {
                named.insert(usize::from(p.from));
            }
        }
    }
    for a in log.accepted.iter() {
        named.extend(a.view.iter().map(|&i| usize::from(i)));
    }
    named
}

/// `n1, n3`.
fn node_list(nodes: &[usize]) -> String {
    nodes
        .iter()
        .map(|n| format!("n{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn is_log(f: &Path) -> bool {
    f.extension()
        .is_some_and(|x| x == "json" || x == logfile::EXTENSION)
}

/// The log files named, or every `*.json` and `*.jsonl` in a directory named.
fn files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let entries =
                std::fs::read_dir(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?;
            let mut found: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| is_log(f))
                .collect();
            found.sort();
            if found.is_empty() {
                return Err(format!(
                    "{} holds no *.json or *.jsonl log file",
                    p.display()
                ));
            }
            out.extend(found);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// One log file: the node's log and, for a live log, the protocol it ran.
fn read(path: &Path) -> Result<Read, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if path.extension().is_some_and(|x| x == logfile::EXTENSION) {
        let live = logfile::read(path, &text)?;
        let mut names = live.named;
        names.extend(named(&live.log));
        return Ok(Read {
            log: live.log,
            protocol: Some(live.protocol),
            ended: live.ended,
            named: names,
            settled: live.settled,
            restarts: live.restarts,
        });
    }
    let log: NodeLog = serde_json::from_str(&text).map_err(|e| {
        format!(
            "{} is not a node log ({e}); see groupy verify --help",
            path.display()
        )
    })?;
    Ok(Read {
        named: named(&log),
        log,
        protocol: None,
        // A saved node log says whether its node crashed.
        ended: true,
        settled: false,
        restarts: 0,
    })
}

pub fn run(paths: &[PathBuf], format: Format) -> u8 {
    let result = files(paths).and_then(|files| {
        let mut read = files
            .iter()
            .map(|f| read(f))
            .collect::<Result<Vec<_>, _>>()?;
        let mut lives: Vec<(usize, u32)> = read
            .iter()
            .map(|r| (usize::from(r.log.node), r.restarts))
            .collect();
        lives.sort();
        if lives.windows(2).any(|w| w[0] == w[1]) {
            return Err("two log files are of the same life of one node".to_string());
        }
        // A life a restart ended is judged as a crashed node's, as the checker judges it,
        // however it stopped.
        for r in &mut read {
            let node = usize::from(r.log.node);
            if lives.iter().any(|&(n, k)| n == node && k > r.restarts) {
                r.log.crashed = true;
            }
        }
        let mut protocols: Vec<String> = read.iter().filter_map(|r| r.protocol.clone()).collect();
        protocols.sort();
        protocols.dedup();
        if protocols.len() > 1 {
            return Err(format!(
                "the logs come from different protocols ({})",
                protocols.join(", ")
            ));
        }
        let unended: Vec<usize> = read
            .iter()
            .filter(|r| !r.ended)
            .map(|r| usize::from(r.log.node))
            .collect();
        let named: BTreeSet<usize> = read.iter().flat_map(|r| r.named.iter().copied()).collect();
        // Every node that did not crash says the group had settled when it stopped.
        let settled =
            read.iter().all(|r| r.log.crashed || r.settled) && read.iter().any(|r| r.settled);
        let logs: Vec<NodeLog> = read.into_iter().map(|r| r.log).collect();
        let mut ids: Vec<_> = logs.iter().map(|l| usize::from(l.node)).collect();
        ids.sort();
        ids.dedup();
        let missing: Vec<usize> = named.into_iter().filter(|n| !ids.contains(n)).collect();
        Ok((files, logs, protocols.pop(), unended, missing, settled))
    });
    let (files, logs, protocol, unended, missing, settled) = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let claims = match &protocol {
        Some(name) => match name.parse::<ProtocolName>() {
            Ok(p) => Some(p.descriptor().claims),
            Err(e) => {
                eprintln!("error: the logs name {e}");
                return 2;
            }
        },
        None => None,
    };
    // Logs of a group that settled are judged on every claim, validity included (a live run
    // that left a survivor's multicast undelivered fails); otherwise liveness is reported.
    let (properties, violated) = match claims {
        Some(c) if settled => judge_run(&logs, c, true),
        _ => judge(&logs, claims),
    };
    let (verdict, code) = match (missing.is_empty(), violated) {
        (false, _) => ("inconclusive", 3),
        (true, true) => ("violated", 1),
        (true, false) => ("holds", 0),
    };
    let v = Verification {
        files: files.iter().map(|f| f.display().to_string()).collect(),
        nodes: logs.len(),
        protocol,
        divergence: divergence(&logs),
        unended,
        missing,
        settled,
        verdict,
        properties,
    };
    match format {
        Format::Json => {
            if let Err(code) = crate::emit_json(&v, "result") {
                return code;
            }
        }
        Format::Text => {
            let mut s = format!("groupy verify: {} node logs", v.nodes);
            if let Some(p) = &v.protocol {
                s.push_str(&format!(
                    " of a live {p} group (its claims decide the verdict)"
                ));
            }
            s.push('\n');
            if v.settled {
                s.push_str(
                    "  the logs' end lines say the group had settled: liveness (validity) is \
                     judged too\n",
                );
            }
            for n in &v.unended {
                s.push_str(&format!(
                    "  n{n}: no end line: the node crashed (its process was killed) or its log \
                     was truncated; judged as a crashed node's log\n"
                ));
            }
            if !v.missing.is_empty() {
                s.push_str(&format!(
                    "  missing: no log for {}, which the logs' views or deliveries name; the \
                     properties below compare every node's log, so the verdict is \
                     inconclusive: give verify every node's log\n",
                    node_list(&v.missing)
                ));
            }
            s.push_str(&judgement_text(&v.properties));
            if let Some(d) = &v.divergence {
                s.push_str(&format!("\n  {d}\n"));
            }
            let broken = broken_claims(&v.properties);
            s.push_str(&format!(
                "\nsummary: {}{} of {} properties violated{}{}; exit {code}\n",
                if v.missing.is_empty() {
                    ""
                } else {
                    "INCONCLUSIVE, "
                },
                broken.len(),
                v.properties.iter().filter(|p| p.claimed).count(),
                if broken.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", broken.join(", "))
                },
                if v.missing.is_empty() {
                    String::new()
                } else {
                    format!(" on the logs given, {} missing", node_list(&v.missing))
                }
            ));
            emit(&s);
        }
    }
    code
}
