//! The properties of design.md §3 over the nodes' delivery logs, and the `Sometimes`
//! witnesses that show a check reached what matters.
//!
//! A crashed node keeps the log it had when it crashed (stateright keeps a crashed actor's
//! last state), which is what `uniform_agreement` reads.

use crate::app::Payload;
use crate::config::{Detector, NetworkKind};
use crate::group::{Member, Role};
use crate::model::{GroupModel, GroupState, Protocol};
use stateright::actor::Id;
use stateright::{Expectation, Property};

pub const AGREEMENT: &str = "agreement";
pub const UNIFORM_AGREEMENT: &str = "uniform_agreement";
pub const NO_DUPLICATION: &str = "no_duplication";
pub const INTEGRITY: &str = "integrity";
pub const FIFO: &str = "fifo";
pub const VIEW_AGREEMENT: &str = "view_agreement";
pub const VALIDITY: &str = "validity";
pub const CONVERGENCE: &str = "convergence";

pub const BROADCAST_CUT: &str = "broadcast cut by crash";
pub const ELECTION_HELD: &str = "election held";
pub const DUPLICATE_DISCARDED: &str = "duplicate discarded";
pub const JOIN_COMPLETED: &str = "join completed";
pub const ALL_DELIVERED: &str = "all messages delivered";
pub const QUIESCENT: &str = "quiescence reached";

/// What each property means, for `--help`, reports and notes.
pub fn describe(name: &str) -> &'static str {
    match name {
        AGREEMENT => "the delivery sequences of any two nodes that have not crashed are prefix-related",
        UNIFORM_AGREEMENT => "the same, counting what crashed nodes delivered before crashing",
        NO_DUPLICATION => "no node delivers the same message twice",
        INTEGRITY => "every delivered message was multicast by some application, unaltered",
        FIFO => "no node delivers a sender's message after a later message of that sender",
        VIEW_AGREEMENT => "the view sequences of any two nodes that have not crashed are prefix-related",
        VALIDITY => "every multicast of a node that does not crash is eventually delivered by every member that does not crash",
        CONVERGENCE => "once nothing but crashes (or false suspicions) can happen, the members that have not crashed have the same application log",
        BROADCAST_CUT => "a leader crashed after sending a message to some peers but not all",
        ELECTION_HELD => "a node other than the first leader became leader",
        DUPLICATE_DISCARDED => "a slave discarded a message numbered below `next`",
        JOIN_COMPLETED => "a node that started outside the group installed a view",
        ALL_DELIVERED => "every member that has not crashed delivered every multicast",
        QUIESCENT => "a state where nothing but crashes (or false suspicions) can happen",
        _ => "",
    }
}

/// The property list of protocol `A` under `cfg`: every safety property, `validity`, and the
/// witnesses that this configuration can reach at all (a broadcast can only be cut if there
/// are crashes and at least two slaves, a join only completes if there are joiners...).
pub fn for_protocol<A: Protocol>(cfg: &crate::Config) -> Vec<Property<GroupModel<A>>> {
    let mut p = vec![
        Property::always(AGREEMENT, agreement::<A>),
        Property::always(UNIFORM_AGREEMENT, uniform_agreement::<A>),
        Property::always(NO_DUPLICATION, no_duplication::<A>),
        Property::always(INTEGRITY, integrity::<A>),
        Property::always(FIFO, fifo::<A>),
        Property::always(VIEW_AGREEMENT, view_agreement::<A>),
        Property::always(CONVERGENCE, convergence::<A>),
        Property::eventually(VALIDITY, validity::<A>),
        Property::sometimes(QUIESCENT, quiescent::<A>),
    ];
    let suspicions = cfg.crashes > 0 || cfg.detector == Detector::Unreliable;
    if cfg.crashes > 0 && cfg.nodes >= 3 && cfg.msgs + cfg.joins > 0 {
        p.push(Property::sometimes(BROADCAST_CUT, broadcast_cut::<A>));
    }
    if A::ELECTS && suspicions && cfg.nodes >= 2 {
        p.push(Property::sometimes(ELECTION_HELD, election_held::<A>));
    }
    let extra_copies = cfg.network == NetworkKind::Duplicating;
    if A::NUMBERS && ((suspicions && cfg.nodes >= 3) || extra_copies) {
        p.push(Property::sometimes(
            DUPLICATE_DISCARDED,
            duplicate_discarded::<A>,
        ));
    }
    if cfg.joins > 0 {
        p.push(Property::sometimes(JOIN_COMPLETED, join_completed::<A>));
    }
    if cfg.msgs > 0 {
        p.push(Property::sometimes(ALL_DELIVERED, all_delivered::<A>));
    }
    p
}

