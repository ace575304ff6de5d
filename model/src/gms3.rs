//! # gms3: sequence numbers and a re-send by the new leader
//!
//! gms2 plus the assignment's repair of the crashed-broadcast problem:
//!
//! - Every leader message carries a sequence number: `msg(n, m)`, `view(n, peers)`.
//! - A slave keeps `next`, the number it expects, and `last`, the last message or view it
//!   received from the leader. It discards anything numbered below `next`; otherwise it
//!   delivers, sets `next` to `n+1` and `last` to the message (gaps are *not* detected: with
//!   reliable FIFO links there are none).
//! - A newly elected leader first re-multicasts `last` to the rest, then multicasts the new
//!   view numbered `next`, and continues from `next+1`.
//!
//! ## Why it is meant to be correct
//! Under the assignment's assumptions (reliable per-pair FIFO links, a perfect failure
//! detector whose `DOWN` is the last message on the channel), if any slave got message `n`,
//! then the first slave got it too, because the leader sends in peer-list order. The first
//! slave is the next leader, and its `last` is at least as new as anyone's; re-sending it
//! repairs every survivor that missed it, and the duplicates it causes are discarded.
//!
//! ## What the checker found, and the fix
//! The argument above assumes a slave hears everything the old leader sent before anything
//! the new leader sends. Erlang (and [`NetworkKind::Ordered`](crate::NetworkKind)) only
//! orders messages *per pair*: the new leader's re-send can overtake the old leader's last
//! messages on their way to a third node. How a slave receives decides what happens
//! ([`receive`]; `notes/verdicts.md` walks through each):
//!
//! - [`Gms3Greedy`] delivers anything numbered `next` or above, from anyone: it accepts the
//!   re-send with a gap and later drops the message it missed as a "duplicate" (`agreement`).
//! - [`Gms3Selective`] is the skeleton's selective receive on `{msg, N, _}` and
//!   `{view, N, [Leader|_], _}`: only message `next`, views only from the followed leader.
//!   A hold-back queue, but after a join the re-sent `last` is the old leader's view, which
//!   never matches, and a slave waits for ever (`convergence`).
//! - [`Gms3`], the fix: a slave takes `msg`/`view` only from the leader it currently follows;
//!   one from any other node is held back and handled, in arrival order, once the slave's
//!   own election makes that node its leader. The perfect detector reports the old leader
//!   only after its last message arrived, so everything it sent is handled before anything
//!   the new one sends.
//!
//! ## What it does not promise
//! Lost, reordered or duplicated datagrams, or a wrongly suspected leader, break that
//! argument; the checker shows how (`notes/verdicts.md`). A multicast forwarded to a leader
//! that then crashes is lost (no `validity`).

use crate::app::{App, Event, Payload, ViewList};
use crate::config::Mutant;
use crate::group::{
    slaves, start_worker, Broadcast, Job, Member, Role, Sequencer, Setup, Step, Timer, Worker,
    MCAST_DELAY, SEND_DELAY, SUSPECT_DELAY,
};
use serde::{Deserialize, Serialize};
use stateright::actor::{Actor, Id, Out};
use std::borrow::Cow;
use std::fmt;

/// gms3's messages: gms1's, with the leader's numbered.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Gms3Msg {
    Mcast(Payload),
    Join(Id),
    Msg(u32, Payload),
    View(u32, Vec<Id>, App),
}

impl fmt::Debug for Gms3Msg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Gms3Msg::Mcast(p) => write!(f, "mcast({p:?})"),
            Gms3Msg::Join(id) => write!(f, "join(n{})", usize::from(*id)),
            Gms3Msg::Msg(n, p) => write!(f, "msg({n}, {p:?})"),
            Gms3Msg::View(n, v, _) => write!(f, "view({n}, {})", ViewList(v)),
        }
    }
}

