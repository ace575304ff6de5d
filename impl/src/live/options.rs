//! The live commands' options, each flag's help and default written once, here (the faults'
//! in [`super::faults::Faults`]), and turned into a node's [`Options`] in one place:
//! [`LiveArgs::options`], which [`ScenarioArgs::options`] completes.
//!
//! - [`LiveArgs`]: what `groupy run`, `groupy node` and `groupy bench` all take: the failure
//!   detector's and the link's timers, the seed, the wire (datagram size, group id, key).
//! - [`ScenarioArgs`]: what `groupy run` and `groupy node` add: the workers' pace, the link,
//!   batching, the faults and the delivery log. `groupy bench` chooses these itself, figure by
//!   figure.
//!
//! Values are parsed by clap `value_parser` functions, so a bad value is a usage error (exit
//! 2) that names the valid values or the format, before anything runs.

use super::codec;
use super::faults::Faults;
use super::node::Options;
use clap::{Args, FromArgMatches};
use groupy_model::Link;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The flags every live command takes.
#[derive(Args, Clone, Debug, PartialEq)]
pub struct LiveArgs {
    /// The heartbeat period (a leader to its view, a slave to its leader), in ms.
    #[arg(long, value_name = "MS", default_value = "100", value_parser = parse_positive_millis)]
    pub heartbeat: Duration,
    /// A node suspects the node it monitors (a slave its leader) once that node has been
    /// silent this long, in ms.
    #[arg(long, value_name = "MS", default_value = "500", value_parser = parse_positive_millis)]
    pub suspect_after: Duration,
    /// The fifo link's retransmission timeout, in ms; for the protocol's retransmission
    /// timers (gms4, gms5), their timeout until round trips are measured, and its ceiling.
    #[arg(long, value_name = "MS", default_value = "50", value_parser = parse_positive_millis)]
    pub rto: Duration,
    /// The floor of the protocol's retransmission timeout, which follows the measured round
    /// trips in between (RFC 6298's estimate); --rto-min equal to --rto fixes it, in ms.
    #[arg(long, value_name = "MS", default_value = "1", value_parser = parse_positive_millis)]
    pub rto_min: Duration,
    /// Seed of every random choice (timer jitter, faults); printed with the results.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// A frame whose datagram would exceed this many bytes is sent in parts (each part's
    /// datagram up to about 12 kB, whatever this says). UDP allows 65,507. At least 1200.
    #[arg(long, value_name = "BYTES", default_value_t = codec::MAX_DATAGRAM,
          value_parser = parse_max_datagram)]
    pub max_datagram: usize,
    /// A 32-byte key (raw, or 64 hex digits): every datagram carries a keyed MAC (BLAKE3), and
    /// one without a valid MAC (a stranger's) is dropped as unauthenticated.
    #[arg(long, value_name = "PATH")]
    pub key_file: Option<PathBuf>,
    /// The group's id on the wire: datagrams of another group are dropped as foreign.
    #[arg(long, default_value_t = 1)]
    pub group_id: u32,
}

impl Default for LiveArgs {
    /// The flags' defaults, as declared above: read from an empty command line, so that a
    /// default is written in one place only.
    fn default() -> Self {
        defaults::<LiveArgs>()
    }
}

/// The flags `groupy run` and `groupy node` add to [`LiveArgs`].
#[derive(Args, Clone, Debug, PartialEq)]
pub struct ScenarioArgs {
    #[command(flatten)]
    pub live: LiveArgs,
    /// The worker's sleep between two multicasts, in ms (each drawn from SLEEP/2..=3*SLEEP/2).
    #[arg(long, value_name = "MS", default_value = "100", value_parser = parse_millis)]
    pub sleep: Duration,
    /// The link under the protocol. Default: the one the protocol is designed for (fifo, raw
    /// for gms4).
    #[arg(long, value_enum, ignore_case = true)]
    pub link: Option<Link>,
    /// Frames to one peer made in one turn of the node's loop go in one datagram (up to
    /// about 1.2 kB): fewer datagrams, fewer wake-ups, under load.
    #[arg(long)]
    pub batch: bool,
    /// Flow control: a worker issues no multicast while this many of its own are not yet
    /// delivered back to it (0: no bound). Without a bound, a sender whose multicasts outrun
    /// the group under loss queues them without limit.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub in_flight: u32,
    #[command(flatten)]
    pub faults: Faults,
    /// Where each node writes its delivery log (node-<id>.jsonl), for `groupy verify`.
    #[arg(long, value_name = "DIR")]
    pub log_dir: Option<PathBuf>,
}

impl Default for ScenarioArgs {
    fn default() -> Self {
        defaults::<ScenarioArgs>()
    }
}

