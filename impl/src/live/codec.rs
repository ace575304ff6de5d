//! The wire codec of the live group: the datagrams of one node. The node's core hands it
//! whole frames ([`Codec::send`], and [`Codec::flush`] at the end of a turn) and gets whole
//! frames back ([`Codec::receive`]); a datagram carries one frame, a batch of frames, or a
//! part of a frame too large for one datagram. How frames share and split datagrams is the
//! codec's ([Framing](#framing)); the state that takes (batches being filled, parts waiting
//! for the rest of their frame) lives in `framing.rs`.
//!
//! # Layout of a datagram
//! A fixed 24-byte header, little-endian, written by hand (it is a few bytes, not crypto):
//!
//! | offset | size | field | on a mismatch |
//! | --- | --- | --- | --- |
//! | 0 | 2 | magic `b"GY"` | [`Dropped::BadVersion`] |
//! | 2 | 1 | wire version, [`VERSION`] | [`Dropped::BadVersion`] |
//! | 3 | 1 | flags: bit 0 = keyed; bits 1..=2 = the body's kind (below); the other bits must be 0 | [`Dropped::BadVersion`] (kind 3 too); keyed bit: [`Dropped::Unauthenticated`] |
//! | 4 | 4 | group id (`u32`) | [`Dropped::Foreign`] |
//! | 8 | 4 | sender (`u32`) | [`Codec::receive`]'s `sender_ok` false: [`Dropped::Foreign`] |
//! | 12 | 4 | receiver (`u32`) | not this codec's node: [`Dropped::Foreign`] |
//! | 16 | 8 | counter (`u64`), see [Replay](#replay) | [`Dropped::Replayed`] |
//!
//! then the body, then, with a key, a 32-byte BLAKE3 keyed hash over header and body
//! ([`TAG_LEN`]). Frames are written in [postcard](https://docs.rs/postcard)'s compact serde
//! format (variable-length integers, no field names: a `Gms3Msg::Msg` is a handful of
//! bytes), which ends itself: a reader knows where a frame stops without a length.
//!
//! | kind | body | [`Dropped::Malformed`] when |
//! | --- | --- | --- |
//! | 0, frame | one frame | it does not decode, or bytes follow it |
//! | 1, batch | one or more frames, back to back, to the end of the body | it is empty, or any frame does not decode: a batch is taken whole or not at all |
//! | 2, part | the frame's id (`u64`), the part's index and the frame's count of parts (`u32`s), as postcard varints; then the piece, to the end of the body | count is 0 or over [`MAX_PARTS`], index is not below count, the piece is empty or over [`PART_BYTES`] |
//!
//! A frame put back together from its parts is one frame, as kind 0's body; it cannot be a
//! batch or a part (nested framing is not expressible: the kind is the header's).
//!
//! # Framing
//! **Batches** (`--batch`, [`Codec::with_framing`]): a frame shorter than [`BATCH_BYTES`]
//! (and than a datagram under `--max-datagram` holds) waits in its receiver's batch, which
//! is sent when the next frame would take it past that size, or by [`Codec::flush`] at the end
//! of the loop's turn; a batch of one frame goes as kind 0. Any other frame goes at once, on
//! its own (so it can overtake the frames waiting in its receiver's batch).
//!
//! **Parts**: a frame whose datagram would be larger than `--max-datagram` (or than UDP's
//! [`MAX_DATAGRAM`]) is cut into pieces of [`PART_BYTES`], each sent in its own datagram
//! whatever `--max-datagram` says, paced [`PART_GAP`] apart ([`Datagram::pace`]). Its id is
//! the counter of its first part's datagram, so it is unique per sender, across restarts as
//! the counters are ([Replay](#replay)). A frame of more than [`MAX_PARTS`] parts is an
//! [`EncodeError`]. Each part is a datagram like any other: checked, authenticated and
//! windowed on its own. The receiver puts a frame together from the parts of one (sender,
//! id), in any order, a duplicate ignored; a frame whose parts have not all come within 5 s
//! is abandoned (a `fifo` link re-sends it whole; on `raw` a lost part loses the frame, as
//! IP fragmentation would), and at most 64 frames are put together at once (past that the
//! oldest is abandoned). A part that contradicts its frame's first part (another count), or
//! a frame put together that does not decode, is [`Dropped::Malformed`] after its datagram
//! was accepted ([`Received::dropped`]).
//!
//! # Checks, in order
//! Cheapest first, and no state changes before the MAC is verified: size ([`Dropped::Oversized`], [`Dropped::Truncated`]), magic, version and flags
//! ([`Dropped::BadVersion`]), group and receiver ([`Dropped::Foreign`]: a datagram of another
//! group, or for another node, is dropped before its MAC is even computed), keyed-ness and MAC
//! ([`Dropped::Unauthenticated`]), the caller's judgement of the sender it names
//! ([`Codec::receive`]'s `sender_ok`: the runtime checks that the datagram came from that
//! member's address; [`Dropped::Foreign`]), the sender's replay window
//! ([`Dropped::Replayed`]), the body as its kind lays it out ([`Dropped::Malformed`]: every
//! frame of a batch is decoded before the window moves). Only a datagram that passes every
//! check moves its sender's window: one the
//! caller refuses, in particular, cannot push a real sender's window ahead of it (issue 23:
//! an unkeyed heartbeat from a stranger's port naming the leader with counter 2^63 used to
//! make every later datagram of the leader `Replayed`, and the group split).
//!
//! # Authentication
//! With a key ([`Codec::new`]'s `key`), every datagram carries `BLAKE3-keyed(key, header ||
//! body)`, compared in constant time (`blake3::Hash`'s `PartialEq`). A keyed codec drops an
//! unkeyed datagram, and an unkeyed codec a keyed one, both as [`Dropped::Unauthenticated`]:
//! either way the two ends disagree about authentication, which is a configuration error the
//! operator must see under one name.
//!
//! The MAC covers the whole header, so it binds the group, the sender **and the receiver**:
//! a datagram n0 sent to n1, replayed to n2, names receiver 1 and n2 drops it as
//! [`Dropped::Foreign`]; rewriting the receiver field breaks the MAC
//! ([`Dropped::Unauthenticated`]). The receiver is a header field rather than only an input
//! of the MAC so that the check is the same with and without a key, and costs no hash.
//! Unkeyed, the field is the sender's word only, but a datagram naming another receiver is
//! still dropped as foreign: it is misaddressed (a stale `--peers` list, a port reused by
//! another node).
//!
//! Without a key nothing is authenticated: anybody who can
//! reach the socket can forge any sender and counter. From its own port such a datagram is
//! refused by the caller's address check before any window moves; from a spoofed source
//! address (the sender's own) it passes, and can push that sender's window far ahead and so
//! silence it. The window then only guards against the network's own duplicates.
//!
//! # Replay
//! Each codec is one node's and numbers its datagrams with one counter, whatever their
//! receiver: one counter per sender. A receiver keeps,
//! per sender, a sliding window of [`WINDOW`] counters below the highest it accepted, as
//! IPsec and DTLS do (RFC 4303 §3.4.3, RFC 6347 §4.1.2.6): a counter already accepted, or
//! older than the window, is [`Dropped::Replayed`]; datagrams reordered by less than the window
//! are still accepted. The window is wide because a sender's counter also advances for the
//! datagrams it sends to other peers.
//!
//! **A sender that restarts** does not start from 0: its driver starts the counter
//! ([`Codec::start_counter_at`]) at the wall clock's
//! nanoseconds since the Unix epoch. Between two starts of a process more nanoseconds pass
//! than it can send datagrams (that would be a billion a second), so a restarted sender's
//! counters are above everything its previous life sent, and receivers accept it at once
//! without knowing it restarted. This fails only if the wall clock is stepped back by more
//! than the time between the two starts; the new life's datagrams are then `Replayed` by every
//! receiver that heard the old one, until that receiver restarts (or forgets the sender, see
//! below), so a runtime that may restart a node under such a clock should give the restarted
//! node a new sender id. A receiver
//! that restarts starts with empty windows: it cannot tell a replay of a datagram sent before
//! it started; with a key such a replay is at most a genuine old message delivered twice.
//!
//! The windows are bounded: at most [`MAX_SENDERS`] senders are tracked; past that the sender
//! heard from least recently is forgotten (only spoofed senders on an unkeyed group get there).
//!
//! # Hostile input
//! [`Codec::receive`] never panics, and allocates nothing but the decoded frames (and a window
//! when a sender is first heard from, and a part's piece while its frame is put together).
//! The frames are bounded by the datagram's size: postcard pre-allocates a sequence only up
//! to the bytes left in the input, every element of the groupy messages takes at least one
//! byte, and so does every frame of a batch. Parts are bounded by [Framing](#framing)'s
//! limits.

use super::framing::{self, Batches, Body, Kind, Pending, Reassembled, Reassembly};
pub use super::framing::{BATCH_BYTES, MAX_PARTS, PART_BYTES, PART_GAP};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// UDP's largest payload over IPv4 (65,535 minus 8 bytes of UDP and 20 of IP header): a
/// longer datagram is [`Dropped::Oversized`], and a frame that would make one goes in parts.
pub const MAX_DATAGRAM: usize = 65_507;

