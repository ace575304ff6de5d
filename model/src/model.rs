//! The model the checker explores: stateright's [`ActorModel`] over one protocol's actors,
//! wrapped in a thin [`Model`] that turns its crash/recover and timer actions into the
//! environment of `notes/semantics.md`, and (unless `--reduce none`) applies the reductions of
//! `notes/reductions.md` through its own [`Action`] type.
//!
//! Why a wrapper: `ActorModel` offers `Recover` for every crashed actor and bounds how many
//! actors are down *at the same time*, i.e. crash-recovery with a budget that refreshes. Here
//! a crashed node never comes back, so `Recover` is filtered out and `max_crashes` becomes
//! "at most C crashes in a run". The same filter restricts *where* a crash may happen
//! (`crash-at`) and carves the perfect failure detector out of the timer-driven one the
//! actors use live: a `Suspect` timeout is offered only when the suspected leader has crashed
//! and (unless copies linger forever, on the duplicating network) nothing it sent to the
//! suspecting node is still in flight.

use crate::app::{Event, Payload};
use crate::config::{Config, CrashAt, Detector, NetworkKind, Reduce};
use crate::group::{suspected, GroupTimer, Marks, Member, Role, Setup, TimerKind};
use crate::log::{Accepted, NodeLog};
use crate::properties::{When, PROPERTIES};
use crate::protocol::Protocol;
use crate::witness::{self, NodeView, Shown, WITNESSES};
use serde::{Deserialize, Serialize};
use stateright::actor::{
    Actor, ActorModel, ActorModelAction, ActorModelState, Id, LossyNetwork, Network,
};
use stateright::{Expectation, Model, Path, Property};
use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

/// A model state: stateright's, with the environment's faults so far as its history (the loss
/// budget, `--losses`, and the false-suspicion budget, `--false-suspicions`, are environment
/// bounds, so what is spent of them is part of the state).
pub type GroupState<A> = ActorModelState<A, Faults>;

/// The faults a run has met, counted only where a budget bounds them (an unbounded count
/// would make every fault a new state), and the lives that restarts ended.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Faults {
    /// Messages lost.
    pub losses: u8,
    /// Suspicions of a node that had not crashed.
    pub false_suspicions: u8,
    /// Crashed nodes that came back (`--restarts`).
    pub restarts: u8,
    /// What each life a restart ended had delivered and multicast: a history variable (the
    /// restarted node remembers none of it, the properties judge it as a crashed node's).
    pub past: Vec<PastLife>,
}

/// A node's life before a restart, as its application saw it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PastLife {
    pub node: Id,
    /// It was the node's first life, begun in the initial view.
    pub founder: bool,
    pub member: bool,
    pub events: Vec<Event>,
    pub accepted: Vec<Accepted>,
    /// How many multicasts its application issued.
    pub issued: u32,
}

/// One of stateright's actions, as the actors take them.
pub type ActorAction<A> = ActorModelAction<<A as Actor>::Msg, <A as Actor>::Timer, ()>;
pub type GroupAction<A> = Action<<A as Actor>::Msg, <A as Actor>::Timer>;

/// A step of the model: one of stateright's actor actions or, with the reductions on, a
/// whole broadcast (see `notes/reductions.md`). Each is a sequence of actor actions
/// ([`GroupModel::expand`]), so every reduced path is a path of the unreduced model.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Action<M, T> {
    Actor(ActorModelAction<M, T, ()>),
    /// The node runs its broadcast in progress to the end: every remaining send, then its
    /// own delivery.
    Broadcast(Id),
    /// The node makes this many more sends of its broadcast in progress (at least one, at
    /// most all of them), then crashes: a crash cutting the broadcast, as an explicit choice.
    Cut(Id, u8),
}

/// Stops a search from inside the model: once pulled, or once `cap` states were expanded, no
/// state has a successor, so the checker's threads drain their queues and end.
#[derive(Debug, Default)]
pub struct Brake {
    pulled: AtomicBool,
    /// States to expand at most (the state cap): each unique state is expanded once.
    pub cap: Option<usize>,
    expanded: AtomicUsize,
    /// Set while stateright rebuilds its discoveries' paths, which it does by replaying the
    /// model's actions: they must be offered then.
    replaying: AtomicBool,
}

impl Brake {
    pub fn with_cap(cap: Option<usize>) -> Self {
        Brake {
            cap,
            ..Brake::default()
        }
    }

    pub fn pull(&self) {
        self.pulled.store(true, Ordering::Relaxed);
    }

    /// Whether the cap stopped the search.
    pub fn capped(&self) -> bool {
        self.cap
            .is_some_and(|cap| self.expanded.load(Ordering::Relaxed) > cap)
    }

    /// Runs `f` with every action offered, whatever stopped the search (for replays).
    pub fn released<T>(&self, f: impl FnOnce() -> T) -> T {
        self.replaying.store(true, Ordering::Relaxed);
        let t = f();
        self.replaying.store(false, Ordering::Relaxed);
        t
    }

    /// Whether a state may be expanded now (counting it).
    fn expand(&self) -> bool {
        if self.replaying.load(Ordering::Relaxed) {
            return true;
        }
        if self.pulled.load(Ordering::Relaxed) {
            return false;
        }
        match self.cap {
            None => true,
            Some(cap) => self.expanded.fetch_add(1, Ordering::Relaxed) < cap,
        }
    }
}

/// One protocol under one environment, ready for the checker or the Explorer.
#[derive(Clone)]
pub struct GroupModel<A: Protocol> {
    pub inner: ActorModel<A, Config, Faults>,
    pub(crate) properties: Vec<Property<GroupModel<A>>>,
    /// Offer only actions whose `next_state` is `Some` (see `check::check_protocol`).
    pub only_transitions: bool,
    /// How a search that must stop (the memory guard, the state cap, Ctrl-C) ends
    /// stateright's threads, which have no stop of their own.
    pub brake: Arc<Brake>,
    /// How many quiescent states the search judged (liveness and convergence are judged
    /// there): stateright judges each state it stores once.
    pub judged_quiescent: Arc<AtomicUsize>,
    /// Per node, the multicasts its application issues, so that reading a state's logs does
    /// not rebuild them.
    pub(crate) multicasts: Vec<Vec<Payload>>,
}

