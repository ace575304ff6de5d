//! The livelock check: from every reachable state, a quiescent state can be reached by the
//! protocol's own steps.
//!
//! Liveness is judged at quiescent states (`model.rs`), so a run that never gets to one is
//! never judged: a search that cycles (a join retried and discarded for ever) passes unseen.
//! Under fairness, a run of a finite system ends in a bottom strongly connected component of
//! its state graph: it keeps taking the steps enabled there. If every state can reach a
//! quiescent one by protocol steps alone, every bottom component of the protocol-step graph
//! holds a quiescent state, so a fair run gets to one. A state that cannot is a livelock: the
//! protocol, left alone, cycles (or sticks) for ever.
//!
//! The environment's fault steps are left out of "can reach": a crash, a lost datagram, a
//! false suspicion (of a node that is alive). A livelock only a crash would end is still a
//! livelock: the protocol must not need one. They are not left out of what is *reachable*:
//! a livelock after a loss is one.
//!
//! How: one breadth-first exploration keeps, per state, its parent (for the trace) and the
//! protocol steps between states (their reverse); a backward search from the quiescent
//! states marks every state that can reach one. The first state left unmarked (breadth first:
//! the nearest) is reported as a lasso: the path to it, then protocol steps from it until a
//! state repeats. Storing every edge does not fit the largest spaces: the memory guard stops
//! the check, and the report says it could not run.

use crate::check::hash;
use crate::group::{suspected, GroupTimer, TimerKind};
use crate::memory;
use crate::model::{is_quiescent, Action, GroupAction, GroupModel, GroupState};
use crate::protocol::Protocol;
use stateright::actor::ActorModelAction;
use stateright::Model;
use std::collections::{HashMap, VecDeque};

/// What the livelock check found.
pub enum Outcome<A: Protocol> {
    /// Every state can reach a quiescent one; `states` were explored.
    Free { states: usize },
    /// A state that cannot: the path to it, and the protocol steps from it that return to a
    /// state already on that walk (`cycle` empty: it is stuck, with no protocol step at all).
    Livelock {
        states: usize,
        stem: Vec<GroupAction<A>>,
        cycle: Vec<GroupAction<A>>,
    },
    /// The check could not run to the end: why.
    NotRun(String),
}

/// Whether an action is the environment's fault rather than a step of the protocol.
pub fn is_fault<A: Protocol>(state: &GroupState<A>, action: &GroupAction<A>) -> bool {
    match action {
        Action::Cut(..) => true,
        Action::Broadcast(_) => false,
        Action::Actor(a) => match a {
            ActorModelAction::Crash(_)
            | ActorModelAction::Recover(_)
            | ActorModelAction::Drop(_) => true,
            ActorModelAction::Timeout(id, t) if t.kind() == TimerKind::Suspect => {
                let node = &state.actor_states[usize::from(*id)];
                // Suspecting a live node is the detector being wrong; suspecting a crashed
                // one is how the protocol repairs the group.
                suspected(&**node, t).is_some_and(|x| !state.crashed[usize::from(x)])
            }
            _ => false,
        },
    }
}

/// Runs the check on `model`, within the memory guard (if any).
pub fn check<A: Protocol>(model: &GroupModel<A>, guard: Option<&memory::Guard>) -> Outcome<A> {
    // Breadth first: each state's parent and the action from it; protocol edges as
    // (from, to) pairs.
    let mut index: HashMap<u64, u32> = HashMap::new();
    let mut parent: Vec<(u32, Option<GroupAction<A>>)> = Vec::new();
    let mut quiescent: Vec<bool> = Vec::new();
    let mut edges: Vec<(u32, u32)> = Vec::new();
    let mut queue = VecDeque::new();
    for s in model.init_states() {
        if index.insert(hash(&s), parent.len() as u32).is_none() {
            parent.push((u32::MAX, None));
            quiescent.push(is_quiescent(model, &s));
            queue.push_back((s, parent.len() as u32 - 1));
        }
    }
    let mut actions = Vec::new();
    while let Some((state, at)) = queue.pop_front() {
        if parent.len().is_multiple_of(4096) {
            if let Some(why) = guard.and_then(|g| g.check(parent.len() * 4).err()) {
                return Outcome::NotRun(why);
            }
        }
        if parent.len() >= u32::MAX as usize - 1 {
            return Outcome::NotRun("more than 2^32 states".into());
        }
        model.actions(&state, &mut actions);
        for action in actions.drain(..) {
            let fault = is_fault(&state, &action);
            let Some(next) = model.next_state(&state, action.clone()) else {
                continue;
            };
            if !model.within_boundary(&next) {
                continue;
            }
            let f = hash(&next);
            let to = match index.get(&f) {
                Some(&i) => i,
                None => {
                    let i = parent.len() as u32;
                    index.insert(f, i);
                    parent.push((at, Some(action)));
                    quiescent.push(is_quiescent(model, &next));
                    queue.push_back((next, i));
                    i
                }
            };
            if !fault {
                edges.push((at, to));
            }
        }
    }
    let states = parent.len();

    // Backward from the quiescent states, over protocol steps reversed.
    edges.sort_unstable_by_key(|&(_, to)| to);
    let first_into = |to: u32| edges.partition_point(|&(_, t)| t < to);
    let mut can = quiescent.clone();
    let mut work: Vec<u32> = (0..states as u32).filter(|&i| can[i as usize]).collect();
    while let Some(to) = work.pop() {
        for &(from, t) in &edges[first_into(to)..] {
            if t != to {
                break;
            }
            if !can[from as usize] {
                can[from as usize] = true;
                work.push(from);
            }
        }
    }
    let Some(stuck) = can.iter().position(|c| !c) else {
        return Outcome::Free { states };
    };

    // The path to it, then protocol steps from it until a state repeats (every protocol
    // successor of a state that cannot reach quiescence cannot either).
    let mut stem = Vec::new();
    let mut at = stuck as u32;
    while let (p, Some(action)) = &parent[at as usize] {
        stem.push(action.clone());
        at = *p;
    }
    stem.reverse();
    let Some(mut state) = model.init_states().into_iter().next() else {
        return Outcome::NotRun("the model has no initial state".into());
    };
    for a in &stem {
        match model.next_state(&state, a.clone()) {
            Some(next) => state = next,
            None => return Outcome::NotRun("the path to the livelock does not replay".into()),
        }
    }
    let mut walk: Vec<(u64, GroupAction<A>)> = Vec::new();
    let mut seen: HashMap<u64, usize> = HashMap::new();
    loop {
        let f = hash(&state);
        if let Some(&k) = seen.get(&f) {
            let cycle = walk.split_off(k).into_iter().map(|(_, a)| a).collect();
            stem.extend(walk.into_iter().map(|(_, a)| a));
            return Outcome::Livelock {
                states,
                stem,
                cycle,
            };
        }
        seen.insert(f, walk.len());
        model.actions(&state, &mut actions);
        let step = actions.drain(..).find_map(|a| {
            if is_fault(&state, &a) {
                return None;
            }
            let next = model.next_state(&state, a.clone())?;
            model.within_boundary(&next).then_some((a, next))
        });
        match step {
            Some((a, next)) => {
                walk.push((f, a));
                state = next;
            }
            // Stuck: not quiescent, and no protocol step.
            None => {
                stem.extend(walk.into_iter().map(|(_, a)| a));
                return Outcome::Livelock {
                    states,
                    stem,
                    cycle: vec![],
                };
            }
        }
    }
}
