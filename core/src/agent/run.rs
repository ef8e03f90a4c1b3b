//! The loop: ask the model, run the tools it calls, feed the results back, until it gives
//! a final answer or a limit ends the run. Every step is journaled before it is shown.

use super::context_budget::ContextBudget;
use super::control::Control;
use super::conversation::{Conversation, estimate_tokens};
use super::event::{Event, Record, RunStatus};
use super::journal::JournalWriter;
use super::prompts::Prompts;
use super::tool_calls::{self, Finished, ToolContext};
use super::verify;
use crate::config::Config;
use crate::llm::{
    CompletionBuilder, LlmBackend, LlmErrorKind, LlmEvent, LlmRequest, RequestedToolCall,
};
use crate::program;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Longest wait for the next streamed event before the request counts as failed.
const STREAM_IDLE_TIMEOUT: Duration = Duration::from_secs(180);
/// How often streamed text is flushed into a journal event.
const DELTA_FLUSH: Duration = Duration::from_millis(50);
/// Rounds past the limit before a run that never answers is ended.
const ROUNDS_PAST_LIMIT: u32 = 3;

/// What the loop needs besides the journal.
pub struct AgentParts {
    /// The model.
    pub backend: Arc<dyn LlmBackend>,
    /// Tools, the image store and the target unit.
    pub tools: ToolContext,
    /// Prompt files.
    pub prompts: Prompts,
    /// Resolved configuration.
    pub config: Config,
    /// Scores candidate answers for `--verify K` (`run.verify`); without one, answers are
    /// accepted as given.
    pub verifier: Option<Arc<dyn verify::Verifier>>,
}

/// Who the run is about, for its first event.
#[derive(Clone, Debug)]
pub struct RunInfo {
    /// Run id (folder name).
    pub run_id: String,
    /// Task name.
    pub task: String,
    /// Target spec.
    pub target: String,
    /// Unit address (or class).
    pub unit: String,
    /// The model the run started on and how it was run, recorded in `run.toml` so a
    /// resume can use the same and notice a different model. `None` where not known.
    pub model: Option<ModelRecord>,
}

/// How the target model of a run was opened, and a hash of what it was.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelRecord {
    /// [`crate::target::fingerprint_hash`] of the target model.
    pub hash: String,
    /// `--device` (`auto`, `cpu`, `cuda:N`).
    pub device: String,
    /// `--half`.
    pub half: bool,
    /// `--k`: exemplars per unit.
    pub k: usize,
}

impl ModelRecord {
    /// The `run.toml` header keys this record is written as.
    pub const KEYS: [&str; 4] = ["model_hash", "model_device", "model_half", "exemplars_k"];

    /// Reads the record back from a `run.toml` table, removing its keys; `None` for a run
    /// recorded before there was one.
    pub fn take_from(table: &mut toml::Table) -> Option<ModelRecord> {
        let hash = table.remove("model_hash")?.as_str()?.to_owned();
        let device = table.remove("model_device");
        let half = table.remove("model_half");
        let k = table.remove("exemplars_k");
        Some(ModelRecord {
            hash,
            device: device
                .as_ref()
                .and_then(|v| v.as_str())
                .unwrap_or("auto")
                .to_owned(),
            half: half.and_then(|v| v.as_bool()).unwrap_or(false),
            k: k.and_then(|v| v.as_integer())
                .and_then(|k| usize::try_from(k).ok())
                .unwrap_or(crate::exemplars::DEFAULT_K),
        })
    }

    fn header(&self) -> String {
        format!(
            "model_hash = {:?}\nmodel_device = {:?}\nmodel_half = {}\nexemplars_k = {}\n",
            self.hash, self.device, self.half, self.k
        )
    }
}

/// How a run ended, for the caller.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// Final status.
    pub status: RunStatus,
    /// Why.
    pub reason: String,
    /// The answer, if given.
    pub answer: Option<(String, String)>,
    /// Rounds used.
    pub rounds: u32,
    /// Tokens used.
    pub tokens: u64,
    /// Dollars spent.
    pub cost_usd: f64,
}

/// A failure of the run's own machinery (the journal cannot be written). Model and tool
/// failures are not errors: they end the run with a journaled reason.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// Writing the journal or run files failed.
    #[error("writing the run journal {path}: {source}")]
    Journal {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
}