impl<A: Protocol> GroupModel<A> {
    pub fn new(cfg: Config) -> Self {
        let actors: Vec<A> = (0..cfg.actor_count())
            .map(|i| A::with_setup(Setup::for_node(&cfg, i)))
            .collect();
        let network = match cfg.network {
            NetworkKind::Ordered => Network::new_ordered([]),
            NetworkKind::Unordered | NetworkKind::Lossy => {
                Network::new_unordered_nonduplicating([])
            }
            NetworkKind::Duplicating | NetworkKind::Udp => Network::new_unordered_duplicating([]),
        };
        let lossy = if cfg.network.loses() {
            LossyNetwork::Yes
        } else {
            LossyNetwork::No
        };
        let crashes = cfg.crashes;
        let properties = properties_of::<A>(&cfg);
        let multicasts = (0..cfg.actor_count())
            .map(|i| multicasts(Id::from(i), cfg.quota(i) as usize))
            .collect();
        GroupModel {
            inner: ActorModel::new(cfg, Faults::default())
                .actors(actors)
                .init_network(network)
                .lossy_network(lossy)
                .max_crashes(crashes),
            multicasts,
            properties,
            only_transitions: false,
            brake: Arc::default(),
            judged_quiescent: Arc::default(),
        }
    }

    pub fn cfg(&self) -> &Config {
        &self.inner.cfg
    }

    /// Whether a property is one this protocol promises here.
    pub fn claims(&self, name: &str) -> bool {
        A::DESCRIPTOR.claims_under(name, self.cfg())
    }

    /// The environment's filter over stateright's actions (see the module doc).
    pub fn allowed(&self, state: &GroupState<A>, action: &ActorAction<A>) -> bool {
        let cfg = self.cfg();
        match action {
            ActorModelAction::Recover(_) => state.history.restarts < cfg.restarts,
            // Every crash counts, a restarted node's included (stateright counts only the
            // nodes down now).
            ActorModelAction::Crash(_) if !self.may_crash(state) => false,
            ActorModelAction::Crash(id) => match cfg.crash_at {
                CrashAt::Any => true,
                CrashAt::Bcast => {
                    let node = &state.actor_states[usize::from(*id)];
                    node.role() == Role::Leader && node.mid_broadcast()
                }
            },
            ActorModelAction::Timeout(id, t)
                if t.kind() == TimerKind::Suspect && cfg.detector == Detector::Perfect =>
            {
                let node = &state.actor_states[usize::from(*id)];
                match suspected(&**node, t) {
                    Some(leader) => {
                        state.crashed[usize::from(leader)]
                            && (cfg.network.duplicates() || !self.in_flight(state, leader, *id))
                    }
                    None => true,
                }
            }
            ActorModelAction::Timeout(..) if is_false_suspicion(state, action) => cfg
                .false_suspicions
                .is_none_or(|k| state.history.false_suspicions < k),
            ActorModelAction::Drop(_) => cfg.losses.is_none_or(|l| state.history.losses < l),
            ActorModelAction::Timeout(id, t) if t.kind() == TimerKind::Retransmit => {
                self.may_retransmit(state, *id, t)
            }
            _ => true,
        }
    }

    /// A retransmission timer fires only when nothing is in flight between the node and the
    /// peers it would repeat something to, in either direction: the retransmission timeout
    /// exceeds a round trip. (A datagram that is delayed past it and then arrives alongside its
    /// repetition is a duplicate, which the duplicating networks explore; on them repetitions
    /// add no new copies and the timer may fire at any time.) Without this, repetitions would
    /// pile up copies in the network without bound.
    fn may_retransmit(&self, state: &GroupState<A>, id: Id, timer: &A::Timer) -> bool {
        if self.cfg().network.duplicates() {
            return true;
        }
        let i = usize::from(id);
        let mut out = stateright::actor::Out::new();
        let mut st = Cow::Borrowed(&*state.actor_states[i]);
        self.inner.actors[i].on_timeout(id, &mut st, timer, &mut out);
        out.iter().all(|c| match c {
            stateright::actor::Command::Send(dst, _) => {
                !self.in_flight_any(state, id, *dst) && !self.in_flight_any(state, *dst, id)
            }
            _ => true,
        })
    }

    /// Whether any message from `src` to `dst` is in the network.
    fn in_flight_any(&self, state: &GroupState<A>, src: Id, dst: Id) -> bool {
        any_message(state, src, dst, |_| true)
    }
}

impl<A: Protocol> GroupModel<A> {
    pub(crate) fn reduced(&self) -> bool {
        self.cfg().reduce == Reduce::All
    }

    /// The actor actions a model action stands for, in order, from `state`.
    pub fn expand(&self, state: &GroupState<A>, action: &GroupAction<A>) -> Vec<ActorAction<A>> {
        let send = |id: Id| ActorModelAction::Timeout(id, A::Timer::SEND);
        match action {
            Action::Actor(a) => vec![a.clone()],
            Action::Broadcast(id) => {
                let left = remaining_sends(state, *id);
                // Every send, then the step that delivers locally and starts the next job.
                vec![send(*id); left + 1]
            }
            Action::Cut(id, sends) => {
                let mut v = vec![send(*id); usize::from(*sends)];
                v.push(ActorModelAction::Crash(*id));
                v
            }
        }
    }

    /// The broadcasts in progress that the reduced model runs as one step: a live node with
    /// an active broadcast whose send timer is armed.
    fn broadcasting(&self, state: &GroupState<A>, actions: &[ActorAction<A>]) -> Vec<Id> {
        actions
            .iter()
            .filter_map(|a| match a {
                ActorModelAction::Timeout(id, t) if t.kind() == TimerKind::Send => Some(*id),
                _ => None,
            })
            .filter(|id| {
                state.actor_states[usize::from(*id)]
                    .broadcast_in_progress()
                    .is_some()
            })
            .collect()
    }

