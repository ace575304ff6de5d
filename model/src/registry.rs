//! The one table of protocols that the CLI, the matrix, the live runtime, the benchmarks and
//! the tests read: adding a version is its file plus one line in `protocols!` below.

use crate::protocol::{Descriptor, Protocol};
use std::str::FromStr;

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
    Gms4NaiveJoin => crate::gms4::Gms4NaiveJoin,
    Gms5 => crate::gms5::Gms5,
}

struct GetDescriptor;

impl Visit for GetDescriptor {
    type Output = Descriptor;
    fn visit<A: Protocol>(self) -> Descriptor {
        A::DESCRIPTOR
    }
}

impl ProtocolName {
    pub fn descriptor(self) -> Descriptor {
        self.visit(GetDescriptor)
    }

    pub fn name(self) -> &'static str {
        self.descriptor().name
    }

    /// The versions `groupy bench` measures.
    pub fn benchmarked() -> impl Iterator<Item = ProtocolName> {
        Self::ALL
            .iter()
            .copied()
            .filter(|p| p.descriptor().benchmarked)
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
        let info = self.descriptor();
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
    use crate::protocol::Link;

    #[test]
    fn names_are_unique_and_parse_back() {
        for p in ProtocolName::ALL {
            assert_eq!(p.name().parse::<ProtocolName>(), Ok(*p));
        }
        let err = "gms9".parse::<ProtocolName>().unwrap_err();
        assert!(
            err.contains(
                "gms1, gms2, gms3, gms3-selective, gms3-greedy, gms4, gms4-naive-join, gms5"
            ),
            "{err}"
        );
    }

    #[test]
    fn each_protocol_names_the_link_it_is_built_for() {
        for p in ProtocolName::ALL {
            let raw = matches!(
                p,
                ProtocolName::Gms4 | ProtocolName::Gms5 | ProtocolName::Gms4NaiveJoin
            );
            assert_eq!(p.descriptor().link == Link::Raw, raw, "{}", p.name());
        }
        let benched: Vec<_> = ProtocolName::benchmarked().map(|p| p.name()).collect();
        assert_eq!(benched, ["gms3", "gms4", "gms5"]);
    }

    #[test]
    fn infinite_spaces_are_named_where_copies_linger() {
        use crate::{Config, NetworkKind};
        let on = |network| Config {
            network,
            ..Config::default()
        };
        for p in ProtocolName::ALL {
            let d = p.descriptor();
            assert!(d.infinite_under(&on(NetworkKind::Ordered)).is_none());
            assert!(d.infinite_under(&on(NetworkKind::Lossy)).is_none());
            // gms4 and gms5 are finite there; gms4's naive joins are but for a crashed
            // joiner, and so are gms5's joins (a copy of a removed node's old join).
            let copes = matches!(
                p,
                ProtocolName::Gms4 | ProtocolName::Gms5 | ProtocolName::Gms4NaiveJoin
            );
            let dup = on(NetworkKind::Duplicating);
            assert_eq!(d.infinite_under(&dup).is_none(), copes, "{}", d.name);
            let joiner = Config { joins: 1, ..dup };
            let finite = *p == ProtocolName::Gms4;
            assert_eq!(d.infinite_under(&joiner).is_none(), finite, "{}", d.name);
        }
    }

    #[test]
    fn every_claim_is_a_property_and_every_witness_is_in_the_table() {
        for p in ProtocolName::ALL {
            let d = p.descriptor();
            for c in d.claims {
                assert!(crate::properties::find(c).is_some(), "{}: {c}", d.name);
            }
            for w in d.witnesses {
                assert!(crate::witness::index(w).is_some(), "{}: {w:?}", d.name);
            }
        }
    }
}
