//! The wire codec of the live group: one protocol message per UDP datagram.
//!
//! # Layout of a datagram
//! A fixed 24-byte header, little-endian, written by hand (it is a few bytes, not crypto):
//!
//! | offset | size | field | on a mismatch |
//! | --- | --- | --- | --- |
//! | 0 | 2 | magic `b"GY"` | [`Dropped::BadVersion`] |
//! | 2 | 1 | wire version, [`VERSION`] | [`Dropped::BadVersion`] |
//! | 3 | 1 | flags: bit 0 = keyed; the other bits must be 0 | [`Dropped::BadVersion`]; keyed bit: [`Dropped::Unauthenticated`] |
//! | 4 | 4 | group id (`u32`) | [`Dropped::Foreign`] |
//! | 8 | 4 | sender (`u32`) | [`Codec::decode`]'s `sender_ok` false: [`Dropped::Foreign`] |
//! | 12 | 4 | receiver (`u32`) | not this codec's node: [`Dropped::Foreign`] |
//! | 16 | 8 | counter (`u64`), see [Replay](#replay) | [`Dropped::Replayed`] |
//!
//! then the message in [postcard](https://docs.rs/postcard)'s compact serde format
//! (variable-length integers, no field names: a `Gms3Msg::Msg` is a handful of bytes), then,
//! with a key, a 32-byte BLAKE3 keyed hash over header and body ([`TAG_LEN`]).
//!
//! # Checks, in order
//! Cheapest first, and no state changes before the MAC is verified: size ([`Dropped::Oversized`], [`Dropped::Truncated`]), magic, version and flags
//! ([`Dropped::BadVersion`]), group and receiver ([`Dropped::Foreign`]: a datagram of another
//! group, or for another node, is dropped before its MAC is even computed), keyed-ness and MAC
//! ([`Dropped::Unauthenticated`]), the caller's judgement of the sender it names
//! ([`Codec::decode`]'s `sender_ok`: the runtime checks that the datagram came from that
//! member's address; [`Dropped::Foreign`]), the sender's replay window
//! ([`Dropped::Replayed`]), the body ([`Dropped::Malformed`], also for trailing bytes after
//! the message). Only a datagram that passes every check moves its sender's window: one the
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
//! [`Codec::decode`] never panics, and allocates nothing but the decoded message (and a window
//! when a sender is first heard from). The message is bounded by the datagram's size: postcard
//! pre-allocates a sequence only up to the bytes left in the input, and every element of the
//! groupy messages takes at least one byte.

use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

/// UDP's largest payload over IPv4 (65,535 minus 8 bytes of UDP and 20 of IP header): a
/// longer datagram is [`Dropped::Oversized`], a message that would make one an [`EncodeError`].
pub const MAX_DATAGRAM: usize = 65_507;

/// The first two bytes of every groupy datagram.
pub const MAGIC: [u8; 2] = *b"GY";

/// The wire version this codec writes and accepts. 2: the link layer's frames gained
/// `Batch`, which a version-1 node would take for a malformed body. 3: a frame sent in
/// `Part`s is postcard inside, as every other body, not JSON. 4: the header names the
/// receiver, so the MAC binds it.
pub const VERSION: u8 = 4;

/// Bytes before the message: magic, version, flags, group, sender, receiver, counter.
pub const HEADER_LEN: usize = 24;

/// Bytes of the MAC at the end of a keyed datagram.
pub const TAG_LEN: usize = blake3::OUT_LEN;

/// Width of a sender's replay window, in counter values.
pub const WINDOW: u64 = 1024;

/// Most senders whose replay windows a codec keeps.
pub const MAX_SENDERS: usize = 1024;

const FLAG_KEYED: u8 = 0b0000_0001;
const WINDOW_WORDS: usize = (WINDOW / 64) as usize;

/// Encodes and checks the datagrams of one group, for one node. `Sync`: encode and decode
/// may be called from different threads.
pub struct Codec {
    group_id: u32,
    key: Option<[u8; 32]>,
    /// The node this codec is for: the sender of what it encodes, the receiver of what it
    /// accepts.
    me: u32,
    /// The counter the next datagram gets.
    counter: AtomicU64,
    replay: Mutex<Replay>,
}