    /// The actor actions the environment allows in `state` (before any reduction).
    pub fn actor_actions(&self, state: &GroupState<A>, actions: &mut Vec<ActorAction<A>>) {
        self.inner.actions(state, actions);
        actions.retain(|a| self.allowed(state, a));
    }

    /// With the reductions on, a delivery of a message its receiver would only hold back
    /// (it stays in the network until the receiver takes it).
    ///
    /// On the ordered network a message waits only if everything queued behind it on its
    /// channel waits too: a message the receiver takes must not be stuck behind one it holds.
    pub fn deferred(&self, state: &GroupState<A>, action: &ActorAction<A>) -> bool {
        match action {
            ActorModelAction::Deliver { src, dst, msg } if self.reduced() => {
                let holds = |m: &A::Msg| self.holds_back(state, *src, *dst, m);
                match &state.network {
                    Network::Ordered(channels) => channels
                        .get(&(*src, *dst))
                        .is_some_and(|q| q.iter().all(holds)),
                    _ => holds(msg),
                }
            }
            _ => false,
        }
    }

    fn holds_back(&self, state: &GroupState<A>, src: Id, dst: Id, msg: &A::Msg) -> bool {
        let i = usize::from(dst);
        self.inner.actors[i].holds_back(dst, &state.actor_states[i], src, msg)
    }

    /// Whether a message from `src` to `dst` is still on its way. One that `dst` holds back
    /// has arrived (it waits in `dst`'s mailbox, which the reduced model keeps in the network).
    fn in_flight(&self, state: &GroupState<A>, src: Id, dst: Id) -> bool {
        any_message(state, src, dst, |msg| {
            !(self.reduced() && self.holds_back(state, src, dst, msg))
        })
    }

    /// A delivery that commutes with every other node's steps until it is taken, if there is
    /// one: its index in `raw`, and whether its receiver may crash before taking it (then all
    /// the receiver's steps must be explored, not this one alone). The environment's part is
    /// FIFO links and a perfect detector; the protocol's, that taking the message commutes
    /// with the receiver's other steps ([`Protocol::takes_independently`]).
    fn independent_delivery(
        &self,
        state: &GroupState<A>,
        raw: &[ActorAction<A>],
    ) -> Option<(usize, bool)> {
        let cfg = self.cfg();
        if cfg.network != NetworkKind::Ordered || cfg.detector != Detector::Perfect {
            return None;
        }
        let i = raw.iter().position(|a| match a {
            ActorModelAction::Deliver { src, dst, msg } => {
                let i = usize::from(*dst);
                !state.crashed[i]
                    && self.inner.actors[i].takes_independently(
                        *dst,
                        &state.actor_states[i],
                        *src,
                        msg,
                    )
            }
            _ => false,
        })?;
        let may_crash = raw.contains(&ActorModelAction::Crash(actor_of(&raw[i])));
        Some((i, may_crash))
    }

    /// A crashed node comes back (`--restarts`): stateright starts its actor again with its
    /// storage, which holds its next incarnation number and nothing else; the life that
    /// ended goes into the history, where the properties still judge it.
    fn restart(&self, state: &GroupState<A>, id: Id) -> Option<GroupState<A>> {
        let i = usize::from(id);
        let old = &state.actor_states[i];
        let mut before = state.clone();
        let incarnation = state.actor_storages[i].map_or(1, |k| k + 1);
        before.actor_storages[i] = Some(incarnation);
        let mut next = self
            .inner
            .next_state(&before, ActorModelAction::Recover(id))?;
        next.history.restarts = next.history.restarts.saturating_add(1);
        next.history.past.push(PastLife {
            node: id,
            founder: self.founder(state, i),
            member: old.role() != Role::Outside,
            events: old.app().log.clone(),
            accepted: old.accepted().to_vec(),
            issued: old.worker().issued,
        });
        Some(next)
    }

    /// Whether node `i`'s present log began in the initial view: its first life, of one of
    /// the first `--nodes` nodes. A node left out of the group (gms5) is still in its first
    /// life, with a new incarnation number: it keeps its log and joins again; only a
    /// restart ends a life.
    fn founder(&self, state: &GroupState<A>, i: usize) -> bool {
        i < self.cfg().nodes && !state.history.past.iter().any(|l| usize::from(l.node) == i)
    }

    /// One actor step as the model takes it, for judging whether a step changes anything:
    /// stateright's step, then, with the reductions on, the inert mail dropped (a copy of an
    /// inert reply sent again changes nothing: the reduced model drops it at once).
    pub fn actor_step(&self, s: &GroupState<A>, a: ActorAction<A>) -> Option<GroupState<A>> {
        let mut next = self.inner.next_state(s, a)?;
        if self.reduced() {
            self.drop_inert(&mut next);
        }
        Some(next)
    }

    /// Removes every message to a live node that the node would take without effect in
    /// every state it can reach ([`Protocol::inert`]).
    fn drop_inert(&self, state: &mut GroupState<A>) {
        let (nodes, crashed) = (&state.actor_states, &state.crashed);
        let inert = |src: Id, dst: Id, msg: &A::Msg| {
            let i = usize::from(dst);
            !crashed[i] && self.is_inert(&nodes[i], dst, src, msg)
        };
        match &mut state.network {
            Network::Ordered(channels) => {
                for ((src, dst), q) in channels.iter_mut() {
                    // A flow is copied only if something leaves it (it is shared with
                    // the state before).
                    if q.iter().any(|m| inert(*src, *dst, m)) {
                        std::sync::Arc::make_mut(q).retain(|m| !inert(*src, *dst, m));
                    }
                }
                channels.retain(|_, q| !q.is_empty());
            }
            Network::UnorderedNonDuplicating(bag) => {
                bag.retain(|env, _| !inert(env.src, env.dst, &env.msg))
            }
            Network::UnorderedDuplicating(set, _) => {
                set.retain(|env| !inert(env.src, env.dst, &env.msg))
            }
        }
    }

