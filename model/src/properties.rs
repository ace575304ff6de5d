//! The guarantees of atomic multicast as functions over delivery logs ([`NodeLog`]), named as
//! in the literature (Hadzilacos & Toueg; Chockler, Keidar & Vitenberg). The `Sometimes`
//! witnesses the model checks are in [`crate::witness`].
//!
//! Each property is a plain function from the logs of every node to a verdict, so the very
//! same code judges a model state and the log files of a live run. *When* a property is judged
//! ([`When`]) is part of its definition: a state property holds at every moment; "at
//! quiescence" ones compare what nodes *ended* with, which prefix checks cannot (they cannot
//! tell "not yet" from "never"); "eventually" ones must hold by the end of every run. The
//! checker decides what "quiescent" and "the end of a run" mean for a model state
//! (`model.rs`); a live run is judged after it has drained.

use crate::app::Payload;
use crate::log::NodeLog;
use stateright::actor::Id;
use std::collections::{HashMap, HashSet};

pub const AGREEMENT: &str = "agreement";
pub const UNIFORM_TOTAL_ORDER: &str = "uniform_total_order";
pub const UNIFORM_AGREEMENT: &str = "uniform_agreement";
pub const NO_DUPLICATION: &str = "no_duplication";
pub const INTEGRITY: &str = "integrity";
pub const FIFO: &str = "fifo";
pub const VIEW_AGREEMENT: &str = "view_agreement";
pub const PRIMARY_VIEWS: &str = "primary_views";
pub const SAME_VIEW_DELIVERY: &str = "same_view_delivery";
pub const VIRTUAL_SYNCHRONY: &str = "virtual_synchrony";
pub const CONVERGENCE: &str = "convergence";
pub const VALIDITY: &str = "validity";
/// Not a property of logs but of the state graph: the livelock check ([`crate::livelock`]),
/// run where a protocol claims liveness.
pub const PROGRESS: &str = "progress";
const PROGRESS_DESCRIPTION: &str = "from every reachable state, the protocol's own steps (no \
    crash, loss or false suspicion) can reach a quiescent state: no livelock";

/// When a property over logs is judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum When {
    /// In every state (safety).
    Always,
    /// In every state where nothing but crashes and false suspicions can happen any more.
    AtQuiescence,
    /// By the end of every run (liveness).
    Eventually,
}

impl When {
    /// How reports name it.
    pub fn name(self) -> &'static str {
        match self {
            When::Always => "always",
            When::AtQuiescence => "at quiescence",
            When::Eventually => "eventually",
        }
    }
}

/// A property over the delivery logs of all nodes.
pub struct LogProperty {
    pub name: &'static str,
    pub when: When,
    pub holds: fn(&[NodeLog]) -> bool,
    pub description: &'static str,
    /// Judged only for protocols that claim it: it reads a record that only they keep
    /// ([`NodeLog::accepted`]), and elsewhere it would fail for want of the record, which
    /// says nothing about the protocol.
    pub only_where_claimed: bool,
}

impl LogProperty {
    /// Whether it is judged for a protocol with these claims.
    pub fn judged_for(&self, claims: &[&str]) -> bool {
        !self.only_where_claimed || claims.contains(&self.name)
    }
}

