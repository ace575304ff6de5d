//! The expected verdicts, in one place: the table in `notes/verdicts.md`.
//!
//! Each row of that table is a `groupy check` command and what it yields (verdict, whether the
//! exploration is complete, the claimed and unclaimed properties violated, unique states). The
//! verdict matrix (`groupy check` without a protocol) and the test suite (`checks/`) read the
//! rows from the very file a user reads, so the documentation cannot drift from the checker;
//! the test suite can also rewrite the table from fresh runs (`UPDATE_VERDICTS=1`).

use crate::check::{Report, Status, Verdict};
use crate::config::{Detector, NetworkKind};
use crate::registry::ProtocolName;
use crate::Config;
use clap::Parser;

/// `notes/verdicts.md` as it was when this binary was built.
pub const VERDICTS_MD: &str = include_str!("../../notes/verdicts.md");

pub const BEGIN: &str = "<!-- verdict-table:begin -->";
pub const END: &str = "<!-- verdict-table:end -->";

/// One documented run.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// The command as written, without the `groupy check ` prefix.
    pub command: String,
    pub protocol: ProtocolName,
    pub cfg: Config,
    /// The row stops at the first claimed violation (`--fail-fast`): its state space is
    /// infinite, or only the verdict matters.
    pub fail_fast: bool,
    pub verdict: Verdict,
    pub complete: bool,
    pub claimed_violated: Vec<String>,
    pub info_violated: Vec<String>,
    pub unique_states: usize,
    /// Quiescent states judged; `None`: not documented (the run stopped early, or the row
    /// was not re-run since the column was added).
    pub quiescent_states: Option<usize>,
    /// The livelock check's cell ([`livelock_cell`]); `None`: not re-run since it was added.
    pub livelock: Option<String>,
}

/// Rows above this many unique states take minutes: *long rows*. The default test suite and
/// the matrix leave them out (`every_long_row_of_the_verdict_table_reproduces` and
/// `groupy check --long` run them).
pub const LONG_ROW_STATES: usize = 1_000_000;

/// The environments of the verdict matrix (`groupy check` without a protocol), the
/// assignment's world first.
///
/// Not the udp network: gms4 there takes minutes (its rows are long rows), and the matrix is
/// the command a user runs first.
pub const MATRIX: [(NetworkKind, Detector); 5] = [
    (NetworkKind::Ordered, Detector::Perfect),
    (NetworkKind::Ordered, Detector::Unreliable),
    (NetworkKind::Unordered, Detector::Perfect),
    (NetworkKind::Lossy, Detector::Perfect),
    (NetworkKind::Duplicating, Detector::Perfect),
];

/// The configuration of `protocol`'s matrix cell in `network` with `fd`, at the bounds of
/// `base`. Where every wrong suspicion starts a reign (gms5), a wrong detector without a
/// budget is an infinite space: that cell is the least budget that shows a wrong detector,
/// one false suspicion.
pub fn matrix_cell(
    protocol: ProtocolName,
    base: &Config,
    network: NetworkKind,
    fd: Detector,
) -> Config {
    let mut cfg = Config {
        network,
        detector: fd,
        ..base.clone()
    };
    let unbounded = protocol.descriptor().infinite_under(&cfg).is_some();
    if fd == Detector::Unreliable && cfg.false_suspicions.is_none() && unbounded {
        cfg.false_suspicions = Some(1);
    }
    cfg
}

/// Written in the new columns of a row not re-run since they were added.
pub const NOT_RERUN: &str = "not re-run";

/// The arguments a row may use: a protocol, the model's flags, `--fail-fast`.
#[derive(Parser)]
#[command(no_binary_name = true)]
struct RowArgs {
    #[arg(value_parser = parse_protocol)]
    protocol: ProtocolName,
    #[command(flatten)]
    model: Config,
    #[arg(long)]
    fail_fast: bool,
}

fn parse_protocol(s: &str) -> Result<ProtocolName, String> {
    s.parse()
}

