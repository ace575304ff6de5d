//! `groupy check` without a protocol: every protocol under each environment, as a table.
//!
//! Each cell is compared with the row of `notes/verdicts.md` that documents the same protocol
//! and configuration (the table is the one source of expected verdicts, see
//! `groupy_model::expected`): verdict, claimed and unclaimed properties violated, unique
//! states. Exit 0 when every cell matches its row, 1 when one does not (a protocol or model
//! change moved a verdict: read the counterexample, then fix the code or regenerate the
//! notes), 3 when a cell is undocumented (non-default bounds) or could not be decided.

use crate::render::{self, Progress};
use crate::Format;
use groupy_model::check::{self, Report, Search, Verdict};
use groupy_model::config::Named;
use groupy_model::expected::{self, Row};
use groupy_model::{Config, Detector, ProtocolName};
use serde::Serialize;

#[derive(Serialize)]
struct Cell {
    /// The documented command this cell reproduces, if notes/verdicts.md has one.
    documented: Option<String>,
    /// How the run differs from the documented row (empty when it matches).
    differences: Vec<String>,
    /// Set when the cell was not run: its documented row instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    not_rerun: Option<NotRerun>,
    /// The run's report, when it was run.
    #[serde(flatten)]
    report: Option<Report>,
}

/// A cell shown as notes/verdicts.md documents it, without running it.
#[derive(Serialize)]
struct NotRerun {
    why: &'static str,
    protocol: &'static str,
    config: Config,
    verdict: Verdict,
    unique_states: usize,
}

/// Why a long row's cell is not re-run by default.
const LONG: &str = "a long row (over 1,000,000 unique states: minutes); `groupy check --long` \
                    re-runs it";

/// `long`: also run the cells whose documented rows are long rows.
pub fn run(
    args: &Config,
    search: &Search,
    long: bool,
    format: Format,
    quiet: bool,
    progress: &mut Progress,
) -> u8 {
    let rows = match expected::rows(expected::VERDICTS_MD) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: notes/verdicts.md: {e}");
            return 2;
        }
    };
    let mut cells = Vec::new();
    for &protocol in ProtocolName::ALL {
        for (network, fd) in expected::MATRIX {
            let m = expected::matrix_cell(protocol, args, network, fd);
            let cfg = match m.validated() {
                Ok(c) => c,
                Err(e) => return crate::usage_error(&e),
            };
            let row: Option<&Row> = rows.iter().find(|r| r.protocol == protocol && r.cfg == cfg);
            if let Some(r) = row.filter(|r| !long && r.unique_states > expected::LONG_ROW_STATES) {
                cells.push(Cell {
                    documented: Some(r.command.clone()),
                    differences: vec![],
                    not_rerun: Some(NotRerun {
                        why: LONG,
                        protocol: protocol.name(),
                        config: cfg,
                        verdict: r.verdict,
                        unique_states: r.unique_states,
                    }),
                    report: None,
                });
                continue;
            }
            // On the duplicating networks gms1-gms3's state spaces are infinite: only a
            // violation settles them (their rows say --fail-fast; gms4's do not).
            let fail_fast = row.map_or(network.duplicates(), |r| r.fail_fast);
            let search = Search {
                fail_fast: search.fail_fast || fail_fast,
                ..search.clone()
            };
            if format == Format::Text && !quiet {
                eprintln!(
                    "checking {} network={} fd={} ...",
                    protocol.name(),
                    network.name(),
                    fd.name()
                );
            }
            let report = check::check(protocol, &cfg, &search, &mut |p| progress.update(p));
            progress.finish();
            cells.push(Cell {
                documented: row.map(|r| r.command.clone()),
                differences: row.map_or(vec![], |r| expected::differences(r, &report)),
                not_rerun: None,
                report: Some(report),
            });
            if search.interrupted() {
                break;
            }
        }
        if search.interrupted() {
            break;
        }
    }
    let cut = search.interrupted();
    match format {
        Format::Json => {
            if let Err(code) = crate::emit_json(&cells, "matrix") {
                return code;
            }
        }
        Format::Text => crate::emit(&table(&cells)),
    }
    if cut {
        eprintln!(
            "interrupted after {} of {} cells: INCONCLUSIVE (exit 3)",
            cells.len(),
            ProtocolName::ALL.len() * expected::MATRIX.len()
        );
        return 3;
    }
    if cells.iter().any(|c| !c.differences.is_empty()) {
        1
    } else if cells
        .iter()
        .any(|c| c.documented.is_none() || inconclusive(c))
    {
        3
    } else {
        0
    }
}