/// Why a datagram was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dropped {
    /// Shorter than a header (and, keyed, a MAC).
    Truncated,
    /// Longer than [`MAX_DATAGRAM`].
    Oversized,
    /// Not a groupy datagram of this wire version: wrong magic, version, or unknown flags.
    BadVersion,
    /// A datagram of another group, or naming a sender the caller refuses (not a member, or
    /// not from that member's address).
    Foreign,
    /// The header is fine but the body is not a message of the expected type (or has
    /// trailing bytes).
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

/// A message [`Codec::encode`] could not turn into a datagram.
#[derive(Debug)]
pub struct EncodeError(EncodeFailure);

#[cfg(test)]
impl EncodeError {
    /// Whether the message is too large for one datagram (as opposed to not serialisable).
    pub fn is_too_large(&self) -> bool {
        matches!(self.0, EncodeFailure::TooLarge)
    }
}

#[derive(Debug)]
enum EncodeFailure {
    /// Header, message and MAC would exceed [`MAX_DATAGRAM`].
    TooLarge,
    /// The message's `Serialize` failed, or asked for what postcard cannot write (a
    /// sequence whose length is not known up front).
    Serialize(postcard::Error),
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            EncodeFailure::TooLarge => write!(
                f,
                "message too large: a datagram holds at most {MAX_DATAGRAM} bytes"
            ),
            EncodeFailure::Serialize(e) => write!(f, "cannot serialise the message: {e}"),
        }
    }
}

impl std::error::Error for EncodeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.0 {
            EncodeFailure::TooLarge => None,
            EncodeFailure::Serialize(e) => Some(e),
        }
    }
}

impl Codec {
    /// Node `me`'s codec for group `group_id`; with `key`, every datagram is authenticated
    /// with it.
    pub fn new(group_id: u32, key: Option<[u8; 32]>, me: u32) -> Codec {
        Codec {
            group_id,
            key,
            me,
            // The driver sets where a life starts (`start_counter_at`): the codec reads no clock.
            counter: AtomicU64::new(0),
            replay: Mutex::new(Replay::default()),
        }
    }

    /// Numbers the next datagram `first` (a driver's clock, not the codec's, decides where
    /// a life's counter starts: see [Replay](#replay)).
    pub fn start_counter_at(&self, first: u64) {
        self.counter.store(first, Ordering::Relaxed);
    }

    /// Appends one datagram from this codec's node to `receiver` to `buf` (cleared first).
    /// Numbers datagrams itself (a per-codec counter, for replay detection). On an error
    /// `buf` is left empty.
    pub fn encode<M: Serialize>(
        &self,
        receiver: u32,
        msg: &M,
        buf: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        buf.clear();
        let counter = self.counter.fetch_add(1, Ordering::Relaxed);
        let flags = if self.key.is_some() { FLAG_KEYED } else { 0 };
        buf.extend_from_slice(&MAGIC);
        buf.push(VERSION);
        buf.push(flags);
        buf.extend_from_slice(&self.group_id.to_le_bytes());
        buf.extend_from_slice(&self.me.to_le_bytes());
        buf.extend_from_slice(&receiver.to_le_bytes());
        buf.extend_from_slice(&counter.to_le_bytes());
        debug_assert_eq!(buf.len(), HEADER_LEN);
        let tag_len = if self.key.is_some() { TAG_LEN } else { 0 };
        let limit = MAX_DATAGRAM - tag_len;
        let written = postcard::serialize_with_flavor(msg, Bounded { buf, limit });
        if let Err(e) = written {
            buf.clear();
            return Err(EncodeError(match e {
                postcard::Error::SerializeBufferFull => EncodeFailure::TooLarge,
                e => EncodeFailure::Serialize(e),
            }));
        }
        if let Some(key) = &self.key {
            let tag = blake3::keyed_hash(key, buf);
            buf.extend_from_slice(tag.as_bytes());
        }
        debug_assert!(buf.len() <= MAX_DATAGRAM);
        Ok(())
    }

