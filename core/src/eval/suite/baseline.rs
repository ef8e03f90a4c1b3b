//! The exemplar-only baseline (MAIA's non-interactive agent, MILAN-style labelling): the
//! same backend is shown the unit's top dataset exemplars once — as a `dataset_exemplars`
//! call and its result, exactly as an agent run shows them in its first round — and must
//! answer in one reply, with `final_answer` the only tool it is offered. No experiments.

use crate::agent::conversation::Conversation;
use crate::agent::event::Event;
use crate::agent::run::answer_in_text;
use crate::agent::tool_calls::{self, FINAL_ANSWER, ToolContext};
use crate::agent::{Prompts, RunInfo};
use crate::config::Config;
use crate::llm::{
    CompletionBuilder, LlmBackend, LlmError, LlmErrorKind, LlmRequest, RequestedToolCall, Usage,
};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Longest wait for the next streamed event (as in an agent run).
const STREAM_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(180);

/// The id of the harness's exemplar call.
const EXEMPLAR_CALL: &str = "exemplars_1";

/// What the baseline said.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BaselineReply {
    /// `(description, label)` when it gave an answer.
    pub answer: Option<(String, String)>,
    /// The reply's text (reasoning left out).
    pub text: String,
    /// Its tool calls.
    pub tool_calls: Vec<RequestedToolCall>,
    /// Tokens of the request.
    pub usage: Usage,
    /// Dollars.
    pub cost_usd: f64,
    /// Requests made (retries included).
    pub attempts: u32,
}

/// Why the baseline could not be asked.
#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    /// The exemplars could not be shown.
    #[error("dataset_exemplars failed for the baseline: {0}")]
    Exemplars(String),
    /// The model request failed (after retries, for retryable failures).
    #[error("the baseline's model request failed after {attempts} attempts: {error}")]
    Backend {
        /// Requests made.
        attempts: u32,
        /// The last failure.
        error: LlmError,
    },
}

/// Asks `backend` for a description from the exemplars alone. `tools` must offer
/// `dataset_exemplars` (the harness calls it; the model never can) and `final_answer`
/// (the only tool the model is offered). The system prompt is the agent's, the task
/// `prompts/exemplar-only.md`.
pub async fn exemplar_only(
    backend: &Arc<dyn LlmBackend>,
    tools: &ToolContext,
    prompts: &Prompts,
    config: &Config,
    info: &RunInfo,
) -> Result<BaselineReply, BaselineError> {
    let call = RequestedToolCall {
        id: EXEMPLAR_CALL.into(),
        name: "dataset_exemplars".into(),
        arguments: "{}".into(),
    };
    let finished = {
        let (ctx, call) = (tools.clone(), call.clone());
        tokio::task::spawn_blocking(move || tool_calls::run_call(&ctx, 1, &call))
            .await
            .map_err(|e| BaselineError::Exemplars(format!("the call crashed: {e}")))?
    };
    if let Event::ToolFinished {
        error: Some(_),
        text,
        ..
    } = &finished.event
    {
        return Err(BaselineError::Exemplars(text.clone()));
    }
    let vars = [
        ("unit", info.unit.as_str()),
        ("target", info.target.as_str()),
        ("max_rounds", "1"),
    ];
    let mut convo = Conversation::new(
        tools.store.clone(),
        config.images.max_side,
        config.images.per_message,
    );
    convo.apply(&Event::RunStarted {
        run_id: info.run_id.clone(),
        task: "exemplar-only".into(),
        target: info.target.clone(),
        unit: info.unit.clone(),
        backend: backend.name().to_owned(),
        model: backend.model().to_owned(),
        max_rounds: 1,
        task_text: prompts.render("exemplar-only.md", &vars),
    });
    convo.apply(&Event::AssistantMessage {
        round: 1,
        text: String::new(),
        reasoning: String::new(),
        tool_calls: vec![call],
        usage: Usage::default(),
        cost_usd: 0.0,
    });
    convo.apply(&finished.event);
    let final_answer: Vec<_> = tools
        .registry
        .get(FINAL_ANSWER)
        .map(|t| t.spec.clone())
        .into_iter()
        .collect();
    let request = LlmRequest {
        system: prompts.render("system.md", &vars),
        messages: convo.request_messages(),
        tools: final_answer,
        max_output_tokens: config.run.max_output_tokens,
        temperature: None,
        reply_schema: None,
    };
    let mut attempts = 0u32;
    let completion = loop {
        attempts += 1;
        match complete(backend.as_ref(), request.clone()).await {
            Ok(c) => break c,
            Err(error) if error.kind.is_retryable() && attempts <= config.run.max_retries => {
                let retry_after = match error.kind {
                    LlmErrorKind::RateLimited { retry_after } => retry_after,
                    _ => None,
                };
                tokio::time::sleep(crate::llm::backoff(attempts, retry_after)).await;
            }
            Err(error) => return Err(BaselineError::Backend { attempts, error }),
        }
    };
    let answer = completion
        .tool_calls
        .iter()
        .filter(|c| c.name == FINAL_ANSWER)
        .find_map(|c| {
            let args = tool_calls::parse_args(c).ok()?;
            let description = args.get("description")?.as_str()?.trim().to_owned();
            let label = args
                .get("label")
                .and_then(|l| l.as_str())
                .unwrap_or_default()
                .trim()
                .to_owned();
            (!description.is_empty()).then_some((description, label))
        })
        .or_else(|| answer_in_text(&completion.text));
    Ok(BaselineReply {
        answer,
        cost_usd: config.cost(
            backend.model(),
            completion.usage.input_tokens,
            completion.usage.output_tokens,
        ),
        text: completion.text,
        tool_calls: completion.tool_calls,
        usage: completion.usage,
        attempts,
    })
}

/// One request, streamed to the end.
async fn complete(
    backend: &dyn LlmBackend,
    request: LlmRequest,
) -> Result<crate::llm::Completion, LlmError> {
    let mut stream = backend.stream(request);
    let mut builder = CompletionBuilder::new();
    loop {
        match tokio::time::timeout(STREAM_IDLE_TIMEOUT, stream.next()).await {
            Ok(Some(event)) => builder.push(&event?),
            Ok(None) => break,
            Err(_) => {
                return Err(LlmError::new(
                    LlmErrorKind::Network,
                    format!(
                        "no data from the model for {} s",
                        STREAM_IDLE_TIMEOUT.as_secs()
                    ),
                ));
            }
        }
    }
    let completion = builder.finish();
    if completion.finish.is_none() {
        return Err(LlmError::new(
            LlmErrorKind::Network,
            "the model's reply stream ended before it was complete",
        ));
    }
    Ok(completion)
}
