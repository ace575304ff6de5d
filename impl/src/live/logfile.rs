//! A live node's delivery log on disk: JSON lines, one per delivery, view or multicast
//! issued, formatted by the node's core from the state's `App` log after each step and
//! written out by its driver after each event it handles (before the datagrams that event
//! caused are sent, so no peer hears of a delivery the log does not hold; one `write` per
//! event, so a killed process loses at most what it was writing). `groupy verify` reads it back into the model's [`NodeLog`] and judges it with the
//! checker's own property functions.
//!
//! ```text
//! {"line":"header","format":"groupy-live-log","version":1,"node":1,"protocol":"gms3","member":true}
//! {"line":"deliver","node":1,"pos":0,"id":{"from":0,"seq":0},"value":1,"view":[0,1,2],"at_ms":1764601200123}
//! {"line":"issued","node":1,"count":1}
//! {"line":"accepted","node":1,"number":2,"view":[1,2]}
//! {"line":"view","node":1,"pos":1,"view":[1,2],"at_ms":1764601200456}
//! {"line":"end","node":1,"crashed":false,"member":true,"issued":1}
//! ```
//!
//! `view` on a delivery is the node's view when it was logged. `accepted` is a view the node
//! held before it knew it installed (numbered in the group's history of views, the initial
//! view 0), for the `primary_views` property; only versions that accept views write it.
//! Multicasts are recorded as a count: the `k`-th multicast of node `n` is
//! `Payload::issued_by(n, k)`, the application's own rule.
//!
//! # Reading
//! The writer writes each line once and each position once, in order (a joiner's log starts
//! with the state it adopted, from position 0: nothing was written before it joined), and
//! nothing after `end`. So the reader refuses, naming the line: a line that repeats an earlier
//! one, a position written again or skipped, and any text after the `end` line. A malformed
//! *last* line is what a killed process may leave and is ignored. A log without its `end` line
//! is a node that crashed (its process was killed) *or* a file cut short; the reader cannot
//! tell them apart, reads it as a crashed node's log and says so ([`LiveLog::ended`]), and
//! `groupy verify` prints it.

use groupy_model::app::{Event, Payload};
use groupy_model::log::Accepted;
use groupy_model::NodeLog;
use serde::{Deserialize, Serialize};
use stateright::actor::Id;
use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

pub const FORMAT: &str = "groupy-live-log";
pub const EXTENSION: &str = "jsonl";
/// A bound on the multicast count a log may claim: the multicasts are rebuilt from it.
const MAX_ISSUED: u32 = 10_000_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MsgId {
    pub from: usize,
    pub seq: u32,
}

