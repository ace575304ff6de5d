//! The live group: the protocols' actors (the very types the checker explores) run over UDP.
//!
//! # Layout
//! - [`node`]: one node's event loop: socket, timers, the actor's commands, selective
//!   receive, the heartbeat failure detector, delivery log.
//! - [`link`]: the datagram frames and the `fifo` link (sequence numbers, acks,
//!   retransmission, in-order delivery) under the protocol; `raw` is UDP as it is.
//! - [`faults`]: seeded fault injection (drop, duplicate, delay, crash mid-broadcast).
//! - [`logfile`]: the delivery log as JSON lines, written live and read by `groupy verify`.
//! - [`codec`]: one message per datagram: versioned header, compact body (postcard),
//!   optional keyed MAC (BLAKE3), per-sender replay window.
//! - [`cluster`]: `groupy run`: a whole group on loopback in one process, shown live, its
//!   logs judged at the end with the model's property functions.
//! - [`solo`]: `groupy node`: one node as its own process.
//! - [`bench`]: `groupy bench`: the live group measured against raw UDP in the same run.

// The runtime itself is the library's (`lib.rs`), compiled once; the commands around it are
// the binary's.
pub use groupy::live::{bench, codec, faults, link, logfile, node};
pub mod cluster;
pub mod solo;

use clap::Args;
use groupy_model::ProtocolName;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The flags `groupy run` and `groupy node` share: how nodes run and what faults they meet.
#[derive(Args, Clone, Debug)]
pub struct LiveArgs {
    /// The worker's sleep between two multicasts, in ms (each drawn from SLEEP/2..=3*SLEEP/2).
    #[arg(long, value_name = "MS", default_value_t = 100)]
    pub sleep: u64,
    /// The heartbeat period (a leader to its view, a slave to its leader), in ms.
    #[arg(long, value_name = "MS", default_value_t = 100)]
    pub heartbeat: u64,
    /// A node suspects the node it monitors (a slave its leader) once that node has been
    /// silent this long, in ms.
    #[arg(long, value_name = "MS", default_value_t = 500)]
    pub suspect_after: u64,
    /// The fifo link's retransmission timeout (and gms4's Retransmit timer), in ms.
    #[arg(long, value_name = "MS", default_value_t = 50)]
    pub rto: u64,
    /// fifo (reliable per-pair FIFO under the protocol) or raw (UDP as it is). Default: fifo,
    /// raw for gms4.
    #[arg(long, value_parser = parse_link)]
    pub link: Option<link::LinkKind>,
    /// Seed of every random choice (timer jitter, faults); printed with the results.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The assignment's crash: after each send in the middle of a broadcast, a node crashes
    /// with probability 1/K. Written 1/K (or K).
    #[arg(long, value_name = "1/K", value_parser = parse_crash_rate)]
    pub crash_rate: Option<u32>,
    /// Probability that a datagram is lost (at the sender), 0..=1.
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = parse_probability)]
    pub drop: f64,
    /// Probability that a datagram is sent twice, 0..=1.
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = parse_probability)]
    pub duplicate: f64,
    /// Hold each datagram for a random 0..=MS ms before sending it (so it may be overtaken).
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub delay: u64,
    /// Where each node writes its delivery log (node-<id>.jsonl), for `groupy verify`.
    #[arg(long, value_name = "DIR")]
    pub log_dir: Option<PathBuf>,
    /// A 32-byte key (raw, or 64 hex digits): every datagram carries a keyed MAC (BLAKE3), and
    /// one without a valid MAC (a stranger's) is dropped as unauthenticated.
    #[arg(long, value_name = "PATH")]
    pub key_file: Option<PathBuf>,
    /// A frame whose datagram would exceed this many bytes is sent in parts. UDP allows
    /// 65,507; on a real network 1400 avoids IP fragmentation. At least 1200.
    #[arg(long, value_name = "BYTES", default_value_t = codec::MAX_DATAGRAM)]
    pub max_datagram: usize,
    /// Frames to one peer made in one turn of the node's loop go in one datagram (up to
    /// about 1.2 kB): fewer datagrams, fewer wake-ups, under load.
    #[arg(long)]
    pub batch: bool,
    /// The group's id on the wire: datagrams of another group are dropped as foreign.
    #[arg(long, default_value_t = 1)]
    pub group_id: u32,
}

