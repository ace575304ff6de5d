//! The verdict table of `notes/verdicts.md`, reproduced row by row, and the counterexamples
//! whose shape matters, checked step by step.
//!
//! The table is the one source of expected verdicts (the matrix reads it too). A change that
//! moves a row fails `every_row_of_the_verdict_table_reproduces` with the differences; after
//! reading the counterexample, regenerate the table from fresh runs with
//! `UPDATE_VERDICTS=1 cargo test -p groupy-checks --test verdicts every_row` and say why in the
//! commit message. `VERDICT_ROWS='<command>;<command>'` limits a run to those rows (commands
//! as in the table, without `groupy check`; the others are kept as documented): one long row
//! can be regenerated without the hour-long ones.

/// As the `groupy` binary runs the checker (see Cargo.toml).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use groupy_checks::{final_state, run, statuses, wrong_suspicions, MAX_STATES};
use groupy_model::check::{self, Search, Status, Verdict};
use groupy_model::config::Named;
use groupy_model::expected::{self, Row};
use groupy_model::gms2::Gms2;
use groupy_model::gms3::{Gms3, Gms3Greedy};
use groupy_model::group::{GroupTimer, Member, TimerKind};
use groupy_model::model::is_quiescent;
use groupy_model::properties::*;
use groupy_model::trace::Act;
use groupy_model::witness;
use groupy_model::{memory, Config, Detector, GroupModel, JoinVia, Senders};
use stateright::actor::ActorModelAction;

use std::path::PathBuf;

fn notes() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../notes/verdicts.md")
}

#[test]
fn every_row_of_the_verdict_table_reproduces() {
    reproduce_rows(false);
}

/// The long rows (gms4 at (3,3,2) on the unordered networks and the like): minutes each,
/// about two hours for all of them on one thread.
/// `cargo test --release -p groupy-checks --test verdicts every_long_row -- --ignored`
#[test]
#[ignore]
fn every_long_row_of_the_verdict_table_reproduces() {
    reproduce_rows(true);
}

fn reproduce_rows(long: bool) {
    let path = notes();
    let md = std::fs::read_to_string(&path).expect("notes/verdicts.md is readable");
    let rows: Vec<Row> = expected::rows(&md).expect("the verdict table parses");
    let mut table = String::from(expected::HEADER);
    let mut failures = Vec::new();
    let only = std::env::var("VERDICT_ROWS").ok();
    for (row, line) in rows.iter().zip(expected::row_lines(&md)) {
        let chosen = only
            .as_deref()
            .is_none_or(|list| list.split(';').any(|c| c.trim() == row.command));
        if (row.unique_states > expected::LONG_ROW_STATES) != long || !chosen {
            table.push_str(line);
            table.push('\n');
            continue;
        }
        let search = Search {
            max_states: if long { None } else { Some(MAX_STATES) },
            // A long row stops (inconclusive, saying so) before it runs out of memory.
            memory: long.then(|| memory::Guard::new(None, || None)),
            fail_fast: row.fail_fast,
            ..Search::default()
        };
        // Long rows take minutes: say which one is running (`--nocapture` shows it).
        if long {
            eprintln!("groupy check {}", row.command);
        }
        let mut shown = 0;
        let r = check::check(row.protocol, &row.cfg, &search, &mut |p| {
            if long && p.elapsed.as_secs() >= shown + 30 {
                shown = p.elapsed.as_secs();
                eprintln!("  {} unique states, {shown} s", p.unique_states);
            }
        });
        // Guard against silent incompleteness: only a fail-fast row may stop early, and only
        // at a violation.
        let stopped_at_violation = row.fail_fast && r.verdict == Verdict::Violated;
        if !(r.complete || stopped_at_violation) {
            failures.push(format!("{}: cut short: {:?}", row.command, r.cut_short));
        }
        for d in expected::differences(row, &r) {
            failures.push(format!("{}: {d}", row.command));
        }
        table.push_str(&expected::table_line(&row.command, &r));
    }
    if std::env::var_os("UPDATE_VERDICTS").is_some() {
        let updated = expected::replace_table(&md, &table).expect("markers present");
        std::fs::write(&path, updated).expect("notes/verdicts.md is writable");
        return;
    }
    assert!(
        failures.is_empty(),
        "notes/verdicts.md is out of date:\n  {}\nRegenerate with UPDATE_VERDICTS=1 once the \
         change is understood.",
        failures.join("\n  ")
    );
}

