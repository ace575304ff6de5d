//! The codec's framing: how frames share datagrams (batches) and how a frame too large for
//! one is cut into several (parts), as plain data. The codec (`codec.rs`) is its only user:
//! it writes and checks the datagrams, and its module doc lays out their bytes; this module
//! keeps what framing needs between datagrams (the frames waiting to be batched, per
//! receiver; the parts waiting for the rest of their frame, per sender) and parses a body
//! by its kind.
//!
//! It is a module of its own because it holds state the datagram layer does not (the
//! codec's checks are per datagram), and so that batches and reassembly are tested apart
//! from headers and MACs. Like the codec it reads no clock: reassembly's expiry is measured
//! with the `now` its caller passes.

use super::codec::Dropped;
use serde::de::DeserializeOwned;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

/// A batch is sent once it holds this many bytes of frames (or at the end of the loop's
/// turn); a frame this large or larger goes alone.
pub const BATCH_BYTES: usize = 1_200;

/// The bytes of a frame carried by one part. A part's datagram is this plus a header, a
/// few bytes of part header and a MAC: well within UDP's 65,507 (and sent as it is,
/// whatever `--max-datagram` says).
pub const PART_BYTES: usize = 12_000;

/// The most parts one frame may have (a frame of up to 12 MB).
pub const MAX_PARTS: usize = 1024;

/// Frames being reassembled at once, over all senders; past it the oldest is abandoned.
const REASSEMBLING_MAX: usize = 64;

/// The bytes of parts held at once, over all senders: two frames of the largest size. Past
/// it the oldest frames are abandoned; without it, parts of 64 frames of 1024 parts each,
/// which anyone who can reach an unkeyed node may send, would hold 786 MB.
const REASSEMBLY_BYTES: usize = 2 * MAX_PARTS * PART_BYTES;

/// A frame whose parts have not all come within this is abandoned (the link re-sends it whole).
const PART_TTL: Duration = Duration::from_secs(5);

/// The gap between two parts of one frame: a burst of large datagrams would overflow the
/// receiver's socket buffer (about 200 kB by default on Linux) and be lost whole, at every
/// retransmission.
pub const PART_GAP: Duration = Duration::from_micros(500);

/// What a datagram's body holds, from its header's flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// One frame.
    Frame = 0,
    /// One or more frames, back to back.
    Batch = 1,
    /// A part of one frame.
    Part = 2,
}

impl Kind {
    /// The kind numbered `code` (the flags' bits 1 and 2), if any.
    pub fn from_code(code: u8) -> Option<Kind> {
        match code {
            0 => Some(Kind::Frame),
            1 => Some(Kind::Batch),
            2 => Some(Kind::Part),
            _ => None,
        }
    }
}

/// Appends `n` as postcard writes an unsigned integer (LEB128: seven bits a byte, the low
/// ones first, the top bit set on every byte but the last), so [`parse`] reads it back.
pub fn put_varint(buf: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        buf.push(n as u8 | 0x80);
        n >>= 7;
    }
    buf.push(n as u8);
}

/// A part of a frame, as its datagram carries it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Part<'a> {
    /// The frame's id, unique per sender (the counter of its first part's datagram).
    pub id: u64,
    pub index: u32,
    pub count: u32,
    pub piece: &'a [u8],
}

/// A checked body: every frame decoded, or a part whose numbers make sense.
#[derive(Debug, PartialEq)]
pub enum Body<'a, F> {
    Frames(Vec<F>),
    Part(Part<'a>),
}