/// Kind of a property as the reports name it.
pub fn kind(e: &Expectation) -> &'static str {
    match e {
        Expectation::Always => "always",
        Expectation::Eventually => "eventually",
        Expectation::Sometimes => "sometimes",
    }
}

fn nodes<A: Protocol>(s: &GroupState<A>) -> impl Iterator<Item = (usize, &A::State, bool)> + '_ {
    s.actor_states
        .iter()
        .enumerate()
        .map(|(i, st)| (i, &**st, s.crashed[i]))
}

fn prefix_related<T: PartialEq>(a: &[T], b: &[T]) -> bool {
    let n = a.len().min(b.len());
    a[..n] == b[..n]
}

fn pairwise<T>(items: &[T], ok: impl Fn(&T, &T) -> bool) -> bool {
    items
        .iter()
        .enumerate()
        .all(|(i, a)| items[i + 1..].iter().all(|b| ok(a, b)))
}

fn message_logs<A: Protocol>(s: &GroupState<A>, with_crashed: bool) -> Vec<Vec<Payload>> {
    nodes(s)
        .filter(|(_, _, crashed)| with_crashed || !crashed)
        .map(|(_, st, _)| st.app().messages().copied().collect())
        .collect()
}

pub fn agreement<A: Protocol>(_: &GroupModel<A>, s: &GroupState<A>) -> bool {
    pairwise(&message_logs(s, false), |a, b| prefix_related(a, b))
}

pub fn uniform_agreement<A: Protocol>(_: &GroupModel<A>, s: &GroupState<A>) -> bool {
    pairwise(&message_logs(s, true), |a, b| prefix_related(a, b))
}

pub fn no_duplication<A: Protocol>(_: &GroupModel<A>, s: &GroupState<A>) -> bool {
    nodes(s).all(|(_, st, _)| {
        let log: Vec<_> = st.app().messages().collect();
        pairwise(&log, |a, b| a != b)
    })
}

pub fn integrity<A: Protocol>(m: &GroupModel<A>, s: &GroupState<A>) -> bool {
    let n = m.cfg().nodes;
    nodes(s).all(|(_, st, _)| {
        st.app().messages().all(|p| {
            let origin = usize::from(p.from);
            origin < n
                && p.seq < s.actor_states[origin].worker().issued
                && *p == Payload::issued_by(p.from, p.seq)
        })
    })
}

pub fn fifo<A: Protocol>(_: &GroupModel<A>, s: &GroupState<A>) -> bool {
    nodes(s).all(|(_, st, _)| {
        let log: Vec<_> = st.app().messages().collect();
        pairwise(&log, |a, b| a.from != b.from || a.seq <= b.seq)
    })
}

pub fn view_agreement<A: Protocol>(_: &GroupModel<A>, s: &GroupState<A>) -> bool {
    let views: Vec<Vec<&Vec<Id>>> = nodes(s)
        .filter(|(_, _, crashed)| !crashed)
        .map(|(_, st, _)| st.app().views().collect())
        .collect();
    pairwise(&views, |a, b| prefix_related(a, b))
}