#[test]
fn the_matrix_cells_are_all_documented() {
    let rows = expected::rows(expected::VERDICTS_MD).expect("the table parses");
    for &p in groupy_model::ProtocolName::ALL {
        for (network, fd) in expected::MATRIX {
            let cell = expected::matrix_cell(p, &Config::default(), network, fd);
            let documented = rows.iter().any(|r| r.protocol == p && r.cfg == cell);
            assert!(
                documented,
                "{} on {} with {}",
                p.name(),
                network.name(),
                fd.name()
            );
        }
    }
}

fn cfg(nodes: usize, msgs: usize, joins: usize, crashes: usize) -> Config {
    Config {
        nodes,
        msgs,
        joins,
        crashes,
        ..Config::default()
    }
}

#[test]
fn gms1_leader_crash_loses_a_multicast() {
    let r = run::<groupy_model::gms1::Gms1>(cfg(3, 2, 0, 1));
    let t = r.property(VALIDITY).and_then(|p| p.counterexample.as_ref());
    let t = t.expect("validity has a counterexample");
    assert!(t
        .steps
        .iter()
        .any(|s| matches!(s.action, Act::Crash { node: 0, .. })));
}

/// gms2's shortest `agreement` counterexample (N=3 M=2 C=1), step by step: a change that
/// moves it must say why.
const GMS2_AGREEMENT_STEPS: &[&str] = &[
    "n0's application multicasts m0.0",
    "n0 continues its broadcast",
    "n0 CRASHES in the middle of a broadcast, cutting it: msg(m0.0) sent to 1/2 of [n1,n2]",
    "n1 receives msg(m0.0) from n0",
    "n1 suspects its leader n0 (crashed)",
    "n1's application multicasts m1.0",
    "n1 continues its broadcast",
    "n1 completes its broadcast",
    "n1 continues its broadcast",
    "n1 completes its broadcast",
    "n2 receives view([n1,n2]) from n1",
    "n2 receives msg(m1.0) from n1",
];

#[test]
fn gms2_crash_mid_broadcast_violates_agreement() {
    let r = run::<Gms2>(cfg(3, 2, 0, 1));
    let t = r
        .property(AGREEMENT)
        .and_then(|p| p.counterexample.as_ref());
    let t = t.expect("agreement has a counterexample");
    // The shortest counterexample: the leader crashes after sending to n1 only.
    let crash = t
        .steps
        .iter()
        .find(|s| matches!(s.action, Act::Crash { .. }))
        .expect("a crash");
    assert_eq!(crash.node, 0);
    assert!(crash.text.contains("cutting it"), "{}", crash.text);
    assert!(t.divergence.is_some());
    let steps: Vec<&str> = t.steps.iter().map(|s| s.text.as_str()).collect();
    assert_eq!(steps, GMS2_AGREEMENT_STEPS);
    assert!(t.shortest);
}

#[test]
fn gms3_greedy_resend_overtakes_the_old_leaders_message() {
    let r = run::<Gms3Greedy>(cfg(3, 2, 0, 1));
    let t = r
        .property(AGREEMENT)
        .and_then(|p| p.counterexample.as_ref());
    let t = t.expect("agreement has a counterexample");
    assert!(t.steps.iter().any(|s| matches!(
        s.action,
        Act::Receive {
            node: 2,
            from: 1,
            ..
        }
    )));
}

#[test]
fn gms3_two_crashes_violate_uniform_agreement() {
    // n0 sends m0.0 to n1 only and crashes; n1 delivers it and crashes; n2 leads alone and
    // never delivers m0.0. The prefix checks cannot see it.
    let r = run::<Gms3>(cfg(3, 2, 0, 2));
    assert_eq!(r.verdict, Verdict::Holds, "gms3 does not claim it");
    statuses(&r, &[UNIFORM_AGREEMENT], Status::Violated);
    statuses(&r, &[AGREEMENT, UNIFORM_TOTAL_ORDER], Status::Holds);
    let t = r
        .property(UNIFORM_AGREEMENT)
        .and_then(|p| p.counterexample.as_ref());
    let t = t.expect("a counterexample");
    let crashed: Vec<_> = t.nodes.iter().filter(|n| n.crashed).collect();
    assert_eq!(crashed.len(), 2, "{:?}", t.nodes);
    let survivor = t.nodes.iter().find(|n| !n.crashed).expect("a survivor");
    let lost = crashed
        .iter()
        .flat_map(|n| &n.log)
        .find(|e| !survivor.log.contains(e));
    assert!(
        lost.is_some(),
        "a crashed node delivered what the survivor never will"
    );
}