/// Parses a body of kind `kind`, all of it: a frame that does not decode, trailing bytes,
/// an empty batch, or a part numbered outside its frame make the datagram
/// [`Dropped::Malformed`]. Allocates only the frames (a batch's are at least a byte each, so
/// at most as many as the body has bytes).
pub fn parse<F: DeserializeOwned>(kind: Kind, body: &[u8]) -> Result<Body<'_, F>, Dropped> {
    match kind {
        Kind::Frame => match postcard::take_from_bytes::<F>(body) {
            Ok((frame, [])) => Ok(Body::Frames(vec![frame])),
            Ok(_) | Err(_) => Err(Dropped::Malformed),
        },
        Kind::Batch => {
            let mut frames = Vec::new();
            let mut rest = body;
            while !rest.is_empty() {
                let (frame, after) =
                    postcard::take_from_bytes::<F>(rest).map_err(|_| Dropped::Malformed)?;
                frames.push(frame);
                rest = after;
            }
            if frames.is_empty() {
                return Err(Dropped::Malformed);
            }
            Ok(Body::Frames(frames))
        }
        Kind::Part => {
            let ((id, index, count), piece) = postcard::take_from_bytes::<(u64, u32, u32)>(body)
                .map_err(|_| Dropped::Malformed)?;
            let part = Part {
                id,
                index,
                count,
                piece,
            };
            if !part.is_sound() {
                return Err(Dropped::Malformed);
            }
            Ok(Body::Part(part))
        }
    }
}

impl Part<'_> {
    /// Whether it can be a part of a frame a sender cuts: at most [`MAX_PARTS`], its index
    /// among them, at most [`PART_BYTES`] and not empty.
    fn is_sound(&self) -> bool {
        let (index, count) = (self.index as usize, self.count as usize);
        (1..=MAX_PARTS).contains(&count)
            && index < count
            && (1..=PART_BYTES).contains(&self.piece.len())
    }
}

/// The frames waiting for one receiver's next batch, encoded back to back.
#[derive(Debug, Default)]
pub struct Pending {
    pub frames: usize,
    pub bytes: Vec<u8>,
}

/// The batches being filled, per receiver. A `BTreeMap` so they are closed in receiver
/// order: the same run sends the same datagrams in the same order (the simulator's seeds
/// depend on it).
#[derive(Debug, Default)]
pub struct Batches {
    pending: BTreeMap<u32, Pending>,
}

impl Batches {
    /// `receiver`'s batch.
    pub fn get(&mut self, receiver: u32) -> &mut Pending {
        self.pending.entry(receiver).or_default()
    }

    /// Every non-empty batch, emptied, in receiver order (each keeps its buffer for the next
    /// turn).
    pub fn drain(&mut self) -> impl Iterator<Item = (u32, &mut Pending)> {
        self.pending
            .iter_mut()
            .filter(|(_, p)| p.frames > 0)
            .map(|(r, p)| (*r, p))
    }
}

#[derive(Debug)]
struct Partial {
    parts: Vec<Option<Vec<u8>>>,
    have: usize,
    /// The bytes of the parts it holds.
    bytes: usize,
    started: Instant,
}

/// What [`Reassembly::on_part`] made of a part.
#[derive(Debug, PartialEq, Eq)]
pub enum Reassembled {
    /// Kept (or a duplicate, ignored): the frame still lacks parts.
    Waiting,
    /// The frame's last part: its bytes, whole.
    Whole(Vec<u8>),
    /// The part contradicts its frame's first part (another count), or is not sound: dropped.
    Refused,
}

/// Frames arriving in parts, per (sender, frame id).
#[derive(Debug, Default)]
pub struct Reassembly {
    partial: HashMap<(u32, u64), Partial>,
    /// The bytes every partial frame holds.
    held: usize,
}

impl Reassembly {
    /// Takes one part from `sender` at `now`. Parts may come in any order, and more than once.
    pub fn on_part(&mut self, sender: u32, part: Part<'_>, now: Instant) -> Reassembled {
        if !part.is_sound() {
            return Reassembled::Refused;
        }
        let (index, count) = (part.index as usize, part.count as usize);
        let mut freed = 0;
        self.partial.retain(|_, p| {
            let keep = now.saturating_duration_since(p.started) < PART_TTL;
            if !keep {
                freed += p.bytes;
            }
            keep
        });
        self.held -= freed;
        let key = (sender, part.id);
        if !self.partial.contains_key(&key) && self.partial.len() >= REASSEMBLING_MAX {
            self.abandon_oldest(key);
        }
        // Room for the piece: the oldest other frames go first; a frame that cannot fit
        // alone is refused (its sender's link re-sends it whole, or it was never sound).
        while self.held + part.piece.len() > REASSEMBLY_BYTES {
            if !self.abandon_oldest(key) {
                return Reassembled::Refused;
            }
        }
        let p = self.partial.entry(key).or_insert_with(|| Partial {
            parts: vec![None; count],
            have: 0,
            bytes: 0,
            started: now,
        });
        if p.parts.len() != count {
            return Reassembled::Refused;
        }
        if let Some(slot @ None) = p.parts.get_mut(index) {
            *slot = Some(part.piece.to_vec());
            p.have += 1;
            p.bytes += part.piece.len();
            self.held += part.piece.len();
        }
        if p.have < count {
            return Reassembled::Waiting;
        }
        match self.partial.remove(&key) {
            Some(p) => {
                self.held -= p.bytes;
                Reassembled::Whole(p.parts.into_iter().flatten().flatten().collect())
            }
            None => Reassembled::Waiting,
        }
    }

