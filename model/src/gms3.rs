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
//! ([`Reading`]; `notes/verdicts.md` walks through each):
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
use crate::gms2::{Gms2Timer, SAFETY_CLAIMS};
use crate::group::{
    on_mcast_timer, send_step, slaves, start_worker, submit, Broadcast, Core, GroupMsg,
    Incarnation, Job, Mark, Member, Role, Sequencing, Setup, SUSPECT_DELAY,
};
use crate::protocol::{Descriptor, Link, Protocol, INFINITE_WITH_COPIES};
use crate::witness::{
    Witness, ALL_DELIVERED, BROADCAST_CUT, DUPLICATE_DISCARDED, ELECTION_HELD, FALSE_SUSPICION,
    JOIN_COMPLETED, QUIESCENT,
};
use serde::{Deserialize, Serialize};
use stateright::actor::{Actor, Id, Out};
use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

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

impl GroupMsg for Gms3Msg {
    fn mcast(p: Payload) -> Self {
        Gms3Msg::Mcast(p)
    }
}

/// A gms3 group process with its application.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Gms3State {
    pub core: Core<Gms3Msg>,
    /// Slave: the number expected next. Leader: the number the next message gets.
    pub next: u32,
    /// Slave: the last message or view received from the leader.
    pub last: Option<Gms3Msg>,
    /// Leader messages from a node this slave does not (yet) follow, or that reached it
    /// before it joined, in arrival order.
    pub held: Vec<(Id, Gms3Msg)>,
}

impl fmt::Debug for Gms3State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}, next {}", self.core, self.next)?;
        if self.core.marks.has(Mark::DuplicateDiscarded) {
            write!(f, ", has discarded a duplicate")?;
        }
        if !self.held.is_empty() {
            write!(f, ", held back {:?}", self.held)?;
        }
        Ok(())
    }
}

impl Member for Gms3State {
    type Msg = Gms3Msg;
    fn core(&self) -> &Core<Gms3Msg> {
        &self.core
    }
    fn core_mut(&mut self) -> &mut Core<Gms3Msg> {
        &mut self.core
    }
    fn monitors(&self) -> Option<Id> {
        (self.core.role == Role::Slave)
            .then(|| self.core.leader())
            .flatten()
    }
    fn held(&self) -> usize {
        self.held.len()
    }
    fn forget(&mut self) {
        self.core.forget();
        self.held.clear();
        self.last = None;
        self.next = 0;
    }
}

impl Sequencing for Gms3State {
    /// Numbers the request: `msg(next, m)`, or `view(next, peers)` after appending the joiner.
    fn sequence(&mut self, setup: &Setup, job: Job<Gms3Msg>) -> Broadcast<Gms3Msg> {
        let n = self.next;
        let core = &mut self.core;
        let bcast = match job {
            Job::Mcast(p) => Broadcast::new(
                Gms3Msg::Msg(n, p),
                slaves(&core.view),
                Some(Event::Deliver(p)),
            ),
            Job::Join(p) => {
                core.view.push(p);
                let mut to = slaves(&core.view);
                if mutant!(setup, ViewNotSentToJoiner) {
                    to.retain(|&peer| peer != p);
                }
                Broadcast::new(
                    Gms3Msg::View(n, core.view.clone(), core.worker.app.clone()),
                    to,
                    Some(Event::View(core.view.clone())),
                )
            }
            Job::Ready(b) => return b,
        };
        self.next += 1;
        bcast
    }
}

/// How a slave receives leader messages (`msg`, `view`): which ones it takes now, the others
/// being held back in arrival order (Erlang's mailbox under a selective receive).
pub trait Reading: Clone + fmt::Debug + Send + Sync + 'static {
    const NAME: &'static str;
    const SUMMARY: &'static str;
    /// Whether a slave takes this leader message now.
    fn takes(st: &Gms3State, src: Id, msg: &Gms3Msg) -> bool;
    /// Whether a slave takes leader messages only from the leader it follows.
    const FROM_LEADER_ONLY: bool = false;
    /// Whether `groupy bench` measures it: only the reading that is proved.
    const BENCHMARKED: bool = false;
}

