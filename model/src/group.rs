//! Machinery every protocol version shares: timers, roles, the per-node setup, and the
//! leader's *basic multicast*, which sends one message per step so that a crash can cut it.

use crate::app::{App, Event, Payload, ViewList};
use crate::config::Config;
use serde::{Deserialize, Serialize};
use stateright::actor::{Actor, Id, Out};
use std::collections::VecDeque;
use std::fmt;
use std::ops::Range;
use std::time::Duration;

/// What a timer is for, as the environment and the traces see it. Each protocol has its own
/// timer type (gms1 has no detector; gms4 adds retransmission) and says
/// which kind each of its timers is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimerKind {
    /// The application's next multicast is due (the worker's sleep).
    Mcast,
    /// The leader's next send of the broadcast in progress.
    Send,
    /// The failure detector's verdict on a peer (the leader, unless the timer names another
    /// node): firing means "suspect it".
    Suspect,
    /// Repeat what may have been lost (gms4): a leader's unacknowledged proposals, a slave's
    /// multicast not yet delivered, a join not yet answered.
    Retransmit,
    /// The leader proposes what it has queued (gms4): a step of its own, due at once, so
    /// that a request is served alike whether it arrived during a broadcast or just after.
    Propose,
}

/// A protocol's timers. Timers are how a sans-I/O actor asks to be woken up: in the model any
/// armed timer may fire at any moment; a live runtime fires them after the given durations.
pub trait GroupTimer: Clone + fmt::Debug + Eq + std::hash::Hash {
    /// The application's multicast timer.
    const MCAST: Self;
    /// The leader's send timer: zero delay, it only exists so each send of a broadcast is its
    /// own step and a crash can fall between two sends.
    const SEND: Self;
    fn kind(&self) -> TimerKind;
    /// The node a `Suspect` timer is about, if the timer names it (gms4's leader monitors each
    /// slave); `None` means the node's leader ([`Member::monitors`]).
    fn target(&self) -> Option<Id> {
        None
    }
}

pub const SEND_DELAY: Range<Duration> = Duration::ZERO..Duration::ZERO;
/// Which life of a node this is: 0 at its first start, one more at each restart. The one
/// thing a restarted node keeps (stateright's actor storage): the model's restarts are
/// amnesia otherwise (`--restarts`, notes/gms5.md).
pub type Incarnation = u32;

pub const MCAST_DELAY: Range<Duration> = Duration::from_millis(100)..Duration::from_millis(300);
pub const SUSPECT_DELAY: Range<Duration> = Duration::from_secs(1)..Duration::from_secs(1);

/// Where a group process stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Started outside the group, waiting for a view that includes it.
    Outside,
    Slave,
    Leader,
}

/// Per-node configuration: the actor struct holds this and nothing mutable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setup {
    /// The initial view (leader first) if this node starts inside the group.
    pub view: Option<Vec<Id>>,
    /// The member a joining node asks to join through.
    pub contact: Option<Id>,
    /// The members of the initial group, which a joiner asks in turn when the one it asks
    /// is suspected (a live node knows them as its `--peers`).
    pub known: Vec<Id>,
    /// How many multicasts this node's application issues.
    pub quota: u32,
    #[cfg(feature = "mutants")]
    pub mutant: Option<crate::mutant::Mutant>,
}

impl Setup {
    /// The setup of node `i` under `cfg`: nodes `0..N` form the initial group led by node 0;
    /// nodes `N..N+J` join through the member `cfg.join_via` names.
    pub fn for_node(cfg: &Config, i: usize) -> Setup {
        let members: Vec<Id> = (0..cfg.nodes).map(Id::from).collect();
        let inside = i < cfg.nodes;
        Setup {
            view: inside.then(|| members.clone()),
            contact: (!inside).then(|| Id::from(cfg.contact())),
            known: members,
            quota: cfg.quota(i),
            #[cfg(feature = "mutants")]
            mutant: cfg.mutant,
        }
    }

    /// A node that starts outside any group and asks `contact`, then the other `known`
    /// members, to let it in (a live node started with `--join`).
    pub fn joiner(contact: Id, known: Vec<Id>, quota: u32) -> Setup {
        Setup {
            view: None,
            contact: Some(contact),
            known,
            quota,
            #[cfg(feature = "mutants")]
            mutant: None,
        }
    }

    #[cfg(feature = "mutants")]
    pub fn is(&self, mutant: crate::mutant::Mutant) -> bool {
        self.mutant == Some(mutant)
    }

    /// The role a node starts in: the first of the initial view leads.
    pub fn initial_role(&self, id: Id) -> Role {
        match &self.view {
            Some(v) if v.first() == Some(&id) => Role::Leader,
            Some(_) => Role::Slave,
            None => Role::Outside,
        }
    }
}