/// The first two bytes of every groupy datagram.
pub const MAGIC: [u8; 2] = *b"GY";

/// The wire version this codec writes and accepts. 2: the link layer's frames gained
/// `Batch`, which a version-1 node would take for a malformed body. 3: a frame sent in
/// `Part`s is postcard inside, as every other body, not JSON. 4: the header names the
/// receiver, so the MAC binds it. 5: batches and parts are the codec's, told apart by the
/// flags' kind bits, not frames of the link layer (`Frame` lost its `Part` and `Batch`).
pub const VERSION: u8 = 5;

/// Bytes before the body: magic, version, flags, group, sender, receiver, counter.
pub const HEADER_LEN: usize = 24;

/// Bytes of the MAC at the end of a keyed datagram.
pub const TAG_LEN: usize = blake3::OUT_LEN;

/// Width of a sender's replay window, in counter values.
pub const WINDOW: u64 = 1024;

/// Most senders whose replay windows a codec keeps.
pub const MAX_SENDERS: usize = 1024;

const FLAG_KEYED: u8 = 0b0000_0001;
/// The flags' bits that say the body's [`Kind`].
const KIND_BITS: u8 = 0b0000_0110;
const KIND_SHIFT: u32 = 1;
const WINDOW_WORDS: usize = (WINDOW / 64) as usize;

/// Frames the datagrams of one group, for one node, and checks them: the core's only way to
/// the wire.
pub struct Codec {
    group_id: u32,
    key: Option<[u8; 32]>,
    /// The node this codec is for: the sender of what it encodes, the receiver of what it
    /// accepts.
    me: u32,
    /// The counter the next datagram gets.
    counter: AtomicU64,
    replay: Mutex<Replay>,
    /// A frame whose datagram would be larger goes in parts (`--max-datagram`).
    max_datagram: usize,
    /// `--batch`: small frames wait in `batches` until [`Codec::flush`].
    batch: bool,
    batches: Batches,
    reassembly: Reassembly,
    /// Where a frame is encoded before it is known whether it goes alone, in a batch or in
    /// parts; kept, so a send allocates only the datagram it makes.
    scratch: Vec<u8>,
}

/// A datagram [`Codec::send`] or [`Codec::flush`] made, for the caller to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Datagram {
    pub receiver: u32,
    pub bytes: Vec<u8>,
    /// How long after the frame's first datagram this one should leave: the pacing of
    /// parts ([`PART_GAP`]); zero for everything else.
    pub pace: Duration,
}

/// What [`Codec::send`] did with a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sent {
    /// It waits in its receiver's batch.
    Batched,
    /// In a datagram of its own.
    Alone,
    /// Cut into parts, too large for one datagram.
    InParts,
}

/// What an accepted datagram carried ([`Codec::receive`]).
#[derive(Debug, PartialEq)]
pub struct Received<F> {
    /// The sender it names, as the caller's `sender_ok` accepted it.
    pub sender: u32,
    /// Its whole frames, in the order sent: its one frame, a batch's frames, or, for a
    /// part, the frame it completes (none while parts are missing).
    pub frames: Vec<F>,
    /// A part dropped after its datagram was accepted: it contradicts its frame's other
    /// parts, or completes a frame that does not decode. The sender was heard from all the
    /// same.
    pub dropped: Option<Dropped>,
}

/// Why a datagram was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dropped {
    /// Shorter than a header (and, keyed, a MAC).
    Truncated,
    /// Longer than [`MAX_DATAGRAM`].
    Oversized,
    /// Not a groupy datagram of this wire version: wrong magic, version, or unknown flags
    /// (or body kind).
    BadVersion,
    /// A datagram of another group, or naming a sender the caller refuses (not a member, or
    /// not from that member's address).
    Foreign,
    /// The header is fine but the body is not what its kind lays out: a frame that does not
    /// decode (or bytes after it), an empty batch, a part numbered outside its frame; or a
    /// part that contradicts its frame's other parts, or completes a frame that does not
    /// decode (see [`Received::dropped`]).
    Malformed,
    /// Keyed: the MAC does not verify, or the datagram carries none. Unkeyed: the datagram
    /// carries a MAC (the sender has a key, this node has none).
    Unauthenticated,
    /// The sender's counter was already accepted, or is older than the window.
    Replayed,
}

impl Dropped {
    /// Every reason, in the order [`DropCounts`] prints them.
    pub const ALL: [Dropped; 7] = [
        Dropped::Truncated,
        Dropped::Oversized,
        Dropped::BadVersion,
        Dropped::Foreign,
        Dropped::Malformed,
        Dropped::Unauthenticated,
        Dropped::Replayed,
    ];

    /// A short lower-case name, one word, for logs and counters.
    pub fn name(&self) -> &'static str {
        match self {
            Dropped::Truncated => "truncated",
            Dropped::Oversized => "oversized",
            Dropped::BadVersion => "bad_version",
            Dropped::Foreign => "foreign",
            Dropped::Malformed => "malformed",
            Dropped::Unauthenticated => "unauthenticated",
            Dropped::Replayed => "replayed",
        }
    }
}

impl fmt::Display for Dropped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::error::Error for Dropped {}

/// Dropped datagrams counted per reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DropCounts {
    counts: [u64; Dropped::ALL.len()],
}

impl DropCounts {
    pub fn record(&mut self, reason: &Dropped) {
        self.counts[*reason as usize] += 1;
    }

    /// Datagrams dropped for any reason.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    pub fn get(&self, reason: Dropped) -> u64 {
        self.counts[reason as usize]
    }
}

/// `3 dropped: 2 truncated, 1 unauthenticated` (reasons never seen left out), or `0 dropped`.
impl fmt::Display for DropCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} dropped", self.total())?;
        let mut seen = Dropped::ALL.iter().filter(|r| self.get(**r) > 0);
        if let Some(first) = seen.next() {
            write!(f, ": {} {}", self.get(*first), first.name())?;
            for reason in seen {
                write!(f, ", {} {}", self.get(*reason), reason.name())?;
            }
        }
        Ok(())
    }
}

/// A frame [`Codec::send`] could not turn into datagrams.
#[derive(Debug)]
pub struct EncodeError(EncodeFailure);

#[cfg(test)]
impl EncodeError {
    /// Whether the frame is too large (as opposed to not serialisable).
    pub fn is_too_large(&self) -> bool {
        matches!(
            self.0,
            EncodeFailure::TooLarge | EncodeFailure::TooManyParts(_)
        )
    }
}

#[derive(Debug)]
enum EncodeFailure {
    /// Header, frame and MAC would exceed [`MAX_DATAGRAM`] (a frame then goes in parts).
    TooLarge,
    /// The frame, of this many bytes, would take more than [`MAX_PARTS`] parts.
    TooManyParts(usize),
    /// The frame's `Serialize` failed, or asked for what postcard cannot write (a
    /// sequence whose length is not known up front).
    Serialize(postcard::Error),
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            EncodeFailure::TooLarge => write!(
                f,
                "frame too large: a datagram holds at most {MAX_DATAGRAM} bytes"
            ),
            EncodeFailure::TooManyParts(len) => write!(
                f,
                "a frame of {len} bytes is too large: at most {MAX_PARTS} parts of \
                 {PART_BYTES} bytes"
            ),
            EncodeFailure::Serialize(e) => write!(f, "cannot serialise the frame: {e}"),
        }
    }
}

impl std::error::Error for EncodeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.0 {
            EncodeFailure::TooLarge | EncodeFailure::TooManyParts(_) => None,
            EncodeFailure::Serialize(e) => Some(e),
        }
    }
}

impl Codec {
    /// Node `me`'s codec for group `group_id`; with `key`, every datagram is authenticated
    /// with it. It batches nothing, and cuts a frame into parts only past [`MAX_DATAGRAM`]
    /// (see [`Codec::with_framing`]).
    pub fn new(group_id: u32, key: Option<[u8; 32]>, me: u32) -> Codec {
        Codec {
            group_id,
            key,
            me,
            // The driver sets where a life starts (`start_counter_at`): the codec reads no clock.
            counter: AtomicU64::new(0),
            replay: Mutex::new(Replay::default()),
            max_datagram: MAX_DATAGRAM,
            batch: false,
            batches: Batches::default(),
            reassembly: Reassembly::default(),
            scratch: Vec::with_capacity(2048),
        }
    }

    /// The codec, cutting a frame into parts when its datagram would be larger than
    /// `max_datagram` (`--max-datagram`), and with `batch` (`--batch`) putting small frames
    /// to one receiver in one datagram ([Framing](#framing)).
    pub fn with_framing(mut self, max_datagram: usize, batch: bool) -> Codec {
        self.max_datagram = max_datagram.min(MAX_DATAGRAM);
        self.batch = batch;
        self
    }

    /// Numbers the next datagram `first` (a driver's clock, not the codec's, decides where
    /// a life's counter starts: see [Replay](#replay)).
    pub fn start_counter_at(&self, first: u64) {
        self.counter.store(first, Ordering::Relaxed);
    }

