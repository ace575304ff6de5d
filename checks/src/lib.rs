//! Helpers for the verification suite in `tests/`: run a complete check and assert what a
//! verdict claims (complete exploration, every witness reached, the pinned state count).

use groupy_model::check::{check_protocol, Report, Search, Status, Verdict};
use groupy_model::{Config, Protocol};

/// A backstop: no default-suite configuration comes near it, and [`complete`] fails if one
/// does, so an exploration cut short can never pass as a proof.
pub const MAX_STATES: usize = 10_000_000;

/// `cfg` with the unreliable detector and a budget of `k` wrong suspicions.
pub fn wrong_suspicions(k: u8, cfg: Config) -> Config {
    Config {
        detector: groupy_model::Detector::Unreliable,
        false_suspicions: Some(k),
        ..cfg
    }
}

/// Checks protocol `A` under `cfg` with breadth-first search.
pub fn run<A: Protocol>(cfg: Config) -> Report {
    let search = Search {
        max_states: Some(MAX_STATES),
        ..Search::default()
    };
    check_protocol::<A>(&cfg, &search, &mut |_| {})
}

/// Asserts the exploration was not cut short and pins its unique state count: a change that
/// moves it must say why.
pub fn complete(r: &Report, unique_states: usize) {
    assert!(
        r.complete,
        "{} {}: exploration cut short: {:?}",
        r.protocol, r.config, r.cut_short
    );
    assert_eq!(
        r.unique_states, unique_states,
        "{} {}: unique state count moved",
        r.protocol, r.config
    );
}

/// Asserts every listed property has `status`.
pub fn statuses(r: &Report, names: &[&str], status: Status) {
    for name in names {
        assert_eq!(
            r.status(name),
            Some(status),
            "{} {}: {name}",
            r.protocol,
            r.config
        );
    }
}

/// Asserts every witness of the configuration was reached.
pub fn all_witnessed(r: &Report) {
    for p in &r.properties {
        assert_ne!(
            p.status,
            Status::Unwitnessed,
            "{} {}: witness '{}' never reached",
            r.protocol,
            r.config,
            p.name
        );
    }
}

/// Asserts the verdict and, for `Holds`, that it rests on a complete exploration with every
/// witness reached.
pub fn verdict(r: &Report, v: Verdict) {
    assert_eq!(r.verdict, v, "{} {}", r.protocol, r.config);
    if v == Verdict::Holds {
        all_witnessed(r);
    }
}

/// Checks protocol `A` until the first violation of a claimed property: for configurations
/// whose state space is infinite (the duplicating network lets a message be delivered again
/// and again), where only a violation can settle the verdict.
pub fn run_until_violation<A: Protocol>(cfg: Config) -> Report {
    let search = Search {
        max_states: Some(MAX_STATES),
        fail_fast: true,
        ..Search::default()
    };
    check_protocol::<A>(&cfg, &search, &mut |_| {})
}

/// The last state of a trace, rebuilt from its Explorer path (action indices).
pub fn final_state<A: Protocol>(
    model: &groupy_model::GroupModel<A>,
    explorer_path: &str,
) -> Option<groupy_model::model::GroupState<A>> {
    use stateright::Model;
    let mut indices =
        groupy_model::trace::explorer_indices(explorer_path).map(|i| i.parse::<usize>().ok());
    let mut state = model.init_states().into_iter().nth(indices.next()??)?;
    for i in indices {
        let mut enabled = Vec::new();
        model.actions(&state, &mut enabled);
        let action = enabled.into_iter().nth(i?)?;
        state = model.next_state(&state, action)?;
    }
    Some(state)
}

/// What a run ended with, at a quiescent state: every node's log, crashed flag and view.
pub type Outcome = Vec<(
    Vec<groupy_model::app::Event>,
    bool,
    Vec<stateright::actor::Id>,
)>;

/// Every quiescent outcome the model reaches (its whole state space, breadth first).
pub fn quiescent_outcomes<A: Protocol>(
    model: &groupy_model::GroupModel<A>,
) -> std::collections::BTreeSet<Outcome> {
    use groupy_model::group::Member;
    let states = all_states(model, MAX_STATES + 1);
    assert!(
        states.len() <= MAX_STATES,
        "state space too large for a cross-check"
    );
    states
        .iter()
        .filter(|s| groupy_model::model::is_quiescent(model, s))
        .map(|s| {
            s.actor_states
                .iter()
                .zip(&s.crashed)
                .map(|(st, crashed)| (st.app().log.clone(), *crashed, st.view().to_vec()))
                .collect()
        })
        .collect()
}

