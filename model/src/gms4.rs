//! # gms4: safe total-order multicast over a network that loses, reorders and duplicates
//!
//! gms3 is correct only on reliable per-pair FIFO links with a perfect failure detector, and
//! even there a crashed leader can take to its grave a message that it (or a slave) already
//! delivered. gms4 keeps the assignment's shape — a leader sequences, slaves forward, the
//! first peer of the view takes over — and adds what UDP needs (`notes/gms4.md`):
//!
//! - **A log with positions.** The leader's messages are `propose(epoch, index, entries,
//!   commit)`: the entries belong at positions `index..` of the group's log (multicasts and
//!   views alike), and the first `commit` positions are *stable*. A node takes entries only at
//!   their position (hold-back: nothing is delivered out of sequence) and delivers only stable
//!   ones.
//! - **Safe delivery.** The leader proposes what it was asked to sequence (everything queued
//!   since its last proposal, in one message) and marks it stable once every slave of its
//!   view acknowledged holding it (`ack(epoch, len, delivered)`); only then does
//!   anyone deliver it. A delivered message is therefore held by every member that was in the
//!   view, in particular by whoever leads next.
//! - **Retransmission.** The leader repeats to a slave whose acks lag what it has proposed or
//!   made stable; a node repeats its own multicast to its leader until it holds it (the
//!   leader drops the copies it already has: a multicast is identified by sender and number).
//!   A joiner repeats its join.
//! - **Epochs.** A new leader numbers its reign one above the one it followed, and a reign is
//!   named by its epoch and its leader. A slave takes proposals only from the leader it
//!   follows; the first one of a new reign replaces whatever it held but had not delivered.
//!   Anything a deposed leader still has in flight is recognised and ignored.
//! - **View change.** The new leader proposes its whole log, including the entries it holds
//!   but never saw become stable, followed by the new view: every survivor ends up holding
//!   what anyone may have delivered before a slave's log takes anything new.
//! - **Crashed slaves.** The leader monitors every slave and proposes a view without a slave
//!   it suspects, so nobody waits for an acknowledgement from the dead.
//! - **Joins that get through.** A joiner asks one member at a time (its contact, then the
//!   initial group in turn, moving on when it suspects the one it asks); a slave answers with
//!   its leader, whom the joiner then asks. The joiner is in once a view naming it is
//!   *stable*: an unstable one may die with its leader. Until then it acknowledges what it is
//!   sent and keeps asking. The leader refuses a node a view named once (a copy of an old
//!   join, from a member that crashed). [`Gms4NaiveJoin`] keeps the joins gms4 first landed
//!   with, which the livelock check found strand a joiner (`notes/gms4.md`).
//!
//! ## What it does not promise
//! A wrongly suspected node (`--fd unreliable`) can lead a second group: there is no
//! primary-partition rule (a view needing a majority of the previous one).

use crate::app::{Event, Payload};
use crate::group::{
    slaves, start_worker, Broadcast, Core, GroupTimer, Incarnation, Mark, Member, Role, Setup,
    Step, TimerKind, MCAST_DELAY, SEND_DELAY, SUSPECT_DELAY,
};
use crate::properties::*;
use crate::protocol::{Descriptor, Infinite, Link, Protocol};
use crate::witness::WITNESSES;
use serde::{Deserialize, Serialize};
use stateright::actor::{Actor, Id, Out};
use std::borrow::Cow;
use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::marker::PhantomData;
use std::ops::Range;
use std::time::Duration;

/// How long a node waits before repeating what may have been lost.
pub const RETRANSMIT_DELAY: Range<Duration> = Duration::from_millis(50)..Duration::from_millis(50);

/// gms4's messages.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Gms4Msg {
    /// A node asks the leader to multicast its message (repeated until the node holds it).
    Mcast(Payload),
    /// A node outside the group asks to join (repeated until it is in).
    Join(Id),
    /// A slave answers a join: ask this node, my leader.
    Redirect(Id),
    /// Leader to slave: `entries` belong at positions `index..` of the log; positions below
    /// `commit` are stable.
    Propose {
        epoch: u32,
        index: u32,
        entries: Vec<Event>,
        commit: u32,
    },
    /// Slave to leader: of this epoch's log I hold the first `len` entries and have delivered
    /// the first `delivered`.
    Ack {
        epoch: u32,
        len: u32,
        delivered: u32,
    },
}

impl fmt::Debug for Gms4Msg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Gms4Msg::Mcast(p) => write!(f, "mcast({p:?})"),
            Gms4Msg::Join(id) => write!(f, "join(n{})", usize::from(*id)),
            Gms4Msg::Redirect(id) => write!(f, "redirect(n{})", usize::from(*id)),
            Gms4Msg::Propose {
                epoch,
                index,
                entries,
                commit,
            } => write!(
                f,
                "propose(e{epoch}, @{index} {entries:?}, stable {commit})"
            ),
            Gms4Msg::Ack {
                epoch,
                len,
                delivered,
            } => write!(f, "ack(e{epoch}, holds {len}, delivered {delivered})"),
        }
    }
}