/// Every property, in report order.
pub const PROPERTIES: [LogProperty; 12] = [
    LogProperty {
        name: AGREEMENT,
        when: When::Always,
        holds: agreement,
        description:
            "the delivery sequences of any two nodes that have not crashed are prefix-related",
        only_where_claimed: false,
    },
    LogProperty {
        name: UNIFORM_TOTAL_ORDER,
        when: When::Always,
        holds: uniform_total_order,
        description: "the same, counting what crashed nodes delivered before crashing",
        only_where_claimed: false,
    },
    LogProperty {
        name: NO_DUPLICATION,
        when: When::Always,
        holds: no_duplication,
        description: "no node delivers the same message twice",
        only_where_claimed: false,
    },
    LogProperty {
        name: INTEGRITY,
        when: When::Always,
        holds: integrity,
        description: "every delivered message was multicast by some node's application, unaltered",
        only_where_claimed: false,
    },
    LogProperty {
        name: FIFO,
        when: When::Always,
        holds: fifo,
        description: "no node delivers a sender's message after a later message of that sender",
        only_where_claimed: false,
    },
    LogProperty {
        name: VIEW_AGREEMENT,
        when: When::Always,
        holds: view_agreement,
        description: "the view sequences of any two nodes that have not crashed are prefix-related",
        only_where_claimed: false,
    },
    LogProperty {
        name: PRIMARY_VIEWS,
        when: When::Always,
        holds: primary_views,
        description: "the views installed form one history (crashed nodes' included), and each \
                      was held by a majority of the view before it before anyone installed it",
        only_where_claimed: true,
    },
    LogProperty {
        name: SAME_VIEW_DELIVERY,
        when: When::Always,
        holds: same_view_delivery,
        description: "nodes that deliver the same message deliver it in the same view",
        only_where_claimed: false,
    },
    LogProperty {
        name: VIRTUAL_SYNCHRONY,
        when: When::Always,
        holds: virtual_synchrony,
        description: "nodes that install a view and its successor deliver the same messages in \
                      it",
        only_where_claimed: false,
    },
    LogProperty {
        name: CONVERGENCE,
        when: When::AtQuiescence,
        holds: converged,
        description:
            "at quiescence the members that have not crashed have the same log, and every \
                      live node their views name is a member",
        only_where_claimed: false,
    },
    LogProperty {
        name: UNIFORM_AGREEMENT,
        when: When::AtQuiescence,
        holds: uniform_agreement,
        description:
            "at quiescence, a message delivered by any node (even one that crashed later) \
                      is delivered by every member that has not crashed",
        only_where_claimed: false,
    },
    LogProperty {
        name: VALIDITY,
        when: When::Eventually,
        holds: validity,
        description: "every node that does not crash gets into the group, and its multicasts are \
                      delivered by every member that does not crash",
        only_where_claimed: false,
    },
];

/// The property called `name`.
pub fn find(name: &str) -> Option<&'static LogProperty> {
    PROPERTIES.iter().find(|p| p.name == name)
}

/// Every property and witness name, for `--property` and `groupy list`.
pub fn all_names() -> Vec<&'static str> {
    let witnesses = crate::witness::WITNESSES.iter().map(|w| w.name);
    let logs = PROPERTIES.iter().map(|p| p.name);
    logs.chain([PROGRESS]).chain(witnesses).collect()
}

/// What a property or witness means, for `--help`, reports and notes.
pub fn describe(name: &str) -> &'static str {
    match (find(name), crate::witness::find(name)) {
        (Some(p), _) => p.description,
        (None, Some(w)) => w.description,
        (None, None) if name == PROGRESS => PROGRESS_DESCRIPTION,
        (None, None) => "",
    }
}

// The functions below run on every state the checker visits: they iterate, they do not
// allocate (logs are short, so quadratic scans beat building sets). Live runs' logs are
// long (a benchmark's hold 10^5 messages): past `LONG` events in all, the quadratic ones
// build hash sets instead, the same property computed another way (a test compares both).

/// Events in all the logs above which the quadratic properties use hash sets.
const LONG: usize = 512;

fn long(logs: &[NodeLog]) -> bool {
    logs.iter().map(|l| l.events.len()).sum::<usize>() > LONG
}

/// Whether every live member delivered a message: by scanning their logs, or (the long logs'
/// way) by looking it up in a set of each member's deliveries, built once.
fn delivered_by_every_member<'a>(
    logs: &'a [NodeLog<'a>],
    hashed: bool,
) -> impl Fn(&Payload) -> bool + 'a {
    let members = || logs.iter().filter(|l| l.live_member());
    let sets: Option<Vec<HashSet<&Payload>>> =
        hashed.then(|| members().map(|l| l.messages().collect()).collect());
    move |p| match &sets {
        Some(sets) => sets.iter().all(|delivered| delivered.contains(p)),
        None => members().all(|l| l.delivered(p)),
    }
}