    /// Sends `frame` to `receiver`: appends to `out` the datagrams ready to go, in the order
    /// they should leave. With batching that may be none (the frame waits in its receiver's
    /// batch) or the batch the frame did not fit in; otherwise the frame's own datagram, or
    /// its parts. On an error nothing of the frame is sent.
    pub fn send<F: Serialize>(
        &mut self,
        receiver: u32,
        frame: &F,
        out: &mut Vec<Datagram>,
    ) -> Result<Sent, EncodeError> {
        let mut scratch = std::mem::take(&mut self.scratch);
        let sent = self.send_via(receiver, frame, out, &mut scratch);
        self.scratch = scratch;
        sent
    }

    fn send_via<F: Serialize>(
        &mut self,
        receiver: u32,
        frame: &F,
        out: &mut Vec<Datagram>,
        scratch: &mut Vec<u8>,
    ) -> Result<Sent, EncodeError> {
        if self.batch {
            let budget = self.batch_budget();
            scratch.clear();
            // Bounded by the budget, so a large view is not written out twice.
            let written = postcard::serialize_with_flavor(
                frame,
                Bounded {
                    buf: scratch,
                    limit: budget,
                },
            );
            if written.is_ok() && scratch.len() < budget {
                let mut batches = std::mem::take(&mut self.batches);
                let pending = batches.get(receiver);
                if pending.bytes.len() + scratch.len() > budget {
                    self.close(receiver, pending, out);
                }
                pending.frames += 1;
                pending.bytes.extend_from_slice(scratch);
                self.batches = batches;
                return Ok(Sent::Batched);
            }
        }
        match self.encode(receiver, frame, scratch) {
            Ok(()) if scratch.len() <= self.max_datagram => {
                out.push(Datagram {
                    receiver,
                    bytes: scratch.clone(),
                    pace: Duration::ZERO,
                });
                Ok(Sent::Alone)
            }
            Ok(()) | Err(EncodeError(EncodeFailure::TooLarge)) => {
                self.send_in_parts(receiver, frame, out)
            }
            Err(e) => Err(e),
        }
    }

    /// The bytes of frames a batch may hold: [`BATCH_BYTES`], or less if a datagram under
    /// `--max-datagram` holds less.
    fn batch_budget(&self) -> usize {
        let room = self
            .max_datagram
            .saturating_sub(HEADER_LEN + self.tag_len());
        BATCH_BYTES.min(room)
    }

    /// Sends every batch waiting (the end of the loop's turn: nothing is held across a
    /// wait), in receiver order.
    pub fn flush(&mut self, out: &mut Vec<Datagram>) {
        let mut batches = std::mem::take(&mut self.batches);
        for (receiver, pending) in batches.drain() {
            self.close(receiver, pending, out);
        }
        self.batches = batches;
    }

    /// Makes `pending`'s frames to `receiver` one datagram, and empties it.
    fn close(&self, receiver: u32, pending: &mut Pending, out: &mut Vec<Datagram>) {
        let kind = match pending.frames {
            0 => return,
            1 => Kind::Frame,
            _ => Kind::Batch,
        };
        let mut bytes = Vec::with_capacity(HEADER_LEN + pending.bytes.len() + self.tag_len());
        self.start(receiver, kind, &mut bytes);
        // The budget keeps it within `--max-datagram`, so within MAX_DATAGRAM.
        bytes.extend_from_slice(&pending.bytes);
        self.seal(&mut bytes);
        pending.frames = 0;
        pending.bytes.clear();
        out.push(Datagram {
            receiver,
            bytes,
            pace: Duration::ZERO,
        });
    }

    fn send_in_parts<F: Serialize>(
        &self,
        receiver: u32,
        frame: &F,
        out: &mut Vec<Datagram>,
    ) -> Result<Sent, EncodeError> {
        let whole =
            postcard::to_allocvec(frame).map_err(|e| EncodeError(EncodeFailure::Serialize(e)))?;
        if whole.len() > PART_BYTES * MAX_PARTS {
            return Err(EncodeError(EncodeFailure::TooManyParts(whole.len())));
        }
        let count = whole.len().div_ceil(PART_BYTES) as u32;
        let mut id = None;
        for (index, piece) in whole.chunks(PART_BYTES).enumerate() {
            // Up to 20 bytes of varints, and a piece far below MAX_DATAGRAM.
            let mut bytes = Vec::with_capacity(HEADER_LEN + 20 + piece.len() + self.tag_len());
            let counter = self.start(receiver, Kind::Part, &mut bytes);
            let id = *id.get_or_insert(counter);
            framing::put_varint(&mut bytes, id);
            framing::put_varint(&mut bytes, index as u64);
            framing::put_varint(&mut bytes, u64::from(count));
            bytes.extend_from_slice(piece);
            self.seal(&mut bytes);
            out.push(Datagram {
                receiver,
                bytes,
                pace: PART_GAP * index as u32,
            });
        }
        Ok(Sent::InParts)
    }

    /// Checks one datagram and takes out its frames; never panics on any input. A part
    /// is kept until its frame is complete (`now` is when it arrived: an incomplete frame
    /// expires).
    ///
    /// `sender_ok` is the caller's judgement of the sender the datagram names (the runtime's:
    /// is it a member, and did the datagram come from that member's address?). It is asked
    /// once the datagram is authenticated and before the sender's replay window is read or
    /// moved; false drops the datagram as [`Dropped::Foreign`] and leaves every window as it
    /// was, so a datagram the caller would refuse cannot make a real sender's next ones
    /// `Replayed`.
    pub fn receive<F: DeserializeOwned>(
        &mut self,
        datagram: &[u8],
        sender_ok: impl FnOnce(u32) -> bool,
        now: Instant,
    ) -> Result<Received<F>, Dropped> {
        let (sender, body) = self.decode::<F>(datagram, sender_ok)?;
        let part = match body {
            Body::Frames(frames) => {
                return Ok(Received {
                    sender,
                    frames,
                    dropped: None,
                })
            }
            Body::Part(part) => part,
        };
        let whole = match self.reassembly.on_part(sender, part, now) {
            Reassembled::Waiting => Ok(Vec::new()),
            Reassembled::Whole(bytes) => match framing::parse::<F>(Kind::Frame, &bytes) {
                Ok(Body::Frames(frames)) => Ok(frames),
                Ok(Body::Part(_)) | Err(_) => Err(Dropped::Malformed),
            },
            Reassembled::Refused => Err(Dropped::Malformed),
        };
        Ok(match whole {
            Ok(frames) => Received {
                sender,
                frames,
                dropped: None,
            },
            Err(dropped) => Received {
                sender,
                frames: Vec::new(),
                dropped: Some(dropped),
            },
        })
    }

    fn tag_len(&self) -> usize {
        if self.key.is_some() {
            TAG_LEN
        } else {
            0
        }
    }

    /// Writes the header of a datagram to `receiver` whose body is of `kind` into `buf`
    /// (cleared first), numbering it with the next counter, which it returns.
    fn start(&self, receiver: u32, kind: Kind, buf: &mut Vec<u8>) -> u64 {
        buf.clear();
        let counter = self.counter.fetch_add(1, Ordering::Relaxed);
        let keyed = if self.key.is_some() { FLAG_KEYED } else { 0 };
        buf.extend_from_slice(&MAGIC);
        buf.push(VERSION);
        buf.push(keyed | (kind as u8) << KIND_SHIFT);
        buf.extend_from_slice(&self.group_id.to_le_bytes());
        buf.extend_from_slice(&self.me.to_le_bytes());
        buf.extend_from_slice(&receiver.to_le_bytes());
        buf.extend_from_slice(&counter.to_le_bytes());
        debug_assert_eq!(buf.len(), HEADER_LEN);
        counter
    }

    /// Appends the MAC, with a key, to a datagram whose header and body are written.
    fn seal(&self, buf: &mut Vec<u8>) {
        if let Some(key) = &self.key {
            let tag = blake3::keyed_hash(key, buf);
            buf.extend_from_slice(tag.as_bytes());
        }
        debug_assert!(buf.len() <= MAX_DATAGRAM);
    }

    /// Writes one datagram carrying `frame` alone, from this codec's node to `receiver`, into
    /// `buf` (cleared first). On an error `buf` is left empty.
    fn encode<F: Serialize>(
        &self,
        receiver: u32,
        frame: &F,
        buf: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        self.start(receiver, Kind::Frame, buf);
        let limit = MAX_DATAGRAM - self.tag_len();
        let written = postcard::serialize_with_flavor(frame, Bounded { buf, limit });
        if let Err(e) = written {
            buf.clear();
            return Err(EncodeError(match e {
                postcard::Error::SerializeBufferFull => EncodeFailure::TooLarge,
                e => EncodeFailure::Serialize(e),
            }));
        }
        self.seal(buf);
        Ok(())
    }