/// gms4's timers.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Gms4Timer {
    Mcast,
    Send,
    /// The failure detector's verdict on one peer: a slave monitors its leader, the leader
    /// every slave.
    Suspect(Id),
    /// Leader: repeat proposals to slaves whose acknowledgements lag.
    Resend,
    /// Any node: repeat its own multicasts not yet held, or its join.
    Retry,
    /// Leader: propose what is queued (armed only when no proposal awaits stability and no
    /// broadcast is in progress, see [`Gms4Actor::schedule`]).
    Propose,
}

impl GroupTimer for Gms4Timer {
    const MCAST: Self = Gms4Timer::Mcast;
    const SEND: Self = Gms4Timer::Send;
    fn kind(&self) -> TimerKind {
        match self {
            Gms4Timer::Mcast => TimerKind::Mcast,
            Gms4Timer::Send => TimerKind::Send,
            Gms4Timer::Suspect(_) => TimerKind::Suspect,
            Gms4Timer::Resend | Gms4Timer::Retry => TimerKind::Retransmit,
            Gms4Timer::Propose => TimerKind::Propose,
        }
    }
    fn target(&self) -> Option<Id> {
        match self {
            Gms4Timer::Suspect(id) => Some(*id),
            _ => None,
        }
    }
}

/// What a leader has been asked to sequence.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Request {
    Mcast(Payload),
    Join(Id),
    /// Announce the current view (after removing a suspected slave).
    View,
}

/// What a gms4 node needs to know of its delivered log without reading all of it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LogIndex {
    /// Per sender: how many of its multicasts were delivered, and whether they are exactly its
    /// first ones in order (numbers `0..count`), so that one is delivered iff its number is
    /// below the count. Only a mutant breaks that; then `holds` reads the log.
    senders: BTreeMap<Id, (u32, bool)>,
    /// The position of the newest delivered view.
    newest_view: Option<u32>,
    /// Every node a delivered view named, in id order.
    named: Vec<Id>,
}

impl LogIndex {
    /// Whether `log` (the one this index was built from) holds `p`.
    pub(crate) fn holds(&self, p: &Payload, log: &[Event]) -> bool {
        match self.senders.get(&p.from) {
            None => false,
            Some(&(count, true)) => p.seq < count,
            Some(_) => log.contains(&Event::Deliver(*p)),
        }
    }

    /// The newest view of `log` (the one this index was built from).
    pub(crate) fn newest_view<'a>(&self, log: &'a [Event]) -> Option<&'a Vec<Id>> {
        match log.get(self.newest_view? as usize)? {
            Event::View(v) => Some(v),
            Event::Deliver(_) => None,
        }
    }

    /// How many multicasts of `sender` were delivered.
    /// The position of the newest view in the log, if it has one.
    pub(crate) fn newest_view_at(&self) -> Option<u32> {
        self.newest_view
    }

    pub(crate) fn senders_count(&self, sender: Id) -> u32 {
        self.senders.get(&sender).map_or(0, |s| s.0)
    }

    pub(crate) fn add(&mut self, at: u32, e: &Event) {
        match e {
            Event::Deliver(p) => {
                let (count, in_order) = self.senders.entry(p.from).or_insert((0, true));
                *in_order &= p.seq == *count;
                *count += 1;
            }
            Event::View(v) => {
                self.newest_view = Some(at);
                for &n in v {
                    if let Err(i) = self.named.binary_search(&n) {
                        self.named.insert(i, n);
                    }
                }
            }
        }
    }
}

/// A gms4 group process with its application.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Gms4State {
    pub core: Core<Gms4Msg>,
    /// The epoch of the reign whose log this node holds (as leader: its own).
    pub epoch: u32,
    /// The leader of that reign (epochs of two leaders may carry the same number).
    pub reign: Option<Id>,
    /// The log after what the application was delivered: entries held but not known stable.
    pub pending: Vec<Event>,
    /// Leader: per slave of the view, the `len` and `delivered` it acknowledged this epoch.
    pub acks: Vec<(Id, u32, u32)>,
    /// Leader: requests waiting for the entry in progress to become stable.
    pub queue: VecDeque<Request>,
    /// This node's own multicasts not yet delivered (repeated to the leader until held).
    pub outbox: Vec<Payload>,
    /// The leader this node last forwarded its multicasts to.
    pub forwarded_to: Option<Id>,
    /// `gms4-naive-join`'s slave: joins forwarded to the current leader (each once: the
    /// joiner repeats its join, and a slave that forwarded every copy would flood the leader).
    pub joins_forwarded: Vec<Id>,
    /// A joiner: the node it asks to let it in (and monitors, to ask the next one).
    pub ask: Option<Id>,
    /// An index of the delivered log (a function of it, so it adds no state): without it a
    /// live node scans its whole history for every request and every proposal.
    pub index: LogIndex,
}

