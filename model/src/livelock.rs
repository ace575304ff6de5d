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
//! How, on the fly, storing no edge: Tarjan's strongly-connected-components algorithm over
//! the protocol steps, run depth first from the initial state. It finishes a component only
//! once every component it leads to is finished, so whether a component can reach quiescence
//! is known when it is finished: one of its states is quiescent, or a step leads to a finished
//! component that can. Per state it keeps one entry, fingerprint to "on the stack at position
//! p" or "finished, can / cannot" (the visited table of any exhaustive search); the depth-first
//! stack holds the states of the current walk. A fault step's successor is not followed at
//! once (whether it can reach quiescence must not borrow from states still on the stack, which
//! only a fault leads back to): it is set aside and searched from when the stack is empty,
//! so every reachable state is visited. A component that cannot is a livelock; once every
//! state is marked, a breadth-first search finds the nearest state in one (for a short trace),
//! and the report is a lasso: the path to it, then protocol steps from it until a state repeats.
//! The memory guard stops the check where even this does not fit, and the report says it
//! could not run.

use crate::check::hash;
use crate::memory;
use crate::model::{is_false_suspicion, is_quiescent, Action, GroupAction, GroupModel, GroupState};
use crate::protocol::Protocol;
use stateright::actor::ActorModelAction;
use stateright::Model;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

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
            // Suspecting a live node is the detector being wrong; suspecting a crashed one is
            // how the protocol repairs the group.
            a => is_false_suspicion(state, a),
        },
    }
}

/// A finished state's mark in the visited table; any other value is a stack position.
const CAN: u32 = u32::MAX;
const CANNOT: u32 = u32::MAX - 1;
/// Set aside (a fault step's successor), not yet searched from.
const ASIDE: u32 = u32::MAX - 2;

/// A state on the depth-first walk.
struct Frame<A: Protocol> {
    state: GroupState<A>,
    /// Its position on the component stack, and the lowest position it reaches.
    at: u32,
    low: u32,
    /// Whether it (or a state of its component visited so far) reaches quiescence.
    can: bool,
    actions: Vec<GroupAction<A>>,
    next: usize,
    /// How it was reached from an initial state.
    path: Rc<PathStep>,
}

/// One step of a path from an initial state, shared by every path through it: a state set
/// aside is kept as its path (tens of bytes), not as itself (kilobytes: its network), and
/// rebuilt when its turn comes. A step names its action by the action's fingerprint, since
/// an action's position among a state's actions follows hash-map order, which differs between
/// two copies of one state.
struct PathStep {
    /// The step before; `None` for the first, whose `action` is the initial state's index.
    up: Option<Rc<PathStep>>,
    action: u64,
}

impl PathStep {
    fn then(up: &Rc<PathStep>, action: u64) -> Rc<PathStep> {
        Rc::new(PathStep {
            up: Some(up.clone()),
            action,
        })
    }
}

/// The state at the end of `path`, rebuilt from the initial state by its actions.
fn replay<A: Protocol>(model: &GroupModel<A>, path: &PathStep) -> Option<GroupState<A>> {
    let mut steps = vec![path.action];
    let mut at = path;
    while let Some(up) = &at.up {
        steps.push(up.action);
        at = up;
    }
    let first = steps.pop()?;
    let mut state = model.init_states().into_iter().nth(first as usize)?;
    let mut actions = Vec::new();
    while let Some(step) = steps.pop() {
        model.actions(&state, &mut actions);
        let action = actions.drain(..).find(|a| hash(a) == step)?;
        state = model.next_state(&state, action)?;
    }
    Some(state)
}

