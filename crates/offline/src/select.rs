//! The reply to a unit-selection request (`maia spurious`): the units a reader of
//! shapes-world descriptions keeps ([`maia_core::downstream::selection::by_rules`]), as one
//! `select_units` call.

use maia_core::downstream::selection::{SELECT_TOOL, by_rules, read_request};
use maia_core::llm::LlmRequest;

use crate::evidence::Stage;
use crate::plan::{Call, Reply};

/// Whether `request` asks for a selection of units (it offers `select_units`).
pub(crate) fn is_selection(request: &LlmRequest) -> bool {
    request.tools.iter().any(|t| t.name == SELECT_TOOL)
}

/// The selection, with a line of reasoning and a write-up counting what was kept.
pub(crate) fn reply(request: &LlmRequest) -> Reply {
    let (classes, described) = read_request(request);
    let selection = by_rules(&described, &classes);
    let kept = selection.units().len();
    Reply {
        thinking: format!(
            "Reading {} descriptions for the object and for backgrounds.",
            described.len()
        ),
        text: format!(
            "I keep {kept} of {} units: {}",
            described.len(),
            selection.reasoning
        ),
        calls: vec![Call {
            stage: Stage::Other,
            tool: SELECT_TOOL.into(),
            args: serde_json::to_value(&selection).unwrap_or_default(),
        }],
    }
}