impl fmt::Debug for Gms4State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}, epoch {}", self.core, self.epoch)?;
        if !self.pending.is_empty() {
            write!(f, ", pending {:?}", self.pending)?;
        }
        if self.core.role == Role::Leader {
            write!(f, ", acks [")?;
            for (i, (s, len, d)) in self.acks.iter().enumerate() {
                let sep = if i > 0 { " " } else { "" };
                write!(f, "{sep}n{}:{len}/{d}", usize::from(*s))?;
            }
            write!(f, "]")?;
            if !self.queue.is_empty() {
                write!(f, ", queued {:?}", self.queue)?;
            }
        }
        if !self.outbox.is_empty() {
            write!(f, ", outbox {:?}", self.outbox)?;
        }
        Ok(())
    }
}

impl Gms4State {
    /// Entries delivered.
    fn delivered(&self) -> u32 {
        self.core.worker.app.log.len() as u32
    }

    /// Entries held: delivered plus pending.
    fn len(&self) -> u32 {
        self.delivered() + self.pending.len() as u32
    }

    /// Whether a view of the log (delivered or pending) names `n`: a node that was a member
    /// once, whose join a copy in the network may still repeat.
    fn named(&self, n: Id) -> bool {
        let names = |e: &Event| matches!(e, Event::View(v) if v.contains(&n));
        self.index.named.binary_search(&n).is_ok() || self.pending.iter().any(names)
    }

    /// Whether a delivered view names this node: it is in for good.
    fn admitted(&self, id: Id) -> bool {
        self.index.named.binary_search(&id).is_ok()
    }

    /// Whether the log (delivered or pending) holds this multicast.
    fn holds(&self, p: &Payload) -> bool {
        let has = |e: &Event| matches!(e, Event::Deliver(q) if q == p);
        self.index.holds(p, &self.core.worker.app.log) || self.pending.iter().any(has)
    }

    /// The number of the next multicast of `sender` to sequence: how many of its multicasts
    /// the log holds or the leader has queued (they are taken in order).
    fn next_from(&self, sender: Id) -> u32 {
        let delivered = self.index.senders.get(&sender).map_or(0, |s| s.0 as usize);
        let pending = self
            .pending
            .iter()
            .filter(|e| matches!(e, Event::Deliver(p) if p.from == sender))
            .count();
        let queued = self
            .queue
            .iter()
            .filter(|r| matches!(r, Request::Mcast(p) if p.from == sender))
            .count();
        (delivered + pending + queued) as u32
    }

    /// The log from position `from` on.
    fn log_from(&self, from: u32) -> Vec<Event> {
        let log = &self.core.worker.app.log;
        let from = from as usize;
        let delivered = log.get(from..).unwrap_or(&[]).iter();
        let skip = from.saturating_sub(log.len());
        delivered
            .chain(self.pending.iter().skip(skip))
            .cloned()
            .collect()
    }

    /// The newest view in the log, delivered or pending.
    fn newest_view<'a>(&'a self) -> Option<&'a Vec<Id>> {
        let view = |e: &'a Event| match e {
            Event::View(v) => Some(v),
            Event::Deliver(_) => None,
        };
        let pending = self.pending.iter().rev().find_map(view);
        pending.or_else(|| self.index.newest_view(&self.core.worker.app.log))
    }

    /// Leader: no proposal awaits stability and no broadcast is in progress, so the next one
    /// may start.
    fn free(&self) -> bool {
        self.pending.is_empty() && self.core.seq.active.is_none()
    }

    /// Moves stable entries (positions below `commit`) to the application.
    fn deliver_stable(&mut self, commit: u32) {
        let n = commit.saturating_sub(self.delivered()) as usize;
        let n = n.min(self.pending.len());
        for e in self.pending.drain(..n) {
            if let Event::Deliver(p) = &e {
                // Only a node's own undelivered multicasts are in its outbox.
                self.outbox.retain(|q| q != p);
            }
            let at = self.core.worker.app.log.len() as u32;
            self.index.add(at, &e);
            self.core.worker.app.deliver(e);
        }
    }

    /// A slave whose acknowledgements show it lacks entries or stability.
    fn lagging(&self) -> bool {
        let (len, d) = (self.len(), self.delivered());
        self.acks.iter().any(|&(_, l, del)| l < len || del < d)
    }
}

impl Member for Gms4State {
    type Msg = Gms4Msg;
    fn core(&self) -> &Core<Gms4Msg> {
        &self.core
    }
    fn core_mut(&mut self) -> &mut Core<Gms4Msg> {
        &mut self.core
    }
    fn forget(&mut self) {
        self.core.forget();
        self.epoch = 0;
        self.pending.clear();
        self.acks.clear();
        self.queue.clear();
        self.outbox.clear();
        self.forwarded_to = None;
        self.joins_forwarded.clear();
        self.ask = None;
    }
}

/// How a node gets into the group: the one thing that tells gms4 from the version that first
/// landed, kept to show what the livelock check found in it (`notes/gms4.md`).
pub trait Joining: Clone + fmt::Debug + Send + Sync + 'static {
    const NAME: &'static str;
    const SUMMARY: &'static str;
    /// The joiner asks one member at a time, moving on when it suspects it; a slave answers
    /// with its leader; the joiner is in only once a view naming it is stable; the leader
    /// refuses a node that was a member once. Otherwise: the joiner asks its one contact, a
    /// slave forwards a join once per leader, the joiner is in at the first view naming it,
    /// and the leader re-adds a crashed joiner from a copy of its old join.
    const PERSISTENT: bool;
    const BENCHMARKED: bool;
    const INFINITE: Option<Infinite>;
}