#[test]
fn gms4_keeps_uniform_agreement_where_gms3_loses_it() {
    use groupy_model::gms4::Gms4;
    // The same bounds side by side: two crashes, two or three multicasts.
    for c in [cfg(3, 2, 0, 2), cfg(3, 3, 0, 2)] {
        let gms3 = run::<Gms3>(c.clone());
        statuses(&gms3, &[UNIFORM_AGREEMENT], Status::Violated);
        let gms4 = run::<Gms4>(c.clone());
        assert!(gms4.complete, "{c}");
        groupy_checks::verdict(&gms4, Verdict::Holds);
        statuses(&gms4, &[UNIFORM_AGREEMENT, VALIDITY], Status::Holds);
    }
}

#[test]
fn gms4_unreliable_detector_counterexample_is_a_split_brain() {
    use groupy_model::gms4::Gms4;
    let cfg = Config {
        detector: Detector::Unreliable,
        ..Config::default()
    };
    let r = groupy_checks::run_until_violation::<Gms4>(cfg);
    assert_eq!(r.verdict, Verdict::Violated);
    let t = r
        .properties
        .iter()
        .find_map(|p| p.counterexample.as_ref())
        .expect("a counterexample");
    // Two live nodes each lead a group of their own.
    let leaders: Vec<_> = t
        .nodes
        .iter()
        .filter(|n| !n.crashed && n.role == groupy_model::group::Role::Leader)
        .collect();
    assert!(leaders.len() >= 2, "{:?}", t.nodes);
    assert!(
        t.steps.iter().any(|s| s.text.contains("false suspicion")),
        "the split starts with a false suspicion"
    );
}

#[test]
fn gms3_unreliable_detector_counterexample_is_a_real_split() {
    let cfg = Config {
        detector: Detector::Unreliable,
        ..Config::default()
    };
    let r = run::<Gms3>(cfg.clone());
    let t = r
        .property(CONVERGENCE)
        .and_then(|p| p.counterexample.as_ref());
    let t = t.expect("convergence has a counterexample");
    let model = GroupModel::<Gms3>::new(cfg);
    let s = final_state(&model, &t.explorer_path).expect("the trace replays");
    assert!(is_quiescent(&model, &s));
    // No suspicion of a crashed leader is pending: the state is one gms3 cannot repair.
    let mut actions = Vec::new();
    model.actor_actions(&s, &mut actions);
    for a in &actions {
        if let ActorModelAction::Timeout(id, timer) = a {
            if timer.kind() == TimerKind::Suspect {
                let leader =
                    groupy_model::group::suspected(&*s.actor_states[usize::from(*id)], timer);
                assert!(leader.is_some_and(|l| !s.crashed[usize::from(l)]), "{a:?}");
            }
        }
    }
    // Two live members disagree on their logs.
    let live: Vec<_> = (0..s.actor_states.len())
        .filter(|&i| !s.crashed[i])
        .map(|i| &s.actor_states[i].app().log)
        .collect();
    assert!(live.iter().any(|a| live.iter().any(|b| a != b)), "{live:?}");
}

#[test]
fn gms3_joiner_that_multicasts_holds() {
    // n2 joins through n1 and then multicasts; its message is delivered by everyone.
    let cfg = Config {
        senders: Senders::Slaves,
        ..cfg(2, 2, 1, 1)
    };
    let r = run::<Gms3>(cfg.clone());
    assert_eq!(r.verdict, Verdict::Holds);
    statuses(&r, &[INTEGRITY, FIFO, AGREEMENT], Status::Holds);
    let t = r
        .property(witness::ALL_DELIVERED.name)
        .and_then(|p| p.counterexample.as_ref());
    let t = t.expect("the witness has a path");
    assert!(t
        .steps
        .iter()
        .any(|s| matches!(s.action, Act::Multicast { node: 2, .. })));
    // Without crashes nothing excuses a lost multicast: the joiner's is delivered everywhere.
    let r = run::<Gms3>(Config { crashes: 0, ..cfg });
    assert_eq!(r.verdict, Verdict::Holds);
    statuses(&r, &[VALIDITY], Status::Holds);
}

