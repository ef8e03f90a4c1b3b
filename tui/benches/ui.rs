//! UI benchmarks: a full 200×60 frame over a 5,000-event transcript (target ≤ 5 ms),
//! streaming deltas into it, and sixel encoding of a 224×224 image (target ≤ 15 ms) and
//! its cache hit; and the batch table of `maia watch OUT/` over 10,000 units, a frame and a
//! snapshot swapped in (what each 1 s refresh costs the UI thread).
//!
//! `cargo bench -p maia-tui --bench ui`

use criterion::{Criterion, criterion_group, criterion_main};
use maia_core::agent::{Event, Record};
use maia_tui::ui::app::App;
use maia_tui::ui::batch::{BatchRow, BatchSnapshot, BatchTable, UnitState};
use maia_tui::ui::detect::Resolved;
use maia_tui::ui::input::Action;
use maia_tui::ui::render;
use maia_tui::ui::sixel::{SixelCache, SixelKey, encode_rgb};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

fn sample_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/runs/sample")
}

fn sample_records() -> Vec<Record> {
    std::fs::read_to_string(sample_dir().join("events.jsonl"))
        .expect("sample journal")
        .lines()
        .map(|l| serde_json::from_str(l).expect("record"))
        .collect()
}

/// The sample run's middle (rounds, deltas, messages, tool calls, notes) repeated with
/// rising round numbers until there are `n` records.
fn long_run(n: usize) -> Vec<Record> {
    let sample = sample_records();
    let mut out: Vec<Record> = vec![sample[0].clone()];
    let body: Vec<&Record> = sample
        .iter()
        .filter(|r| {
            !matches!(
                r.event,
                Event::RunStarted { .. } | Event::RunEnded { .. } | Event::FinalAnswer { .. }
            )
        })
        .collect();
    let mut lap = 0u32;
    while out.len() < n {
        for r in &body {
            if out.len() >= n {
                break;
            }
            let mut r = (*r).clone();
            let shift = lap * 8;
            match &mut r.event {
                Event::RoundStarted { round }
                | Event::TextDelta { round, .. }
                | Event::AssistantMessage { round, .. }
                | Event::Retry { round, .. } => *round += shift,
                Event::ToolStarted { round, call_id, .. }
                | Event::ToolFinished { round, call_id, .. } => {
                    *round += shift;
                    call_id.push_str(&format!("_{lap}"));
                }
                _ => {}
            }
            r.seq = out.len() as u64;
            out.push(r);
        }
        lap += 1;
    }
    out
}

fn app_for(records: &[Record]) -> App {
    let mut app = App::new(&sample_dir(), Resolved::Halfblocks, false);
    for r in records {
        app.now_unix_ms = r.t_ms;
        app.apply(r);
    }
    // Decode the visible images once, as the live loop would.
    let area = Rect::new(0, 0, 200, 60);
    let mut buf = Buffer::empty(area);
    render::draw_buffer(&mut app, area, &mut buf, &mut None);
    app.images.resolve_now();
    app
}

fn frames(c: &mut Criterion) {
    let records = long_run(5_000);
    assert_eq!(records.len(), 5_000);
    let area = Rect::new(0, 0, 200, 60);

    let mut group = c.benchmark_group("frame_200x60_5000_events");
    group.measurement_time(Duration::from_secs(4));

    // The UI's work per frame: lay out and draw every pane into a fresh buffer.
    let mut app = app_for(&records);
    group.bench_function("draw_buffer_following", |b| {
        b.iter(|| {
            let mut buf = Buffer::empty(area);
            black_box(render::draw_buffer(&mut app, area, &mut buf, &mut None));
        })
    });

    // Scrolled into the middle of the transcript.
    let mut app = app_for(&records);
    render::draw_buffer(&mut app, area, &mut Buffer::empty(area), &mut None);
    app.handle(Action::Page(-200));
    group.bench_function("draw_buffer_scrolled", |b| {
        b.iter(|| {
            let mut buf = Buffer::empty(area);
            black_box(render::draw_buffer(&mut app, area, &mut buf, &mut None));
        })
    });

    // A new width every frame: every visible block is wrapped again (a resize).
    let mut app = app_for(&records);
    let mut wide = false;
    group.bench_function("draw_buffer_after_resize", |b| {
        b.iter(|| {
            wide = !wide;
            let area = Rect::new(0, 0, if wide { 200 } else { 199 }, 60);
            let mut buf = Buffer::empty(area);
            black_box(render::draw_buffer(&mut app, area, &mut buf, &mut None));
        })
    });

    // Streaming: one more delta per frame, drawn through the real crossterm backend
    // (diff + escape codes) into a sink.
    let mut app = app_for(&records);
    let mut terminal = Terminal::with_options(
        CrosstermBackend::new(std::io::sink()),
        ratatui::TerminalOptions {
            viewport: ratatui::Viewport::Fixed(area),
        },
    )
    .expect("terminal");
    let round = app.view.round + 1;
    let mut seq = records.len() as u64;
    app.apply(&Record {
        seq,
        t_ms: records[records.len() - 1].t_ms,
        event: Event::RoundStarted { round },
    });
    group.bench_function("terminal_draw_streaming_delta", |b| {
        b.iter(|| {
            seq += 1;
            app.apply(&Record {
                seq,
                t_ms: 0,
                event: Event::TextDelta {
                    round,
                    text: "token ".into(),
                    reasoning: false,
                },
            });
            terminal
                .draw(|f| {
                    render::draw(f, &mut app);
                })
                .expect("draw");
        })
    });
    group.finish();
}