/// Parses the rows of the table between [`BEGIN`] and [`END`] in `md`.
pub fn rows(md: &str) -> Result<Vec<Row>, String> {
    let table = section(md)?;
    let mut rows = Vec::new();
    for line in table.lines().map(str::trim) {
        if !line.starts_with("| `groupy check") {
            continue;
        }
        rows.push(parse_row(line).map_err(|e| format!("{e} in row: {line}"))?);
    }
    if rows.is_empty() {
        return Err("the verdict table has no rows".into());
    }
    Ok(rows)
}

/// The table's row lines, in order (as [`rows`] parses them).
pub fn row_lines(md: &str) -> Vec<&str> {
    section(md)
        .map(|t| {
            t.lines()
                .map(str::trim)
                .filter(|l| l.starts_with("| `groupy check"))
                .collect()
        })
        .unwrap_or_default()
}

fn section(md: &str) -> Result<&str, String> {
    let start = md.find(BEGIN).ok_or("no verdict-table:begin marker")? + BEGIN.len();
    let end = md[start..].find(END).ok_or("no verdict-table:end marker")? + start;
    Ok(&md[start..end])
}

fn parse_row(line: &str) -> Result<Row, String> {
    let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
    let [command, verdict, complete, claimed, info, unique, quiescent, livelock, ..] = cells[..]
    else {
        return Err("expected at least 8 cells".into());
    };
    let command = command
        .trim_matches('`')
        .strip_prefix("groupy check ")
        .ok_or("the command must start with `groupy check`")?
        .to_string();
    let args = RowArgs::try_parse_from(command.split_whitespace()).map_err(|e| e.to_string())?;
    let verdict = match verdict {
        "HOLDS" => Verdict::Holds,
        "VIOLATED" => Verdict::Violated,
        "INCONCLUSIVE" => Verdict::Inconclusive,
        v => return Err(format!("unknown verdict '{v}'")),
    };
    let list = |s: &str| -> Vec<String> {
        s.split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty() && *p != "-")
            .map(String::from)
            .collect()
    };
    Ok(Row {
        protocol: args.protocol,
        cfg: args.model.validated()?,
        fail_fast: args.fail_fast,
        command,
        verdict,
        complete: complete.starts_with("yes"),
        claimed_violated: list(claimed),
        info_violated: list(info),
        unique_states: unique
            .replace(',', "")
            .parse()
            .map_err(|_| format!("unique states '{unique}' is not a number"))?,
        quiescent_states: match quiescent {
            "-" | NOT_RERUN => None,
            q => Some(
                q.replace(',', "")
                    .parse()
                    .map_err(|_| format!("quiescent states '{q}' is not a number"))?,
            ),
        },
        livelock: (livelock != NOT_RERUN).then(|| livelock.to_string()),
    })
}

/// The livelock check's outcome in a table cell: `none`, `LIVELOCK`, `not claimed` (the
/// protocol claims no liveness), `not run` (the exploration was not complete), `could not run`
/// (the memory guard stopped it).
pub fn livelock_cell(r: &Report) -> &'static str {
    let l = r.livelock.as_str();
    if l.starts_with("ran") {
        if l.ends_with("a livelock") {
            "LIVELOCK"
        } else {
            "none"
        }
    } else if l.contains("claims no liveness") {
        "not claimed"
    } else if l.starts_with("could not run") {
        "could not run"
    } else {
        "not run"
    }
}

/// The quiescent states judged, in a table cell: `-` where the exploration stopped early.
fn quiescent_cell(r: &Report) -> String {
    if r.complete {
        group_digits(r.quiescent_states)
    } else {
        "-".to_string()
    }
}

/// The violated properties of a report: (claimed, unclaimed), in report order.
pub fn violated(r: &Report) -> (Vec<String>, Vec<String>) {
    let names = |claimed: bool| {
        r.properties
            .iter()
            .filter(|p| p.status == Status::Violated && p.claimed == claimed)
            .map(|p| p.name.to_string())
            .collect()
    };
    (names(true), names(false))
}

