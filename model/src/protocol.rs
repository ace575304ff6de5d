//! What makes an actor a protocol the checker, the live runtime, the CLI and the tests know
//! about: the actor type, and its [`Descriptor`], declared once next to the actor (`gms1.rs`,
//! ...). Nothing outside a protocol's own file asks for it by name; the table of every
//! protocol is [`crate::registry`].

use crate::config::Config;
use crate::group::{GroupTimer, Member, Setup};
use crate::witness::Witness;
use serde::Serialize;
use stateright::actor::{Actor, Id};
use std::fmt::Debug;

/// The link a protocol is designed for, which the live runtime puts under it unless told
/// otherwise (`--link`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Link {
    /// Reliable per-pair FIFO links (Erlang's): the runtime adds acks, retransmission and
    /// ordering under the protocol.
    Fifo,
    /// UDP as it is: the protocol copes with loss, reordering and duplication itself.
    Raw,
}

impl Link {
    pub const ALL: [Link; 2] = [Link::Fifo, Link::Raw];

    pub fn name(self) -> &'static str {
        match self {
            Link::Fifo => "fifo",
            Link::Raw => "raw",
        }
    }

    /// What the link does, for `--link`'s help and completions.
    pub fn help(self) -> &'static str {
        match self {
            Link::Fifo => "reliable per-pair FIFO under the protocol (sequence numbers, acks)",
            Link::Raw => "UDP as it is: datagrams lost, duplicated, reordered",
        }
    }
}

/// `--link`'s values are the links' own names.
impl clap::ValueEnum for Link {
    fn value_variants<'a>() -> &'a [Self] {
        &Self::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.name()).help(self.help()))
    }
}

/// Where a protocol's state space is infinite, so that an exhaustive search there would end
/// only when memory runs out.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Infinite {
    /// Where, in words (`groupy list`).
    pub when: &'static str,
    /// Why, in words.
    pub why: &'static str,
    /// Whether a configuration is such a place.
    #[serde(skip)]
    pub applies: fn(&Config) -> bool,
}

/// Where a protocol's claims that need the run to go on hold, when not everywhere it runs:
/// every property judged at quiescence or at the end of a run (convergence, uniform
/// agreement, validity) and the livelock check with them. A primary-partition protocol
/// stops, by design, where no majority is left, and then a member never gets what the
/// others delivered.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct LivenessWhere {
    /// Where, in words (`groupy list`, and the report where it is not claimed).
    pub when: &'static str,
    /// Whether a configuration is such a place.
    #[serde(skip)]
    pub holds: fn(&Config) -> bool,
}

/// Whether a [`LivenessWhere`] governs property `name`: it is judged only once the run
/// has gone on (at quiescence, or at its end).
fn needs_progress(name: &str) -> bool {
    crate::properties::find(name).is_some_and(|p| p.when != crate::properties::When::Always)
}

/// What the checker, the live runtime, the benchmarks, the matrix and the tests need to know
/// about a protocol, declared once, next to its actor.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Descriptor {
    pub name: &'static str,
    /// One line: what this version adds, for `--help` and listings.
    pub summary: &'static str,
    /// The properties this version promises; the checker's exit code judges these.
    pub claims: &'static [&'static str],
    /// The `Sometimes` witnesses this version can reach at all; the model keeps those the
    /// configuration can reach too (no cut broadcast without a crash, ...).
    pub witnesses: &'static [&'static Witness],
    /// The link the live runtime puts under it.
    pub link: Link,
    /// Whether `groupy bench` and the criterion live benchmarks measure it (a version kept
    /// to show a failure is not worth measuring).
    pub benchmarked: bool,
    /// Whether it models restarts (`--restarts`): a crashed node that comes back under its
    /// old id with nothing but its incarnation number, and joins again.
    pub restarts: bool,
    /// Where its state space is infinite, if anywhere: `groupy check` refuses to search it
    /// exhaustively there without a bound (`--fail-fast`, `--max-states`, ...).
    pub infinite: Option<Infinite>,
    /// Where its liveness claims hold, if not wherever it claims them.
    pub liveness_where: Option<LivenessWhere>,
}

