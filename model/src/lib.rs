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
//! - [`gms1`], [`gms2`], [`gms3`]: one protocol version per file, each opening with the rules
//!   it implements, to be read side by side with the assignment, and declaring its name,
//!   claims and witnesses ([`protocol::Protocol`]).
//! - [`protocol`]: the one table of protocols that the CLI, the matrix and the tests read.
//! - [`config`]: the environment's axes (nodes, multicasts, joins, senders, crashes, detector,
//!   network) and their command-line flags.
//! - [`log`]: a node's delivery log, the one shape every property reads (model or live).
//! - [`properties`]: agreement, uniform agreement, no duplication, integrity, FIFO, view
//!   agreement, convergence, validity, as functions over logs.
//! - [`model`]: the stateright model: actors plus the environment's filter and its
//!   reductions (`notes/reductions.md`), the adapter from model states to logs, quiescence
//!   and the witnesses.
//! - [`expected`]: the expected verdicts, read from the table in `notes/verdicts.md`.
//! - [`check`]: runs the checker and builds a [`check::Report`]; [`trace`] turns a
//!   counterexample into events a person can read.
//!
//! Actors only emit commands (send, set timer) through stateright's `Out`: no sockets, clocks
//! or randomness, so a live runtime can drive the very same types.

pub mod app;
pub mod check;
pub mod config;
pub mod expected;
pub mod gms1;
pub mod gms2;
pub mod gms3;
pub mod gms4;
pub mod group;
pub mod log;
pub mod model;
pub mod properties;
pub mod protocol;
pub mod trace;

pub use config::{Config, CrashAt, Detector, JoinVia, Mutant, NetworkKind, Reduce, Senders};
pub use log::NodeLog;
pub use model::GroupModel;
pub use protocol::{Protocol, ProtocolName};
