//! The environment the checker explores (`notes/semantics.md`): each axis is a field of
//! [`Config`], and a command-line flag of [`ModelArgs`].

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
    /// What UDP does: any order, and any message may be lost or delivered more than once.
    Udp,
}

impl NetworkKind {
    /// Whether the network may lose a message.
    pub fn loses(self) -> bool {
        matches!(self, NetworkKind::Lossy | NetworkKind::Udp)
    }

    /// Whether a message may be delivered more than once (a copy lingers in the network).
    pub fn duplicates(self) -> bool {
        matches!(self, NetworkKind::Duplicating | NetworkKind::Udp)
    }
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

/// Whether the model applies its state-space reductions (`notes/reductions.md`). Each one is
/// sound for every property and witness groupy checks; `none` is there to show it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reduce {
    /// Every reduction: a broadcast is one step (a crash that cuts it is an explicit choice),
    /// messages to crashed nodes are dropped.
    All,
    /// None: every send is its own step, as the actors take them.
    None,
}

/// Which applications multicast. The multicasts of a run are dealt round-robin over the
/// senders, in id order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Senders {
    /// The initial members (n0 first): the assignment's workers.
    Initial,
    /// Every node, joiners included (a joiner starts multicasting once it is in the group).
    All,
    /// Only the first leader, n0.
    Leader,
    /// Everyone but n0, joiners included: every multicast is forwarded at least once.
    Slaves,
}

/// Through whom a joining node asks to join.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JoinVia {
    /// The last initial node, a slave: the join is forwarded to the leader.
    Slave,
    /// The first leader, n0, directly.
    Leader,
}

/// One point of the environment grid.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Config {
    /// Initial group size (node 0 leads, the others are slaves in id order).
    pub nodes: usize,
    /// Application multicasts in a run, dealt round-robin over the `senders`.
    pub msgs: usize,
    /// Extra nodes that start outside the group and ask to join.
    pub joins: usize,
    pub senders: Senders,
    pub join_via: JoinVia,
    /// Fail-stop crashes allowed in a run.
    pub crashes: usize,
    pub crash_at: CrashAt,
    pub detector: Detector,
    pub network: NetworkKind,
    /// At most this many messages lost in a run (`None`: any number), on a network that loses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub losses: Option<u8>,
    pub reduce: Reduce,
    #[cfg(feature = "mutants")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mutant: Option<crate::mutant::Mutant>,
}

impl Default for Config {
    /// The assignment's world with bounds that finish in seconds.
    fn default() -> Self {
        Config {
            nodes: 3,
            msgs: 2,
            joins: 0,
            senders: Senders::Initial,
            join_via: JoinVia::Slave,
            crashes: 1,
            crash_at: CrashAt::Any,
            detector: Detector::Perfect,
            network: NetworkKind::Ordered,
            losses: None,
            reduce: Reduce::All,
            #[cfg(feature = "mutants")]
            mutant: None,
        }
    }
}

impl Config {
    /// The nodes whose applications multicast, in the order multicasts are dealt to them.
    pub fn senders(&self) -> Vec<usize> {
        let all = 0..self.actor_count();
        match self.senders {
            Senders::Initial => (0..self.nodes).collect(),
            Senders::All => all.collect(),
            Senders::Leader => vec![0],
            Senders::Slaves => all.skip(1).collect(),
        }
    }

    /// How many multicasts node `i` issues (round-robin over the senders).
    pub fn quota(&self, i: usize) -> u32 {
        let senders = self.senders();
        match senders.iter().position(|&s| s == i) {
            Some(k) => ((self.msgs + senders.len() - 1 - k) / senders.len()) as u32,
            None => 0,
        }
    }

    /// The member node `i` (a joiner) sends its join to.
    pub fn contact(&self) -> usize {
        match self.join_via {
            JoinVia::Slave => self.nodes - 1,
            JoinVia::Leader => 0,
        }
    }

    pub fn actor_count(&self) -> usize {
        self.nodes + self.joins
    }

