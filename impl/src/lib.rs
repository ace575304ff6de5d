//! The live runtime, which the binary (`main.rs`) and the benchmarks drive: the live node
//! and its link, codec, faults and delivery log, the benchmarks of the live group
//! (`live::bench`), and the judgement of logs with the model's property functions. The
//! binary adds the commands around them (`live/mod.rs`: `groupy run`, `groupy node`); their
//! flags are the library's (`live::options`), which `groupy bench` shares.

pub mod judge;

pub mod live {
    #[path = "bench.rs"]
    pub mod bench;
    #[path = "codec.rs"]
    pub mod codec;
    #[path = "core.rs"]
    pub mod core;
    #[path = "faults.rs"]
    pub mod faults;
    // The codec's batches and parts: used through the codec only.
    #[path = "framing.rs"]
    mod framing;
    #[path = "link.rs"]
    pub mod link;
    #[path = "logfile.rs"]
    pub mod logfile;
    #[path = "node.rs"]
    pub mod node;
    #[path = "options.rs"]
    pub mod options;
    #[path = "sim.rs"]
    pub mod sim;
    #[path = "validate.rs"]
    pub mod validate;
}
