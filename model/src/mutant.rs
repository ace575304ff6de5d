//! Deliberately broken protocol variants, for the checks suite only (feature `mutants`, off by
//! default, so the `groupy` binary carries none). Protocol code tests for one with
//! [`mutant!`](crate::mutant!), which is `false` when the feature is off: the same actor code,
//! with the broken branch compiled out.

use serde::{Deserialize, Serialize};

/// A deliberately broken protocol variant, used by `checks/` to show that each property can
/// fail. Not reachable from the CLI: users check protocols, not mutants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Mutant {
    /// gms3: the new leader does not re-send the last message.
    NoResend,
    /// gms3: slaves do not discard messages numbered below `next`.
    NoDuplicateDiscard,
    /// all: the application numbers its multicasts from 1 instead of 0.
    OffByOneSeq,
    /// all: the leader serves queued requests newest first.
    LifoRequests,
    /// gms3: the new leader leaves itself out of the view it multicasts.
    ViewWithoutLeader,
    /// gms3: the leader adds a joiner to the view but never sends the view to it.
    ViewNotSentToJoiner,
    /// gms4: a slave appends whatever entries arrive instead of placing them at their
    /// position.
    NoHoldBack,
    /// gms4: a new leader drops the entries it never saw become stable.
    NoViewSync,
    /// gms4: the leader never repeats a proposal.
    NoRetransmission,
    /// gms4, gms5: a node never repeats its multicast (nor its join).
    NoRetry,
    /// gms4: a slave delivers entries as they arrive, before they are stable.
    EarlyDelivery,
    /// gms4: a slave takes proposals from any node, not only the leader it follows.
    NoEpochCheck,
    /// gms4: the leader sequences a sender's multicasts in arrival order, not issue order.
    NoSenderOrder,
    /// gms5: a candidate leads on its own log, without the logs of a majority.
    MinorityLeader,
    /// gms5: an entry is stable one ack short of a majority.
    MinorityStable,
    /// gms5: a node takes proposals of a reign lower than the one it promised.
    NoFencing,
    /// gms5: a new leader keeps its own log instead of the most up-to-date one gathered.
    OwnLog,
    /// gms5: a restarted node comes back as the member it was at the start, not as a new
    /// life that must join (Viewstamped Replication's recovery problem: it forgot what it
    /// promised and acknowledged).
    RestartAsMember,
    /// gms5 as first written: a view entry is stable once a majority of the new view holds
    /// it (Raft's single-server rule), without a majority of the view before it (the
    /// primary-partition rule).
    NewViewQuorum,
    /// gms5: a slave hands its application the messages of a batch of newly stable entries
    /// before the views among them (an application layer that applies membership after
    /// data).
    ViewsLast,
    /// gms5 as first written: a new leader tells only the members of its view, so a member
    /// removed by a reign that ended before the member learnt it is never told.
    ForgetRemoved,
    /// gms5 as first written: the leader counts a member's acks towards stability only if
    /// it heard from the member since it last suspected it, so a wrong suspicion after the
    /// ack of a member that has nothing left to ack stalls the log for good.
    SuspicionForgetsAcks,
    /// gms5 as first written: a node outside the group ignores a candidate's solicit, so a
    /// candidate whose newest view adds a joiner can lack a majority for good.
    SilentJoiner,
    /// gms5: a new leader counts an entry an earlier reign left as held by every gathered
    /// log that holds it, so it is stable by its replicas before any member took it in the
    /// new reign (Raft's figure 8: entries of earlier terms are not committed by count).
    EarlierReignByCount,
    /// gms5 as first written: a candidate counts the answers against its own newest view,
    /// so one that missed two view changes can count a majority that misses the quorum
    /// that made the newest entries stable (notes/gms5.md, "A stale candidate").
    StaleViewQuorum,
}

impl Mutant {
    pub const ALL: [Mutant; 25] = [
        Mutant::NoResend,
        Mutant::NoDuplicateDiscard,
        Mutant::OffByOneSeq,
        Mutant::LifoRequests,
        Mutant::ViewWithoutLeader,
        Mutant::ViewNotSentToJoiner,
        Mutant::NoHoldBack,
        Mutant::NoViewSync,
        Mutant::NoRetransmission,
        Mutant::NoRetry,
        Mutant::EarlyDelivery,
        Mutant::NoEpochCheck,
        Mutant::NoSenderOrder,
        Mutant::MinorityLeader,
        Mutant::MinorityStable,
        Mutant::NoFencing,
        Mutant::OwnLog,
        Mutant::RestartAsMember,
        Mutant::NewViewQuorum,
        Mutant::ViewsLast,
        Mutant::ForgetRemoved,
        Mutant::SuspicionForgetsAcks,
        Mutant::SilentJoiner,
        Mutant::EarlierReignByCount,
        Mutant::StaleViewQuorum,
    ];
}
