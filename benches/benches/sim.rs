//! The simulator (`groupy sim`): the time one seeded run takes, 5 nodes × 10 virtual seconds
//! at the default workload (`--sleep 100`), the figure behind issue 23's "at least 1,000 runs
//! a minute" (one run under 60 ms on one core; `groupy sim` runs `--jobs` of them at once).
//! A seed fixes the whole run, so every sample does exactly the same work: the same-run
//! baseline is the fault-free run, and the ratios say what the faults and gms5 cost.

use criterion::{criterion_group, criterion_main, Criterion};
use groupy::live::faults::Faults;
use groupy::live::options::{Disruptions, Kill, ScenarioArgs};
use groupy::live::sim::{run, Drained, Scenario};
use groupy_model::gms4::Gms4;
use groupy_model::gms5::Gms5;
use groupy_model::{Link, Protocol};
use std::time::Duration;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn scenario(faults: Faults, disruptions: Disruptions) -> Scenario {
    let mut opts = ScenarioArgs::default()
        .options(Link::Raw)
        .expect("the default options");
    opts.faults = faults;
    // Logs are formatted, as `groupy sim` does for every run.
    opts.log_dir = Some(std::path::PathBuf::new());
    Scenario {
        nodes: 5,
        duration: Duration::from_secs(10),
        opts,
        disruptions,
        heal: false,
        adjust: None,
        validate: false,
        cpu: Default::default(),
    }
}

fn one<A: Protocol>(sc: &Scenario) {
    let r = run::<A>(sc, 1);
    assert_eq!(r.drained, Drained::Settled, "the run settles");
}

fn sim(c: &mut Criterion) {
    let clean = scenario(Faults::default(), Disruptions::default());
    let faulty = scenario(
        Faults {
            drop: 0.05,
            duplicate: 0.05,
            delay: Duration::from_millis(5),
            ..Faults::default()
        },
        Disruptions {
            kills: vec![Kill {
                node: 3,
                at_ms: 4000,
            }],
            ..Disruptions::default()
        },
    );
    let mut g = c.benchmark_group("sim-5-nodes-10-virtual-s");
    g.sample_size(20);
    g.bench_function("gms4-no-faults", |b| b.iter(|| one::<Gms4>(&clean)));
    g.bench_function("gms4-loss-dup-delay-kill", |b| {
        b.iter(|| one::<Gms4>(&faulty))
    });
    g.bench_function("gms5-no-faults", |b| b.iter(|| one::<Gms5>(&clean)));
    g.finish();
}

criterion_group!(benches, sim);
criterion_main!(benches);
