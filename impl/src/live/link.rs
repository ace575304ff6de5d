//! The frames the codec carries ([`Frame`]) and the two links under the protocol:
//!
//! - `raw`: the protocol's message as is; UDP loses, reorders and duplicates it (gms4's world).
//! - `fifo`: a reliable per-pair FIFO link, the assignment's (Erlang's) world that gms1..gms3
//!   assume: each message to a peer gets the next sequence number of that pair, is kept until
//!   the peer acknowledges it, re-sent every `--rto` while it is not, and delivered by the
//!   receiver strictly in sequence, once. This is stateright's `ordered_reliable_link`
//!   (Cachin, Guerraoui and Rodrigues's "perfect link" made FIFO) with a real clock: the
//!   retransmission timer is per message, acknowledgements are cumulative, and a peer that
//!   has been silent for longer than the failure detector's timeout is only probed (its
//!   oldest message, once per timeout) rather than flooded: a crashed slave stays in gms3's
//!   view for ever.
//!
//! Everything here is plain data driven with `Instant`s by the node core (`core.rs`): no
//! socket, no clock read, so it is tested without a network.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

/// One protocol-level frame, handed to the codec (which packs frames into datagrams, in
/// batches or in parts: see `codec.rs`).
#[derive(Debug, Serialize, Deserialize)]
pub enum Frame<M> {
    /// `raw` link: a protocol message.
    Raw(M),
    /// `fifo` link: the `seq`-th protocol message on this (sender, receiver) pair.
    Data { seq: u64, msg: M },
    /// `fifo` link: every `Data` numbered below `next` has arrived.
    Ack { next: u64 },
    /// The leader is alive (the failure detector's heartbeat; any frame counts as life).
    Heartbeat,
}

/// At most this many unacknowledged messages are re-sent to one peer per retransmission
/// round: a bound on the burst after a long silence.
const RESEND_BURST: usize = 64;
/// At most this many out-of-order messages are kept from one peer; later ones are dropped
/// (and re-sent by the peer once the gap is filled).
const EARLY_MAX: usize = 4096;

/// The sending half of a `fifo` link to one peer.
#[derive(Debug)]
struct Outbound<M> {
    next_seq: u64,
    /// Sent, not yet acknowledged, oldest first: (seq, message, when last sent).
    unacked: VecDeque<(u64, M, Instant)>,
    /// The last acknowledgement's `next`, and how many acknowledgements repeated it.
    last_ack: u64,
    dup_acks: u32,
}

/// Acknowledgements that repeat the same `next` while frames after it keep arriving mean
/// that frame was lost: after this many it is re-sent at once (TCP's fast retransmit), not
/// after `--rto`.
const DUP_ACKS: u32 = 3;
/// ... but not more often than this per peer.
const FAST_RESEND_GAP: Duration = Duration::from_millis(2);

/// The receiving half of a `fifo` link from one peer.
#[derive(Debug)]
struct Inbound<M> {
    next: u64,
    early: BTreeMap<u64, M>,
}

/// Counters a run reports.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct LinkStats {
    pub sent: u64,
    pub resent: u64,
    pub duplicates: u64,
    pub early_dropped: u64,
}

/// The `fifo` link of one node to every peer, indexed by peer id.
#[derive(Debug)]
pub struct FifoLink<M> {
    out: Vec<Outbound<M>>,
    inb: Vec<Inbound<M>>,
    pub stats: LinkStats,
}

impl<M: Clone> Default for FifoLink<M> {
    fn default() -> Self {
        Self::new()
    }
}

impl<M: Clone> FifoLink<M> {
    pub fn new() -> Self {
        FifoLink {
            out: Vec::new(),
            inb: Vec::new(),
            stats: LinkStats::default(),
        }
    }

    fn out(&mut self, peer: usize) -> &mut Outbound<M> {
        if self.out.len() <= peer {
            self.out.resize_with(peer + 1, || Outbound {
                next_seq: 0,
                unacked: VecDeque::new(),
                last_ack: 0,
                dup_acks: 0,
            });
        }
        &mut self.out[peer]
    }

    fn inb(&mut self, peer: usize) -> &mut Inbound<M> {
        if self.inb.len() <= peer {
            self.inb.resize_with(peer + 1, || Inbound {
                next: 0,
                early: BTreeMap::new(),
            });
        }
        &mut self.inb[peer]
    }

    /// Numbers a message to `peer` and keeps it until acknowledged; returns the frame's `seq`.
    pub fn send(&mut self, peer: usize, msg: M, now: Instant) -> u64 {
        self.stats.sent += 1;
        let out = self.out(peer);
        let seq = out.next_seq;
        out.next_seq += 1;
        out.unacked.push_back((seq, msg, now));
        seq
    }