/// One line of a live log.
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "line", rename_all = "lowercase")]
pub enum Line {
    Header {
        format: String,
        version: u32,
        node: usize,
        protocol: String,
        member: bool,
        /// The restarts of the node before this life (its log is a file of its own).
        #[serde(default, skip_serializing_if = "is_zero")]
        restarts: u32,
    },
    Deliver {
        node: usize,
        pos: usize,
        id: MsgId,
        value: u8,
        view: Vec<usize>,
        /// When it was logged, in milliseconds since the Unix epoch (for measurements only).
        #[serde(default)]
        at_ms: u64,
    },
    View {
        node: usize,
        pos: usize,
        view: Vec<usize>,
        #[serde(default)]
        at_ms: u64,
    },
    Issued {
        node: usize,
        count: u32,
    },
    Accepted {
        node: usize,
        number: u32,
        view: Vec<usize>,
    },
    End {
        node: usize,
        crashed: bool,
        member: bool,
        issued: u32,
        /// The group had settled when the node stopped (`groupy run` and `groupy sim` know,
        /// from the drain; a `groupy node` on its own does not): nothing more was pending,
        /// so liveness can be judged from the logs.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        settled: bool,
    },
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

fn ids(v: &[Id]) -> Vec<usize> {
    v.iter().map(|&i| usize::from(i)).collect()
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The file node `node`'s log goes to in `dir`: `node-<id>.jsonl` for its first life, and
/// `node-<id>-restart-<k>.jsonl` for the life its `k`-th restart began.
pub fn path(dir: &Path, node: usize, restarts: u32) -> PathBuf {
    match restarts {
        0 => dir.join(format!("node-{node}.{EXTENSION}")),
        k => dir.join(format!("node-{node}-restart-{k}.{EXTENSION}")),
    }
}

/// The file that holds what node `node` keeps across restarts (`groupy node`): its lives
/// so far and the actor's storage (its incarnation), `<restarts> <storage or ->`.
pub fn life_path(dir: &Path, node: usize) -> PathBuf {
    dir.join(format!("node-{node}.life"))
}

/// Whether `name` is a file of node `node` in a log directory: a life's log or its life file.
pub fn is_node_file(name: &str, node: usize) -> bool {
    let Some(rest) = name.strip_prefix(&format!("node-{node}")) else {
        return false;
    };
    rest == ".life"
        || rest == format!(".{EXTENSION}")
        || rest
            .strip_prefix("-restart-")
            .and_then(|r| r.strip_suffix(&format!(".{EXTENSION}")))
            .is_some_and(|k| k.parse::<u32>().is_ok())
}

/// What a log directory says of node `node`'s earlier lives: none, or how many restarts
/// came before the last and what it had saved. A directory holding only logs (no life file)
/// is a life that saved nothing: restarts counted from the logs.
pub fn earlier_lives(dir: &Path, node: usize) -> Result<Option<(u32, Option<u32>)>, String> {
    let text = match std::fs::read_to_string(life_path(dir, node)) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            return Err(format!(
                "cannot read {}: {e}",
                life_path(dir, node).display()
            ))
        }
    };
    if let Some(text) = text {
        let bad = || {
            format!(
                "{} is not a life file ('<restarts> <incarnation or ->'): remove it only if \
                 node {node} is to start a new group",
                life_path(dir, node).display()
            )
        };
        let mut words = text.split_whitespace();
        let restarts = words.next().and_then(|w| w.parse().ok()).ok_or_else(bad)?;
        let storage = match words.next() {
            Some("-") => None,
            Some(w) => Some(w.parse().map_err(|_| bad())?),
            None => return Err(bad()),
        };
        return Ok(Some((restarts, storage)));
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(None);
    };
    let logs = entries
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| is_node_file(n, node))
        })
        .count() as u32;
    Ok(logs.checked_sub(1).map(|last| (last, None)))
}

/// Writes node `node`'s life file durably (a temporary file, synced, renamed over the old
/// one, the directory synced): a restart must find what the last life saved before it
/// sent anything that relied on it.
pub fn save_life(
    dir: &Path,
    node: usize,
    restarts: u32,
    storage: Option<u32>,
) -> Result<(), String> {
    let path = life_path(dir, node);
    let tmp = dir.join(format!("node-{node}.life.tmp"));
    let text = match storage {
        Some(k) => format!("{restarts} {k}\n"),
        None => format!("{restarts} -\n"),
    };
    let write = || -> std::io::Result<()> {
        let mut f = File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)?;
        File::open(dir)?.sync_all()
    };
    write().map_err(|e| format!("cannot save {}: {e}", path.display()))
}

/// Writes one node's log, line by line, to a file or (for the sans-I/O core, whose driver
/// writes the bytes out) to a buffer.
pub struct LogWriter<W = File> {
    out: W,
    node: usize,
    /// Events of the App log already written.
    written: usize,
    /// Accepted views already written.
    accepted: usize,
    issued: u32,
    line: Vec<u8>,
}

impl LogWriter<File> {
    pub fn create(dir: &Path, node: usize, protocol: &str, member: bool) -> Result<Self, String> {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let p = path(dir, node, 0);
        let file = File::create(&p).map_err(|e| format!("cannot create {}: {e}", p.display()))?;
        LogWriter::new(file, node, 0, protocol, member)
    }
}

impl LogWriter<Vec<u8>> {
    /// The lines written since the last call.
    pub fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }
}

impl<W: Write> LogWriter<W> {
    /// A log of node `node`'s life after `restarts` restarts, running `protocol`, its
    /// header written to `out`.
    pub fn new(
        out: W,
        node: usize,
        restarts: u32,
        protocol: &str,
        member: bool,
    ) -> Result<Self, String> {
        let mut w = LogWriter {
            out,
            node,
            written: 0,
            accepted: 0,
            issued: 0,
            line: Vec::new(),
        };
        w.write(&Line::Header {
            format: FORMAT.to_string(),
            version: 1,
            node,
            protocol: protocol.to_string(),
            member,
            restarts,
        })?;
        Ok(w)
    }

    fn write(&mut self, line: &Line) -> Result<(), String> {
        self.line.clear();
        serde_json::to_writer(&mut self.line, line).map_err(|e| e.to_string())?;
        self.line.push(b'\n');
        self.out
            .write_all(&self.line)
            .map_err(|e| format!("cannot write node {}'s log: {e}", self.node))
    }