    /// Whether `dst`, in state `node`, takes `msg` from `src` without effect in every state
    /// this life of it can reach ([`Protocol::inert`]).
    pub(crate) fn is_inert(&self, node: &A::State, dst: Id, src: Id, msg: &A::Msg) -> bool {
        self.inner.actors[usize::from(dst)].inert(dst, node, src, msg)
    }

    /// [`handler_says`] for the delivery of `msg` from `src` to the live node `dst`, on an
    /// unordered network.
    fn delivery_changes(&self, s: &GroupState<A>, src: Id, dst: Id, msg: &A::Msg) -> Option<bool> {
        let i = usize::from(dst);
        let before = &*s.actor_states[i];
        let mut after = Cow::Borrowed(before);
        let mut out = stateright::actor::Out::new();
        self.inner.actors[i].on_msg(dst, &mut after, src, msg.clone(), &mut out);
        let no_op = stateright::actor::is_no_op(&after, &out);
        handler_says(before, &after, no_op)
    }

    /// [`handler_says`] for timer `t` of the live node `id` firing.
    fn timeout_changes(&self, s: &GroupState<A>, id: Id, t: &A::Timer) -> Option<bool> {
        let i = usize::from(id);
        let before = &*s.actor_states[i];
        let mut after = Cow::Borrowed(before);
        let mut out = stateright::actor::Out::new();
        self.inner.actors[i].on_timeout(id, &mut after, t, &mut out);
        let no_op = stateright::actor::is_no_op_with_timer(&after, &out, t);
        handler_says(before, &after, no_op)
    }

    /// Whether the crash budget allows one more crash.
    fn may_crash(&self, state: &GroupState<A>) -> bool {
        let down = state.crashed.iter().filter(|c| **c).count();
        down + usize::from(state.history.restarts) < self.cfg().crashes
    }
}

/// The marks a step clears on a node that had `before` and has `now` after the step: those
/// of the step before, if any is still set (reduction 7, notes/reductions.md).
pub(crate) fn stale_marks(before: Marks, now: Marks) -> Option<Marks> {
    now.meets(before).then_some(before)
}

/// Whether the network holds a message from `src` to `dst` that satisfies `pred`.
///
/// Not `Network::iter_all`: in stateright 0.31 its ordered-network iterator never advances
/// past the head of a channel, so it loops forever once a channel holds a message.
fn any_message<A: Protocol>(
    state: &GroupState<A>,
    src: Id,
    dst: Id,
    pred: impl Fn(&A::Msg) -> bool,
) -> bool {
    match &state.network {
        Network::Ordered(channels) => channels
            .get(&(src, dst))
            .is_some_and(|q| q.iter().any(pred)),
        Network::UnorderedNonDuplicating(bag) => bag
            .keys()
            .any(|env| env.src == src && env.dst == dst && pred(&env.msg)),
        Network::UnorderedDuplicating(set, _) => set
            .iter()
            .any(|env| env.src == src && env.dst == dst && pred(&env.msg)),
    }
}

/// Whether an action is the failure detector being wrong: a suspicion of a node that has not
/// crashed. (Suspecting a crashed node before all it sent has arrived is early, not wrong:
/// the unreliable detector may do it at no cost to the budget.)
pub fn is_false_suspicion<A: Protocol>(state: &GroupState<A>, action: &ActorAction<A>) -> bool {
    match action {
        ActorModelAction::Timeout(id, t) if t.kind() == TimerKind::Suspect => {
            let node = &state.actor_states[usize::from(*id)];
            suspected(&**node, t).is_some_and(|x| !state.crashed[usize::from(x)])
        }
        _ => false,
    }
}

/// The node an actor action is a step of (the receiver, for a delivery or a loss).
fn actor_of<M, T>(a: &ActorModelAction<M, T, ()>) -> Id {
    match a {
        ActorModelAction::Deliver { dst, .. } => *dst,
        ActorModelAction::Drop(env) => env.dst,
        ActorModelAction::Timeout(id, _)
        | ActorModelAction::Crash(id)
        | ActorModelAction::Recover(id) => *id,
        ActorModelAction::SelectRandom { actor, .. } => *actor,
    }
}

/// Sends left in `id`'s broadcast in progress.
fn remaining_sends<A: Protocol>(state: &GroupState<A>, id: Id) -> usize {
    state.actor_states[usize::from(id)]
        .broadcast_in_progress()
        .map_or(0, |b| b.to.len().saturating_sub(b.sent))
}

/// Drops every message addressed to a crashed node: it can never be delivered (fail-stop),
/// so it only multiplies states.
fn drop_messages_to_the_dead<A: Protocol>(state: &mut GroupState<A>) {
    let crashed = state.crashed.clone();
    let dead = |id: &Id| crashed[usize::from(*id)];
    match &mut state.network {
        Network::Ordered(channels) => channels.retain(|(_, dst), _| !dead(dst)),
        Network::UnorderedNonDuplicating(bag) => bag.retain(|env, _| !dead(&env.dst)),
        Network::UnorderedDuplicating(set, last) => {
            set.retain(|env| !dead(&env.dst));
            if last.as_ref().is_some_and(|env| dead(&env.dst)) {
                *last = None;
            }
        }
    }
}

impl<A: Protocol> Model for GroupModel<A> {
    type State = GroupState<A>;
    type Action = GroupAction<A>;

    fn init_states(&self) -> Vec<Self::State> {
        self.inner.init_states()
    }