    /// Checks and decodes one datagram; never panics on any input.
    ///
    /// `sender_ok` is the caller's judgement of the sender the datagram names (the runtime's:
    /// is it a member, and did the datagram come from that member's address?). It is asked
    /// once the datagram is authenticated and before the sender's replay window is read or
    /// moved; false drops the datagram as [`Dropped::Foreign`] and leaves every window as it
    /// was, so a datagram the caller would refuse cannot make a real sender's next ones
    /// `Replayed`.
    pub fn decode<M: DeserializeOwned>(
        &self,
        datagram: &[u8],
        sender_ok: impl FnOnce(u32) -> bool,
    ) -> Result<(u32, M), Dropped> {
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
        let msg = match postcard::take_from_bytes::<M>(body) {
            Ok((msg, [])) => msg,
            Ok(_) | Err(_) => return Err(Dropped::Malformed),
        };
        if !self.lock().accept(header.sender, header.counter) {
            return Err(Dropped::Replayed);
        }
        Ok((header.sender, msg))
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
    group_id: u32,
    sender: u32,
    receiver: u32,
    counter: u64,
}

impl Header {
    fn read(h: &[u8; HEADER_LEN]) -> Result<Header, Dropped> {
        let [m0, m1, version, flags, g0, g1, g2, g3, s0, s1, s2, s3, r0, r1, r2, r3, c @ ..] = *h;
        if [m0, m1] != MAGIC || version != VERSION || flags & !FLAG_KEYED != 0 {
            return Err(Dropped::BadVersion);
        }
        Ok(Header {
            keyed: flags & FLAG_KEYED != 0,
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
        codec.decode::<Gms3Msg>(datagram, any).unwrap_err()
    }

    #[test]
    fn codec_round_trips_every_gms3_variant() {
        for key in [None, Some(KEY)] {
            let rx = node(key, RX);
            let mut buf = Vec::new();
            for (i, msg) in every_variant().into_iter().enumerate() {
                let sender = i as u32 * 1000;
                node(key, sender).encode(RX, &msg, &mut buf).unwrap();
                assert_eq!(rx.decode::<Gms3Msg>(&buf, any), Ok((sender, msg)));
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
            assert_eq!(rx.decode::<Vec<u8>>(&buf, any), Ok((1, fits)));

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

            for (offset, value) in [(0, b'g'), (1, 0), (2, VERSION + 1), (3, 0b10)] {
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

            assert_eq!(rx.decode(&good, any), Ok((5, msg.clone())));
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
        assert_eq!(rx.decode(&good, any), Ok((5, msg)));
    }

    #[test]
    fn codec_strangers_datagram_changes_nothing() {
        let genuine = node(Some(KEY), 3);
        let stranger = node(Some([9; 32]), 3);
        let rx = node(Some(KEY), RX);
        let msg = Gms3Msg::Mcast(payload(3, 1));
        // Establish the sender's window, then let a stranger claim the next counters.
        genuine.counter.store(1_000, Ordering::Relaxed);
        assert!(rx.decode::<Gms3Msg>(&encoded(&genuine, &msg), any).is_ok());
        stranger.counter.store(1_001, Ordering::Relaxed);
        for _ in 0..2 * WINDOW {
            let forged = encoded(&stranger, &msg);
            assert_eq!(dropped(&rx, &forged), Dropped::Unauthenticated);
        }
        // The genuine sender's next counters are still fresh, including 1,001.
        assert_eq!(
            rx.decode(&encoded(&genuine, &msg), any),
            Ok((3, msg.clone()))
        );
        genuine.counter.store(1_000 + 2 * WINDOW, Ordering::Relaxed);
        assert_eq!(rx.decode(&encoded(&genuine, &msg), any), Ok((3, msg)));
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
            assert!(rx.decode::<Gms3Msg>(&encoded(&genuine, &msg), any).is_ok());
            forger.counter.store(1 << 63, Ordering::Relaxed);
            let forged = encoded(&forger, &msg);
            let mut asked = None;
            let refuse = |sender| {
                asked = Some(sender);
                false
            };
            assert_eq!(rx.decode::<Gms3Msg>(&forged, refuse), Err(Dropped::Foreign));
            assert_eq!(asked, Some(0), "the caller is told the sender named");
            assert_eq!(
                rx.decode(&encoded(&genuine, &msg), any),
                Ok((0, msg.clone()))
            );
            // Refused, it is not recorded as seen either: accepted later, it is fresh.
            assert_eq!(rx.decode(&forged, any), Ok((0, msg)));
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
        match n2.decode::<Gms3Msg>(&to_n1, any) {
            Ok(got) => panic!("n2 accepted n1's datagram: {got:?}"),
            Err(reason) => drops.record(&reason),
        }
        assert_eq!(drops.get(Dropped::Foreign), 1, "{drops}");
        assert_eq!(n1.decode(&to_n1, any), Ok((0, msg)));
    }

    #[test]
    fn codec_window_accepts_reordering_and_rejects_duplicates_and_stale() {
        let tx = node(None, 1);
        let rx = node(None, RX);
        let msg = Gms3Msg::Join(Id::from(1));
        let sent: Vec<Vec<u8>> = (0..WINDOW + 10).map(|_| encoded(&tx, &msg)).collect();
        // Newest first, then the others in reverse: all within the window but the oldest 10.
        let newest = sent.len() - 1;
        assert!(rx.decode::<Gms3Msg>(&sent[newest], any).is_ok());
        for (i, datagram) in sent.iter().enumerate().rev().skip(1) {
            let expect_fresh = newest - i < WINDOW as usize;
            let got = rx.decode::<Gms3Msg>(datagram, any).map(|_| ());
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
        assert!(rx.decode::<Gms3Msg>(&later, any).is_ok());
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
                .decode::<Gms3Msg>(&encoded(&first_life, &msg), any)
                .is_ok());
        }
        let second_life = node(Some(KEY), 1);
        second_life.start_counter_at((1_764_547_200_000 + 1) * 1_000_000);
        assert_eq!(rx.decode(&encoded(&second_life, &msg), any), Ok((1, msg)));
    }

    #[test]
    fn codec_tracks_a_bounded_number_of_senders() {
        let rx = node(None, RX);
        let msg = Gms3Msg::Join(Id::from(1));
        for sender in 0..3 * MAX_SENDERS as u32 {
            assert!(rx
                .decode::<Gms3Msg>(&encoded(&node(None, sender), &msg), any)
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

    /// 2.5 million datagrams per mode, seven in eight mutated from a genuine encoding, the rest
    /// genuine (fresh, or replays of an old one): no panic; each one accepted or dropped
    /// once; keyed, nothing altered is ever accepted, no counter is accepted twice, and
    /// nothing genuine and fresh is dropped.
    #[test]
    fn codec_fuzz_decode_never_panics_and_accounts_for_every_datagram() {
        const FED_PER_MODE: u64 = 2_500_000;
        let started = Instant::now();
        let mut rng = SmallRng::seed_from_u64(0x6772_6f75_7079);
        let pool: Vec<Gms3Msg> = (0..256).map(|_| random_msg(&mut rng)).collect();
        for key in [None, Some(KEY)] {
            let senders: Vec<Codec> = (0..8).map(|id| node(key, id)).collect();
            let mut rx = node(key, RX);
            let (mut genuine, mut hostile, mut old) = (Vec::new(), Vec::new(), Vec::new());
            let (mut accepted, mut drops) = (0u64, DropCounts::default());
            let mut once = std::collections::HashSet::new();
            for i in 0..FED_PER_MODE {
                // Unkeyed, a flipped bit high in a counter is accepted and pushes that sender's
                // window far ahead, and everything after it would be `Replayed` before its
                // body is read: a new receiver now and then keeps the bodies reaching postcard.
                if key.is_none() && i % 64 == 0 {
                    rx = node(key, RX);
                }
                let msg = &pool[rng.random_range(0..pool.len())];
                let sender = rng.random_range(0..8);
                senders[sender as usize]
                    .encode(RX, msg, &mut genuine)
                    .unwrap();
                if i % 1000 == 0 {
                    old.clone_from(&genuine);
                }
                let (datagram, kind) = match rng.random_range(0..16) {
                    0 => (&genuine, "fresh"),
                    1 => (&old, "replay"),
                    _ => {
                        mutate(&mut rng, &genuine, &mut hostile);
                        (&hostile, "mutated")
                    }
                };
                match rx.decode::<Gms3Msg>(datagram, any) {
                    Ok((from, got)) => {
                        accepted += 1;
                        if kind == "fresh" {
                            assert_eq!((from, &got), (sender, msg));
                        }
                        if key.is_some() {
                            let authentic = kind != "mutated" || datagram == &genuine;
                            assert!(authentic, "a mutated datagram was accepted");
                            let counter = u64::from_le_bytes(datagram[16..24].try_into().unwrap());
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
            println!("keyed {}: {accepted} accepted, {drops}", key.is_some());
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
