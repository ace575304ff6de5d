//! The `Sometimes` witnesses: situations a check must reach, or it proves nothing (a check in
//! which no broadcast is ever cut says nothing about cut broadcasts). Each is declared once
//! here: its name, what it means, which configurations can reach it at all, and how a state
//! shows it. A protocol lists the ones it can reach ([`crate::protocol::Descriptor`]); the
//! model asks for those the configuration can reach too.

use crate::app::App;
use crate::config::{Config, Detector};
use crate::group::{Mark, Marks, Role};
use crate::model::Faults;
use serde::{Serialize, Serializer};

/// A node as the witnesses see it.
#[derive(Clone, Copy, Debug)]
pub struct NodeView<'a> {
    pub index: usize,
    pub crashed: bool,
    pub role: Role,
    /// It crashed, or is, in the middle of a broadcast: some peers sent the message, not all.
    pub broadcast_cut: bool,
    pub marks: Marks,
    pub app: &'a App,
}

/// How a state shows a witness.
#[derive(Clone, Copy)]
pub enum Shown {
    /// Read off the nodes.
    Nodes(fn(&Config, Nodes) -> bool),
    /// The state is quiescent (the model decides: `model::is_quiescent`).
    Quiescence,
    /// Read off the faults the run has met (counted only where a budget bounds them).
    Faults(fn(&Faults) -> bool),
    /// A node that restarted is a member again (the model reads the history and the nodes).
    Rejoined,
}

/// A situation a check must reach.
pub struct Witness {
    pub name: &'static str,
    pub description: &'static str,
    /// Whether a configuration can reach it at all (no cut broadcast without a crash).
    pub reachable: fn(&Config) -> bool,
    pub shown: Shown,
}

impl std::fmt::Debug for Witness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

/// Reports and `groupy list --format json` name a witness.
impl Serialize for Witness {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name)
    }
}

/// Someone is suspected at some point: a crash, or a detector that can be wrong.
fn suspicions(cfg: &Config) -> bool {
    cfg.crashes > 0 || cfg.detector == Detector::Unreliable
}

/// A crash can cut a broadcast: a crash, two slaves to split, something to broadcast.
fn cut_possible(cfg: &Config) -> bool {
    cfg.crashes > 0 && cfg.nodes >= 3 && cfg.msgs + cfg.joins > 0
}

/// The nodes a witness reads, one after the other.
type Nodes<'a, 'b> = &'a mut dyn Iterator<Item = NodeView<'b>>;

/// Some node satisfies `f`. (`Iterator::any` needs a sized iterator; this is it for a
/// `dyn` one, which keeps the table free of generics.)
fn any(nodes: Nodes, mut f: impl FnMut(&NodeView) -> bool) -> bool {
    for n in nodes {
        if f(&n) {
            return true;
        }
    }
    false
}

fn marked(nodes: Nodes, mark: Mark) -> bool {
    any(nodes, |n| n.marks.has(mark))
}

pub const QUIESCENT: Witness = Witness {
    name: "quiescence reached",
    description: "a state where nothing but crashes (or false suspicions) can happen",
    reachable: |_| true,
    shown: Shown::Quiescence,
};

pub const BROADCAST_CUT: Witness = Witness {
    name: "broadcast cut by crash",
    description: "a leader crashed after sending a message to some peers but not all",
    reachable: cut_possible,
    shown: Shown::Nodes(|_, nodes| any(nodes, |n| n.crashed && n.broadcast_cut)),
};

pub const ELECTION_HELD: Witness = Witness {
    name: "election held",
    description: "a node other than the first leader became leader",
    reachable: |cfg| suspicions(cfg) && cfg.nodes >= 2,
    shown: Shown::Nodes(|_, nodes| any(nodes, |n| n.index != 0 && n.role == Role::Leader)),
};

/// `election held` where a candidate needs a majority (gms5): a crash alone elects nobody
/// in a group of two (the survivor is half of it), but a wrong suspicion does (the suspected
/// node is alive to answer), and so does a crash once a joiner has made the group three.
pub const MAJORITY_ELECTION_HELD: Witness = Witness {
    reachable: |cfg| {
        let wrong = cfg.detector == Detector::Unreliable && cfg.false_suspicions != Some(0);
        cfg.nodes >= 2 && (wrong || cfg.crashes > 0 && cfg.nodes + cfg.joins >= 3)
    },
    ..ELECTION_HELD
};

pub const DUPLICATE_DISCARDED: Witness = Witness {
    name: "duplicate discarded",
    description: "a node discarded a message it already had (gms3: numbered below `next`; \
                  gms4: an entry, multicast or join it held, or a deposed leader's proposal)",
    // Copies come from a re-send after an election, or from the network itself.
    reachable: |cfg| (suspicions(cfg) && cfg.nodes >= 3) || cfg.network.duplicates(),
    shown: Shown::Nodes(|_, nodes| marked(nodes, Mark::DuplicateDiscarded)),
};

