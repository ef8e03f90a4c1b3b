//! Keeping each request within the model's context. MAIA resends the whole conversation
//! every round; on a model with a small context a long run would end in a server error.
//! Before each request the agent estimates its tokens and, when they pass the budget,
//! shortens older parts of the conversation in two steps — images of older rounds replaced
//! by their ids and captions, then older tool outputs cut to their first lines — each
//! journaled as an [`Event::ContextTrimmed`] that the conversation folds in, so a resumed
//! or watched run sends and shows the same messages. The latest exchange is never touched.
//!
//! Estimates are characters / 4 and [`IMAGE_TOKENS`] per image, corrected by the ratio of
//! the tokens the server counted for the previous request to its estimate.

use super::conversation::{Conversation, estimate_tokens, text_tokens, trim_messages};
use super::event::{Event, TrimStep};
use crate::llm::{LlmBackend, Message};
use maia_plugin_sdk::ToolSpec;

#[cfg(doc)]
use super::conversation::IMAGE_TOKENS;

/// The budget of a run and what the last request taught about its estimates.
#[derive(Debug, Default)]
pub struct ContextBudget {
    /// `None` until resolved; then the budget in tokens, `None` for none.
    limit: Option<Option<u64>>,
    /// The last request's estimate and the input tokens the server counted for it.
    calibration: Option<(u64, u64)>,
    /// Whether the run was told the budget cannot be met.
    warned: bool,
}

impl ContextBudget {
    /// The budget: `configured` (`run.context_tokens`; 0 = none) or else what the backend
    /// says of the model's context. Asked once per process.
    pub async fn limit(
        &mut self,
        configured: Option<u64>,
        backend: &dyn LlmBackend,
    ) -> Option<u64> {
        if let Some(limit) = self.limit {
            return limit;
        }
        let limit = match configured {
            Some(0) => None,
            Some(n) => Some(n),
            None => backend.context_window().await,
        };
        self.limit = Some(limit);
        limit
    }

    /// The raw estimate of a request: its system prompt, tools and messages.
    pub fn raw(system: &str, tools: &[ToolSpec], messages: &[Message]) -> u64 {
        let tools: u64 = tools
            .iter()
            .map(|t| serde_json::to_string(t).map_or(0, |json| text_tokens(&json)))
            .sum();
        text_tokens(system) + tools + estimate_tokens(messages)
    }

    /// A raw estimate corrected by what the server counted last time.
    pub fn estimate(&self, raw: u64) -> u64 {
        match self.calibration {
            Some((estimated, counted)) if estimated > 0 && counted > 0 => {
                let ratio = (counted as f64 / estimated as f64).clamp(0.25, 8.0);
                (raw as f64 * ratio).ceil() as u64
            }
            _ => raw,
        }
    }

    /// Records that a request estimated at `raw` was counted as `input_tokens`.
    pub fn observe(&mut self, raw: u64, input_tokens: u64) {
        if raw > 0 && input_tokens > 0 {
            self.calibration = Some((raw, input_tokens));
        }
    }

