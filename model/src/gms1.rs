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
    slaves, start_worker, Broadcast, Job, Member, Role, Sequencer, Setup, Step, Timer, Worker,
    MCAST_DELAY, SEND_DELAY,
};
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

/// A gms1 (and gms2) group process with its application.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Gms1State {
    pub role: Role,
    /// The peer list, leader first.
    pub view: Vec<Id>,
    pub worker: Worker,
    /// Leader only: the request queue and the broadcast in progress.
    pub seq: Sequencer<Gms1Msg>,
}

impl fmt::Debug for Gms1State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} of {}, {:?}",
            self.role,
            ViewList(&self.view),
            self.worker
        )?;
        if self.role == Role::Leader {
            write!(f, ", {:?}", self.seq)?;
        }
        Ok(())
    }
}

impl Member for Gms1State {
    fn role(&self) -> Role {
        self.role
    }
    fn worker(&self) -> &Worker {
        &self.worker
    }
    fn monitors(&self) -> Option<Id> {
        (self.role == Role::Slave)
            .then(|| self.view.first().copied())
            .flatten()
    }
    fn sequencer_active(&self) -> Option<(bool, bool, String)> {
        let b = self.seq.active.as_ref()?;
        Some((b.is_cut(), b.is_mid(), format!("{b:?}")))
    }
    fn view(&self) -> &[Id] {
        &self.view
    }
    fn queued(&self) -> usize {
        self.seq.queue.len()
    }
}

/// The gms1 actor: configuration only; all that changes lives in [`Gms1State`].
#[derive(Clone, Debug)]
pub struct Gms1(pub Setup);

impl Actor for Gms1 {
    type Msg = Gms1Msg;
    type State = Gms1State;
    type Timer = Timer;
    type Random = ();
    type Storage = ();

    fn on_start(&self, id: Id, _: &Option<()>, o: &mut Out<Self>) -> Gms1State {
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

    fn on_timeout(&self, id: Id, state: &mut Cow<Gms1State>, timer: &Timer, o: &mut Out<Self>) {
        on_timeout(&self.0, id, state, timer, o)
    }
}

// The handlers below are shared with gms2, which adds only failure detection and election.

pub(crate) fn start<A>(setup: &Setup, id: Id, o: &mut Out<A>) -> Gms1State
where
    A: Actor<Msg = Gms1Msg, Timer = Timer>,
{
    start_worker(setup, o);
    let role = setup.initial_role(id);
    if let (Role::Outside, Some(contact)) = (role, setup.contact) {
        o.send(contact, Gms1Msg::Join(id));
    }
    Gms1State {
        role,
        view: setup.view.clone().unwrap_or_default(),
        worker: Worker::default(),
        seq: Sequencer::default(),
    }
}

pub(crate) fn on_msg<A>(
    setup: &Setup,
    id: Id,
    state: &mut Cow<Gms1State>,
    msg: Gms1Msg,
    o: &mut Out<A>,
) where
    A: Actor<Msg = Gms1Msg, Timer = Timer>,
{
    use Gms1Msg::*;
    match (state.role, msg) {
        (Role::Leader, Mcast(p)) => submit(setup, state.to_mut(), Job::Mcast(p), o),
        (Role::Leader, Join(p)) => submit(setup, state.to_mut(), Job::Join(p), o),
        (Role::Slave, msg @ (Mcast(_) | Join(_))) => {
            if let Some(&leader) = state.view.first() {
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
        }
        // A leader ignores leader messages; an outsider ignores everything but its view.
        _ => {}
    }
}

pub(crate) fn on_timeout<A>(
    setup: &Setup,
    id: Id,
    state: &mut Cow<Gms1State>,
    timer: &Timer,
    o: &mut Out<A>,
) where
    A: Actor<Msg = Gms1Msg, Timer = Timer>,
{
    match timer {
        Timer::Mcast => {
            let st = state.to_mut();
            let (p, more) = st.worker.next_mcast(id, setup);
            if more {
                o.set_timer(Timer::Mcast, MCAST_DELAY);
            }
            match st.role {
                Role::Leader => submit(setup, st, Job::Mcast(p), o),
                Role::Slave => {
                    if let Some(&leader) = st.view.first() {
                        o.send(leader, Gms1Msg::Mcast(p));
                    }
                }
                // Not in a group yet: the multicast has nowhere to go.
                Role::Outside => {}
            }
        }
        Timer::Send => send_step(setup, state.to_mut(), o),
        Timer::Suspect => {}
    }
}

/// Queues a request at the leader and starts it if the leader is idle.
pub(crate) fn submit<A>(setup: &Setup, st: &mut Gms1State, job: Job<Gms1Msg>, o: &mut Out<A>)
where
    A: Actor<Msg = Gms1Msg, Timer = Timer>,
{
    st.seq.queue.push_back(job);
    start_next(setup, st);
    arm_send(st, o);
}

/// One step of the basic multicast: one send, or (after the last send) the local delivery.
pub(crate) fn send_step<A>(setup: &Setup, st: &mut Gms1State, o: &mut Out<A>)
where
    A: Actor<Msg = Gms1Msg, Timer = Timer>,
{
    match st.seq.step() {
        Step::Send(dst, msg) => o.send(dst, msg),
        Step::Finished(local) => {
            if let Some(event) = local {
                st.worker.app.deliver(event);
            }
            start_next(setup, st);
        }
        Step::Idle => {}
    }
    arm_send(st, o);
}

fn arm_send<A>(st: &Gms1State, o: &mut Out<A>)
where
    A: Actor<Msg = Gms1Msg, Timer = Timer>,
{
    if st.seq.active.is_some() {
        o.set_timer(Timer::Send, SEND_DELAY);
    }
}

/// Turns the next queued request into a broadcast to the current slaves.
fn start_next(setup: &Setup, st: &mut Gms1State) {
    if st.seq.active.is_some() {
        return;
    }
    let Some(job) = st.seq.next_job(setup) else {
        return;
    };
    let bcast = match job {
        Job::Mcast(p) => Broadcast::new(Gms1Msg::Msg(p), slaves(&st.view), Some(Event::Deliver(p))),
        Job::Join(p) => {
            st.view.push(p);
            Broadcast::new(
                Gms1Msg::View(st.view.clone(), st.worker.app.clone()),
                slaves(&st.view),
                Some(Event::View(st.view.clone())),
            )
        }
        Job::Ready(b) => b,
    };
    st.seq.active = Some(bcast);
}
