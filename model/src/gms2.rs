//! # gms2: slaves monitor the leader and elect the first peer
//!
//! gms1 plus failure handling, exactly as the assignment adds it:
//!
//! - **Monitoring.** A slave monitors its leader (in Erlang, `erlang:monitor`; here the
//!   [`Gms2Timer::Suspect`] timer, whose firing is the detector's `DOWN`).
//! - **Election.** On suspecting the leader, a slave drops it from the peer list and takes
//!   the first remaining peer. If that is itself, it becomes leader over the rest: it
//!   multicasts the new view and installs it. Otherwise it monitors the new leader.
//!
//! Messages, state and all other handlers are gms1's.
//!
//! ## What goes wrong
//! A leader that crashes in the middle of a basic multicast has sent the message to some
//! slaves and not to others. Nobody re-sends it, so the survivors' delivery sequences
//! diverge: `agreement` is violated (see `notes/verdicts.md` for the walkthrough).

use crate::app::Event;
use crate::gms1::{self, Gms1Msg, Gms1State};
use crate::group::{
    slaves, submit, Broadcast, GroupTimer, Incarnation, Job, Role, Setup, TimerKind, SUSPECT_DELAY,
};
use crate::properties::*;
use crate::protocol::{Descriptor, Link, Protocol, INFINITE_WITH_COPIES};
use crate::witness::{
    ALL_DELIVERED, BROADCAST_CUT, ELECTION_HELD, FALSE_SUSPICION, JOIN_COMPLETED, QUIESCENT,
};
use serde::{Deserialize, Serialize};
use stateright::actor::{Actor, Id, Out};
use std::borrow::Cow;

/// gms1's timers plus the failure detector's (gms3 uses the same).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Gms2Timer {
    Mcast,
    Send,
    /// The detector's verdict on the leader: firing means "suspect it".
    Suspect,
}

impl GroupTimer for Gms2Timer {
    const MCAST: Self = Gms2Timer::Mcast;
    const SEND: Self = Gms2Timer::Send;
    fn kind(&self) -> TimerKind {
        match self {
            Gms2Timer::Mcast => TimerKind::Mcast,
            Gms2Timer::Send => TimerKind::Send,
            Gms2Timer::Suspect => TimerKind::Suspect,
        }
    }
}

/// The gms2 actor.
#[derive(Clone, Debug)]
pub struct Gms2(pub Setup);

/// The safety properties and convergence; a multicast forwarded to a leader that then crashes
/// is lost by design of the assignment, so not `validity`. Shared by every gms3 variant.
pub const SAFETY_CLAIMS: &[&str] = &[
    AGREEMENT,
    NO_DUPLICATION,
    INTEGRITY,
    FIFO,
    VIEW_AGREEMENT,
    CONVERGENCE,
];

impl Protocol for Gms2 {
    const DESCRIPTOR: Descriptor = Descriptor {
        name: "gms2",
        summary: "slaves monitor the leader and elect the first peer",
        claims: SAFETY_CLAIMS,
        witnesses: &[
            &QUIESCENT,
            &BROADCAST_CUT,
            &ELECTION_HELD,
            &JOIN_COMPLETED,
            &ALL_DELIVERED,
            &FALSE_SUSPICION,
        ],
        link: Link::Fifo,
        benchmarked: false,
        restarts: false,
        infinite: Some(INFINITE_WITH_COPIES),
        liveness_where: None,
    };
    fn with_setup(setup: Setup) -> Self {
        Gms2(setup)
    }
}

impl Actor for Gms2 {
    type Msg = Gms1Msg;
    type State = Gms1State;
    type Timer = Gms2Timer;
    type Random = ();
    type Storage = Incarnation;

    fn on_start(&self, id: Id, _: &Option<Incarnation>, o: &mut Out<Self>) -> Gms1State {
        let state = gms1::start(&self.0, id, o);
        if state.role == Role::Slave {
            o.set_timer(Gms2Timer::Suspect, SUSPECT_DELAY);
        }
        state
    }

    fn on_msg(
        &self,
        id: Id,
        state: &mut Cow<Gms1State>,
        _src: Id,
        msg: Gms1Msg,
        o: &mut Out<Self>,
    ) {
        let was = state.role;
        gms1::on_msg(&self.0, id, state, msg, o);
        // A node that just joined starts monitoring its leader.
        if was == Role::Outside && state.role == Role::Slave {
            o.set_timer(Gms2Timer::Suspect, SUSPECT_DELAY);
        }
    }

    fn on_timeout(&self, id: Id, state: &mut Cow<Gms1State>, timer: &Gms2Timer, o: &mut Out<Self>) {
        match timer {
            Gms2Timer::Suspect if state.role == Role::Slave => {
                election(&self.0, id, state.to_mut(), o)
            }
            _ => gms1::on_timeout(&self.0, id, state, timer, o),
        }
    }
}

/// The leader is suspected: the first peer after it takes over.
fn election(setup: &Setup, id: Id, st: &mut Gms1State, o: &mut Out<Gms2>) {
    let view = slaves(&st.view);
    match view.first() {
        Some(&first) if first == id => {
            st.role = Role::Leader;
            st.view = view.clone();
            let bcast = Broadcast::new(
                Gms1Msg::View(view.clone(), st.worker.app.clone()),
                slaves(&view),
                Some(Event::View(view)),
            );
            submit(setup, st, Job::Ready(bcast), o);
        }
        Some(_) => {
            st.view = view;
            o.set_timer(Gms2Timer::Suspect, SUSPECT_DELAY);
        }
        // Unreachable while this node is in its own view; nothing to elect otherwise.
        None => {}
    }
}