    #[cfg(feature = "mutants")]
    pub fn with_mutant(mut self, mutant: crate::mutant::Mutant) -> Self {
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
        if self.msgs > 0 && self.senders().is_empty() {
            return Err(
                "--senders slaves with a single node and no joiners leaves nobody to multicast; \
                 add --nodes or --joins, or use --senders initial"
                    .into(),
            );
        }
        if self.losses.is_some() && !self.network.loses() {
            return Err(format!(
                "--losses bounds lost messages, but the {} network loses none; use --network lossy or udp",
                self.network.name()
            ));
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
        // Shown only when not the default, so the common case reads as before.
        if self.senders != Senders::Initial {
            write!(f, " senders={}", self.senders.name())?;
        }
        if self.joins > 0 && self.join_via != JoinVia::Slave {
            write!(f, " join-via={}", self.join_via.name())?;
        }
        if let Some(l) = self.losses {
            write!(f, " losses={l}")?;
        }
        if self.reduce != Reduce::All {
            write!(f, " reduce={}", self.reduce.name())?;
        }
        #[cfg(feature = "mutants")]
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
    /// What the value means, for `groupy list`.
    fn help(self) -> &'static str;
}

macro_rules! named {
    ($t:ty, $what:literal, $($v:path => $n:literal : $h:literal),+ $(,)?) => {
        impl Named for $t {
            const ALL: &'static [Self] = &[$($v),+];
            const WHAT: &'static str = $what;
            fn name(self) -> &'static str {
                match self { $($v => $n),+ }
            }
            fn help(self) -> &'static str {
                match self { $($v => $h),+ }
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
    NetworkKind::Ordered => "ordered" : "reliable, FIFO per sender/receiver pair only (Erlang's guarantee)",
    NetworkKind::Unordered => "unordered" : "reliable, any order",
    NetworkKind::Lossy => "lossy" : "any order, and any message may be lost",
    NetworkKind::Duplicating => "duplicating" : "any order, and a message may be delivered again (infinite for gms1-gms3: use --fail-fast)",
    NetworkKind::Udp => "udp" : "any order, any message may be lost or delivered again (UDP; see --losses)");
named!(Detector, "failure detector",
    Detector::Perfect => "perfect" : "a leader is suspected only once it crashed and all it sent has arrived (Erlang monitors)",
    Detector::Unreliable => "unreliable" : "a leader may be suspected at any time (heartbeats over UDP)");
named!(CrashAt, "crash location",
    CrashAt::Any => "any" : "any node, between any two of its steps",
    CrashAt::Bcast => "bcast" : "only a leader, right after a send inside a broadcast (the assignment's crash())");
named!(Senders, "sender set",
    Senders::Initial => "initial" : "the initial members multicast, round-robin",
    Senders::All => "all" : "every node multicasts, joiners once they are in",
    Senders::Leader => "leader" : "only n0 multicasts",
    Senders::Slaves => "slaves" : "everyone but n0 multicasts, joiners included");
named!(Reduce, "reduction setting",
    Reduce::All => "all" : "the model's sound state-space reductions (notes/reductions.md)",
    Reduce::None => "none" : "every actor step on its own, as the actors take them");
named!(JoinVia, "join contact",
    JoinVia::Slave => "slave" : "joiners ask the last initial node, which forwards the join",
    JoinVia::Leader => "leader" : "joiners ask n0 directly");

/// The environment's flags, shared by `groupy check`, `groupy explore` and the verdict table
/// in `notes/verdicts.md` (whose rows are commands parsed with these very flags).
#[derive(clap::Args, Clone, Debug)]
pub struct ModelArgs {
    /// Initial group size (node 0 leads).
    #[arg(long, short = 'n', default_value_t = 3)]
    pub nodes: usize,
    /// Application multicasts in a run, dealt round-robin over the --senders.
    #[arg(long, short = 'm', default_value_t = 2)]
    pub msgs: usize,
    /// Nodes that start outside the group and ask to join (see --join-via).
    #[arg(long, short = 'j', default_value_t = 0)]
    pub joins: usize,
    /// Who multicasts: initial (the initial members), all (joiners too, once joined),
    /// leader (n0 only) or slaves (everyone but n0).
    #[arg(long, default_value = "initial", value_parser = parse_named::<Senders>)]
    pub senders: Senders,
    /// Whom a joiner asks: slave (the last initial node, which forwards the join) or leader (n0).
    #[arg(long, default_value = "slave", value_parser = parse_named::<JoinVia>)]
    pub join_via: JoinVia,
    /// Fail-stop crashes allowed in a run.
    #[arg(long, short = 'c', default_value_t = 1)]
    pub crashes: usize,
    /// Where a crash may strike: any (between any two steps of any node) or bcast (a leader,
    /// right after a send inside a broadcast, like the assignment's crash()).
    #[arg(long, default_value = "any", value_parser = parse_named::<CrashAt>)]
    pub crash_at: CrashAt,
    /// ordered (reliable FIFO per pair), unordered, lossy, duplicating or udp (lossy and
    /// duplicating).
    #[arg(long, default_value = "ordered", value_parser = parse_named::<NetworkKind>)]
    pub network: NetworkKind,
    /// On a network that loses (lossy, udp): at most this many messages lost in a run.
    /// Without it, any number.
    #[arg(long, value_name = "L")]
    pub losses: Option<u8>,
    /// perfect (only crashed leaders are suspected, after their messages arrived) or
    /// unreliable (suspicion may fire at any time).
    #[arg(long, default_value = "perfect", value_parser = parse_named::<Detector>)]
    pub fd: Detector,
    /// all (a broadcast is one step, a crash cutting it an explicit choice; messages to
    /// crashed nodes dropped) or none (every send its own step): same verdicts, fewer states.
    #[arg(long, default_value = "all", value_parser = parse_named::<Reduce>)]
    pub reduce: Reduce,
}

impl ModelArgs {
    /// The configuration these flags describe, validated.
    pub fn config(&self) -> Result<Config, String> {
        let cfg = Config {
            nodes: self.nodes,
            msgs: self.msgs,
            joins: self.joins,
            senders: self.senders,
            join_via: self.join_via,
            crashes: self.crashes,
            crash_at: self.crash_at,
            detector: self.fd,
            network: self.network,
            losses: self.losses,
            reduce: self.reduce,
            #[cfg(feature = "mutants")]
            mutant: None,
        };
        cfg.validate()?;
        Ok(cfg)
    }
}

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
        assert_eq!(cfg.quota(3), 0, "joiners do not multicast by default");
    }

    #[test]
    fn senders_choose_who_multicasts() {
        let quotas = |senders| {
            let cfg = Config {
                nodes: 3,
                msgs: 5,
                joins: 1,
                senders,
                ..Config::default()
            };
            (0..4).map(|i| cfg.quota(i)).collect::<Vec<_>>()
        };
        assert_eq!(quotas(Senders::Initial), [2, 2, 1, 0]);
        assert_eq!(quotas(Senders::All), [2, 1, 1, 1]);
        assert_eq!(quotas(Senders::Leader), [5, 0, 0, 0]);
        assert_eq!(quotas(Senders::Slaves), [0, 2, 2, 1]);
    }

    #[test]
    fn unknown_names_list_the_valid_ones() {
        let err = "tcp".parse::<NetworkKind>().unwrap_err();
        assert!(
            err.contains("ordered, unordered, lossy, duplicating, udp"),
            "{err}"
        );
        assert_eq!("LOSSY".parse::<NetworkKind>(), Ok(NetworkKind::Lossy));
        assert!("maybe"
            .parse::<Detector>()
            .unwrap_err()
            .contains("perfect, unreliable"));
    }

    #[test]
    fn a_loss_budget_needs_a_network_that_loses() {
        let ordered = Config {
            losses: Some(1),
            ..Config::default()
        };
        let err = ordered.validate().unwrap_err();
        assert!(err.contains("lossy or udp"), "{err}");
        for network in [NetworkKind::Lossy, NetworkKind::Udp] {
            let ok = Config {
                network,
                ..ordered.clone()
            };
            assert!(ok.validate().is_ok(), "{network:?}");
        }
        assert!(NetworkKind::Udp.loses() && NetworkKind::Udp.duplicates());
        assert!(!NetworkKind::Unordered.loses() && !NetworkKind::Lossy.duplicates());
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