/// Take leader messages only from the leader followed; hold back the others. The fix the
/// checker proves.
#[derive(Clone, Debug)]
pub struct Filter;

impl Reading for Filter {
    const NAME: &'static str = "gms3";
    const BENCHMARKED: bool = true;
    const SUMMARY: &'static str =
        "sequence numbers, re-send of the last message; a slave takes leader messages only \
         from the leader it follows";
    const FROM_LEADER_ONLY: bool = true;
    fn takes(st: &Gms3State, src: Id, _: &Gms3Msg) -> bool {
        st.core.leader() == Some(src)
    }
}

/// Erlang's selective receive on the skeleton's patterns `{msg, N, Msg}` and
/// `{view, N, [Leader|_], _}` with `N` and `Leader` bound: take only the message numbered
/// exactly `next` (a view only from the leader followed); old numbers match the skeleton's
/// discard patterns.
#[derive(Clone, Debug)]
pub struct Selective;

impl Reading for Selective {
    const NAME: &'static str = "gms3-selective";
    const SUMMARY: &'static str =
        "gms3 with the Erlang skeleton's selective receive: only message `next` is taken";
    fn takes(st: &Gms3State, _: Id, msg: &Gms3Msg) -> bool {
        match msg {
            Gms3Msg::Msg(n, _) => *n <= st.next,
            Gms3Msg::View(n, v, _) => {
                *n < st.next || (*n == st.next && v.first().copied() == st.core.leader())
            }
            Gms3Msg::Mcast(_) | Gms3Msg::Join(_) => true,
        }
    }
}

/// Deliver anything numbered `next` or above, from anyone: the reading of many
/// implementations. Broken (`notes/verdicts.md`).
#[derive(Clone, Debug)]
pub struct Greedy;

impl Reading for Greedy {
    const NAME: &'static str = "gms3-greedy";
    const SUMMARY: &'static str = "gms3 delivering anything numbered `next` or above, from anyone";
    fn takes(_: &Gms3State, _: Id, _: &Gms3Msg) -> bool {
        true
    }
}

/// The gms3 actor under one [`Reading`].
#[derive(Clone, Debug)]
pub struct Gms3Actor<R: Reading>(pub Setup, PhantomData<R>);

/// gms3 with the sender filter: the version the checker proves.
pub type Gms3 = Gms3Actor<Filter>;
/// gms3 as the assignment's Erlang skeleton runs: selective receive on `N` and `Leader`.
/// Stalls a slave for good when the re-sent `last` is a view of the old leader.
pub type Gms3Selective = Gms3Actor<Selective>;
/// gms3 as design notes and many implementations read it. Broken.
pub type Gms3Greedy = Gms3Actor<Greedy>;

/// What every reading of gms3 can reach: gms2's witnesses and a duplicate discarded.
const WITNESSES: &[&Witness] = &[
    &QUIESCENT,
    &BROADCAST_CUT,
    &ELECTION_HELD,
    &DUPLICATE_DISCARDED,
    &JOIN_COMPLETED,
    &ALL_DELIVERED,
    &FALSE_SUSPICION,
];

impl<R: Reading> Protocol for Gms3Actor<R> {
    const DESCRIPTOR: Descriptor = Descriptor {
        name: R::NAME,
        summary: R::SUMMARY,
        claims: SAFETY_CLAIMS,
        witnesses: WITNESSES,
        link: Link::Fifo,
        benchmarked: R::BENCHMARKED,
        restarts: false,
        infinite: Some(INFINITE_WITH_COPIES),
        liveness_where: None,
    };
    fn with_setup(setup: Setup) -> Self {
        Gms3Actor(setup, PhantomData)
    }

