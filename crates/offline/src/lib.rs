//! # maia-offline
//!
//! `offline`: a deterministic experimenter that investigates a shapes-world unit the way
//! a careful person would, with no network and no model weights. It is maia's no-key
//! default and the non-LLM baseline of the evaluation.
//!
//! Every request is answered from the conversation alone — nothing is kept between
//! calls — so replaying or resuming a run gives byte-identical replies. From the
//! messages it rebuilds what is known ([`evidence`]): the images made, what each shows
//! (the shapes world's scene, read from the tools' `data`), and the unit's activation on
//! each. It scores every concept of one or two attributes against that evidence
//! ([`hypotheses`]), decides the next experiment ([`plan`]), designs its images
//! ([`probes`]) and writes up its reasoning ([`narrate`]), keeping a `[HYPOTHESIS LIST]`
//! as MAIA's prompt asks.
//!
//! The investigation: `dataset_exemplars` first; hypotheses from what the exemplars share
//! against the dataset's base rates; sweeps that vary one factor of a prototype taken
//! from the top exemplar (shape with color fixed, color with shape fixed, texture, size,
//! count, background) and edits of the exemplar itself; images that separate rival
//! hypotheses (a conjunction from a co-occurrence, a disjunction's branches, an
//! exclusion's excluded case); fresh positives and controls before answering; then
//! `final_answer {description, label}` in the shapes world's words ("red circles",
//! "circles or stars", "circles that are not red").
//!
//! What it reads from each tool:
//! - `dataset_exemplars`: `data.exemplars[] {rank, image, activation, scene}` (without
//!   `data`, ranks and activations from the text, and no scenes);
//! - `text2image`: `data.images[] {image, prompt, drew, warnings}` — `drew` is parsed back
//!   into a scene (without `data`, the prompts of its own call);
//! - `edit_images`: `data.images[] {image, source, edit, drew}` and `data.failed[]`;
//! - `call_unit`: `data[] {image, activation}` (or the text's `img_N: activation X` lines);
//! - image ids: the `[img_N] caption` lines the agent appends to a result's text (complete
//!   even when images were capped), else the result's images in order.
//!
//! Asked to find a classifier's bias (`--task find-bias`: the request offers
//! `call_classifier`), it sweeps the class over pairs of attributes, classifies every
//! image, checks the subgroup where it fails on fresh images and controls, and reports it.
//!
//! In program mode (`--mode program`: the request offers `run_program`, not the tools)
//! it reads the calls its earlier programs recorded as tool calls, plans the same way, and
//! writes each round's experiment as one program that also measures what it made.
//!
//! Asked to choose units for the spurious experiment (a request offering `select_units`),
//! it keeps the units whose descriptions name the object and no background.
//!
//! It copes with missing tools (skips the step), failed calls (reads the error, moves on;
//! every stage has a budget and the run a round cap), a user message containing
//! [`ANSWER_NOW`] (answers at once), human notes (acknowledged, and their attribute words
//! drawn in the next batch), a request whose only tool is `final_answer` (the
//! exemplar-only baseline: describes the exemplars in one reply; show it the exemplars as
//! a `dataset_exemplars` call and result) and units that never fire ("no response
//! found…").

mod bias;
mod evidence;
mod hypotheses;
mod narrate;
mod plan;
mod probes;
mod program;
mod select;
mod world;

use evidence::call_id;
use maia_core::llm::{
    EventStream, FinishReason, LlmBackend, LlmError, LlmErrorKind, LlmEvent, LlmRequest, Message,
    Part, Usage, channel,
};

/// The text the agent loop puts in a user message to make the model answer at once; the
/// experimenter also recognises "final answer now" and "answer now" in any case.
pub use maia_core::llm::ANSWER_NOW;

/// The model id the offline experimenter reports.
pub const OFFLINE_MODEL: &str = "maia-offline-experimenter-1";

/// The experimenter as the backend factory registers it
/// (`BackendFactory::default().with_local("offline", maia_offline::backend)`).
pub fn backend() -> std::sync::Arc<dyn LlmBackend> {
    std::sync::Arc::new(OfflineBackend::new())
}

/// Words per streamed text delta.
const WORDS_PER_DELTA: usize = 4;

/// The offline experimenter as an [`LlmBackend`].
#[derive(Clone, Debug, Default)]
pub struct OfflineBackend {
    _private: (),
}

impl OfflineBackend {
    /// The experimenter (`offline`, model [`OFFLINE_MODEL`]).
    pub fn new() -> Self {
        OfflineBackend { _private: () }
    }
}

impl LlmBackend for OfflineBackend {
    fn name(&self) -> &str {
        "offline"
    }

    fn model(&self) -> &str {
        OFFLINE_MODEL
    }