/// A gms3 group process with its application.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Gms3State {
    pub role: Role,
    pub view: Vec<Id>,
    pub worker: Worker,
    /// Slave: the number expected next. Leader: the number the next message gets.
    pub next: u32,
    /// Slave: the last message or view received from the leader.
    pub last: Option<Gms3Msg>,
    /// Whether this node ever discarded a message as a duplicate. A flag, not a counter: on
    /// the duplicating network a counter would make the state space infinite.
    pub discarded: bool,
    /// Leader messages from a node this slave does not (yet) follow, or that reached it
    /// before it joined, in arrival order.
    pub held: Vec<(Id, Gms3Msg)>,
    pub seq: Sequencer<Gms3Msg>,
}

impl fmt::Debug for Gms3State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} of {}, next {}, {:?}",
            self.role,
            ViewList(&self.view),
            self.next,
            self.worker
        )?;
        if self.discarded {
            write!(f, ", has discarded a duplicate")?;
        }
        if !self.held.is_empty() {
            write!(f, ", held back {:?}", self.held)?;
        }
        if self.role == Role::Leader {
            write!(f, ", {:?}", self.seq)?;
        }
        Ok(())
    }
}

impl Member for Gms3State {
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
    fn discarded_duplicate(&self) -> bool {
        self.discarded
    }
    fn view(&self) -> &[Id] {
        &self.view
    }
    fn queued(&self) -> usize {
        self.seq.queue.len()
    }
    fn held(&self) -> usize {
        self.held.len()
    }
}

/// How a slave receives leader messages (`msg`, `view`).
pub mod receive {
    /// Deliver anything numbered `next` or above, from anyone.
    pub const GREEDY: u8 = 0;
    /// Take leader messages only from the leader followed; hold back the others.
    pub const FILTER: u8 = 1;
    /// Erlang's selective receive on the skeleton's patterns `{msg, N, Msg}` and
    /// `{view, N, [Leader|_], _}` with `N` and `Leader` bound: take only the message numbered
    /// exactly `next` (a view only from the leader followed); hold back the others.
    pub const SELECTIVE: u8 = 2;
}

/// The gms3 actor; `RECEIVE` is one of [`receive`].
#[derive(Clone, Debug)]
pub struct Gms3Actor<const RECEIVE: u8>(pub Setup);

/// gms3 with the sender filter: the version the checker proves.
pub type Gms3 = Gms3Actor<{ receive::FILTER }>;
/// gms3 as the assignment's Erlang skeleton runs: selective receive on `N` and `Leader`.
/// Stalls a slave for good when the re-sent `last` is a view of the old leader.
pub type Gms3Selective = Gms3Actor<{ receive::SELECTIVE }>;
/// gms3 as design.md and many implementations read it: anything numbered `next` or above
/// is delivered, whoever sent it. Broken (`notes/verdicts.md`).
pub type Gms3Greedy = Gms3Actor<{ receive::GREEDY }>;

impl<const RECEIVE: u8> Actor for Gms3Actor<RECEIVE> {
    type Msg = Gms3Msg;
    type State = Gms3State;
    type Timer = Timer;
    type Random = ();
    type Storage = ();

    fn on_start(&self, id: Id, _: &Option<()>, o: &mut Out<Self>) -> Gms3State {
        start_worker(&self.0, o);
        let role = self.0.initial_role(id);
        let view = self.0.view.clone().unwrap_or_default();
        // The initial view is number 0: it is every initial slave's `last`.
        let last = (role == Role::Slave).then(|| Gms3Msg::View(0, view.clone(), App::default()));
        match role {
            Role::Slave => o.set_timer(Timer::Suspect, SUSPECT_DELAY),
            Role::Outside => {
                if let Some(contact) = self.0.contact {
                    o.send(contact, Gms3Msg::Join(id));
                }
            }
            Role::Leader => {}
        }
        Gms3State {
            role,
            view,
            worker: Worker::default(),
            next: if role == Role::Outside { 0 } else { 1 },
            last,
            discarded: false,
            held: Vec::new(),
            seq: Sequencer::default(),
        }
    }

