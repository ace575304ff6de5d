//! Machinery every protocol version shares: timers, roles, the per-node setup, and the
//! leader's *basic multicast*, which sends one message per step so that a crash can cut it.

use crate::app::{App, Event, Payload};
use crate::config::{Config, Mutant};
use serde::{Deserialize, Serialize};
use stateright::actor::{Id, Out};
use std::collections::VecDeque;
use std::fmt;
use std::ops::Range;
use std::time::Duration;

/// Timers are how a sans-I/O actor asks to be woken up. In the model any armed timer may fire
/// at any moment; a live runtime fires them after the given durations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Timer {
    /// The application's next multicast is due (the worker's sleep).
    Mcast,
    /// The leader's next send of the broadcast in progress. Zero delay: it only exists so
    /// each send is its own step, and a crash can fall between two sends.
    Send,
    /// The failure detector's verdict on the leader: firing means "suspect it".
    Suspect,
}

pub const SEND_DELAY: Range<Duration> = Duration::ZERO..Duration::ZERO;
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
#[derive(Clone, Debug)]
pub struct Setup {
    /// The initial view (leader first) if this node starts inside the group.
    pub view: Option<Vec<Id>>,
    /// The member a joining node asks to join through.
    pub contact: Option<Id>,
    /// How many multicasts this node's application issues.
    pub quota: u32,
    pub mutant: Option<Mutant>,
}

impl Setup {
    /// The setup of node `i` under `cfg`: nodes `0..N` form the initial group led by node 0;
    /// nodes `N..N+J` join through the last initial node (a slave, so joins get forwarded).
    pub fn for_node(cfg: &Config, i: usize) -> Setup {
        let members: Vec<Id> = (0..cfg.nodes).map(Id::from).collect();
        let inside = i < cfg.nodes;
        Setup {
            view: inside.then(|| members.clone()),
            contact: (!inside).then(|| Id::from(cfg.nodes - 1)),
            quota: cfg.quota(i),
            mutant: cfg.mutant,
        }
    }

    pub fn is(&self, mutant: Mutant) -> bool {
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
        let seq = if setup.is(Mutant::OffByOneSeq) {
            self.issued + 1
        } else {
            self.issued
        };
        self.issued += 1;
        (Payload::issued_by(id, seq), self.issued < setup.quota)
    }
}

/// Arms the application's first multicast.
pub fn start_worker<A>(setup: &Setup, o: &mut Out<A>)
where
    A: stateright::actor::Actor<Timer = Timer>,
{
    if setup.quota > 0 {
        o.set_timer(Timer::Mcast, MCAST_DELAY);
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
        write!(
            f,
            "{:?} sent to {}/{} of {}",
            self.msg,
            self.sent,
            self.to.len(),
            crate::app::ViewList(&self.to)
        )
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

    /// Some, but not all, recipients have been sent the message.
    pub fn is_cut(&self) -> bool {
        self.sent > 0 && usize::from(self.sent) < self.to.len()
    }

    /// At least one send made and the broadcast not finished (where `crash-at=bcast` strikes).
    pub fn is_mid(&self) -> bool {
        self.sent > 0
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
    pub fn is_idle(&self) -> bool {
        self.active.is_none() && self.queue.is_empty()
    }

    /// Takes the next job, oldest first (newest first in the `LifoRequests` mutant, which
    /// breaks FIFO order).
    pub fn next_job(&mut self, setup: &Setup) -> Option<Job<M>> {
        if setup.is(Mutant::LifoRequests) {
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

/// What the properties and the environment read from a node's state, whatever the version.
pub trait Member {
    fn role(&self) -> Role;
    fn worker(&self) -> &Worker;
    /// The node this one would suspect if its failure detector fired (its leader).
    fn monitors(&self) -> Option<Id>;
    /// The broadcast in progress, if any: (cut, mid, description).
    fn sequencer_active(&self) -> Option<(bool, bool, String)>;
    /// Whether the node ever discarded a message as a duplicate (gms3 and later).
    fn discarded_duplicate(&self) -> bool {
        false
    }
    /// The current view, leader first.
    fn view(&self) -> &[Id];
    /// Requests waiting at the leader for the broadcast in progress to finish.
    fn queued(&self) -> usize;
    /// Leader messages held back (gms3).
    fn held(&self) -> usize {
        0
    }

    fn app(&self) -> &App {
        &self.worker().app
    }
    /// A broadcast in progress reached some peers but not all.
    fn broadcast_cut(&self) -> bool {
        self.sequencer_active().is_some_and(|(cut, _, _)| cut)
    }
    /// A broadcast in progress has made at least one send.
    fn mid_broadcast(&self) -> bool {
        self.sequencer_active().is_some_and(|(_, mid, _)| mid)
    }
}

/// The peers after the leader in a view.
pub fn slaves(view: &[Id]) -> Vec<Id> {
    view.get(1..).unwrap_or(&[]).to_vec()
}