    /// Abandons the oldest partial frame other than `keep`; whether there was one.
    fn abandon_oldest(&mut self, keep: (u32, u64)) -> bool {
        let oldest = self
            .partial
            .iter()
            .filter(|(k, _)| **k != keep)
            .min_by_key(|(_, p)| p.started)
            .map(|(k, _)| *k);
        match oldest.and_then(|k| self.partial.remove(&k)) {
            Some(p) => {
                self.held -= p.bytes;
                true
            }
            None => false,
        }
    }

    /// The bytes held by frames with parts still missing.
    #[cfg(test)]
    pub fn held(&self) -> usize {
        self.held
    }

    /// Frames with parts still missing.
    #[cfg(test)]
    pub fn pending(&self) -> usize {
        self.partial.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(id: u64, index: u32, count: u32, piece: &[u8]) -> Part<'_> {
        Part {
            id,
            index,
            count,
            piece,
        }
    }

    #[test]
    fn parts_held_at_once_are_bounded_in_bytes() {
        // A stranger's parts: many frames of the largest size, each one part short.
        let t0 = Instant::now();
        let piece = vec![7u8; PART_BYTES];
        let mut r = Reassembly::default();
        for id in 0..8u64 {
            for index in 0..(MAX_PARTS as u32 - 1) {
                let got = r.on_part(9, part(id, index, MAX_PARTS as u32, &piece), t0);
                assert!(matches!(got, Reassembled::Waiting));
                assert!(r.held() <= REASSEMBLY_BYTES, "{} bytes held", r.held());
            }
        }
        assert!(r.pending() <= 2, "{} frames pending", r.pending());
        // A real frame still reassembles once the stranger's are abandoned.
        let whole: Vec<u8> = (0..30_000u32).map(|i| i as u8).collect();
        let pieces: Vec<&[u8]> = whole.chunks(PART_BYTES).collect();
        let mut out = None;
        for (i, p) in pieces.iter().enumerate() {
            if let Reassembled::Whole(w) = r.on_part(1, part(100, i as u32, 3, p), t0) {
                out = Some(w);
            }
        }
        assert_eq!(out, Some(whole));
    }

    #[test]
    fn parts_reassemble_in_any_order_once() {
        let t0 = Instant::now();
        let whole: Vec<u8> = (0..30_000u32).map(|i| i as u8).collect();
        let pieces: Vec<&[u8]> = whole.chunks(PART_BYTES).collect();
        let mut r = Reassembly::default();
        let waiting = Reassembled::Waiting;
        assert_eq!(r.on_part(1, part(7, 2, 3, pieces[2]), t0), waiting);
        assert_eq!(r.on_part(1, part(7, 2, 3, pieces[2]), t0), waiting);
        // Another sender's frame 7 is another frame.
        assert_eq!(r.on_part(2, part(7, 0, 3, pieces[0]), t0), waiting);
        assert_eq!(r.on_part(1, part(7, 0, 3, pieces[0]), t0), waiting);
        let last = r.on_part(1, part(7, 1, 3, pieces[1]), t0);
        assert_eq!(last, Reassembled::Whole(whole));
        assert_eq!(r.pending(), 1, "only sender 2's frame is left");
    }