    fn on_msg(&self, id: Id, state: &mut Cow<Gms3State>, src: Id, msg: Gms3Msg, o: &mut Out<Self>) {
        use Gms3Msg::*;
        match (state.role, msg) {
            (Role::Leader, Mcast(p)) => self.submit(state.to_mut(), Job::Mcast(p), o),
            (Role::Leader, Join(p)) => self.submit(state.to_mut(), Job::Join(p), o),
            (Role::Slave, msg @ (Mcast(_) | Join(_))) => {
                if let Some(&leader) = state.view.first() {
                    o.send(leader, msg);
                }
            }
            (Role::Slave, msg @ (Msg(..) | View(..))) => {
                if self.takes(state, src, &msg) {
                    let st = state.to_mut();
                    self.handle_leader_msg(st, msg);
                    if RECEIVE == receive::SELECTIVE {
                        self.release_held(st);
                    }
                } else {
                    hold(state, src, msg);
                }
            }
            (Role::Outside, View(n, view, app)) if view.contains(&id) => {
                let st = state.to_mut();
                st.role = Role::Slave;
                st.worker.app = app.clone();
                st.worker.app.deliver(Event::View(view.clone()));
                st.next = n + 1;
                st.last = Some(View(n, view.clone(), app));
                st.view = view;
                o.set_timer(Timer::Suspect, SUSPECT_DELAY);
                self.release_held(st);
            }
            // Like the Erlang joiner's selective receive of its view: anything else stays
            // in the mailbox until the node is in the group.
            (Role::Outside, msg @ (Msg(..) | View(..))) => hold(state, src, msg),
            _ => {}
        }
    }

    fn on_timeout(&self, id: Id, state: &mut Cow<Gms3State>, timer: &Timer, o: &mut Out<Self>) {
        match timer {
            Timer::Mcast => {
                let st = state.to_mut();
                let (p, more) = st.worker.next_mcast(id, &self.0);
                if more {
                    o.set_timer(Timer::Mcast, MCAST_DELAY);
                }
                match st.role {
                    Role::Leader => self.submit(st, Job::Mcast(p), o),
                    Role::Slave => {
                        if let Some(&leader) = st.view.first() {
                            o.send(leader, Gms3Msg::Mcast(p));
                        }
                    }
                    Role::Outside => {}
                }
            }
            Timer::Send => self.send_step(state.to_mut(), o),
            Timer::Suspect if state.role == Role::Slave => self.election(id, state.to_mut(), o),
            Timer::Suspect => {}
        }
    }
}

/// Holds a message back, once: a second copy (duplicating network) adds nothing.
fn hold(state: &mut Cow<Gms3State>, src: Id, msg: Gms3Msg) {
    if !state.held.iter().any(|(s, m)| *s == src && *m == msg) {
        state.to_mut().held.push((src, msg));
    }
}

impl<const RECEIVE: u8> Gms3Actor<RECEIVE> {
    /// Whether a slave takes this leader message now (else it stays held back).
    fn takes(&self, st: &Gms3State, src: Id, msg: &Gms3Msg) -> bool {
        let leader = st.view.first().copied();
        match (RECEIVE, msg) {
            (receive::FILTER, _) => leader == Some(src),
            // Old numbers match the skeleton's discard patterns; `next` matches delivery.
            (receive::SELECTIVE, Gms3Msg::Msg(n, _)) => *n <= st.next,
            (receive::SELECTIVE, Gms3Msg::View(n, v, _)) => {
                *n < st.next || (*n == st.next && v.first().copied() == leader)
            }
            _ => true,
        }
    }

