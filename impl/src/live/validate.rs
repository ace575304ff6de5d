//! Trace validation: every step a simulated node takes is checked against the model's
//! next-state relation, so that "the same actors run live" is a checked claim, not a
//! design intent (issue 23, item 3; etcd's and TLA+'s trace validation are the anchors).
//!
//! The [`Validator`] keeps a model state ([`GroupState`]) that mirrors the simulated group:
//! the actors' states, the model's network (every message a step sends enters it; a
//! delivery takes it out as the network kind's rules say), the armed timers and the crashed
//! flags. Each step a core recorded ([`Recorded`], from [`NodeCore::record_steps`]) becomes
//! the model's action (a delivery, a timeout, a crash) and must be
//! - *enabled*: the node has not crashed; a delivered message is in the network (at the head
//!   of its channel on the ordered network); a fired timer is armed;
//! - *allowed* by the environment ([`GroupModel::allowed`]): the crash budget, the failure
//!   detector, the retransmission rule;
//! - *the same step*: the model's successor ([`GroupModel::next_state`]) gives the node the
//!   state the core has after it, and the timers the core has armed.
//!
//! The environment is the model's with no bounds: the live worker's quota (`u32::MAX`), a
//! crash budget of every node, no loss or false-suspicion budget, the `unreliable` detector,
//! `--reduce none`, and the network the link gives the protocol: `raw` is the model's `udp`
//! (loses, reorders, duplicates), `fifo` its `ordered` (reliable FIFO per pair) for the
//! protocols made for reliable links (gms1-gms3). A protocol made for raw UDP (gms4, gms5:
//! its descriptor's link is `raw`) is checked against `udp` on either link: a fifo link runs
//! over UDP, so its behaviours are `udp`'s, and `ordered` would hold it to a bound it was
//! never given. The model's `ordered` network lets a retransmission timer fire only once
//! nothing is in flight between the node and the peers it repeats to ("the timeout exceeds a
//! round trip", a bound on the state space); the fifo link hides a loss for an rto, so gms4's
//! timer fires while its message is still on its way. Checked against `ordered`, gms4 over
//! the fifo link is not a behaviour of the model at its first such timeout (found on 6
//! December; notes/live.md, "Trace validation").
//!
//! How the runtime maps onto the model: a message held in the mailbox (selective receive) is
//! one the model leaves in the network; a datagram the faults lose is a message the model
//! never delivers (on `udp` it may also drop it; on `ordered` it stays, undelivered, which is
//! as good: a crashed sender's unacknowledged frames are never repeated, and the link
//! delivers nothing after a gap); a crash in the middle of a step's commands is the model's
//! whole step, then its crash (the sends the core did not make are messages never delivered).
//! The core's sends are not compared with the model's at the step: they are the same handler's
//! on the same state, and what the core really put on the wire is checked when it arrives.
//!
//! Cost: the model's network on `udp` keeps every message ever sent (a copy may always be
//! delivered again), so cloning the whole state at each step, as `next_state` does, would make
//! a run quadratic. Each step is therefore taken on the mirror with its network swapped for
//! one holding only the message delivered, and the step's effect on that small network (the
//! message taken, the messages sent) is then applied to the mirror's.

use super::core::{Input, NodeCore, Recorded};
use groupy_model::group::{GroupTimer, Setup, TimerKind};
use groupy_model::model::{Action, ActorAction, GroupState};
use groupy_model::{Config, CrashAt, Detector, GroupModel, Link, NetworkKind, Protocol, Reduce};
use serde::Serialize;
use stateright::actor::{Actor, ActorModelAction, Command, Envelope, Id, Network, Out};
use stateright::Model;
use std::borrow::Cow;
use std::fmt;

/// The first step of a run that is not a step of the model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Divergence {
    /// How many steps were checked before it, over all nodes.
    pub checked: u64,
    pub node: usize,
    /// The action, worded as the model's traces word it.
    pub action: String,
    pub why: Why,
}

