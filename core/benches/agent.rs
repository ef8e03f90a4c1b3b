//! Agent overhead per round, excluding model and tool time (issue target ≤ 5 ms): a
//! replayed run of many rounds, each calling a tool that returns at once, so what is
//! measured is the loop itself — building the request from the conversation, folding
//! streamed events, journaling (append + fsync per event) and dispatching the calls.
//! Also reported: the same run with the journal on tmpfs-like memory (`/dev/shm` when
//! present) to separate the disk's fsync cost from maia's own work.

use criterion::{Criterion, criterion_group, criterion_main};
use maia_core::agent::{Agent, AgentParts, Prompts, RunInfo, ToolContext};
use maia_core::builtin::FinalAnswer;
use maia_core::config::Config;
use maia_core::llm::replay::{RecordedReply, ReplayBackend};
use maia_core::llm::{RequestedToolCall, Usage};
use maia_core::tools::InProcess;
use maia_core::{ImageStore, ToolRegistry};
use maia_plugin_sdk::{Host, Manifest, Plugin, ToolCall, ToolError, ToolOutput, ToolSpec};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const ROUNDS: usize = 40;

#[derive(Default)]
struct Noop;

impl Plugin for Noop {
    fn manifest(&self) -> Manifest {
        Manifest::new("bench", "1.0.0", "no-op tool")
    }
    fn tools(&self) -> Vec<ToolSpec> {
        vec![ToolSpec::new(
            "noop",
            "does nothing",
            serde_json::json!({"type": "object", "properties": {"n": {"type": "integer"}}}),
        )]
    }
    fn call(&mut self, _call: &ToolCall, _host: &mut dyn Host) -> Result<ToolOutput, ToolError> {
        Ok(ToolOutput::text("ok"))
    }
}

fn replies() -> Vec<RecordedReply> {
    let mut replies: Vec<RecordedReply> = (0..ROUNDS)
        .map(|i| RecordedReply {
            text: format!("Round {i}: the hypothesis list is unchanged; testing one more factor before concluding anything."),
            reasoning: String::new(),
            tool_calls: vec![
                RequestedToolCall { id: format!("a{i}"), name: "noop".into(), arguments: format!("{{\"n\": {i}}}") },
                RequestedToolCall { id: format!("b{i}"), name: "noop".into(), arguments: "{}".into() },
            ],
            usage: Usage { input_tokens: 100, output_tokens: 20 },
        })
        .collect();
    replies.push(RecordedReply {
        text: "Done.".into(),
        reasoning: String::new(),
        tool_calls: vec![RequestedToolCall {
            id: "end".into(),
            name: "final_answer".into(),
            arguments: r#"{"description":"x","label":"x"}"#.into(),
        }],
        usage: Usage::default(),
    });
    replies
}

fn one_run(runtime: &tokio::runtime::Runtime, root: &Path, n: usize) -> Duration {
    let dir = root.join(format!("run{n}"));
    let mut registry = ToolRegistry::new();
    registry
        .register(Box::new(InProcess::new(Noop)))
        .unwrap_or_else(|e| panic!("{e}"));
    registry
        .register(Box::new(InProcess::new(FinalAnswer)))
        .unwrap_or_else(|e| panic!("{e}"));
    let store = Arc::new(ImageStore::new());
    let mut config = Config::default();
    config.run.max_rounds = (ROUNDS + 5) as u32;
    let parts = AgentParts {
        backend: Arc::new(ReplayBackend::new(replies())),
        tools: ToolContext {
            registry: Arc::new(registry),
            store,
            unit: None,
            image_price_usd: 0.0,
        },
        prompts: Prompts::embedded(),
        config,
        verifier: None,
    };
    let info = RunInfo {
        run_id: "bench".into(),
        task: "describe-unit".into(),
        target: "bench".into(),
        unit: "x:0".into(),
        model: None,
    };
    let started = Instant::now();
    runtime.block_on(async {
        let agent =
            Agent::start(parts, &dir, info, "task".into()).unwrap_or_else(|e| panic!("{e}"));
        agent.run().await.unwrap_or_else(|e| panic!("{e}"))
    });
    started.elapsed()
}

fn per_round(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let disk = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let shm = Path::new("/dev/shm")
        .is_dir()
        .then(|| tempfile::tempdir_in("/dev/shm").ok())
        .flatten();
    let mut group = c.benchmark_group("agent");
    group.sample_size(10);
    let mut n = 0;
    group.bench_function(format!("round_overhead_disk_journal_x{ROUNDS}"), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                n += 1;
                total += one_run(&runtime, disk.path(), n) / (ROUNDS as u32 + 1);
            }
            total
        })
    });
    if let Some(shm) = &shm {
        group.bench_function(format!("round_overhead_memory_journal_x{ROUNDS}"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    n += 1;
                    total += one_run(&runtime, shm.path(), n) / (ROUNDS as u32 + 1);
                }
                total
            })
        });
    }
    group.finish();
}

criterion_group!(benches, per_round);
criterion_main!(benches);