/// How `r` differs from what `row` documents; empty if it does not. A `--fail-fast` row stops
/// at its first claimed violation, so only its verdict and that it found a documented
/// violation are compared; a run cut short (timeout, caps, simulation) is inconclusive, not
/// different, unless it found a violation the row does not document.
pub fn differences(row: &Row, r: &Report) -> Vec<String> {
    let mut d = Vec::new();
    let cut_short = !r.complete && !row.fail_fast;
    if r.verdict != row.verdict && !(cut_short && r.verdict == Verdict::Inconclusive) {
        d.push(format!(
            "verdict {:?}, documented {:?}",
            r.verdict, row.verdict
        ));
    }
    let (claimed, info) = violated(r);
    if row.fail_fast || cut_short {
        if let Some(p) = claimed.iter().find(|p| !row.claimed_violated.contains(p)) {
            d.push(format!("{p} violated, not documented"));
        }
        return d;
    }
    if claimed != row.claimed_violated {
        d.push(format!(
            "claimed violated [{}], documented [{}]",
            claimed.join(", "),
            row.claimed_violated.join(", ")
        ));
    }
    if info != row.info_violated {
        d.push(format!(
            "unclaimed violated [{}], documented [{}]",
            info.join(", "),
            row.info_violated.join(", ")
        ));
    }
    if r.complete != row.complete {
        d.push(format!(
            "complete {}, documented {}",
            r.complete, row.complete
        ));
    }
    if r.complete && r.unique_states != row.unique_states {
        d.push(format!(
            "{} unique states, documented {}",
            r.unique_states, row.unique_states
        ));
    }
    if let Some(q) = row.quiescent_states.filter(|_| r.complete) {
        if r.quiescent_states != q {
            d.push(format!(
                "{} quiescent states, documented {q}",
                r.quiescent_states
            ));
        }
    }
    if let Some(l) = row.livelock.as_deref().filter(|_| r.complete) {
        if livelock_cell(r) != l {
            d.push(format!(
                "livelock check {}, documented {l}",
                livelock_cell(r)
            ));
        }
    }
    d
}

/// The table header, as [`table_line`] fills it.
pub const HEADER: &str =
    "| command | verdict | complete | claimed violated | violated (info) | unique states | quiescent states | livelock check | s |\n\
                          | --- | --- | --- | --- | --- | ---: | ---: | --- | ---: |\n";

/// One table line for a run of `groupy check <command>`.
pub fn table_line(command: &str, r: &Report) -> String {
    let (claimed, info) = violated(r);
    let list = |v: Vec<String>| {
        if v.is_empty() {
            "-".into()
        } else {
            v.join(", ")
        }
    };
    let complete = match (&r.cut_short, r.complete) {
        (_, true) => "yes".to_string(),
        (Some(why), false) if why.contains("first violation") => "no (fail-fast)".to_string(),
        (_, false) => "no".to_string(),
    };
    let word = match r.verdict {
        Verdict::Holds => "HOLDS",
        Verdict::Violated => "VIOLATED",
        Verdict::Inconclusive => "INCONCLUSIVE",
    };
    format!(
        "| `groupy check {command}` | {word} | {complete} | {} | {} | {} | {} | {} | {:.2} |\n",
        list(claimed),
        list(info),
        group_digits(r.unique_states),
        quiescent_cell(r),
        livelock_cell(r),
        r.seconds
    )
}

/// `md` with its verdict table replaced by `table` (header included).
pub fn replace_table(md: &str, table: &str) -> Result<String, String> {
    let start = md.find(BEGIN).ok_or("no verdict-table:begin marker")? + BEGIN.len();
    let end = md[start..].find(END).ok_or("no verdict-table:end marker")? + start;
    Ok(format!("{}\n{}{}", &md[..start], table, &md[end..]))
}

/// `1234567` as `1,234,567`.
pub fn group_digits(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_notes_table_parses() {
        let rows = rows(VERDICTS_MD).expect("notes/verdicts.md's table parses");
        assert!(rows.len() >= 25, "{} rows", rows.len());
        assert!(rows
            .iter()
            .any(|r| r.command == "gms2" && r.verdict == Verdict::Violated));
    }

    #[test]
    fn a_bad_row_names_its_problem() {
        let md = format!(
            "{BEGIN}\n| `groupy check gms9` | HOLDS | yes | - | - | 1 | 0 | none | 0 |\n{END}"
        );
        let err = rows(&md).unwrap_err();
        assert!(
            err.contains("gms9") && err.contains("valid values"),
            "{err}"
        );
    }
}
