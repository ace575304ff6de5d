//! The live group: the protocols' actors (the very types the checker explores) run over UDP.
//!
//! # Layout
//! - [`core`]: one node without I/O: the actor, timers, the actor's commands, selective
//!   receive, the heartbeat failure detector, links, faults, the delivery log's lines;
//!   driven by the events a caller hands in.
//! - [`node`]: the UDP driver around a core: socket, clock, log file, [`node::Control`].
//! - [`link`]: the frames the codec carries and the `fifo` link (sequence numbers, acks,
//!   retransmission, in-order delivery) under the protocol; `raw` is UDP as it is.
//! - [`faults`]: seeded fault injection (drop, duplicate, delay, crash mid-broadcast).
//! - [`logfile`]: the delivery log as JSON lines, written live and read by `groupy verify`.
//! - [`codec`]: frames in, datagrams out and back: versioned header, compact body
//!   (postcard), optional keyed MAC (BLAKE3), per-sender replay window; a datagram carries
//!   one frame, a batch of frames (`--batch`), or a part of a frame too large for one
//!   (`--max-datagram`); `framing.rs`, the codec's own, holds the batches being filled and
//!   the parts being put together.
//! - [`cluster`]: `groupy run`: a whole group on loopback in one process, shown live, its
//!   logs judged at the end with the model's property functions.
//! - [`solo`]: `groupy node`: one node as its own process.
//! - [`sim`]: N node cores in one thread, in virtual time, over a seeded network;
//!   [`simulate`] is `groupy sim`, which runs and judges many seeds.
//! - `validate` (the library's): trace validation: each step a simulated core takes, checked against the
//!   model's next-state relation (`groupy sim --validate`).
//! - [`bench`]: `groupy bench`: the live group measured against raw UDP in the same run.
//! - [`options`]: the flags of `run`, `node` and `bench`, and the one conversion of them into
//!   a node's options.

// The runtime itself is the library's (`lib.rs`), compiled once, and so are the flags that
// configure it (`options`, shared with `groupy bench`); the commands around it are the
// binary's.
pub use groupy::live::{bench, faults, logfile, node, options, sim};
pub mod cluster;
pub mod simulate;
pub mod solo;