#[test]
fn gms2_joiner_that_multicasts_goes_out_of_sync() {
    let cfg = Config {
        senders: Senders::Slaves,
        ..cfg(2, 2, 1, 1)
    };
    let r = run::<Gms2>(cfg);
    assert_eq!(r.verdict, Verdict::Violated);
    statuses(&r, &[INTEGRITY], Status::Holds);
}

#[test]
fn a_join_through_the_leader_completes() {
    let cfg = Config {
        join_via: JoinVia::Leader,
        ..cfg(3, 1, 1, 0)
    };
    let r = run::<Gms3>(cfg);
    assert_eq!(r.verdict, Verdict::Holds);
    statuses(&r, &[witness::JOIN_COMPLETED.name], Status::Witnessed);
}

// ---- the reductions, cross-checked (notes/reductions.md) ----

/// With and without the reductions: the same properties violated, the same witnesses
/// reached, the same quiescent outcomes. Returns the reduced run's report.
fn same_with_and_without_reductions<A: groupy_model::Protocol>(
    cfg: Config,
) -> groupy_model::check::Report {
    compare_reductions::<A>(cfg, Outcomes::Same)
}

/// What the reduced model's quiescent outcomes must be, against the unreduced model's.
#[derive(Clone, Copy, PartialEq)]
enum Outcomes {
    Same,
    /// Some of them (every reduced path is an unreduced one): for a mutant that breaks a
    /// premise of the broadcast reduction (notes/reductions.md, "What a mutant may break").
    Subset,
}

fn compare_reductions<A: groupy_model::Protocol>(
    cfg: Config,
    outcomes: Outcomes,
) -> groupy_model::check::Report {
    use groupy_checks::quiescent_outcomes;
    use groupy_model::Reduce;
    let full = Config {
        reduce: Reduce::None,
        ..cfg.clone()
    };
    let (a, b) = (run::<A>(cfg.clone()), run::<A>(full.clone()));
    assert!(a.complete && b.complete, "{cfg}");
    let statuses = |r: &groupy_model::check::Report| {
        r.properties
            .iter()
            .map(|p| (p.name, p.status))
            .collect::<Vec<_>>()
    };
    assert_eq!(statuses(&a), statuses(&b), "{} {cfg}", a.protocol);
    assert!(
        a.unique_states < b.unique_states,
        "{} {cfg}: the reductions must reduce ({} vs {})",
        a.protocol,
        a.unique_states,
        b.unique_states
    );
    let reduced = quiescent_outcomes(&GroupModel::<A>::new(cfg.clone()));
    let unreduced = quiescent_outcomes(&GroupModel::<A>::new(full));
    assert!(!reduced.is_empty(), "{cfg}: no quiescent state");
    let only = |x: &std::collections::BTreeSet<_>, y: &std::collections::BTreeSet<_>| {
        x.difference(y).take(3).cloned().collect::<Vec<_>>()
    };
    assert!(
        reduced == unreduced || (outcomes == Outcomes::Subset && reduced.is_subset(&unreduced)),
        "{} {cfg}: quiescent outcomes differ; only reduced (first 3): {:?}; only unreduced: {:?}",
        a.protocol,
        only(&reduced, &unreduced),
        only(&unreduced, &reduced)
    );
    a
}

fn cross_check_configs() -> Vec<Config> {
    let mut v = Vec::new();
    for crash_at in [groupy_model::CrashAt::Any, groupy_model::CrashAt::Bcast] {
        for c in [
            cfg(3, 2, 0, 1),
            cfg(3, 1, 1, 1),
            cfg(3, 2, 0, 2),
            cfg(2, 3, 0, 1),
        ] {
            v.push(Config { crash_at, ..c });
        }
    }
    v.push(Config {
        network: groupy_model::NetworkKind::Unordered,
        ..cfg(3, 2, 0, 1)
    });
    v.push(Config {
        network: groupy_model::NetworkKind::Lossy,
        ..cfg(3, 2, 0, 1)
    });
    v.push(Config {
        detector: Detector::Unreliable,
        ..cfg(3, 2, 0, 1)
    });
    v.push(Config {
        senders: Senders::Slaves,
        ..cfg(2, 2, 1, 1)
    });
    v.push(cfg(3, 2, 1, 1));
    v.push(Config {
        join_via: JoinVia::Leader,
        ..cfg(3, 1, 1, 1)
    });
    v.push(Config {
        network: groupy_model::NetworkKind::Unordered,
        ..cfg(3, 1, 1, 1)
    });
    v
}

