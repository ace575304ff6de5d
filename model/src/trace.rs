//! Turns a path through the model into events as data: who sent what to whom, who crashed
//! and which broadcast that cut, who suspected whom, what each application was delivered;
//! then every node's final log and colour, and where two logs first diverge.
//!
//! Each step is an [`Act`] (what a node did) and its [`Effect`]s (what came of it), and their
//! `Display` impls are the one place that words them: the text trace, the SVG and the
//! Explorer's labels all render from these types, and the JSON trace serializes them.

use crate::app::{Event, Payload};
use crate::config::Config;
use crate::group::{BroadcastProgress, GroupTimer, Mark, Member, Role, TimerKind};
use crate::log::{Divergence, NodeLog};
use crate::model::{Action, ActorAction, GroupAction, GroupModel, GroupState};
use crate::protocol::Protocol;
use serde::{Deserialize, Serialize};
use stateright::actor::{ActorModelAction, Command, Id, Network, Out};
use stateright::Model;
use std::borrow::Cow;
use std::fmt;

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Trace {
    /// The protocol and configuration the path was found in: what `groupy replay` checks it
    /// against.
    pub protocol: String,
    pub config: Config,
    /// The property this trace violates (or, for a witness, reaches).
    pub property: String,
    /// What nodes did as they started, before any step: a joiner's request to join.
    pub start: Vec<TraceStep>,
    pub steps: Vec<TraceStep>,
    /// The path as model actions, one per Explorer step, labelled as the Explorer labels them:
    /// what `groupy replay` takes again.
    pub path: Vec<Act>,
    pub nodes: Vec<NodeSummary>,
    /// Where two logs first differ ([`crate::log::divergence`]), if they do.
    pub divergence: Option<Divergence>,
    /// The path as the Explorer's URLs spell it: `#/steps/` and an action index per model step.
    pub explorer_path: String,
    /// Messages still in the network at the end.
    pub in_flight: Vec<InFlight>,
    /// Multicasts of a node that has not crashed that some live member never delivered:
    /// `m1.0 (from n1), not delivered by n2`.
    pub lost: Vec<String>,
    /// Every node's delivery log at the end, in the shape `groupy verify` reads.
    pub logs: Vec<NodeLog<'static>>,
    /// Whether no shorter path reaches such a state (breadth-first search); `false` for the
    /// checker's own paths (witnesses, or when the search ran out of budget).
    pub shortest: bool,
    /// A livelock's lasso: the step (1-based, in `steps`) from which the trace repeats for
    /// ever without reaching quiescence; one past the last step if the run is stuck there, with
    /// no protocol step at all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cycle_from: Option<usize>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceStep {
    /// 1-based position in the trace (0 for what nodes did as they started).
    pub step: usize,
    /// 1-based position of the model step (one Explorer step) this actor step belongs to: a
    /// reduced model runs a whole broadcast, or a broadcast cut by a crash, as one step.
    pub model_step: usize,
    pub node: usize,
    pub action: Act,
    /// What the step did: sends, deliveries, role changes.
    pub effects: Vec<Effect>,
    /// `action` as the text trace words it, for readers of the JSON.
    pub text: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeSummary {
    pub node: usize,
    pub role: Role,
    pub crashed: bool,
    pub view: Vec<usize>,
    /// The application's log: messages and views, in delivery order.
    pub log: Vec<Event>,
    pub colour: [u8; 3],
}

/// A message in the network at the end of a path.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct InFlight {
    pub from: usize,
    pub to: usize,
    pub msg: String,
}

impl fmt::Display for InFlight {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} from n{} to n{}", self.msg, self.from, self.to)
    }
}