    /// Checks one datagram and parses its body, every check of the module doc's
    /// [Checks](#checks-in-order) passed before the sender's window moves.
    fn decode<'d, F: DeserializeOwned>(
        &self,
        datagram: &'d [u8],
        sender_ok: impl FnOnce(u32) -> bool,
    ) -> Result<(u32, Body<'d, F>), Dropped> {
        if datagram.len() > MAX_DATAGRAM {
            return Err(Dropped::Oversized);
        }
        let Some((header, rest)) = datagram.split_first_chunk::<HEADER_LEN>() else {
            return Err(Dropped::Truncated);
        };
        let header = Header::read(header)?;
        if header.group_id != self.group_id || header.receiver != self.me {
            return Err(Dropped::Foreign);
        }
        let body = match (&self.key, header.keyed) {
            (None, false) => rest,
            (Some(key), true) => {
                let Some((signed, tag)) = datagram.split_last_chunk::<TAG_LEN>() else {
                    return Err(Dropped::Truncated);
                };
                if signed.len() < HEADER_LEN {
                    return Err(Dropped::Truncated);
                }
                // Constant time: `Hash`'s `PartialEq` is `constant_time_eq`.
                if blake3::keyed_hash(key, signed) != *tag {
                    return Err(Dropped::Unauthenticated);
                }
                &signed[HEADER_LEN..]
            }
            (None, true) | (Some(_), false) => return Err(Dropped::Unauthenticated),
        };
        if !sender_ok(header.sender) {
            return Err(Dropped::Foreign);
        }
        // Checked before the body is decoded, so a replay costs no deserialisation; checked
        // again (and recorded) after, as another thread may have accepted the same counter
        // meanwhile.
        if !self.lock().is_fresh(header.sender, header.counter) {
            return Err(Dropped::Replayed);
        }
        let body = framing::parse::<F>(header.kind, body)?;
        if !self.lock().accept(header.sender, header.counter) {
            return Err(Dropped::Replayed);
        }
        Ok((header.sender, body))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Replay> {
        // The lock is never held across anything that can panic; if it were poisoned, the
        // windows would still be consistent (every update is a few plain stores).
        self.replay.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for Codec {
    /// Leaves the key out.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Codec")
            .field("group_id", &self.group_id)
            .field("me", &self.me)
            .field("keyed", &self.key.is_some())
            .field("counter", &self.counter.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// The fields of a header whose magic, version and flags were valid.
struct Header {
    keyed: bool,
    kind: Kind,
    group_id: u32,
    sender: u32,
    receiver: u32,
    counter: u64,
}

impl Header {
    fn read(h: &[u8; HEADER_LEN]) -> Result<Header, Dropped> {
        let [m0, m1, version, flags, g0, g1, g2, g3, s0, s1, s2, s3, r0, r1, r2, r3, c @ ..] = *h;
        if [m0, m1] != MAGIC || version != VERSION || flags & !(FLAG_KEYED | KIND_BITS) != 0 {
            return Err(Dropped::BadVersion);
        }
        let kind = Kind::from_code((flags & KIND_BITS) >> KIND_SHIFT).ok_or(Dropped::BadVersion)?;
        Ok(Header {
            keyed: flags & FLAG_KEYED != 0,
            kind,
            group_id: u32::from_le_bytes([g0, g1, g2, g3]),
            sender: u32::from_le_bytes([s0, s1, s2, s3]),
            receiver: u32::from_le_bytes([r0, r1, r2, r3]),
            counter: u64::from_le_bytes(c),
        })
    }
}

/// A postcard output that appends to the caller's buffer and fails once it would pass
/// `limit` bytes, so an oversized message is refused before it is fully written.
struct Bounded<'a> {
    buf: &'a mut Vec<u8>,
    limit: usize,
}

impl postcard::ser_flavors::Flavor for Bounded<'_> {
    type Output = ();

    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        if data.len() > self.limit - self.buf.len() {
            return Err(postcard::Error::SerializeBufferFull);
        }
        self.buf.extend_from_slice(data);
        Ok(())
    }

    fn try_push(&mut self, data: u8) -> postcard::Result<()> {
        self.try_extend(&[data])
    }

    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

/// Every tracked sender's window.
#[derive(Default)]
struct Replay {
    windows: HashMap<u32, Window>,
    /// Counts accepted datagrams: when a window last moved, for forgetting the stalest.
    clock: u64,
}

impl Replay {
    fn is_fresh(&self, sender: u32, counter: u64) -> bool {
        self.windows
            .get(&sender)
            .is_none_or(|w| w.is_fresh(counter))
    }

    /// Records `counter` as seen; false if it was not fresh.
    fn accept(&mut self, sender: u32, counter: u64) -> bool {
        self.clock += 1;
        let clock = self.clock;
        if let Some(window) = self.windows.get_mut(&sender) {
            window.used = clock;
            return window.accept(counter);
        }
        if self.windows.len() >= MAX_SENDERS {
            // O(MAX_SENDERS), but only when a new sender arrives at a full table.
            let stalest = self.windows.iter().min_by_key(|(_, w)| w.used);
            if let Some((&stalest, _)) = stalest {
                self.windows.remove(&stalest);
            }
        }
        self.windows
            .insert(sender, Window::starting_at(counter, clock));
        true
    }
}

/// The counters accepted from one sender: the highest, and a bitmap of the [`WINDOW`] values
/// up to it, kept as a ring (bit `c % WINDOW` stands for counter `c`).
struct Window {
    top: u64,
    seen: [u64; WINDOW_WORDS],
    used: u64,
}

impl Window {
    fn starting_at(counter: u64, used: u64) -> Window {
        let mut window = Window {
            top: counter,
            seen: [0; WINDOW_WORDS],
            used,
        };
        window.set(counter);
        window
    }

    fn is_fresh(&self, counter: u64) -> bool {
        counter > self.top || (self.top - counter < WINDOW && !self.get(counter))
    }

    fn accept(&mut self, counter: u64) -> bool {
        if !self.is_fresh(counter) {
            return false;
        }
        if counter > self.top {
            let advance = counter - self.top;
            if advance >= WINDOW {
                self.seen = [0; WINDOW_WORDS];
            } else {
                // Usually a step of one or a few; at most WINDOW - 1 bits.
                for c in self.top + 1..counter {
                    self.clear(c);
                }
                self.clear(counter);
            }
            self.top = counter;
        }
        self.set(counter);
        true
    }

    fn slot(counter: u64) -> (usize, u64) {
        let bit = counter % WINDOW;
        ((bit / 64) as usize, 1 << (bit % 64))
    }

    fn get(&self, counter: u64) -> bool {
        let (word, mask) = Window::slot(counter);
        self.seen[word] & mask != 0
    }

    fn set(&mut self, counter: u64) {
        let (word, mask) = Window::slot(counter);
        self.seen[word] |= mask;
    }

    fn clear(&mut self, counter: u64) {
        let (word, mask) = Window::slot(counter);
        self.seen[word] &= !mask;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use groupy_model::app::{App, Event, Payload};
    use groupy_model::gms3::Gms3Msg;
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};
    use stateright::actor::Id;
    use std::time::Instant;

    const KEY: [u8; 32] = [7; 32];
    const GROUP: u32 = 0x6772_7079;

    fn payload(from: usize, seq: u32) -> Payload {
        Payload::issued_by(Id::from(from), seq)
    }

    /// One value of every variant, the view with a long log handed to a joiner.
    fn every_variant() -> Vec<Gms3Msg> {
        let peers: Vec<Id> = (0..5).map(Id::from).collect();
        let mut app = App::default();
        app.deliver(Event::View(peers.clone()));
        for seq in 0..40 {
            app.deliver(Event::Deliver(payload(seq as usize % 5, seq)));
        }
        vec![
            Gms3Msg::Mcast(payload(2, 9)),
            Gms3Msg::Join(Id::from(4)),
            Gms3Msg::Join(Id::from(u32::MAX as usize)),
            Gms3Msg::Msg(u32::MAX, payload(0, 0)),
            Gms3Msg::View(3, peers, app),
            Gms3Msg::View(0, vec![], App::default()),
        ]
    }

    /// The receiving node of the tests' datagrams.
    const RX: u32 = 100;

    /// Node `me`'s codec in the tests' group.
    fn node(key: Option<[u8; 32]>, me: u32) -> Codec {
        Codec::new(GROUP, key, me)
    }

    /// A datagram from `codec`'s node to [`RX`].
    fn encoded(codec: &Codec, msg: &Gms3Msg) -> Vec<u8> {
        let mut buf = Vec::new();
        codec.encode(RX, msg, &mut buf).unwrap();
        buf
    }

    /// Accepts every sender, as a caller without an address book would.
    fn any(_sender: u32) -> bool {
        true
    }

    fn dropped(codec: &Codec, datagram: &[u8]) -> Dropped {
        codec.decode_one::<Gms3Msg>(datagram, any).unwrap_err()
    }

    impl Codec {
        /// Checks a datagram that carries one frame, and decodes the frame.
        fn decode_one<M: DeserializeOwned>(
            &self,
            datagram: &[u8],
            sender_ok: impl FnOnce(u32) -> bool,
        ) -> Result<(u32, M), Dropped> {
            let (sender, Body::Frames(mut frames)) = self.decode::<M>(datagram, sender_ok)? else {
                panic!("a part, not one frame");
            };
            assert_eq!(frames.len(), 1, "a batch, not one frame");
            Ok((sender, frames.remove(0)))
        }
    }

    #[test]
    fn codec_round_trips_every_gms3_variant() {
        for key in [None, Some(KEY)] {
            let rx = node(key, RX);
            let mut buf = Vec::new();
            for (i, msg) in every_variant().into_iter().enumerate() {
                let sender = i as u32 * 1000;
                node(key, sender).encode(RX, &msg, &mut buf).unwrap();
                assert_eq!(rx.decode_one::<Gms3Msg>(&buf, any), Ok((sender, msg)));
            }
        }
    }

    #[test]
    fn codec_is_send_and_sync() {
        fn shareable<T: Send + Sync>() {}
        shareable::<Codec>();
    }

    #[test]
    fn codec_datagrams_are_compact() {
        let tx = node(None, 1);
        let msg = Gms3Msg::Msg(17, payload(2, 3));
        // Header, then variant, number, sender, seq and value in a byte each.
        assert_eq!(encoded(&tx, &msg).len(), HEADER_LEN + 5);
        let keyed = node(Some(KEY), 1);
        assert_eq!(encoded(&keyed, &msg).len(), HEADER_LEN + 5 + TAG_LEN);
    }

    #[test]
    fn codec_header_is_little_endian_at_fixed_offsets() {
        let tx = Codec::new(0x0403_0201, Some(KEY), 0x0d0c_0b0a);
        tx.counter.store(0x0807_0605_0403_0201, Ordering::Relaxed);
        let mut buf = Vec::new();
        tx.encode(0x1716_1514, &Gms3Msg::Join(Id::from(1)), &mut buf)
            .unwrap();
        assert_eq!(
            buf[..HEADER_LEN],
            [
                b'G', b'Y', VERSION, 1, 1, 2, 3, 4, 10, 11, 12, 13, 20, 21, 22, 23, 1, 2, 3, 4, 5,
                6, 7, 8
            ]
        );
    }

    #[test]
    fn codec_encode_reuses_the_buffer_and_numbers_datagrams() {
        let tx = node(None, 1);
        let mut buf = vec![0xaa; 100];
        tx.encode(1, &Gms3Msg::Join(Id::from(1)), &mut buf).unwrap();
        let first = u64::from_le_bytes(buf[16..24].try_into().unwrap());
        assert_eq!(buf[..2], MAGIC);
        tx.encode(1, &Gms3Msg::Join(Id::from(1)), &mut buf).unwrap();
        let second = u64::from_le_bytes(buf[16..24].try_into().unwrap());
        assert_eq!(second, first + 1);
    }

    #[test]
    fn codec_refuses_a_message_larger_than_a_datagram() {
        for key in [None, Some(KEY)] {
            let tx = node(key, 1);
            let tag = if key.is_some() { TAG_LEN } else { 0 };
            let mut buf = Vec::new();
            // A byte vector is a 3-byte length then its bytes: fill the datagram exactly.
            let fits = vec![0u8; MAX_DATAGRAM - HEADER_LEN - tag - 3];
            tx.encode(RX, &fits, &mut buf).unwrap();
            assert_eq!(buf.len(), MAX_DATAGRAM);
            let rx = node(key, RX);
            assert_eq!(rx.decode_one::<Vec<u8>>(&buf, any), Ok((1, fits)));

            let too_large = vec![0u8; MAX_DATAGRAM - HEADER_LEN - tag - 2];
            let err = tx.encode(RX, &too_large, &mut buf).unwrap_err();
            assert!(err.is_too_large(), "{err}");
            assert!(buf.is_empty());
        }
    }

    #[test]
    fn codec_drops_every_reason_for_a_crafted_datagram() {
        let msg = Gms3Msg::Msg(3, payload(1, 2));
        for key in [None, Some(KEY)] {
            let tx = node(key, 5);
            let rx = node(key, RX);
            let good = encoded(&tx, &msg);

            assert_eq!(dropped(&rx, &good[..HEADER_LEN - 1]), Dropped::Truncated);
            assert_eq!(dropped(&rx, &[]), Dropped::Truncated);
            let oversized = vec![0; MAX_DATAGRAM + 1];
            assert_eq!(dropped(&rx, &oversized), Dropped::Oversized);

            // Byte 3: an unknown flag, and the body kind no sender writes.
            for (offset, value) in [(0, b'g'), (1, 0), (2, VERSION + 1), (3, 0b1000), (3, 0b110)] {
                let mut bad = good.clone();
                bad[offset] = value;
                assert_eq!(dropped(&rx, &bad), Dropped::BadVersion, "byte {offset}");
            }

            let other_group = Codec::new(GROUP + 1, key, 5);
            assert_eq!(dropped(&rx, &encoded(&other_group, &msg)), Dropped::Foreign);
            // Issue 23: a datagram for another node, keyed or not, is foreign there.
            let third = node(key, RX + 1);
            assert_eq!(dropped(&third, &good), Dropped::Foreign);

            // A well-formed datagram of another message type: variant 200 of a u8.
            let mut wrong = Vec::new();
            tx.encode(RX, &200u8, &mut wrong).unwrap();
            assert_eq!(dropped(&rx, &wrong), Dropped::Malformed);
            tx.encode(RX, &(msg.clone(), 0u8), &mut wrong).unwrap();
            assert_eq!(dropped(&rx, &wrong), Dropped::Malformed, "trailing bytes");

            assert_eq!(rx.decode_one(&good, any), Ok((5, msg.clone())));
            assert_eq!(dropped(&rx, &good), Dropped::Replayed);
        }

        // Keyed only: a datagram cut inside its MAC, a forged or altered one, and the two
        // authentication mismatches.
        let keyed = node(Some(KEY), 5);
        let unkeyed = node(None, 5);
        let rx = node(Some(KEY), RX);
        let good = encoded(&keyed, &msg);
        assert_eq!(dropped(&rx, &good[..HEADER_LEN + 3]), Dropped::Truncated);
        let mut altered = good.clone();
        altered[HEADER_LEN] ^= 1;
        assert_eq!(dropped(&rx, &altered), Dropped::Unauthenticated);
        let mut resent_as = good.clone();
        resent_as[8] ^= 1; // the sender
        assert_eq!(dropped(&rx, &resent_as), Dropped::Unauthenticated);
        let mut readdressed = good.clone();
        readdressed[12..16].copy_from_slice(&(RX + 1).to_le_bytes());
        let third = node(Some(KEY), RX + 1);
        assert_eq!(dropped(&third, &readdressed), Dropped::Unauthenticated);
        let stranger = node(Some([8; 32]), 5);
        assert_eq!(
            dropped(&rx, &encoded(&stranger, &msg)),
            Dropped::Unauthenticated
        );
        assert_eq!(
            dropped(&rx, &encoded(&unkeyed, &msg)),
            Dropped::Unauthenticated
        );
        let open_rx = node(None, RX);
        assert_eq!(dropped(&open_rx, &good), Dropped::Unauthenticated);
        assert_eq!(rx.decode_one(&good, any), Ok((5, msg)));
    }

    #[test]
    fn codec_strangers_datagram_changes_nothing() {
        let genuine = node(Some(KEY), 3);
        let stranger = node(Some([9; 32]), 3);
        let rx = node(Some(KEY), RX);
        let msg = Gms3Msg::Mcast(payload(3, 1));
        // Establish the sender's window, then let a stranger claim the next counters.
        genuine.counter.store(1_000, Ordering::Relaxed);
        assert!(rx
            .decode_one::<Gms3Msg>(&encoded(&genuine, &msg), any)
            .is_ok());
        stranger.counter.store(1_001, Ordering::Relaxed);
        for _ in 0..2 * WINDOW {
            let forged = encoded(&stranger, &msg);
            assert_eq!(dropped(&rx, &forged), Dropped::Unauthenticated);
        }
        // The genuine sender's next counters are still fresh, including 1,001.
        assert_eq!(
            rx.decode_one(&encoded(&genuine, &msg), any),
            Ok((3, msg.clone()))
        );
        genuine.counter.store(1_000 + 2 * WINDOW, Ordering::Relaxed);
        assert_eq!(rx.decode_one(&encoded(&genuine, &msg), any), Ok((3, msg)));
    }

    /// Issue 23: unkeyed, a stranger can name any sender and counter, but the caller refuses
    /// the datagram (it did not come from that sender's address): that must leave the
    /// sender's window where it was, or the real sender's next datagrams are `Replayed`.
    #[test]
    fn codec_a_refused_sender_moves_no_window() {
        for key in [None, Some(KEY)] {
            let genuine = node(key, 0);
            let forger = node(key, 0);
            let rx = node(key, RX);
            let msg = Gms3Msg::Join(Id::from(1));
            assert!(rx
                .decode_one::<Gms3Msg>(&encoded(&genuine, &msg), any)
                .is_ok());
            forger.counter.store(1 << 63, Ordering::Relaxed);
            let forged = encoded(&forger, &msg);
            let mut asked = None;
            let refuse = |sender| {
                asked = Some(sender);
                false
            };
            assert_eq!(
                rx.decode_one::<Gms3Msg>(&forged, refuse),
                Err(Dropped::Foreign)
            );
            assert_eq!(asked, Some(0), "the caller is told the sender named");
            assert_eq!(
                rx.decode_one(&encoded(&genuine, &msg), any),
                Ok((0, msg.clone()))
            );
            // Refused, it is not recorded as seen either: accepted later, it is fresh.
            assert_eq!(rx.decode_one(&forged, any), Ok((0, msg)));
        }
    }

    /// Issue 23: keyed, a datagram n0 sent to n1, replayed to n2 (from n0's own address, so
    /// the caller's address check passes), is dropped there and counted; n1 still takes it.
    #[test]
    fn codec_a_datagram_replayed_to_a_third_node_is_dropped_and_counted() {
        let (n0, n1, n2) = (node(Some(KEY), 0), node(Some(KEY), 1), node(Some(KEY), 2));
        let msg = Gms3Msg::Msg(1, payload(0, 0));
        let mut to_n1 = Vec::new();
        n0.encode(1, &msg, &mut to_n1).unwrap();
        let mut drops = DropCounts::default();
        match n2.decode_one::<Gms3Msg>(&to_n1, any) {
            Ok(got) => panic!("n2 accepted n1's datagram: {got:?}"),
            Err(reason) => drops.record(&reason),
        }
        assert_eq!(drops.get(Dropped::Foreign), 1, "{drops}");
        assert_eq!(n1.decode_one(&to_n1, any), Ok((0, msg)));
    }

    #[test]
    fn codec_window_accepts_reordering_and_rejects_duplicates_and_stale() {
        let tx = node(None, 1);
        let rx = node(None, RX);
        let msg = Gms3Msg::Join(Id::from(1));
        let sent: Vec<Vec<u8>> = (0..WINDOW + 10).map(|_| encoded(&tx, &msg)).collect();
        // Newest first, then the others in reverse: all within the window but the oldest 10.
        let newest = sent.len() - 1;
        assert!(rx.decode_one::<Gms3Msg>(&sent[newest], any).is_ok());
        for (i, datagram) in sent.iter().enumerate().rev().skip(1) {
            let expect_fresh = newest - i < WINDOW as usize;
            let got = rx.decode_one::<Gms3Msg>(datagram, any).map(|_| ());
            let want = if expect_fresh {
                Ok(())
            } else {
                Err(Dropped::Replayed)
            };
            assert_eq!(got, want, "datagram {i}");
        }
        for datagram in &sent {
            assert_eq!(dropped(&rx, datagram), Dropped::Replayed);
        }
        // A jump of more than the window clears it: only the new counter counts as seen.
        tx.counter.fetch_add(5 * WINDOW, Ordering::Relaxed);
        let later = encoded(&tx, &msg);
        assert!(rx.decode_one::<Gms3Msg>(&later, any).is_ok());
        assert_eq!(dropped(&rx, &later), Dropped::Replayed);
        assert_eq!(dropped(&rx, &sent[newest]), Dropped::Replayed);
    }

    #[test]
    fn codec_restarted_sender_is_accepted_at_once() {
        let rx = node(Some(KEY), RX);
        let msg = Gms3Msg::Mcast(payload(1, 0));
        // Each life's driver starts the counter at its clock's nanoseconds (core.rs): the
        // second life starts a millisecond after the first.
        let first_life = node(Some(KEY), 1);
        first_life.start_counter_at(1_764_547_200_000 * 1_000_000);
        for _ in 0..100 {
            assert!(rx
                .decode_one::<Gms3Msg>(&encoded(&first_life, &msg), any)
                .is_ok());
        }
        let second_life = node(Some(KEY), 1);
        second_life.start_counter_at((1_764_547_200_000 + 1) * 1_000_000);
        assert_eq!(
            rx.decode_one(&encoded(&second_life, &msg), any),
            Ok((1, msg))
        );
    }

    #[test]
    fn codec_tracks_a_bounded_number_of_senders() {
        let rx = node(None, RX);
        let msg = Gms3Msg::Join(Id::from(1));
        for sender in 0..3 * MAX_SENDERS as u32 {
            assert!(rx
                .decode_one::<Gms3Msg>(&encoded(&node(None, sender), &msg), any)
                .is_ok());
        }
        assert_eq!(rx.lock().windows.len(), MAX_SENDERS);
        // The most recent senders are the ones kept.
        assert!(rx
            .lock()
            .windows
            .contains_key(&(3 * MAX_SENDERS as u32 - 1)));
        assert!(!rx.lock().windows.contains_key(&0));
    }

    #[test]
    fn codec_drop_counts_display_and_add_up() {
        let mut counts = DropCounts::default();
        assert_eq!(counts.to_string(), "0 dropped");
        counts.record(&Dropped::Unauthenticated);
        counts.record(&Dropped::Truncated);
        counts.record(&Dropped::Truncated);
        assert_eq!(
            counts.to_string(),
            "3 dropped: 2 truncated, 1 unauthenticated"
        );
        assert_eq!(counts.total(), 3);
        assert_eq!(counts.get(Dropped::Truncated), 2);
        assert_eq!(counts.get(Dropped::Replayed), 0);
        for (i, reason) in Dropped::ALL.iter().enumerate() {
            assert_eq!(*reason as usize, i);
            assert!(!reason.name().contains(' '));
        }
    }

    /// A datagram from `codec`'s node to [`RX`] whose body is `body`, of `kind`, framed and
    /// sealed as the codec would: for bodies the codec never writes.
    fn crafted(codec: &Codec, kind: Kind, body: &[u8]) -> Vec<u8> {
        let mut buf = Vec::new();
        codec.start(RX, kind, &mut buf);
        buf.extend_from_slice(body);
        codec.seal(&mut buf);
        buf
    }

    /// The body of a part.
    fn part_body(id: u64, index: u64, count: u64, piece: &[u8]) -> Vec<u8> {
        let mut body = Vec::new();
        for n in [id, index, count] {
            framing::put_varint(&mut body, n);
        }
        body.extend_from_slice(piece);
        body
    }

    /// The frames of the test datagrams, each as the tests' receiver takes them.
    fn received(rx: &mut Codec, datagrams: &[Datagram], t: Instant) -> Vec<Received<Gms3Msg>> {
        datagrams
            .iter()
            .map(|d| rx.receive::<Gms3Msg>(&d.bytes, any, t).unwrap())
            .collect()
    }

    fn flags(datagram: &[u8]) -> u8 {
        datagram[3]
    }

    #[test]
    fn codec_batch_round_trips_in_order_per_receiver() {
        let t0 = Instant::now();
        for key in [None, Some(KEY)] {
            let mut tx = node(key, 1).with_framing(MAX_DATAGRAM, true);
            let mut rx = node(key, RX);
            let mut other = node(key, RX + 1);
            let msgs: Vec<Gms3Msg> = (0..5).map(|i| Gms3Msg::Msg(i, payload(1, i))).collect();
            let mut out = Vec::new();
            // Interleaved with a frame to another receiver, which goes in a batch of its own.
            for (i, msg) in msgs.iter().enumerate() {
                assert_eq!(tx.send(RX, msg, &mut out).unwrap(), Sent::Batched);
                if i == 2 {
                    tx.send(RX + 1, &msgs[0], &mut out).unwrap();
                }
            }
            assert!(out.is_empty(), "nothing leaves before the flush");
            tx.flush(&mut out);
            assert_eq!(out.len(), 2);
            assert_eq!((out[0].receiver, out[1].receiver), (RX, RX + 1));
            assert_eq!(flags(&out[0].bytes) >> KIND_SHIFT, Kind::Batch as u8);
            // A batch of one goes as a lone frame.
            assert_eq!(flags(&out[1].bytes) >> KIND_SHIFT, Kind::Frame as u8);
            let got = rx.receive::<Gms3Msg>(&out[0].bytes, any, t0).unwrap();
            assert_eq!(
                (got.sender, got.frames, got.dropped),
                (1, msgs.clone(), None)
            );
            let got = other.receive::<Gms3Msg>(&out[1].bytes, any, t0).unwrap();
            assert_eq!(got.frames, vec![msgs[0].clone()]);
            // Flushed, the batches are empty.
            out.clear();
            tx.flush(&mut out);
            assert!(out.is_empty());
        }
    }

    #[test]
    fn codec_a_full_batch_goes_before_the_frame_that_would_overfill_it() {
        let t0 = Instant::now();
        for key in [None, Some(KEY)] {
            // 1,200 bytes at most: the batches are cut by the datagram, not by BATCH_BYTES.
            let mut tx = node(key, 1).with_framing(1200, true);
            let mut rx = node(key, RX);
            let msgs: Vec<Gms3Msg> = (0..600).map(|i| Gms3Msg::Msg(i, payload(1, i))).collect();
            let mut out = Vec::new();
            for msg in &msgs {
                assert_eq!(tx.send(RX, msg, &mut out).unwrap(), Sent::Batched);
            }
            tx.flush(&mut out);
            assert!(out.len() > 3, "{} datagrams", out.len());
            assert!(out.iter().all(|d| d.bytes.len() <= 1200));
            let frames: Vec<Gms3Msg> = received(&mut rx, &out, t0)
                .into_iter()
                .flat_map(|r| r.frames)
                .collect();
            assert_eq!(frames, msgs, "every frame, once, in order");
            // A frame too large for a batch goes at once (here in a part), ahead of the
            // batch waiting.
            out.clear();
            tx.send(RX, &msgs[0], &mut out).unwrap();
            assert_eq!(
                tx.send(RX, &long_view(300), &mut out).unwrap(),
                Sent::InParts
            );
            assert_eq!(out.len(), 1);
            tx.flush(&mut out);
            let got = received(&mut rx, &out, t0);
            assert_eq!(got[0].frames, vec![long_view(300)]);
            assert_eq!(got[1].frames, vec![msgs[0].clone()]);
        }
    }

    #[test]
    fn codec_parts_round_trip_paced_and_within_their_size() {
        let t0 = Instant::now();
        let big = long_view(6_000);
        for key in [None, Some(KEY)] {
            let mut tx = node(key, 1).with_framing(1200, false);
            let mut rx = node(key, RX);
            let mut out = Vec::new();
            assert_eq!(tx.send(RX, &big, &mut out).unwrap(), Sent::InParts);
            assert!(out.len() >= 3, "{} parts", out.len());
            let tag = if key.is_some() { TAG_LEN } else { 0 };
            for (i, d) in out.iter().enumerate() {
                assert_eq!(d.pace, PART_GAP * i as u32);
                assert!(d.bytes.len() <= HEADER_LEN + 20 + PART_BYTES + tag);
                assert_eq!(flags(&d.bytes) >> KIND_SHIFT, Kind::Part as u8);
            }
            let got = received(&mut rx, &out, t0);
            let (last, before) = got.split_last().unwrap();
            assert!(before
                .iter()
                .all(|r| r.frames.is_empty() && r.dropped.is_none()));
            assert_eq!((last.sender, &last.frames), (1, &vec![big.clone()]));
            // Without --max-datagram, the same view goes in one datagram.
            let mut whole = Vec::new();
            let mut open = node(key, 1);
            assert_eq!(open.send(RX, &big, &mut whole).unwrap(), Sent::Alone);
        }
    }

    #[test]
    fn codec_reassembles_parts_out_of_order_and_ignores_duplicate_parts() {
        let t0 = Instant::now();
        let big = long_view(6_000);
        for key in [None, Some(KEY)] {
            let mut tx = node(key, 1).with_framing(1200, false);
            let mut rx = node(key, RX);
            let mut out = Vec::new();
            tx.send(RX, &big, &mut out).unwrap();
            let count = out.len() as u64;
            // The frame's id is its first part's counter; a part sent again is a new datagram.
            let id = u64::from_le_bytes(out[0].bytes[16..24].try_into().unwrap());
            let whole = postcard::to_allocvec(&big).unwrap();
            let piece = &whole[PART_BYTES..2 * PART_BYTES];
            let again = crafted(&tx, Kind::Part, &part_body(id, 1, count, piece));
            let mut order: Vec<Vec<u8>> = out.iter().rev().map(|d| d.bytes.clone()).collect();
            order.insert(1, again.clone());
            let last = order.pop().unwrap();
            for datagram in &order {
                let got = rx.receive::<Gms3Msg>(datagram, any, t0).unwrap();
                assert_eq!((got.frames.len(), got.dropped), (0, None));
            }
            let got = rx.receive::<Gms3Msg>(&last, any, t0).unwrap();
            assert_eq!(got.frames, vec![big.clone()], "once, whole");
            // The same datagram again is a replay; the same part in a fresh one starts a
            // frame that will never be complete, and expires.
            assert_eq!(
                rx.receive::<Gms3Msg>(&last, any, t0),
                Err(Dropped::Replayed)
            );
            let again = crafted(&tx, Kind::Part, &part_body(id, 1, count, piece));
            let got = rx.receive::<Gms3Msg>(&again, any, t0).unwrap();
            assert!(got.frames.is_empty());
            assert_eq!(rx.reassembly.pending(), 1);
        }
    }

    /// A frame larger than [`MAX_PARTS`] parts hold, written with `serialize_bytes` so the
    /// test does not push 12 MB through postcard one byte at a time.
    struct Blob(usize);

    impl Serialize for Blob {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(&vec![0; self.0])
        }
    }

    #[test]
    fn codec_refuses_a_frame_of_too_many_parts() {
        let mut tx = node(Some(KEY), 1).with_framing(1200, true);
        let mut out = Vec::new();
        let err = tx
            .send(RX, &Blob(PART_BYTES * MAX_PARTS), &mut out)
            .unwrap_err();
        assert!(err.is_too_large(), "{err}");
        assert!(err.to_string().contains("1024 parts"), "{err}");
        assert!(out.is_empty());
        // Just below the limit it goes, in MAX_PARTS parts.
        let sent = tx.send(RX, &Blob(PART_BYTES * MAX_PARTS - 8), &mut out);
        assert_eq!(sent.unwrap(), Sent::InParts);
        assert_eq!(out.len(), MAX_PARTS);
    }

    #[test]
    fn codec_drops_malformed_batches_and_parts_and_counts_each_once() {
        let t0 = Instant::now();
        let msg = Gms3Msg::Msg(3, payload(1, 2));
        let one = postcard::to_allocvec(&msg).unwrap();
        for key in [None, Some(KEY)] {
            let tx = node(key, 5);
            let mut rx = node(key, RX);
            let mut drops = DropCounts::default();
            let feed = |rx: &mut Codec, datagram: &[u8], drops: &mut DropCounts| match rx
                .receive::<Gms3Msg>(datagram, any, t0)
            {
                Ok(got) => {
                    assert!(got.frames.is_empty(), "{:?}", got.frames);
                    let reason = got.dropped.expect("a dropped part");
                    drops.record(&reason);
                    reason
                }
                Err(reason) => {
                    drops.record(&reason);
                    reason
                }
            };
            let garbage = [0xff; 7];
            let two = [one.clone(), one.clone()].concat();
            let nested_batch = crafted(&tx, Kind::Batch, &two);
            let too_many = MAX_PARTS as u64 + 1;
            let malformed = [
                crafted(&tx, Kind::Batch, &[]),
                crafted(&tx, Kind::Batch, &[one.as_slice(), &garbage].concat()),
                crafted(&tx, Kind::Batch, &two[..two.len() - 1]),
                crafted(&tx, Kind::Frame, &two),
                crafted(&tx, Kind::Frame, &[]),
                // Nested: a batch datagram inside a batch, a part's inside a part.
                crafted(&tx, Kind::Batch, &nested_batch),
                crafted(&tx, Kind::Part, &part_body(1, 1, 1, b"x")),
                crafted(&tx, Kind::Part, &part_body(1, 0, 0, b"x")),
                crafted(&tx, Kind::Part, &part_body(1, 0, too_many, b"x")),
                crafted(&tx, Kind::Part, &part_body(1, 0, 2, b"")),
                crafted(&tx, Kind::Part, &part_body(1, 0, 2, &[0; PART_BYTES + 1])),
                crafted(&tx, Kind::Part, &[0x80]),
            ];
            for (i, datagram) in malformed.iter().enumerate() {
                assert_eq!(
                    feed(&mut rx, datagram, &mut drops),
                    Dropped::Malformed,
                    "datagram {i}"
                );
            }
            assert_eq!(drops.get(Dropped::Malformed), malformed.len() as u64);
            // Accepted, then dropped: a part whose count contradicts its frame's first part,
            // and a frame put together that is not a frame (here, a part's datagram).
            let first = crafted(&tx, Kind::Part, &part_body(9, 0, 2, b"x"));
            assert!(rx
                .receive::<Gms3Msg>(&first, any, t0)
                .unwrap()
                .dropped
                .is_none());
            let contradicting = crafted(&tx, Kind::Part, &part_body(9, 1, 3, b"y"));
            assert_eq!(
                feed(&mut rx, &contradicting, &mut drops),
                Dropped::Malformed
            );
            let inner = crafted(&tx, Kind::Part, &part_body(7, 0, 1, &one));
            let nested_part = crafted(&tx, Kind::Part, &part_body(10, 0, 1, &inner));
            assert_eq!(feed(&mut rx, &nested_part, &mut drops), Dropped::Malformed);
            assert_eq!(drops.total(), malformed.len() as u64 + 2, "{drops}");
            // No malformed datagram moved the window: the counters they used (1 to 12; 0
            // is the nested batch's, never fed) are still fresh.
            let resent = node(key, 5);
            resent.start_counter_at(1);
            for _ in 0..malformed.len() {
                assert_eq!(
                    rx.decode_one(&encoded(&resent, &msg), any),
                    Ok((5, msg.clone()))
                );
            }
        }
    }

    #[test]
    fn codec_batches_and_parts_keyed_and_unkeyed_do_not_mix() {
        let t0 = Instant::now();
        let big = long_view(6_000);
        let small = Gms3Msg::Join(Id::from(2));
        for key in [None, Some(KEY)] {
            let other = if key.is_some() { None } else { Some(KEY) };
            let mut tx = node(key, 1).with_framing(1200, true);
            let mut out = Vec::new();
            tx.send(RX, &small, &mut out).unwrap();
            tx.send(RX, &small, &mut out).unwrap();
            tx.flush(&mut out);
            tx.send(RX, &big, &mut out).unwrap();
            let mut mismatched = node(other, RX);
            for d in &out {
                let got = mismatched.receive::<Gms3Msg>(&d.bytes, any, t0);
                assert_eq!(got, Err(Dropped::Unauthenticated));
            }
            let mut rx = node(key, RX);
            let got = received(&mut rx, &out, t0);
            assert_eq!(got[0].frames, vec![small.clone(), small.clone()]);
            assert_eq!(got.last().unwrap().frames, vec![big.clone()]);
        }
        // Keyed, an altered part is refused and the frame still comes whole from the
        // genuine one.
        let mut tx = node(Some(KEY), 1).with_framing(1200, false);
        let mut rx = node(Some(KEY), RX);
        let mut out = Vec::new();
        tx.send(RX, &big, &mut out).unwrap();
        let mut altered = out[1].bytes.clone();
        altered[HEADER_LEN + 40] ^= 1;
        let got = rx.receive::<Gms3Msg>(&altered, any, t0);
        assert_eq!(got, Err(Dropped::Unauthenticated));
        let got = received(&mut rx, &out, t0);
        assert_eq!(got.last().unwrap().frames, vec![big]);
    }

    /// Turns a genuine datagram into a hostile one.
    fn mutate(rng: &mut SmallRng, genuine: &[u8], out: &mut Vec<u8>) {
        out.clear();
        match rng.random_range(0..6) {
            0 => {
                // Bit flips, anywhere.
                out.extend_from_slice(genuine);
                for _ in 0..rng.random_range(1..=4) {
                    let at = rng.random_range(0..out.len());
                    out[at] ^= 1 << rng.random_range(0..8);
                }
            }
            1 => {
                // Bit flips in the body only: the header stays valid, the body is garbled.
                out.extend_from_slice(genuine);
                if out.len() > HEADER_LEN {
                    let at = rng.random_range(HEADER_LEN..out.len());
                    out[at] ^= 1 << rng.random_range(0..8);
                }
            }
            2 => {
                // Truncation.
                let keep = rng.random_range(0..genuine.len());
                out.extend_from_slice(&genuine[..keep]);
            }
            3 => {
                // Extension with random bytes.
                out.extend_from_slice(genuine);
                for _ in 0..rng.random_range(1..64) {
                    out.push(rng.random());
                }
            }
            4 => {
                // A random byte in place, or a header with random bytes after it.
                out.extend_from_slice(genuine);
                let at = rng.random_range(0..out.len());
                out[at] = rng.random();
                if rng.random_bool(0.5) {
                    out.truncate(HEADER_LEN.min(out.len()));
                    for _ in 0..rng.random_range(0..80) {
                        out.push(rng.random());
                    }
                }
            }
            _ => {
                // Random bytes; now and then a huge datagram.
                let len = if rng.random_bool(0.001) {
                    rng.random_range(MAX_DATAGRAM - 10..MAX_DATAGRAM + 10)
                } else {
                    rng.random_range(0..120)
                };
                out.extend((0..len).map(|_| rng.random::<u8>()));
            }
        }
    }

    fn random_msg(rng: &mut SmallRng) -> Gms3Msg {
        let id = |rng: &mut SmallRng| Id::from(rng.random_range(0..8usize));
        match rng.random_range(0..4) {
            0 => Gms3Msg::Mcast(payload(rng.random_range(0..8), rng.random_range(0..50))),
            1 => Gms3Msg::Join(id(rng)),
            2 => Gms3Msg::Msg(rng.random(), payload(rng.random_range(0..8), rng.random())),
            _ => {
                let mut app = App::default();
                for seq in 0..rng.random_range(0..12) {
                    app.deliver(if rng.random_bool(0.2) {
                        Event::View((0..rng.random_range(0..6)).map(|_| id(rng)).collect())
                    } else {
                        Event::Deliver(payload(rng.random_range(0..8), seq))
                    });
                }
                let peers = (0..rng.random_range(0..6)).map(|_| id(rng)).collect();
                Gms3Msg::View(rng.random(), peers, app)
            }
        }
    }

    /// A view carrying a log of `deliveries`: some hundred bytes per twenty.
    fn long_view(deliveries: u32) -> Gms3Msg {
        let peers: Vec<Id> = (0..5).map(Id::from).collect();
        let mut app = App::default();
        app.deliver(Event::View(peers.clone()));
        for seq in 0..deliveries {
            app.deliver(Event::Deliver(payload(seq as usize % 5, seq)));
        }
        Gms3Msg::View(1, peers, app)
    }

    /// What a genuine datagram carries, and so what a receiver takes out of it when it is
    /// fresh.
    struct Genuine {
        bytes: Vec<u8>,
        frames: Vec<Gms3Msg>,
    }

    /// A genuine datagram from `tx` to [`RX`]: one frame in six of eight, a batch of two or
    /// three in one, a frame in one part (too large for `tx`'s 1,200-byte datagrams) in one.
    fn genuine(rng: &mut SmallRng, tx: &mut Codec, pool: &[Gms3Msg], big: &Gms3Msg) -> Genuine {
        let mut out = Vec::new();
        let frames: Vec<Gms3Msg> = match rng.random_range(0..8) {
            0 => (0..rng.random_range(2..=3))
                .map(|_| pool[rng.random_range(0..pool.len())].clone())
                .collect(),
            1 => vec![big.clone()],
            _ => {
                let msg = &pool[rng.random_range(0..pool.len())];
                let mut bytes = Vec::new();
                tx.encode(RX, msg, &mut bytes).unwrap();
                return Genuine {
                    bytes,
                    frames: vec![msg.clone()],
                };
            }
        };
        for frame in &frames {
            tx.send(RX, frame, &mut out).unwrap();
        }
        tx.flush(&mut out);
        assert_eq!(
            out.len(),
            1,
            "the pool's messages are small, the big one fits a part"
        );
        Genuine {
            bytes: out.remove(0).bytes,
            frames,
        }
    }

    /// 2.5 million datagrams per mode, seven in eight mutated from a genuine datagram (one
    /// frame, a batch, or a part), the rest genuine (fresh, or replays of an old one): no
    /// panic; each one accepted or dropped once; keyed, nothing altered is ever accepted, no
    /// counter is accepted twice, and nothing genuine and fresh is dropped or loses a frame.
    #[test]
    fn codec_fuzz_receive_never_panics_and_accounts_for_every_datagram() {
        const FED_PER_MODE: u64 = 2_500_000;
        let started = Instant::now();
        let t0 = Instant::now();
        let mut rng = SmallRng::seed_from_u64(0x6772_6f75_7079);
        let pool: Vec<Gms3Msg> = (0..256).map(|_| random_msg(&mut rng)).collect();
        let big = long_view(400);
        for key in [None, Some(KEY)] {
            let mut senders: Vec<Codec> = (0..8)
                .map(|id| node(key, id).with_framing(1200, true))
                .collect();
            let mut rx = node(key, RX);
            let (mut hostile, mut old) = (Vec::new(), Vec::new());
            let (mut accepted, mut drops, mut late) = (0u64, DropCounts::default(), 0u64);
            let mut once = std::collections::HashSet::new();
            for i in 0..FED_PER_MODE {
                // Unkeyed, a flipped bit high in a counter is accepted and pushes that sender's
                // window far ahead, and everything after it would be `Replayed` before its
                // body is read: a new receiver now and then keeps the bodies reaching postcard.
                if key.is_none() && i % 64 == 0 {
                    rx = node(key, RX);
                }
                let sender = rng.random_range(0..8);
                let genuine = genuine(&mut rng, &mut senders[sender as usize], &pool, &big);
                if i % 1000 == 0 {
                    old.clone_from(&genuine.bytes);
                }
                let (datagram, kind) = match rng.random_range(0..16) {
                    0 => (&genuine.bytes, "fresh"),
                    1 => (&old, "replay"),
                    _ => {
                        mutate(&mut rng, &genuine.bytes, &mut hostile);
                        (&hostile, "mutated")
                    }
                };
                match rx.receive::<Gms3Msg>(datagram, any, t0) {
                    Ok(got) => {
                        accepted += 1;
                        late += u64::from(got.dropped.is_some());
                        // Unkeyed, a mutated part may have claimed this frame's id with
                        // another count: the genuine part is then refused.
                        if kind == "fresh" && (key.is_some() || got.dropped.is_none()) {
                            assert_eq!((got.sender, &got.frames), (sender, &genuine.frames));
                        }
                        if key.is_some() {
                            let authentic = kind != "mutated" || datagram == &genuine.bytes;
                            assert!(authentic, "a mutated datagram was accepted");
                            let counter = u64::from_le_bytes(datagram[16..24].try_into().unwrap());
                            let from = got.sender;
                            assert!(once.insert((from, counter)), "counter {counter} twice");
                        }
                    }
                    Err(reason) => {
                        drops.record(&reason);
                        if key.is_some() {
                            assert_ne!(kind, "fresh", "{reason}");
                        }
                    }
                }
            }
            assert_eq!(accepted + drops.total(), FED_PER_MODE);
            println!(
                "keyed {}: {accepted} accepted ({late} with a part dropped), {drops}",
                key.is_some()
            );
            if key.is_some() {
                assert_eq!(late, 0, "keyed, only genuine parts get in");
            }
            // Keyed, a garbled body fails its MAC first: `Malformed` needs an authentic
            // datagram of the wrong type (see the crafted test).
            for reason in Dropped::ALL {
                if key.is_some() && reason == Dropped::Malformed {
                    continue;
                }
                assert!(drops.get(reason) > 0, "never {reason}: {drops}");
            }
        }
        let elapsed = started.elapsed();
        println!("fed {} datagrams in {elapsed:.2?}", 2 * FED_PER_MODE);
    }
}
