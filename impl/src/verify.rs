//! `groupy verify`: judge delivery logs read from files with the very property functions the
//! checker uses on model states (`groupy_model::properties`).
//!
//! A log file is one node's [`NodeLog`] as JSON (`{"node": 0, "crashed": false, "member":
//! true, "events": [...], "multicast": [...]}`, events as `{"Deliver": {"from": 1, "seq": 0,
//! "value": 7}}` or `{"View": [0, 1, 2]}`). The logs are taken to be final (the run has
//! drained), so the properties judged at quiescence and at the end of a run are judged on them.

use crate::{emit, Format};
use groupy_model::properties::PROPERTIES;
use groupy_model::NodeLog;
use serde::Serialize;
use std::path::{Path, PathBuf};

#[derive(Serialize)]
struct Judgement {
    property: &'static str,
    when: &'static str,
    holds: bool,
    description: &'static str,
}

#[derive(Serialize)]
struct Verification {
    files: Vec<String>,
    nodes: usize,
    properties: Vec<Judgement>,
    /// `holds` (exit 0) or `violated` (exit 1).
    verdict: &'static str,
}

/// The log files named, or every `*.json` in a directory named.
fn files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let entries =
                std::fs::read_dir(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?;
            let mut found: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x == "json"))
                .collect();
            found.sort();
            if found.is_empty() {
                return Err(format!("{} holds no *.json log file", p.display()));
            }
            out.extend(found);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

fn read(path: &Path) -> Result<NodeLog<'static>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| {
        format!(
            "{} is not a node log ({e}); see groupy verify --help",
            path.display()
        )
    })
}

pub fn run(paths: &[PathBuf], format: Format) -> u8 {
    let result = files(paths).and_then(|files| {
        let logs = files
            .iter()
            .map(|f| read(f))
            .collect::<Result<Vec<_>, _>>()?;
        let mut ids: Vec<_> = logs.iter().map(|l| l.node).collect();
        ids.sort();
        ids.dedup();
        if ids.len() != logs.len() {
            return Err("two log files name the same node".to_string());
        }
        Ok((files, logs))
    });
    let (files, logs) = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let properties: Vec<Judgement> = PROPERTIES
        .iter()
        .map(|p| Judgement {
            property: p.name,
            when: p.when.name(),
            holds: (p.holds)(&logs),
            description: p.description,
        })
        .collect();
    let violated = properties.iter().any(|p| !p.holds);
    let v = Verification {
        files: files.iter().map(|f| f.display().to_string()).collect(),
        nodes: logs.len(),
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
            let mut s = format!("groupy verify: {} node logs\n\n", v.nodes);
            for p in &v.properties {
                s.push_str(&format!(
                    "  {:<20} {:<13} {}\n",
                    p.property,
                    p.when,
                    if p.holds { "holds" } else { "VIOLATED" }
                ));
            }
            let broken: Vec<_> = v
                .properties
                .iter()
                .filter(|p| !p.holds)
                .map(|p| p.property)
                .collect();
            s.push_str(&format!(
                "\nsummary: {} of {} properties violated{}; exit {}\n",
                broken.len(),
                v.properties.len(),
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