/// What a node did in one step (or, for the Explorer, one model action). Fields that only a
/// state can tell (which message a multicast is, why a suspicion fired, which broadcast a
/// crash cut) are `None` in the Explorer's labels, which see the action alone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "act", rename_all = "snake_case")]
pub enum Act {
    /// The node starts (its sends are the step's effects: a joiner's `join`).
    Start {
        node: usize,
    },
    Receive {
        node: usize,
        from: usize,
        msg: String,
    },
    /// The node's application multicasts.
    Multicast {
        node: usize,
        payload: Option<Payload>,
    },
    /// The next step of a broadcast in progress: a send (`sends: Some(true)`), or the local
    /// delivery that completes it (`Some(false)`).
    BroadcastStep {
        node: usize,
        sends: Option<bool>,
    },
    /// The failure detector fires: about the node's leader (`leader`), or about a peer it
    /// monitors.
    Suspect {
        node: usize,
        leader: bool,
        whom: Option<usize>,
        why: Option<Suspicion>,
    },
    Retransmit {
        node: usize,
    },
    /// The leader proposes what it has queued.
    Propose {
        node: usize,
    },
    /// The node crashes, with the broadcast it had in progress, if any.
    Crash {
        node: usize,
        broadcast: Option<BroadcastAt>,
    },
    /// The network loses a message addressed to `node`.
    Lose {
        node: usize,
        from: usize,
        msg: String,
    },
    /// Reduced model: the node runs its broadcast to the end in one step.
    RunBroadcast {
        node: usize,
    },
    /// Reduced model: the node makes `sends` more sends of its broadcast, then crashes.
    CutBroadcast {
        node: usize,
        sends: u8,
    },
    /// One of stateright's actions groupy never offers (recover, random choice).
    Other {
        node: usize,
        what: String,
    },
}

/// Why a suspicion fired, as far as the state tells.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Suspicion {
    Crashed,
    /// A false suspicion (the unreliable detector).
    Alive,
    NoLeader,
}

/// A broadcast in progress: `msg` sent to `to[..sent]`, not yet to the rest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BroadcastAt {
    pub msg: String,
    pub sent: usize,
    pub to: Vec<usize>,
}

impl BroadcastAt {
    fn of(b: &BroadcastProgress) -> Self {
        BroadcastAt {
            msg: format!("{:?}", b.msg),
            sent: b.sent,
            to: b.to.iter().map(|id| usize::from(*id)).collect(),
        }
    }

    /// Some, but not all, recipients were sent the message.
    pub fn is_cut(&self) -> bool {
        self.sent > 0 && self.sent < self.to.len()
    }

    /// The recipients not sent the message yet.
    pub fn unsent(&self) -> &[usize] {
        self.to.get(self.sent..).unwrap_or(&[])
    }
}

impl fmt::Display for BroadcastAt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} sent to {}/{} of {}",
            self.msg,
            self.sent,
            self.to.len(),
            NodeList(&self.to)
        )
    }
}

/// What came of a step, at the node that took it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "effect", rename_all = "snake_case")]
pub enum Effect {
    Send {
        to: usize,
        msg: String,
    },
    Deliver {
        payload: Payload,
    },
    InstallView {
        view: Vec<usize>,
    },
    BecomeLeader {
        view: Vec<usize>,
    },
    BecomeSlave {
        view: Vec<usize>,
    },
    LeaveGroup,
    FollowLeader {
        leader: usize,
    },
    /// A joiner takes over the application state the leader handed over.
    AdoptState {
        log: Vec<Event>,
    },
    DiscardDuplicate,
    HoldBack,
    /// A request waits for the broadcast in progress.
    Queue,
    StartBroadcast {
        broadcast: BroadcastAt,
    },
}

/// A list of nodes as `[n0,n1,n2]`.
pub struct NodeList<'a>(pub &'a [usize]);

impl fmt::Display for NodeList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<String> = self.0.iter().map(|n| format!("n{n}")).collect();
        write!(f, "[{}]", names.join(","))
    }
}

impl Act {
    /// The node that takes the step (the addressee, for a loss).
    pub fn node(&self) -> usize {
        match self {
            Act::Start { node }
            | Act::Receive { node, .. }
            | Act::Multicast { node, .. }
            | Act::BroadcastStep { node, .. }
            | Act::Suspect { node, .. }
            | Act::Retransmit { node }
            | Act::Propose { node }
            | Act::Crash { node, .. }
            | Act::Lose { node, .. }
            | Act::RunBroadcast { node }
            | Act::CutBroadcast { node, .. }
            | Act::Other { node, .. } => *node,
        }
    }
}

