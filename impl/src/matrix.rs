//! `groupy check` without a protocol: every protocol under each environment, as a table.
//!
//! Each cell carries the verdict `notes/verdicts.md` documents for it; the command exits 0
//! when every cell agrees with the documentation, 1 when one does not (a protocol or model
//! change moved a verdict: read the counterexample, then fix the code or the notes), and 3
//! when a cell could not be decided or the bounds are not the documented defaults.

use crate::render::{self, Progress};
use crate::{Format, ModelArgs};
use groupy_model::check::{self, ProtocolName, Report, Search, Status, Verdict};
use groupy_model::{Detector, NetworkKind};
use serde::Serialize;

/// The environments of the matrix, the assignment's world first.
pub const ENVIRONMENTS: [(NetworkKind, Detector); 5] = [
    (NetworkKind::Ordered, Detector::Perfect),
    (NetworkKind::Ordered, Detector::Unreliable),
    (NetworkKind::Unordered, Detector::Perfect),
    (NetworkKind::Lossy, Detector::Perfect),
    (NetworkKind::Duplicating, Detector::Perfect),
];

/// The documented verdict of a cell at the default bounds (N=3, M=2, J=0, C=1, crash-at=any).
pub fn documented(p: ProtocolName, network: NetworkKind, fd: Detector) -> Verdict {
    match (p, network, fd) {
        (
            ProtocolName::Gms3 | ProtocolName::Gms3Selective,
            NetworkKind::Ordered,
            Detector::Perfect,
        ) => Verdict::Holds,
        // The selective receive is a hold-back queue: reordering alone cannot break it.
        (ProtocolName::Gms3Selective, NetworkKind::Unordered, Detector::Perfect) => Verdict::Holds,
        _ => Verdict::Violated,
    }
}

#[derive(Serialize)]
struct Cell {
    documented: Verdict,
    matches: bool,
    #[serde(flatten)]
    report: Report,
}

pub fn run(
    args: &ModelArgs,
    search: &Search,
    format: Format,
    quiet: bool,
    progress: &mut Progress,
) -> u8 {
    // A cell's verdict is settled by its first claimed violation; some cells (duplicating
    // network) have infinite state spaces and would otherwise run into the state cap.
    let search = &Search {
        fail_fast: true,
        ..search.clone()
    };
    let defaults = args.nodes == 3
        && args.msgs == 2
        && args.joins == 0
        && args.crashes == 1
        && args.crash_at == groupy_model::CrashAt::Any;
    let mut cells = Vec::new();
    for protocol in ProtocolName::ALL {
        for (network, fd) in ENVIRONMENTS {
            let mut m = args.clone();
            m.network = network;
            m.fd = fd;
            let cfg = match m.config() {
                Ok(c) => c,
                Err(e) => return crate::usage_error(&e),
            };
            if format == Format::Text && !quiet {
                eprintln!(
                    "checking {} network={} fd={} ...",
                    protocol.name(),
                    network.name(),
                    fd.name()
                );
            }
            let report = check::check(protocol, &cfg, search, &mut |p| progress.update(p));
            progress.finish();
            let documented = documented(protocol, network, fd);
            cells.push(Cell {
                documented,
                matches: !defaults || report.verdict == documented,
                report,
            });
        }
    }
    match format {
        Format::Json => match serde_json::to_string_pretty(&cells) {
            Ok(s) => crate::emit(&format!("{s}\n")),
            Err(e) => {
                eprintln!("error: cannot encode the matrix: {e}");
                return 2;
            }
        },
        Format::Text => crate::emit(&table(&cells, defaults)),
    }
    if cells.iter().any(|c| !c.matches) {
        1
    } else if cells
        .iter()
        .any(|c| c.report.verdict == Verdict::Inconclusive)
    {
        3
    } else {
        0
    }
}

use groupy_model::config::Named;

fn table(cells: &[Cell], defaults: bool) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "{:<13} {:<12} {:<11} {:<13} {:<9} {:>10} {:>8}  {}\n",
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
        let r = &c.report;
        let violated: Vec<_> = r
            .properties
            .iter()
            .filter(|p| p.claimed && p.status == Status::Violated)
            .map(|p| p.name)
            .collect();
        s.push_str(&format!(
            "{:<13} {:<12} {:<11} {:<13} {:<9} {:>10} {:>8.2}  {}{}\n",
            r.protocol,
            r.config.network.name(),
            r.config.detector.name(),
            render::verdict_word(r.verdict),
            if r.complete { "all" } else { "stopped" },
            render::group(r.unique_states),
            r.seconds,
            if violated.is_empty() {
                "-".to_string()
            } else {
                violated.join(", ")
            },
            if c.matches {
                ""
            } else {
                "   <-- differs from notes/verdicts.md"
            }
        ));
    }
    if defaults {
        let bad = cells.iter().filter(|c| !c.matches).count();
        if bad == 0 {
            s.push_str("\nevery verdict matches notes/verdicts.md\n");
        } else {
            s.push_str(&format!(
                "\n{bad} verdict(s) differ from notes/verdicts.md\n"
            ));
        }
    } else {
        s.push_str("\n(non-default bounds: verdicts are not compared with notes/verdicts.md)\n");
    }
    s.push_str(
        "explored: all = complete exploration; stopped = halted at the first claimed violation \
         (the violated list is then what was found first)\n",
    );
    s.push_str("Details of any cell: groupy check <protocol> --network <network> --fd <fd>\n");
    s
}