/// Two sequences are prefix-related: one is a prefix of the other.
fn prefix_related<'a, T: PartialEq + 'a>(
    a: impl Iterator<Item = &'a T>,
    b: impl Iterator<Item = &'a T>,
) -> bool {
    a.zip(b).all(|(x, y)| x == y)
}

/// `ok` holds for every pair of distinct logs that `keep` selects.
fn pairwise<'a>(
    logs: &'a [NodeLog<'a>],
    keep: impl Fn(&NodeLog) -> bool,
    ok: impl Fn(&'a NodeLog<'a>, &'a NodeLog<'a>) -> bool,
) -> bool {
    logs.iter()
        .enumerate()
        .filter(|(_, l)| keep(l))
        .all(|(i, a)| logs[i + 1..].iter().filter(|l| keep(l)).all(|b| ok(a, b)))
}

/// Any two nodes that have not crashed delivered the same messages in the same order, as far
/// as both got.
pub fn agreement(logs: &[NodeLog]) -> bool {
    pairwise(
        logs,
        |l| l.correct(),
        |a, b| prefix_related(a.messages(), b.messages()),
    )
}

/// [`agreement`] over every log, crashed nodes' included.
pub fn uniform_total_order(logs: &[NodeLog]) -> bool {
    pairwise(
        logs,
        |_| true,
        |a, b| prefix_related(a.messages(), b.messages()),
    )
}

pub fn no_duplication(logs: &[NodeLog]) -> bool {
    no_duplication_by(logs, long(logs))
}

fn no_duplication_by(logs: &[NodeLog], hashed: bool) -> bool {
    if hashed {
        return logs.iter().all(|l| {
            let mut seen = HashSet::new();
            l.messages().all(|p| seen.insert(p))
        });
    }
    logs.iter().all(|l| {
        l.messages()
            .enumerate()
            .all(|(i, p)| !l.messages().skip(i + 1).any(|q| q == p))
    })
}

/// Every delivered message is one some application multicast: same sender, position and
/// value. A joiner's multicasts count like anyone's.
pub fn integrity(logs: &[NodeLog]) -> bool {
    integrity_by(logs, long(logs))
}

fn integrity_by(logs: &[NodeLog], hashed: bool) -> bool {
    if hashed {
        let issued: HashSet<&Payload> = logs.iter().flat_map(|l| l.multicast.iter()).collect();
        return logs
            .iter()
            .flat_map(|l| l.messages())
            .all(|p| issued.contains(p));
    }
    logs.iter()
        .flat_map(|l| l.messages())
        .all(|p| logs.iter().any(|l| l.multicast.contains(p)))
}

pub fn fifo(logs: &[NodeLog]) -> bool {
    fifo_by(logs, long(logs))
}

fn fifo_by(logs: &[NodeLog], hashed: bool) -> bool {
    if hashed {
        // Every pair in order is each sender's sequence numbers never decreasing.
        return logs.iter().all(|l| {
            let mut last = HashMap::new();
            l.messages().all(|p| {
                let prev = last.insert(p.from, p.seq);
                prev.is_none_or(|s| s <= p.seq)
            })
        });
    }
    logs.iter().all(|l| {
        l.messages().enumerate().all(|(i, a)| {
            l.messages()
                .skip(i + 1)
                .all(|b| a.from != b.from || a.seq <= b.seq)
        })
    })
}

pub fn view_agreement(logs: &[NodeLog]) -> bool {
    pairwise(
        logs,
        |l| l.correct(),
        |a, b| prefix_related(a.views(), b.views()),
    )
}