    /// The trims that bring round `round`'s request (fixed part `fixed_raw`: system and
    /// tools) under `limit`, less a reserve for the reply, in the order they are to be
    /// applied; and a warning when even both leave it over.
    pub fn trims(
        &mut self,
        convo: &Conversation,
        fixed_raw: u64,
        limit: u64,
        reply_tokens: u64,
        round: u32,
    ) -> Vec<Event> {
        let target = limit.saturating_sub(reply_tokens.min(limit / 10));
        let mut messages = convo.request_messages();
        let mut before = self.estimate(fixed_raw + estimate_tokens(&messages));
        let mut events = Vec::new();
        if before <= target {
            return events;
        }
        let upto = convo.trimmable().min(messages.len());
        for step in [TrimStep::Images, TrimStep::ToolOutputs] {
            if before <= target || upto == 0 {
                break;
            }
            trim_messages(&mut messages[..upto], convo.captions(), step);
            let after = self.estimate(fixed_raw + estimate_tokens(&messages));
            if after < before {
                events.push(Event::ContextTrimmed {
                    round,
                    step,
                    messages: upto,
                    tokens_before: before,
                    tokens_after: after,
                });
                before = after;
            }
        }
        if before > target && !self.warned {
            self.warned = true;
            events.push(Event::Warning {
                text: format!(
                    "the conversation is estimated at {before} tokens, over the context budget of {limit} even with older images and tool outputs shortened; the server may refuse it (raise --context-tokens or the server's context)"
                ),
            });
        }
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::conversation::IMAGE_TOKENS;
    use crate::images::ImageStore;
    use crate::llm::{Part, RequestedToolCall};
    use maia_plugin_sdk::Image;
    use maia_run::event::{ImageRecord, Usage};
    use std::sync::Arc;

    /// A tiny PNG of one colour (distinct bytes, so distinct ids).
    fn png(shade: u8) -> Vec<u8> {
        let image = image::RgbImage::from_pixel(8, 8, image::Rgb([shade, 0, 0]));
        let mut out = Vec::new();
        image::DynamicImage::ImageRgb8(image)
            .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
            .unwrap_or_else(|e| panic!("{e}"));
        out
    }

    /// A run of `rounds` rounds, each a text2image call whose result has a long text and
    /// one new image: its events.
    fn run_events(store: &ImageStore, rounds: u32) -> Vec<Event> {
        let mut events = vec![Event::RunStarted {
            run_id: "r".into(),
            task: "describe-unit".into(),
            target: "synthetic:red".into(),
            unit: "synthetic:0".into(),
            backend: "openai".into(),
            model: "m".into(),
            max_rounds: rounds,
            task_text: "Describe the unit.".into(),
        }];
        for round in 1..=rounds {
            let id = store
                .insert(Image::new(
                    png(round as u8),
                    format!("a red circle, version {round}"),
                ))
                .unwrap_or_else(|e| panic!("{e}"));
            let call_id = format!("c{round}");
            events.push(Event::RoundStarted { round });
            events.push(Event::AssistantMessage {
                round,
                text: String::new(),
                reasoning: String::new(),
                tool_calls: vec![RequestedToolCall {
                    id: call_id.clone(),
                    name: "text2image".into(),
                    arguments: r#"{"prompts":["a red circle"]}"#.into(),
                }],
                usage: Usage::default(),
                cost_usd: 0.0,
            });
            events.push(Event::ToolFinished {
                round,
                call_id,
                name: "text2image".into(),
                error: None,
                text: format!("{id}: drew it. {}", "Details of the scene. ".repeat(40)),
                images: vec![ImageRecord {
                    id: id.to_string(),
                    hash: String::new(),
                    caption: format!("a red circle, version {round}"),
                    activation: None,
                }],
                data: serde_json::Value::Null,
                elapsed_ms: 1,
                cost_usd: 0.0,
            });
        }
        events
    }

    fn images_in(messages: &[Message]) -> usize {
        messages
            .iter()
            .map(|m| match m {
                Message::ToolResults(results) => results.iter().map(|r| r.images.len()).sum(),
                Message::User(parts) => {
                    parts.iter().filter(|p| matches!(p, Part::Image(_))).count()
                }
                Message::Assistant { .. } => 0,
            })
            .sum()
    }

    #[test]
    fn trims_go_images_first_then_outputs_and_replay_identically() {
        let store = Arc::new(ImageStore::new());
        let events = run_events(&store, 6);
        let mut live = Conversation::new(store.clone(), 512, 8);
        for event in &events {
            live.apply(event);
        }
        let full = estimate_tokens(&live.request_messages());
        assert_eq!(images_in(&live.request_messages()), 6);

        // A budget the images alone can meet: only images go, the latest stays.
        let mut budget = ContextBudget::default();
        let trims = budget.trims(&live, 0, full - 3 * IMAGE_TOKENS, 0, 7);
        assert_eq!(trims.len(), 1, "{trims:?}");
        let Event::ContextTrimmed {
            step,
            messages,
            tokens_before,
            tokens_after,
            ..
        } = &trims[0]
        else {
            panic!("{trims:?}")
        };
        assert_eq!(*step, TrimStep::Images);
        assert_eq!(*messages, live.trimmable());
        assert!(tokens_after < tokens_before);
        let mut journal = events.clone();
        for event in trims {
            live.apply(&event);
            journal.push(event);
        }
        let sent = live.request_messages();
        assert_eq!(images_in(&sent), 1, "the latest image stays");
        let Message::ToolResults(first) = &sent[2] else {
            panic!("{:?}", sent[2])
        };
        assert!(
            first[0].text.contains("[image img_1 not shown again, to save context: a red circle, version 1; show_images brings it back]"),
            "{}",
            first[0].text
        );

        // A tighter budget shortens the older outputs too, keeping their image lines.
        let trims = budget.trims(&live, 0, estimate_tokens(&sent) / 2, 0, 7);
        assert!(
            trims.iter().any(|e| matches!(
                e,
                Event::ContextTrimmed {
                    step: TrimStep::ToolOutputs,
                    ..
                }
            )),
            "{trims:?}"
        );
        for event in trims {
            live.apply(&event);
            journal.push(event);
        }
        let sent = live.request_messages();
        let Message::ToolResults(first) = &sent[2] else {
            panic!("{:?}", sent[2])
        };
        assert!(first[0].text.len() < 300, "{}", first[0].text);
        assert!(first[0].text.contains("shortened to save context"));
        assert!(first[0].text.contains("[image img_1 not shown again"));
        let Some(Message::ToolResults(last)) = sent.last() else {
            panic!("{sent:?}")
        };
        assert!(last[0].text.len() > 500, "the latest output is whole");

        // Folding the journal (a resume, `maia watch`) sends exactly the same messages.
        let mut replayed = Conversation::new(store, 512, 8);
        for event in &journal {
            replayed.apply(event);
        }
        assert_eq!(replayed.request_messages(), sent);
    }

    #[test]
    fn estimates_follow_what_the_server_counted() {
        let mut budget = ContextBudget::default();
        assert_eq!(budget.estimate(1000), 1000);
        budget.observe(1000, 2000);
        assert_eq!(budget.estimate(1500), 3000);
        budget.observe(0, 50);
        assert_eq!(
            budget.estimate(1500),
            3000,
            "an empty observation changes nothing"
        );
    }
}
