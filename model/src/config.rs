//! The environment the checker explores (`notes/semantics.md`): each axis is a field of
//! [`Config`] and, through the same field, a command-line flag: its help is the field's doc
//! comment, its default is [`Config::default`]'s, and the names and meanings of its values
//! are the [`Named`] tables below (read by `--help`, completions, `groupy list` and parsing).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Enumerations that the CLI parses by name; an unknown name is answered with the valid ones.
pub trait Named: Sized + Copy + 'static {
    const ALL: &'static [Self];
    const WHAT: &'static str;
    fn name(self) -> &'static str;
    /// What the value means, for `groupy list`.
    fn help(self) -> &'static str;
}

/// Declares an environment axis: its values, each with its name and meaning written once and
/// read everywhere: the variant's doc, its serde name, its [`Named`] name and help (`groupy
/// list`), its [`clap::ValueEnum`] value (`--help`, shell completions) and [`FromStr`].
macro_rules! named {
    ($(#[$doc:meta])* $t:ident, $what:literal, $($v:ident => $n:literal : $h:literal),+ $(,)?) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $t {
            $(#[doc = $h] #[serde(rename = $n)] $v),+
        }
        impl Named for $t {
            const ALL: &'static [Self] = &[$($t::$v),+];
            const WHAT: &'static str = $what;
            fn name(self) -> &'static str {
                match self { $($t::$v => $n),+ }
            }
            fn help(self) -> &'static str {
                match self { $($t::$v => $h),+ }
            }
        }
        impl FromStr for $t {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                parse_named(s)
            }
        }
        impl clap::ValueEnum for $t {
            fn value_variants<'a>() -> &'a [Self] {
                <$t as Named>::ALL
            }
            fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
                Some(clap::builder::PossibleValue::new(self.name()).help(self.help()))
            }
        }
    };
}

named!(
    /// How the network between two nodes behaves.
    NetworkKind, "network",
    Ordered => "ordered" : "reliable, FIFO per sender/receiver pair only (Erlang's guarantee, the assignment's world)",
    Unordered => "unordered" : "reliable, no duplicates, any order",
    Lossy => "lossy" : "any order, and any message may be lost",
    Duplicating => "duplicating" : "any order, and a message may be delivered again (infinite for gms1-gms3: use --fail-fast)",
    Udp => "udp" : "what UDP does: any order, any message may be lost or delivered again (see --losses)");

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

named!(
    /// What a failure detector may tell a slave about its leader.
    Detector, "failure detector",
    Perfect => "perfect" : "a leader is suspected only once it crashed and (on the ordered network) all it sent has arrived (Erlang monitors)",
    Unreliable => "unreliable" : "a leader may be suspected at any time (heartbeats over UDP)");

named!(
    /// Where a crash may happen.
    CrashAt, "crash location",
    Any => "any" : "any node, between any two of its steps (the real world)",
    Bcast => "bcast" : "only a leader, right after a send inside a broadcast (the assignment's crash())");

named!(
    /// Whether the model applies its state-space reductions (`notes/reductions.md`). Each one
    /// is sound for every property and witness groupy checks; `none` is there to show it.
    Reduce, "reduction setting",
    All => "all" : "every sound state-space reduction the model has (notes/reductions.md lists them)",
    None => "none" : "every actor step on its own, as the actors take them");

named!(
    /// Which applications multicast. The multicasts of a run are dealt round-robin over the
    /// senders, in id order.
    Senders, "sender set",
    Initial => "initial" : "the initial members multicast, n0 first (the assignment's workers)",
    All => "all" : "every node multicasts, joiners once they are in the group",
    Leader => "leader" : "only n0, the first leader, multicasts",
    Slaves => "slaves" : "everyone but n0 multicasts, joiners included: every multicast is forwarded");

named!(
    /// Through whom a joining node asks to join.
    JoinVia, "join contact",
    Slave => "slave" : "joiners ask the last initial node, a slave, which forwards the join",
    Leader => "leader" : "joiners ask n0, the first leader, directly");