#[test]
fn reductions_keep_every_verdict_witness_and_outcome() {
    use groupy_model::gms1::Gms1;
    use groupy_model::gms3::Gms3Selective;
    for c in cross_check_configs() {
        same_with_and_without_reductions::<Gms1>(Config {
            crashes: 0,
            ..c.clone()
        });
        same_with_and_without_reductions::<Gms2>(c.clone());
        same_with_and_without_reductions::<Gms3>(c.clone());
        same_with_and_without_reductions::<Gms3Selective>(c.clone());
        same_with_and_without_reductions::<Gms3Greedy>(c);
    }
}

/// gms3 claims its slaves' deliveries from their leader independent
/// (`Protocol::takes_independently`): cross-checked where that reduction meets two crashes,
/// a join and a cut broadcast together, with a leader that has followers to spare.
#[test]
fn independent_deliveries_keep_gms3s_verdicts_and_outcomes_at_larger_bounds() {
    for crash_at in [groupy_model::CrashAt::Any, groupy_model::CrashAt::Bcast] {
        for c in [cfg(4, 2, 0, 2), cfg(3, 2, 1, 2)] {
            same_with_and_without_reductions::<Gms3>(Config { crash_at, ..c });
        }
    }
}

#[test]
fn reductions_keep_gms4s_verdicts_witnesses_and_outcomes() {
    use groupy_model::gms4::Gms4;
    use groupy_model::NetworkKind;
    // Without reductions the duplicating networks remember the last message delivered, which
    // multiplies their states: they get the smallest configurations.
    // (3,1,C=2): a slave's crash during a broadcast, then the leader's (notes/reductions.md,
    // "A leader that batches").
    let ordered = [
        cfg(3, 1, 0, 1),
        cfg(2, 2, 0, 1),
        cfg(2, 1, 1, 0),
        cfg(3, 1, 0, 2),
    ];
    let unordered = [cfg(3, 1, 0, 1), cfg(2, 1, 1, 0)];
    let copies = [cfg(2, 1, 0, 1)];
    for (network, configs) in [
        (NetworkKind::Ordered, &ordered[..]),
        (NetworkKind::Unordered, &unordered[..]),
        (NetworkKind::Lossy, &unordered[..]),
        (NetworkKind::Duplicating, &copies[..]),
        (NetworkKind::Udp, &copies[..]),
    ] {
        for c in configs {
            let losses = network.loses().then_some(1);
            same_with_and_without_reductions::<Gms4>(Config {
                network,
                losses,
                ..c.clone()
            });
        }
    }
}

/// gms5 declares replies to a reign it has moved past inert (`Protocol::inert`,
/// notes/reductions.md, 8), and its leader must take a message mid-broadcast as it would
/// just after (2): cross-checked where reigns change, by wrong suspicions (one and two) and
/// by a crash, on the networks that reorder, lose and copy (udp is both of the last two:
/// 50 s unreduced even at N=2, left to the two). The lossy row is where the broadcast
/// reduction hid a stalled log (`SuspicionForgetsAcks`, checks/tests/mutants.rs); the
/// duplicating row, where a copy of an inert reply sent again once made a livelock that
/// was not one (quiescence must judge a step as the reduced model takes it).
#[test]
fn reductions_keep_gms5s_verdicts_witnesses_and_outcomes() {
    use groupy_model::gms5::Gms5;
    use groupy_model::NetworkKind;
    let on = |network: NetworkKind, c: Config| Config {
        network,
        losses: network.loses().then_some(1),
        ..c
    };
    for c in [
        wrong_suspicions(1, cfg(3, 0, 0, 0)),
        wrong_suspicions(1, cfg(2, 1, 0, 1)),
        wrong_suspicions(2, cfg(2, 1, 0, 0)),
        cfg(3, 1, 0, 1),
        // A joiner named by a view its leader died proposing answers the next candidate.
        cfg(2, 0, 1, 1),
        on(NetworkKind::Unordered, wrong_suspicions(1, cfg(2, 1, 0, 0))),
        on(NetworkKind::Lossy, wrong_suspicions(1, cfg(2, 1, 0, 0))),
        on(
            NetworkKind::Duplicating,
            wrong_suspicions(1, cfg(2, 0, 0, 0)),
        ),
    ] {
        same_with_and_without_reductions::<Gms5>(c);
    }
}