/// Runs the check on `model`, within the memory guard (if any).
pub fn check<A: Protocol>(model: &GroupModel<A>, guard: Option<&memory::Guard>) -> Outcome<A> {
    let mut mark: HashMap<u64, u32> = HashMap::new();
    // The component stack: the fingerprints of states visited whose component is unfinished.
    let mut component: Vec<u64> = Vec::new();
    let mut walk: Vec<Frame<A>> = Vec::new();
    // Fault steps' successors not yet searched from: their fingerprints and paths.
    let mut aside: Vec<(u64, Rc<PathStep>)> = model
        .init_states()
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let first = PathStep {
                up: None,
                action: i as u64,
            };
            (hash(s), Rc::new(first))
        })
        .collect();
    let mut visited = 0usize;
    let mut stuck = false;
    let open = |state: GroupState<A>, f: u64, path: Rc<PathStep>, component: &mut Vec<u64>| {
        let at = component.len() as u32;
        component.push(f);
        let mut actions = Vec::new();
        model.actions(&state, &mut actions);
        Frame {
            can: is_quiescent(model, &state),
            state,
            at,
            low: at,
            actions,
            next: 0,
            path,
        }
    };
    while let Some((f, path)) = aside.pop() {
        if mark.get(&f).is_some_and(|&m| m != ASIDE) {
            continue;
        }
        let Some(root) = replay(model, &path).filter(|r| hash(r) == f) else {
            return Outcome::NotRun("a state set aside does not replay".into());
        };
        mark.insert(f, component.len() as u32);
        walk.push(open(root, f, path, &mut component));
        visited += 1;
        while let Some(top) = walk.last_mut() {
            if top.next < top.actions.len() {
                let action = top.actions[top.next].clone();
                top.next += 1;
                let fault = is_fault(&top.state, &action);
                let step = hash(&action);
                let Some(next) = model.next_state(&top.state, action) else {
                    continue;
                };
                if !model.within_boundary(&next) {
                    continue;
                }
                let f = hash(&next);
                match mark.get(&f).copied() {
                    None if fault => {
                        mark.insert(f, ASIDE);
                        aside.push((f, PathStep::then(&top.path, step)));
                    }
                    Some(_) if fault => {}
                    None | Some(ASIDE) => {
                        if visited.is_multiple_of(4096) {
                            if let Some(why) = guard.and_then(|g| g.check(mark.len()).err()) {
                                return Outcome::NotRun(why);
                            }
                        }
                        if component.len() >= ASIDE as usize {
                            return Outcome::NotRun("more than 2^32 states on the stack".into());
                        }
                        mark.insert(f, component.len() as u32);
                        let path = PathStep::then(&top.path, step);
                        walk.push(open(next, f, path, &mut component));
                        visited += 1;
                    }
                    Some(CAN) => top.can = true,
                    Some(CANNOT) => {}
                    // On the stack: the same component.
                    Some(p) => top.low = top.low.min(p),
                }
                continue;
            }
            let Some(done) = walk.pop() else { break };
            if done.low == done.at {
                // The root of a component: it is finished, with every component it leads to.
                let m = if done.can { CAN } else { CANNOT };
                for f in component.drain(done.at as usize..) {
                    mark.insert(f, m);
                }
                stuck |= !done.can;
                if let Some(parent) = walk.last_mut() {
                    parent.can |= done.can;
                }
            } else if let Some(parent) = walk.last_mut() {
                parent.low = parent.low.min(done.low);
                parent.can |= done.can;
            }
        }
    }
    let states = visited;
    if !stuck {
        return Outcome::Free { states };
    }
    drop(walk);
    drop(aside);

    // The nearest state in a livelock, breadth first over every step: each state's
    // parent and the action's position among its actions, to replay the path.
    let mut parent: HashMap<u64, (u64, u32)> = HashMap::new();
    let mut queue = VecDeque::new();
    let mut found = None;
    for s in model.init_states() {
        let f = hash(&s);
        if parent.insert(f, (f, u32::MAX)).is_none() {
            queue.push_back((s, f));
        }
    }
    let mut actions = Vec::new();
    'bfs: while let Some((state, f)) = queue.pop_front() {
        if mark.get(&f) == Some(&CANNOT) {
            found = Some(f);
            break;
        }
        if parent.len().is_multiple_of(4096) {
            if let Some(why) = guard.and_then(|g| g.check(mark.len() + parent.len()).err()) {
                return Outcome::NotRun(format!("a livelock was found; its trace: {why}"));
            }
        }
        model.actions(&state, &mut actions);
        for (i, action) in actions.drain(..).enumerate() {
            let Some(next) = model.next_state(&state, action) else {
                continue;
            };
            if !model.within_boundary(&next) {
                continue;
            }
            let g = hash(&next);
            if let std::collections::hash_map::Entry::Vacant(e) = parent.entry(g) {
                e.insert((f, i as u32));
                if mark.get(&g) == Some(&CANNOT) {
                    found = Some(g);
                    break 'bfs;
                }
                queue.push_back((next, g));
            }
        }
    }
    drop(queue);
    let Some(mut at) = found else {
        return Outcome::NotRun("the livelock found is not reachable again".into());
    };
    let mut steps = Vec::new();
    while let Some(&(p, i)) = parent.get(&at) {
        if i == u32::MAX {
            break;
        }
        steps.push(i);
        at = p;
    }
    steps.reverse();
    let Some(mut state) = model.init_states().into_iter().find(|s| hash(s) == at) else {
        return Outcome::NotRun("the model has no initial state".into());
    };
    let mut stem = Vec::new();
    for i in steps {
        model.actions(&state, &mut actions);
        let Some(action) = actions.drain(..).nth(i as usize) else {
            return Outcome::NotRun("the path to the livelock does not replay".into());
        };
        match model.next_state(&state, action.clone()) {
            Some(next) => state = next,
            None => return Outcome::NotRun("the path to the livelock does not replay".into()),
        }
        stem.push(action);
    }

    lasso(model, state, stem, states)
}

/// The lasso from a state that cannot reach quiescence, reached by `stem`: protocol steps
/// from it until a state repeats (every protocol successor of such a state cannot either).
pub fn lasso<A: Protocol>(
    model: &GroupModel<A>,
    mut state: GroupState<A>,
    mut stem: Vec<GroupAction<A>>,
    states: usize,
) -> Outcome<A> {
    let mut actions = Vec::new();
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
