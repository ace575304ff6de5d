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

use crate::live::logfile;
use crate::{emit, Format};
use groupy_model::log::{divergence, Divergence};
use groupy_model::{NodeLog, ProtocolName};
use serde::Serialize;
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
            match (p.claimed, p.when == When::Eventually.name()) {
                (true, _) => "",
                // A live run is cut off, not infinite: liveness is reported, never decisive.
                (false, true) => "  (liveness: reported, not judged)",
                (false, false) => "  (not claimed)",
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
    /// `holds` (exit 0) or `violated` (exit 1).
    verdict: &'static str,
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
fn read(path: &Path) -> Result<(NodeLog<'static>, Option<String>), String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if path.extension().is_some_and(|x| x == logfile::EXTENSION) {
        let live = logfile::read(path, &text)?;
        return Ok((live.log, Some(live.protocol)));
    }
    let log = serde_json::from_str(&text).map_err(|e| {
        format!(
            "{} is not a node log ({e}); see groupy verify --help",
            path.display()
        )
    })?;
    Ok((log, None))
}

pub fn run(paths: &[PathBuf], format: Format) -> u8 {
    let result = files(paths).and_then(|files| {
        let read = files
            .iter()
            .map(|f| read(f))
            .collect::<Result<Vec<_>, _>>()?;
        let mut protocols: Vec<String> = read.iter().filter_map(|(_, p)| p.clone()).collect();
        protocols.sort();
        protocols.dedup();
        if protocols.len() > 1 {
            return Err(format!(
                "the logs come from different protocols ({})",
                protocols.join(", ")
            ));
        }
        let logs: Vec<NodeLog> = read.into_iter().map(|(l, _)| l).collect();
        let mut ids: Vec<_> = logs.iter().map(|l| l.node).collect();
        ids.sort();
        ids.dedup();
        if ids.len() != logs.len() {
            return Err("two log files name the same node".to_string());
        }
        Ok((files, logs, protocols.pop()))
    });
    let (files, logs, protocol) = match result {
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
    let (properties, violated) = judge(&logs, claims);
    let v = Verification {
        files: files.iter().map(|f| f.display().to_string()).collect(),
        nodes: logs.len(),
        protocol,
        divergence: divergence(&logs),
        verdict: if violated { "violated" } else { "holds" },
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
            s.push_str(&judgement_text(&v.properties));
            if let Some(d) = &v.divergence {
                s.push_str(&format!("\n  {d}\n"));
            }
            let broken = broken_claims(&v.properties);
            s.push_str(&format!(
                "\nsummary: {} of {} properties violated{}; exit {}\n",
                broken.len(),
                v.properties.iter().filter(|p| p.claimed).count(),
                if broken.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", broken.join(", "))
                },
                u8::from(violated)
            ));
            emit(&s);
        }
    }
    u8::from(violated)
}