/// The value of a flag struct when no flag is given.
fn defaults<T: Args + FromArgMatches>() -> T {
    let cmd = T::augment_args(clap::Command::new("defaults"));
    cmd.try_get_matches_from(["defaults"])
        .and_then(|m| T::from_arg_matches(&m))
        // The defaults are constants of this file, and a unit test parses them.
        .expect("every default of a live flag parses")
}

impl LiveArgs {
    /// A node's options: these flags' values, the rest the runtime's own (no faults, no log,
    /// no batching, no window, no timing), which [`ScenarioArgs::options`] or the bench sets.
    pub fn options(&self, link: Link, sleep: Duration) -> Result<Options, String> {
        let key = self.key_file.as_deref().map(read_key).transpose()?;
        if self.rto_min > self.rto {
            return Err(format!(
                "--rto-min {} exceeds --rto {}: the measured timeout lies between them (equal, \
                 it is fixed)",
                self.rto_min.as_millis(),
                self.rto.as_millis()
            ));
        }
        Ok(Options {
            sleep,
            heartbeat: self.heartbeat,
            suspect_after: self.suspect_after,
            rto: self.rto,
            rto_min: self.rto_min,
            link,
            faults: Faults::default(),
            seed: self.seed,
            group_id: self.group_id,
            key,
            log_dir: None,
            max_datagram: self.max_datagram,
            window: None,
            in_flight: None,
            timing: false,
            batch: false,
            crash_budget: None,
        })
    }
}

impl LiveArgs {
    /// Warns (once per command, on stderr) about timers that defeat the failure detector.
    pub fn warn_about_timers(&self) {
        if self.suspect_after <= self.heartbeat {
            eprintln!(
                "warning: --suspect-after {} ms is not above --heartbeat {} ms: a live leader \
                 will be suspected",
                self.suspect_after.as_millis(),
                self.heartbeat.as_millis()
            );
        }
    }
}

impl ScenarioArgs {
    /// The node options these flags give for a protocol whose own link is `designed_for`.
    pub fn options(&self, designed_for: Link) -> Result<Options, String> {
        self.live.warn_about_timers();
        let mut opts = self
            .live
            .options(self.link.unwrap_or(designed_for), self.sleep)?;
        opts.faults = self.faults;
        opts.in_flight = (self.in_flight > 0).then_some(self.in_flight);
        opts.log_dir = self.log_dir.clone();
        opts.batch = self.batch;
        Ok(opts)
    }
}

/// A whole number of milliseconds (`--sleep`, `--delay`).
pub fn parse_millis(s: &str) -> Result<Duration, String> {
    s.trim()
        .parse::<u64>()
        .map(Duration::from_millis)
        .map_err(|_| format!("'{s}' is not a duration; write whole milliseconds, e.g. 100"))
}

/// A whole number of milliseconds, at least 1 (the timers: a period of 0 would spin).
pub fn parse_positive_millis(s: &str) -> Result<Duration, String> {
    match parse_millis(s) {
        Ok(d) if !d.is_zero() => Ok(d),
        _ => Err(format!(
            "'{s}' is not a period; write whole milliseconds, at least 1, e.g. 100"
        )),
    }
}

/// Seconds, a decimal number (`--duration`): `max` bounds it, `zero` says whether 0 is allowed.
pub fn parse_seconds(s: &str, zero: bool, max: f64) -> Result<Duration, String> {
    let secs = s.trim().parse::<f64>().ok();
    match secs.map(|t| (t, Duration::try_from_secs_f64(t))) {
        Some((t, Ok(d))) if t <= max && (zero || t > 0.0) => Ok(d),
        _ => Err(format!(
            "'{s}' is not a duration; write a number of seconds {} 0, at most {max}, e.g. 2.5",
            if zero { "from" } else { "greater than" }
        )),
    }
}