    #[test]
    fn unsound_or_contradicting_parts_are_refused() {
        let t0 = Instant::now();
        let mut r = Reassembly::default();
        let refused = Reassembled::Refused;
        assert_eq!(r.on_part(1, part(8, 3, 3, b"x"), t0), refused, "index");
        assert_eq!(r.on_part(1, part(8, 0, 0, b"x"), t0), refused, "no parts");
        let too_many = MAX_PARTS as u32 + 1;
        assert_eq!(r.on_part(1, part(8, 0, too_many, b"x"), t0), refused);
        assert_eq!(r.on_part(1, part(8, 0, 2, b""), t0), refused, "empty");
        let big = vec![0; PART_BYTES + 1];
        assert_eq!(r.on_part(1, part(8, 0, 2, &big), t0), refused, "oversized");
        assert_eq!(r.on_part(1, part(8, 0, 2, b"a"), t0), Reassembled::Waiting);
        assert_eq!(r.on_part(1, part(8, 1, 3, b"b"), t0), refused, "count");
        let whole = Reassembled::Whole(b"ab".to_vec());
        assert_eq!(r.on_part(1, part(8, 1, 2, b"b"), t0), whole);
    }

    #[test]
    fn a_frame_whose_parts_do_not_all_come_expires() {
        let t0 = Instant::now();
        let mut r = Reassembly::default();
        assert_eq!(r.on_part(1, part(1, 0, 2, b"a"), t0), Reassembled::Waiting);
        let later = t0 + PART_TTL;
        // The first part has expired: the second starts the frame again.
        assert_eq!(
            r.on_part(1, part(1, 1, 2, b"b"), later),
            Reassembled::Waiting
        );
        assert_eq!(r.pending(), 1);
        let whole = Reassembled::Whole(b"ab".to_vec());
        assert_eq!(r.on_part(1, part(1, 0, 2, b"a"), later), whole);
    }

    #[test]
    fn reassembly_holds_a_bounded_number_of_frames() {
        let t0 = Instant::now();
        let mut r = Reassembly::default();
        for id in 0..3 * REASSEMBLING_MAX as u64 {
            let at = t0 + Duration::from_millis(id);
            assert_eq!(r.on_part(1, part(id, 0, 2, b"a"), at), Reassembled::Waiting);
            assert!(r.pending() <= REASSEMBLING_MAX);
        }
        // The oldest were abandoned: frame 0's second part starts it again.
        let late = t0 + Duration::from_millis(3 * REASSEMBLING_MAX as u64);
        assert_eq!(
            r.on_part(1, part(0, 1, 2, b"b"), late),
            Reassembled::Waiting
        );
    }

    #[test]
    fn varints_are_postcards() {
        for n in [0, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
            let mut mine = Vec::new();
            put_varint(&mut mine, n);
            assert_eq!(mine, postcard::to_allocvec(&n).unwrap_or_default(), "{n}");
        }
    }

    #[test]
    fn bodies_parse_whole_or_not_at_all() {
        let frames: Vec<u8> = [1u32, 300, 7]
            .iter()
            .flat_map(|n| postcard::to_allocvec(n).unwrap_or_default())
            .collect();
        assert_eq!(parse::<u32>(Kind::Frame, &[1]), Ok(Body::Frames(vec![1])));
        assert_eq!(
            parse::<u32>(Kind::Batch, &frames),
            Ok(Body::Frames(vec![1, 300, 7]))
        );
        let malformed = Err(Dropped::Malformed);
        assert_eq!(parse::<u32>(Kind::Frame, &frames), malformed, "trailing");
        assert_eq!(parse::<u32>(Kind::Frame, &[]), malformed);
        assert_eq!(parse::<u32>(Kind::Batch, &[]), malformed, "empty batch");
        // A varint cut short, at the end of a batch.
        assert_eq!(parse::<u32>(Kind::Batch, &[1, 0x80]), malformed);
        assert_eq!(
            parse::<u32>(Kind::Part, &[9, 1, 2, b'x']),
            Ok(Body::Part(part(9, 1, 2, b"x")))
        );
        assert_eq!(parse::<u32>(Kind::Part, &[9, 2, 2, b'x']), malformed);
        assert_eq!(parse::<u32>(Kind::Part, &[9, 1, 2]), malformed, "no piece");
        assert_eq!(parse::<u32>(Kind::Part, &[9, 1]), malformed);
    }
}