impl fmt::Display for Act {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Act::Start { node } => write!(f, "n{node} starts"),
            Act::Receive { node, from, msg } => write!(f, "n{node} receives {msg} from n{from}"),
            Act::Multicast { node, payload } => {
                write!(f, "n{node}'s application multicasts")?;
                match payload {
                    Some(p) => write!(f, " {p:?}"),
                    None => Ok(()),
                }
            }
            Act::BroadcastStep { node, sends } => match sends {
                Some(true) => write!(f, "n{node} continues its broadcast"),
                Some(false) => write!(f, "n{node} completes its broadcast"),
                None => write!(f, "n{node} takes the next step of its broadcast"),
            },
            Act::Suspect {
                node,
                leader,
                whom,
                why,
            } => {
                write!(f, "n{node} suspects")?;
                if *leader {
                    write!(f, " its leader")?;
                }
                match (whom, why) {
                    (Some(w), _) => write!(f, " n{w}")?,
                    // The state was read and names no one.
                    (None, Some(_)) => write!(f, " ?")?,
                    (None, None) => {}
                }
                match why {
                    Some(Suspicion::Crashed) => write!(f, " (crashed)"),
                    Some(Suspicion::Alive) => write!(f, " (ALIVE: a false suspicion)"),
                    Some(Suspicion::NoLeader) => write!(f, " (no leader)"),
                    None => Ok(()),
                }
            }
            Act::Retransmit { node } => write!(f, "n{node} retransmits"),
            Act::Propose { node } => write!(f, "n{node} proposes what it has queued"),
            Act::Crash { node, broadcast } => {
                write!(f, "n{node} CRASHES")?;
                match broadcast {
                    Some(b) if b.is_cut() => {
                        write!(f, " in the middle of a broadcast, cutting it: {b}")
                    }
                    Some(b) => write!(f, " with a broadcast in progress: {b}"),
                    None => Ok(()),
                }
            }
            Act::Lose { node, from, msg } => {
                write!(f, "the network loses {msg} from n{from} to n{node}")
            }
            Act::RunBroadcast { node } => write!(f, "n{node} runs its broadcast to the end"),
            Act::CutBroadcast { node, sends } => write!(
                f,
                "n{node} sends {sends} more and CRASHES, cutting its broadcast"
            ),
            Act::Other { node, what } => write!(f, "n{node}: {what}"),
        }
    }
}

impl fmt::Display for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Effect::Send { to, msg } => write!(f, "sends {msg} to n{to}"),
            Effect::Deliver { payload } => write!(f, "delivers {payload:?} to its application"),
            Effect::InstallView { view } => write!(f, "installs view {}", NodeList(view)),
            Effect::BecomeLeader { view } => write!(f, "becomes LEADER of {}", NodeList(view)),
            Effect::BecomeSlave { view } => write!(f, "joins as a slave of {}", NodeList(view)),
            Effect::LeaveGroup => write!(f, "leaves the group"),
            Effect::FollowLeader { leader } => write!(f, "follows the new leader n{leader}"),
            Effect::AdoptState { log } => write!(f, "adopts the application state {log:?}"),
            Effect::DiscardDuplicate => {
                write!(f, "discards it as a duplicate (it already has it)")
            }
            Effect::HoldBack => write!(f, "holds it back: not from the leader it follows"),
            Effect::Queue => write!(f, "queues it behind the broadcast in progress"),
            Effect::StartBroadcast { broadcast } => write!(f, "starts broadcasting {broadcast}"),
        }
    }
}

fn ids(v: &[Id]) -> Vec<usize> {
    v.iter().map(|id| usize::from(*id)).collect()
}

/// A model action as the Explorer labels it: from the action alone, without a state.
pub fn label<M: fmt::Debug, T: GroupTimer>(action: &Action<M, T>) -> Act {
    match action {
        Action::Actor(a) => actor_label(a),
        Action::Broadcast(id) => Act::RunBroadcast {
            node: usize::from(*id),
        },
        Action::Cut(id, sends) => Act::CutBroadcast {
            node: usize::from(*id),
            sends: *sends,
        },
    }
}

fn actor_label<M: fmt::Debug, T: GroupTimer>(a: &ActorModelAction<M, T, ()>) -> Act {
    match a {
        ActorModelAction::Deliver { src, dst, msg } => Act::Receive {
            node: usize::from(*dst),
            from: usize::from(*src),
            msg: format!("{msg:?}"),
        },
        ActorModelAction::Timeout(id, t) => {
            let node = usize::from(*id);
            match t.kind() {
                TimerKind::Mcast => Act::Multicast {
                    node,
                    payload: None,
                },
                TimerKind::Send => Act::BroadcastStep { node, sends: None },
                TimerKind::Suspect => Act::Suspect {
                    node,
                    leader: t.target().is_none(),
                    whom: t.target().map(usize::from),
                    why: None,
                },
                TimerKind::Retransmit => Act::Retransmit { node },
                TimerKind::Propose => Act::Propose { node },
            }
        }
        ActorModelAction::Crash(id) => Act::Crash {
            node: usize::from(*id),
            broadcast: None,
        },
        ActorModelAction::Drop(env) => Act::Lose {
            node: usize::from(env.dst),
            from: usize::from(env.src),
            msg: format!("{:?}", env.msg),
        },
        ActorModelAction::Recover(id) => Act::Other {
            node: usize::from(*id),
            what: "recovers".into(),
        },
        ActorModelAction::SelectRandom { actor, .. } => Act::Other {
            node: usize::from(*actor),
            what: "random choice".into(),
        },
    }
}