/// One run of the agent.
pub struct Agent {
    parts: AgentParts,
    journal: JournalWriter,
    run_dir: PathBuf,
    convo: Conversation,
    events: Option<mpsc::UnboundedSender<Record>>,
    /// Records emitted before a listener was attached; handed over by `with_events`.
    unsent: Vec<Record>,
    controls: Option<mpsc::UnboundedReceiver<Control>>,
    queued: Vec<Control>,
    force_answer: bool,
    system: String,
    /// Per tool, its failures (`failed` or `timeout`) since it last worked.
    failures_in_a_row: std::collections::HashMap<String, u32>,
    /// A tool that failed [`FAILURES_TO_GIVE_UP`] times in a row, and its last error.
    unusable: Option<(String, String)>,
    /// The context budget and what the server counted.
    budget: ContextBudget,
}

/// Failures in a row after which a tool's source (a diffusion server that is down, a
/// describer whose key is wrong) counts as unusable and the run ends, resumable, instead
/// of going on without it and ending "completed" on worse evidence.
pub const FAILURES_TO_GIVE_UP: u32 = 2;

impl Agent {
    /// Starts a new run in `run_dir` (created; must not hold a journal yet): writes
    /// `run.toml` and the first event.
    pub fn start(
        parts: AgentParts,
        run_dir: &Path,
        info: RunInfo,
        task_text: String,
    ) -> Result<Self, AgentError> {
        std::fs::create_dir_all(run_dir).map_err(|source| journal_err(run_dir, source))?;
        let run_toml = maia_run::RunDir::new(run_dir).run_toml();
        let header = format!(
            "# maia run {}: resolved configuration (no secrets; keys come from the environment)\nrun_id = {:?}\ntask_name = {:?}\ntarget_spec = {:?}\nunit_address = {:?}\n{}\n",
            info.run_id,
            info.run_id,
            info.task,
            info.target,
            info.unit,
            info.model
                .as_ref()
                .map(ModelRecord::header)
                .unwrap_or_default()
        );
        std::fs::write(&run_toml, header + &parts.config.to_toml())
            .map_err(|source| journal_err(&run_toml, source))?;
        let events_path = maia_run::RunDir::new(run_dir).events();
        let journal = JournalWriter::create(&events_path)
            .map_err(|source| journal_err(&events_path, source))?;
        let mut agent = Self::assemble(parts, journal, run_dir, &info);
        agent.emit(Event::RunStarted {
            run_id: info.run_id,
            task: info.task,
            target: info.target,
            unit: info.unit,
            backend: agent.parts.backend.name().to_owned(),
            model: agent.parts.backend.model().to_owned(),
            max_rounds: agent.parts.config.run.max_rounds,
            task_text,
        })?;
        Ok(agent)
    }

    /// Picks up a run from its journal: the conversation is rebuilt from the events, a
    /// torn last line is dropped, and calls that had not finished are run again (calls
    /// that finished are never repeated).
    pub fn resume(parts: AgentParts, run_dir: &Path) -> Result<(Self, Vec<Record>), AgentError> {
        let events_path = maia_run::RunDir::new(run_dir).events();
        let (journal, contents) = JournalWriter::continue_existing(&events_path)
            .map_err(|source| journal_err(&events_path, source))?;
        let info = contents
            .records
            .iter()
            .find_map(|r| match &r.event {
                Event::RunStarted {
                    run_id,
                    task,
                    target,
                    unit,
                    ..
                } => Some(RunInfo {
                    run_id: run_id.clone(),
                    task: task.clone(),
                    target: target.clone(),
                    unit: unit.clone(),
                    model: None,
                }),
                _ => None,
            })
            .ok_or_else(|| {
                journal_err(
                    &events_path,
                    std::io::Error::other("the journal has no run_started event"),
                )
            })?;
        let mut agent = Self::assemble(parts, journal, run_dir, &info);
        for r in &contents.records {
            agent.convo.apply(&r.event);
        }
        // A round the crash cut off before the model replied is not a round used.
        agent.convo.round = agent.convo.replies;
        agent.emit(Event::Resumed {
            completed_rounds: agent.convo.round,
        })?;
        if agent.convo.paused {
            // Resuming is the user's go-ahead: a run stopped while paused runs again.
            agent.emit(Event::Paused { paused: false })?;
        }
        Ok((agent, contents.records))
    }

