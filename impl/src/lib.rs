//! The parts of `groupy` a benchmark drives from outside the binary: the live node and its
//! link, codec, faults and delivery log, the benchmarks of the live group (`live::bench`),
//! and the judgement of logs with the model's property functions. The binary (`main.rs`)
//! compiles the same files as its own modules, with the command line around them.

pub mod judge;

pub mod live {
    #[path = "bench.rs"]
    pub mod bench;
    #[path = "codec.rs"]
    pub mod codec;
    #[path = "faults.rs"]
    pub mod faults;
    #[path = "link.rs"]
    pub mod link;
    #[path = "logfile.rs"]
    pub mod logfile;
    #[path = "node.rs"]
    pub mod node;
}