    fn actions(&self, state: &Self::State, actions: &mut Vec<Self::Action>) {
        if !self.brake.expand() {
            return;
        }
        let mut raw = Vec::new();
        self.actor_actions(state, &mut raw);
        if self.only_transitions {
            raw.retain(|a| self.inner.next_state(state, a.clone()).is_some());
        }
        if !self.reduced() {
            actions.extend(raw.into_iter().map(Action::Actor));
            return;
        }
        // Selective receive: a message the node would only hold back stays in the network.
        raw.retain(|a| !self.deferred(state, a));
        // While a node has a broadcast pending, only that node's steps are offered (a
        // partial-order reduction: its sends are independent of every other node's steps,
        // notes/reductions.md), and its broadcast is one step: run to the end, or crash
        // after each of its sends.
        let Some(&leader) = self.broadcasting(state, &raw).iter().min() else {
            // A slave's delivery from its leader that commutes with everything else is, on
            // its own, a sufficient set of steps to explore (notes/reductions.md, 6).
            match self.independent_delivery(state, &raw) {
                Some((i, false)) => actions.push(Action::Actor(raw.swap_remove(i))),
                // The receiver may crash first: every step of the receiver.
                Some((i, true)) => {
                    let node = actor_of(&raw[i]);
                    actions.extend(
                        raw.into_iter()
                            .filter(|a| actor_of(a) == node)
                            .map(Action::Actor),
                    )
                }
                None => actions.extend(raw.into_iter().map(Action::Actor)),
            }
            return;
        };
        for a in raw {
            match &a {
                ActorModelAction::Timeout(id, t)
                    if *id == leader && t.kind() == TimerKind::Send =>
                {
                    actions.push(Action::Broadcast(leader));
                    if self.may_crash(state) {
                        let left = remaining_sends(state, leader) as u8;
                        actions.extend((1..=left).map(|k| Action::Cut(leader, k)));
                    }
                }
                _ if actor_of(&a) == leader => actions.push(Action::Actor(a)),
                _ => {}
            }
        }
    }

    fn next_state(&self, state: &Self::State, action: Self::Action) -> Option<Self::State> {
        let mut steps = self.expand(state, &action).into_iter();
        let first = steps.next()?;
        let lost = matches!(first, ActorModelAction::Drop(_));
        let wrong = is_false_suspicion(state, &first);
        let mut next = match first {
            ActorModelAction::Recover(id) => self.restart(state, id)?,
            first => self.inner.next_state(state, first)?,
        };
        for step in steps {
            next = self.inner.next_state(&next, step)?;
        }
        // Faults are counted only when bounded: an unbounded count would make every fault a
        // new state.
        if lost && self.cfg().losses.is_some() {
            next.history.losses = next.history.losses.saturating_add(1);
        }
        if wrong && self.cfg().false_suspicions.is_some() {
            next.history.false_suspicions = next.history.false_suspicions.saturating_add(1);
        }
        // What is addressed to the dead is lost, and also what live nodes send them after the
        // crash (a slave forwarding to a leader it has not suspected yet): the environment's
        // rule in every mode (notes/semantics.md). A network does not hold a datagram for a
        // dead host; kept, it would block the retransmission rule, which waits for what is
        // in flight, for good (`--reduce none` once found gms5 VIOLATED that way), and a new
        // life would receive its old life's mail.
        if next.crashed.iter().any(|c| *c) {
            drop_messages_to_the_dead(&mut next);
        }
        if self.reduced() {
            // stateright remembers the last message delivered on a duplicating network so
            // that a delivery changing nothing else still makes a new state; nothing groupy
            // checks reads it (notes/reductions.md).
            if let Network::UnorderedDuplicating(_, last) = &mut next.network {
                *last = None;
            }
            // A message its receiver will take without effect whenever it comes is delivered
            // now, in effect (notes/reductions.md, 8).
            self.drop_inert(&mut next);
            for (i, crashed) in state.crashed.iter().enumerate() {
                if next.crashed[i] && !crashed {
                    std::sync::Arc::make_mut(&mut next.actor_states[i]).forget();
                }
            }
            // A mark says what the step that set it did: the witnesses see it in the state
            // that step made, and the next step clears it, so that states differing only in
            // what was once done are one (notes/reductions.md, 7). A mark set again by the
            // step after is cleared too: the state before it showed it already.
            for (i, before) in state.actor_states.iter().enumerate() {
                if let Some(old) = stale_marks(before.marks(), next.actor_states[i].marks()) {
                    let st = std::sync::Arc::make_mut(&mut next.actor_states[i]);
                    st.core_mut().marks.clear(old);
                }
            }
        }
        Some(next)
    }

    /// The Explorer's labels, worded where the traces are ([`crate::trace::Act`]).
    fn format_action(&self, action: &Self::Action) -> String {
        crate::trace::label(action).to_string()
    }

    fn format_step(&self, state: &Self::State, action: Self::Action) -> Option<String> {
        let mut out = Vec::new();
        let mut s = state.clone();
        for a in self.expand(state, &action) {
            out.push(self.inner.format_step(&s, a.clone())?);
            s = self.inner.next_state(&s, a)?;
        }
        Some(out.join("\n"))
    }

    fn as_svg(&self, path: Path<Self::State, Self::Action>) -> Option<String> {
        let steps = path.into_vec();
        let init = steps.first()?.0.clone();
        let mut inner_actions = Vec::new();
        for (state, action) in &steps {
            if let Some(a) = action {
                inner_actions.extend(self.expand(state, a));
            }
        }
        self.inner
            .as_svg(Path::from_actions(&self.inner, init, &inner_actions)?)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        self.properties.clone()
    }

    fn within_boundary(&self, state: &Self::State) -> bool {
        Model::within_boundary(&self.inner, state)
    }
}

/// A model state in the shape every property reads: one [`NodeLog`] per node.
pub fn logs<'a, A: Protocol>(m: &'a GroupModel<A>, s: &'a GroupState<A>) -> Vec<NodeLog<'a>> {
    s.actor_states
        .iter()
        .enumerate()
        .map(|(i, st)| {
            let issued = st.worker().issued as usize;
            NodeLog {
                node: Id::from(i),
                crashed: s.crashed[i],
                founder: m.founder(s, i),
                member: st.role() != Role::Outside,
                events: Cow::Borrowed(&st.app().log),
                multicast: issued_by(m, Id::from(i), issued),
                accepted: Cow::Borrowed(st.accepted()),
            }
        })
        .chain(s.history.past.iter().map(|life| {
            let issued = life.issued as usize;
            NodeLog {
                node: life.node,
                crashed: true,
                founder: life.founder,
                member: life.member,
                events: Cow::Borrowed(&life.events),
                multicast: issued_by(m, life.node, issued),
                accepted: Cow::Borrowed(&life.accepted),
            }
        }))
        .collect()
}

