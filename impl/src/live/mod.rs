//! The live group: the protocols' actors run over UDP.
//!
//! - `codec`: one message per datagram: header, compact body, optional MAC, replay window.

pub mod codec;