/// Why a step is not one the model can take.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Why {
    /// The validator's group has no such node.
    UnknownNode,
    /// The node had crashed.
    Crashed,
    /// The message is not in the model's network: never sent by that sender to this node,
    /// or (ordered network) already taken.
    NotInNetwork,
    /// Ordered network: an earlier message on the same channel is still undelivered.
    OutOfOrder { head: String },
    /// The timer is not armed in the model.
    TimerNotArmed,
    /// The environment's rules ([`GroupModel::allowed`]) forbid it here; which rule, in
    /// words.
    NotAllowed { rule: String },
    /// The model's successor state of the node is not the core's (the first difference of
    /// their `Debug` forms, in context).
    StateDiffers { model: String, core: String },
    /// The model's armed timers of the node are not the core's.
    TimersDiffer { model: String, core: String },
    /// The core stopped performing a step's commands, as only a crash does, and no crash
    /// followed.
    NoCrashAfter,
    /// A restart of a node that had not crashed.
    NotCrashed,
}

impl fmt::Display for Why {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Why::UnknownNode => write!(f, "the model's group has no such node"),
            Why::Crashed => write!(f, "the node had crashed"),
            Why::NotInNetwork => write!(
                f,
                "no such message in the model's network (never sent, or already taken)"
            ),
            Why::OutOfOrder { head } => write!(
                f,
                "out of order: the channel's first undelivered message is {head}"
            ),
            Why::TimerNotArmed => write!(f, "the timer is not armed in the model"),
            Why::NotAllowed { rule } => {
                write!(f, "the environment does not allow it here: {rule}")
            }
            Why::StateDiffers { model, core } => write!(
                f,
                "the model's next state differs from the core's:\n    model: {model}\n    core:  {core}"
            ),
            Why::NoCrashAfter => write!(
                f,
                "the core left the step's commands half done without crashing"
            ),
            Why::NotCrashed => write!(f, "the node restarted without having crashed"),
            Why::TimersDiffer { model, core } => write!(
                f,
                "the armed timers differ: model {model}, core {core}"
            ),
        }
    }
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "after {} steps, n{}: {}: {}",
            self.checked, self.node, self.action, self.why
        )
    }
}

/// A validation's result: the steps checked, or the first divergence.
pub type Validation = Result<u64, Divergence>;

/// The model's network kind for protocol `A` on a link (see the module doc).
pub fn network_for<A: Protocol>(link: Link) -> NetworkKind {
    match (link, A::DESCRIPTOR.link) {
        (Link::Fifo, Link::Fifo) => NetworkKind::Ordered,
        _ => NetworkKind::Udp,
    }
}

/// The model environment a simulated group of `nodes` of protocol `A` is checked in (see
/// the module doc).
pub fn environment<A: Protocol>(nodes: usize, link: Link) -> Config {
    Config {
        nodes,
        // The model's own actors would get this quota; the validator uses the run's actors.
        msgs: 0,
        joins: 0,
        // No bound: any node may crash, and come back, as often as the run has it.
        crashes: usize::MAX,
        crash_at: CrashAt::Any,
        detector: Detector::Unreliable,
        network: network_for::<A>(link),
        losses: None,
        false_suspicions: None,
        restarts: u8::MAX,
        reduce: Reduce::None,
        ..Config::default()
    }
}

/// The actors of a simulated group: the model's setup of each node, with the live worker's
/// unbounded quota.
pub fn actors<A: Protocol>(nodes: usize, adjust: Option<fn(&mut Setup)>) -> Vec<A> {
    let cfg = Config {
        nodes,
        ..Config::default()
    };
    (0..nodes)
        .map(|i| {
            let mut setup = Setup {
                quota: u32::MAX,
                ..Setup::for_node(&cfg, i)
            };
            if let Some(adjust) = adjust {
                adjust(&mut setup);
            }
            A::with_setup(setup)
        })
        .collect()
}

/// What a core recorded after a step: the node's state, and its armed timers (`None` if it
/// crashed while performing the step's commands).
type After<A> = (<A as Actor>::State, Option<Vec<<A as Actor>::Timer>>);

/// Checks a simulated run step by step against the model (see the module doc).
pub struct Validator<A: Protocol> {
    model: GroupModel<A>,
    mirror: GroupState<A>,
    checked: u64,
    diverged: Option<Divergence>,
}

impl<A: Protocol> Validator<A> {
    /// A validator for a group of these actors (the very values the cores run) over `link`.
    pub fn new(actors: Vec<A>, link: Link) -> Self {
        Self::on(actors, network_for::<A>(link))
    }

