//! Program mode (`--mode program`): the request offers `run_program` instead of the
//! tools. The experimenter reads each earlier program's recorded calls back as the tool
//! calls and results they were, plans as in tool mode, and writes the round's experiment
//! as one program: the planned calls, then `call_unit` on every image they made (a round
//! saved per sweep), returning what each call gave so the next round can read it.

use crate::evidence::{Stage, call_id};
use crate::plan::{Call, Reply};
use maia_core::llm::{LlmRequest, Message, RequestedToolCall, ToolResult};
use maia_core::program::{FUNCTIONS_HEADING, RUN_PROGRAM};
use maia_plugin_sdk::ToolSpec;
use serde_json::{Value, json};
use std::collections::HashMap;

/// Images a program displays at most (the sandbox's own cap is the same).
const DISPLAYED: usize = 16;

/// True when the request is in program mode: `run_program` offered, no image tools.
pub(crate) fn is_program_mode(request: &LlmRequest) -> bool {
    let has = |name: &str| request.tools.iter().any(|t| t.name == name);
    has(RUN_PROGRAM) && !has("text2image") && !has("call_unit") && !has("dataset_exemplars")
}

/// The function names the system prompt lists under [`FUNCTIONS_HEADING`].
pub(crate) fn functions(system: &str) -> Vec<String> {
    let Some((_, list)) = system.split_once(FUNCTIONS_HEADING) else {
        return Vec::new();
    };
    list.lines()
        .skip(1)
        .take_while(|line| line.starts_with("- `"))
        .filter_map(|line| {
            let rest = line.strip_prefix("- `")?;
            let (name, _) = rest.split_once('(')?;
            Some(name.to_owned())
        })
        .collect()
}

/// The request as tool mode would have seen it: the listed functions as tools, and every
/// program's recorded calls as the calls and results they were.
pub(crate) fn as_tool_mode(request: &LlmRequest) -> LlmRequest {
    let mut tools: Vec<ToolSpec> = functions(&request.system)
        .into_iter()
        .filter(|name| name != "display")
        .map(|name| ToolSpec::new(name, "", json!({"type": "object"})))
        .collect();
    tools.extend(
        request
            .tools
            .iter()
            .filter(|t| t.name != RUN_PROGRAM)
            .cloned(),
    );
    let mut recorded: HashMap<String, Vec<(RequestedToolCall, ToolResult)>> = HashMap::new();
    for message in &request.messages {
        if let Message::ToolResults(results) = message {
            for result in results.iter().filter(|r| r.name == RUN_PROGRAM) {
                if let Some(calls) = recorded_calls(result) {
                    recorded.insert(result.call_id.clone(), calls);
                }
            }
        }
    }
    let messages = request
        .messages
        .iter()
        .map(|message| match message {
            Message::Assistant { text, tool_calls } => Message::Assistant {
                text: text.clone(),
                tool_calls: tool_calls
                    .iter()
                    .flat_map(|call| match recorded.get(&call.id) {
                        Some(calls) => calls.iter().map(|(c, _)| c.clone()).collect(),
                        None => vec![call.clone()],
                    })
                    .collect(),
            },
            Message::ToolResults(results) => Message::ToolResults(
                results
                    .iter()
                    .flat_map(|result| match recorded.get(&result.call_id) {
                        Some(calls) => calls.iter().map(|(_, r)| r.clone()).collect(),
                        None => vec![result.clone()],
                    })
                    .collect(),
            ),
            other => other.clone(),
        })
        .collect();
    LlmRequest {
        tools,
        messages,
        ..request.clone()
    }
}

/// The calls a program's value records (`[{id, tool, args, result | error}]`).
fn recorded_calls(result: &ToolResult) -> Option<Vec<(RequestedToolCall, ToolResult)>> {
    let records = result.data.get("value")?.as_array()?;
    let mut calls = Vec::new();
    for record in records {
        let id = record.get("id")?.as_str()?.to_owned();
        let tool = record.get("tool")?.as_str()?.to_owned();
        let args = record.get("args").cloned().unwrap_or(Value::Null);
        let call = RequestedToolCall {
            id: id.clone(),
            name: tool.clone(),
            arguments: args.to_string(),
        };
        let result = match (record.get("result"), record.get("error")) {
            (Some(r), _) => {
                let mut text = r
                    .get("text")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                for image in r
                    .get("images")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let id = image.get("id").and_then(Value::as_str).unwrap_or_default();
                    let caption = image
                        .get("caption")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    text.push_str(&format!("\n[{id}] {caption}"));
                }
                ToolResult {
                    call_id: id,
                    name: tool,
                    text,
                    images: Vec::new(),
                    data: r.get("data").cloned().unwrap_or(Value::Null),
                    is_error: false,
                }
            }
            (None, error) => ToolResult {
                call_id: id,
                name: tool,
                text: error.and_then(Value::as_str).unwrap_or("failed").to_owned(),
                images: Vec::new(),
                data: Value::Null,
                is_error: true,
            },
        };
        calls.push((call, result));
    }
    Some(calls)
}