/// Whether `mutant` changes gms3 (gms3's own, and the two every protocol shares). The match has
/// no wildcard, so a new mutant must say.
fn changes_gms3(mutant: groupy_model::Mutant) -> bool {
    use groupy_model::Mutant::*;
    match mutant {
        NoResend | NoDuplicateDiscard | ViewWithoutLeader | ViewNotSentToJoiner | OffByOneSeq
        | LifoRequests => true,
        NoHoldBack | NoViewSync | NoRetransmission | NoRetry | EarlyDelivery | NoEpochCheck
        | NoSenderOrder => false,
        MinorityLeader | MinorityStable | NoFencing | OwnLog | RestartAsMember | NewViewQuorum
        | ViewsLast | ForgetRemoved | SuspicionForgetsAcks | SilentJoiner | EarlierReignByCount
        | StaleViewQuorum => false,
    }
}

/// Where each mutant that changes gms4 breaks it (checks/tests/mutants.rs has the same
/// bounds or larger ones): at bounds where a mutant holds, the cross-check compares two
/// passing runs and shows little. The match has no wildcard, so a new mutant must say where.
fn gms4_mutant_configs(mutant: groupy_model::Mutant) -> Vec<Config> {
    use groupy_model::Mutant::*;
    use groupy_model::NetworkKind::{Lossy, Unordered};
    let lossy = |c: Config| Config {
        network: Lossy,
        losses: Some(1),
        ..c
    };
    match mutant {
        // gms3's own; the shared two are cross-checked on gms3, where mutants.rs catches them.
        NoResend | NoDuplicateDiscard | ViewWithoutLeader | ViewNotSentToJoiner | OffByOneSeq
        | LifoRequests => vec![],
        // gms5's own (checks/tests/mutants.rs).
        MinorityLeader | MinorityStable | NoFencing | OwnLog | RestartAsMember | NewViewQuorum
        | ViewsLast | ForgetRemoved | SuspicionForgetsAcks | SilentJoiner | EarlierReignByCount
        | StaleViewQuorum => {
            vec![]
        }
        NoHoldBack | NoViewSync => vec![cfg(2, 2, 0, 1), cfg(3, 1, 0, 1)],
        NoRetransmission => vec![cfg(3, 2, 0, 1)],
        // A retry matters only where a multicast can be lost: with a loss, or with a slave
        // sending to a leader that dies. (Where copies linger, at (3,2,C=1) with slaves as
        // senders, the unreduced space exceeds 10 M states: not cross-checked.)
        NoRetry => vec![
            lossy(cfg(2, 2, 0, 1)),
            Config {
                senders: Senders::Slaves,
                ..lossy(cfg(2, 1, 0, 0))
            },
        ],
        EarlyDelivery | NoEpochCheck => vec![cfg(3, 1, 0, 2)],
        NoSenderOrder => vec![Config {
            network: Unordered,
            senders: Senders::Slaves,
            ..cfg(2, 2, 0, 0)
        }],
    }
}

#[test]
fn reductions_keep_gms4_mutants_violations_and_outcomes() {
    for mutant in groupy_model::Mutant::ALL {
        // These two change a slave's log as a proposal arrives, which the broadcast
        // reduction assumes no slave does (notes/reductions.md, "What a mutant may break"):
        // their verdicts must agree, their outcomes need not all be reached.
        let outcomes = match mutant {
            groupy_model::Mutant::NoHoldBack | groupy_model::Mutant::EarlyDelivery => {
                Outcomes::Subset
            }
            _ => Outcomes::Same,
        };
        for c in gms4_mutant_configs(mutant) {
            let r = compare_reductions::<groupy_model::gms4::Gms4>(
                c.clone().with_mutant(mutant),
                outcomes,
            );
            assert_eq!(
                r.verdict,
                Verdict::Violated,
                "{mutant:?} must break gms4 at {c}"
            );
        }
    }
}

#[test]
fn reductions_keep_gms3_mutants_verdicts_and_outcomes() {
    // Only the mutants that change gms3: the others would compare gms3 with itself.
    for mutant in groupy_model::Mutant::ALL {
        if !changes_gms3(mutant) {
            continue;
        }
        // (3,1,J=1,C=2): a re-delivered duplicate view (NoDuplicateDiscard) makes a joiner
        // follow a node whose view it held back; found by review, fixed in gms3's mailbox.
        for c in [
            cfg(3, 2, 0, 1),
            cfg(3, 1, 1, 1),
            cfg(2, 3, 0, 0),
            cfg(3, 1, 1, 2),
        ] {
            same_with_and_without_reductions::<Gms3>(c.with_mutant(mutant));
        }
    }
}