/// The application side of a node: its log and the multicasts it has issued so far.
#[derive(Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Worker {
    pub app: App,
    pub issued: u32,
}

impl fmt::Debug for Worker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "issued {} log {:?}", self.issued, self.app)
    }
}

impl Worker {
    /// The application's next multicast, and whether another one is due after it.
    pub fn next_mcast(&mut self, id: Id, setup: &Setup) -> (Payload, bool) {
        let seq = if mutant!(setup, OffByOneSeq) {
            self.issued + 1
        } else {
            self.issued
        };
        self.issued += 1;
        (Payload::issued_by(id, seq), self.issued < setup.quota)
    }
}

/// Arms the application's first multicast, once the node is in the group (at start for the
/// initial members, on its first view for a joiner): before that it has nowhere to send it.
pub fn start_worker<A>(setup: &Setup, o: &mut Out<A>)
where
    A: Actor<Timer: GroupTimer>,
{
    if setup.quota > 0 {
        o.set_timer(A::Timer::MCAST, MCAST_DELAY);
    }
}

/// What the leader has been asked to sequence, in arrival order.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Job<M> {
    Mcast(Payload),
    Join(Id),
    /// A broadcast already built (a new leader's re-send and view).
    Ready(Broadcast<M>),
}

/// One basic multicast in progress: `msg` goes to `to[sent..]` one send per step, then the
/// leader delivers `local` to its own application.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Broadcast<M> {
    pub msg: M,
    pub to: Vec<Id>,
    pub sent: u8,
    pub local: Option<Event>,
}

impl<M: fmt::Debug> fmt::Debug for Broadcast<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.progress())
    }
}

impl<M: fmt::Debug> Broadcast<M> {
    /// How far the basic multicast has got.
    pub fn progress(&self) -> BroadcastProgress<'_> {
        BroadcastProgress {
            sent: usize::from(self.sent),
            to: &self.to,
            msg: &self.msg,
        }
    }
}

impl<M: Clone> Broadcast<M> {
    pub fn new(msg: M, to: Vec<Id>, local: Option<Event>) -> Self {
        Broadcast {
            msg,
            to,
            sent: 0,
            local,
        }
    }

    /// The next send, if any is left.
    pub fn next_send(&mut self) -> Option<(Id, M)> {
        let dst = *self.to.get(usize::from(self.sent))?;
        self.sent += 1;
        Some((dst, self.msg.clone()))
    }
}

/// The leader's queue: one broadcast at a time, as the Erlang leader handles one message
/// after the other. A request that arrives mid-broadcast waits, so that a join's state
/// hand-over is taken after every earlier message was delivered locally.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Sequencer<M> {
    pub queue: VecDeque<Job<M>>,
    pub active: Option<Broadcast<M>>,
}

impl<M> Default for Sequencer<M> {
    fn default() -> Self {
        Sequencer {
            queue: VecDeque::new(),
            active: None,
        }
    }
}

impl<M: fmt::Debug> fmt::Debug for Sequencer<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.active {
            Some(b) => write!(f, "bcast {b:?}")?,
            None => write!(f, "idle")?,
        }
        if !self.queue.is_empty() {
            write!(f, ", queued {:?}", self.queue)?;
        }
        Ok(())
    }
}

/// What one step of the leader's sequencer did.
pub enum Step<M> {
    /// Send `M` to this peer.
    Send(Id, M),
    /// Every peer was sent the message: deliver this locally, then start the next job.
    Finished(Option<Event>),
    /// Nothing to do.
    Idle,
}

impl<M: Clone> Sequencer<M> {
    /// Takes the next job, oldest first (newest first in the `LifoRequests` mutant, which
    /// breaks FIFO order).
    pub fn next_job(&mut self, setup: &Setup) -> Option<Job<M>> {
        if mutant!(setup, LifoRequests) {
            self.queue.pop_back()
        } else {
            self.queue.pop_front()
        }
    }

    /// Advances the broadcast in progress by one send.
    pub fn step(&mut self) -> Step<M> {
        match &mut self.active {
            None => Step::Idle,
            Some(b) => match b.next_send() {
                Some((dst, msg)) => Step::Send(dst, msg),
                None => {
                    let local = b.local.take();
                    self.active = None;
                    Step::Finished(local)
                }
            },
        }
    }
}