/// Renders the path that `actions` take from the initial state.
pub fn render<A: Protocol>(model: &GroupModel<A>, actions: &[GroupAction<A>]) -> Trace {
    let Some(mut state) = model.init_states().into_iter().next() else {
        return Trace::default();
    };
    let start = start::<A>(&state);
    let mut steps = Vec::new();
    let mut path = Vec::new();
    let mut indices = vec!["0".to_string()];
    for action in actions {
        let mut enabled = Vec::new();
        model.actions(&state, &mut enabled);
        if let Some(i) = enabled.iter().position(|a| a == action) {
            indices.push(i.to_string());
        }
        let Some(next) = model.next_state(&state, action.clone()) else {
            break;
        };
        path.push(label(action));
        // A reduced step (a whole broadcast, a cut) reads as the actor steps it stands for.
        let mut at = state.clone();
        for a in model.expand(&state, action) {
            let Some(after) = model.inner.next_state(&at, a.clone()) else {
                break;
            };
            let mut step = describe(model, &at, &after, &a, steps.len() + 1);
            step.model_step = path.len();
            steps.push(step);
            at = after;
        }
        state = next;
    }
    let logs = crate::model::logs(model, &state);
    Trace {
        protocol: A::DESCRIPTOR.name.to_string(),
        config: model.cfg().clone(),
        property: String::new(),
        start,
        steps,
        path,
        nodes: summaries::<A>(&state),
        divergence: crate::log::divergence(&logs),
        explorer_path: format!("{EXPLORER_PREFIX}{}", indices.join("/")),
        in_flight: in_flight::<A>(&state),
        lost: lost(&logs),
        logs: logs
            .into_iter()
            .map(|l| NodeLog {
                events: Cow::Owned(l.events.into_owned()),
                multicast: Cow::Owned(l.multicast.into_owned()),
                accepted: Cow::Owned(l.accepted.into_owned()),
                ..l
            })
            .collect(),
        shortest: false,
        cycle_from: None,
    }
}

/// A livelock as a trace: `stem` to the first state that cannot reach quiescence, then
/// `cycle`, which returns to a state of the walk (empty: stuck).
pub fn render_lasso<A: Protocol>(
    model: &GroupModel<A>,
    stem: &[GroupAction<A>],
    cycle: &[GroupAction<A>],
) -> Trace {
    let mut t = render(model, &[stem, cycle].concat());
    let first_of_cycle = t
        .steps
        .iter()
        .find(|s| s.model_step > stem.len())
        .map_or(t.steps.len() + 1, |s| s.step);
    t.cycle_from = Some(first_of_cycle);
    t.shortest = false;
    t
}

/// The model actions a saved path names, taken again from the initial state: at each step the
/// enabled action with the same label. `Err(k)`: model step `k` (1-based) is not enabled.
pub fn replay<A: Protocol>(
    model: &GroupModel<A>,
    path: &[Act],
) -> Result<Vec<GroupAction<A>>, usize> {
    let mut state = model.init_states().into_iter().next().ok_or(1usize)?;
    let mut actions = Vec::new();
    for (k, want) in path.iter().enumerate() {
        let mut enabled = Vec::new();
        model.actions(&state, &mut enabled);
        let step = k + 1;
        let action = enabled
            .into_iter()
            .find(|a| label(a) == *want)
            .ok_or(step)?;
        state = model.next_state(&state, action.clone()).ok_or(step)?;
        actions.push(action);
    }
    Ok(actions)
}

/// How an Explorer path starts (`http://host/#/steps/0/1/...`).
pub const EXPLORER_PREFIX: &str = "#/steps/";

/// The action indices of an Explorer path, with or without its `#/steps/` prefix.
pub fn explorer_indices(path: &str) -> impl Iterator<Item = &str> {
    path.strip_prefix(EXPLORER_PREFIX)
        .unwrap_or(path)
        .split('/')
}