/// Joins that get through loss and crashes: the version the checker proves.
#[derive(Clone, Debug)]
pub struct Persistent;

impl Joining for Persistent {
    const NAME: &'static str = "gms4";
    const SUMMARY: &'static str =
        "safe delivery over lossy, reordering, duplicating links: acks, retransmission, \
         epochs, a view change that carries the new leader's log";
    const PERSISTENT: bool = true;
    const BENCHMARKED: bool = true;
    const INFINITE: Option<Infinite> = None;
}

/// Joins as gms4 first landed. Strands a joiner (`notes/gms4.md`).
#[derive(Clone, Debug)]
pub struct Naive;

impl Joining for Naive {
    const NAME: &'static str = "gms4-naive-join";
    const SUMMARY: &'static str =
        "gms4 with the joins it first landed with: one contact, a join forwarded once per \
         leader, in at the first view that names the joiner";
    const PERSISTENT: bool = false;
    const BENCHMARKED: bool = false;
    const INFINITE: Option<Infinite> = Some(Infinite {
        when: "on a network that delivers a message again (duplicating, udp), with a joiner \
               and a crash",
        why: "the leader adds a crashed joiner again from each copy of its join, the log \
              alternating two views (fixed in gms4)",
        applies: |cfg| cfg.network.duplicates() && cfg.joins > 0 && cfg.crashes > 0,
    });
}

/// The gms4 actor under one way of [`Joining`].
#[derive(Clone, Debug)]
pub struct Gms4Actor<J: Joining>(pub Setup, PhantomData<J>);

/// gms4: the version the checker proves.
pub type Gms4 = Gms4Actor<Persistent>;
/// gms4 with the joins it first landed with. Strands joiners.
pub type Gms4NaiveJoin = Gms4Actor<Naive>;

impl<J: Joining> Protocol for Gms4Actor<J> {
    const DESCRIPTOR: Descriptor = Descriptor {
        name: J::NAME,
        summary: J::SUMMARY,
        claims: &[
            AGREEMENT,
            UNIFORM_AGREEMENT,
            NO_DUPLICATION,
            INTEGRITY,
            FIFO,
            VIEW_AGREEMENT,
            CONVERGENCE,
            VALIDITY,
        ],
        // Every witness groupy knows: the core ones, a retransmission, a gap closed by a view
        // change, a multicast retried to a new leader.
        witnesses: &WITNESSES,
        // Built for what UDP does.
        link: Link::Raw,
        benchmarked: J::BENCHMARKED,
        restarts: false,
        infinite: J::INFINITE,
        liveness_where: None,
    };
    fn with_setup(setup: Setup) -> Self {
        Gms4Actor(setup, PhantomData)
    }
}

impl<J: Joining> Actor for Gms4Actor<J> {
    type Msg = Gms4Msg;
    type State = Gms4State;
    type Timer = Gms4Timer;
    type Random = ();
    type Storage = Incarnation;

    fn on_start(&self, id: Id, _: &Option<Incarnation>, o: &mut Out<Self>) -> Gms4State {
        let core = Core::start(&self.0, id);
        let reign = core.leader();
        let mut acks = Vec::new();
        match core.role {
            Role::Leader => {
                for s in slaves(&core.view) {
                    acks.push((s, 0, 0));
                    o.set_timer(Gms4Timer::Suspect(s), SUSPECT_DELAY);
                }
                start_worker(&self.0, o);
            }
            Role::Slave => {
                if let Some(leader) = core.leader() {
                    o.set_timer(Gms4Timer::Suspect(leader), SUSPECT_DELAY);
                }
                start_worker(&self.0, o);
            }
            Role::Outside => {
                if let Some(contact) = self.0.contact {
                    o.send(contact, Gms4Msg::Join(id));
                    o.set_timer(Gms4Timer::Retry, RETRANSMIT_DELAY);
                    if J::PERSISTENT {
                        o.set_timer(Gms4Timer::Suspect(contact), SUSPECT_DELAY);
                    }
                }
            }
        }
        let ask = match core.role {
            Role::Outside if J::PERSISTENT => self.0.contact,
            _ => None,
        };
        Gms4State {
            core,
            epoch: 0,
            reign,
            pending: Vec::new(),
            acks,
            queue: VecDeque::new(),
            outbox: Vec::new(),
            forwarded_to: None,
            joins_forwarded: Vec::new(),
            ask,
            index: LogIndex::default(),
        }
    }