fn parse_link(s: &str) -> Result<link::LinkKind, String> {
    match s {
        "fifo" => Ok(link::LinkKind::Fifo),
        "raw" => Ok(link::LinkKind::Raw),
        _ => Err(format!("unknown link '{s}'; valid values: fifo, raw")),
    }
}

fn parse_crash_rate(s: &str) -> Result<u32, String> {
    let k = s.strip_prefix("1/").unwrap_or(s);
    match k.trim().parse::<u32>() {
        Ok(k) if k >= 1 => Ok(k),
        _ => Err(format!(
            "'{s}' is not a crash rate; write 1/K with K a whole number >= 1, e.g. 1/100"
        )),
    }
}

fn parse_probability(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err(format!(
            "'{s}' is not a probability; write a number from 0 to 1, e.g. 0.05"
        )),
    }
}

/// Reads a 32-byte key: the file's 32 bytes, or 64 hex digits (whitespace around ignored).
pub fn read_key(path: &Path) -> Result<[u8; 32], String> {
    let bytes =
        std::fs::read(path).map_err(|e| format!("cannot read key {}: {e}", path.display()))?;
    if let Ok(raw) = <[u8; 32]>::try_from(bytes.as_slice()) {
        return Ok(raw);
    }
    let text = String::from_utf8_lossy(&bytes);
    let hex = text.trim();
    let mut key = [0u8; 32];
    if hex.len() == 64 && hex.is_ascii() {
        let ok = (0..32).all(|i| {
            u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)
                .map(|b| key[i] = b)
                .is_ok()
        });
        if ok {
            return Ok(key);
        }
    }
    Err(format!(
        "key file {} must hold 32 bytes, or 64 hex digits",
        path.display()
    ))
}

impl LiveArgs {
    /// The node options these flags give for `protocol`.
    pub fn options(&self, protocol: ProtocolName) -> Result<node::Options, String> {
        let ms = Duration::from_millis;
        if self.heartbeat == 0 || self.suspect_after == 0 || self.rto == 0 {
            return Err("--heartbeat, --suspect-after and --rto must be at least 1 ms".into());
        }
        if self.suspect_after <= self.heartbeat {
            eprintln!(
                "warning: --suspect-after {} ms is not above --heartbeat {} ms: a live leader \
                 will be suspected",
                self.suspect_after, self.heartbeat
            );
        }
        if !(1200..=codec::MAX_DATAGRAM).contains(&self.max_datagram) {
            return Err(format!(
                "--max-datagram must be between 1200 and {} bytes",
                codec::MAX_DATAGRAM
            ));
        }
        let key = self.key_file.as_deref().map(read_key).transpose()?;
        Ok(node::Options {
            sleep: ms(self.sleep),
            heartbeat: ms(self.heartbeat),
            suspect_after: ms(self.suspect_after),
            rto: ms(self.rto),
            link: self.link.unwrap_or(protocol.descriptor().link),
            faults: faults::Faults {
                drop: self.drop,
                duplicate: self.duplicate,
                delay: ms(self.delay),
                crash_one_in: self.crash_rate,
            },
            seed: self.seed,
            group_id: self.group_id,
            key,
            log_dir: self.log_dir.clone(),
            max_datagram: self.max_datagram,
            window: None,
            timing: false,
            batch: self.batch,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_32_raw_bytes_or_64_hex_digits() {
        let dir = std::env::temp_dir().join(format!("groupy-key-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let raw = dir.join("raw");
        std::fs::write(&raw, [7u8; 32]).unwrap();
        assert_eq!(read_key(&raw), Ok([7u8; 32]));
        let hex = dir.join("hex");
        std::fs::write(&hex, format!("{}\n", "0a".repeat(32))).unwrap();
        assert_eq!(read_key(&hex), Ok([10u8; 32]));
        std::fs::write(&hex, "0g".repeat(32)).unwrap();
        assert!(read_key(&hex).unwrap_err().contains("64 hex digits"));
        assert!(read_key(&dir.join("missing"))
            .unwrap_err()
            .contains("cannot read"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn flags_parse_and_name_the_valid_values() {
        assert_eq!(parse_crash_rate("1/100"), Ok(100));
        assert_eq!(parse_crash_rate("7"), Ok(7));
        assert!(parse_crash_rate("1/0").unwrap_err().contains("1/K"));
        assert!(parse_probability("1.5").unwrap_err().contains("0 to 1"));
        assert!(parse_link("tcp").unwrap_err().contains("fifo, raw"));
    }
}