    /// `peer` acknowledged everything below `next`.
    /// Takes an acknowledgement; the frame to re-send at once, if the acknowledgements say
    /// it was lost (see [`DUP_ACKS`]).
    pub fn on_ack(&mut self, peer: usize, next: u64, now: Instant) -> Option<(u64, M)> {
        let out = self.out(peer);
        while out.unacked.front().is_some_and(|(seq, _, _)| *seq < next) {
            out.unacked.pop_front();
        }
        if next == out.last_ack {
            out.dup_acks += 1;
        } else {
            out.last_ack = next;
            out.dup_acks = 0;
        }
        let front = out.unacked.front_mut()?;
        if out.dup_acks < DUP_ACKS
            || front.0 != next
            || now.duration_since(front.2) < FAST_RESEND_GAP
        {
            return None;
        }
        out.dup_acks = 0;
        front.2 = now;
        let resend = (front.0, front.1.clone());
        self.stats.resent += 1;
        Some(resend)
    }

    /// A `Data` frame from `peer`: the messages now deliverable in order (possibly none), and
    /// the cumulative acknowledgement to send back (always, so a re-sent duplicate stops the
    /// sender's retransmission too).
    pub fn on_data(&mut self, peer: usize, seq: u64, msg: M) -> (Vec<M>, u64) {
        let mut ready = Vec::new();
        let mut stats = self.stats;
        let inb = self.inb(peer);
        if seq < inb.next || inb.early.contains_key(&seq) {
            stats.duplicates += 1;
        } else if seq > inb.next {
            if inb.early.len() < EARLY_MAX {
                inb.early.insert(seq, msg);
            } else {
                stats.early_dropped += 1;
            }
        } else {
            ready.push(msg);
            inb.next += 1;
            while let Some(m) = inb.early.remove(&inb.next) {
                ready.push(m);
                inb.next += 1;
            }
        }
        let next = inb.next;
        self.stats = stats;
        (ready, next)
    }

    /// The messages due for retransmission at `now`, as (peer, seq, message). A peer heard
    /// from within `silent` gets every message unacknowledged for `rto` (at most a burst);
    /// a silent one only its oldest, once per `silent`.
    pub fn due(
        &mut self,
        now: Instant,
        rto: Duration,
        silent: Duration,
        heard: impl Fn(usize) -> Option<Instant>,
    ) -> Vec<(usize, u64, M)> {
        let mut due = Vec::new();
        for (peer, out) in self.out.iter_mut().enumerate() {
            let quiet = !matches!(heard(peer), Some(t) if now.duration_since(t) <= silent);
            let (limit, wait) = if quiet {
                (1, silent)
            } else {
                (RESEND_BURST, rto)
            };
            for (seq, msg, last) in out.unacked.iter_mut().take(limit) {
                if now.duration_since(*last) >= wait {
                    *last = now;
                    due.push((peer, *seq, msg.clone()));
                }
            }
        }
        self.stats.resent += due.len() as u64;
        due
    }

    /// Messages sent and not yet acknowledged, over all peers.
    pub fn unacked(&self) -> usize {
        self.out.iter().map(|o| o.unacked.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivers_in_order_once_and_acks_cumulatively() {
        let mut l: FifoLink<&str> = FifoLink::new();
        assert_eq!(l.on_data(1, 1, "b"), (vec![], 0));
        assert_eq!(l.on_data(1, 0, "a"), (vec!["a", "b"], 2));
        assert_eq!(l.on_data(1, 0, "a"), (vec![], 2));
        assert_eq!(l.stats.duplicates, 1);
        // Another peer's numbering is its own.
        assert_eq!(l.on_data(2, 0, "x"), (vec!["x"], 1));
    }

    #[test]
    fn resends_until_acked_and_only_probes_a_silent_peer() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut l = FifoLink::new();
        for m in ["a", "b", "c"] {
            l.send(1, m, t0);
        }
        let heard = |_| Some(t0);
        assert!(l.due(t0 + ms(10), ms(50), ms(500), heard).is_empty());
        let due = l.due(t0 + ms(60), ms(50), ms(500), heard);
        assert_eq!(due.len(), 3);
        assert_eq!(l.on_ack(1, 2, t0), None);
        assert_eq!(l.unacked(), 1);
        // Silent for longer than 500 ms: only the oldest, once per 500 ms.
        l.send(1, "d", t0);
        let due = l.due(t0 + ms(600), ms(50), ms(500), heard);
        assert_eq!(due, vec![(1, 2, "c")]);
        assert!(l.due(t0 + ms(700), ms(50), ms(500), heard).is_empty());
    }

    #[test]
    fn repeated_acks_resend_the_lost_frame_at_once() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut l = FifoLink::new();
        for m in ["a", "b", "c", "d", "e"] {
            l.send(1, m, t0);
        }
        // "a" arrived, "b" was lost, "c", "d", "e" arrive: the receiver acks next=1 four times.
        assert_eq!(l.on_ack(1, 1, t0 + ms(1)), None);
        assert_eq!(l.on_ack(1, 1, t0 + ms(3)), None);
        assert_eq!(l.on_ack(1, 1, t0 + ms(3)), None);
        assert_eq!(l.on_ack(1, 1, t0 + ms(3)), Some((1, "b")));
        // Not again at once.
        assert_eq!(l.on_ack(1, 1, t0 + ms(3)), None);
        assert_eq!(l.on_ack(1, 5, t0 + ms(4)), None);
        assert_eq!(l.unacked(), 0);
    }
}