    /// A validator on a given network (the one [`network_for`] picks, or another, to show
    /// what holding a run to it finds).
    pub fn on(actors: Vec<A>, network: NetworkKind) -> Self {
        let mut cfg = environment::<A>(actors.len(), Link::Raw);
        cfg.network = network;
        let mut model = GroupModel::<A>::new(cfg);
        model.inner.actors = actors;
        let mirror = model
            .init_states()
            .pop()
            .unwrap_or_else(|| unreachable!("an actor model has one initial state"));
        Validator {
            model,
            mirror,
            checked: 0,
            diverged: None,
        }
    }

    /// Checks the steps node `node` recorded since the last call, in order; stops at the first
    /// divergence (later steps are not checked: the mirror no longer follows the run).
    pub fn feed(&mut self, node: usize, steps: Vec<Recorded<A>>) {
        let mut steps = steps.into_iter().peekable();
        while let Some(step) = steps.next() {
            if self.diverged.is_some() {
                return;
            }
            // A step whose timers were not taken was cut by a crash: the crash comes next.
            let cut = matches!(step, Recorded::Step { timers: None, .. })
                && !matches!(steps.peek(), Some(Recorded::Crash));
            let checked = self.check(node, step).and_then(|()| {
                if cut {
                    Err((format!("n{node}'s step"), Why::NoCrashAfter))
                } else {
                    Ok(())
                }
            });
            match checked {
                Ok(()) => self.checked += 1,
                Err((action, why)) => {
                    self.diverged = Some(Divergence {
                        checked: self.checked,
                        node,
                        action,
                        why,
                    })
                }
            }
        }
    }

    /// Takes and checks what a core recorded.
    pub fn follow(&mut self, node: usize, core: &mut NodeCore<A>) {
        let steps = core.take_steps();
        self.feed(node, steps);
    }

    /// Node `node` restarts (the model's `Recover`, with the environment's storage): the
    /// core of its new life then reports itself as it starts ([`Recorded::From`], through
    /// [`Validator::follow`]), which is checked against the model's restarted actor.
    pub fn restart(&mut self, node: usize) {
        if self.diverged.is_some() {
            return;
        }
        let action = ActorModelAction::Recover(Id::from(node));
        let why = match self.mirror.crashed.get(node) {
            None => Some(Why::UnknownNode),
            Some(false) => Some(Why::NotCrashed),
            Some(true) if !self.model.allowed(&self.mirror, &action) => Some(Why::NotAllowed {
                rule: "the restart budget is spent".into(),
            }),
            Some(true) => None,
        };
        let next = match why {
            Some(why) => Err(why),
            None => {
                let small = small_network(&self.mirror.network, None);
                let network = std::mem::replace(&mut self.mirror.network, small);
                let next = self
                    .model
                    .next_state(&self.mirror, Action::Actor(action.clone()));
                self.mirror.network = network;
                next.ok_or(Why::NotAllowed {
                    rule: "the model offers no such restart".into(),
                })
            }
        };
        match next {
            Ok(next) => {
                let GroupState::<A> {
                    actor_states,
                    actor_storages,
                    network,
                    timers_set,
                    crashed,
                    history,
                    ..
                } = next;
                self.mirror.actor_states = actor_states;
                self.mirror.actor_storages = actor_storages;
                self.mirror.timers_set = timers_set;
                self.mirror.crashed = crashed;
                self.mirror.history = history;
                merge(&mut self.mirror.network, None, network);
                self.checked += 1;
            }
            Err(why) => {
                self.diverged = Some(Divergence {
                    checked: self.checked,
                    node,
                    action: describe(&action),
                    why,
                })
            }
        }
    }

    /// Whether a divergence was found.
    pub fn diverged(&self) -> bool {
        self.diverged.is_some()
    }

    /// The steps checked, or the first divergence.
    pub fn result(&self) -> Validation {
        match &self.diverged {
            Some(d) => Err(d.clone()),
            None => Ok(self.checked),
        }
    }

    fn check(&mut self, node: usize, step: Recorded<A>) -> Result<(), (String, Why)> {
        let id = Id::from(node);
        match step {
            Recorded::From { state, timers } => {
                let what = format!("n{node} as recording began");
                let Some(model) = self.mirror.actor_states.get(node) else {
                    return Err((what, Why::UnknownNode));
                };
                same_state(&**model, &state).map_err(|w| (what.clone(), w))?;
                same_timers(self.armed(node), timers).map_err(|w| (what, w))
            }
            Recorded::Crash => {
                let crash = ActorModelAction::Crash(id);
                self.take(node, &crash, None)
                    .map_err(|why| (describe(&crash), why))
            }
            Recorded::Step {
                input,
                state,
                timers,
            } => {
                let action = match input {
                    Input::Msg { src, msg } => ActorModelAction::Deliver { src, dst: id, msg },
                    Input::Timeout(t) => ActorModelAction::Timeout(id, t),
                };
                // Worded only on a divergence: formatting every message costs more than
                // checking it.
                self.take(node, &action, Some((state, timers)))
                    .map_err(|why| (describe(&action), why))
            }
        }
    }

