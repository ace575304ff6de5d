//! A node's delivery log: the one shape every property reads, whether it comes from a model
//! state (the checker) or from a file written by a live node (`groupy verify`).
//!
//! A crashed node's log is what it delivered before it crashed. Nothing here is indexed by
//! node id: a log names its node, and the properties compare logs with each other.

use crate::app::{Event, Payload};
use serde::{Deserialize, Serialize};
use stateright::actor::Id;
use std::borrow::Cow;

/// What one node did, as its application saw it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeLog<'a> {
    pub node: Id,
    /// The node crashed (fail-stop): its log ends where it stopped.
    pub crashed: bool,
    /// The node is in the group: it started in it, or it installed a view that names it.
    pub member: bool,
    /// Deliveries and views, in delivery order (a joiner's starts with the state it adopted).
    pub events: Cow<'a, [Event]>,
    /// The multicasts its application issued, in issue order.
    pub multicast: Cow<'a, [Payload]>,
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
