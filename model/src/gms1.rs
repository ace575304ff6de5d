//! # gms1: a leader sequences every multicast
//!
//! The group is a list of peers, leader first. Each node is a group process plus its
//! application (the worker).
//!
//! - **Leader.** On `mcast(m)`, from its own application or forwarded by a slave, it does a
//!   *basic multicast*: sends `msg(m)` to each slave, one send at a time in peer-list order,
//!   then delivers `m` to its own application. On `join(p)` it takes its application's state
//!   to hand over, appends `p` at the end of the peer list and multicasts the new `view`
//!   (which carries that state), then installs the view itself.
//! - **Slave.** Forwards its application's `mcast` and any `join` to the leader; delivers each
//!   `msg` from the leader; adopts the peer list of each `view`.
//! - **Joining node.** Sends `join` to a member it knows and waits for a view that names it;
//!   it then adopts the view and the application state the view carries.
//!
//! The leader handles one request at a time: a request that arrives mid-broadcast waits in
//! its queue (the Erlang mailbox), so a join's state hand-over always follows every message
//! already sent to the old view.
//!
//! ## What it does not do
//! Nothing monitors the leader: if it crashes, the group is stuck and multicasts are lost.
//! The checker confirms every safety property with and without crashes, and shows `validity`
//! failing as soon as the leader may crash.

use crate::app::{App, Event, Payload, ViewList};
use crate::group::{
    on_mcast_timer, send_step, slaves, start_worker, submit, Broadcast, Core, GroupMsg, GroupTimer,
    Incarnation, Job, Member, Role, Sequencing, Setup, TimerKind,
};
use crate::properties::*;
use crate::protocol::{Descriptor, Link, Protocol, INFINITE_WITH_COPIES};
use crate::witness::{ALL_DELIVERED, BROADCAST_CUT, JOIN_COMPLETED, QUIESCENT};
use serde::{Deserialize, Serialize};
use stateright::actor::{Actor, Id, Out};
use std::borrow::Cow;
use std::fmt;

/// gms1's messages (gms2 uses the same ones).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Gms1Msg {
    /// Slave to leader: my application asks to multicast this.
    Mcast(Payload),
    /// To any member, forwarded to the leader: this node asks to join.
    Join(Id),
    /// Leader to slaves: deliver this.
    Msg(Payload),
    /// Leader to slaves: the new peer list, and the application state a joiner adopts.
    View(Vec<Id>, App),
}

impl fmt::Debug for Gms1Msg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Gms1Msg::Mcast(p) => write!(f, "mcast({p:?})"),
            Gms1Msg::Join(id) => write!(f, "join(n{})", usize::from(*id)),
            Gms1Msg::Msg(p) => write!(f, "msg({p:?})"),
            Gms1Msg::View(v, _) => write!(f, "view({})", ViewList(v)),
        }
    }
}

impl GroupMsg for Gms1Msg {
    fn mcast(p: Payload) -> Self {
        Gms1Msg::Mcast(p)
    }
}

/// gms1's timers: the application's and the leader's; nothing watches the leader.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Gms1Timer {
    Mcast,
    Send,
}

impl GroupTimer for Gms1Timer {
    const MCAST: Self = Gms1Timer::Mcast;
    const SEND: Self = Gms1Timer::Send;
    fn kind(&self) -> TimerKind {
        match self {
            Gms1Timer::Mcast => TimerKind::Mcast,
            Gms1Timer::Send => TimerKind::Send,
        }
    }
}

/// A gms1 (and gms2) group process with its application: just what every version holds.
pub type Gms1State = Core<Gms1Msg>;

impl Member for Gms1State {
    type Msg = Gms1Msg;
    fn core(&self) -> &Self {
        self
    }
    fn core_mut(&mut self) -> &mut Self {
        self
    }
    fn monitors(&self) -> Option<Id> {
        (self.role == Role::Slave).then(|| self.leader()).flatten()
    }
}

impl Sequencing for Gms1State {
    fn sequence(&mut self, _: &Setup, job: Job<Gms1Msg>) -> Broadcast<Gms1Msg> {
        match job {
            Job::Mcast(p) => {
                Broadcast::new(Gms1Msg::Msg(p), slaves(&self.view), Some(Event::Deliver(p)))
            }
            Job::Join(p) => {
                self.view.push(p);
                Broadcast::new(
                    Gms1Msg::View(self.view.clone(), self.worker.app.clone()),
                    slaves(&self.view),
                    Some(Event::View(self.view.clone())),
                )
            }
            Job::Ready(b) => b,
        }
    }
}