/// Ricciardi & Birman's primary partition over the logs: the installed views, crashed
/// nodes' included, are prefixes of one history, and the `k`-th view of it was held (in the
/// nodes' [`NodeLog::accepted`] records) by a majority of view `k - 1` (the initial view, the
/// founders, for the first) before anyone installed it. The records only grow, and the
/// property is judged in every state, so a view installed before a majority held it fails in
/// the state where it is installed. A member is counted by its id, whichever life of it holds
/// the view.
pub fn primary_views(logs: &[NodeLog]) -> bool {
    let one_history = pairwise(logs, |_| true, |a, b| prefix_related(a.views(), b.views()));
    if !one_history {
        return false;
    }
    let Some(history) = logs.iter().max_by_key(|l| l.views().count()) else {
        return true;
    };
    let held = |id: Id, number: u32, view: &Vec<Id>| {
        logs.iter().any(|l| {
            l.node == id
                && l.accepted
                    .iter()
                    .any(|a| a.number == number && a.view == *view)
        })
    };
    let majority_held = |before: &mut dyn Iterator<Item = Id>, number: u32, view: &Vec<Id>| {
        let (mut size, mut yes) = (0, 0);
        for id in before {
            size += 1;
            yes += usize::from(held(id, number, view));
        }
        yes > size / 2
    };
    let mut previous: Option<&Vec<Id>> = None;
    for (k, view) in history.views().enumerate() {
        let number = k as u32 + 1;
        let ok = match previous {
            Some(before) => majority_held(&mut before.iter().copied(), number, view),
            None => {
                let founders = logs.iter().filter(|l| l.founder).map(|l| l.node);
                majority_held(&mut founders.into_iter(), number, view)
            }
        };
        if !ok {
            return false;
        }
        previous = Some(view);
    }
    true
}

/// Each message of a log with the number of the view it was delivered in (0: the view the
/// log started in).
fn in_views<'a>(l: &'a NodeLog) -> impl Iterator<Item = (usize, &'a Payload)> + 'a {
    let mut views = 0;
    l.events.iter().filter_map(move |e| match e {
        crate::app::Event::View(_) => {
            views += 1;
            None
        }
        crate::app::Event::Deliver(p) => Some((views, p)),
    })
}

/// Chockler, Keidar & Vitenberg's same view delivery, uniform: every delivery of a message,
/// by any node (crashed ones included), is in the same view. Views are numbered by
/// their place in each log, so this reads one history of views ([`primary_views`] checks
/// that there is one).
pub fn same_view_delivery(logs: &[NodeLog]) -> bool {
    same_view_delivery_by(logs, long(logs))
}

fn same_view_delivery_by(logs: &[NodeLog], hashed: bool) -> bool {
    if hashed {
        let mut first: HashMap<&Payload, usize> = HashMap::new();
        return logs
            .iter()
            .flat_map(in_views)
            .all(|(v, p)| *first.entry(p).or_insert(v) == v);
    }
    // Every delivery (a copy in the same log included) against the message's first delivery
    // in any log: the same as comparing every pair, and it stops at the first.
    let first_view = |p: &Payload| logs.iter().flat_map(in_views).find(|(_, q)| *q == p);
    logs.iter()
        .flat_map(in_views)
        .all(|(v, p)| first_view(p).is_none_or(|(w, _)| w == v))
}

/// Chockler, Keidar & Vitenberg's virtual synchrony, uniform: two nodes (crashed ones
/// included) that install a view and its successor deliver the same messages in that view.
pub fn virtual_synchrony(logs: &[NodeLog]) -> bool {
    virtual_synchrony_by(logs, long(logs))
}

fn virtual_synchrony_by(logs: &[NodeLog], hashed: bool) -> bool {
    let views = logs.iter().map(|l| l.views().count()).max().unwrap_or(0);
    if hashed {
        return pairwise(
            logs,
            |_| true,
            |a, b| {
                (0..views).all(|k| match (segment(a, k), segment(b, k)) {
                    (Some(x), Some(y)) => {
                        x.iter().collect::<HashSet<_>>() == y.iter().collect::<HashSet<_>>()
                    }
                    _ => true,
                })
            },
        );
    }
    // Set equality is transitive: each log's set against the first log's that has one is
    // every pair compared.
    (0..views).all(|k| {
        let mut sets = logs.iter().filter_map(|l| segment(l, k));
        let first = sets.next().unwrap_or_default();
        sets.all(|s| s.iter().all(|e| first.contains(e)) && first.iter().all(|e| s.contains(e)))
    })
}

/// The messages a log delivered in its `k`-th view, if it installed both it and the next
/// (the initial view, `k = 0`, counts as installed by the founders): the slice of its log
/// between that view and the next, deliveries only.
fn segment<'a>(l: &'a NodeLog, k: usize) -> Option<&'a [crate::app::Event]> {
    if k == 0 && !l.founder {
        return None;
    }
    let mut views = (l.events.iter().enumerate())
        .filter(|(_, e)| matches!(e, crate::app::Event::View(_)))
        .map(|(i, _)| i);
    let start = match k {
        0 => 0,
        k => views.nth(k - 1)? + 1,
    };
    let end = views.next()?;
    Some(&l.events[start..end])
}