    fn on_msg(&self, id: Id, state: &mut Cow<Gms4State>, src: Id, msg: Gms4Msg, o: &mut Out<Self>) {
        match (state.core.role, msg) {
            // A sender's multicasts are taken in the order it issued them (FIFO): an earlier one
            // is a copy, a later one came first over a reordering network and is dropped (the
            // sender repeats both, in order).
            (Role::Leader, Gms4Msg::Mcast(p)) => {
                let copy = state.holds(&p) || state.queue.contains(&Request::Mcast(p));
                let expected = match mutant!(self.0, NoSenderOrder) {
                    true => p.seq,
                    false => state.next_from(p.from),
                };
                if copy || p.seq < expected {
                    state.to_mut().core.marks.set(Mark::DuplicateDiscarded);
                } else if p.seq == expected {
                    let st = state.to_mut();
                    st.queue.push_back(Request::Mcast(p));
                    self.schedule(st, false, o);
                } else {
                    // Received and dropped (see the last arm below): left in flight, it would
                    // block the sender's retry for good.
                    state.to_mut();
                }
            }
            // A join from a node a view named once is a copy of an old one: with a perfect
            // detector a member leaves the view only by crashing.
            (Role::Leader, Gms4Msg::Join(j)) => {
                let st = state.to_mut();
                let old = J::PERSISTENT && st.named(j);
                if old || st.core.view.contains(&j) || st.queue.contains(&Request::Join(j)) {
                    st.core.marks.set(Mark::DuplicateDiscarded);
                } else {
                    st.queue.push_back(Request::Join(j));
                    self.schedule(st, false, o);
                }
            }
            (
                Role::Leader,
                Gms4Msg::Ack {
                    epoch,
                    len,
                    delivered,
                },
            ) if epoch == state.epoch => {
                let st = state.to_mut();
                if let Some(a) = st.acks.iter_mut().find(|a| a.0 == src) {
                    a.1 = a.1.max(len);
                    a.2 = a.2.max(delivered);
                }
                self.try_commit(st, o);
                self.arm_resend(st, o);
            }
            // A slave tells a joiner whom to ask: its leader. Each answer is one datagram for
            // one, and the joiner's own repetitions get through a lost one. A multicast sent to a
            // node that does not lead is dropped: its sender repeats it to its own leader.
            (Role::Slave, Gms4Msg::Join(j)) if J::PERSISTENT => match state.core.leader() {
                Some(leader) => o.send(j, Gms4Msg::Redirect(leader)),
                None => state.to_mut().core.marks.set(Mark::DuplicateDiscarded),
            },
            (Role::Outside, Gms4Msg::Redirect(leader)) if state.ask != Some(leader) => {
                let st = state.to_mut();
                self.ask(id, st, leader, o);
            }
            // `gms4-naive-join`: a slave forwards a join, once per leader.
            (Role::Slave, Gms4Msg::Join(j)) => {
                let st = state.to_mut();
                match st.core.leader() {
                    Some(leader) if !st.joins_forwarded.contains(&j) => {
                        st.joins_forwarded.push(j);
                        o.send(leader, Gms4Msg::Join(j));
                    }
                    _ => st.core.marks.set(Mark::DuplicateDiscarded),
                }
            }
            (
                Role::Slave | Role::Outside,
                Gms4Msg::Propose {
                    epoch,
                    index,
                    entries,
                    commit,
                },
            ) => self.on_propose(id, state, src, epoch, index, entries, commit, o),
            // Anything else is received and dropped. (A handler that leaves the state borrowed
            // tells stateright the message was not taken, and it would stay in flight for good,
            // holding back the retransmissions between the two nodes, which a real datagram
            // received and dropped does not.)
            _ => {
                state.to_mut();
            }
        }
    }

    fn on_timeout(&self, id: Id, state: &mut Cow<Gms4State>, timer: &Gms4Timer, o: &mut Out<Self>) {
        match timer {
            Gms4Timer::Mcast => self.on_mcast(id, state.to_mut(), o),
            Gms4Timer::Send => {
                let st = state.to_mut();
                match st.core.seq.step() {
                    Step::Send(dst, msg) => o.send(dst, msg),
                    Step::Finished(_) => self.try_commit(st, o),
                    Step::Idle => {}
                }
                if st.core.seq.active.is_some() {
                    o.set_timer(Gms4Timer::Send, SEND_DELAY);
                }
            }
            Gms4Timer::Suspect(peer) => self.suspect(id, state, *peer, o),
            Gms4Timer::Resend => {
                if state.core.role != Role::Leader || mutant!(self.0, NoRetransmission) {
                    return;
                }
                let st = state.to_mut();
                let (len, d) = (st.len(), st.delivered());
                for &(s, l, del) in &st.acks {
                    if l < len || del < d {
                        o.send(s, self.proposal(st, del));
                        st.core.marks.set(Mark::Retransmitted);
                    }
                }
                self.arm_resend(st, o);
            }
            Gms4Timer::Retry => self.retry(id, state, o),
            Gms4Timer::Propose => {
                if state.core.role == Role::Leader {
                    let st = state.to_mut();
                    // What became stable since slaves last heard goes out with the proposal,
                    // or alone.
                    let d = st.delivered();
                    let lagging = st.acks.iter().any(|a| a.2 < d);
                    self.lead(st, lagging, o);
                }
            }
        }
    }
}