fn parse_max_datagram(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if (1200..=codec::MAX_DATAGRAM).contains(&n) => Ok(n),
        _ => Err(format!(
            "'{s}' is not a datagram size; write a number of bytes from 1200 to {}",
            codec::MAX_DATAGRAM
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

/// What a run does to its nodes at given times (`groupy run`, `groupy sim`): freezes them,
/// cuts the group in two, kills them.
#[derive(Args, Clone, Debug, Default, PartialEq)]
pub struct Disruptions {
    /// Freeze a node: NODE:AT_MS:FOR_MS (repeatable), e.g. 0:2000:1000.
    #[arg(long = "pause", value_name = "NODE:AT_MS:FOR_MS", value_parser = parse_pause)]
    pub pauses: Vec<Pause>,
    /// Cut the group in two: SIDE|SIDE:AT_MS:FOR_MS (repeatable), e.g. 0,1|2,3,4:1000:2000.
    /// Every datagram between the sides is lost until the cut heals, which must be within
    /// the run's multicasting time (the drain judges a healed group).
    #[arg(long = "partition", value_name = "SIDE|SIDE:AT_MS:FOR_MS", value_parser = parse_partition)]
    pub partitions: Vec<Partition>,
    /// Kill a node (fail-stop, as a SIGKILL): NODE:AT_MS (repeatable), e.g. 0:3000.
    #[arg(long = "kill", value_name = "NODE:AT_MS", value_parser = parse_kill)]
    pub kills: Vec<Kill>,
    /// Restarts (`groupy sim --restart`; not a flag of `groupy run`, whose nodes are threads
    /// of one process).
    #[arg(skip)]
    pub restarts: Vec<Restart>,
}

impl Disruptions {
    /// Checks them against a group of `nodes` multicasting for `duration`: a usage error.
    pub fn check(&self, nodes: usize, duration: Duration) -> Result<(), String> {
        let last = nodes.saturating_sub(1);
        if let Some(p) = self.pauses.iter().find(|p| p.node >= nodes) {
            return Err(format!(
                "--pause names node {}, but the nodes are 0..{last}",
                p.node
            ));
        }
        if let Some(k) = self.kills.iter().find(|k| k.node >= nodes) {
            return Err(format!(
                "--kill names node {}, but the nodes are 0..{last}",
                k.node
            ));
        }
        for r in &self.restarts {
            if r.node >= nodes {
                return Err(format!(
                    "--restart names node {}, but the nodes are 0..{last}",
                    r.node
                ));
            }
            if Duration::from_millis(r.at_ms + r.for_ms) > duration {
                return Err(format!(
                    "--restart {}:{}:{} comes back after the multicasting time ({} s): the \
                     drain must judge the group with the restarted node; restart earlier or \
                     run longer",
                    r.node,
                    r.at_ms,
                    r.for_ms,
                    duration.as_secs_f64()
                ));
            }
        }
        for p in &self.partitions {
            if let Some(n) = p.sides.iter().flatten().find(|&&n| n >= nodes) {
                return Err(format!(
                    "--partition names node {n}, but the nodes are 0..{last}"
                ));
            }
            if Duration::from_millis(p.at_ms + p.for_ms) > duration {
                return Err(format!(
                    "--partition {}:{}:{} heals after the multicasting time ({} s): the drain \
                     must judge a healed group; cut earlier or shorter, or run longer",
                    p.sides_text(),
                    p.at_ms,
                    p.for_ms,
                    duration.as_secs_f64()
                ));
            }
        }
        Ok(())
    }

    /// Each node's peers across every cut in force `at` into the run, as bits (overlapping
    /// cuts add up).
    pub fn cut_off(&self, nodes: usize, at: Duration) -> Vec<u64> {
        let mut cut = vec![0u64; nodes];
        for p in &self.partitions {
            let from = Duration::from_millis(p.at_ms);
            if at >= from && at < from + Duration::from_millis(p.for_ms) {
                for (n, bits) in p.cuts() {
                    if let Some(c) = cut.get_mut(n) {
                        *c |= bits;
                    }
                }
            }
        }
        cut
    }
}

/// A node killed at a time (`--kill NODE:AT_MS`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Kill {
    pub node: usize,
    pub at_ms: u64,
}

pub fn parse_kill(s: &str) -> Result<Kill, String> {
    let nums: Vec<Option<u64>> = s.split(':').map(|p| p.trim().parse().ok()).collect();
    match nums.as_slice() {
        [Some(node), Some(at_ms)] => Ok(Kill {
            node: *node as usize,
            at_ms: *at_ms,
        }),
        _ => Err(format!(
            "'{s}' is not a kill; write NODE:AT_MS, e.g. 0:3000 (node 0, 3 s into the run)"
        )),
    }
}

/// A node's process killed and started again under its id, with nothing but what its
/// storage kept (`--restart NODE:AT_MS:FOR_MS`: down at `at_ms`, back `for_ms` later; a
/// node already killed only comes back).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Restart {
    pub node: usize,
    pub at_ms: u64,
    pub for_ms: u64,
}

pub fn parse_restart(s: &str) -> Result<Restart, String> {
    let nums: Vec<Option<u64>> = s.split(':').map(|p| p.trim().parse().ok()).collect();
    match nums.as_slice() {
        [Some(node), Some(at_ms), Some(for_ms)] => Ok(Restart {
            node: *node as usize,
            at_ms: *at_ms,
            for_ms: *for_ms,
        }),
        _ => Err(format!(
            "'{s}' is not a restart; write NODE:AT_MS:FOR_MS, e.g. 0:3000:500 (node 0 down 3 s \
             into the run, back half a second later)"
        )),
    }
}

/// A node paused for a while, to make the others suspect it (`--pause I:AT_MS:FOR_MS`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Pause {
    pub node: usize,
    pub at_ms: u64,
    pub for_ms: u64,
}