/// Something a node did that a witness looks for ([`crate::witness`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mark {
    /// It discarded a message it already had.
    DuplicateDiscarded = 1,
    /// As leader, it repeated a proposal a slave had not acknowledged.
    Retransmitted = 2,
    /// It repeated a multicast to a leader other than the one it first sent it to.
    Retried = 4,
    /// A new leader's first proposal gave it an entry of the previous reign it did not hold.
    GapClosed = 8,
}

/// The [`Mark`]s a node has earned: flags, not counters, so the state space stays finite.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Marks(u8);

impl Marks {
    pub fn set(&mut self, mark: Mark) {
        self.0 |= mark as u8;
    }

    pub fn has(self, mark: Mark) -> bool {
        self.0 & mark as u8 != 0
    }

    /// Whether any mark is set in both.
    pub fn meets(self, other: Marks) -> bool {
        self.0 & other.0 != 0
    }

    /// Clears the marks `other` has.
    pub fn clear(&mut self, other: Marks) {
        self.0 &= !other.0;
    }
}

impl fmt::Debug for Marks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Mark::*;
        let set = [DuplicateDiscarded, Retransmitted, Retried, GapClosed]
            .into_iter()
            .filter(|m| self.has(*m));
        f.debug_set().entries(set).finish()
    }
}

/// What every version's group process holds: where it stands, its peer list, its application
/// and (as leader) its sequencer. A version's state is this plus what the version adds.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Core<M> {
    pub role: Role,
    /// The peer list, leader first.
    pub view: Vec<Id>,
    pub worker: Worker,
    /// Leader only: the request queue and the broadcast in progress.
    pub seq: Sequencer<M>,
    /// What the witnesses look for; a crash keeps them.
    pub marks: Marks,
}

impl<M: fmt::Debug> fmt::Debug for Core<M> {
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

impl<M: fmt::Debug> Core<M> {
    /// A node as it starts: inside the initial group (leader or slave) or outside it.
    pub fn start(setup: &Setup, id: Id) -> Self {
        Core {
            role: setup.initial_role(id),
            view: setup.view.clone().unwrap_or_default(),
            worker: Worker::default(),
            seq: Sequencer::default(),
            marks: Marks::default(),
        }
    }

    pub fn leader(&self) -> Option<Id> {
        self.view.first().copied()
    }

    /// What a crash leaves of the sequencer that anything reads: a broadcast the crash cut
    /// (the `broadcast cut by crash` witness and the traces read it), nothing else.
    pub fn forget(&mut self) {
        self.seq.queue.clear();
        if !self
            .seq
            .active
            .as_ref()
            .is_some_and(|b| b.progress().is_cut())
        {
            self.seq.active = None;
        }
    }
}

/// A broadcast in progress, as the environment and the traces see it.
pub struct BroadcastProgress<'a> {
    pub sent: usize,
    pub to: &'a [Id],
    pub msg: &'a dyn fmt::Debug,
}

impl BroadcastProgress<'_> {
    /// Some, but not all, recipients have been sent the message.
    pub fn is_cut(&self) -> bool {
        self.sent > 0 && self.sent < self.to.len()
    }

    /// At least one send made and the broadcast not finished (where `crash-at=bcast` strikes).
    pub fn is_mid(&self) -> bool {
        self.sent > 0
    }
}

impl fmt::Display for BroadcastProgress<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} sent to {}/{} of {}",
            self.msg,
            self.sent,
            self.to.len(),
            ViewList(self.to)
        )
    }
}

/// What the properties, the environment and the traces read from a node's state, whatever
/// the version.
pub trait Member {
    type Msg: fmt::Debug;
    fn core(&self) -> &Core<Self::Msg>;
    fn core_mut(&mut self) -> &mut Core<Self::Msg>;
    /// What the node did that the witnesses look for.
    fn marks(&self) -> Marks {
        self.core().marks
    }
    /// Leader messages held back (gms3).
    fn held(&self) -> usize {
        0
    }
    /// The views this node held before it knew them installed (a record the protocol keeps
    /// for the properties and the live log, and never reads).
    fn accepted(&self) -> &[crate::log::Accepted] {
        &[]
    }
    /// A crashed node never acts again: clear what only its own future steps would read,
    /// keeping what the properties, witnesses and traces read (its log, multicast counter,
    /// role, view and the broadcast a crash cut). The reduced model calls it at a crash.
    fn forget(&mut self) {
        self.core_mut().forget();
    }
    /// The node this one would suspect if its failure detector fired: its leader, if it is a
    /// slave of a version that monitors its leader.
    fn monitors(&self) -> Option<Id> {
        None
    }