/// The multicasts `node`'s application issued, from the model's list where it has them.
fn issued_by<A: Protocol>(m: &GroupModel<A>, node: Id, issued: usize) -> Cow<'_, [Payload]> {
    match m.multicasts[usize::from(node)].get(..issued) {
        Some(list) => Cow::Borrowed(list),
        None => Cow::Owned(multicasts(node, issued)),
    }
}

/// The first `n` multicasts of `node`'s application: a pure function of its counter.
fn multicasts(node: Id, n: usize) -> Vec<Payload> {
    (0..n as u32)
        .map(|seq| Payload::issued_by(node, seq))
        .collect()
}

/// Property `I` of [`PROPERTIES`] judged on a model state, at the moments its [`When`] says.
///
/// Liveness (`eventually`) is judged at every quiescent state, as convergence is: a run may
/// end at any of them (the environment stops crashing), so by then every multicast must have
/// got through. Not with stateright's `eventually`, which looks only at states without any
/// successor: where a duplicate can always be delivered again, or a crash is still allowed,
/// there are none (or only those with every crash spent), and a property never judged cannot
/// fail. That a quiescent state is reached at all is the `quiescence reached` witness; that one
/// is reachable from everywhere, the livelock check.
fn judge<A: Protocol, const I: usize>(m: &GroupModel<A>, s: &GroupState<A>) -> bool {
    match PROPERTIES[I].when {
        When::Always => judged(m, s, I),
        When::AtQuiescence | When::Eventually => {
            if !quiescent(m, s) {
                return true;
            }
            if I == FIRST_JUDGED_AT_QUIESCENCE {
                m.judged_quiescent.fetch_add(1, Ordering::Relaxed);
            }
            judged(m, s, I)
        }
    }
}

/// One state's judgement, kept while stateright asks for it condition by condition: it asks
/// every property and witness of a state one after the other, and building the logs once per
/// property, and on the unordered networks deciding quiescence (which tries the state's
/// deliveries) once per quiescence-judged property and witness, were most of what judging a
/// state cost.
///
/// Keyed by the parts of the state each verdict reads, not by a fingerprint: a verdict is
/// never taken from another state.
struct Memo<A: Protocol> {
    cfg: Config,
    /// What the properties over logs read ([`logs`]): the nodes (shared with the state, and
    /// compared by pointer first), the crashes and the history.
    nodes: Vec<std::sync::Arc<A::State>>,
    crashed: Vec<bool>,
    history: Faults,
    /// Each property's verdict, once judged: the always ones all at once, those judged at
    /// quiescence all at once when the state is quiescent.
    holds: [Option<bool>; PROPERTIES.len()],
    /// The whole state whose quiescence was decided, and whether it was quiescent.
    quiescent: Option<(GroupState<A>, bool)>,
}

thread_local! {
    /// This thread's [`Memo`] (of whichever protocol it checks last: a `static` cannot be
    /// generic).
    static MEMO: std::cell::RefCell<Option<Box<dyn std::any::Any>>> =
        const { std::cell::RefCell::new(None) };
}

/// Runs `f` on this thread's memo of state `s` under `m`, emptied first if it holds another
/// state's logs.
fn with_memo<A: Protocol, R>(
    m: &GroupModel<A>,
    s: &GroupState<A>,
    f: impl FnOnce(&mut Memo<A>) -> R,
) -> R {
    MEMO.with(|cell| {
        let mut cell = cell.borrow_mut();
        let memo = cell.as_mut().and_then(|b| b.downcast_mut::<Memo<A>>());
        match memo {
            Some(memo)
                if same_nodes(&memo.nodes, &s.actor_states)
                    && memo.crashed == s.crashed
                    && memo.history == s.history
                    && memo.cfg == *m.cfg() =>
            {
                f(memo)
            }
            _ => {
                let mut memo = Memo {
                    cfg: m.cfg().clone(),
                    nodes: s.actor_states.clone(),
                    crashed: s.crashed.clone(),
                    history: s.history.clone(),
                    holds: [None; PROPERTIES.len()],
                    quiescent: None,
                };
                let r = f(&mut memo);
                *cell = Some(Box::new(memo));
                r
            }
        }
    })
}

/// The same nodes, compared by pointer first: a state shares its unchanged nodes with the
/// state it came from.
fn same_nodes<S: PartialEq>(a: &[std::sync::Arc<S>], b: &[std::sync::Arc<S>]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| std::sync::Arc::ptr_eq(x, y) || x == y)
}

/// [`is_quiescent`], decided once per state on the unordered networks, where it builds a
/// next state per delivery. On the ordered one most states have a message to deliver, seen
/// at a glance, cheaper than keeping and comparing a copy of the state.
pub(crate) fn quiescent<A: Protocol>(m: &GroupModel<A>, s: &GroupState<A>) -> bool {
    if let Network::Ordered(_) = s.network {
        return is_quiescent(m, s);
    }
    // The memo must not be borrowed while deciding.
    let known = with_memo(m, s, |memo| match &memo.quiescent {
        Some((state, q)) if state == s => Some(*q),
        _ => None,
    });
    if let Some(q) = known {
        return q;
    }
    let q = is_quiescent(m, s);
    with_memo(m, s, |memo| memo.quiescent = Some((s.clone(), q)));
    q
}

/// Property `i`'s verdict on `s`, judged with every other property of its kind from one
/// reading of the logs (the caller has checked `i` is due: at quiescence, the state is
/// quiescent).
fn judged<A: Protocol>(m: &GroupModel<A>, s: &GroupState<A>, i: usize) -> bool {
    with_memo(m, s, |memo| {
        if let Some(holds) = memo.holds[i] {
            return holds;
        }
        let logs = logs(m, s);
        let always = PROPERTIES[i].when == When::Always;
        for (j, p) in PROPERTIES.iter().enumerate() {
            if (p.when == When::Always) == always && p.judged_for(A::DESCRIPTOR.claims) {
                memo.holds[j] = Some((p.holds)(&logs));
            }
        }
        memo.holds[i].unwrap_or_else(|| (PROPERTIES[i].holds)(&logs))
    })
}

