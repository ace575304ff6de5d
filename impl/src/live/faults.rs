//! Fault injection, seeded: every decision is drawn from the node's own RNG (seeded from
//! `--seed` and the node id), so a seed fixes the sequence of choices each node makes. (Which
//! datagram meets which choice still depends on thread timing: a live run is reproducible in
//! its fault *rates and decisions*, not instruction for instruction.)
//!
//! Datagram faults are applied at the sender, to every datagram (protocol messages, link
//! acknowledgements and heartbeats alike): `--drop P` loses it, `--duplicate P` sends it
//! twice, `--delay MS` holds it for a uniformly drawn 0..=MS milliseconds (so it also
//! reorders). `--crash-rate 1/K` is the assignment's `arghh`: after each send a node makes in
//! the middle of a broadcast, it crashes with probability 1/K, cutting the broadcast.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use std::time::Duration;

/// The faults a node injects, and their flags (`groupy run`, `groupy node`). The default is
/// none.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, clap::Args)]
pub struct Faults {
    /// Probability that a datagram is lost (at the sender), 0..=1.
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = parse_probability)]
    pub drop: f64,
    /// Probability that a datagram is sent twice, 0..=1.
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = parse_probability)]
    pub duplicate: f64,
    /// Hold each datagram for a random 0..=MS ms before sending it (so it may be overtaken).
    #[arg(long, value_name = "MS", default_value = "0", value_parser = super::options::parse_millis)]
    #[serde(serialize_with = "millis")]
    pub delay: Duration,
    /// The assignment's crash: after each send in the middle of a broadcast, a node crashes
    /// with probability 1/K. Written 1/K (or K).
    #[arg(long = "crash-rate", value_name = "1/K", value_parser = parse_crash_rate)]
    pub crash_one_in: Option<u32>,
    /// --crash-rate crashes no more nodes once this many are left (the assignment's
    /// experiment stops at two: a lone survivor agrees with nobody). A node run as its own
    /// process (`groupy node`) cannot know how many others are left, so there it is ignored.
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub min_survivors: usize,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            drop: 0.0,
            duplicate: 0.0,
            delay: Duration::ZERO,
            crash_one_in: None,
            min_survivors: 2,
        }
    }
}

/// How many more nodes `--crash-rate` may crash in a group (shared by the group's nodes):
/// a node whose dice says crash takes one first, and stays up when none is left.
#[derive(Clone, Debug)]
pub struct CrashBudget(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl CrashBudget {
    /// For a group of `nodes` with these faults.
    pub fn new(nodes: usize, faults: &Faults) -> CrashBudget {
        let n = nodes.saturating_sub(faults.min_survivors);
        CrashBudget(std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(n)))
    }

    /// Takes one crash, if any is left.
    pub fn take(&self) -> bool {
        use std::sync::atomic::Ordering;
        self.0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }
}

/// `--crash-rate`: 1/K or K, K a whole number from 1.
pub fn parse_crash_rate(s: &str) -> Result<u32, String> {
    let k = s.strip_prefix("1/").unwrap_or(s);
    match k.trim().parse::<u32>() {
        Ok(k) if k >= 1 => Ok(k),
        _ => Err(format!(
            "'{s}' is not a crash rate; write 1/K with K a whole number >= 1, e.g. 1/100"
        )),
    }
}

/// `--drop`, `--duplicate`: a probability.
pub fn parse_probability(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err(format!(
            "'{s}' is not a probability; write a number from 0 to 1, e.g. 0.05"
        )),
    }
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

/// What happens to one outgoing datagram.
#[derive(Debug, PartialEq, Eq)]
pub enum Fate {
    Drop,
    /// Send it this many times (1 or 2), after this delay.
    Send(u8, Duration),
}

/// What the faults did, for the report.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct FaultStats {
    pub dropped: u64,
    /// Datagrams not sent because a partition (`groupy run --partition`) cut their way.
    pub cut: u64,
    pub duplicated: u64,
    pub delayed: u64,
}

/// A node's seeded source of every random choice the runtime makes.
pub struct Dice {
    rng: StdRng,
    pub faults: Faults,
    pub stats: FaultStats,
}

impl Dice {
    pub fn new(seed: u64, node: usize, faults: Faults) -> Dice {
        // Distinct, fixed streams per node from one seed.
        let stream = seed ^ (node as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        Dice {
            rng: StdRng::seed_from_u64(stream),
            faults,
            stats: FaultStats::default(),
        }
    }

    pub fn fate(&mut self) -> Fate {
        let f = self.faults;
        if f.drop > 0.0 && self.rng.random_bool(f.drop) {
            self.stats.dropped += 1;
            return Fate::Drop;
        }
        let copies = if f.duplicate > 0.0 && self.rng.random_bool(f.duplicate) {
            self.stats.duplicated += 1;
            2
        } else {
            1
        };
        let delay = if f.delay.is_zero() {
            Duration::ZERO
        } else {
            self.stats.delayed += 1;
            self.rng.random_range(Duration::ZERO..=f.delay)
        };
        Fate::Send(copies, delay)
    }

    /// The assignment's crash after a send mid-broadcast.
    pub fn crash(&mut self) -> bool {
        self.faults
            .crash_one_in
            .is_some_and(|k| self.rng.random_ratio(1, k.max(1)))
    }

    /// A duration drawn uniformly from `base/2 ..= 3*base/2` (timer jitter).
    pub fn jitter(&mut self, base: Duration) -> Duration {
        if base.is_zero() {
            return base;
        }
        self.rng.random_range(base / 2..=base * 3 / 2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_flags_parse_and_name_their_format() {
        assert_eq!(parse_crash_rate("1/100"), Ok(100));
        assert_eq!(parse_crash_rate("7"), Ok(7));
        assert!(parse_crash_rate("1/0").unwrap_err().contains("1/K"));
        assert!(parse_probability("1.5").unwrap_err().contains("0 to 1"));
        assert_eq!(parse_probability("0.05"), Ok(0.05));
    }

    #[test]
    fn a_seed_fixes_the_choices() {
        let faults = Faults {
            drop: 0.3,
            duplicate: 0.2,
            delay: Duration::from_millis(5),
            crash_one_in: Some(10),
            ..Faults::default()
        };
        let draw = |seed| {
            let mut d = Dice::new(seed, 2, faults);
            (0..50).map(|_| (d.fate(), d.crash())).collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
    }
}
