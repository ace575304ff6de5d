//! A node's delivery log: the one shape every property reads, whether it comes from a model
//! state (the checker) or from a file written by a live node (`groupy verify`).
//!
//! A crashed node's log is what it delivered before it crashed. Nothing here is indexed by
//! node id: a log names its node, and the properties compare logs with each other.

use crate::app::{Event, Payload};
use serde::{Deserialize, Serialize};
use stateright::actor::Id;
use std::borrow::Cow;
use std::fmt;

/// What one node did, as its application saw it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeLog<'a> {
    pub node: Id,
    /// The node crashed (fail-stop): its log ends where it stopped.
    pub crashed: bool,
    /// This life of the node started in the group: it is a member of the initial view (the
    /// view before the first one installed), which no log lists.
    #[serde(default)]
    pub founder: bool,
    /// The node is in the group: it started in it, or it installed a view that names it.
    pub member: bool,
    /// Deliveries and views, in delivery order (a joiner's starts with the state it adopted).
    pub events: Cow<'a, [Event]>,
    /// The multicasts its application issued, in issue order.
    pub multicast: Cow<'a, [Payload]>,
    /// The views this node held (and acknowledged) before it knew them installed, in the
    /// order it took them: what `primary_views` counts. Empty for a version whose views are
    /// installed without being accepted first (gms1-gms3).
    #[serde(default)]
    pub accepted: Cow<'a, [Accepted]>,
}

/// A view a node held before it knew it installed: its number in the group's history of
/// views (the initial view is 0, the first view installed 1) and its members, leader first.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Accepted {
    pub number: u32,
    pub view: Vec<Id>,
}

impl fmt::Debug for Accepted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{} {:?}", self.number, Event::View(self.view.clone()))
    }
}

impl NodeLog<'_> {
    /// Alive (not crashed).
    pub fn correct(&self) -> bool {
        !self.crashed
    }

    /// A member that has not crashed: the nodes the group owes every delivery to.
    pub fn live_member(&self) -> bool {
        self.member && !self.crashed
    }

    /// The delivered messages, in order (views left out).
    pub fn messages(&self) -> impl Iterator<Item = &Payload> + '_ {
        crate::app::messages(&self.events)
    }

    /// The installed views, in order.
    pub fn views(&self) -> impl Iterator<Item = &Vec<Id>> + '_ {
        crate::app::views(&self.events)
    }

    /// The last view this node installed, if it installed any (the initial view is given,
    /// not installed).
    pub fn current_view(&self) -> Option<&Vec<Id>> {
        self.views().last()
    }

    pub fn delivered(&self, p: &Payload) -> bool {
        self.messages().any(|m| m == p)
    }
}

/// Where two delivery logs first differ: the position and what each log holds there.
///
/// Positions count from 1 over the whole log, views included: position `k` is the `k`-th
/// entry of the log as every output prints it (`log [m0.0, view[n1,n2], m1.0]`), so a reader
/// can count along; a view installed in a different place is a divergence too (view
/// agreement), so leaving views out would hide it or shift the count.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Divergence {
    pub position: usize,
    pub a: usize,
    pub a_crashed: bool,
    /// `None`: the log ends before this position.
    pub a_has: Option<Event>,
    pub b: usize,
    pub b_crashed: bool,
    pub b_has: Option<Event>,
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let side = |node: usize, crashed: bool, entry: &Option<Event>| {
            let who = format!("n{node}{}", if crashed { " (crashed)" } else { "" });
            match entry {
                Some(Event::Deliver(p)) => format!("{who} delivered {p:?}"),
                Some(e @ Event::View(_)) => format!("{who} installed {e:?}"),
                None => format!("{who}'s log ends before it"),
            }
        };
        write!(
            f,
            "logs diverge at position {}: {}, {}",
            self.position,
            side(self.a, self.a_crashed, &self.a_has),
            side(self.b, self.b_crashed, &self.b_has)
        )
    }
}

/// The first place two logs differ: two different entries at one position between two
/// nodes that have not crashed if there is one (what `agreement` is about), else between any
/// two nodes, else a live member's log that stops short of another's. The one divergence
/// `check`, `verify`, `run` and the SVG report.
pub fn divergence(logs: &[NodeLog]) -> Option<Divergence> {
    let at = |a: &NodeLog, b: &NodeLog, both: bool| -> Option<Divergence> {
        let pos = (0..a.events.len().max(b.events.len()))
            .find(|&i| a.events.get(i) != b.events.get(i))?;
        let (x, y) = (a.events.get(pos), b.events.get(pos));
        if both && (x.is_none() || y.is_none()) {
            return None;
        }
        Some(Divergence {
            position: pos + 1,
            a: usize::from(a.node),
            a_crashed: a.crashed,
            a_has: x.cloned(),
            b: usize::from(b.node),
            b_crashed: b.crashed,
            b_has: y.cloned(),
        })
    };
    let pairs = |keep: &dyn Fn(&NodeLog) -> bool, both: bool| {
        logs.iter()
            .enumerate()
            .filter(|(_, a)| keep(a))
            .find_map(|(i, a)| {
                logs[i + 1..]
                    .iter()
                    .filter(|b| keep(b))
                    .find_map(|b| at(a, b, both))
            })
    };
    pairs(&|l| l.correct(), true)
        .or_else(|| pairs(&|_| true, true))
        .or_else(|| pairs(&|l| l.live_member(), false))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(node: usize, crashed: bool, events: Vec<Event>) -> NodeLog<'static> {
        NodeLog {
            node: Id::from(node),
            crashed,
            founder: true,
            member: true,
            events: Cow::Owned(events),
            multicast: Cow::Owned(vec![]),
            accepted: Cow::Owned(vec![]),
        }
    }

    fn m(from: usize, seq: u32) -> Event {
        Event::Deliver(Payload::issued_by(Id::from(from), seq))
    }

    fn view(ids: &[usize]) -> Event {
        Event::View(ids.iter().map(|i| Id::from(*i)).collect())
    }

    #[test]
    fn positions_count_from_1_over_the_whole_log_views_included() {
        let logs = [
            log(0, false, vec![view(&[0, 1]), m(0, 0), m(1, 0)]),
            log(1, false, vec![view(&[0, 1]), m(1, 0)]),
        ];
        let d = divergence(&logs).expect("they differ");
        assert_eq!((d.position, d.a, d.b), (2, 0, 1));
        assert_eq!(
            d.to_string(),
            "logs diverge at position 2: n0 delivered m0.0, n1 delivered m1.0"
        );
    }

    #[test]
    fn survivors_are_compared_before_a_crashed_node_and_prefixes_last() {
        let logs = [
            log(0, true, vec![m(0, 0)]),
            log(1, false, vec![m(1, 0)]),
            log(2, false, vec![m(1, 0), m(1, 1)]),
        ];
        // n1 and n2 agree as far as both go: the crashed n0 is the first difference.
        let d = divergence(&logs).expect("n0 differs");
        assert_eq!((d.position, d.a, d.a_crashed, d.b), (1, 0, true, 1));
        // Without n0, only a log that stops short remains.
        let d = divergence(&logs[1..]).expect("n1 stops short");
        assert_eq!((d.position, d.a_has.clone(), d.b), (2, None, 2));
        assert!(d
            .to_string()
            .ends_with("n1's log ends before it, n2 delivered m1.1"));
        assert_eq!(divergence(&logs[2..]), None);
    }
}