impl<J: Joining> Gms4Actor<J> {
    /// The application issues its next multicast: into the leader's queue, or to the leader.
    fn on_mcast(&self, id: Id, st: &mut Gms4State, o: &mut Out<Self>) {
        let (p, more) = st.core.worker.next_mcast(id, &self.0);
        if more {
            o.set_timer(Gms4Timer::Mcast, MCAST_DELAY);
        }
        st.outbox.push(p);
        match (st.core.role, st.core.leader()) {
            (Role::Leader, _) => {
                st.queue.push_back(Request::Mcast(p));
                self.schedule(st, false, o);
            }
            (_, Some(leader)) => {
                o.send(leader, Gms4Msg::Mcast(p));
                st.forwarded_to = Some(leader);
                self.arm_retry(st, o);
            }
            (_, None) => {}
        }
    }

    /// A proposal of the log from position `from` (what the slave is known to have
    /// delivered) to the end, with what is stable.
    fn proposal(&self, st: &Gms4State, from: u32) -> Gms4Msg {
        Gms4Msg::Propose {
            epoch: st.epoch,
            index: from,
            entries: st.log_from(from),
            commit: st.delivered(),
        }
    }

    /// Leader: with nothing awaiting stability and no broadcast in progress, propose every
    /// queued request at once (one round of acks makes them all stable: under load a round
    /// carries many), or tell slaves that lag what became stable.
    fn lead(&self, st: &mut Gms4State, committed: bool, o: &mut Out<Self>) {
        if !st.free() {
            return;
        }
        loop {
            let request = if mutant!(self.0, LifoRequests) {
                st.queue.pop_back()
            } else {
                st.queue.pop_front()
            };
            let entry = match request {
                None => break,
                Some(Request::Mcast(p)) if st.holds(&p) => {
                    st.core.marks.set(Mark::DuplicateDiscarded);
                    continue;
                }
                Some(Request::Mcast(p)) => Event::Deliver(p),
                Some(Request::Join(j)) if st.core.view.contains(&j) => continue,
                Some(Request::Join(j)) => {
                    st.core.view.push(j);
                    st.acks.push((j, 0, 0));
                    o.set_timer(Gms4Timer::Suspect(j), SUSPECT_DELAY);
                    Event::View(st.core.view.clone())
                }
                Some(Request::View) if st.newest_view() == Some(&st.core.view) => continue,
                Some(Request::View) => Event::View(st.core.view.clone()),
            };
            st.pending.push(entry);
        }
        // A new proposal carries what became stable; without one, the commit goes alone.
        if !st.pending.is_empty() || (committed && !st.acks.is_empty()) {
            self.broadcast_proposal(st, o);
        }
    }

    /// Proposes the log from the lowest position a slave is known to have delivered, to every
    /// slave, one send per step. (So a proposal repeats the last round's entries, whose
    /// stability a slave learns only from it. Proposing from what slaves *hold* would not,
    /// but it multiplies the distinct proposals a duplicating network keeps: 3.3× the
    /// states on `duplicating` and 3.7× on `udp` at N=3 M=2 C=1.)
    fn broadcast_proposal(&self, st: &mut Gms4State, o: &mut Out<Self>) {
        let from = st.acks.iter().map(|a| a.2).min().unwrap_or(st.delivered());
        let msg = self.proposal(st, from);
        st.core.seq.active = Some(Broadcast::new(msg, slaves(&st.core.view), None));
        o.set_timer(Gms4Timer::Send, SEND_DELAY);
        self.arm_resend(st, o);
    }

    /// Leader: once the broadcast is out and every slave holds every pending entry, they are
    /// stable: deliver them and go on.
    fn try_commit(&self, st: &mut Gms4State, o: &mut Out<Self>) {
        if st.core.seq.active.is_some() {
            return;
        }
        let len = st.len();
        let stable = !st.pending.is_empty() && st.acks.iter().all(|a| a.1 >= len);
        if stable {
            st.deliver_stable(len);
        }
        self.schedule(st, stable, o);
    }

    /// Leader: once no proposal awaits stability and no broadcast is in progress, arm the
    /// step that proposes what is queued (or tells slaves what became stable). Not proposing
    /// here, at once, is what makes a request that arrives during a broadcast and one that
    /// arrives just after it alike: either way it waits in the queue for that step, and the
    /// model's broadcast reduction, which lets other nodes act only after a broadcast, then
    /// misses no batching of requests (notes/reductions.md, "A leader that batches").
    fn schedule(&self, st: &Gms4State, committed: bool, o: &mut Out<Self>) {
        if !st.free() {
            return;
        }
        if !st.queue.is_empty() || committed {
            o.set_timer(Gms4Timer::Propose, SEND_DELAY);
        }
    }

    fn arm_resend(&self, st: &Gms4State, o: &mut Out<Self>) {
        if st.lagging() {
            o.set_timer(Gms4Timer::Resend, RETRANSMIT_DELAY);
        } else {
            o.cancel_timer(Gms4Timer::Resend);
        }
    }