/// The tool-mode reply made into program mode: the experiment calls become one program
/// (plus `call_unit` on what they made, when the plan did not measure them itself);
/// `final_answer` stays a tool call.
pub(crate) fn into_program(reply: Reply, round: usize, functions: &[String]) -> Reply {
    let (answers, experiments): (Vec<Call>, Vec<Call>) = reply
        .calls
        .into_iter()
        .partition(|c| c.tool == maia_core::agent::FINAL_ANSWER);
    if experiments.is_empty() {
        return Reply {
            calls: answers,
            ..reply
        };
    }
    let measures = experiments.iter().any(|c| c.tool == "call_unit");
    let can_measure = functions.iter().any(|f| f == "call_unit");
    let mut code = String::from("out = []\nmade = []\n");
    for (index, call) in experiments.iter().enumerate() {
        let id = call_id(round, index, &call.stage);
        code.push_str(&record_call(&id, &call.tool, &call.args));
        if call.tool != "call_unit" && call.tool != "dataset_exemplars" {
            code.push_str("    made += r['image_ids']\n");
        }
        code.push_str(&record_failure(&id, &call.tool, &call.args));
    }
    if !measures && can_measure {
        let id = python(&Value::String(call_id(
            round,
            experiments.len(),
            &Stage::Measure,
        )));
        code.push_str(&format!(
            "if made:\n    try:\n        r = call_unit(image_ids=made)\n        \
             out.append({{'id': {id}, 'tool': 'call_unit', 'args': {{'image_ids': made}}, 'result': r}})\n    \
             except Exception as e:\n        \
             out.append({{'id': {id}, 'tool': 'call_unit', 'args': {{'image_ids': made}}, 'error': str(e)}})\n"
        ));
    }
    code.push_str(&format!(
        "if made:\n    display(made[:{DISPLAYED}], 'probes')\nout\n"
    ));
    let mut calls = vec![Call {
        stage: Stage::Other,
        tool: RUN_PROGRAM.to_owned(),
        args: json!({ "code": code }),
    }];
    calls.extend(answers);
    Reply { calls, ..reply }
}

/// `try:` and one call, its result appended to `out`.
fn record_call(id: &str, tool: &str, args: &Value) -> String {
    let keywords = match args {
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| format!("{k}={}", python(v)))
            .collect::<Vec<_>>()
            .join(", "),
        _ => String::new(),
    };
    format!(
        "try:\n    r = {tool}({keywords})\n    out.append({{'id': {}, 'tool': {}, 'args': {}, 'result': r}})\n",
        python(&Value::String(id.to_owned())),
        python(&Value::String(tool.to_owned())),
        python(args)
    )
}

/// The `except` that records a failed call.
fn record_failure(id: &str, tool: &str, args: &Value) -> String {
    format!(
        "except Exception as e:\n    out.append({{'id': {}, 'tool': {}, 'args': {}, 'error': str(e)}})\n",
        python(&Value::String(id.to_owned())),
        python(&Value::String(tool.to_owned())),
        python(args)
    )
}

/// A JSON value as a Python literal.
fn python(value: &Value) -> String {
    match value {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => n.to_string(),
        // A JSON string is a valid Python string literal.
        Value::String(_) => value.to_string(),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(python).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(map) => format!(
            "{{{}}}",
            map.iter()
                .map(|(k, v)| format!("{}: {}", Value::String(k.clone()), python(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn functions_are_read_from_the_prompt_list() {
        let system = format!(
            "intro\n{FUNCTIONS_HEADING}\n- `text2image(prompts: [string])`: makes\n- `call_unit(image_ids: [string])`: runs\n- `mean(xs) -> float`\n\nmore"
        );
        assert_eq!(functions(&system), ["text2image", "call_unit", "mean"]);
    }

    #[test]
    fn json_becomes_python_literals() {
        assert_eq!(
            python(&json!({"a": [true, null, 1.5, "x\"y"]})),
            r#"{"a": [True, None, 1.5, "x\"y"]}"#
        );
    }
}