    fn role(&self) -> Role {
        self.core().role
    }
    fn worker(&self) -> &Worker {
        &self.core().worker
    }
    fn app(&self) -> &App {
        &self.core().worker.app
    }
    /// The current view, leader first.
    fn view(&self) -> &[Id] {
        &self.core().view
    }
    /// Requests waiting at the leader for the broadcast in progress to finish.
    fn queued(&self) -> usize {
        self.core().seq.queue.len()
    }
    /// The leader's basic multicast in progress, if any: what it has sent so far, one send per
    /// step. (A read-only view; no version calls stateright's `Out::broadcast`, whose sends
    /// land in one step where no crash can cut them.)
    fn broadcast_in_progress(&self) -> Option<BroadcastProgress<'_>> {
        self.core().seq.active.as_ref().map(Broadcast::progress)
    }
    /// A broadcast in progress reached some peers but not all.
    fn broadcast_cut(&self) -> bool {
        self.broadcast_in_progress().is_some_and(|b| b.is_cut())
    }
    /// A broadcast in progress has made at least one send.
    fn mid_broadcast(&self) -> bool {
        self.broadcast_in_progress().is_some_and(|b| b.is_mid())
    }
}

/// A version's messages as the shared leader and slave code builds them.
pub trait GroupMsg: Clone {
    /// A slave's request to the leader to multicast `p`.
    fn mcast(p: Payload) -> Self;
}

/// The part of the leader that differs between versions: how a request becomes the message it
/// broadcasts (gms3 numbers it). The loop around it ([`submit`], [`send_step`]) is shared.
pub trait Sequencing: Member<Msg: GroupMsg> {
    fn sequence(&mut self, setup: &Setup, job: Job<Self::Msg>) -> Broadcast<Self::Msg>;
}

/// Queues a request at the leader and starts it if the leader is idle.
pub fn submit<A>(setup: &Setup, st: &mut A::State, job: Job<A::Msg>, o: &mut Out<A>)
where
    A: Actor<Timer: GroupTimer, State: Sequencing<Msg = A::Msg>>,
{
    st.core_mut().seq.queue.push_back(job);
    start_next(setup, st);
    arm_send(st, o);
}

/// One step of the basic multicast: one send, or (after the last send) the local delivery and
/// the start of the next request.
pub fn send_step<A>(setup: &Setup, st: &mut A::State, o: &mut Out<A>)
where
    A: Actor<Timer: GroupTimer, State: Sequencing<Msg = A::Msg>>,
{
    match st.core_mut().seq.step() {
        Step::Send(dst, msg) => o.send(dst, msg),
        Step::Finished(local) => {
            if let Some(event) = local {
                st.core_mut().worker.app.deliver(event);
            }
            start_next(setup, st);
        }
        Step::Idle => {}
    }
    arm_send(st, o);
}

fn arm_send<A>(st: &A::State, o: &mut Out<A>)
where
    A: Actor<Timer: GroupTimer, State: Sequencing<Msg = A::Msg>>,
{
    if st.core().seq.active.is_some() {
        o.set_timer(A::Timer::SEND, SEND_DELAY);
    }
}

/// Turns the next queued request into the broadcast in progress.
fn start_next<S: Sequencing>(setup: &Setup, st: &mut S) {
    if st.core().seq.active.is_some() {
        return;
    }
    let Some(job) = st.core_mut().seq.next_job(setup) else {
        return;
    };
    let bcast = match job {
        Job::Ready(b) => b,
        job => st.sequence(setup, job),
    };
    st.core_mut().seq.active = Some(bcast);
}

/// The application's multicast timer fired: issue the next multicast, to the sequencer if
/// this node leads, else forwarded to the leader.
pub fn on_mcast_timer<A>(setup: &Setup, id: Id, st: &mut A::State, o: &mut Out<A>)
where
    A: Actor<Timer: GroupTimer, State: Sequencing<Msg = A::Msg>>,
{
    let (p, more) = st.core_mut().worker.next_mcast(id, setup);
    if more {
        o.set_timer(A::Timer::MCAST, MCAST_DELAY);
    }
    match st.role() {
        Role::Leader => submit(setup, st, Job::Mcast(p), o),
        Role::Slave => {
            if let Some(leader) = st.core().leader() {
                o.send(leader, A::Msg::mcast(p));
            }
        }
        // Unreachable: a joiner's worker starts once it is in the group.
        Role::Outside => {}
    }
}

/// The node a `Suspect` timer of `node` is about: the one it names, else the node's leader.
pub fn suspected<T: GroupTimer, S: Member>(node: &S, timer: &T) -> Option<Id> {
    timer.target().or_else(|| node.monitors())
}

/// The peers after the leader in a view.
pub fn slaves(view: &[Id]) -> Vec<Id> {
    view.get(1..).unwrap_or(&[]).to_vec()
}