/// The gms1 actor: configuration only; all that changes lives in [`Gms1State`].
#[derive(Clone, Debug)]
pub struct Gms1(pub Setup);

impl Protocol for Gms1 {
    const DESCRIPTOR: Descriptor = Descriptor {
        name: "gms1",
        summary: "leader multicasts, joins through the leader; no failure handling",
        // With no failure handling to excuse a lost multicast, gms1 also claims `validity`.
        claims: &[
            AGREEMENT,
            NO_DUPLICATION,
            INTEGRITY,
            FIFO,
            VIEW_AGREEMENT,
            CONVERGENCE,
            VALIDITY,
        ],
        witnesses: &[&QUIESCENT, &BROADCAST_CUT, &JOIN_COMPLETED, &ALL_DELIVERED],
        link: Link::Fifo,
        benchmarked: false,
        restarts: false,
        infinite: Some(INFINITE_WITH_COPIES),
        liveness_where: None,
    };
    fn with_setup(setup: Setup) -> Self {
        Gms1(setup)
    }
}

impl Actor for Gms1 {
    type Msg = Gms1Msg;
    type State = Gms1State;
    type Timer = Gms1Timer;
    type Random = ();
    type Storage = Incarnation;

    fn on_start(&self, id: Id, _: &Option<Incarnation>, o: &mut Out<Self>) -> Gms1State {
        start(&self.0, id, o)
    }

    fn on_msg(
        &self,
        id: Id,
        state: &mut Cow<Gms1State>,
        _src: Id,
        msg: Gms1Msg,
        o: &mut Out<Self>,
    ) {
        on_msg(&self.0, id, state, msg, o)
    }

    fn on_timeout(&self, id: Id, state: &mut Cow<Gms1State>, timer: &Gms1Timer, o: &mut Out<Self>) {
        on_timeout(&self.0, id, state, timer, o)
    }
}

// The handlers below are shared with gms2, which adds only failure detection and election.

pub(crate) fn start<A>(setup: &Setup, id: Id, o: &mut Out<A>) -> Gms1State
where
    A: Actor<Msg = Gms1Msg, Timer: GroupTimer>,
{
    let state = Gms1State::start(setup, id);
    match (state.role, setup.contact) {
        (Role::Outside, Some(contact)) => o.send(contact, Gms1Msg::Join(id)),
        _ => start_worker(setup, o),
    }
    state
}

pub(crate) fn on_msg<A>(
    setup: &Setup,
    id: Id,
    state: &mut Cow<Gms1State>,
    msg: Gms1Msg,
    o: &mut Out<A>,
) where
    A: Actor<Msg = Gms1Msg, State = Gms1State, Timer: GroupTimer>,
{
    use Gms1Msg::*;
    match (state.role, msg) {
        (Role::Leader, Mcast(p)) => submit(setup, state.to_mut(), Job::Mcast(p), o),
        (Role::Leader, Join(p)) => submit(setup, state.to_mut(), Job::Join(p), o),
        (Role::Slave, msg @ (Mcast(_) | Join(_))) => {
            if let Some(leader) = state.leader() {
                o.send(leader, msg);
            }
        }
        (Role::Slave, Msg(p)) => state.to_mut().worker.app.deliver(Event::Deliver(p)),
        (Role::Slave, View(view, _)) => {
            let st = state.to_mut();
            st.worker.app.deliver(Event::View(view.clone()));
            st.view = view;
        }
        (Role::Outside, View(view, app)) if view.contains(&id) => {
            let st = state.to_mut();
            st.role = Role::Slave;
            st.worker.app = app;
            st.worker.app.deliver(Event::View(view.clone()));
            st.view = view;
            start_worker(setup, o);
        }
        // A leader ignores leader messages; an outsider ignores everything but its view.
        _ => {}
    }
}

pub(crate) fn on_timeout<A>(
    setup: &Setup,
    id: Id,
    state: &mut Cow<Gms1State>,
    timer: &A::Timer,
    o: &mut Out<A>,
) where
    A: Actor<Msg = Gms1Msg, State = Gms1State, Timer: GroupTimer>,
{
    match timer.kind() {
        TimerKind::Mcast => on_mcast_timer(setup, id, state.to_mut(), o),
        TimerKind::Send => send_step(setup, state.to_mut(), o),
        // gms1 arms no detector (gms2 handles its own) and serves requests at once.
        TimerKind::Suspect | TimerKind::Retransmit | TimerKind::Propose => {}
    }
}