/// Quiescence by its definition: every action the environment offers is a crash, a loss, a
/// false suspicion, a delivery to a crashed node, a delivery the receiver holds back, or a step that
/// changes nothing (a copy received again on a duplicating network, a repetition of copies
/// already in flight). The test oracle for the model's faster `is_quiescent`, which reads the
/// same off the state.
pub fn quiescent_by_actions<A: Protocol>(
    m: &groupy_model::GroupModel<A>,
    s: &groupy_model::model::GroupState<A>,
) -> bool {
    use groupy_model::group::{GroupTimer, TimerKind};
    use groupy_model::model::same_state;
    use groupy_model::Detector;
    use stateright::actor::ActorModelAction as Act;
    use stateright::Model;
    let unreliable = m.cfg().detector == Detector::Unreliable;
    let mut actions = Vec::new();
    m.actor_actions(s, &mut actions);
    actions.into_iter().all(|a| match &a {
        // A restart is a fault like a crash: a run may end before it.
        Act::Crash(_) | Act::Recover(_) => true,
        Act::Timeout(id, t) if t.kind() == TimerKind::Suspect => {
            match groupy_model::group::suspected(&*s.actor_states[usize::from(*id)], t) {
                Some(leader) => unreliable && !s.crashed[usize::from(leader)],
                None => m.inner.next_state(s, a).is_none(),
            }
        }
        Act::Deliver { dst, .. } if s.crashed[usize::from(*dst)] => true,
        // A loss is a fault, like a crash.
        Act::Drop(_) => true,
        Act::Deliver { .. } if m.deferred(s, &a) => true,
        _ => m.actor_step(s, a).is_none_or(|n| same_state(&n, s)),
    })
}

/// Every state of `model` (breadth first), up to `cap` of them.
pub fn all_states<A: Protocol>(
    model: &groupy_model::GroupModel<A>,
    cap: usize,
) -> Vec<groupy_model::model::GroupState<A>> {
    use stateright::Model;
    use std::collections::{HashSet, VecDeque};
    use std::hash::{BuildHasher, RandomState};
    let hasher = RandomState::new();
    let mut seen = HashSet::new();
    let mut queue: VecDeque<_> = model.init_states().into();
    let mut states = Vec::new();
    let mut actions = Vec::new();
    while let Some(s) = queue.pop_front() {
        if states.len() >= cap || !seen.insert(hasher.hash_one(&s)) {
            continue;
        }
        model.actions(&s, &mut actions);
        for a in actions.drain(..) {
            if let Some(next) = model.next_state(&s, a) {
                queue.push_back(next);
            }
        }
        states.push(s);
    }
    states
}

/// Whether the protocol's own steps (no fault) lead from `s` to a quiescent state, by a search
/// from `s` alone; `good` holds states already known to. The test oracle for the livelock
/// check, which decides the same for every state at once.
pub fn reaches_quiescence<A: Protocol>(
    m: &groupy_model::GroupModel<A>,
    s: &groupy_model::model::GroupState<A>,
    good: &mut std::collections::HashSet<u64>,
) -> bool {
    use groupy_model::livelock::is_fault;
    use groupy_model::model::is_quiescent;
    use stateright::Model;
    use std::collections::{HashSet, VecDeque};
    use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
    let fingerprint = |s: &groupy_model::model::GroupState<A>| {
        BuildHasherDefault::<DefaultHasher>::default().hash_one(s)
    };
    let mut seen = HashSet::from([fingerprint(s)]);
    let mut queue = VecDeque::from([s.clone()]);
    let mut actions = Vec::new();
    while let Some(s) = queue.pop_front() {
        if is_quiescent(m, &s) || good.contains(&fingerprint(&s)) {
            good.insert(fingerprint(&s));
            return true;
        }
        m.actions(&s, &mut actions);
        for a in actions.drain(..) {
            if is_fault(&s, &a) {
                continue;
            }
            if let Some(next) = m.next_state(&s, a) {
                if m.within_boundary(&next) && seen.insert(fingerprint(&next)) {
                    queue.push_back(next);
                }
            }
        }
    }
    false
}