/// The group has settled: live members have identical logs, and no live node that a live
/// member's view names is still outside (a joiner everyone lists but that never installed a
/// view would otherwise pass unseen).
pub fn converged(logs: &[NodeLog]) -> bool {
    let same = pairwise(logs, |l| l.live_member(), |a, b| a.events == b.events);
    let listed_are_in = logs
        .iter()
        .filter(|m| m.live_member())
        .filter_map(|m| m.current_view())
        .flatten()
        .all(|id| {
            logs.iter()
                .filter(|l| l.node == *id && l.correct())
                .all(|l| l.member)
        });
    same && listed_are_in
}

/// Hadzilacos & Toueg's uniform agreement, on the logs a run ended with: whatever any node
/// delivered (a crashed one included), every live member delivered.
pub fn uniform_agreement(logs: &[NodeLog]) -> bool {
    uniform_agreement_by(logs, long(logs))
}

fn uniform_agreement_by(logs: &[NodeLog], hashed: bool) -> bool {
    let everywhere = delivered_by_every_member(logs, hashed);
    logs.iter().flat_map(|l| l.messages()).all(everywhere)
}

/// Every live node is in the group, and every live node's multicasts reached every live member.
pub fn validity(logs: &[NodeLog]) -> bool {
    validity_by(logs, long(logs))
}

fn validity_by(logs: &[NodeLog], hashed: bool) -> bool {
    let all_in = logs.iter().filter(|l| l.correct()).all(|l| l.member);
    let everywhere = delivered_by_every_member(logs, hashed);
    all_in
        && logs
            .iter()
            .filter(|l| l.correct())
            .flat_map(|l| l.multicast.iter())
            .all(everywhere)
}