    /// A slave holds back the leader messages its reading does not take; a node outside the
    /// group, every leader message but a view that names it.
    fn holds_back(&self, id: Id, st: &Gms3State, src: Id, msg: &Gms3Msg) -> bool {
        match (st.core.role, msg) {
            (Role::Slave, Gms3Msg::Msg(..) | Gms3Msg::View(..)) => !R::takes(st, src, msg),
            (Role::Outside, Gms3Msg::View(_, view, _)) => !view.contains(&id),
            (Role::Outside, Gms3Msg::Msg(..)) => true,
            _ => false,
        }
    }

    /// A slave that takes leader messages only from its leader, taking a message from it
    /// that keeps it as leader: its other steps before it (multicasting, forwarding a request
    /// to its leader) read only whom it follows, and an election needs the leader's messages
    /// to have arrived.
    ///
    /// It rests on views listing their leader first: a slave then changes whom it follows
    /// only by a view of its leader or by an election after its leader crashed, so a node
    /// that forwards requests to it exists only after its leader crashed. `ViewWithoutLeader`
    /// breaks that (a slave can follow another slave while the leader lives), so that mutant
    /// claims nothing.
    fn takes_independently(&self, _: Id, st: &Gms3State, src: Id, msg: &Gms3Msg) -> bool {
        R::FROM_LEADER_ONLY
            && !mutant!(self.0, ViewWithoutLeader)
            && st.core.role == Role::Slave
            && st.core.leader() == Some(src)
            && match msg {
                Gms3Msg::Msg(..) => true,
                Gms3Msg::View(_, view, _) => view.first() == Some(&src),
                Gms3Msg::Mcast(_) | Gms3Msg::Join(_) => false,
            }
    }
}

impl<R: Reading> Actor for Gms3Actor<R> {
    type Msg = Gms3Msg;
    type State = Gms3State;
    type Timer = Gms2Timer;
    type Random = ();
    type Storage = Incarnation;

    fn on_start(&self, id: Id, _: &Option<Incarnation>, o: &mut Out<Self>) -> Gms3State {
        let core = Core::start(&self.0, id);
        // The initial view is number 0: it is every initial slave's `last`.
        let last =
            (core.role == Role::Slave).then(|| Gms3Msg::View(0, core.view.clone(), App::default()));
        match (core.role, self.0.contact) {
            (Role::Outside, Some(contact)) => o.send(contact, Gms3Msg::Join(id)),
            (Role::Outside, None) => {}
            (Role::Slave, _) => {
                start_worker(&self.0, o);
                o.set_timer(Gms2Timer::Suspect, SUSPECT_DELAY);
            }
            (Role::Leader, _) => start_worker(&self.0, o),
        }
        Gms3State {
            next: if core.role == Role::Outside { 0 } else { 1 },
            core,
            last,
            held: Vec::new(),
        }
    }

    fn on_msg(&self, id: Id, state: &mut Cow<Gms3State>, src: Id, msg: Gms3Msg, o: &mut Out<Self>) {
        use Gms3Msg::*;
        match (state.core.role, msg) {
            (Role::Leader, Mcast(p)) => submit(&self.0, state.to_mut(), Job::Mcast(p), o),
            (Role::Leader, Join(p)) => submit(&self.0, state.to_mut(), Job::Join(p), o),
            (Role::Slave, msg @ (Mcast(_) | Join(_))) => {
                if let Some(leader) = state.core.leader() {
                    o.send(leader, msg);
                }
            }
            (Role::Slave, msg @ (Msg(..) | View(..))) => {
                if R::takes(state, src, &msg) {
                    let st = state.to_mut();
                    self.handle_leader_msg(st, msg);
                    // Like Erlang's receive, which looks at the whole mailbox each time: what
                    // the node took may make a held message takeable (`next` moved, or, in a
                    // mutant, a re-delivered view changed whom it follows), as it does in the
                    // live runtime's mailbox and in the reduced model's network.
                    self.release_held(st);
                } else {
                    hold(state, src, msg);
                }
            }
            (Role::Outside, View(n, view, app)) if view.contains(&id) => {
                let st = state.to_mut();
                st.core.role = Role::Slave;
                st.core.worker.app = app.clone();
                st.core.worker.app.deliver(Event::View(view.clone()));
                st.next = n + 1;
                st.last = Some(View(n, view.clone(), app));
                st.core.view = view;
                o.set_timer(Gms2Timer::Suspect, SUSPECT_DELAY);
                start_worker(&self.0, o);
                self.release_held(st);
            }
            // Like the Erlang joiner's selective receive of its view: anything else stays
            // in the mailbox until the node is in the group.
            (Role::Outside, msg @ (Msg(..) | View(..))) => hold(state, src, msg),
            _ => {}
        }
    }

