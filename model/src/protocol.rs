//! What makes an actor a protocol the checker, the CLI and the tests know about, and the one
//! table of protocols they all read.
//!
//! A version declares its name, summary, claims and witnesses once, in an `impl Protocol`
//! next to its actor (`gms1.rs`, ...). The `protocols!` macro lists the versions; adding one is its
//! file plus one line there.

use crate::group::{GroupTimer, Member, Setup};
use stateright::actor::{Actor, Id};
use std::fmt::Debug;
use std::str::FromStr;

/// A protocol version the checker can explore.
pub trait Protocol:
    Actor<
        Timer: GroupTimer + Ord + Send + Sync + 'static,
        Random = (),
        Storage = (),
        State: Member + Send + Sync + 'static,
        // Serde: the live runtime puts messages on the wire.
        Msg: Ord + Send + Sync + serde::Serialize + serde::de::DeserializeOwned + 'static,
    > + Clone
    + Debug
    + Send
    + Sync
    + 'static
{
    const NAME: &'static str;
    /// One line: what this version adds, for `--help` and listings.
    const SUMMARY: &'static str;
    /// The properties this version promises; the checker's exit code judges these.
    const CLAIMS: &'static [&'static str];
    /// The `Sometimes` witnesses this version can reach at all; the model keeps those the
    /// configuration can reach too (no cut broadcast without a crash, ...).
    const WITNESSES: &'static [&'static str];
    fn with_setup(setup: Setup) -> Self;

    /// Selective receive: whether this node, in `state`, would only hold `msg` from `src`
    /// back for later (Erlang leaves such a message in the mailbox). The actor still holds
    /// it back itself if it is delivered; the reduced model leaves it in the network instead,
    /// and the live runtime in a per-sender mailbox.
    fn holds_back(&self, _id: Id, _state: &Self::State, _src: Id, _msg: &Self::Msg) -> bool {
        false
    }

    /// For the model's partial-order reduction only (`notes/reductions.md`, 6): whether this
    /// node takes `msg` from `src` now, and taking it commutes with every other step the node
    /// can take before it, given that links are FIFO (what `src` sends later queues behind
    /// `msg`) and the detector is perfect (`src` is not suspected while `msg` is on its way).
    /// True for a slave taking a message from the leader it follows when it takes leader
    /// messages from no one else, that message does not change whom it follows, and its other
    /// steps (multicasting, forwarding requests) read only whom it follows. Claiming it wrongly
    /// loses interleavings; the cross-check in `checks/` compares every verdict and outcome
    /// with `--reduce none`.
    fn takes_independently(
        &self,
        _id: Id,
        _state: &Self::State,
        _src: Id,
        _msg: &Self::Msg,
    ) -> bool {
        false
    }
}

/// Something to do with a protocol's actor type, chosen by name at run time.
pub trait Visit {
    type Output;
    fn visit<A: Protocol>(self) -> Self::Output;
}

macro_rules! protocols {
    ($($variant:ident => $actor:ty),+ $(,)?) => {
        /// The protocol versions a user can check, in the order listings show them.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
        #[serde(rename_all = "kebab-case")]
        pub enum ProtocolName {
            $($variant),+
        }

        impl ProtocolName {
            pub const ALL: &'static [ProtocolName] = &[$(ProtocolName::$variant),+];

            /// Runs `v` with this protocol's actor type.
            pub fn visit<V: Visit>(self, v: V) -> V::Output {
                match self {
                    $(ProtocolName::$variant => v.visit::<$actor>()),+
                }
            }
        }
    };
}

protocols! {
    Gms1 => crate::gms1::Gms1,
    Gms2 => crate::gms2::Gms2,
    Gms3 => crate::gms3::Gms3,
    Gms3Selective => crate::gms3::Gms3Selective,
    Gms3Greedy => crate::gms3::Gms3Greedy,
    Gms4 => crate::gms4::Gms4,
}

/// A protocol's declaration, read without its type.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct Info {
    pub name: &'static str,
    pub summary: &'static str,
    pub claims: &'static [&'static str],
    pub witnesses: &'static [&'static str],
}

struct GetInfo;

impl Visit for GetInfo {
    type Output = Info;
    fn visit<A: Protocol>(self) -> Info {
        Info {
            name: A::NAME,
            summary: A::SUMMARY,
            claims: A::CLAIMS,
            witnesses: A::WITNESSES,
        }
    }
}

impl ProtocolName {
    pub fn info(self) -> Info {
        self.visit(GetInfo)
    }

    pub fn name(self) -> &'static str {
        self.info().name
    }

    /// The valid names, for error messages and `--help`.
    pub fn names() -> String {
        let names: Vec<_> = Self::ALL.iter().map(|p| p.name()).collect();
        names.join(", ")
    }
}

/// The command line lists the protocols, each with its summary, from this table.
impl clap::ValueEnum for ProtocolName {
    fn value_variants<'a>() -> &'a [Self] {
        Self::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        let info = self.info();
        Some(clap::builder::PossibleValue::new(info.name).help(info.summary))
    }
}

impl FromStr for ProtocolName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .iter()
            .copied()
            .find(|p| p.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("unknown protocol '{s}'; valid values: {}", Self::names()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_parse_back() {
        for p in ProtocolName::ALL {
            assert_eq!(p.name().parse::<ProtocolName>(), Ok(*p));
        }
        let err = "gms9".parse::<ProtocolName>().unwrap_err();
        assert!(
            err.contains("gms1, gms2, gms3, gms3-selective, gms3-greedy, gms4"),
            "{err}"
        );
    }

    #[test]
    fn every_claim_is_a_property_and_every_witness_is_described() {
        for p in ProtocolName::ALL {
            let info = p.info();
            for c in info.claims {
                assert!(crate::properties::find(c).is_some(), "{}: {c}", info.name);
            }
            for w in info.witnesses {
                assert!(
                    !crate::properties::describe(w).is_empty(),
                    "{}: {w}",
                    info.name
                );
            }
        }
    }
}