/// What stands between the logs and [`validity`]'s delivery half: each multicast of a node
/// that has not crashed, with a live member that has not delivered it, as (sender, message,
/// member). Traces name these as the multicasts a run lost.
pub fn undelivered<'a>(
    logs: &'a [NodeLog<'a>],
) -> impl Iterator<Item = (&'a NodeLog<'a>, &'a Payload, &'a NodeLog<'a>)> + 'a {
    logs.iter()
        .filter(|l| l.correct())
        .flat_map(move |sender| sender.multicast.iter().map(move |p| (sender, p)))
        .flat_map(move |(sender, p)| {
            logs.iter()
                .filter(move |l| l.live_member() && !l.delivered(p))
                .map(move |member| (sender, p, member))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::Event;
    use stateright::actor::Id;
    use std::borrow::Cow;

    fn m(from: usize, seq: u32) -> Payload {
        Payload::issued_by(Id::from(from), seq)
    }

    fn log(node: usize, crashed: bool, member: bool, events: Vec<Event>) -> NodeLog<'static> {
        let multicast: Vec<Payload> = (0..2).map(|s| m(node, s)).collect();
        NodeLog {
            node: Id::from(node),
            crashed,
            founder: member,
            member,
            events: Cow::Owned(events),
            multicast: Cow::Owned(multicast),
            accepted: Cow::Owned(vec![]),
        }
    }

    fn d(p: Payload) -> Event {
        Event::Deliver(p)
    }

    #[test]
    fn uniform_agreement_counts_a_crashed_nodes_delivery() {
        // The (3,2,C=2) gms3 run: n0 and n1 delivered m0.0 and crashed; n2 never does.
        let logs = [
            log(0, true, true, vec![d(m(0, 0))]),
            log(1, true, true, vec![d(m(0, 0))]),
            log(2, false, true, vec![]),
        ];
        assert!(agreement(&logs), "prefix agreement cannot see it");
        assert!(
            uniform_total_order(&logs),
            "nor can the uniform prefix check"
        );
        assert!(!uniform_agreement(&logs));
    }

    #[test]
    fn convergence_sees_a_listed_node_that_never_joined() {
        let view = Event::View(vec![Id::from(0), Id::from(1), Id::from(2)]);
        let mut logs = vec![
            log(0, false, true, vec![view.clone()]),
            log(1, false, true, vec![view.clone()]),
            log(2, false, false, vec![]),
        ];
        assert!(!converged(&logs));
        logs[2] = log(2, false, true, vec![view]);
        assert!(converged(&logs));
        // A crashed joiner is owed nothing.
        logs[2] = log(2, true, false, vec![]);
        assert!(converged(&logs));
    }

    #[test]
    fn integrity_and_validity_count_joiners() {
        // n3 joined and multicast m3.0; everyone delivered it.
        let all = vec![d(m(3, 0))];
        let mut joiner = log(3, false, true, all.clone());
        joiner.multicast = Cow::Owned(vec![m(3, 0)]);
        let logs = vec![
            NodeLog {
                multicast: Cow::Owned(vec![]),
                ..log(0, false, true, all.clone())
            },
            joiner.clone(),
        ];
        assert!(integrity(&logs));
        assert!(validity(&logs));
        // Altered value: not what n3 multicast.
        let forged = Payload {
            value: m(3, 0).value.wrapping_add(1),
            ..m(3, 0)
        };
        let bad = [NodeLog {
            events: Cow::Owned(vec![d(forged)]),
            ..joiner.clone()
        }];
        assert!(!integrity(&bad));
        // A live joiner left outside fails validity.
        let outside = [NodeLog {
            member: false,
            events: Cow::Owned(vec![]),
            multicast: Cow::Owned(vec![]),
            ..joiner
        }];
        assert!(!validity(&outside));
    }

    /// The long logs' way (hash sets) and the short logs' (scans) agree, on random logs
    /// with duplicates, reorderings, crashes, outsiders and forged payloads.
    #[test]
    fn hashed_and_scanned_properties_agree() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move |k: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % k
        };
        type Prop = fn(&[NodeLog], bool) -> bool;
        let props: [(&str, Prop); 7] = [
            ("same_view_delivery", same_view_delivery_by),
            ("virtual_synchrony", virtual_synchrony_by),
            ("no_duplication", no_duplication_by),
            ("integrity", integrity_by),
            ("fifo", fifo_by),
            ("uniform_agreement", uniform_agreement_by),
            ("validity", validity_by),
        ];
        for _ in 0..6000 {
            let n = 1 + next(4) as usize;
            let logs: Vec<NodeLog> = (0..n)
                .map(|i| {
                    let len = next(6);
                    let events = (0..len)
                        .map(|_| {
                            if next(4) == 0 {
                                return Event::View(vec![Id::from(next(2) as usize)]);
                            }
                            let mut p = m(next(n as u64) as usize, next(3) as u32);
                            if next(20) == 0 {
                                p.value = p.value.wrapping_add(1);
                            }
                            d(p)
                        })
                        .collect();
                    let mut l = log(i, next(4) == 0, next(5) != 0, events);
                    l.multicast = Cow::Owned((0..next(4) as u32).map(|k| m(i, k)).collect());
                    l
                })
                .collect();
            for (name, f) in props {
                assert_eq!(f(&logs, true), f(&logs, false), "{name} on {logs:?}");
            }
            // A view's messages are those `in_views` numbers with it (what same view
            // delivery reads), where both ends of the view are installed.
            for l in &logs {
                for k in 0..=l.views().count() {
                    let installed = |k: usize| {
                        if k == 0 {
                            l.founder
                        } else {
                            l.views().count() >= k
                        }
                    };
                    let numbered: Vec<&Payload> = in_views(l)
                        .filter(|(v, _)| *v == k)
                        .map(|(_, p)| p)
                        .collect();
                    let sliced = segment(l, k).map(|s| {
                        s.iter()
                            .map(|e| match e {
                                Event::Deliver(p) => p,
                                Event::View(_) => panic!("a view in view {k}'s slice: {l:?}"),
                            })
                            .collect::<Vec<_>>()
                    });
                    let want = (installed(k) && installed(k + 1)).then_some(numbered);
                    assert_eq!(sliced, want, "view {k} of {l:?}");
                }
            }
        }
    }

    fn ids(v: &[usize]) -> Vec<Id> {
        v.iter().map(|&i| Id::from(i)).collect()
    }

    fn accepted(number: u32, view: &[usize]) -> crate::log::Accepted {
        crate::log::Accepted {
            number,
            view: ids(view),
        }
    }

    #[test]
    fn primary_views_needs_a_majority_of_the_view_before() {
        // Founders n0, n1, n2 install [n0,n1] (view 1), then [n0,n1,n3] (view 2).
        let v1 = Event::View(ids(&[0, 1]));
        let v2 = Event::View(ids(&[0, 1, 3]));
        let mut logs = vec![
            log(0, false, true, vec![v1.clone(), v2.clone()]),
            log(1, false, true, vec![v1.clone()]),
            log(2, true, true, vec![]),
        ];
        assert!(!primary_views(&logs), "nobody held either view");
        logs[0].accepted = Cow::Owned(vec![accepted(1, &[0, 1]), accepted(2, &[0, 1, 3])]);
        assert!(!primary_views(&logs), "view 1: one founder of three");
        logs[2].accepted = Cow::Owned(vec![accepted(1, &[0, 1])]);
        assert!(!primary_views(&logs), "view 2: one of [n0,n1]");
        logs[1].accepted = Cow::Owned(vec![accepted(2, &[0, 1, 3])]);
        assert!(primary_views(&logs));
        // Held under another number is not held.
        logs[1].accepted = Cow::Owned(vec![accepted(1, &[0, 1, 3])]);
        assert!(!primary_views(&logs));
        // Two histories: the crashed n2 installed another view 1.
        logs[1].accepted = Cow::Owned(vec![accepted(2, &[0, 1, 3])]);
        logs[2].events = Cow::Owned(vec![Event::View(ids(&[1, 2]))]);
        assert!(!primary_views(&logs));
    }

    #[test]
    fn view_synchrony_sees_a_message_delivered_on_the_other_side_of_a_view() {
        // The messages and the views are each in one order, but n0 delivered m0.0 before
        // installing [n0,n1] and n1 after it.
        let v1 = Event::View(ids(&[0, 1]));
        let a = log(0, false, true, vec![d(m(0, 0)), v1.clone()]);
        let b = log(1, false, true, vec![v1.clone(), d(m(0, 0))]);
        let both = [a.clone(), b.clone()];
        assert!(agreement(&both) && view_agreement(&both));
        assert!(!same_view_delivery(&both));
        // Both installed the initial view and view 1, and delivered different sets in the
        // first.
        assert!(!virtual_synchrony(&both));
        // A node that has not installed the successor yet is owed nothing.
        let c = log(1, false, true, vec![]);
        assert!(virtual_synchrony(&[a.clone(), c]));
        assert!(same_view_delivery(&[a.clone(), a]));
    }

    #[test]
    fn order_properties_fail_on_broken_logs() {
        let a = log(0, false, true, vec![d(m(0, 0)), d(m(1, 0))]);
        let b = log(1, false, true, vec![d(m(1, 0)), d(m(0, 0))]);
        assert!(!agreement(&[a.clone(), b]));
        let twice = log(0, false, true, vec![d(m(0, 0)), d(m(0, 0))]);
        assert!(!no_duplication(&[twice]));
        let reversed = log(0, false, true, vec![d(m(0, 1)), d(m(0, 0))]);
        assert!(!fifo(&[reversed]));
        assert!(agreement(&[a.clone(), a]));
    }
}
