//! The evaluator of MAIA's protocol: a language model writes the prompts.

use super::evaluator::{EvalFuture, Evaluator, PromptSet, check_description, clip};
use super::{Failure, FailureKind};
use crate::config::Price;
use crate::llm::{LlmBackend, LlmError, LlmRequest, Message, Part, Usage};
use std::sync::Arc;
use std::time::Duration;

/// Longest prompt accepted from the evaluator, in characters.
pub const MAX_PROMPT_CHARS: usize = 1000;

/// The instructions; `{n}` is replaced by the number of prompts per side.
pub const INSTRUCTIONS: &str = "You check descriptions of units (neurons) of a vision model. \
Given a description of what makes a unit fire, write prompts for an image generator: {n} \
POSITIVE prompts for images that, according to the description, make the unit fire strongly, \
and {n} NEUTRAL prompts for images that, according to the description, do not make it fire. \
Positive prompts should vary everything the description leaves open. Neutral prompts must not \
contain what the description names; make about half of them near misses that share some but \
not all of its features, and the rest ordinary unrelated images. Each prompt describes one \
image in one sentence, using only what the image generator can draw. Reply with only a JSON \
object, no other text: {\"positive\": [\"...\"], \"neutral\": [\"...\"]} with exactly {n} \
strings in each list.";

/// The reply's JSON schema: `n` prompts per side, each a sentence of at most
/// [`SCHEMA_PROMPT_CHARS`] characters starting with a letter. Servers that constrain
/// their output with it (llama.cpp, vLLM) cannot reply in another shape.
pub fn reply_schema(n: usize) -> serde_json::Value {
    let side = serde_json::json!({
        "type": "array",
        "minItems": n,
        "maxItems": n,
        "items": {
            "type": "string",
            "pattern": format!("^[A-Za-z][A-Za-z0-9 ,.'-]{{2,{}}}$", SCHEMA_PROMPT_CHARS - 1),
        },
    });
    serde_json::json!({
        "type": "object",
        "properties": {"positive": side.clone(), "neutral": side},
        "required": ["positive", "neutral"],
        "additionalProperties": false,
    })
}

/// Longest prompt the reply schema allows (the parser accepts up to [`MAX_PROMPT_CHARS`]
/// from servers that ignore the schema).
pub const SCHEMA_PROMPT_CHARS: usize = 120;

/// An [`Evaluator`] over any [`LlmBackend`], as in MAIA: the model is asked for a JSON
/// object `{"positive": [...], "neutral": [...]}`.
///
/// A reply that is not in that format is answered once with the parse error and asked
/// again; a second bad reply makes the scoring a [`FailureKind::Evaluator`] failure whose
/// log holds both replies. Backend errors that may pass (rate limits, 5xx, dropped
/// connections) are retried with backoff; others fail at once. Nothing is shared between
/// calls, so one evaluator serves concurrent scorings.
pub struct LlmEvaluator {
    backend: Arc<dyn LlmBackend>,
    name: String,
    instructions: String,
    image_context: Option<String>,
    temperature: Option<f32>,
    backend_attempts: usize,
    backoff: Duration,
    price: Option<Price>,
}

impl LlmEvaluator {
    /// An evaluator asking `backend`'s model.
    pub fn new(backend: Arc<dyn LlmBackend>) -> Self {
        let name = format!("llm:{}/{}", backend.name(), backend.model());
        LlmEvaluator {
            backend,
            name,
            instructions: INSTRUCTIONS.to_owned(),
            image_context: None,
            temperature: None,
            backend_attempts: 3,
            backoff: Duration::from_secs(2),
            price: None,
        }
    }

    /// Tells the model what the image generator can draw (e.g. the `text2image` tool's
    /// description, so prompts for the shapes world use its words).
    pub fn with_image_context(mut self, context: impl Into<String>) -> Self {
        self.image_context = Some(context.into());
        self
    }

    /// Replaces the instructions (`{n}` is replaced by the prompts per side).
    pub fn with_instructions(mut self, instructions: impl Into<String>) -> Self {
        self.instructions = instructions.into();
        self
    }

    /// Sets the sampling temperature (default: the backend's).
    pub fn with_temperature(mut self, temperature: f32) -> Self {
        self.temperature = Some(temperature);
        self
    }

    /// Prices the model's tokens (`[prices]` of the config), so each score says what its
    /// prompts cost; without one they count as free.
    pub fn with_price(mut self, price: Option<Price>) -> Self {
        self.price = price;
        self
    }