pub fn parse_pause(s: &str) -> Result<Pause, String> {
    let parts: Vec<&str> = s.split(':').collect();
    let nums: Vec<Option<u64>> = parts.iter().map(|p| p.trim().parse().ok()).collect();
    match nums.as_slice() {
        [Some(node), Some(at_ms), Some(for_ms)] => Ok(Pause {
            node: *node as usize,
            at_ms: *at_ms,
            for_ms: *for_ms,
        }),
        _ => Err(format!(
            "'{s}' is not a pause; write NODE:AT_MS:FOR_MS, e.g. 0:1000:800 (node 0, from 1 s \
             into the run, for 800 ms)"
        )),
    }
}

/// Two sets of nodes that cannot reach each other for a while (`--partition
/// 0,1|2,3,4:AT_MS:FOR_MS`): every datagram from one side to the other is lost. A node in
/// neither set reaches both.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Partition {
    pub sides: [Vec<usize>; 2],
    pub at_ms: u64,
    pub for_ms: u64,
}

impl Partition {
    /// Each node's peers across the cut, as bits: `(node, bits)`.
    pub fn cuts(&self) -> Vec<(usize, u64)> {
        let mask = |side: &[usize]| side.iter().fold(0u64, |m, &n| m | 1 << n);
        let [a, b] = &self.sides;
        let (ma, mb) = (mask(a), mask(b));
        a.iter()
            .map(|&n| (n, mb))
            .chain(b.iter().map(|&n| (n, ma)))
            .collect()
    }

    pub fn sides_text(&self) -> String {
        let side = |s: &[usize]| {
            let names: Vec<String> = s.iter().map(|n| format!("n{n}")).collect();
            format!("{{{}}}", names.join(","))
        };
        format!("{}|{}", side(&self.sides[0]), side(&self.sides[1]))
    }
}

pub fn parse_partition(s: &str) -> Result<Partition, String> {
    let bad = || {
        format!(
            "'{s}' is not a partition; write SIDE|SIDE:AT_MS:FOR_MS with each side a list of \
             node ids, e.g. 0,1|2,3,4:1000:2000 (n0 and n1 cut off from n2-n4 from 1 s into \
             the run, for 2 s)"
        )
    };
    let parts: Vec<&str> = s.split(':').collect();
    let [sides, at, length] = parts.as_slice() else {
        return Err(bad());
    };
    let (Ok(at_ms), Ok(for_ms)) = (at.trim().parse(), length.trim().parse()) else {
        return Err(bad());
    };
    let side =
        |t: &str| -> Option<Vec<usize>> { t.split(',').map(|n| n.trim().parse().ok()).collect() };
    let Some((a, b)) = sides.split_once('|') else {
        return Err(bad());
    };
    let (Some(a), Some(b)) = (side(a), side(b)) else {
        return Err(bad());
    };
    if a.iter().any(|n| b.contains(n)) {
        return Err(format!(
            "'{s}': a node cannot be on both sides of a partition"
        ));
    }
    Ok(Partition {
        sides: [a, b],
        at_ms,
        for_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_the_declared_ones() {
        let live = LiveArgs::default();
        let ms = Duration::from_millis;
        assert_eq!(
            (live.heartbeat, live.suspect_after, live.rto),
            (ms(100), ms(500), ms(50))
        );
        assert_eq!((live.seed, live.group_id), (0, 1));
        assert_eq!(live.max_datagram, codec::MAX_DATAGRAM);
        let scenario = ScenarioArgs::default();
        assert_eq!(scenario.live, live);
        assert_eq!(scenario.sleep, ms(100));
        assert_eq!(scenario.faults, Faults::default());
        let opts = scenario.options(Link::Raw).unwrap();
        assert_eq!(opts.link, Link::Raw);
        assert_eq!((opts.heartbeat, opts.sleep), (ms(100), ms(100)));
    }

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
    fn values_parse_and_errors_name_the_format() {
        assert_eq!(parse_millis("0"), Ok(Duration::ZERO));
        assert!(parse_positive_millis("0")
            .unwrap_err()
            .contains("at least 1"));
        assert!(parse_millis("1.5")
            .unwrap_err()
            .contains("whole milliseconds"));
        assert_eq!(
            parse_seconds("2.5", true, 86_400.0),
            Ok(Duration::from_millis(2500))
        );
        assert!(parse_seconds("0", false, 86_400.0)
            .unwrap_err()
            .contains("greater than 0"));
        assert!(parse_seconds("1e30", true, f64::MAX).is_err());
        assert!(parse_seconds("inf", true, f64::MAX).is_err());
        assert!(parse_max_datagram("100").unwrap_err().contains("1200 to"));
        assert_eq!(
            <Link as clap::ValueEnum>::from_str("RAW", true).map(|l| l.name()),
            Ok("raw")
        );
    }
}
