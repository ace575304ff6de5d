//! Turns a path through the model into events a person can read: who sent what to whom,
//! who crashed and which broadcast that cut, who suspected whom, what each application was
//! delivered; then every node's final log and colour, and where two logs first diverge.

use crate::app::{Event, ViewList};
use crate::group::{GroupTimer, Mark, Member, Role, TimerKind};
use crate::model::{ActorAction, GroupAction, GroupModel, GroupState};
use crate::protocol::Protocol;
use serde::Serialize;
use stateright::actor::{ActorModelAction, Command, Id, Out};
use stateright::Model;
use std::borrow::Cow;

#[derive(Clone, Debug, Serialize)]
pub struct Trace {
    /// The property this trace violates (or, for a witness, reaches).
    pub property: String,
    pub steps: Vec<TraceStep>,
    pub nodes: Vec<NodeSummary>,
    /// The first position where two message logs differ (nodes that have not crashed
    /// compared first), if any do.
    pub divergence: Option<Divergence>,
    /// The path as the Explorer's URLs spell it: `#/steps/` and an action index per model step.
    pub explorer_path: String,
    /// Messages still in the network at the end: `msg(1, m0.0) from n0 to n2`.
    pub in_flight: Vec<String>,
    /// Multicasts of a node that has not crashed that some live member never delivered:
    /// `m1.0 (from n1), not delivered by n2`.
    pub lost: Vec<String>,
    /// Every node's delivery log at the end, in the shape `groupy verify` reads.
    pub logs: Vec<crate::log::NodeLog<'static>>,
    /// Whether no shorter path reaches such a state (breadth-first search); `false` for the
    /// checker's own paths (`validity`, witnesses, or when the search ran out of budget).
    pub shortest: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct TraceStep {
    /// 1-based position in the trace.
    pub step: usize,
    /// 1-based position of the model step (one Explorer step) this actor step belongs to: a
    /// reduced model runs a whole broadcast, or a broadcast cut by a crash, as one step.
    pub model_step: usize,
    pub node: usize,
    /// `receive`, `mcast`, `send`, `local`, `suspect`, `retransmit`, `crash` or `drop`.
    pub kind: &'static str,
    pub text: String,
    /// What the step did: deliveries, sends, role changes.
    pub effects: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct NodeSummary {
    pub node: usize,
    pub role: Role,
    pub crashed: bool,
    pub view: String,
    /// The application's log: `m<sender>.<seq>` for messages, `view[...]` for views.
    pub log: Vec<String>,
    pub colour: [u8; 3],
}

#[derive(Clone, Debug, Serialize)]
pub struct Divergence {
    pub a: usize,
    pub b: usize,
    /// 1-based position in the message logs.
    pub position: usize,
    pub a_has: Option<String>,
    pub b_has: Option<String>,
}

fn n(id: Id) -> String {
    format!("n{}", usize::from(id))
}

/// Renders the path that `actions` take from the initial state.
pub fn render<A: Protocol>(model: &GroupModel<A>, actions: &[GroupAction<A>]) -> Trace {
    let mut state = match model.init_states().into_iter().next() {
        Some(s) => s,
        None => {
            return Trace {
                property: String::new(),
                steps: vec![],
                nodes: vec![],
                divergence: None,
                explorer_path: String::new(),
                in_flight: vec![],
                lost: vec![],
                logs: vec![],
                shortest: false,
            }
        }
    };
    let mut steps = Vec::new();
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
        // A reduced step (a whole broadcast, a cut) reads as the actor steps it stands for.
        let mut at = state.clone();
        for a in model.expand(&state, action) {
            let Some(after) = model.inner.next_state(&at, a.clone()) else {
                break;
            };
            let mut step = describe(model, &at, &after, &a, steps.len() + 1);
            step.model_step = indices.len() - 1;
            steps.push(step);
            at = after;
        }
        state = next;
    }
    Trace {
        property: String::new(),
        steps,
        nodes: summaries::<A>(&state),
        divergence: divergence::<A>(&state),
        explorer_path: format!("{EXPLORER_PREFIX}{}", indices.join("/")),
        in_flight: in_flight::<A>(&state),
        lost: lost(model, &state),
        logs: crate::model::logs(model, &state)
            .into_iter()
            .map(|l| crate::log::NodeLog {
                events: std::borrow::Cow::Owned(l.events.into_owned()),
                multicast: std::borrow::Cow::Owned(l.multicast.into_owned()),
                ..l
            })
            .collect(),
        shortest: false,
    }
}

/// How an Explorer path starts (`http://host/#/steps/0/1/...`).
pub const EXPLORER_PREFIX: &str = "#/steps/";

/// The action indices of an Explorer path, with or without its `#/steps/` prefix.
pub fn explorer_indices(path: &str) -> impl Iterator<Item = &str> {
    path.strip_prefix(EXPLORER_PREFIX)
        .unwrap_or(path)
        .split('/')
}

fn in_flight<A: Protocol>(s: &GroupState<A>) -> Vec<String> {
    use stateright::actor::Network;
    let line =
        |src: &Id, dst: &Id, msg: &A::Msg| format!("{msg:?} from {} to {}", n(*src), n(*dst));
    let mut out: Vec<String> = match &s.network {
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

/// The multicasts a run lost, one line per message: `m1.0 (from n1), not delivered by n2`.
fn lost<A: Protocol>(model: &GroupModel<A>, s: &GroupState<A>) -> Vec<String> {
    let logs = crate::model::logs(model, s);
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for (sender, p, member) in crate::properties::undelivered(&logs) {
        let head = format!("{p:?} (from {})", n(sender.node));
        match out.last_mut() {
            Some((h, missing)) if *h == head => missing.push(n(member.node)),
            _ => out.push((head, vec![n(member.node)])),
        }
    }
    out.into_iter()
        .map(|(head, missing)| format!("{head}, not delivered by {}", missing.join(", ")))
        .collect()
}

fn describe<A: Protocol>(
    model: &GroupModel<A>,
    before: &GroupState<A>,
    after: &GroupState<A>,
    action: &ActorAction<A>,
    step: usize,
) -> TraceStep {
    let (node, kind, text, out) = match action {
        ActorModelAction::Deliver { src, dst, msg } => {
            let mut out = Out::new();
            let i = usize::from(*dst);
            let mut st = Cow::Borrowed(&*before.actor_states[i]);
            model.inner.actors[i].on_msg(*dst, &mut st, *src, msg.clone(), &mut out);
            let text = format!("{} receives {:?} from {}", n(*dst), msg, n(*src));
            (i, "receive", text, Some(out))
        }
        ActorModelAction::Timeout(id, timer) => {
            let i = usize::from(*id);
            let mut out = Out::new();
            let mut st = Cow::Borrowed(&*before.actor_states[i]);
            model.inner.actors[i].on_timeout(*id, &mut st, timer, &mut out);
            let (kind, text) = match timer.kind() {
                TimerKind::Mcast => {
                    let issued = before.actor_states[i].worker().issued;
                    let p = crate::app::Payload::issued_by(*id, issued);
                    (
                        "mcast",
                        format!("{}'s application multicasts {p:?}", n(*id)),
                    )
                }
                TimerKind::Send => {
                    let sent = out.iter().any(|c| matches!(c, Command::Send(..)));
                    if sent {
                        ("send", format!("{} continues its broadcast", n(*id)))
                    } else {
                        ("local", format!("{} completes its broadcast", n(*id)))
                    }
                }
                TimerKind::Suspect => {
                    let leader = crate::group::suspected(&*before.actor_states[i], timer);
                    let why = match leader {
                        Some(l) if before.crashed[usize::from(l)] => "crashed".to_string(),
                        Some(_) => "ALIVE: a false suspicion".to_string(),
                        None => "no leader".to_string(),
                    };
                    let who = leader.map(n).unwrap_or_else(|| "?".into());
                    (
                        "suspect",
                        match timer.target() {
                            Some(_) => format!("{} suspects {who} ({why})", n(*id)),
                            None => format!("{} suspects its leader {who} ({why})", n(*id)),
                        },
                    )
                }
                TimerKind::Retransmit => ("retransmit", format!("{} retransmits", n(*id))),
            };
            (i, kind, text, Some(out))
        }
        ActorModelAction::Crash(id) => {
            let i = usize::from(*id);
            let st = &before.actor_states[i];
            let mut text = format!("{} CRASHES", n(*id));
            if st.role() == Role::Leader {
                if let Some(bcast) = st.broadcast_in_progress() {
                    if bcast.is_cut() {
                        text.push_str(&format!(
                            " in the middle of a broadcast, cutting it: {bcast}"
                        ));
                    } else {
                        text.push_str(&format!(" with a broadcast in progress: {bcast}"));
                    }
                }
            }
            (i, "crash", text, None)
        }
        ActorModelAction::Drop(env) => {
            let text = format!(
                "the network loses {:?} from {} to {}",
                env.msg,
                n(env.src),
                n(env.dst)
            );
            (usize::from(env.dst), "drop", text, None)
        }
        ActorModelAction::Recover(id) => (usize::from(*id), "recover", "recovers".into(), None),
        ActorModelAction::SelectRandom { actor, .. } => {
            (usize::from(*actor), "random", "random choice".into(), None)
        }
    };
    let mut effects = Vec::new();
    if let Some(out) = out {
        for c in out.iter() {
            if let Command::Send(dst, msg) = c {
                effects.push(format!("sends {:?} to {}", msg, n(*dst)));
            }
        }
    }
    if let (Some(b), Some(a)) = (before.actor_states.get(node), after.actor_states.get(node)) {
        effects.extend(diff::<A>(b, a));
    }
    TraceStep {
        step,
        model_step: 0,
        node,
        kind,
        text,
        effects,
    }
}

/// What changed in one node: role, deliveries, discarded duplicates.
fn diff<A: Protocol>(before: &A::State, after: &A::State) -> Vec<String> {
    let mut out = Vec::new();
    if before.role() != after.role() {
        out.push(match after.role() {
            Role::Leader => format!("becomes LEADER of {}", ViewList(after.view())),
            Role::Slave => format!("joins as a slave of {}", ViewList(after.view())),
            Role::Outside => "leaves the group".to_string(),
        });
    } else if after.role() == Role::Slave && before.view().first() != after.view().first() {
        out.push(format!(
            "follows the new leader {}",
            after.view().first().map(|l| n(*l)).unwrap_or_default()
        ));
    }
    let (b, a) = (&before.app().log, &after.app().log);
    if a.len() > b.len() && a.starts_with(b) {
        for e in &a[b.len()..] {
            out.push(match e {
                Event::Deliver(p) => format!("delivers {p:?} to its application"),
                Event::View(v) => format!("installs view {}", ViewList(v)),
            });
        }
    } else if a != b {
        out.push(format!("adopts the application state {:?}", after.app()));
    }
    if after.marks().has(Mark::DuplicateDiscarded) && !before.marks().has(Mark::DuplicateDiscarded)
    {
        out.push("discards a message numbered below `next` as a duplicate".to_string());
    }
    if after.held() > before.held() {
        out.push("holds it back: not from the leader it follows".to_string());
    }
    if after.queued() > before.queued() {
        out.push("queues it behind the broadcast in progress".to_string());
    }
    if let Some(bcast) = after.broadcast_in_progress().filter(|b| !b.is_mid()) {
        let desc = bcast.to_string();
        let fresh = before
            .broadcast_in_progress()
            .is_none_or(|was| was.to_string() != desc);
        if fresh {
            out.push(format!("starts broadcasting {desc}"));
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
            view: ViewList(st.view()).to_string(),
            log: st.app().log.iter().map(|e| format!("{e:?}")).collect(),
            colour: st.app().colour(),
        })
        .collect()
}

fn divergence<A: Protocol>(s: &GroupState<A>) -> Option<Divergence> {
    let logs: Vec<(usize, bool, Vec<String>)> = s
        .actor_states
        .iter()
        .enumerate()
        .map(|(i, st)| {
            let log = st.app().messages().map(|p| format!("{p:?}")).collect();
            (i, s.crashed[i], log)
        })
        .collect();
    // Survivors first: their divergence is what `agreement` is about.
    for with_crashed in [false, true] {
        for (x, (a, ca, la)) in logs.iter().enumerate() {
            for (b, cb, lb) in &logs[x + 1..] {
                if !with_crashed && (*ca || *cb) {
                    continue;
                }
                let common = la.len().min(lb.len());
                if let Some(pos) = (0..common).find(|&k| la[k] != lb[k]) {
                    return Some(Divergence {
                        a: *a,
                        b: *b,
                        position: pos + 1,
                        a_has: la.get(pos).cloned(),
                        b_has: lb.get(pos).cloned(),
                    });
                }
            }
        }
    }
    None
}