    /// The model's timers armed at `node`.
    fn armed(&self, node: usize) -> Vec<A::Timer> {
        self.mirror
            .timers_set
            .get(node)
            .map(|t| t.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Takes `action` on the mirror, checking it against the core's state and timers after it.
    fn take(
        &mut self,
        node: usize,
        action: &ActorAction<A>,
        after: Option<After<A>>,
    ) -> Result<(), Why> {
        match self.mirror.crashed.get(node) {
            None => return Err(Why::UnknownNode),
            Some(true) => return Err(Why::Crashed),
            Some(false) => {}
        }
        self.enabled(node, action)?;
        if !self.model.allowed(&self.mirror, action) {
            let rule = self.rule_broken(node, action);
            return Err(Why::NotAllowed { rule });
        }
        let delivered = match action {
            ActorModelAction::Deliver { src, dst, msg } => Some(Envelope {
                src: *src,
                dst: *dst,
                msg: msg.clone(),
            }),
            _ => None,
        };
        let small = small_network(&self.mirror.network, delivered.clone());
        let network = std::mem::replace(&mut self.mirror.network, small);
        let next = self
            .model
            .next_state(&self.mirror, Action::Actor(action.clone()));
        self.mirror.network = network;
        let Some(next) = next else {
            // No transition: a delivery or timeout that changes nothing (stateright offers
            // none). The core must have stayed where it was too.
            if let Some((state, timers)) = after {
                same_state(&*self.mirror.actor_states[node], &state)?;
                if let Some(timers) = timers {
                    same_timers(self.armed(node), timers)?;
                }
            }
            return Ok(());
        };
        if let Some((state, timers)) = after {
            same_state(&*next.actor_states[node], &state)?;
            if let Some(timers) = timers {
                same_timers(next.timers_set[node].iter().cloned().collect(), timers)?;
            }
        }
        let crash = matches!(action, ActorModelAction::Crash(_));
        let GroupState::<A> {
            actor_states,
            actor_storages,
            network,
            timers_set,
            crashed,
            history,
            ..
        } = next;
        self.mirror.actor_states = actor_states;
        // What a `Save` wrote, which a restart reads.
        self.mirror.actor_storages = actor_storages;
        self.mirror.timers_set = timers_set;
        self.mirror.crashed = crashed;
        self.mirror.history = history;
        merge(&mut self.mirror.network, delivered.as_ref(), network);
        if crash {
            // What `next_state` does to the whole network when a node crashes: a network
            // holds nothing for a dead host.
            drop_to(&mut self.mirror.network, Id::from(node));
        }
        Ok(())
    }

    /// Which of the environment's rules forbids `action`, in words (those that can apply in
    /// the validator's environment: see [`GroupModel::allowed`]).
    fn rule_broken(&self, node: usize, action: &ActorAction<A>) -> String {
        let id = Id::from(node);
        match action {
            ActorModelAction::Crash(_) => "the crash budget is spent".into(),
            ActorModelAction::Timeout(_, t) if t.kind() == TimerKind::Retransmit => {
                // The model's rule: a retransmission timer fires only once nothing is in
                // flight between the node and the peers it would repeat something to.
                let mut out = Out::new();
                let mut st = Cow::Borrowed(&*self.mirror.actor_states[node]);
                self.model.inner.actors[node].on_timeout(id, &mut st, t, &mut out);
                let peers: Vec<Id> = out
                    .iter()
                    .filter_map(|c| match c {
                        Command::Send(dst, _) => Some(*dst),
                        _ => None,
                    })
                    .collect();
                let peers: Vec<usize> = peers.into_iter().map(usize::from).collect();
                let flying: Vec<String> = in_flight(&self.mirror.network)
                    .into_iter()
                    .filter(|(src, dst, _)| {
                        (*src == node && peers.contains(dst))
                            || (*dst == node && peers.contains(src))
                    })
                    .map(|(src, dst, msg)| format!("{msg} from n{src} to n{dst}"))
                    .collect();
                format!(
                    "a retransmission timer fires only when nothing is in flight between the \
                     node and the peers it repeats to (the model takes the timeout to exceed a \
                     round trip); in flight: {}",
                    flying.join("; ")
                )
            }
            _ => "see GroupModel::allowed".into(),
        }
    }

    /// Whether the model offers `action` at all (before the environment's filter).
    fn enabled(&self, node: usize, action: &ActorAction<A>) -> Result<(), Why> {
        match action {
            ActorModelAction::Deliver { src, dst, msg } => match &self.mirror.network {
                Network::Ordered(channels) => match channels.get(&(*src, *dst)) {
                    Some(q) if q.front() == Some(msg) => Ok(()),
                    Some(q) if q.contains(msg) => Err(Why::OutOfOrder {
                        head: q.front().map(|m| format!("{m:?}")).unwrap_or_default(),
                    }),
                    _ => Err(Why::NotInNetwork),
                },
                Network::UnorderedDuplicating(set, _) => {
                    let env = Envelope {
                        src: *src,
                        dst: *dst,
                        msg: msg.clone(),
                    };
                    set.contains(&env).then_some(()).ok_or(Why::NotInNetwork)
                }
                Network::UnorderedNonDuplicating(bag) => {
                    let env = Envelope {
                        src: *src,
                        dst: *dst,
                        msg: msg.clone(),
                    };
                    bag.contains_key(&env)
                        .then_some(())
                        .ok_or(Why::NotInNetwork)
                }
            },
            ActorModelAction::Timeout(_, t) => self.mirror.timers_set[node]
                .iter()
                .any(|x| x == t)
                .then_some(())
                .ok_or(Why::TimerNotArmed),
            _ => Ok(()),
        }
    }
}

/// The action as the model's traces word it (a timeout with its timer, which the words
/// alone do not always name).
fn describe<M: Clone + fmt::Debug, T: GroupTimer>(a: &ActorModelAction<M, T, ()>) -> String {
    let label = groupy_model::trace::label(&Action::Actor(a.clone()));
    match a {
        ActorModelAction::Timeout(_, t) => format!("{label} (timer {t:?} fires)"),
        _ => label.to_string(),
    }
}

fn same_state<S: PartialEq + fmt::Debug>(model: &S, core: &S) -> Result<(), Why> {
    if model == core {
        return Ok(());
    }
    let (model, core) = first_difference(&format!("{model:?}"), &format!("{core:?}"));
    Err(Why::StateDiffers { model, core })
}

fn same_timers<T: Ord + fmt::Debug>(mut model: Vec<T>, mut core: Vec<T>) -> Result<(), Why> {
    model.sort();
    core.sort();
    if model == core {
        return Ok(());
    }
    Err(Why::TimersDiffer {
        model: format!("{model:?}"),
        core: format!("{core:?}"),
    })
}

/// The two texts around where they first differ (a state's `Debug` form holds its whole
/// log: the difference is what the reader needs).
fn first_difference(a: &str, b: &str) -> (String, String) {
    const CONTEXT: usize = 120;
    let at = a
        .char_indices()
        .zip(b.chars())
        .find(|((_, x), y)| x != y)
        .map_or(a.len().min(b.len()), |((i, _), _)| i);
    let window = |s: &str| {
        let mut from = at.saturating_sub(CONTEXT);
        while !s.is_char_boundary(from.min(s.len())) {
            from -= 1;
        }
        let from = from.min(s.len());
        let mut to = (at + CONTEXT).min(s.len());
        while !s.is_char_boundary(to) {
            to -= 1;
        }
        let pre = if from > 0 { "…" } else { "" };
        let post = if to < s.len() { "…" } else { "" };
        format!("{pre}{}{post}", &s[from..to])
    };
    (window(a), window(b))
}

/// Every message in a network, as (sender, receiver, message in words).
fn in_flight<M: fmt::Debug + Eq + std::hash::Hash>(
    net: &Network<M>,
) -> Vec<(usize, usize, String)> {
    let word = |src: &Id, dst: &Id, m: &M| (usize::from(*src), usize::from(*dst), format!("{m:?}"));
    match net {
        Network::Ordered(channels) => channels
            .iter()
            .flat_map(|((src, dst), q)| q.iter().map(move |m| word(src, dst, m)))
            .collect(),
        Network::UnorderedDuplicating(set, _) => {
            set.iter().map(|e| word(&e.src, &e.dst, &e.msg)).collect()
        }
        Network::UnorderedNonDuplicating(bag) => {
            bag.keys().map(|e| word(&e.src, &e.dst, &e.msg)).collect()
        }
    }
}

/// A network of the same kind as `like`, holding only `env` (if any).
fn small_network<M: Clone + Eq + std::hash::Hash + Ord>(
    like: &Network<M>,
    env: Option<Envelope<M>>,
) -> Network<M> {
    match like {
        Network::Ordered(_) => Network::new_ordered(env),
        Network::UnorderedDuplicating(..) => Network::new_unordered_duplicating(env),
        Network::UnorderedNonDuplicating(_) => Network::new_unordered_nonduplicating(env),
    }
}

/// Applies a step's effect on the small network (`after`: what it holds once the step was
/// taken from one holding only `delivered`) to the mirror's whole network.
fn merge<M: Clone + Eq + std::hash::Hash + Ord>(
    net: &mut Network<M>,
    delivered: Option<&Envelope<M>>,
    after: Network<M>,
) {
    match (net, after) {
        (Network::Ordered(channels), Network::Ordered(sent)) => {
            // The ordered network always takes what it delivers (its head, checked).
            if let Some(env) = delivered {
                let key = (env.src, env.dst);
                if let Some(q) = channels.get_mut(&key) {
                    std::sync::Arc::make_mut(q).pop_front();
                    if q.is_empty() {
                        channels.remove(&key);
                    }
                }
            }
            for (key, q) in sent {
                std::sync::Arc::make_mut(channels.entry(key).or_default())
                    .extend(q.iter().cloned());
            }
        }
        (Network::UnorderedDuplicating(set, last), Network::UnorderedDuplicating(sent, l)) => {
            // A copy stays: a delivered message is still in `sent`.
            set.extend(sent.iter().cloned());
            *last = l;
        }
        (Network::UnorderedNonDuplicating(bag), Network::UnorderedNonDuplicating(sent)) => {
            if let Some(env) = delivered {
                if let Some(n) = bag.get_mut(env) {
                    *n -= 1;
                    if *n == 0 {
                        bag.remove(env);
                    }
                }
            }
            for (env, n) in sent.iter() {
                *bag.entry(env.clone()).or_insert(0) += n;
            }
        }
        // The mirror's network and the small one are always of one kind.
        _ => {}
    }
}

/// Drops every message to `dead` (see the model's `drop_messages_to_the_dead`).
fn drop_to<M: Clone + Eq + std::hash::Hash + Ord>(net: &mut Network<M>, dead: Id) {
    match net {
        Network::Ordered(channels) => channels.retain(|(_, dst), _| *dst != dead),
        Network::UnorderedNonDuplicating(bag) => bag.retain(|env, _| env.dst != dead),
        Network::UnorderedDuplicating(set, last) => {
            set.retain(|env| env.dst != dead);
            if last.as_ref().is_some_and(|env| env.dst == dead) {
                *last = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::core::Options;
    use crate::live::faults::Faults;
    use crate::live::options::{Disruptions, Kill, ScenarioArgs};
    use crate::live::sim::{self, Scenario};
    use groupy_model::gms3::{Gms3, Gms3Msg};
    use groupy_model::gms4::Gms4;
    use std::time::Duration;

    fn scenario(link: Link, faults: Faults, kills: Vec<Kill>) -> Scenario {
        let mut opts: Options = ScenarioArgs::default().options(link).unwrap();
        opts.faults = faults;
        Scenario {
            nodes: 4,
            duration: Duration::from_secs(3),
            opts,
            disruptions: Disruptions {
                kills,
                ..Disruptions::default()
            },
            heal: false,
            adjust: None,
            validate: true,
            cpu: Default::default(),
        }
    }

    /// Loss, duplication, delay, the dice's crashes mid-broadcast and a leader killed.
    fn faults() -> Faults {
        Faults {
            drop: 0.05,
            duplicate: 0.05,
            delay: Duration::from_millis(5),
            crash_one_in: Some(200),
            min_survivors: 2,
        }
    }

    fn validated<A: Protocol>(link: Link, seed: u64) -> (u64, usize) {
        let kill = Kill {
            node: 0,
            at_ms: 1500,
        };
        let run = sim::run::<A>(&scenario(link, faults(), vec![kill]), seed);
        let crashed = run.outcomes.iter().filter(|o| o.log.crashed).count();
        match run.validation {
            Some(Ok(steps)) => (steps, crashed),
            other => panic!("{} seed {seed}: {other:?}", A::DESCRIPTOR.name),
        }
    }

    #[test]
    fn short_gms3_and_gms4_runs_with_faults_are_behaviours_of_the_model() {
        for seed in 1..=3 {
            // gms3 on its fifo link (the model's ordered network), gms4 on raw UDP (udp).
            let (steps, crashed) = validated::<Gms3>(Link::Fifo, seed);
            assert!(
                steps > 300 && crashed >= 1,
                "gms3: {steps} steps, {crashed}"
            );
            let (steps, crashed) = validated::<Gms4>(Link::Raw, seed);
            assert!(
                steps > 300 && crashed >= 1,
                "gms4: {steps} steps, {crashed}"
            );
        }
    }

    /// gms4 over the fifo link is checked against `udp`, its own network: the fifo link's
    /// behaviours are `udp`'s. Against `ordered` it is not a model behaviour (the module doc):
    /// the model's retransmission rule, a bound of that network, is shown to fail live.
    #[test]
    fn gms4_over_the_fifo_link_is_a_behaviour_of_the_udp_model_but_not_of_ordered() {
        assert_eq!(network_for::<Gms4>(Link::Fifo), NetworkKind::Udp);
        assert_eq!(network_for::<Gms3>(Link::Fifo), NetworkKind::Ordered);
        assert_eq!(network_for::<Gms3>(Link::Raw), NetworkKind::Udp);
        let lossy = Faults {
            drop: 0.05,
            ..Faults::default()
        };
        let sc = scenario(Link::Fifo, lossy, vec![]);
        let run = sim::run::<Gms4>(&sc, 1);
        assert!(
            matches!(run.validation, Some(Ok(n)) if n > 1000),
            "{:?}",
            run.validation
        );
        // The same run, its steps checked against the ordered network.
        let ordered = Validator::on(actors::<Gms4>(sc.nodes, None), NetworkKind::Ordered);
        let replay = sim::run_with::<Gms4>(&sc, 1, Some(ordered));
        let Some(Err(d)) = replay.validation else {
            panic!("expected a divergence, got {:?}", replay.validation);
        };
        assert!(
            matches!(&d.why, Why::NotAllowed { rule } if rule.contains("in flight:"))
                && d.action.contains("retransmits"),
            "{d}"
        );
    }

    /// A stand-in for a core: runs the actor's handlers and keeps its timers as the core
    /// does, recording what it did.
    struct Node {
        id: Id,
        actor: Gms3,
        state: <Gms3 as Actor>::State,
        timers: Vec<<Gms3 as Actor>::Timer>,
    }

    impl Node {
        fn new(actor: Gms3, i: usize) -> Self {
            let id = Id::from(i);
            let mut out = Out::new();
            let state = actor.on_start(id, &None, &mut out);
            let mut node = Node {
                id,
                actor,
                state,
                timers: Vec::new(),
            };
            node.perform(out);
            node
        }

        fn perform(&mut self, out: Out<Gms3>) -> Vec<(Id, Gms3Msg)> {
            let mut sends = Vec::new();
            for c in out {
                match c {
                    Command::SetTimer(t, _) => {
                        self.timers.retain(|x| *x != t);
                        self.timers.push(t);
                    }
                    Command::CancelTimer(t) => self.timers.retain(|x| *x != t),
                    Command::Send(dst, msg) => sends.push((dst, msg)),
                    _ => {}
                }
            }
            sends
        }

        fn step(
            &mut self,
            input: Input<Gms3Msg, <Gms3 as Actor>::Timer>,
        ) -> (Recorded<Gms3>, Vec<(Id, Gms3Msg)>) {
            let mut out = Out::new();
            let mut st = Cow::Owned(self.state.clone());
            match input.clone() {
                Input::Msg { src, msg } => self.actor.on_msg(self.id, &mut st, src, msg, &mut out),
                Input::Timeout(t) => {
                    self.timers.retain(|x| *x != t);
                    self.actor.on_timeout(self.id, &mut st, &t, &mut out)
                }
            }
            self.state = st.into_owned();
            let sends = self.perform(out);
            let step = Recorded::Step {
                input,
                state: self.state.clone(),
                timers: Some(self.timers.clone()),
            };
            (step, sends)
        }
    }

    fn group() -> (Validator<Gms3>, Vec<Node>) {
        let actors = actors::<Gms3>(3, None);
        let nodes = actors
            .iter()
            .enumerate()
            .map(|(i, a)| Node::new(a.clone(), i))
            .collect();
        (Validator::new(actors, Link::Fifo), nodes)
    }

    fn why(v: &Validator<Gms3>) -> Why {
        match v.result() {
            Err(d) => d.why,
            Ok(n) => panic!("no divergence after {n} steps"),
        }
    }

    #[test]
    fn the_validator_follows_real_steps_and_catches_doctored_ones() {
        let mcast = Input::Timeout(<Gms3 as Actor>::Timer::MCAST);
        // n1 multicasts twice: two requests queue on the channel n1 -> n0, in order.
        let (mut v, mut nodes) = group();
        let (a, first) = nodes[1].step(mcast.clone());
        let (b, second) = nodes[1].step(mcast.clone());
        v.feed(1, vec![a.clone(), b.clone()]);
        assert_eq!(v.result(), Ok(2));
        let (to, msg) = first[0].clone();
        assert_eq!(to, Id::from(0));
        let deliver = |msg: Gms3Msg| Input::Msg {
            src: Id::from(1),
            msg,
        };

        // The requests in order: steps of the model.
        let mut ok = (v, nodes);
        let (s1, _) = ok.1[0].step(deliver(msg.clone()));
        let (s2, _) = ok.1[0].step(deliver(second[0].1.clone()));
        ok.0.feed(0, vec![s1, s2]);
        assert_eq!(ok.0.result(), Ok(4));

        // The second before the first: out of order on the fifo link's ordered network.
        let (mut v, mut nodes) = group();
        v.feed(1, vec![a.clone(), b.clone()]);
        let (s, _) = nodes[0].step(deliver(second[0].1.clone()));
        v.feed(0, vec![s]);
        assert!(
            matches!(why(&v), Why::OutOfOrder { .. }),
            "{:?}",
            v.result()
        );

        // A message n1 never sent.
        let (mut v, mut nodes) = group();
        v.feed(1, vec![a.clone()]);
        let (s, _) = nodes[0].step(deliver(Gms3Msg::Join(Id::from(2))));
        v.feed(0, vec![s]);
        assert_eq!(why(&v), Why::NotInNetwork);

        // A state the model does not produce: the leader ignores the request.
        let (mut v, mut nodes) = group();
        v.feed(1, vec![a.clone()]);
        let before = nodes[0].state.clone();
        let (mut s, _) = nodes[0].step(deliver(msg.clone()));
        if let Recorded::Step { state, .. } = &mut s {
            *state = before;
        }
        v.feed(0, vec![s]);
        assert!(
            matches!(why(&v), Why::StateDiffers { .. }),
            "{:?}",
            v.result()
        );

        // Timers the model's step does not leave armed.
        let (mut v, mut nodes) = group();
        let (mut s, _) = nodes[1].step(mcast.clone());
        if let Recorded::Step { timers, .. } = &mut s {
            *timers = Some(Vec::new());
        }
        v.feed(1, vec![s]);
        assert!(
            matches!(why(&v), Why::TimersDiffer { .. }),
            "{:?}",
            v.result()
        );

        // A slave's send timer, never armed.
        let (mut v, mut nodes) = group();
        let (s, _) = nodes[2].step(Input::Timeout(<Gms3 as Actor>::Timer::SEND));
        v.feed(2, vec![s]);
        assert_eq!(why(&v), Why::TimerNotArmed);

        // A step cut short (its timers not taken) with no crash after it.
        let (mut v, mut nodes) = group();
        let (mut s, _) = nodes[1].step(mcast.clone());
        if let Recorded::Step { timers, .. } = &mut s {
            *timers = None;
        }
        v.feed(1, vec![s.clone()]);
        assert_eq!(why(&v), Why::NoCrashAfter);
        let (mut v, _) = group();
        v.feed(1, vec![s, Recorded::Crash]);
        assert_eq!(v.result(), Ok(2));

        // A step after a crash.
        let (mut v, mut nodes) = group();
        let (s, _) = nodes[1].step(mcast);
        v.feed(1, vec![Recorded::Crash, s]);
        assert_eq!(why(&v), Why::Crashed);
        let d = v.result().unwrap_err();
        assert_eq!((d.checked, d.node), (1, 1));
        assert!(d.to_string().contains("n1"), "{d}");
    }
}