/// The property whose judgement counts the quiescent states (once per state).
const FIRST_JUDGED_AT_QUIESCENCE: usize = {
    let mut i = 0;
    while matches!(PROPERTIES[i].when, When::Always) {
        i += 1;
    }
    i
};

type Condition<A> = fn(&GroupModel<A>, &GroupState<A>) -> bool;

/// One condition per entry of [`PROPERTIES`] (stateright takes plain `fn` pointers).
fn judges<A: Protocol>() -> [Condition<A>; PROPERTIES.len()] {
    [
        judge::<A, 0>,
        judge::<A, 1>,
        judge::<A, 2>,
        judge::<A, 3>,
        judge::<A, 4>,
        judge::<A, 5>,
        judge::<A, 6>,
        judge::<A, 7>,
        judge::<A, 8>,
        judge::<A, 9>,
        judge::<A, 10>,
        judge::<A, 11>,
    ]
}

/// The property list of protocol `A` under `cfg`: every property over logs, and the witnesses
/// of `A` that this configuration can reach at all (a broadcast can only be cut if there are
/// crashes and at least two slaves, a join only completes if there are joiners...).
fn properties_of<A: Protocol>(cfg: &Config) -> Vec<Property<GroupModel<A>>> {
    let mut list: Vec<Property<GroupModel<A>>> = PROPERTIES
        .iter()
        .zip(judges::<A>())
        .filter(|(p, _)| p.judged_for(A::DESCRIPTOR.claims))
        .map(|(p, condition)| Property::always(p.name, condition))
        .collect();
    for w in A::DESCRIPTOR.witnesses {
        let condition = witness::index(w).map(|i| shows::<A>()[i]);
        if let Some(condition) = condition.filter(|_| (w.reachable)(cfg)) {
            list.push(Property::sometimes(w.name, condition));
        }
    }
    list
}

/// Witness `I` of [`WITNESSES`] shown in a model state.
fn shows_witness<A: Protocol, const I: usize>(m: &GroupModel<A>, s: &GroupState<A>) -> bool {
    match WITNESSES[I].shown {
        Shown::Quiescence => quiescent(m, s),
        Shown::Nodes(shown) => shown(m.cfg(), &mut node_views(s)),
        Shown::Faults(shown) => shown(&s.history),
        Shown::Rejoined => s.history.past.iter().any(|life| {
            let i = usize::from(life.node);
            !s.crashed[i] && s.actor_states[i].role() != Role::Outside
        }),
    }
}

/// One condition per entry of [`WITNESSES`] (stateright takes plain `fn` pointers).
fn shows<A: Protocol>() -> [Condition<A>; WITNESSES.len()] {
    [
        shows_witness::<A, 0>,
        shows_witness::<A, 1>,
        shows_witness::<A, 2>,
        shows_witness::<A, 3>,
        shows_witness::<A, 4>,
        shows_witness::<A, 5>,
        shows_witness::<A, 6>,
        shows_witness::<A, 7>,
        shows_witness::<A, 8>,
        shows_witness::<A, 9>,
        shows_witness::<A, 10>,
    ]
}

/// The nodes of a model state as the witnesses see them.
fn node_views<A: Protocol>(s: &GroupState<A>) -> impl Iterator<Item = NodeView<'_>> {
    s.actor_states.iter().enumerate().map(|(i, st)| NodeView {
        index: i,
        crashed: s.crashed[i],
        role: st.role(),
        broadcast_cut: st.broadcast_cut(),
        marks: st.marks(),
        app: st.app(),
    })
}

/// Kind of a property as the reports name it.
pub fn kind(e: &Expectation) -> &'static str {
    match e {
        Expectation::Always => "always",
        Expectation::Eventually => "eventually",
        Expectation::Sometimes => "sometimes",
    }
}

/// Whether nothing can happen any more but crashes and, with the unreliable detector, *false*
/// suspicions (of a leader that is alive): no delivery to a live node, no multicast or send
/// due, no suspicion of a crashed leader. A true suspicion is a step the protocol relies on to
/// repair the group, so a state waiting for one is not the end of a run.
///
/// Read off the state (armed timers, messages in the network) rather than by listing the
/// enabled actions: it is asked three times per state. `checks/` compares it with the
/// definition by actions on every state of several models.
pub fn is_quiescent<A: Protocol>(m: &GroupModel<A>, s: &GroupState<A>) -> bool {
    use ActorModelAction as Act;
    let live = |id: &Id| !s.crashed[usize::from(*id)];
    let armed = || {
        s.timers_set
            .iter()
            .enumerate()
            .filter(|(i, _)| live(&Id::from(*i)))
            .flat_map(|(i, timers)| timers.iter().map(move |t| (i, t)))
    };
    // The cheap answers first (most states have a step due that shows at a glance), the
    // handlers run only for what is left: the verdict is the same in any order.
    let step_due = |t: &A::Timer| {
        matches!(
            t.kind(),
            TimerKind::Mcast | TimerKind::Send | TimerKind::Propose
        )
    };
    if armed().any(|(_, t)| step_due(t)) {
        return false;
    }
    if let Network::Ordered(channels) = &s.network {
        // On the ordered network a delivery consumes the message: always a step.
        let deliverable = channels.iter().any(|((src, dst), q)| {
            q.front().is_some_and(|head| {
                live(dst)
                    && !m.deferred(
                        s,
                        &Act::Deliver {
                            src: *src,
                            dst: *dst,
                            msg: head.clone(),
                        },
                    )
            })
        });
        if deliverable {
            return false;
        }
    }
    for (i, t) in armed() {
        let id = Id::from(i);
        let quiet = match t.kind() {
            TimerKind::Suspect => match suspected(&*s.actor_states[i], t) {
                // A false suspicion: never offered (perfect) or ignored (unreliable).
                Some(leader) if live(&leader) => true,
                // A true one is a step, once the detector offers it.
                Some(_) => !m.allowed(s, &Act::Timeout(id, t.clone())),
                None => m.inner.next_state(s, Act::Timeout(id, t.clone())).is_none(),
            },
            TimerKind::Mcast | TimerKind::Send | TimerKind::Propose => false,
            // A repetition is a step unless it changes nothing (on a duplicating network
            // the copies it sends are already there).
            TimerKind::Retransmit => {
                let act = Act::Timeout(id, t.clone());
                !m.allowed(s, &act)
                    || match m.timeout_changes(s, id, t) {
                        Some(changes) => !changes,
                        None => m.actor_step(s, act).is_none_or(|n| same_state(&n, s)),
                    }
            }
        };
        if !quiet {
            return false;
        }
    }
    // A delivery to a live node is a step unless its receiver holds the message back or, on
    // an unordered network, it changes nothing (a copy received again, answered, if at all,
    // with a copy already in flight). Losing a message is a fault, like a crash: a state where
    // one may still happen can be where a run ends.
    let quiet = |src: Id, dst: Id, msg: &A::Msg| {
        let deliver = Act::Deliver {
            src,
            dst,
            msg: msg.clone(),
        };
        !live(&dst)
            || m.deferred(s, &deliver)
            || match m.delivery_changes(s, src, dst, msg) {
                Some(changes) => !changes,
                None => m.actor_step(s, deliver).is_none_or(|n| same_state(&n, s)),
            }
    };
    match &s.network {
        // Decided above.
        Network::Ordered(_) => true,
        // A message to a crashed node is no step either way: it can never be delivered, and
        // losing it changes nothing a node will read (the reduced model drops it at once).
        Network::UnorderedNonDuplicating(bag) => bag
            .keys()
            .all(|env| !live(&env.dst) || quiet(env.src, env.dst, &env.msg)),
        Network::UnorderedDuplicating(set, _) => set
            .iter()
            .all(|env| !live(&env.dst) || quiet(env.src, env.dst, &env.msg)),
    }
}