    fn assemble(parts: AgentParts, journal: JournalWriter, run_dir: &Path, info: &RunInfo) -> Self {
        let convo = Conversation::new(
            parts.tools.store.clone(),
            parts.config.images.max_side,
            parts.config.images.per_message,
        );
        let max_rounds = parts.config.run.max_rounds.to_string();
        let mut system = parts.prompts.render(
            "system.md",
            &[
                ("max_rounds", &max_rounds),
                ("unit", &info.unit),
                ("target", &info.target),
            ],
        );
        if parts.config.run.verify > 0 && parts.verifier.is_some() {
            system.push_str("\n\n");
            system.push_str(&verify::verify_prompt(parts.config.run.verify));
        }
        if parts.config.run.mode == "program" {
            let functions = program::functions_doc(&parts.tools.registry);
            let limits = program::limits_doc(&program::Limits::default());
            system.push_str("\n\n");
            system.push_str(&parts.prompts.render(
                "program-mode.md",
                &[("functions", &functions), ("limits", &limits)],
            ));
        }
        Agent {
            parts,
            journal,
            run_dir: run_dir.to_path_buf(),
            convo,
            events: None,
            unsent: Vec::new(),
            controls: None,
            queued: Vec::new(),
            force_answer: false,
            failures_in_a_row: std::collections::HashMap::new(),
            unusable: None,
            system,
            budget: ContextBudget::default(),
        }
    }

    /// Sends every event, as journaled, to `tx` (the TUI or the headless printer).
    /// Records emitted before this call (the run's first event, `resumed`) are sent first.
    pub fn with_events(mut self, tx: mpsc::UnboundedSender<Record>) -> Self {
        for record in self.unsent.drain(..) {
            let _ = tx.send(record);
        }
        self.events = Some(tx);
        self
    }

    /// Takes oversight commands from `rx`.
    pub fn with_controls(mut self, rx: mpsc::UnboundedReceiver<Control>) -> Self {
        self.controls = Some(rx);
        self
    }

    /// The run's folder.
    pub fn run_dir(&self) -> &Path {
        &self.run_dir
    }

    fn emit(&mut self, event: Event) -> Result<Record, AgentError> {
        self.convo.apply(&event);
        let record = self
            .journal
            .append(event)
            .map_err(|source| journal_err(self.journal.path(), source))?;
        match &self.events {
            Some(tx) => {
                let _ = tx.send(record.clone());
            }
            None => self.unsent.push(record.clone()),
        }
        Ok(record)
    }

    /// Runs until an answer, a limit, a stop from the user or an unrecoverable error.
    pub async fn run(mut self) -> Result<Outcome, AgentError> {
        let started = Instant::now();
        let (status, reason) = match self.drive(started).await? {
            Some(end) => end,
            None => (RunStatus::Completed, "final answer given".to_owned()),
        };
        self.finish(status, reason)
    }