pub const JOIN_COMPLETED: Witness = Witness {
    name: "join completed",
    description: "a node that started outside the group installed a view",
    reachable: |cfg| cfg.joins > 0,
    shown: Shown::Nodes(|cfg, nodes| {
        any(nodes, |n| n.index >= cfg.nodes && n.role != Role::Outside)
    }),
};

pub const ALL_DELIVERED: Witness = Witness {
    name: "all messages delivered",
    description: "every member that has not crashed delivered every multicast",
    reachable: |cfg| cfg.msgs > 0,
    shown: Shown::Nodes(|cfg, nodes| {
        let mut members = 0;
        for n in nodes.filter(|n| !n.crashed && n.role != Role::Outside) {
            if n.app.messages().count() < cfg.msgs {
                return false;
            }
            members += 1;
        }
        members > 0
    }),
};

pub const RETRANSMITTED: Witness = Witness {
    name: "lost datagram retransmitted",
    description: "a leader repeated a proposal that a slave had not acknowledged",
    reachable: |cfg| cfg.network.loses() && cfg.losses != Some(0) && cfg.nodes >= 2,
    shown: Shown::Nodes(|_, nodes| marked(nodes, Mark::Retransmitted)),
};

pub const GAP_CLOSED: Witness = Witness {
    name: "gap closed by the view change",
    description: "a new leader's first proposal gave a survivor an entry of the previous \
                  reign it did not hold",
    reachable: cut_possible,
    shown: Shown::Nodes(|_, nodes| marked(nodes, Mark::GapClosed)),
};

pub const RETRIED: Witness = Witness {
    name: "multicast retried to the new leader",
    description: "a node repeated its multicast to a new leader after the old one died",
    // A slave that multicasts and is not the next leader (which queues its own).
    reachable: |cfg| cfg.crashes > 0 && (2..cfg.actor_count()).any(|i| cfg.quota(i) > 0),
    shown: Shown::Nodes(|_, nodes| marked(nodes, Mark::Retried)),
};

pub const FALSE_SUSPICION: Witness = Witness {
    name: "false suspicion",
    description: "the failure detector suspected a node that had not crashed",
    // Seen where a budget counts them (--false-suspicions K, K > 0).
    reachable: |cfg| {
        cfg.detector == Detector::Unreliable
            && cfg.false_suspicions.is_some_and(|k| k > 0)
            && cfg.nodes >= 2
    },
    shown: Shown::Faults(|faults| faults.false_suspicions > 0),
};

pub const RESTARTED_AND_REJOINED: Witness = Witness {
    name: "restart rejoined",
    description: "a node crashed, came back with an empty state, and is a member again",
    reachable: |cfg| cfg.restarts > 0,
    shown: Shown::Rejoined,
};

/// Every witness, in report order.
pub const WITNESSES: [&Witness; 11] = [
    &QUIESCENT,
    &BROADCAST_CUT,
    &ELECTION_HELD,
    &DUPLICATE_DISCARDED,
    &JOIN_COMPLETED,
    &ALL_DELIVERED,
    &RETRANSMITTED,
    &GAP_CLOSED,
    &RETRIED,
    &FALSE_SUSPICION,
    &RESTARTED_AND_REJOINED,
];

/// The witness called `name`.
pub fn find(name: &str) -> Option<&'static Witness> {
    WITNESSES.iter().copied().find(|w| w.name == name)
}

/// Its position in [`WITNESSES`].
pub fn index(w: &Witness) -> Option<usize> {
    WITNESSES.iter().position(|x| x.name == w.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_described() {
        for (i, w) in WITNESSES.iter().enumerate() {
            assert!(!w.description.is_empty(), "{}", w.name);
            assert_eq!(index(w), Some(i), "{} is listed twice", w.name);
            assert!(
                crate::properties::find(w.name).is_none(),
                "{} is also a property",
                w.name
            );
        }
    }

    #[test]
    fn a_majority_election_needs_three_or_a_wrong_suspicion() {
        let at = |nodes, joins, crashes, k: Option<u8>| Config {
            nodes,
            joins,
            crashes,
            detector: if k.is_some() {
                Detector::Unreliable
            } else {
                Detector::Perfect
            },
            false_suspicions: k,
            ..Config::default()
        };
        let reach = |c: Config| (MAJORITY_ELECTION_HELD.reachable)(&c);
        assert!(!reach(at(2, 0, 1, None)), "the survivor of two is half");
        assert!(reach(at(3, 0, 1, None)));
        assert!(reach(at(2, 1, 1, None)), "a joiner makes three");
        assert!(reach(at(2, 0, 0, Some(1))));
        assert!(!reach(at(2, 0, 1, Some(0))));
        assert!((ELECTION_HELD.reachable)(&at(2, 0, 1, None)));
    }
}
