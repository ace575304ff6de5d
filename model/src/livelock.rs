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
use crate::fingerprint::{parts, peek, Foresight, Parts, Peek};
use crate::memory;
use crate::model::{is_false_suspicion, quiescent, Action, GroupAction, GroupModel, GroupState};
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

/// Tables keyed by fingerprints, already hashes: not hashed again.
type Fingerprints = std::hash::BuildHasherDefault<nohash_hasher::NoHashHasher<u64>>;
/// The visited table: a state's fingerprint to its mark. In shards, which grow one at a
/// time: one table doubles all at once and holds its old buckets meanwhile (at 59 M states,
/// 1.1 GB of old buckets beside 2.3 GB of new ones, the walk's peak).
struct Marks {
    shards: Vec<HashMap<u64, u32, Fingerprints>>,
    len: usize,
}

impl Default for Marks {
    fn default() -> Self {
        let mut shards = Vec::with_capacity(Self::SHARDS);
        shards.resize_with(Self::SHARDS, HashMap::default);
        Marks { shards, len: 0 }
    }
}

impl Marks {
    const SHARDS: usize = 256;

    /// A fingerprint's shard, from bits that neither pick its bucket within the shard (the
    /// low ones) nor make its control byte (the top seven).
    fn shard(f: u64) -> usize {
        (f >> 49) as usize % Self::SHARDS
    }

    fn get(&self, f: &u64) -> Option<&u32> {
        self.shards[Self::shard(*f)].get(f)
    }

    fn insert(&mut self, f: u64, mark: u32) {
        if self.shards[Self::shard(f)].insert(f, mark).is_none() {
            self.len += 1;
        }
    }