    /// How often a retryable backend error is tried (at least once) and the first wait
    /// between tries (doubling; a server's Retry-After wins, up to a minute).
    pub fn with_backend_retries(mut self, attempts: usize, backoff: Duration) -> Self {
        self.backend_attempts = attempts.max(1);
        self.backoff = backoff;
        self
    }

    fn request(&self, messages: Vec<Message>, n: usize) -> LlmRequest {
        LlmRequest {
            system: self.instructions.replace("{n}", &n.to_string()),
            messages,
            tools: Vec::new(),
            max_output_tokens: u32::try_from(1024 + n * 2 * 80).unwrap_or(u32::MAX),
            temperature: self.temperature,
            reply_schema: Some(reply_schema(n)),
        }
    }

    /// One reply's text, retrying errors that may pass; `usage` gains its tokens.
    async fn complete(&self, request: LlmRequest, usage: &mut Usage) -> Result<String, LlmError> {
        let mut wait = self.backoff;
        let mut attempt = 1;
        loop {
            match crate::llm::complete(self.backend.as_ref(), request.clone()).await {
                Ok(reply) => {
                    usage.input_tokens += reply.usage.input_tokens;
                    usage.output_tokens += reply.usage.output_tokens;
                    return Ok(reply.text);
                }
                Err(e) if e.kind.is_retryable() && attempt < self.backend_attempts => {
                    let delay = match &e.kind {
                        crate::llm::LlmErrorKind::RateLimited {
                            retry_after: Some(after),
                        } => (*after).min(Duration::from_secs(60)),
                        _ => wait,
                    };
                    tokio::time::sleep(delay).await;
                    wait *= 2;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn prompt_set(&self, description: &str, n: usize) -> Result<PromptSet, Failure> {
        let mut notes = check_description(description)?;
        let mut task = format!(
            "Description of the unit: {}\n\nWrite exactly {n} positive and {n} neutral prompts.",
            description.trim()
        );
        if let Some(context) = &self.image_context {
            task.push_str(&format!("\n\nThe image generator: {context}"));
        }
        let mut messages = vec![Message::User(vec![Part::Text(task)])];
        let mut log = Vec::new();
        let mut last_error = String::new();
        let mut usage = Usage::default();
        for attempt in 1..=2 {
            let text = self
                .complete(self.request(messages.clone(), n), &mut usage)
                .await
                .map_err(|e| {
                    let mut log = log.clone();
                    log.push(format!("backend error: {e}"));
                    Failure::new(
                        FailureKind::Evaluator,
                        format!("the evaluator backend {} failed: {e}", self.name),
                    )
                    .with_log(log)
                    .with_usage(usage)
                })?;
            log.push(format!("reply {attempt}: {}", clip(&text, 4000)));
            match parse_prompt_reply(&text, n) {
                Ok((positive, neutral)) => {
                    if attempt > 1 {
                        notes.push(format!(
                            "the evaluator's first reply was not usable ({last_error}); it was asked again"
                        ));
                    }
                    return Ok(PromptSet {
                        positive,
                        neutral,
                        understood: None,
                        notes,
                        usage,
                    });
                }
                Err(e) => {
                    log.push(format!("not usable: {e}"));
                    messages.push(Message::Assistant {
                        text,
                        tool_calls: Vec::new(),
                    });
                    messages.push(Message::User(vec![Part::Text(format!(
                        "That reply could not be used: {e}. Reply again with only the JSON object \
                         {{\"positive\": [...], \"neutral\": [...]}} holding exactly {n} prompt strings \
                         in each list, and nothing else."
                    ))]));
                    last_error = e;
                }
            }
        }
        Err(Failure::new(
            FailureKind::Evaluator,
            format!(
                "the evaluator {} replied twice without the expected JSON object; last problem: {last_error}",
                self.name
            ),
        )
        .with_log(log)
        .with_usage(usage))
    }
}

impl Evaluator for LlmEvaluator {
    fn name(&self) -> &str {
        &self.name
    }

    fn prompts<'a>(&'a self, description: &'a str, n: usize, _seed: u64) -> EvalFuture<'a> {
        Box::pin(self.prompt_set(description, n))
    }

    fn cost(&self, usage: Usage) -> f64 {
        self.price.map_or(0.0, |p| p.cost(usage))
    }
}

/// Reads an evaluator reply: the first `{` to the last `}` must be a JSON object with
/// string lists `positive` and `neutral` (also accepted: `positives`, `neutrals`,
/// `negative`, `negatives`) holding at least `n` non-empty prompts of at most
/// [`MAX_PROMPT_CHARS`] characters each; extra prompts are dropped. The error says what
/// is wrong, in words that can be sent back to the model.
pub fn parse_prompt_reply(text: &str, n: usize) -> Result<(Vec<String>, Vec<String>), String> {
    let (Some(start), Some(end)) = (text.find('{'), text.rfind('}')) else {
        return Err(format!(
            "no JSON object in the reply (it began: '{}')",
            clip(text, 60)
        ));
    };
    if end < start {
        return Err("no JSON object in the reply".into());
    }
    let value: serde_json::Value = serde_json::from_str(&text[start..=end])
        .map_err(|e| format!("the JSON object does not parse: {e}"))?;
    let object = value
        .as_object()
        .ok_or_else(|| "the reply is not a JSON object".to_owned())?;
    let list = |names: &[&str]| -> Result<Vec<String>, String> {
        let (name, items) = names
            .iter()
            .find_map(|name| object.get(*name).map(|v| (*name, v)))
            .ok_or_else(|| format!("the object has no \"{}\" list", names[0]))?;
        let items = items
            .as_array()
            .ok_or_else(|| format!("\"{name}\" is not a list"))?;
        let mut prompts = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let prompt = item
                .as_str()
                .ok_or_else(|| format!("{name}[{i}] is not a string"))?
                .trim();
            if prompt.is_empty() {
                continue;
            }
            let chars = prompt.chars().count();
            if chars > MAX_PROMPT_CHARS {
                return Err(format!(
                    "{name}[{i}] is {chars} characters long; keep each prompt under {MAX_PROMPT_CHARS}"
                ));
            }
            prompts.push(prompt.to_owned());
        }
        if prompts.len() < n {
            return Err(format!(
                "\"{name}\" holds {} usable prompts; exactly {n} are needed",
                prompts.len()
            ));
        }
        prompts.truncate(n);
        Ok(prompts)
    };
    let positive = list(&["positive", "positives"])?;
    let neutral = list(&["neutral", "neutrals", "negative", "negatives"])?;
    Ok((positive, neutral))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::{EventStream, FinishReason, LlmErrorKind, LlmEvent, channel};
    use std::collections::VecDeque;
    use std::sync::Mutex;

    /// Replies from a script, one per request; records the requests.
    struct Scripted {
        replies: Mutex<VecDeque<Result<String, LlmError>>>,
        requests: Mutex<Vec<LlmRequest>>,
    }

    impl Scripted {
        fn new(replies: Vec<Result<&str, LlmError>>) -> Arc<Self> {
            Arc::new(Scripted {
                replies: Mutex::new(replies.into_iter().map(|r| r.map(str::to_owned)).collect()),
                requests: Mutex::new(Vec::new()),
            })
        }
    }

    impl LlmBackend for Scripted {
        fn name(&self) -> &str {
            "scripted"
        }
        fn model(&self) -> &str {
            "m"
        }
        fn stream(&self, request: LlmRequest) -> EventStream {
            self.requests
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(request);
            let reply = self
                .replies
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .pop_front()
                .unwrap_or_else(|| Err(LlmError::new(LlmErrorKind::Protocol, "script ran out")));
            match reply {
                Err(e) => EventStream::failed(e),
                Ok(text) => {
                    let (tx, rx) = channel();
                    tokio::spawn(async move {
                        // Split the text to check the deltas are joined.
                        let mid = text.len() / 2;
                        let cut = (0..=mid)
                            .rev()
                            .find(|&i| text.is_char_boundary(i))
                            .unwrap_or(0);
                        tx.send(LlmEvent::TextDelta(text[..cut].to_owned())).await;
                        tx.send(LlmEvent::TextDelta(text[cut..].to_owned())).await;
                        tx.send(LlmEvent::Usage(Usage {
                            input_tokens: 1000,
                            output_tokens: 200,
                        }))
                        .await;
                        tx.send(LlmEvent::Finish(FinishReason::Stop)).await;
                    });
                    rx
                }
            }
        }
    }

    const GOOD: &str = "Sure!\n```json\n{\"positive\": [\"a red circle\", \"two red circles\"], \"neutral\": [\"a blue square\", \"a green star\", \"extra\"]}\n```";

    #[tokio::test]
    async fn a_good_reply_gives_prompts() {
        let backend = Scripted::new(vec![Ok(GOOD)]);
        let evaluator = LlmEvaluator::new(backend.clone()).with_image_context("shapes only");
        let set = evaluator
            .prompts("red circles", 2, 0)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(set.positive, vec!["a red circle", "two red circles"]);
        assert_eq!(
            set.neutral,
            vec!["a blue square", "a green star"],
            "extra dropped"
        );
        let requests = backend.requests.lock().unwrap_or_else(|p| p.into_inner());
        assert!(requests[0].system.contains("exactly 2 strings"));
        assert!(matches!(&requests[0].messages[0], Message::User(parts)
            if matches!(&parts[0], Part::Text(t) if t.contains("red circles") && t.contains("shapes only"))));
        assert_eq!(evaluator.name(), "llm:scripted/m");
    }

    #[tokio::test]
    async fn a_bad_reply_is_retried_once_with_the_error() {
        let backend = Scripted::new(vec![Ok("I think red circles."), Ok(GOOD)]);
        let evaluator = LlmEvaluator::new(backend.clone()).with_price(Some(Price {
            input_per_mtok: 2.0,
            output_per_mtok: 10.0,
        }));
        let set = evaluator
            .prompts("red circles", 2, 0)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(set.positive.len(), 2);
        assert_eq!(
            set.usage,
            Usage {
                input_tokens: 2000,
                output_tokens: 400
            },
            "both replies counted"
        );
        assert!((evaluator.cost(set.usage) - 0.008).abs() < 1e-12);
        assert!(
            set.notes.iter().any(|n| n.contains("asked again")),
            "{:?}",
            set.notes
        );
        let requests = backend.requests.lock().unwrap_or_else(|p| p.into_inner());
        assert_eq!(requests.len(), 2);
        let retry = &requests[1].messages;
        assert_eq!(retry.len(), 3, "task, bad reply, correction");
        assert!(matches!(&retry[2], Message::User(parts)
            if matches!(&parts[0], Part::Text(t) if t.contains("no JSON object"))));
    }

    #[tokio::test]
    async fn two_bad_replies_fail_with_a_log() {
        let backend = Scripted::new(vec![
            Ok("{\"positive\": [\"a\"]}"),
            Ok("{\"positive\": [\"a\", \"b\"], \"neutral\": [\"c\"]}"),
        ]);
        let err = LlmEvaluator::new(backend)
            .prompts("red circles", 2, 0)
            .await
            .err()
            .unwrap_or_else(|| panic!("should fail"));
        assert_eq!(err.kind, FailureKind::Evaluator);
        assert!(err.reason.contains("replied twice"), "{}", err.reason);
        assert!(
            err.reason.contains("\"neutral\" holds 1 usable prompts"),
            "{}",
            err.reason
        );
        assert_eq!(err.log.len(), 4, "{:?}", err.log);
        assert_eq!(err.usage.total(), 2400, "a failure keeps what it spent");
    }

    #[tokio::test]
    async fn backend_errors_are_retried_when_they_may_pass() {
        let backend = Scripted::new(vec![
            Err(LlmError::new(LlmErrorKind::Server { status: 503 }, "busy")),
            Ok(GOOD),
        ]);
        let set = LlmEvaluator::new(backend)
            .with_backend_retries(3, Duration::from_millis(1))
            .prompts("red circles", 2, 0)
            .await;
        assert!(set.is_ok(), "{set:?}");
        let backend = Scripted::new(vec![Err(LlmError::new(LlmErrorKind::Auth, "bad key"))]);
        let err = LlmEvaluator::new(backend)
            .prompts("red circles", 2, 0)
            .await
            .err()
            .unwrap_or_else(|| panic!("auth errors are final"));
        assert_eq!(err.kind, FailureKind::Evaluator);
        assert!(err.reason.contains("bad key"), "{}", err.reason);
    }

    #[tokio::test]
    async fn empty_descriptions_never_reach_the_backend() {
        let backend = Scripted::new(vec![]);
        let err = LlmEvaluator::new(backend.clone())
            .prompts(" ", 2, 0)
            .await
            .err();
        assert!(err.is_some_and(|e| e.kind == FailureKind::Description));
        assert!(
            backend
                .requests
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .is_empty()
        );
    }

    #[test]
    fn reply_parsing_names_the_problem() {
        for (reply, needle) in [
            ("nothing", "no JSON object"),
            (
                "{\"positive\": [1], \"neutral\": []}",
                "positive[0] is not a string",
            ),
            ("{\"positive\": \"a\"}", "\"positive\" is not a list"),
            ("{\"neutral\": []}", "no \"positive\" list"),
            ("{oops}", "does not parse"),
        ] {
            let err = parse_prompt_reply(reply, 1).err().unwrap_or_default();
            assert!(err.contains(needle), "{reply}: {err}");
        }
        let ok = parse_prompt_reply(
            "{\"positives\": [\" a \", \"\"], \"negatives\": [\"b\"]}",
            1,
        );
        assert_eq!(ok, Ok((vec!["a".to_owned()], vec!["b".to_owned()])));
    }
}