    fn on_timeout(&self, id: Id, state: &mut Cow<Gms3State>, timer: &Gms2Timer, o: &mut Out<Self>) {
        match timer {
            Gms2Timer::Mcast => on_mcast_timer(&self.0, id, state.to_mut(), o),
            Gms2Timer::Send => send_step(&self.0, state.to_mut(), o),
            Gms2Timer::Suspect if state.core.role == Role::Slave => {
                self.election(id, state.to_mut(), o)
            }
            Gms2Timer::Suspect => {}
        }
    }
}

/// Holds a message back, once: a second copy (duplicating network) adds nothing.
fn hold(state: &mut Cow<Gms3State>, src: Id, msg: Gms3Msg) {
    if !state.held.iter().any(|(s, m)| *s == src && *m == msg) {
        state.to_mut().held.push((src, msg));
    }
}

impl<R: Reading> Gms3Actor<R> {
    /// A slave handles a `msg` or `view` from its leader: discard it if numbered below
    /// `next`, else deliver it and remember it as `last`.
    fn handle_leader_msg(&self, st: &mut Gms3State, msg: Gms3Msg) {
        use Gms3Msg::*;
        let discard = !mutant!(self.0, NoDuplicateDiscard);
        match msg {
            Msg(n, _) | View(n, _, _) if n < st.next && discard => {
                st.core.marks.set(Mark::DuplicateDiscarded);
            }
            Msg(n, p) => {
                st.core.worker.app.deliver(Event::Deliver(p));
                st.next = n + 1;
                st.last = Some(msg);
            }
            View(n, view, app) => {
                st.core.worker.app.deliver(Event::View(view.clone()));
                st.next = n + 1;
                st.last = Some(View(n, view.clone(), app));
                st.core.view = view;
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
            .position(|(src, msg)| R::takes(st, *src, msg))
        {
            let (_, msg) = st.held.remove(i);
            self.handle_leader_msg(st, msg);
        }
    }

    /// The leader is suspected: the first peer after it takes over, re-sends `last`, then
    /// multicasts the new view numbered `next`.
    fn election(&self, id: Id, st: &mut Gms3State, o: &mut Out<Self>) {
        let view = slaves(&st.core.view);
        match view.first() {
            Some(&first) if first == id => {
                let rest = slaves(&view);
                st.core.role = Role::Leader;
                st.core.view = view.clone();
                if let Some(last) = st.last.take() {
                    if !mutant!(self.0, NoResend) {
                        let resend = Broadcast::new(last, rest.clone(), None);
                        st.core.seq.queue.push_back(Job::Ready(resend));
                    }
                }
                let announced = if mutant!(self.0, ViewWithoutLeader) {
                    rest.clone()
                } else {
                    view.clone()
                };
                let msg = Gms3Msg::View(st.next, announced, st.core.worker.app.clone());
                let bcast = Broadcast::new(msg, rest, Some(Event::View(view)));
                st.next += 1;
                submit(&self.0, st, Job::Ready(bcast), o);
            }
            Some(_) => {
                st.core.view = view;
                o.set_timer(Gms2Timer::Suspect, SUSPECT_DELAY);
                self.release_held(st);
            }
            None => {}
        }
    }
}
