//! The conversation a backend is asked to continue.

use maia_plugin_sdk::ToolSpec;
use serde_json::Value;
use std::sync::Arc;

/// One request: system prompt, conversation, tools, limits.
#[derive(Clone, Debug)]
pub struct LlmRequest {
    /// System prompt.
    pub system: String,
    /// Conversation so far, oldest first.
    pub messages: Vec<Message>,
    /// Tools the model may call.
    pub tools: Vec<ToolSpec>,
    /// Cap on output tokens.
    pub max_output_tokens: u32,
    /// Sampling temperature, if the caller sets one.
    pub temperature: Option<f32>,
    /// A JSON schema the reply's text must follow, when the caller wants structured
    /// output: OpenAI-compatible servers get it as `response_format` (llama.cpp and vLLM
    /// turn it into a grammar, so even a small model replies in the shape asked);
    /// backends without such an option leave it to the instructions.
    pub reply_schema: Option<Value>,
}

/// A turn in the conversation.
#[derive(Clone, Debug, PartialEq)]
pub enum Message {
    /// The user (task text, tool images that must travel as user content, injected notes).
    User(Vec<Part>),
    /// An earlier model reply.
    Assistant {
        /// Visible text.
        text: String,
        /// Tool calls it made, in order.
        tool_calls: Vec<super::RequestedToolCall>,
    },
    /// Results of the tool calls of the preceding assistant turn, in call order.
    ToolResults(Vec<ToolResult>),
}

/// A piece of user content.
#[derive(Clone, Debug, PartialEq)]
pub enum Part {
    /// Text.
    Text(String),
    /// An image, already downscaled for the model.
    Image(ImagePart),
}

/// An image ready to send: PNG bytes plus the id the agent knows it by.
#[derive(Clone, Debug, PartialEq)]
pub struct ImagePart {
    /// Store id (`img_12`).
    pub id: String,
    /// PNG bytes (shared; conversations are resent every round).
    pub png: Arc<Vec<u8>>,
}

/// The outcome of one tool call as the model sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolResult {
    /// The call's id.
    pub call_id: String,
    /// Tool name.
    pub name: String,
    /// Text (or the error message).
    pub text: String,
    /// Images the tool produced, each preceded in the text by its id.
    pub images: Vec<ImagePart>,
    /// The tool's structured data (`null` if none). Not sent to HTTP backends; the offline
    /// experimenter reads activations from it.
    pub data: Value,
    /// Whether the call failed.
    pub is_error: bool,
}