/// Whether a node's state is the same in both, but for the witnesses' marks.
fn same_node<S: Member + Clone + PartialEq>(x: &S, y: &S) -> bool {
    x == y
        || x.marks() != y.marks() && {
            let (mut x, mut y) = (x.clone(), y.clone());
            x.core_mut().marks = Default::default();
            y.core_mut().marks = Default::default();
            x == y
        }
}

/// What a node's handler alone says about whether its step changes the model state (as
/// [`same_state`] judges it): `Some(false)` when it neither changes the node nor does
/// anything (stateright then offers no step: on an unordered network the message stays),
/// `Some(true)` when it changes the node beyond its marks (no other part of the state can
/// make up for that), `None` when the whole next state must be built to tell. Deciding
/// quiescence, most deliveries and repetitions are settled here, without copying the state
/// (its network above all) for each.
#[allow(clippy::ptr_arg)] // the `Cow` says whether the handler changed the node
fn handler_says<S: Member + Clone + PartialEq>(
    before: &S,
    after: &Cow<S>,
    no_op: bool,
) -> Option<bool> {
    match after {
        Cow::Borrowed(_) if no_op => Some(false),
        Cow::Owned(after) if !same_node(after, before) => Some(true),
        _ => None,
    }
}

/// Whether a step led back to the same state, but for the duplicating network's memory of the
/// last message delivered and for messages to crashed nodes: those can never be delivered, so
/// one more of them changes nothing a node will read (the model drops them at once), and for
/// the witnesses' marks (a step that only marks, or only clears marks, does nothing a node
/// will read).
pub fn same_state<A: Protocol>(a: &GroupState<A>, b: &GroupState<A>) -> bool {
    a.actor_states.len() == b.actor_states.len()
        && a.actor_states
            .iter()
            .zip(&b.actor_states)
            .all(|(x, y)| std::sync::Arc::ptr_eq(x, y) || same_node(&**x, &**y))
        && a.timers_set == b.timers_set
        && a.crashed == b.crashed
        && a.history == b.history
        && same_network(&a.network, &b.network, &a.crashed)
}

fn same_network<M: Eq + std::hash::Hash + Clone + std::fmt::Debug>(
    x: &stateright::actor::Network<M>,
    y: &stateright::actor::Network<M>,
    crashed: &[bool],
) -> bool {
    use stateright::actor::Network as N;
    let live = |dst: &Id| !crashed[usize::from(*dst)];
    match (x, y) {
        (N::UnorderedDuplicating(a, _), N::UnorderedDuplicating(b, _)) => {
            a == b || {
                let within =
                    |a: &stateright::util::HashableHashSet<_>,
                     b: &stateright::util::HashableHashSet<_>| {
                        a.iter()
                            .filter(|e: &&stateright::actor::Envelope<M>| live(&e.dst))
                            .all(|e| b.contains(e))
                    };
                within(a, b) && within(b, a)
            }
        }
        (N::UnorderedNonDuplicating(a), N::UnorderedNonDuplicating(b)) => {
            a == b || {
                let within = |a: &stateright::util::HashableHashMap<
                    stateright::actor::Envelope<M>,
                    usize,
                >,
                              b: &stateright::util::HashableHashMap<
                    stateright::actor::Envelope<M>,
                    usize,
                >| {
                    a.iter()
                        .filter(|(e, _)| live(&e.dst))
                        .all(|(e, n)| b.get(e) == Some(n))
                };
                within(a, b) && within(b, a)
            }
        }
        (N::Ordered(a), N::Ordered(b)) => {
            a == b || {
                type Channels<M> = std::collections::BTreeMap<
                    (Id, Id),
                    std::sync::Arc<std::collections::VecDeque<M>>,
                >;
                let within = |a: &Channels<M>, b: &Channels<M>| {
                    a.iter()
                        .filter(|((_, dst), q)| live(dst) && !q.is_empty())
                        .all(|(k, q)| b.get(k) == Some(q))
                };
                within(a, b) && within(b, a)
            }
        }
        _ => false,
    }
}