fn sixel(c: &mut Criterion) {
    let hash = sample_records()
        .iter()
        .find_map(|r| match &r.event {
            Event::ToolFinished { name, images, .. } if name == "text2image" => {
                images.first().map(|i| i.hash.clone())
            }
            _ => None,
        })
        .expect("an image");
    let img = image::open(sample_dir().join("images").join(format!("{hash}.png")))
        .expect("png")
        .to_rgb8();
    assert_eq!(img.dimensions(), (224, 224));
    let mut group = c.benchmark_group("sixel");
    group.measurement_time(Duration::from_secs(4));
    group.bench_function("encode_224x224", |b| {
        b.iter(|| black_box(encode_rgb(black_box(&img)).expect("encode")))
    });
    let mut cache = SixelCache::default();
    let key = SixelKey {
        hash,
        cols: 25,
        rows: 12,
        cell_w: 9,
        cell_h: 19,
    };
    cache.get_or_encode(key.clone(), &img).expect("encode");
    group.bench_function("cached_hit", |b| {
        b.iter(|| black_box(cache.get_or_encode(key.clone(), &img).expect("hit")))
    });
    group.bench_function("halfblocks_18x9", |b| {
        b.iter(|| black_box(maia_tui::ui::halfblocks::encode(&img, 18, 9)))
    });
    group.finish();
}

/// 10,000 units in every state, as `maia watch OUT/` gets them from a batch.
fn batch_snapshot(n: usize) -> BatchSnapshot {
    let states = UnitState::ALL;
    BatchSnapshot {
        title: "bench/ · torch:vit_b_16.pt · describe-unit".into(),
        rows: (0..n)
            .map(|i| BatchRow {
                unit: format!("blocks.{}:{}", i / 768, i % 768),
                state: states[i % states.len()],
                rounds: (i % 25) as u32,
                cost_usd: (i % 100) as f64 * 0.003,
                seconds: (i % 600) as f64,
                note: format!("unit {i}: dog faces and fur textures, strongest on close-ups"),
                run_dir: Some(PathBuf::from(format!("bench/runs/blocks-{i}"))),
            })
            .collect(),
        units_per_hour: Some(410.0),
        eta: Some(Duration::from_secs(3600)),
    }
}

fn batch_table(c: &mut Criterion) {
    let snapshot = batch_snapshot(10_000);
    let area = Rect::new(0, 0, 200, 60);
    let mut group = c.benchmark_group("batch_table_10000_units");
    group.measurement_time(Duration::from_secs(4));
    let mut table = BatchTable::new(snapshot.clone());
    let mut buf = Buffer::empty(area);
    group.bench_function("draw_200x60", |b| {
        b.iter(|| {
            buf.reset();
            table.draw(area, &mut buf);
            black_box(&buf);
        })
    });
    group.bench_function("refresh_and_draw", |b| {
        b.iter(|| {
            table.update(snapshot.clone());
            buf.reset();
            table.draw(area, &mut buf);
            black_box(&buf);
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).warm_up_time(Duration::from_secs(1));
    targets = frames, sixel, batch_table
}
criterion_main!(benches);