    fn len(&self) -> usize {
        self.len
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
    /// Its fingerprint's parts, from which its successors' are foreseen.
    parts: Parts,
}

/// A state's fingerprint in the walk ([`crate::fingerprint`]).
fn fingerprint<A: Protocol>(s: &GroupState<A>) -> u64 {
    parts(s, None).print
}

/// The state `action` leads to from `state` (whose parts are `p`), built, and its parts.
fn successor<A: Protocol>(
    model: &GroupModel<A>,
    state: &GroupState<A>,
    p: &Parts,
    action: &GroupAction<A>,
) -> Option<(GroupState<A>, Parts)> {
    let next = model.next_state(state, action.clone())?;
    let built = model
        .within_boundary(&next)
        .then(|| parts(&next, Some((state, p))))?;
    Some((next, built))
}

/// The state a foreseen step leads to, built, and its parts: the foresight is checked
/// against them (a step foreseen wrongly would be a bug in [`crate::fingerprint`], and the
/// walk stops rather than miss a state).
fn build<A: Protocol>(
    model: &GroupModel<A>,
    state: &GroupState<A>,
    p: &Parts,
    action: &GroupAction<A>,
    foreseen: u64,
) -> Result<(GroupState<A>, Parts), String> {
    match successor(model, state, p, action) {
        None => Err(format!(
            "a step foreseen to lead somewhere has no successor: {action:?}"
        )),
        Some((_, built)) if built.print != foreseen => Err(format!(
            "a step's successor was foreseen as another state: {action:?}"
        )),
        Some(next) => Ok(next),
    }
}

/// One step of a path from an initial state, shared by every path through it: a state set
/// aside is kept as its path (tens of bytes), not as itself (kilobytes: its network), and
/// rebuilt when its turn comes. A step names its action by the action's fingerprint, since
/// an action's position among a state's actions follows hash-map order, which differs between
/// two copies of one state.
pub struct PathStep {
    /// The step before; `None` for the first, whose `action` is the initial state's index.
    up: Option<Rc<PathStep>>,
    action: u64,
    /// How many steps from the initial state.
    depth: u32,
}

impl PathStep {
    fn then(up: &Rc<PathStep>, action: u64) -> Rc<PathStep> {
        Rc::new(PathStep {
            up: Some(up.clone()),
            action,
            depth: up.depth.saturating_add(1),
        })
    }
}

/// The state at the end of `path`, rebuilt from the initial state, and the actions that
/// lead there.
pub fn replay<A: Protocol>(
    model: &GroupModel<A>,
    path: &PathStep,
) -> Option<(GroupState<A>, Vec<GroupAction<A>>)> {
    let mut steps = vec![path.action];
    let mut at = path;
    while let Some(up) = &at.up {
        steps.push(up.action);
        at = up;
    }
    let first = steps.pop()?;
    let mut state = model.init_states().into_iter().nth(first as usize)?;
    let mut taken = Vec::with_capacity(steps.len());
    while let Some(step) = steps.pop() {
        let (action, next) = take(model, &state, step)?;
        state = next;
        taken.push(action);
    }
    Some((state, taken))
}

/// The step of a path from `state`: the action with fingerprint `step`, and where it leads.
fn take<A: Protocol>(
    model: &GroupModel<A>,
    state: &GroupState<A>,
    step: u64,
) -> Option<(GroupAction<A>, GroupState<A>)> {
    let mut actions = Vec::new();
    model.actions(state, &mut actions);
    let action = actions.into_iter().find(|a| hash(a) == step)?;
    let next = model.next_state(state, action.clone())?;
    Some((action, next))
}

/// Rebuilds set-aside states from their paths, keeping the states along the last path it
/// rebuilt: the set-aside states are taken last in, first out, so the next path mostly
/// shares that one, and only its own last steps are taken again.
struct Replayer<A: Protocol> {
    along: Vec<(Rc<PathStep>, GroupState<A>)>,
}

impl<A: Protocol> Replayer<A> {
    fn state(&mut self, model: &GroupModel<A>, path: &Rc<PathStep>) -> Option<GroupState<A>> {
        let mut chain = vec![path.clone()];
        while let Some(up) = chain.last().and_then(|s| s.up.clone()) {
            chain.push(up);
        }
        chain.reverse();
        let shared = (self.along.iter().zip(&chain))
            .take_while(|((a, _), b)| Rc::ptr_eq(a, b))
            .count();
        self.along.truncate(shared);
        for step in &chain[shared..] {
            let next = match self.along.last() {
                None => model.init_states().into_iter().nth(step.action as usize)?,
                Some((_, state)) => take(model, state, step.action)?.1,
            };
            self.along.push((step.clone(), next));
        }
        self.along.last().map(|(_, s)| s.clone())
    }
}

/// What the walk calls on each state as it first reaches it, with the path there and the
/// walk's figures so far: why to stop, if it must.
pub type Visitor<'a, A> = dyn FnMut(&GroupState<A>, &Rc<PathStep>, &Walk) -> Option<String> + 'a;

/// What the walk found, beside the livelock verdict: every reachable state was visited unless
/// it `stopped`.
pub struct Walk {
    /// States visited (each reachable state once).
    pub visited: usize,
    /// Successors generated (a state reached again is counted again), the initial states
    /// included, as stateright counts them.
    pub generated: usize,
    /// The most steps from an initial state to a visited state, along the walk's paths.
    pub max_depth: usize,
    /// Why the walk stopped before the end: the visitor's reason, or the memory guard's.
    pub stopped: Option<String>,
}

/// Runs the check on `model`, within the memory guard (if any).
pub fn check<A: Protocol>(model: &GroupModel<A>, guard: Option<&memory::Guard>) -> Outcome<A> {
    let (walk, outcome) = walk(model, guard, true, &mut |_, _, _| None);
    match walk.stopped {
        Some(why) => Outcome::NotRun(why),
        None => outcome,
    }
}

/// The walk behind the check: every reachable state once, depth first, `visit` called on
/// each as it is first reached (with the path that reached it). `visit` returns why to stop,
/// if it must; the walk then ends at once, and its outcome says the check did not run.
///
/// This is how `groupy check` searches where the protocol claims liveness: the properties
/// are judged in `visit`, so the search and the livelock check are one walk, not two. With
/// `livelock` false it is a plain depth-first search (a fault's successor is followed at
/// once, and the outcome says the check was not asked for).
pub fn walk<A: Protocol>(
    model: &GroupModel<A>,
    guard: Option<&memory::Guard>,
    livelock: bool,
    visit: &mut Visitor<'_, A>,
) -> (Walk, Outcome<A>) {
    let mut report = Walk {
        visited: 0,
        generated: 0,
        max_depth: 0,
        stopped: None,
    };
    let (outcome, stopped) = match tarjan(model, guard, livelock, visit, &mut report) {
        Ok(outcome) => (outcome, None),
        Err(why) => (Outcome::NotRun(why.clone()), Some(why)),
    };
    report.stopped = stopped;
    (report, outcome)
}

/// The walk's body; `Err` is why it stopped.
fn tarjan<A: Protocol>(
    model: &GroupModel<A>,
    guard: Option<&memory::Guard>,
    livelock: bool,
    visit: &mut Visitor<'_, A>,
    report: &mut Walk,
) -> Result<Outcome<A>, String> {
    let mut mark: Marks = Marks::default();
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
                depth: 0,
            };
            (fingerprint(s), Rc::new(first))
        })
        .collect();
    report.generated = aside.len();
    let mut replayer = Replayer { along: Vec::new() };
    let mut foresight = Foresight::new();
    let mut stuck = false;
    let mut open = |state: GroupState<A>,
                    parts: Parts,
                    path: Rc<PathStep>,
                    component: &mut Vec<u64>,
                    report: &mut Walk| {
        report.visited += 1;
        report.max_depth = report.max_depth.max(path.depth as usize);
        if let Some(why) = visit(&state, &path, report) {
            return Err(why);
        }
        let at = component.len() as u32;
        // Only the livelock check needs the components.
        if livelock {
            component.push(parts.print);
        }
        let mut actions = Vec::new();
        model.actions(&state, &mut actions);
        Ok(Frame {
            // Judged already if `visit` judged the properties (memoized).
            can: livelock && quiescent(model, &state),
            state,
            at,
            low: at,
            actions,
            next: 0,
            path,
            parts,
        })
    };
    while let Some((f, path)) = aside.pop() {
        if mark.get(&f).is_some_and(|&m| m != ASIDE) {
            continue;
        }
        let root = model.brake.released(|| replayer.state(model, &path));
        let Some(root) = root else {
            return Err("a state set aside does not replay".into());
        };
        let mut print = parts(&root, None);
        if print.print != f {
            return Err("a state set aside replays as another state".into());
        }
        // Rebuilt by model steps, unless it is an initial state.
        print.settled = path.up.is_some();
        mark.insert(f, component.len() as u32);
        walk.push(open(root, print, path, &mut component, report)?);
        while let Some(top) = walk.last_mut() {
            if top.next < top.actions.len() {
                let action = top.actions[top.next].clone();
                top.next += 1;
                let fault = livelock && is_fault(&top.state, &action);
                // Most steps lead to a known state: foreseen, it is not built.
                let foreseen = if foresight.pays() {
                    peek(model, &top.state, &top.parts, &action)
                } else {
                    Peek::Build
                };
                let (f, built) = match foreseen {
                    Peek::Nothing => continue,
                    Peek::Print(f) => (f, None),
                    Peek::Build => match successor(model, &top.state, &top.parts, &action) {
                        Some(next) => (next.1.print, Some(next)),
                        None => continue,
                    },
                };
                report.generated += 1;
                // The action's fingerprint names it in a path: only new states need one.
                let step = || hash(&top.actions[top.next - 1]);
                let known = mark.get(&f).copied();
                foresight.saw(known.is_some());
                match known {
                    None if fault => {
                        mark.insert(f, ASIDE);
                        aside.push((f, PathStep::then(&top.path, step())));
                    }
                    Some(_) if fault => {}
                    None | Some(ASIDE) => {
                        if report.visited.is_multiple_of(4096) {
                            if let Some(why) = guard.and_then(|g| g.check(mark.len()).err()) {
                                return Err(why);
                            }
                        }
                        if component.len() >= ASIDE as usize {
                            return Err("more than 2^32 states on the stack".into());
                        }
                        let (next, p) = match built {
                            Some(built) => built,
                            None => {
                                build(model, &top.state, &top.parts, &top.actions[top.next - 1], f)?
                            }
                        };
                        mark.insert(f, component.len() as u32);
                        let path = PathStep::then(&top.path, step());
                        let frame = open(next, p, path, &mut component, report)?;
                        walk.push(frame);
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
    let states = report.visited;
    if !livelock {
        return Ok(Outcome::NotRun("not asked for".into()));
    }
    if !stuck {
        return Ok(Outcome::Free { states });
    }
    drop(walk);
    drop(aside);
    // Replays are not the search's expansions: the state cap does not count them.
    Ok(model
        .brake
        .released(|| nearest_livelock(model, guard, &mark, states)))
}

/// The lasso to the livelock nearest an initial state, once every state is `mark`ed.
fn nearest_livelock<A: Protocol>(
    model: &GroupModel<A>,
    guard: Option<&memory::Guard>,
    mark: &Marks,
    states: usize,
) -> Outcome<A> {
    // The nearest state in a livelock, breadth first over every step: each state's
    // parent and the action's position among its actions, to replay the path.
    let mut parent: HashMap<u64, (u64, u32), Fingerprints> = HashMap::default();
    let mut queue = VecDeque::new();
    let mut found = None;
    for s in model.init_states() {
        let f = fingerprint(&s);
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
            let g = fingerprint(&next);
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
    let Some(mut state) = model
        .init_states()
        .into_iter()
        .find(|s| fingerprint(s) == at)
    else {
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
        let f = fingerprint(&state);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, NetworkKind};
    use crate::gms4::Gms4;
    use crate::gms5::Gms5;
    use std::collections::HashSet;

    #[test]
    fn the_visited_table_keeps_every_fingerprint_once_across_its_shards() {
        let mut marks = Marks::default();
        assert_eq!(marks.get(&7), None);
        // Fingerprints one shard apart, in one shard, and at the ends.
        let fs = [
            0,
            1 << 49,
            2 << 49,
            255 << 49,
            256 << 49,
            u64::MAX,
            7,
            7 | (1 << 63),
        ];
        for (i, f) in fs.iter().enumerate() {
            marks.insert(*f, i as u32);
        }
        marks.insert(7, CAN);
        assert_eq!(marks.len(), fs.len());
        for (i, f) in fs.iter().enumerate() {
            let want = if *f == 7 { CAN } else { i as u32 };
            assert_eq!(marks.get(f), Some(&want), "{f:#x}");
        }
        assert_eq!(marks.get(&(3 << 49)), None);
    }

    /// A fingerprint that keeps the hashes of the nodes a state shares with the one it came
    /// from equals the one computed afresh, on every step of small models (the walk would
    /// otherwise see one state as two, or fail to rebuild a state set aside).
    fn kept_hashes_are_fresh_hashes<A: Protocol>(cfg: Config) {
        let m = GroupModel::<A>::new(cfg.clone());
        let mut seen = HashSet::new();
        let mut todo: Vec<_> = m.init_states();
        let mut actions = Vec::new();
        let mut shared = 0;
        while let Some(s) = todo.pop() {
            let p = parts(&s, None);
            if !seen.insert(p.print) || seen.len() > 20_000 {
                continue;
            }
            m.actions(&s, &mut actions);
            for a in actions.drain(..) {
                let Some(t) = m.next_state(&s, a) else {
                    continue;
                };
                let kept = parts(&t, Some((&s, &p)));
                let fresh = parts(&t, None);
                assert_eq!(
                    (kept.print, &kept.nodes),
                    (fresh.print, &fresh.nodes),
                    "{cfg}"
                );
                shared += (0..t.actor_states.len())
                    .filter(|&i| std::sync::Arc::ptr_eq(&t.actor_states[i], &s.actor_states[i]))
                    .count();
                todo.push(t);
            }
        }
        assert!(shared > 0, "{cfg}: no node was ever shared");
    }

    #[test]
    fn a_fingerprint_from_kept_node_hashes_is_the_fresh_one() {
        for network in [NetworkKind::Ordered, NetworkKind::Lossy, NetworkKind::Udp] {
            let cfg = Config {
                network,
                losses: network.loses().then_some(1),
                msgs: 1,
                ..Config::default()
            };
            kept_hashes_are_fresh_hashes::<Gms4>(cfg.clone());
            kept_hashes_are_fresh_hashes::<Gms5>(cfg);
        }
    }
}
