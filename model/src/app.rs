//! The application ("worker") that sits on top of every group process.
//!
//! The assignment's worker has a colour `{R,G,B}`; delivering the integer `N` turns it into
//! `{G, B, (R+N) mod 256}`, so two workers that deliver the same messages in a different order
//! end with different colours. Here the application's state is its *delivery log* (messages and
//! views, in delivery order) and the colour is computed from it: the log is what the properties
//! read, the colour is what a person looks at, and keeping only the log means the state carries
//! no field that merely repeats another.

use serde::{Deserialize, Serialize};
use stateright::actor::Id;
use std::fmt;

/// One application multicast: who sent it, its position among that sender's multicasts, and
/// the integer the colour rule adds.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Payload {
    pub from: Id,
    pub seq: u32,
    pub value: u8,
}

impl Payload {
    /// The value the application attaches to its `seq`-th multicast. Deterministic so that
    /// `integrity` can recognise a message nobody multicast (or one whose value was altered).
    pub fn issued_by(from: Id, seq: u32) -> Payload {
        // Wrapping: a live node's counter, or a fuzzed datagram's, can be anything.
        let value = (usize::from(from) as u64)
            .wrapping_mul(5)
            .wrapping_add(u64::from(seq) * 3)
            .wrapping_add(1)
            % 20
            + 1;
        Payload {
            from,
            seq,
            value: value as u8,
        }
    }
}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "m{}.{}", usize::from(self.from), self.seq)
    }
}

/// What the group process hands its application: a message, or a new view (peer list,
/// leader first).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Event {
    Deliver(Payload),
    View(Vec<Id>),
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Deliver(p) => write!(f, "{p:?}"),
            Event::View(v) => write!(f, "view{}", ViewList(v)),
        }
    }
}

/// Formats a peer list as `[n0,n1,n2]`.
pub struct ViewList<'a>(pub &'a [Id]);

impl fmt::Display for ViewList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[")?;
        for (i, id) in self.0.iter().enumerate() {
            if i > 0 {
                write!(f, ",")?;
            }
            write!(f, "n{}", usize::from(*id))?;
        }
        write!(f, "]")
    }
}

/// The messages of a log, in order (views left out).
pub fn messages(log: &[Event]) -> impl Iterator<Item = &Payload> + '_ {
    log.iter().filter_map(|e| match e {
        Event::Deliver(p) => Some(p),
        Event::View(_) => None,
    })
}

/// The views of a log, in order.
pub fn views(log: &[Event]) -> impl Iterator<Item = &Vec<Id>> + '_ {
    log.iter().filter_map(|e| match e {
        Event::View(v) => Some(v),
        Event::Deliver(_) => None,
    })
}

/// The application's state: everything it was delivered, in order. A joining node adopts the
/// state the leader's application hands over, so its log starts where the group's is.
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct App {
    pub log: Vec<Event>,
}

impl fmt::Debug for App {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(&self.log).finish()
    }
}

impl App {
    pub fn deliver(&mut self, event: Event) {
        self.log.push(event);
    }

    /// The delivered messages, in order (views left out).
    pub fn messages(&self) -> impl Iterator<Item = &Payload> + '_ {
        messages(&self.log)
    }

    /// The installed views, in order.
    pub fn views(&self) -> impl Iterator<Item = &Vec<Id>> + '_ {
        views(&self.log)
    }

    /// The assignment's colour: start black, and each delivered `N` maps `{R,G,B}` to
    /// `{G, B, (R+N) mod 256}`.
    pub fn colour(&self) -> [u8; 3] {
        self.messages()
            .fold([0, 0, 0], |[r, g, b], p| [g, b, r.wrapping_add(p.value)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deliver(values: &[u8]) -> App {
        let mut app = App::default();
        for (seq, &value) in values.iter().enumerate() {
            app.deliver(Event::Deliver(Payload {
                from: Id::from(0),
                seq: seq as u32,
                value,
            }));
        }
        app
    }

    #[test]
    fn colour_follows_the_assignment_rule() {
        // {R,G,B} -> {G, B, (R+N) mod 256}, starting from black.
        assert_eq!(deliver(&[]).colour(), [0, 0, 0]);
        assert_eq!(deliver(&[5]).colour(), [0, 0, 5]);
        assert_eq!(deliver(&[5, 7]).colour(), [0, 5, 7]);
        assert_eq!(deliver(&[5, 7, 9]).colour(), [5, 7, 9]);
        assert_eq!(deliver(&[5, 7, 9, 255]).colour(), [7, 9, 4]);
    }

    #[test]
    fn colour_tells_delivery_orders_apart() {
        assert_ne!(deliver(&[5, 7]).colour(), deliver(&[7, 5]).colour());
    }

    #[test]
    fn views_do_not_change_the_colour() {
        let mut app = deliver(&[3]);
        app.deliver(Event::View(vec![Id::from(1)]));
        assert_eq!(app.colour(), deliver(&[3]).colour());
        assert_eq!(app.views().count(), 1);
        assert_eq!(app.messages().count(), 1);
    }
}