/// Whether nothing can happen any more but crashes and, with the unreliable detector, false
/// suspicions: no delivery to a live node, no multicast or send due, no real suspicion.
/// This is where a node stuck behind a gap, or one that never got a message, shows:
/// prefix agreement cannot tell "not yet" from "never".
pub fn is_quiescent<A: Protocol>(m: &GroupModel<A>, s: &GroupState<A>) -> bool {
    use crate::group::Timer;
    use stateright::actor::ActorModelAction as Act;
    use stateright::Model;
    let unreliable = m.cfg().detector == Detector::Unreliable;
    let ordered = m.cfg().network == NetworkKind::Ordered;
    let mut actions = Vec::new();
    m.actions(s, &mut actions);
    actions.into_iter().all(|a| match &a {
        Act::Crash(_) => true,
        Act::Timeout(_, Timer::Suspect) => unreliable,
        Act::Deliver { dst, .. } if s.crashed[usize::from(*dst)] => true,
        // On unordered networks a delivery that changes nothing is not a step.
        Act::Deliver { .. } | Act::Drop(_) if !ordered => m.inner.next_state(s, a).is_none(),
        _ => false,
    })
}

pub fn quiescent<A: Protocol>(m: &GroupModel<A>, s: &GroupState<A>) -> bool {
    is_quiescent(m, s)
}

/// At quiescence, every pair of members that have not crashed has the same log.
pub fn convergence<A: Protocol>(m: &GroupModel<A>, s: &GroupState<A>) -> bool {
    let logs: Vec<_> = nodes(s)
        .filter(|(_, st, crashed)| !crashed && st.role() != Role::Outside)
        .map(|(_, st, _)| &st.app().log)
        .collect();
    pairwise(&logs, |a, b| a == b) || !is_quiescent(m, s)
}

/// Every initial node that has not crashed has issued all its multicasts, and every member
/// that has not crashed has delivered each multicast of every sender that has not crashed.
pub fn validity<A: Protocol>(m: &GroupModel<A>, s: &GroupState<A>) -> bool {
    let cfg = m.cfg();
    let mut sent = Vec::new();
    for (i, st, crashed) in nodes(s).take(cfg.nodes) {
        if crashed {
            continue;
        }
        if st.worker().issued < cfg.quota(i) {
            return false;
        }
        sent.extend((0..st.worker().issued).map(|seq| Payload::issued_by(Id::from(i), seq)));
    }
    nodes(s)
        .filter(|(_, st, crashed)| !crashed && st.role() != Role::Outside)
        .all(|(_, st, _)| {
            let log: Vec<_> = st.app().messages().collect();
            sent.iter().all(|p| log.contains(&p))
        })
}

pub fn broadcast_cut<A: Protocol>(_: &GroupModel<A>, s: &GroupState<A>) -> bool {
    nodes(s).any(|(_, st, crashed)| crashed && st.broadcast_cut())
}

pub fn election_held<A: Protocol>(_: &GroupModel<A>, s: &GroupState<A>) -> bool {
    nodes(s).any(|(i, st, _)| i != 0 && st.role() == Role::Leader)
}

pub fn duplicate_discarded<A: Protocol>(_: &GroupModel<A>, s: &GroupState<A>) -> bool {
    nodes(s).any(|(_, st, _)| st.discarded_duplicate())
}

pub fn join_completed<A: Protocol>(m: &GroupModel<A>, s: &GroupState<A>) -> bool {
    nodes(s).any(|(i, st, _)| i >= m.cfg().nodes && st.role() != Role::Outside)
}

pub fn all_delivered<A: Protocol>(m: &GroupModel<A>, s: &GroupState<A>) -> bool {
    let mut members = nodes(s)
        .filter(|(_, st, crashed)| !crashed && st.role() != Role::Outside)
        .peekable();
    members.peek().is_some()
        && members.all(|(_, st, _)| st.app().messages().count() >= m.cfg().msgs)
}