impl Descriptor {
    /// Whether this version promises property `name`.
    pub fn claims(&self, name: &str) -> bool {
        self.claims.contains(&name)
    }

    /// Whether this version promises property `name` under `cfg`: a liveness claim holds
    /// only where [`Descriptor::liveness_where`] says.
    pub fn claims_under(&self, name: &str, cfg: &Config) -> bool {
        let conditional = self.liveness_where.filter(|_| needs_progress(name));
        self.claims(name) && conditional.is_none_or(|w| (w.holds)(cfg))
    }

    /// Why this version's liveness claims do not hold under `cfg`, if they do not.
    pub fn liveness_not_claimed(&self, cfg: &Config) -> Option<&'static str> {
        let w = self.liveness_where?;
        (self.claims(crate::properties::VALIDITY) && !(w.holds)(cfg)).then_some(w.when)
    }

    /// Why its state space under `cfg` is infinite, if it is.
    pub fn infinite_under(&self, cfg: &Config) -> Option<&Infinite> {
        self.infinite.as_ref().filter(|i| (i.applies)(cfg))
    }
}

/// gms1-gms3 where the network delivers copies again.
pub const INFINITE_WITH_COPIES: Infinite = Infinite {
    when: "on a network that delivers a message again (duplicating, udp)",
    why: "every copy of a message is taken anew (a slave delivers it again, or the leader \
          sequences a copied request again), so logs grow without bound",
    applies: |cfg| cfg.network.duplicates(),
};

/// A protocol version the checker can explore.
pub trait Protocol:
    Actor<
        // Serde on states and timers: a distributed search moves states between processes.
        Timer: GroupTimer
                   + Ord
                   + Send
                   + Sync
                   + serde::Serialize
                   + serde::de::DeserializeOwned
                   + 'static,
        Random = (),
        Storage = crate::group::Incarnation,
        State: Member + Send + Sync + serde::Serialize + serde::de::DeserializeOwned + 'static,
        // Serde: the live runtime puts messages on the wire.
        Msg: Ord + Send + Sync + serde::Serialize + serde::de::DeserializeOwned + 'static,
    > + Clone
    + Debug
    + Send
    + Sync
    + 'static
{
    const DESCRIPTOR: Descriptor;
    fn with_setup(setup: Setup) -> Self;

    /// Selective receive: whether this node, in `state`, would only hold `msg` from `src`
    /// back for later (Erlang leaves such a message in the mailbox). The actor still holds
    /// it back itself if it is delivered; the reduced model leaves it in the network instead,
    /// and the live runtime in a per-sender mailbox.
    fn holds_back(&self, _id: Id, _state: &Self::State, _src: Id, _msg: &Self::Msg) -> bool {
        false
    }

    /// For the model's partial-order reduction only (`notes/reductions.md`, 6): whether this
    /// node takes `msg` from `src` now, and taking it commutes with every other step the node
    /// can take before it, given that links are FIFO (what `src` sends later queues behind
    /// `msg`) and the detector is perfect (`src` is not suspected while `msg` is on its way).
    /// True for a slave taking a message from the leader it follows when it takes leader
    /// messages from no one else, that message does not change whom it follows, and its other
    /// steps (multicasting, forwarding requests) read only whom it follows. Claiming it wrongly
    /// loses interleavings; the cross-check in `checks/` compares every verdict and outcome
    /// with `--reduce none`.
    fn takes_independently(
        &self,
        _id: Id,
        _state: &Self::State,
        _src: Id,
        _msg: &Self::Msg,
    ) -> bool {
        false
    }

    /// For the model's reduction only (`notes/reductions.md`, 8): whether this node, in
    /// `state` and in every state this life of it can reach from there, takes `msg` from `src`
    /// without changing its state (marks included), sending anything or touching a timer: a
    /// reply to a reign it has moved past, say. The reduced model drops such a message at
    /// once, as if it had been delivered then. Claiming it wrongly loses behaviours; the
    /// cross-check in `checks/` compares every verdict and outcome with `--reduce none`.
    fn inert(&self, _id: Id, _state: &Self::State, _src: Id, _msg: &Self::Msg) -> bool {
        false
    }
}
