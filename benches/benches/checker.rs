//! Time to verdict of gms3 at the scale a SPIN user would try, with the reductions on (the
//! default) and, as the in-run baseline, off (`--reduce none`) at (4,3,2): the ratio is what
//! the reductions buy on this machine today. Every run asserts a complete exploration and
//! the HOLDS verdict, so a fast run that proves nothing fails.
//!
//! `GROUPY_BENCH_QUICK=1` keeps only the (4,3,2) pairs (a few seconds each);
//! `GROUPY_BENCH_LONG=1` adds (4,3,2) with one join (~9 s per sample).

use criterion::{criterion_group, criterion_main, Criterion};
use groupy_model::check::{check, Search, Verdict};
use groupy_model::{Config, CrashAt, ProtocolName, Reduce};
use std::hint::black_box;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn gms3(nodes: usize, crash_at: CrashAt, reduce: Reduce) -> Config {
    Config {
        nodes,
        msgs: 3,
        crashes: 2,
        crash_at,
        reduce,
        ..Config::default()
    }
}

fn name(cfg: &Config) -> String {
    format!(
        "gms3/N={},M=3,J={},C=2,crash-at={:?},reduce={:?}",
        cfg.nodes, cfg.joins, cfg.crash_at, cfg.reduce
    )
    .to_lowercase()
}

fn checker(c: &mut Criterion) {
    let quick = std::env::var_os("GROUPY_BENCH_QUICK").is_some();
    let long = std::env::var_os("GROUPY_BENCH_LONG").is_some();
    let mut configs = Vec::new();
    for crash_at in [CrashAt::Bcast, CrashAt::Any] {
        configs.push(gms3(4, crash_at, Reduce::None));
        configs.push(gms3(4, crash_at, Reduce::All));
    }
    if !quick {
        configs.push(gms3(5, CrashAt::Bcast, Reduce::All));
        configs.push(gms3(5, CrashAt::Any, Reduce::All));
    }
    if long {
        configs.push(Config {
            joins: 1,
            ..gms3(4, CrashAt::Any, Reduce::All)
        });
    }
    let mut g = c.benchmark_group("check");
    g.sample_size(10);
    for cfg in configs {
        g.bench_function(name(&cfg), |b| {
            b.iter(|| {
                let r = check(ProtocolName::Gms3, &cfg, &Search::default(), &mut |_| {});
                assert!(r.complete && r.verdict == Verdict::Holds, "{cfg}");
                black_box(r.unique_states)
            })
        });
    }
    g.finish();
}

criterion_group!(benches, checker);
criterion_main!(benches);