    async fn drive(&mut self, started: Instant) -> Result<Option<(RunStatus, String)>, AgentError> {
        if self.convo.answer.is_some() {
            return Ok(None);
        }
        let unfinished = self.convo.unfinished_calls();
        if !unfinished.is_empty() {
            let round = self.convo.round;
            if self.run_tools(round, &unfinished).await? {
                return Ok(None);
            }
        }
        let cfg = self.parts.config.run.clone();
        loop {
            if let Some(end) = self.handle_controls().await? {
                return Ok(Some(end));
            }
            if let Some(limit) = self.limit_reached(started) {
                return Ok(Some((RunStatus::Limit, limit)));
            }
            let round = self.convo.round + 1;
            if round > cfg.max_rounds + ROUNDS_PAST_LIMIT {
                return Ok(Some((
                    RunStatus::Limit,
                    format!("no final answer after {} rounds", round - 1),
                )));
            }
            if round > cfg.max_rounds || self.force_answer {
                let why = if self.force_answer {
                    "the user asked for the final answer"
                } else {
                    "the round limit is reached"
                };
                self.emit(Event::Warning {
                    text: format!("{why}: asking the model to answer now"),
                })?;
                let mut text = self.parts.prompts.render("answer-now.md", &[]);
                if !text.contains(crate::llm::ANSWER_NOW) {
                    // The marker every backend, the offline experimenter included, answers to.
                    text = format!("{}. {text}", crate::llm::ANSWER_NOW);
                }
                self.emit(Event::Nudge { text })?;
                self.force_answer = false;
            }
            self.emit(Event::RoundStarted { round })?;
            let completion = match self.complete(round).await? {
                Ok(c) => c,
                Err(end) => return Ok(Some(end)),
            };
            let cost = self.parts.config.cost(
                self.parts.backend.model(),
                completion.usage.input_tokens,
                completion.usage.output_tokens,
            );
            let calls = completion.tool_calls.clone();
            self.emit(Event::AssistantMessage {
                round,
                text: completion.text.clone(),
                reasoning: completion.reasoning,
                tool_calls: calls.clone(),
                usage: completion.usage,
                cost_usd: cost,
            })?;
            if calls.is_empty() {
                if let Some((description, label)) = answer_in_text(&completion.text) {
                    self.emit(Event::FinalAnswer {
                        round,
                        description,
                        label,
                    })?;
                    return Ok(None);
                }
                self.emit(Event::Warning {
                    text: "the reply called no tool".into(),
                })?;
                self.emit(Event::Nudge {
                    text: "Your last reply called no tool. Run an experiment with the tools, or call `final_answer` if you are done.".into(),
                })?;
                continue;
            }
            if self.run_tools(round, &calls).await? {
                return Ok(None);
            }
            if let Some((name, error)) = self.unusable.take() {
                return Ok(Some((
                    RunStatus::Failed,
                    format!(
                        "`{name}` failed {FAILURES_TO_GIVE_UP} times in a row (last: {error}); its source looks unusable: fix it, then `maia resume` this run"
                    ),
                )));
            }
        }
    }

    /// Runs one reply's calls concurrently, journals each result in call order, and
    /// returns whether a final answer was given.
    async fn run_tools(
        &mut self,
        round: u32,
        calls: &[RequestedToolCall],
    ) -> Result<bool, AgentError> {
        let mut handles = Vec::with_capacity(calls.len());
        // Programs' inner calls, journaled as they finish, between their program's start
        // and end.
        let (inner_tx, mut inner_rx) = tokio::sync::mpsc::unbounded_channel();
        for call in calls {
            let args = tool_calls::parse_args(call)
                .unwrap_or_else(|_| serde_json::Value::String(call.arguments.clone()));
            self.emit(Event::ToolStarted {
                round,
                call_id: call.id.clone(),
                name: call.name.clone(),
                args,
            })?;
            let ctx = self.parts.tools.clone();
            let call = call.clone();
            let replay = self.convo.inner_calls(&call.id);
            let inner_tx = inner_tx.clone();
            handles.push(tokio::task::spawn_blocking(move || {
                tool_calls::run_call_observed(&ctx, round, &call, &replay, &mut |record| {
                    let _ = inner_tx.send(program::inner_event(round, &call.id, record));
                })
            }));
        }
        drop(inner_tx);
        let mut answered = false;
        for (mut handle, call) in handles.into_iter().zip(calls) {
            let joined = loop {
                tokio::select! {
                    biased;
                    Some(event) = inner_rx.recv() => {
                        self.emit(event)?;
                    }
                    joined = &mut handle => break joined,
                }
            };
            while let Ok(event) = inner_rx.try_recv() {
                self.emit(event)?;
            }
            let finished = joined.unwrap_or_else(|e| Finished {
                event: Event::ToolFinished {
                    round,
                    call_id: call.id.clone(),
                    name: call.name.clone(),
                    error: Some("failed".into()),
                    text: format!("error (failed): the tool crashed ({e})"),
                    images: Vec::new(),
                    data: serde_json::Value::Null,
                    elapsed_ms: 0,
                    cost_usd: 0.0,
                },
                answer: None,
                alternatives: Vec::new(),
            });
            if let Event::ToolFinished {
                error, name, text, ..
            } = &finished.event
            {
                let source_failed = matches!(error.as_deref(), Some("failed" | "timeout"));
                let count = self.failures_in_a_row.entry(name.clone()).or_insert(0);
                *count = if source_failed { *count + 1 } else { 0 };
                if *count >= FAILURES_TO_GIVE_UP && self.unusable.is_none() {
                    let first_line = text.lines().next().unwrap_or_default();
                    // Tool errors read "error (KIND): message"; the reason names the kind.
                    let first_line = first_line
                        .split_once("): ")
                        .filter(|(head, _)| head.starts_with("error ("))
                        .map_or(first_line, |(_, message)| message)
                        .to_owned();
                    self.unusable = Some((name.clone(), first_line));
                }
            }
            if let Event::ToolFinished {
                error: Some(kind),
                name,
                ..
            } = &finished.event
                && kind == "unknown_tool"
            {
                self.emit(Event::Warning { text: format!("the model called `{name}`, which does not exist; the error listing the real tools went back to it") })?;
            }
            self.emit(finished.event)?;
            if let (Some((description, label)), false) = (finished.answer, answered)
                && let Some((description, label)) = self
                    .verify(round, description, label, &finished.alternatives)
                    .await?
            {
                answered = true;
                self.emit(Event::FinalAnswer {
                    round,
                    description,
                    label,
                })?;
            }
        }
        Ok(answered)
    }