/// Every message in the network, in a stable order.
fn in_flight<A: Protocol>(s: &GroupState<A>) -> Vec<InFlight> {
    let line = |src: &Id, dst: &Id, msg: &A::Msg| InFlight {
        from: usize::from(*src),
        to: usize::from(*dst),
        msg: format!("{msg:?}"),
    };
    let mut out: Vec<InFlight> = match &s.network {
        Network::Ordered(channels) => channels
            .iter()
            .flat_map(|((src, dst), q)| q.iter().map(move |m| line(src, dst, m)))
            .collect(),
        Network::UnorderedNonDuplicating(bag) => {
            bag.keys().map(|e| line(&e.src, &e.dst, &e.msg)).collect()
        }
        Network::UnorderedDuplicating(set, _) => {
            set.iter().map(|e| line(&e.src, &e.dst, &e.msg)).collect()
        }
    };
    out.sort();
    out
}

/// The sends nodes made as they started (they are in the initial network): one step per
/// sender, numbered 0.
fn start<A: Protocol>(init: &GroupState<A>) -> Vec<TraceStep> {
    let mut out: Vec<TraceStep> = Vec::new();
    for m in in_flight::<A>(init) {
        let send = Effect::Send {
            to: m.to,
            msg: m.msg,
        };
        match out.iter_mut().find(|s| s.node == m.from) {
            Some(step) => step.effects.push(send),
            None => {
                let action = Act::Start { node: m.from };
                out.push(TraceStep {
                    step: 0,
                    model_step: 0,
                    node: m.from,
                    text: action.to_string(),
                    action,
                    effects: vec![send],
                });
            }
        }
    }
    out
}

/// The multicasts a run lost, one line per message: `m1.0 (from n1), not delivered by n2`.
fn lost(logs: &[NodeLog]) -> Vec<String> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for (sender, p, member) in crate::properties::undelivered(logs) {
        let head = format!("{p:?} (from n{})", usize::from(sender.node));
        let who = format!("n{}", usize::from(member.node));
        match out.last_mut() {
            Some((h, missing)) if *h == head => missing.push(who),
            _ => out.push((head, vec![who])),
        }
    }
    out.into_iter()
        .map(|(head, missing)| format!("{head}, not delivered by {}", missing.join(", ")))
        .collect()
}

/// One actor step, read off the states before and after it.
fn describe<A: Protocol>(
    model: &GroupModel<A>,
    before: &GroupState<A>,
    after: &GroupState<A>,
    action: &ActorAction<A>,
    step: usize,
) -> TraceStep {
    let mut act = actor_label(action);
    let mut effects = Vec::new();
    match action {
        ActorModelAction::Deliver { src, dst, msg } => {
            let i = usize::from(*dst);
            let mut out = Out::new();
            let mut st = Cow::Borrowed(&*before.actor_states[i]);
            model.inner.actors[i].on_msg(*dst, &mut st, *src, msg.clone(), &mut out);
            effects = sends(out);
        }
        ActorModelAction::Timeout(id, timer) => {
            let i = usize::from(*id);
            let mut out = Out::new();
            let mut st = Cow::Borrowed(&*before.actor_states[i]);
            model.inner.actors[i].on_timeout(*id, &mut st, timer, &mut out);
            effects = sends(out);
            let node = &*before.actor_states[i];
            match &mut act {
                Act::Multicast { payload, .. } => {
                    *payload = Some(Payload::issued_by(*id, node.worker().issued));
                }
                Act::BroadcastStep { sends, .. } => *sends = Some(!effects.is_empty()),
                Act::Suspect { whom, why, .. } => {
                    let suspect = crate::group::suspected(node, timer);
                    *whom = suspect.map(usize::from);
                    *why = Some(match suspect {
                        Some(l) if before.crashed[usize::from(l)] => Suspicion::Crashed,
                        Some(_) => Suspicion::Alive,
                        None => Suspicion::NoLeader,
                    });
                }
                _ => {}
            }
        }
        ActorModelAction::Crash(id) => {
            let st = &before.actor_states[usize::from(*id)];
            if let (Role::Leader, Some(b)) = (st.role(), st.broadcast_in_progress()) {
                act = Act::Crash {
                    node: usize::from(*id),
                    broadcast: Some(BroadcastAt::of(&b)),
                };
            }
        }
        _ => {}
    }
    let node = act.node();
    if let (Some(b), Some(a)) = (before.actor_states.get(node), after.actor_states.get(node)) {
        effects.extend(diff::<A>(b, a));
    }
    TraceStep {
        step,
        model_step: 0,
        node,
        text: act.to_string(),
        action: act,
        effects,
    }
}