/// One point of the environment grid, and the flags of `groupy check` and `groupy explore`
/// that choose it (the rows of `notes/verdicts.md` are commands parsed with these very flags).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, clap::Args)]
pub struct Config {
    /// Initial group size (node 0 leads, the others are slaves in id order).
    #[arg(long, short = 'n', default_value_t = Config::default().nodes)]
    pub nodes: usize,
    /// Application multicasts in a run, dealt round-robin over the --senders.
    #[arg(long, short = 'm', default_value_t = Config::default().msgs)]
    pub msgs: usize,
    /// Nodes that start outside the group and ask to join (see --join-via).
    #[arg(long, short = 'j', default_value_t = Config::default().joins)]
    pub joins: usize,
    /// Who multicasts.
    #[arg(long, value_enum, ignore_case = true, default_value_t = Config::default().senders)]
    pub senders: Senders,
    /// Whom a joiner asks to let it in.
    #[arg(long, value_enum, ignore_case = true, default_value_t = Config::default().join_via)]
    pub join_via: JoinVia,
    /// Fail-stop crashes allowed in a run.
    #[arg(long, short = 'c', default_value_t = Config::default().crashes)]
    pub crashes: usize,
    /// Where a crash may strike.
    #[arg(long, value_enum, ignore_case = true, default_value_t = Config::default().crash_at)]
    pub crash_at: CrashAt,
    /// The failure detector: what a slave may be told about its leader.
    #[arg(
        id = "fd",
        long = "fd",
        value_name = "FD",
        value_enum,
        ignore_case = true,
        default_value_t = Config::default().detector
    )]
    pub detector: Detector,
    /// How the network between two nodes behaves.
    #[arg(long, value_enum, ignore_case = true, default_value_t = Config::default().network)]
    pub network: NetworkKind,
    /// On a network that loses (lossy, udp): at most this many messages lost in a run.
    /// Without it, any number.
    #[arg(long, value_name = "L")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub losses: Option<u8>,
    /// With --fd unreliable: at most this many false suspicions (of a node that has not
    /// crashed) in a run. Without it, any number.
    #[arg(long, value_name = "K")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub false_suspicions: Option<u8>,
    /// Of the --crashes, at most this many come back: the node restarts with nothing but
    /// its incarnation number (amnesia) and joins again. Only for protocols that model
    /// restarts (`groupy list`: gms5).
    #[arg(long, value_name = "R", default_value_t = Config::default().restarts)]
    #[serde(default, skip_serializing_if = "is_zero")]
    pub restarts: u8,
    /// The model's state-space reductions: same verdicts, fewer states.
    #[arg(long, value_enum, ignore_case = true, default_value_t = Config::default().reduce)]
    pub reduce: Reduce,
    #[cfg(feature = "mutants")]
    #[arg(skip)]
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
            false_suspicions: None,
            restarts: 0,
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

    /// The configuration, if it is within the bounds a model must respect (see
    /// [`Config::validate`]).
    pub fn validated(self) -> Result<Config, String> {
        self.validate()?;
        Ok(self)
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
        if self.false_suspicions.is_some() && self.detector != Detector::Unreliable {
            return Err(
                "--false-suspicions bounds the mistakes of a detector that can be wrong, but the \
                 perfect detector makes none; add --fd unreliable"
                    .into(),
            );
        }
        if usize::from(self.restarts) > self.crashes {
            return Err(format!(
                "--restarts {} exceeds --crashes {}: a node restarts only after it crashed, and \
                 every crash, restarted or not, counts against --crashes",
                self.restarts, self.crashes
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
        if let Some(k) = self.false_suspicions {
            write!(f, " false-suspicions={k}")?;
        }
        if self.restarts > 0 {
            write!(f, " restarts={}", self.restarts)?;
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

fn is_zero(n: &u8) -> bool {
    *n == 0
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
    fn the_flags_default_to_the_default_config_and_read_each_field() {
        use clap::{Args, FromArgMatches};
        let parse = |args: &[&str]| {
            let cmd = Config::augment_args(clap::Command::new("check").no_binary_name(true));
            let m = cmd.try_get_matches_from(args).map_err(|e| e.to_string())?;
            Config::from_arg_matches(&m).map_err(|e| e.to_string())
        };
        assert_eq!(parse(&[]), Ok(Config::default()));
        let cfg = parse(&[
            "-n",
            "4",
            "-m",
            "3",
            "-j",
            "1",
            "-c",
            "2",
            "--senders",
            "all",
            "--join-via",
            "leader",
            "--crash-at",
            "bcast",
            "--fd",
            "unreliable",
            "--network",
            "LOSSY",
            "--losses",
            "1",
            "--false-suspicions",
            "2",
            "--reduce",
            "none",
        ]);
        let expected = Config {
            nodes: 4,
            msgs: 3,
            joins: 1,
            crashes: 2,
            senders: Senders::All,
            join_via: JoinVia::Leader,
            crash_at: CrashAt::Bcast,
            detector: Detector::Unreliable,
            network: NetworkKind::Lossy,
            losses: Some(1),
            false_suspicions: Some(2),
            reduce: Reduce::None,
            ..Config::default()
        };
        assert_eq!(cfg, Ok(expected));
        let err = parse(&["--network", "tcp"]).unwrap_err();
        assert!(
            err.contains("ordered, unordered, lossy, duplicating, udp"),
            "{err}"
        );
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
    fn a_false_suspicion_budget_needs_a_detector_that_can_be_wrong() {
        let perfect = Config {
            false_suspicions: Some(1),
            ..Config::default()
        };
        let err = perfect.validate().unwrap_err();
        assert!(err.contains("--fd unreliable"), "{err}");
        let unreliable = Config {
            detector: Detector::Unreliable,
            ..perfect
        };
        assert!(unreliable.validate().is_ok());
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
        // A restart follows a crash, and counts as one.
        let restarts = |restarts, crashes| Config {
            restarts,
            crashes,
            ..Config::default()
        };
        assert!(restarts(1, 1).validate().is_ok());
        let err = restarts(2, 1).validate().unwrap_err();
        assert!(err.contains("--restarts 2 exceeds --crashes 1"), "{err}");
    }
}