    /// `--verify K`: scores the answer and its alternatives on fresh images. The run's
    /// first verification shows the agent the scores and returns `None` (not accepted);
    /// a later one, or one on the last round, keeps the best candidate of all.
    async fn verify(
        &mut self,
        round: u32,
        description: String,
        label: String,
        alternatives: &[String],
    ) -> Result<Option<(String, String)>, AgentError> {
        let k = self.parts.config.run.verify;
        let Some(verifier) = self.parts.verifier.clone().filter(|_| k > 0) else {
            return Ok(Some((description, label)));
        };
        let mut scored = verify::candidates(&description, &label, alternatives, k as usize);
        for candidate in &mut scored {
            let verified = verifier
                .score(&candidate.description, u64::from(round))
                .await;
            match verified.score {
                Ok(r) => candidate.score = Some(r),
                Err(why) => candidate.failure = Some(why),
            }
            candidate.usage = verified.usage;
            candidate.cost_usd = verified.cost_usd;
        }
        let last_chance = round >= self.parts.config.run.max_rounds || self.force_answer;
        let accepted = self.convo.verifications > 0 || last_chance;
        let best = verify::best(&scored);
        self.emit(Event::Verification {
            round,
            candidates: scored.clone(),
            best,
            accepted,
        })?;
        if !accepted {
            self.emit(Event::Nudge {
                text: verify::scores_message(&scored),
            })?;
            return Ok(None);
        }
        let all = &self.convo.verified;
        let Some(chosen) = verify::best(all).and_then(|i| all.get(i)) else {
            return Ok(Some((description, label)));
        };
        let label = if chosen.label.is_empty() {
            chosen
                .description
                .split_whitespace()
                .take(5)
                .collect::<Vec<_>>()
                .join(" ")
        } else {
            chosen.label.clone()
        };
        Ok(Some((chosen.description.clone(), label)))
    }