/// The livelock check against a search from every state: where it finds none, every state
/// reaches quiescence by protocol steps, and it visited them all; where it finds one, some
/// state does not, and its lasso starts at one.
#[test]
fn the_livelock_check_matches_a_search_from_every_state() {
    use groupy_checks::{all_states, reaches_quiescence};
    use groupy_model::gms4::{Gms4, Gms4NaiveJoin};
    use groupy_model::livelock::{self, Outcome};
    use groupy_model::NetworkKind;
    use stateright::Model;
    fn same<A: groupy_model::Protocol>(cfg: Config, livelocked: bool) {
        let m = GroupModel::<A>::new(cfg.clone());
        let states = all_states(&m, usize::MAX);
        let mut good = std::collections::HashSet::new();
        let stuck = states
            .iter()
            .filter(|s| !reaches_quiescence(&m, s, &mut good))
            .count();
        assert_eq!(
            stuck > 0,
            livelocked,
            "{cfg}: {stuck} states cannot reach quiescence"
        );
        match livelock::check(&m, None) {
            Outcome::Free { states: n } => {
                assert_eq!(stuck, 0, "{cfg}: the check found no livelock");
                assert_eq!(n, states.len(), "{cfg}");
            }
            Outcome::Livelock { stem, cycle, .. } => {
                assert!(
                    stuck > 0,
                    "{cfg}: the check found a livelock where there is none"
                );
                let mut s = m.init_states().remove(0);
                for a in &stem {
                    s = m.next_state(&s, a.clone()).expect("the stem replays");
                }
                assert!(!reaches_quiescence(&m, &s, &mut good), "{cfg}: {stem:?}");
                let start = s.clone();
                for a in &cycle {
                    assert!(!livelock::is_fault(&s, a), "{cfg}: a fault in the cycle");
                    s = m.next_state(&s, a.clone()).expect("the cycle replays");
                }
                assert!(
                    cycle.is_empty() || s == start,
                    "{cfg}: the cycle does not close"
                );
            }
            Outcome::NotRun(why) => panic!("{cfg}: {why}"),
        }
    }
    let lossy = |nodes, msgs, joins, crashes| Config {
        network: NetworkKind::Lossy,
        losses: Some(1),
        ..cfg(nodes, msgs, joins, crashes)
    };
    same::<Gms4NaiveJoin>(lossy(2, 0, 1, 1), true);
    same::<Gms4>(lossy(2, 0, 1, 1), false);
    same::<Gms4>(
        Config {
            network: NetworkKind::Udp,
            ..lossy(2, 1, 0, 1)
        },
        false,
    );
}

#[test]
fn quiescence_read_off_the_state_matches_its_definition() {
    use groupy_checks::{all_states, quiescent_by_actions};
    use groupy_model::{NetworkKind, Reduce};
    fn same<A: groupy_model::Protocol>(cfg: Config) {
        let m = GroupModel::<A>::new(cfg.clone());
        // The duplicating network's space is infinite: its first states are compared.
        let states = all_states(&m, 15_000);
        let quiescent = states.iter().filter(|s| is_quiescent(&m, s)).count();
        assert!(quiescent > 0 || cfg.network.duplicates(), "{cfg}");
        for s in &states {
            assert_eq!(
                is_quiescent(&m, s),
                quiescent_by_actions(&m, s),
                "{cfg}: {s:?}"
            );
        }
    }
    for reduce in [Reduce::All, Reduce::None] {
        for network in [
            NetworkKind::Ordered,
            NetworkKind::Unordered,
            NetworkKind::Lossy,
            NetworkKind::Duplicating,
            NetworkKind::Udp,
        ] {
            for detector in [Detector::Perfect, Detector::Unreliable] {
                let c = Config {
                    reduce,
                    network,
                    detector,
                    ..cfg(3, 2, 0, 1)
                };
                same::<Gms2>(c.clone());
                same::<Gms3>(c.clone());
                same::<groupy_model::gms3::Gms3Selective>(Config {
                    joins: 1,
                    msgs: 1,
                    ..c.clone()
                });
                same::<groupy_model::gms4::Gms4>(Config {
                    losses: c.network.loses().then_some(1),
                    nodes: 2,
                    msgs: 1,
                    ..c.clone()
                });
                // A restart: the new life's join, the old life's retirement.
                same::<groupy_model::gms5::Gms5>(Config {
                    losses: c.network.loses().then_some(1),
                    false_suspicions: (detector == Detector::Unreliable).then_some(1),
                    nodes: 2,
                    msgs: 1,
                    restarts: 1,
                    ..c.clone()
                });
                // A joiner (and a crash): redirects and joins to crashed nodes.
                same::<groupy_model::gms4::Gms4>(Config {
                    losses: c.network.loses().then_some(1),
                    nodes: 2,
                    msgs: 0,
                    joins: 1,
                    ..c
                });
            }
        }
    }
}