/// The sends among a handler's commands. Stateright keeps no record of what a step sent, so
/// `describe` runs the handler again on a copy of the state before it.
fn sends<A: Protocol>(out: Out<A>) -> Vec<Effect> {
    out.into_iter()
        .filter_map(|c| match c {
            Command::Send(dst, msg) => Some(Effect::Send {
                to: usize::from(dst),
                msg: format!("{msg:?}"),
            }),
            _ => None,
        })
        .collect()
}

/// What changed in one node: role, deliveries, discarded duplicates.
fn diff<A: Protocol>(before: &A::State, after: &A::State) -> Vec<Effect> {
    let mut out = Vec::new();
    if before.role() != after.role() {
        let view = ids(after.view());
        out.push(match after.role() {
            Role::Leader => Effect::BecomeLeader { view },
            Role::Slave => Effect::BecomeSlave { view },
            Role::Outside => Effect::LeaveGroup,
        });
    } else if after.role() == Role::Slave && before.view().first() != after.view().first() {
        if let Some(leader) = after.view().first() {
            out.push(Effect::FollowLeader {
                leader: usize::from(*leader),
            });
        }
    }
    let (b, a) = (&before.app().log, &after.app().log);
    if a.len() > b.len() && a.starts_with(b) {
        for e in &a[b.len()..] {
            out.push(match e {
                Event::Deliver(p) => Effect::Deliver { payload: *p },
                Event::View(v) => Effect::InstallView { view: ids(v) },
            });
        }
    } else if a != b {
        out.push(Effect::AdoptState { log: a.clone() });
    }
    if after.marks().has(Mark::DuplicateDiscarded) && !before.marks().has(Mark::DuplicateDiscarded)
    {
        out.push(Effect::DiscardDuplicate);
    }
    if after.held() > before.held() {
        out.push(Effect::HoldBack);
    }
    if after.queued() > before.queued() {
        out.push(Effect::Queue);
    }
    if let Some(progress) = after.broadcast_in_progress().filter(|b| !b.is_mid()) {
        let broadcast = BroadcastAt::of(&progress);
        let fresh = before
            .broadcast_in_progress()
            .is_none_or(|was| BroadcastAt::of(&was) != broadcast);
        if fresh {
            out.push(Effect::StartBroadcast { broadcast });
        }
    }
    out
}

fn summaries<A: Protocol>(s: &GroupState<A>) -> Vec<NodeSummary> {
    s.actor_states
        .iter()
        .enumerate()
        .map(|(i, st)| NodeSummary {
            node: i,
            role: st.role(),
            crashed: s.crashed[i],
            view: ids(st.view()),
            log: st.app().log.clone(),
            colour: st.app().colour(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gms2::Gms2;

    /// A path of `n` steps: at each state, the last action offered.
    fn walk(model: &GroupModel<Gms2>, n: usize) -> Vec<GroupAction<Gms2>> {
        let mut state = model.init_states().remove(0);
        let mut path = Vec::new();
        for _ in 0..n {
            let mut enabled = Vec::new();
            model.actions(&state, &mut enabled);
            let Some(action) = enabled.pop() else { break };
            state = model.next_state(&state, action.clone()).expect("a step");
            path.push(action);
        }
        path
    }

    #[test]
    fn a_rendered_path_replays_to_the_same_actions() {
        let model = GroupModel::<Gms2>::new(Config::default());
        let actions = walk(&model, 8);
        let t = render(&model, &actions);
        assert_eq!(t.path.len(), actions.len());
        assert_eq!(replay(&model, &t.path), Ok(actions));
        // Each step's text is its action's words.
        assert!(t.steps.iter().all(|s| s.text == s.action.to_string()));
    }

    #[test]
    fn a_path_the_model_does_not_take_stops_at_its_step() {
        let model = GroupModel::<Gms2>::new(Config::default());
        let mut t = render(&model, &walk(&model, 4));
        t.path[2] = Act::Receive {
            node: 2,
            from: 1,
            msg: "msg(m9.9)".into(),
        };
        assert_eq!(replay(&model, &t.path), Err(3));
    }
}