    /// A slave handles a `msg` or `view` from its leader: discard it if numbered below
    /// `next`, else deliver it and remember it as `last`.
    fn handle_leader_msg(&self, st: &mut Gms3State, msg: Gms3Msg) {
        use Gms3Msg::*;
        let discard = !self.0.is(Mutant::NoDuplicateDiscard);
        match msg {
            Msg(n, _) | View(n, _, _) if n < st.next && discard => {
                st.discarded = true;
            }
            Msg(n, p) => {
                st.worker.app.deliver(Event::Deliver(p));
                st.next = n + 1;
                st.last = Some(msg);
            }
            View(n, view, app) => {
                st.worker.app.deliver(Event::View(view.clone()));
                st.next = n + 1;
                st.last = Some(View(n, view.clone(), app));
                st.view = view;
            }
            Mcast(_) | Join(_) => {}
        }
    }

    /// Handles, in arrival order, the held-back messages this node may now take.
    fn release_held(&self, st: &mut Gms3State) {
        // Like Erlang's mailbox: take the oldest message that matches, then look again.
        while let Some(i) = st
            .held
            .iter()
            .position(|(src, msg)| self.takes(st, *src, msg))
        {
            let (_, msg) = st.held.remove(i);
            self.handle_leader_msg(st, msg);
        }
    }

    /// The leader is suspected: the first peer after it takes over, re-sends `last`, then
    /// multicasts the new view numbered `next`.
    fn election(&self, id: Id, st: &mut Gms3State, o: &mut Out<Self>) {
        let view = slaves(&st.view);
        match view.first() {
            Some(&first) if first == id => {
                let rest = slaves(&view);
                st.role = Role::Leader;
                st.view = view.clone();
                if let Some(last) = st.last.take() {
                    if !self.0.is(Mutant::NoResend) {
                        let resend = Broadcast::new(last, rest.clone(), None);
                        st.seq.queue.push_back(Job::Ready(resend));
                    }
                }
                let announced = if self.0.is(Mutant::ViewWithoutLeader) {
                    rest.clone()
                } else {
                    view.clone()
                };
                let msg = Gms3Msg::View(st.next, announced, st.worker.app.clone());
                let bcast = Broadcast::new(msg, rest, Some(Event::View(view)));
                st.next += 1;
                self.submit(st, Job::Ready(bcast), o);
            }
            Some(_) => {
                st.view = view;
                o.set_timer(Timer::Suspect, SUSPECT_DELAY);
                self.release_held(st);
            }
            None => {}
        }
    }

    fn submit(&self, st: &mut Gms3State, job: Job<Gms3Msg>, o: &mut Out<Self>) {
        st.seq.queue.push_back(job);
        self.start_next(st);
        if st.seq.active.is_some() {
            o.set_timer(Timer::Send, SEND_DELAY);
        }
    }

    fn send_step(&self, st: &mut Gms3State, o: &mut Out<Self>) {
        match st.seq.step() {
            Step::Send(dst, msg) => o.send(dst, msg),
            Step::Finished(local) => {
                if let Some(event) = local {
                    st.worker.app.deliver(event);
                }
                self.start_next(st);
            }
            Step::Idle => {}
        }
        if st.seq.active.is_some() {
            o.set_timer(Timer::Send, SEND_DELAY);
        }
    }

    /// Numbers the next queued request and starts its broadcast to the current slaves.
    fn start_next(&self, st: &mut Gms3State) {
        if st.seq.active.is_some() {
            return;
        }
        let Some(job) = st.seq.next_job(&self.0) else {
            return;
        };
        let bcast = match job {
            Job::Mcast(p) => {
                let msg = Gms3Msg::Msg(st.next, p);
                st.next += 1;
                Broadcast::new(msg, slaves(&st.view), Some(Event::Deliver(p)))
            }
            Job::Join(p) => {
                st.view.push(p);
                let msg = Gms3Msg::View(st.next, st.view.clone(), st.worker.app.clone());
                st.next += 1;
                Broadcast::new(msg, slaves(&st.view), Some(Event::View(st.view.clone())))
            }
            Job::Ready(b) => b,
        };
        st.seq.active = Some(bcast);
    }
}
