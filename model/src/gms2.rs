//! # gms2: slaves monitor the leader and elect the first peer
//!
//! gms1 plus failure handling, exactly as the assignment adds it:
//!
//! - **Monitoring.** A slave monitors its leader (in Erlang, `erlang:monitor`; here the
//!   [`Timer::Suspect`] timer, whose firing is the detector's `DOWN`).
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
use crate::group::{slaves, Broadcast, Job, Role, Setup, Timer, SUSPECT_DELAY};
use stateright::actor::{Actor, Id, Out};
use std::borrow::Cow;

/// The gms2 actor.
#[derive(Clone, Debug)]
pub struct Gms2(pub Setup);

impl Actor for Gms2 {
    type Msg = Gms1Msg;
    type State = Gms1State;
    type Timer = Timer;
    type Random = ();
    type Storage = ();

    fn on_start(&self, id: Id, _: &Option<()>, o: &mut Out<Self>) -> Gms1State {
        let state = gms1::start(&self.0, id, o);
        if state.role == Role::Slave {
            o.set_timer(Timer::Suspect, SUSPECT_DELAY);
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
            o.set_timer(Timer::Suspect, SUSPECT_DELAY);
        }
    }

    fn on_timeout(&self, id: Id, state: &mut Cow<Gms1State>, timer: &Timer, o: &mut Out<Self>) {
        match timer {
            Timer::Suspect if state.role == Role::Slave => election(&self.0, id, state.to_mut(), o),
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
            gms1::submit(setup, st, Job::Ready(bcast), o);
        }
        Some(_) => {
            st.view = view;
            o.set_timer(Timer::Suspect, SUSPECT_DELAY);
        }
        // Unreachable while this node is in its own view; nothing to elect otherwise.
        None => {}
    }
}