/// Restarts change the model, not only the protocol (a new life's start, the history of past
/// lives, the mail of the dead): the reductions must keep every verdict and outcome there.
/// At N=2 the restarted node never gets back in (retiring its old life needs both members
/// of the view: primary partition), at N=3 it does.
#[test]
fn reductions_keep_gms5_verdicts_with_restarts() {
    for (c, rejoins) in [(cfg(2, 2, 0, 1), false), (cfg(3, 0, 0, 1), true)] {
        let r = same_with_and_without_reductions::<groupy_model::gms5::Gms5>(Config {
            restarts: 1,
            ..c
        });
        let back = r
            .property(witness::RESTARTED_AND_REJOINED.name)
            .map(|p| p.status);
        let expected = if rejoins {
            Status::Witnessed
        } else {
            Status::Unwitnessed
        };
        assert_eq!(back, Some(expected));
    }
}

/// Where liveness is claimed, `groupy check` searches in the livelock check's walk ("One
/// walk", notes/semantics.md): against stateright's own search (breadth first), the same
/// unique states, quiescent states judged, property by property the same status, and the
/// same livelock verdict, with and without a livelock and with and without a violation.
#[test]
fn one_walk_judges_every_state_as_stateright_does() {
    use groupy_model::check::Strategy;
    use groupy_model::NetworkKind;
    let lossy = |c: Config| Config {
        network: NetworkKind::Lossy,
        losses: Some(1),
        ..c
    };
    let rows = [
        ("gms4", lossy(cfg(3, 1, 0, 1))),
        (
            "gms4",
            Config {
                network: NetworkKind::Udp,
                ..lossy(cfg(2, 1, 0, 1))
            },
        ),
        // A livelock and violations: a wrong suspicion splits gms4.
        (
            "gms4",
            Config {
                detector: Detector::Unreliable,
                false_suspicions: Some(1),
                ..cfg(3, 1, 0, 0)
            },
        ),
        // A livelock alone: the naive joiner is stranded.
        ("gms4-naive-join", lossy(cfg(2, 0, 1, 1))),
        ("gms5", lossy(cfg(3, 1, 0, 1))),
    ];
    for (name, c) in rows {
        let protocol = name.parse().expect("a protocol");
        let walked = check::check(protocol, &c, &Search::default(), &mut |_| {});
        let bfs = Search {
            strategy: Strategy::Bfs,
            ..Search::default()
        };
        let searched = check::check(protocol, &c, &bfs, &mut |_| {});
        assert!(walked.complete && searched.complete, "{name} {c}");
        assert_eq!(walked.unique_states, searched.unique_states, "{name} {c}");
        assert_eq!(
            walked.quiescent_states, searched.quiescent_states,
            "{name} {c}"
        );
        assert_eq!(walked.verdict, searched.verdict, "{name} {c}");
        let each = |r: &check::Report| -> Vec<_> {
            r.properties.iter().map(|p| (p.name, p.status)).collect()
        };
        assert_eq!(each(&walked), each(&searched), "{name} {c}");
        assert!(walked.livelock.starts_with("ran on"), "{name} {c}");
        // The state cap counts expansions: the walk's replays (states set aside, paths to
        // discoveries) are none, so a cap of exactly the space completes, one less does not.
        let capped = |cap| Search {
            max_states: Some(cap),
            ..Search::default()
        };
        let exact = check::check(protocol, &c, &capped(walked.unique_states), &mut |_| {});
        assert!(exact.complete, "{name} {c}: {:?}", exact.cut_short);
        let short = check::check(protocol, &c, &capped(walked.unique_states - 1), &mut |_| {});
        assert!(!short.complete, "{name} {c}");
        assert_eq!(walked.livelock, searched.livelock, "{name} {c}");
    }
}
