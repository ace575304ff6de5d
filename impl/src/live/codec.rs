//! TEMPORARY STAND-IN for the codec being written on branch `codec` (same API): delete this
//! file when that branch is merged and keep its `codec.rs`.
//!
//! It frames a datagram as a 21-byte header (magic `GRPY`, version 1, group id, sender id,
//! datagram number, all little-endian) and a JSON body. It authenticates nothing and detects
//! no replay (a key is accepted and ignored): the real codec does both, compactly. The live
//! runtime only relies on the API: `Codec::new`, `encode`, `decode`, [`Dropped`] and
//! [`DropCounts`].

use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

const MAGIC: &[u8; 4] = b"GRPY";
const VERSION: u8 = 1;
const HEADER: usize = 4 + 1 + 4 + 4 + 8;
/// The largest UDP payload over IPv4.
pub const MAX_DATAGRAM: usize = 65_507;

/// Encodes and decodes the datagrams of one group.
pub struct Codec {
    group_id: u32,
    next: AtomicU64,
}

/// Why a frame could not be encoded.
#[derive(Debug)]
pub enum EncodeError {
    /// The encoded datagram would be larger than a UDP datagram can be.
    Oversized(usize),
    Serialize(String),
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::Oversized(n) => {
                write!(f, "{n} bytes, more than a datagram's {MAX_DATAGRAM}")
            }
            EncodeError::Serialize(e) => write!(f, "cannot serialize: {e}"),
        }
    }
}

/// Why a received datagram was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dropped {
    Truncated,
    Oversized,
    BadVersion,
    Foreign,
    Malformed,
    Unauthenticated,
    Replayed,
}

impl Dropped {
    pub const ALL: [Dropped; 7] = [
        Dropped::Truncated,
        Dropped::Oversized,
        Dropped::BadVersion,
        Dropped::Foreign,
        Dropped::Malformed,
        Dropped::Unauthenticated,
        Dropped::Replayed,
    ];

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

/// Dropped datagrams, counted per reason.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DropCounts {
    counts: [u64; 7],
}

impl DropCounts {
    pub fn record(&mut self, d: &Dropped) {
        self.counts[*d as usize] += 1;
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }
}

impl fmt::Display for DropCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for d in Dropped::ALL {
            let n = self.counts[d as usize];
            if n > 0 {
                write!(f, "{}{} {n}", if first { "" } else { ", " }, d.name())?;
                first = false;
            }
        }
        if first {
            write!(f, "none")?;
        }
        Ok(())
    }
}

impl Codec {
    pub fn new(group_id: u32, _key: Option<[u8; 32]>) -> Codec {
        Codec {
            group_id,
            next: AtomicU64::new(0),
        }
    }

    pub fn encode<M: Serialize>(
        &self,
        sender: u32,
        msg: &M,
        buf: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        buf.clear();
        buf.extend_from_slice(MAGIC);
        buf.push(VERSION);
        buf.extend_from_slice(&self.group_id.to_le_bytes());
        buf.extend_from_slice(&sender.to_le_bytes());
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        buf.extend_from_slice(&n.to_le_bytes());
        serde_json::to_writer(&mut *buf, msg).map_err(|e| EncodeError::Serialize(e.to_string()))?;
        if buf.len() > MAX_DATAGRAM {
            return Err(EncodeError::Oversized(buf.len()));
        }
        Ok(())
    }

    pub fn decode<M: DeserializeOwned>(&self, datagram: &[u8]) -> Result<(u32, M), Dropped> {
        if datagram.len() > MAX_DATAGRAM {
            return Err(Dropped::Oversized);
        }
        if datagram.len() < HEADER {
            return Err(Dropped::Truncated);
        }
        if &datagram[..4] != MAGIC {
            return Err(Dropped::Foreign);
        }
        if datagram[4] != VERSION {
            return Err(Dropped::BadVersion);
        }
        let word = |at: usize| u32::from_le_bytes([0, 1, 2, 3].map(|i| datagram[at + i]));
        if word(5) != self.group_id {
            return Err(Dropped::Foreign);
        }
        let sender = word(9);
        let msg = serde_json::from_slice(&datagram[HEADER..]).map_err(|_| Dropped::Malformed)?;
        Ok((sender, msg))
    }
}
