//! The environment the checker explores: each axis of design.md §2 is a field of [`Config`].

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// How the network between two nodes behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkKind {
    /// Reliable, FIFO per (sender, receiver) pair: Erlang's guarantee, the assignment's world.
    Ordered,
    /// Reliable, no duplicates, any order.
    Unordered,
    /// Any order, and any message may be lost.
    Lossy,
    /// Any order, and any message may be delivered more than once.
    Duplicating,
}

/// What a failure detector may tell a slave about its leader.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Detector {
    /// Erlang monitors: a node is suspected only after it crashed, and (on the ordered network)
    /// only after every message it sent you has arrived.
    Perfect,
    /// Suspicion may fire at any time, as with heartbeats over UDP.
    Unreliable,
}

/// Where a crash may happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CrashAt {
    /// Any node, between any two of its steps (the real world).
    Any,
    /// Only a leader, right after one of its sends inside a broadcast (the assignment's
    /// `crash()` injection).
    Bcast,
}

/// A deliberately broken protocol variant, used by `checks/` to show that each property can
/// fail. Not reachable from the CLI: users check protocols, not mutants.
#[doc(hidden)]
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
}

/// One point of the environment grid.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Config {
    /// Initial group size (node 0 leads, the others are slaves in id order).
    pub nodes: usize,
    /// Application multicasts in a run, issued round-robin by the initial nodes.
    pub msgs: usize,
    /// Extra nodes that start outside the group and ask to join.
    pub joins: usize,
    /// Fail-stop crashes allowed in a run.
    pub crashes: usize,
    pub crash_at: CrashAt,
    pub detector: Detector,
    pub network: NetworkKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mutant: Option<Mutant>,
}

impl Default for Config {
    /// The assignment's world with bounds that finish in seconds.
    fn default() -> Self {
        Config {
            nodes: 3,
            msgs: 2,
            joins: 0,
            crashes: 1,
            crash_at: CrashAt::Any,
            detector: Detector::Perfect,
            network: NetworkKind::Ordered,
            mutant: None,
        }
    }
}

impl Config {
    /// How many multicasts node `i` of the initial group issues (round-robin assignment).
    pub fn quota(&self, i: usize) -> u32 {
        if i >= self.nodes {
            return 0;
        }
        ((self.msgs + self.nodes - 1 - i) / self.nodes) as u32
    }

    pub fn actor_count(&self) -> usize {
        self.nodes + self.joins
    }

    pub fn with_mutant(mut self, mutant: Mutant) -> Self {
        self.mutant = Some(mutant);
        self
    }

    /// Bounds a model must respect; the message says what to change.
    pub fn validate(&self) -> Result<(), String> {
        if self.nodes == 0 {
            return Err("--nodes must be at least 1".into());
        }
        if self.nodes + self.joins > 8 {
            return Err(format!(
                "--nodes plus --joins is {}, more than 8; exhaustive checking is hopeless past a handful of nodes",
                self.nodes + self.joins
            ));
        }
        if self.msgs > 8 {
            return Err("--msgs must be at most 8".into());
        }
        if self.crashes > self.nodes + self.joins {
            return Err(format!(
                "--crashes {} exceeds the {} nodes in the run",
                self.crashes,
                self.nodes + self.joins
            ));
        }
        Ok(())
    }
}

impl fmt::Display for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "N={} M={} J={} C={} crash-at={} fd={} network={}",
            self.nodes,
            self.msgs,
            self.joins,
            self.crashes,
            self.crash_at.name(),
            self.detector.name(),
            self.network.name()
        )?;
        if let Some(m) = self.mutant {
            write!(f, " mutant={m:?}")?;
        }
        Ok(())
    }
}

/// Enumerations that the CLI parses by name; an unknown name is answered with the valid ones.
pub trait Named: Sized + Copy + 'static {
    const ALL: &'static [Self];
    const WHAT: &'static str;
    fn name(self) -> &'static str;
}

macro_rules! named {
    ($t:ty, $what:literal, $($v:path => $n:literal),+ $(,)?) => {
        impl Named for $t {
            const ALL: &'static [Self] = &[$($v),+];
            const WHAT: &'static str = $what;
            fn name(self) -> &'static str {
                match self { $($v => $n),+ }
            }
        }
        impl FromStr for $t {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                parse_named(s)
            }
        }
    };
}

named!(NetworkKind, "network",
    NetworkKind::Ordered => "ordered",
    NetworkKind::Unordered => "unordered",
    NetworkKind::Lossy => "lossy",
    NetworkKind::Duplicating => "duplicating");
named!(Detector, "failure detector",
    Detector::Perfect => "perfect",
    Detector::Unreliable => "unreliable");
named!(CrashAt, "crash location",
    CrashAt::Any => "any",
    CrashAt::Bcast => "bcast");

/// Parses a [`Named`] value; the error lists the valid names.
pub fn parse_named<T: Named>(s: &str) -> Result<T, String> {
    T::ALL
        .iter()
        .copied()
        .find(|v| v.name().eq_ignore_ascii_case(s))
        .ok_or_else(|| {
            let valid: Vec<_> = T::ALL.iter().map(|v| v.name()).collect();
            format!(
                "unknown {} '{s}'; valid values: {}",
                T::WHAT,
                valid.join(", ")
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_are_round_robin_and_add_up() {
        let cfg = Config {
            nodes: 3,
            msgs: 4,
            ..Config::default()
        };
        assert_eq!((0..3).map(|i| cfg.quota(i)).collect::<Vec<_>>(), [2, 1, 1]);
        assert_eq!(cfg.quota(3), 0, "joiners do not multicast");
    }

    #[test]
    fn unknown_names_list_the_valid_ones() {
        let err = "udp".parse::<NetworkKind>().unwrap_err();
        assert!(
            err.contains("ordered, unordered, lossy, duplicating"),
            "{err}"
        );
        assert_eq!("LOSSY".parse::<NetworkKind>(), Ok(NetworkKind::Lossy));
        assert!("maybe"
            .parse::<Detector>()
            .unwrap_err()
            .contains("perfect, unreliable"));
    }

    #[test]
    fn bounds_are_validated() {
        assert!(Config::default().validate().is_ok());
        let zero = Config {
            nodes: 0,
            ..Config::default()
        };
        assert!(zero.validate().is_err());
        let too_many_crashes = Config {
            crashes: 4,
            ..Config::default()
        };
        assert!(too_many_crashes.validate().is_err());
    }
}
