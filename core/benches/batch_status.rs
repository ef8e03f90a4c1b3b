//! `maia batch status` / `maia watch OUT/` over thousands of units: a batch of 2,000
//! finished units, each with a copy of a real recorded journal (the sample run, ~85 KB),
//! read cold ([`read_status`], every journal parsed) and refreshed through a warm
//! [`StatusReader`] (only changed journals parsed: here one, the unit still running).
//! The watch table refreshes once a second; the warm refresh is what it pays.

use criterion::{Criterion, criterion_group, criterion_main};
use maia_core::batch::plan::{SlurmOptions, WorkerOptions, shard_count};
use maia_core::batch::{
    BatchManifest, FORMAT, HostMode, MAIA_VERSION, PlanOptions, StatusReader, read_status,
    unit_slug, write_plan,
};
use maia_core::config::Config;
use maia_core::target::UnitRef;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

const UNITS: usize = 2_000;

fn batch(dir: &Path) -> std::path::PathBuf {
    let out = dir.join("b");
    let units: Vec<UnitRef> = (0..UNITS)
        .map(|i| UnitRef {
            layer: "layer4".into(),
            unit: i,
        })
        .collect();
    let manifest = BatchManifest {
        format: FORMAT,
        maia_version: MAIA_VERSION.into(),
        created_ms: 0,
        name: "bench".into(),
        target: "torch:resnet18.pt".into(),
        units_spec: format!("layer4:0..{UNITS}"),
        units: UNITS,
        task: "describe-unit".into(),
        shard_size: 8,
        shards: shard_count(UNITS, 8),
        maia: "/usr/bin/maia".into(),
        host: HostMode::None,
        slurm: SlurmOptions::default(),
        worker: WorkerOptions::default(),
        config: Config::default(),
    };
    let plan = PlanOptions {
        manifest,
        units: units.clone(),
        force: false,
    };
    write_plan(&out, &plan).unwrap_or_else(|e| panic!("{e}"));
    let sample =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/runs/sample/events.jsonl");
    let journal = std::fs::read(&sample).unwrap_or_else(|e| panic!("{}: {e}", sample.display()));
    for u in &units {
        let run = out.join("runs").join(unit_slug(u));
        std::fs::create_dir_all(&run).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(run.join("events.jsonl"), &journal).unwrap_or_else(|e| panic!("{e}"));
    }
    out
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let out = batch(dir.path());
    let mut group = c.benchmark_group("batch_status_2000_units");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.bench_function("cold read_status", |b| {
        b.iter(|| read_status(&out).unwrap_or_else(|e| panic!("{e}")))
    });
    let mut reader = StatusReader::new(&out);
    reader.read().unwrap_or_else(|e| panic!("{e}"));
    let growing = out
        .join("runs")
        .join(unit_slug(&UnitRef {
            layer: "layer4".into(),
            unit: 0,
        }))
        .join("events.jsonl");
    group.bench_function("warm StatusReader refresh (one journal grew)", |b| {
        b.iter(|| {
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(&growing)
                .unwrap_or_else(|e| panic!("{e}"));
            writeln!(
                f,
                r#"{{"seq":999,"t_ms":1,"type":"round_started","round":9}}"#
            )
            .unwrap_or_else(|e| panic!("{e}"));
            reader.read().unwrap_or_else(|e| panic!("{e}"))
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