    /// Writes what the application log and the record of accepted views gained since the
    /// last call, and the multicast count if it grew; `at_ms` stamps the new events.
    pub fn update(
        &mut self,
        log: &[Event],
        accepted: &[Accepted],
        view: &[Id],
        issued: u32,
        at_ms: u64,
    ) -> Result<(), String> {
        // The record only grows: what is new is its tail.
        for a in accepted.iter().skip(self.accepted) {
            self.write(&Line::Accepted {
                node: self.node,
                number: a.number,
                view: ids(&a.view),
            })?;
        }
        self.accepted = self.accepted.max(accepted.len());
        // A joiner's log is replaced by the state it adopts; nothing was written before.
        self.written = self.written.min(log.len());
        for (pos, event) in log.iter().enumerate().skip(self.written) {
            let line = match event {
                Event::Deliver(p) => Line::Deliver {
                    node: self.node,
                    pos,
                    id: MsgId {
                        from: usize::from(p.from),
                        seq: p.seq,
                    },
                    value: p.value,
                    view: ids(view),
                    at_ms,
                },
                Event::View(v) => Line::View {
                    node: self.node,
                    pos,
                    view: ids(v),
                    at_ms,
                },
            };
            self.write(&line)?;
        }
        self.written = log.len();
        if issued > self.issued {
            self.issued = issued;
            self.write(&Line::Issued {
                node: self.node,
                count: issued,
            })?;
        }
        Ok(())
    }

    pub fn end(&mut self, crashed: bool, member: bool, settled: bool) -> Result<(), String> {
        self.write(&Line::End {
            node: self.node,
            crashed,
            member,
            issued: self.issued,
            settled,
        })
    }
}

/// A live log read back: the node's log in the properties' shape, and the protocol it ran.
pub struct LiveLog {
    pub log: NodeLog<'static>,
    pub protocol: String,
    /// Whether the log has its `end` line. Without it the node crashed or the file was cut
    /// short, and the log is read as a crashed node's (`log.crashed`).
    pub ended: bool,
    /// Every node a view in the log names, the views logged with its deliveries included:
    /// `groupy verify` looks for their logs.
    pub named: BTreeSet<usize>,
    /// The `end` line says the group had settled when the node stopped.
    pub settled: bool,
    /// The node's restarts before this life.
    pub restarts: u32,
}

