//! # groupy-model: the Groupy protocols as sans-I/O actors, and the world they are checked in
//!
//! Group membership with atomic (total-order) multicast, after the KTH "Groupy" assignment:
//! a leader sequences every multicast, slaves forward to it, and when the leader dies the
//! first peer in the list takes over.
//!
//! # Layout
//! - [`app`]: the application on top of each node (its delivery log and colour).
//! - [`group`]: what every version shares: the node core, timer kinds, roles, the leader's
//!   sequencer loop and step-by-step basic multicast.
//! - [`gms1`] .. [`gms4`]: one protocol version per file, each opening with the rules it
//!   implements, to be read side by side with the assignment, and declaring what the rest of
//!   groupy knows of it once: name, summary, claims, witnesses, the link it is built for,
//!   whether it is benchmarked ([`protocol::Descriptor`]).
//! - [`protocol`]: what makes an actor a protocol (the trait and its descriptor).
//! - [`registry`]: the one table of protocols that the CLI, the matrix, the live runtime, the
//!   benchmarks and the tests read; a new version is its file plus one line there.
//! - [`config`]: the environment's axes (nodes, multicasts, joins, senders, crashes, detector,
//!   network) and their command-line flags.
//! - [`log`]: a node's delivery log, the one shape every property reads (model or live).
//! - [`properties`]: agreement, uniform agreement, no duplication, integrity, FIFO, view
//!   agreement, convergence, validity, as functions over logs.
//! - [`witness`]: the `Sometimes` witnesses, each once: name, meaning, which configurations
//!   reach it, how a state shows it.
//! - `mutant` (feature `mutants`, for the checks suite only): deliberately broken variants.
//! - [`model`]: the stateright model: actors plus the environment's filter and its
//!   reductions (`notes/reductions.md`), the adapter from model states to logs and
//!   quiescence.
//! - [`expected`]: the expected verdicts, read from the table in `notes/verdicts.md`.
//! - [`memory`]: the guard that stops a search before memory runs out.
//! - [`livelock`]: the check that every reachable state can still reach a quiescent one by
//!   the protocol's own steps, and the lasso trace when one cannot.
//! - [`check`]: runs the checker and builds a [`check::Report`]; [`trace`] turns a
//!   counterexample into typed events (an action and its effects, as data), and words them
//!   once for the text, the SVG and the Explorer.
//!
//! Actors only emit commands (send, set timer) through stateright's `Out`: no sockets, clocks
//! or randomness, so a live runtime can drive the very same types.

/// Whether the node's setup is mutant `$m` (a deliberately broken variant the checks suite
/// uses to show a property can fail). Always `false`, and the branch compiled out, unless the
/// `mutants` feature is on: the release binary carries no mutant.
#[cfg(feature = "mutants")]
#[macro_export]
macro_rules! mutant {
    ($setup:expr, $m:ident) => {
        $setup.is($crate::mutant::Mutant::$m)
    };
}

/// See the `mutants` feature's definition: without it no setup is a mutant.
#[cfg(not(feature = "mutants"))]
#[macro_export]
macro_rules! mutant {
    ($setup:expr, $m:ident) => {{
        let _ = &$setup;
        false
    }};
}

pub mod app;
pub mod check;
pub mod config;
pub mod distributed;
pub mod expected;
mod fingerprint;
pub mod gms1;
pub mod gms2;
pub mod gms3;
pub mod gms4;
pub mod gms5;
pub mod group;
pub mod livelock;
pub mod log;
pub mod memory;
pub mod model;
#[cfg(feature = "mutants")]
pub mod mutant;
pub mod properties;
pub mod protocol;
pub mod registry;
pub mod trace;
pub mod witness;

pub use config::{Config, CrashAt, Detector, JoinVia, NetworkKind, Reduce, Senders};
pub use log::NodeLog;
pub use model::GroupModel;
#[cfg(feature = "mutants")]
pub use mutant::Mutant;
pub use protocol::{Descriptor, Link, Protocol};
pub use registry::ProtocolName;