fn table(cells: &[Cell]) -> String {
    let width = ProtocolName::ALL
        .iter()
        .map(|p| p.name().len())
        .max()
        .unwrap_or(8)
        .max(8);
    let mut s = String::new();
    s.push_str(&format!(
        "{:<width$} {:<12} {:<11} {:<13} {:<9} {:>10} {:>8}  {}\n",
        "protocol",
        "network",
        "fd",
        "verdict",
        "explored",
        "unique",
        "seconds",
        "claimed properties violated"
    ));
    for c in cells {
        let Some(r) = &c.report else {
            if let (Some(n), Some(command)) = (&c.not_rerun, &c.documented) {
                s.push_str(&format!(
                    "{:<width$} {:<12} {:<11} {:<13} {:<9} {:>10} {:>8}  -   (long row, not \
                     re-run: groupy check {command})\n",
                    n.protocol,
                    n.config.network.name(),
                    n.config.detector.name(),
                    render::verdict_word(n.verdict),
                    "not run",
                    render::group(n.unique_states),
                    "-",
                ));
            }
            continue;
        };
        let (claimed, _) = expected::violated(r);
        let budget = match (r.config.detector, r.config.false_suspicions) {
            (Detector::Unreliable, Some(k)) => format!(" (--false-suspicions {k})"),
            _ => String::new(),
        };
        let note = match (&c.documented, c.differences.is_empty()) {
            (None, _) => "   (no row in notes/verdicts.md)".to_string(),
            (Some(_), true) => String::new(),
            (Some(_), false) => format!("   <-- differs: {}", c.differences.join("; ")),
        };
        s.push_str(&format!(
            "{:<width$} {:<12} {:<11} {:<13} {:<9} {:>10} {:>8.2}  {}{budget}{}\n",
            r.protocol,
            r.config.network.name(),
            r.config.detector.name(),
            render::verdict_word(r.verdict),
            if r.complete { "all" } else { "stopped" },
            render::group(r.unique_states),
            r.seconds,
            if claimed.is_empty() {
                "-".to_string()
            } else {
                claimed.join(", ")
            },
            note
        ));
    }
    let documented = cells.iter().filter(|c| c.documented.is_some()).count();
    let bad = cells.iter().filter(|c| !c.differences.is_empty()).count();
    let undecided = cells.iter().filter(|c| inconclusive(c)).count();
    let shown = cells.iter().filter(|c| c.not_rerun.is_some()).count();
    s.push('\n');
    if documented == 0 {
        s.push_str(
            "no cell at these bounds is documented in notes/verdicts.md: nothing compared\n",
        );
    } else if bad == 0 && undecided > 0 {
        s.push_str(&format!(
            "{undecided} of {} cells INCONCLUSIVE (cut short: their verdicts could not be \
             compared); no cell contradicts notes/verdicts.md\n",
            cells.len()
        ));
    } else if bad == 0 {
        s.push_str(&format!(
            "{documented} of {} cells documented in notes/verdicts.md; every one matches \
             (verdict, violated properties, unique states)\n",
            cells.len()
        ));
    } else {
        s.push_str(&format!(
            "{bad} of {documented} documented cells differ from notes/verdicts.md\n"
        ));
    }
    if shown > 0 {
        s.push_str(&format!(
            "{shown} cells are long rows, shown as notes/verdicts.md documents them and not \
             re-run (minutes each); `groupy check --long` re-runs them too\n"
        ));
    }
    s.push_str(
        "explored: all = complete exploration; stopped = halted at the first claimed violation \
         (the violated list is then what was found first)\n",
    );
    s.push_str("Details of any cell: groupy check <protocol> --network <network> --fd <fd>\n");
    s
}

fn inconclusive(c: &Cell) -> bool {
    c.report
        .as_ref()
        .is_some_and(|r| r.verdict == Verdict::Inconclusive)
}
