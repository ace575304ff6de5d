//! Time to a complete exploration, per protocol at fixed bounds. gms2 at the same bounds is
//! the in-run baseline: it explores a smaller space, so the ratio shows what gms3's sequence
//! numbers and hold-back buffer cost the checker.

use criterion::{criterion_group, criterion_main, Criterion};
use groupy_model::check::{check, Search};
use groupy_model::Config;
use groupy_model::ProtocolName;
use std::hint::black_box;

fn bounds(nodes: usize) -> Config {
    Config {
        nodes,
        ..Config::default()
    }
}

fn checker(c: &mut Criterion) {
    let mut g = c.benchmark_group("check");
    g.sample_size(10);
    for (protocol, nodes) in [
        (ProtocolName::Gms2, 3),
        (ProtocolName::Gms3, 3),
        (ProtocolName::Gms2, 4),
        (ProtocolName::Gms3, 4),
    ] {
        let cfg = bounds(nodes);
        g.bench_function(format!("{}/N={nodes},M=2,C=1", protocol.name()), |b| {
            b.iter(|| {
                let r = check(protocol, &cfg, &Search::default(), &mut |_| {});
                assert!(r.complete);
                black_box(r.unique_states)
            })
        });
    }
    g.finish();
}

criterion_group!(benches, checker);
criterion_main!(benches);