    fn stream(&self, request: LlmRequest) -> EventStream {
        let (tx, stream) = channel();
        tokio::spawn(async move {
            // Planning scores a few thousand hypotheses: CPU work, off the async threads.
            let events = match tokio::task::spawn_blocking(move || respond(&request)).await {
                Ok(events) => events,
                Err(e) => {
                    tx.fail(LlmError::new(
                        LlmErrorKind::Protocol,
                        format!("the offline experimenter failed while planning: {e}"),
                    ))
                    .await;
                    return;
                }
            };
            for event in events {
                if !tx.send(event).await {
                    return;
                }
            }
        });
        stream
    }
}

/// The whole reply to a request as the events [`OfflineBackend::stream`] sends: the
/// reasoning and the write-up in small deltas, then each tool call (start, then its
/// arguments in two or three pieces), usage (about four characters per token) and the
/// finish. The same request always gives the same events.
pub fn respond(request: &LlmRequest) -> Vec<LlmEvent> {
    let round = request
        .messages
        .iter()
        .filter(|m| matches!(m, Message::Assistant { .. }))
        .count()
        + 1;
    let reply = if select::is_selection(request) {
        select::reply(request)
    } else if program::is_program_mode(request) {
        let tool_mode = program::as_tool_mode(request);
        let planned = if bias::is_bias_hunt(&tool_mode) {
            bias::reply(&tool_mode)
        } else {
            plan::plan(&tool_mode)
        };
        program::into_program(planned, round, &program::functions(&request.system))
    } else if bias::is_bias_hunt(request) {
        bias::reply(request)
    } else {
        plan::plan(request)
    };
    let mut events = Vec::new();
    let mut output_chars = 0usize;
    for piece in chunks(&reply.thinking, WORDS_PER_DELTA) {
        output_chars += piece.len();
        events.push(LlmEvent::ReasoningDelta(piece));
    }
    for piece in chunks(&reply.text, WORDS_PER_DELTA) {
        output_chars += piece.len();
        events.push(LlmEvent::TextDelta(piece));
    }
    for (index, call) in reply.calls.iter().enumerate() {
        events.push(LlmEvent::ToolCallStart {
            index,
            id: call_id(round, index, &call.stage),
            name: call.tool.clone(),
        });
        let arguments = call.args.to_string();
        output_chars += arguments.len();
        for piece in split_arguments(&arguments) {
            events.push(LlmEvent::ToolCallDelta {
                index,
                arguments: piece,
            });
        }
    }
    events.push(LlmEvent::Usage(Usage {
        input_tokens: tokens(request_chars(request)),
        output_tokens: tokens(output_chars),
    }));
    events.push(LlmEvent::Finish(if reply.calls.is_empty() {
        FinishReason::Stop
    } else {
        FinishReason::ToolCalls
    }));
    events
}

/// About four characters per token, at least one.
fn tokens(chars: usize) -> u64 {
    (chars as u64).div_ceil(4).max(1)
}

/// What the request would cost a model to read, in characters (an image counts as 340,
/// about 85 tokens).
fn request_chars(request: &LlmRequest) -> usize {
    let tools: usize = request
        .tools
        .iter()
        .map(|t| t.name.len() + t.description.len() + t.parameters.to_string().len())
        .sum();
    let messages: usize = request
        .messages
        .iter()
        .map(|m| match m {
            Message::User(parts) => parts
                .iter()
                .map(|p| match p {
                    Part::Text(t) => t.len(),
                    Part::Image(_) => 340,
                })
                .sum(),
            Message::Assistant { text, tool_calls } => {
                text.len()
                    + tool_calls
                        .iter()
                        .map(|c| c.name.len() + c.arguments.len())
                        .sum::<usize>()
            }
            Message::ToolResults(results) => results
                .iter()
                .map(|r| r.text.len() + 340 * r.images.len())
                .sum(),
        })
        .sum();
    request.system.len() + tools + messages
}

/// Splits text into pieces of `words` words; concatenated they give the text back.
fn chunks(text: &str, words: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut seen = 0;
    let mut in_word = false;
    for ch in text.chars() {
        let space = ch.is_whitespace();
        if !space && !in_word {
            if seen == words {
                out.push(std::mem::take(&mut current));
                seen = 0;
            }
            seen += 1;
        }
        in_word = !space;
        current.push(ch);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// Splits JSON arguments into two or three pieces at character boundaries.
fn split_arguments(arguments: &str) -> Vec<String> {
    let chars: Vec<char> = arguments.chars().collect();
    let parts = if chars.len() >= 48 { 3 } else { 2 };
    let size = chars.len().div_ceil(parts).max(1);
    chars
        .chunks(size)
        .map(|c| c.iter().collect::<String>())
        .collect()
}

#[cfg(test)]
mod tests;