    /// One model request with retries. `Ok(Err(..))` ends the run.
    async fn complete(
        &mut self,
        round: u32,
    ) -> Result<Result<crate::llm::Completion, (RunStatus, String)>, AgentError> {
        let max_retries = self.parts.config.run.max_retries;
        let max_output_tokens = self.parts.config.run.max_output_tokens;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let tools = self.tool_specs();
            let fixed = ContextBudget::raw(&self.system, &tools, &[]);
            let limit = self
                .budget
                .limit(
                    self.parts.config.run.context_tokens,
                    self.parts.backend.as_ref(),
                )
                .await;
            if let Some(limit) = limit {
                let trims = self.budget.trims(
                    &self.convo,
                    fixed,
                    limit,
                    u64::from(max_output_tokens),
                    round,
                );
                for event in trims {
                    self.emit(event)?;
                }
            }
            let messages = self.convo.request_messages();
            let raw = fixed + estimate_tokens(&messages);
            let request = LlmRequest {
                system: self.system.clone(),
                messages,
                tools,
                max_output_tokens,
                temperature: None,
                reply_schema: None,
            };
            let failure = match self.stream_one(round, request).await? {
                StreamResult::Done(c) => {
                    self.budget.observe(raw, c.usage.input_tokens);
                    return Ok(Ok(c));
                }
                StreamResult::Quit(reason) => {
                    return Ok(Err((RunStatus::Stopped, reason)));
                }
                StreamResult::Failed(e) => e,
            };
            if !failure.kind.is_retryable() || attempt > max_retries {
                let why = if failure.kind.is_retryable() {
                    format!(" (gave up after {attempt} attempts)")
                } else {
                    String::new()
                };
                return Ok(Err((
                    RunStatus::Failed,
                    format!("the model request failed{why}: {}", failure.message),
                )));
            }
            let retry_after = match failure.kind {
                LlmErrorKind::RateLimited { retry_after } => retry_after,
                _ => None,
            };
            let wait = crate::llm::backoff(attempt, retry_after);
            self.emit(Event::Retry {
                round,
                attempt,
                reason: failure.message.clone(),
                wait_ms: wait.as_millis() as u64,
            })?;
            tokio::time::sleep(wait).await;
        }
    }

    async fn stream_one(
        &mut self,
        round: u32,
        request: LlmRequest,
    ) -> Result<StreamResult, AgentError> {
        let mut stream = self.parts.backend.stream(request);
        let mut builder = CompletionBuilder::new();
        let mut pending = String::new();
        let mut pending_reasoning = false;
        let mut last_flush = Instant::now();
        loop {
            let next = tokio::select! {
                next = tokio::time::timeout(STREAM_IDLE_TIMEOUT, stream.next()) => next,
                Some(control) = recv_control(&mut self.controls) => {
                    if let Some(reason) = control.stop_reason() {
                        self.flush_delta(round, &mut pending, pending_reasoning)?;
                        return Ok(StreamResult::Quit(reason));
                    }
                    self.queued.push(control);
                    continue;
                }
            };
            let event = match next {
                Err(_) => {
                    self.flush_delta(round, &mut pending, pending_reasoning)?;
                    return Ok(StreamResult::Failed(crate::llm::LlmError::new(
                        LlmErrorKind::Network,
                        format!(
                            "no data from the model for {} s",
                            STREAM_IDLE_TIMEOUT.as_secs()
                        ),
                    )));
                }
                Ok(None) => break,
                Ok(Some(Err(e))) => {
                    self.flush_delta(round, &mut pending, pending_reasoning)?;
                    return Ok(StreamResult::Failed(e));
                }
                Ok(Some(Ok(event))) => event,
            };
            builder.push(&event);
            match &event {
                LlmEvent::TextDelta(t) | LlmEvent::ReasoningDelta(t) => {
                    let reasoning = matches!(event, LlmEvent::ReasoningDelta(_));
                    if reasoning != pending_reasoning {
                        self.flush_delta(round, &mut pending, pending_reasoning)?;
                        pending_reasoning = reasoning;
                    }
                    pending.push_str(t);
                    if last_flush.elapsed() >= DELTA_FLUSH {
                        self.flush_delta(round, &mut pending, pending_reasoning)?;
                        last_flush = Instant::now();
                    }
                }
                LlmEvent::Finish(_) => {}
                _ => {}
            }
        }
        self.flush_delta(round, &mut pending, pending_reasoning)?;
        let completion = builder.finish();
        if completion.finish.is_none() {
            return Ok(StreamResult::Failed(crate::llm::LlmError::new(
                LlmErrorKind::Network,
                "the model's reply stream ended before it was complete",
            )));
        }
        Ok(StreamResult::Done(completion))
    }

    fn flush_delta(
        &mut self,
        round: u32,
        pending: &mut String,
        reasoning: bool,
    ) -> Result<(), AgentError> {
        if !pending.is_empty() {
            let text = std::mem::take(pending);
            self.emit(Event::TextDelta {
                round,
                text,
                reasoning,
            })?;
        }
        Ok(())
    }

    /// The tools offered to the model: all of them, or in program mode only `run_program`
    /// and `final_answer` (programs reach the rest).
    fn tool_specs(&self) -> Vec<maia_plugin_sdk::ToolSpec> {
        let program_mode = self.parts.config.run.mode == "program";
        self.parts
            .tools
            .registry
            .tools()
            .filter(|t| {
                !program_mode
                    || t.spec.name == program::RUN_PROGRAM
                    || t.spec.name == tool_calls::FINAL_ANSWER
            })
            .map(|t| t.spec.clone())
            .collect()
    }

    /// Applies queued and waiting oversight commands; blocks while paused.
    async fn handle_controls(&mut self) -> Result<Option<(RunStatus, String)>, AgentError> {
        let mut commands = std::mem::take(&mut self.queued);
        if let Some(rx) = &mut self.controls {
            while let Ok(c) = rx.try_recv() {
                commands.push(c);
            }
        }
        let mut commands = commands
            .into_iter()
            .collect::<std::collections::VecDeque<_>>();
        loop {
            while let Some(c) = commands.pop_front() {
                match c {
                    Control::Pause(p) if p != self.convo.paused => {
                        self.emit(Event::Paused { paused: p })?;
                    }
                    Control::Pause(_) => {}
                    Control::Note(text) if !text.trim().is_empty() => {
                        self.emit(Event::Note { text })?;
                    }
                    Control::Note(_) => {}
                    Control::ForceAnswer => self.force_answer = true,
                    Control::Quit | Control::Stop(_) => {
                        let reason = c.stop_reason().unwrap_or_default();
                        return Ok(Some((RunStatus::Stopped, reason)));
                    }
                }
            }
            if !self.convo.paused {
                return Ok(None);
            }
            match recv_control(&mut self.controls).await {
                Some(c) => commands.push_back(c),
                None => {
                    self.emit(Event::Paused { paused: false })?;
                    return Ok(None);
                }
            }
        }
    }

    fn limit_reached(&self, started: Instant) -> Option<String> {
        let run = &self.parts.config.run;
        if run.max_tokens > 0 && self.convo.tokens >= run.max_tokens {
            return Some(format!(
                "token limit reached ({} of {})",
                self.convo.tokens, run.max_tokens
            ));
        }
        if run.max_cost_usd > 0.0 && self.convo.cost_usd >= run.max_cost_usd {
            return Some(format!(
                "cost limit reached (${:.4} of ${:.2})",
                self.convo.cost_usd, run.max_cost_usd
            ));
        }
        if run.max_wall_minutes > 0.0
            && started.elapsed().as_secs_f64() >= run.max_wall_minutes * 60.0
        {
            return Some(format!(
                "wall-time limit reached ({} min)",
                run.max_wall_minutes
            ));
        }
        None
    }

    fn finish(mut self, status: RunStatus, reason: String) -> Result<Outcome, AgentError> {
        self.emit(Event::RunEnded {
            status,
            reason: reason.clone(),
        })?;
        let outcome = Outcome {
            status,
            reason,
            answer: self.convo.answer.clone(),
            rounds: self.convo.round,
            tokens: self.convo.tokens,
            cost_usd: self.convo.cost_usd,
        };
        let result = serde_json::json!({
            "status": status.as_str(),
            "reason": outcome.reason,
            "description": outcome.answer.as_ref().map(|a| a.0.clone()),
            "label": outcome.answer.as_ref().map(|a| a.1.clone()),
            "rounds": outcome.rounds,
            "tokens": outcome.tokens,
            "cost_usd": outcome.cost_usd,
            "backend": self.parts.backend.name(),
            "model": self.parts.backend.model(),
        });
        let path = maia_run::RunDir::new(&self.run_dir).result();
        let text = serde_json::to_string_pretty(&result).unwrap_or_default();
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, text)
            .and_then(|_| std::fs::rename(&tmp, &path))
            .map_err(|source| journal_err(&path, source))?;
        Ok(outcome)
    }
}

enum StreamResult {
    Done(crate::llm::Completion),
    Failed(crate::llm::LlmError),
    /// Stopped by a control, for this reason.
    Quit(String),
}

async fn recv_control(rx: &mut Option<mpsc::UnboundedReceiver<Control>>) -> Option<Control> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

fn journal_err(path: &Path, source: std::io::Error) -> AgentError {
    AgentError::Journal {
        path: path.to_path_buf(),
        source,
    }
}

/// MAIA's text format for an answer, for models that write it instead of calling
/// `final_answer`: `[DESCRIPTION]: …` and optionally `[LABEL]: …`.
pub fn answer_in_text(text: &str) -> Option<(String, String)> {
    let after = |tag: &str| -> Option<String> {
        let start = text.find(tag)? + tag.len();
        let rest = text[start..].trim_start_matches(':').trim_start();
        let end = rest.find("\n[").unwrap_or(rest.len());
        Some(rest[..end].trim().to_owned())
    };
    let description = after("[DESCRIPTION]")?;
    (!description.is_empty()).then(|| (description, after("[LABEL]").unwrap_or_default()))
}