    /// Own multicasts neither delivered nor pending: lost on the way, or dropped by a view
    /// change.
    fn unheld<'a>(&self, st: &'a Gms4State) -> impl Iterator<Item = &'a Payload> + 'a {
        st.outbox.iter().filter(|p| !st.holds(p))
    }

    fn arm_retry(&self, st: &Gms4State, o: &mut Out<Self>) {
        if mutant!(self.0, NoRetry) {
            return;
        }
        let joining = st.core.role == Role::Outside;
        if joining || (st.core.role == Role::Slave && self.unheld(st).next().is_some()) {
            o.set_timer(Gms4Timer::Retry, RETRANSMIT_DELAY);
        } else {
            o.cancel_timer(Gms4Timer::Retry);
        }
    }

    /// Repeats the join, or the own multicasts the log does not hold, to the leader.
    fn retry(&self, id: Id, state: &mut Cow<Gms4State>, o: &mut Out<Self>) {
        match (state.core.role, state.core.leader()) {
            (Role::Outside, _) => {
                if let Some(contact) = state.ask.or(self.0.contact) {
                    o.send(contact, Gms4Msg::Join(id));
                }
            }
            (Role::Slave, Some(leader)) => {
                let resend: Vec<Payload> = self.unheld(state).copied().collect();
                if resend.is_empty() {
                    return;
                }
                let st = state.to_mut();
                for p in resend {
                    o.send(leader, Gms4Msg::Mcast(p));
                }
                if st.forwarded_to.is_some_and(|old| old != leader) {
                    st.core.marks.set(Mark::Retried);
                }
                st.forwarded_to = Some(leader);
            }
            _ => return,
        }
        self.arm_retry(state, o);
    }

    /// A slave (or a joiner) receives a proposal.
    #[allow(clippy::too_many_arguments)]
    fn on_propose(
        &self,
        id: Id,
        state: &mut Cow<Gms4State>,
        src: Id,
        epoch: u32,
        index: u32,
        entries: Vec<Event>,
        commit: u32,
        o: &mut Out<Self>,
    ) {
        // A slave takes proposals only from the leader it follows: a deposed leader's are
        // recognised by their reign and ignored (its successor repeats what it sends).
        let follows = state.core.leader() == Some(src) || state.core.role == Role::Outside;
        if !follows && !mutant!(self.0, NoEpochCheck) {
            state.to_mut().core.marks.set(Mark::DuplicateDiscarded);
            return;
        }
        let new_reign =
            state.core.role == Role::Outside || epoch != state.epoch || state.reign != Some(src);
        let (d, len) = (state.delivered(), state.len());
        let ack = |len, delivered| Gms4Msg::Ack {
            epoch,
            len,
            delivered,
        };
        if new_reign {
            // A leader's first word in its epoch replaces whatever this node held but had not
            // delivered; it must cover everything from what this node delivered.
            if index > d {
                o.send(src, ack(d, d));
                return;
            }
            if state.core.role == Role::Outside
                && !entries
                    .iter()
                    .any(|e| matches!(e, Event::View(v) if v.contains(&id)))
            {
                state.to_mut();
                return;
            }
            let st = state.to_mut();
            let fresh = entries.get((d - index) as usize..).unwrap_or(&[]);
            let carried = &fresh[..fresh.len().saturating_sub(1)];
            if st.core.role == Role::Slave && !st.pending.starts_with(carried) {
                st.core.marks.set(Mark::GapClosed);
            }
            st.pending = fresh.to_vec();
            if let Some(old) = st.core.leader().filter(|&l| l != src) {
                o.cancel_timer(Gms4Timer::Suspect(old));
            }
            st.epoch = epoch;
            st.reign = Some(src);
            st.joins_forwarded.clear();
            if st.core.role == Role::Outside && !J::PERSISTENT {
                st.core.role = Role::Slave;
                start_worker(&self.0, o);
            }
            if st.core.role != Role::Outside {
                o.set_timer(Gms4Timer::Suspect(src), SUSPECT_DELAY);
            }
        } else {
            // The same leader: its log only grows, so anything beyond what this node holds
            // extends it, and anything else is a copy. Hold-back: entries are taken only at
            // their position; a proposal beyond the end leaves a gap and is not taken.
            let st = state.to_mut();
            if mutant!(self.0, NoHoldBack) {
                st.pending.extend(entries);
            } else if index > len {
                o.send(src, ack(len, d));
                return;
            } else {
                let end = index + entries.len() as u32;
                if end > len {
                    st.pending
                        .extend_from_slice(entries.get((len - index) as usize..).unwrap_or(&[]));
                } else if commit <= d {
                    st.core.marks.set(Mark::DuplicateDiscarded);
                }
            }
        }
        let st = state.to_mut();
        if mutant!(self.0, EarlyDelivery) {
            let all = st.len();
            st.deliver_stable(all);
        } else {
            st.deliver_stable(commit);
        }
        // A joiner is in once a view that names it is stable: an unstable one may die with
        // the leader that proposed it, leaving the joiner following a group that never took
        // it. Until then it holds what it was sent, acknowledges it, and keeps asking.
        if st.core.role == Role::Outside && st.admitted(id) {
            st.core.role = Role::Slave;
            if let Some(asked) = st.ask.take().filter(|&a| a != src) {
                o.cancel_timer(Gms4Timer::Suspect(asked));
            }
            o.set_timer(Gms4Timer::Suspect(src), SUSPECT_DELAY);
            start_worker(&self.0, o);
        }
        let view = st.newest_view().filter(|v| v.first() == Some(&src));
        if let Some(view) = view.filter(|_| st.core.role != Role::Outside) {
            st.core.view = view.clone();
        }
        o.send(src, ack(st.len(), st.delivered()));
        self.arm_retry(st, o);
    }

    /// The failure detector reports `peer`.
    fn suspect(&self, id: Id, state: &mut Cow<Gms4State>, peer: Id, o: &mut Out<Self>) {
        if state.core.role == Role::Outside {
            if state.ask == Some(peer) {
                let next = self.after(peer);
                self.ask(id, state.to_mut(), next, o);
            }
            return;
        }
        if !state.core.view.contains(&peer) {
            return;
        }
        let st = state.to_mut();
        match st.core.role {
            Role::Leader => {
                st.core.view.retain(|&n| n != peer);
                st.acks.retain(|a| a.0 != peer);
                st.queue.push_back(Request::View);
                self.try_commit(st, o);
                self.arm_resend(st, o);
            }
            Role::Slave if st.core.leader() == Some(peer) => {
                st.core.view.retain(|&n| n != peer);
                st.joins_forwarded.clear();
                match st.core.leader() {
                    Some(first) if first == id => self.take_over(st, o),
                    Some(next) => o.set_timer(Gms4Timer::Suspect(next), SUSPECT_DELAY),
                    None => {}
                }
            }
            _ => {}
        }
    }

    /// A joiner asks `whom` from now on, and monitors it.
    fn ask(&self, id: Id, st: &mut Gms4State, whom: Id, o: &mut Out<Self>) {
        if let Some(old) = st.ask.filter(|&old| old != whom) {
            o.cancel_timer(Gms4Timer::Suspect(old));
        }
        st.ask = Some(whom);
        o.send(whom, Gms4Msg::Join(id));
        o.set_timer(Gms4Timer::Suspect(whom), SUSPECT_DELAY);
    }

    /// The member a joiner asks after `peer`: the next of the initial group, in turn.
    fn after(&self, peer: Id) -> Id {
        let known = &self.0.known;
        let next = match known.iter().position(|&k| k == peer) {
            Some(i) => known.get((i + 1) % known.len()),
            None => known.first(),
        };
        next.copied().unwrap_or(peer)
    }

    /// This node is first in the view: it leads the next epoch. It proposes its whole log,
    /// the entries it never saw become stable included, then the new view.
    fn take_over(&self, st: &mut Gms4State, o: &mut Out<Self>) {
        st.epoch += 1;
        st.reign = st.core.leader();
        st.core.role = Role::Leader;
        if mutant!(self.0, NoViewSync) {
            st.pending.clear();
        }
        st.pending.push(Event::View(st.core.view.clone()));
        st.acks = slaves(&st.core.view).iter().map(|&s| (s, 0, 0)).collect();
        for s in slaves(&st.core.view) {
            o.set_timer(Gms4Timer::Suspect(s), SUSPECT_DELAY);
        }
        o.cancel_timer(Gms4Timer::Retry);
        let mine: Vec<Payload> = self.unheld(st).copied().collect();
        st.queue.extend(mine.into_iter().map(Request::Mcast));
        self.broadcast_proposal(st, o);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The index answers what a scan of the log would, for logs in each sender's order and
    /// out of it (as the `NoSenderOrder` mutant delivers).
    #[test]
    fn the_log_index_agrees_with_a_scan_of_the_log() {
        let m = |from: usize, seq| Payload::issued_by(Id::from(from), seq);
        let view = |ids: &[usize]| Event::View(ids.iter().map(|&i| Id::from(i)).collect());
        let logs = [
            vec![],
            vec![view(&[0, 1, 2])],
            vec![
                Event::Deliver(m(1, 0)),
                view(&[0, 1]),
                Event::Deliver(m(1, 1)),
            ],
            vec![
                Event::Deliver(m(1, 1)),
                Event::Deliver(m(2, 0)),
                view(&[0, 2]),
            ],
            vec![view(&[0]), Event::Deliver(m(1, 0)), Event::Deliver(m(1, 2))],
            vec![Event::Deliver(m(1, 0)), Event::Deliver(m(1, 0))],
        ];
        for log in logs {
            let mut index = LogIndex::default();
            for (at, e) in log.iter().enumerate() {
                index.add(at as u32, e);
            }
            for from in 0..3 {
                for seq in 0..4 {
                    let p = m(from, seq);
                    let scan = log.contains(&Event::Deliver(p));
                    assert_eq!(index.holds(&p, &log), scan, "{p:?} in {log:?}");
                }
            }
            let newest = log.iter().rev().find_map(|e| match e {
                Event::View(v) => Some(v),
                Event::Deliver(_) => None,
            });
            assert_eq!(index.newest_view(&log), newest, "{log:?}");
        }
    }
}