/// Reads a live log, refusing what its writer never writes (see the module doc, Reading).
pub fn read(path: &Path, text: &str) -> Result<LiveLog, String> {
    let at = |line: usize| format!("{}:{line}", path.display());
    // (1-based line number, text), blank lines left out.
    let lines: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l))
        .filter(|(_, l)| !l.trim().is_empty())
        .collect();
    let mut parsed = Vec::with_capacity(lines.len());
    let mut first_seen: HashMap<&str, usize> = HashMap::with_capacity(lines.len());
    let mut end_at = None;
    for (i, &(n, l)) in lines.iter().enumerate() {
        if let Some(end) = end_at {
            return Err(format!(
                "{}: text after the end line (line {end}): the log was written to after its \
                 node stopped, or two logs were joined; give verify each node's log as written",
                at(n)
            ));
        }
        // Every line the writer writes differs from every other (a position, a count or a
        // view is never written twice), so a repeated line is a copy.
        if let Some(first) = first_seen.insert(l, n) {
            return Err(format!(
                "{}: a duplicated line (the same as line {first}): the writer writes each \
                 line once, so this log was altered or copied together",
                at(n)
            ));
        }
        match serde_json::from_str::<Line>(l) {
            Ok(line) => {
                if matches!(line, Line::End { .. }) {
                    end_at = Some(n);
                }
                parsed.push((n, line));
            }
            // A killed process may leave half a line, and only as its last.
            Err(_) if i + 1 == lines.len() && i > 0 => {}
            Err(e) => return Err(format!("{}: not a live log line ({e})", at(n))),
        }
    }
    let mut it = parsed.into_iter();
    let Some((
        _,
        Line::Header {
            format,
            node,
            protocol,
            member,
            restarts,
            ..
        },
    )) = it.next()
    else {
        return Err(format!("{}: no header line", path.display()));
    };
    if format != FORMAT {
        return Err(format!(
            "{}: format '{format}', not {FORMAT}",
            path.display()
        ));
    }
    let id = Id::from(node);
    let mut events: Vec<Event> = Vec::new();
    // The line each event was read from, for naming a position written twice.
    let mut read_at: Vec<usize> = Vec::new();
    let founder = member;
    let mut member = member;
    let mut crashed = true;
    let mut settled = false;
    let mut ended = false;
    let mut issued = 0;
    let mut accepted = Vec::new();
    let mut named = BTreeSet::new();
    for (n, line) in it {
        let (pos, event) = match line {
            Line::Deliver {
                pos,
                id: m,
                value,
                view,
                ..
            } => {
                named.extend(view);
                named.insert(m.from);
                (
                    pos,
                    Event::Deliver(Payload {
                        from: Id::from(m.from),
                        seq: m.seq,
                        value,
                    }),
                )
            }
            Line::View { pos, view, .. } => {
                named.extend(view.iter().copied());
                let view: Vec<Id> = view.into_iter().map(Id::from).collect();
                member |= view.contains(&id);
                (pos, Event::View(view))
            }
            Line::Issued { count, .. } => {
                issued = issued.max(count);
                continue;
            }
            Line::Accepted { number, view, .. } => {
                named.extend(view.iter().copied());
                let view = view.into_iter().map(Id::from).collect();
                accepted.push(Accepted { number, view });
                continue;
            }
            Line::End {
                crashed: c,
                member: m,
                issued: k,
                settled: done,
                ..
            } => {
                settled = done;
                crashed = c;
                ended = true;
                member |= m;
                issued = issued.max(k);
                continue;
            }
            Line::Header { .. } => {
                return Err(format!("{}:{n}: a second header line", path.display()));
            }
        };
        if pos < events.len() {
            let again = if events[pos] == event {
                "the same entry again"
            } else {
                "a different entry"
            };
            return Err(format!(
                "{}:{n}: position {pos} again, {again} (first at line {}): the writer writes \
                 each position once, so this log was altered",
                path.display(),
                read_at[pos]
            ));
        }
        if pos > events.len() {
            return Err(format!(
                "{}:{n}: position {pos} follows position {}: entries are missing",
                path.display(),
                events.len() as i64 - 1
            ));
        }
        events.push(event);
        read_at.push(n);
    }
    if issued > MAX_ISSUED {
        return Err(format!(
            "{}: {issued} multicasts issued, more than a log can hold ({MAX_ISSUED})",
            path.display()
        ));
    }
    Ok(LiveLog {
        log: NodeLog {
            node: id,
            crashed,
            // The header's `member` is whether the node started in the group.
            founder,
            member,
            events: Cow::Owned(events),
            multicast: Cow::Owned((0..issued).map(|k| Payload::issued_by(id, k)).collect()),
            accepted: Cow::Owned(accepted),
        },
        protocol,
        restarts,
        ended,
        named,
        settled,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_logs_read_back_and_a_killed_one_is_crashed() {
        let dir = std::env::temp_dir().join(format!("groupy-logfile-{}", std::process::id()));
        let ids: Vec<Id> = (0..3).map(Id::from).collect();
        let p = Payload::issued_by(Id::from(1), 0);
        let mut w = LogWriter::create(&dir, 1, "gms3", true).unwrap();
        let mut log = vec![Event::Deliver(p)];
        w.update(&log, &[], &ids, 1, 0).unwrap();
        let accepted = [Accepted {
            number: 1,
            view: ids[1..].to_vec(),
        }];
        w.update(&log, &accepted, &ids, 1, 0).unwrap();
        log.push(Event::View(ids[1..].to_vec()));
        w.update(&log, &accepted, &ids, 1, 0).unwrap();
        let text = std::fs::read_to_string(path(&dir, 1, 0)).unwrap();
        // Killed mid-line: the half line is ignored, the node counts as crashed.
        let killed = format!("{text}{{\"line\":\"deli");
        let l = read(Path::new("x"), &killed).unwrap();
        assert!(l.log.crashed && l.log.member && l.log.founder && !l.ended);
        assert_eq!(
            l.named,
            [0, 1, 2].into(),
            "the views of the deliveries and accepted"
        );
        assert_eq!(l.log.events.as_ref(), log.as_slice());
        assert_eq!(l.log.accepted.as_ref(), &accepted);
        assert_eq!(l.log.multicast.as_ref(), &[p]);
        w.end(false, true, false).unwrap();
        let text = std::fs::read_to_string(path(&dir, 1, 0)).unwrap();
        let ended = read(Path::new("x"), &text).unwrap();
        assert!(!ended.log.crashed && ended.ended);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
