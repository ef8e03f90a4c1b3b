//! Unit tests of the offline experimenter, against a small in-process stand-in for the
//! tools (the shapes-world library called directly, with the real tools' `data` shapes).
//! `tests/tests/offline_agent.rs` runs it against the real registry and wasm plugin.

use super::*;
use maia_core::llm::{CompletionBuilder, RequestedToolCall, ToolResult};
use maia_plugin_sdk::contracts::{
    DatasetExemplarsData, EditImagesData, EditedImage, Exemplar, GeneratedImage, Text2ImageData,
    ToolWarning,
};
use maia_plugin_sdk::{ToolSpec, UnitActivation};
use maia_shapes_world::{Scene, SyntheticUnit, apply_edit, lookup, parse_prompt, scene_to_prompt};
use serde_json::{Value, json};

/// A contract value as the `data` a tool returns.
fn to_data<T: serde::Serialize>(value: T) -> Value {
    serde_json::to_value(value).unwrap_or_else(|e| panic!("contract data as JSON: {e}"))
}

fn spec(name: &str) -> ToolSpec {
    ToolSpec::new(name, "test tool", json!({"type": "object"}))
}

fn request(messages: Vec<Message>, tools: &[&str]) -> LlmRequest {
    LlmRequest {
        system: "You are an interpretability agent.".into(),
        messages,
        tools: tools.iter().map(|t| spec(t)).collect(),
        max_output_tokens: 4096,
        temperature: None,
        reply_schema: None,
    }
}

const ALL_TOOLS: [&str; 5] = [
    "dataset_exemplars",
    "text2image",
    "edit_images",
    "call_unit",
    "final_answer",
];

fn complete(events: &[LlmEvent]) -> maia_core::llm::Completion {
    let mut b = CompletionBuilder::new();
    for e in events {
        b.push(e);
    }
    b.finish()
}

/// The shapes world's tools, called directly.
struct Sim {
    unit: SyntheticUnit,
    images: Vec<(String, Scene)>,
    fail: Vec<&'static str>,
}

impl Sim {
    fn new(unit: &str) -> Sim {
        let unit = lookup(unit)
            .or_else(|| SyntheticUnit::from_expr(unit).ok())
            .unwrap_or_else(|| panic!("no unit {unit}"));
        Sim {
            unit,
            images: Vec::new(),
            fail: Vec::new(),
        }
    }

    fn store(&mut self, scene: Scene) -> String {
        let id = format!("img_{}", self.images.len() + 1);
        self.images.push((id.clone(), scene));
        id
    }

    fn scene(&self, id: &str) -> Option<Scene> {
        self.images
            .iter()
            .find(|(i, _)| i == id)
            .map(|(_, s)| s.clone())
    }

    fn activation(&self, scene: &Scene) -> f32 {
        self.unit.activation(scene, 7).unwrap_or(0.0)
    }

    fn run(&mut self, call: &RequestedToolCall) -> ToolResult {
        let args: Value = serde_json::from_str(&call.arguments).unwrap_or(Value::Null);
        let mut result = ToolResult {
            call_id: call.id.clone(),
            name: call.name.clone(),
            text: String::new(),
            images: Vec::new(),
            data: Value::Null,
            is_error: false,
        };
        if self.fail.contains(&call.name.as_str()) {
            result.is_error = true;
            result.text = format!("error (failed): {} is broken today", call.name);
            return result;
        }
        let mut ids = Vec::new();
        match call.name.as_str() {
            "dataset_exemplars" => {
                let mut scored: Vec<(f32, Scene)> = maia_shapes_world::generate(600, 3)
                    .map(|(_, s)| (self.activation(&s), s))
                    .collect();
                scored.sort_by(|a, b| b.0.total_cmp(&a.0));
                let mut entries = Vec::new();
                for (rank, (a, scene)) in scored.into_iter().take(15).enumerate() {
                    entries.push(Exemplar {
                        rank: rank + 1,
                        image: rank + 1,
                        file: format!("{rank:05}.png"),
                        class: None,
                        class_name: None,
                        activation: a,
                        summary: Some(scene_to_prompt(&scene)),
                        scene: serde_json::to_value(&scene).ok(),
                    });
                    ids.push(self.store(scene));
                }
                result.data = to_data(DatasetExemplarsData {
                    unit: "synthetic:0".into(),
                    dataset_images: 600,
                    exemplars: entries,
                    layer_top_median: None,
                });
            }
            "text2image" => {
                let seed = args["seed"].as_u64().unwrap_or(0);
                let mut entries = Vec::new();
                for (n, p) in args["prompts"].as_array().into_iter().flatten().enumerate() {
                    let parsed = parse_prompt(p.as_str().unwrap_or_default(), seed)
                        .unwrap_or_else(|e| panic!("{e}"));
                    entries.push(GeneratedImage {
                        image: n + 1,
                        prompt: p.as_str().unwrap_or_default().to_owned(),
                        seed: Some(seed),
                        drew: Some(scene_to_prompt(&parsed.scene)),
                        warnings: parsed
                            .warnings
                            .iter()
                            .map(ToolWarning::from_tagged)
                            .collect(),
                        cached: false,
                    });
                    ids.push(self.store(parsed.scene));
                }
                result.data = to_data(Text2ImageData {
                    world: Some("shapes".into()),
                    seed,
                    size: 224,
                    images: entries,
                    failed: Vec::new(),
                    ..Default::default()
                });
            }
            "edit_images" => {
                let sources = args["image_ids"].as_array().cloned().unwrap_or_default();
                let edits = args["edits"].as_array().cloned().unwrap_or_default();
                let mut entries = Vec::new();
                for (source, edit) in sources.iter().zip(edits.iter()) {
                    let source = source.as_str().unwrap_or_default();
                    let edit = edit.as_str().unwrap_or_default();
                    let Some(scene) = self.scene(source) else {
                        continue;
                    };
                    if let Ok(done) = apply_edit(&scene, edit, 0) {
                        entries.push(EditedImage {
                            image: entries.len() + 1,
                            source: source.into(),
                            edit: edit.to_owned(),
                            seed: Some(0),
                            applied: done.applied,
                            drew: Some(scene_to_prompt(&done.scene)),
                            warnings: Vec::new(),
                            unchanged: done.scene == scene,
                            cached: false,
                        });
                        ids.push(self.store(done.scene));
                    }
                }
                result.data = to_data(EditImagesData {
                    world: Some("shapes".into()),
                    images: entries,
                    failed: Vec::new(),
                    ..Default::default()
                });
            }
            "call_unit" => {
                let mut entries = Vec::new();
                for id in args["image_ids"].as_array().into_iter().flatten() {
                    let id = id.as_str().unwrap_or_default();
                    let Some(scene) = self.scene(id) else {
                        result.is_error = true;
                        result.text = format!("error (invalid_args): no image `{id}`");
                        return result;
                    };
                    entries.push(UnitActivation {
                        image: id.into(),
                        activation: self.activation(&scene),
                        mask: None,
                    });
                }
                result.data = to_data(entries);
            }
            "final_answer" => {
                result.data = json!({"description": args["description"], "label": args["label"]});
            }
            other => {
                result.is_error = true;
                result.text = format!("error (unknown_tool): no tool `{other}`");
            }
        }
        result.text = ids
            .iter()
            .map(|id| format!("[{id}] image"))
            .collect::<Vec<_>>()
            .join("\n");
        result
    }
}

struct Outcome {
    answer: Option<(String, String)>,
    rounds: usize,
    transcript: String,
    messages: Vec<Message>,
}

/// Runs the experimenter against the stand-in tools until it answers.
fn investigate(sim: &mut Sim, tools: &[&str], max_rounds: usize) -> Outcome {
    let mut messages = vec![Message::User(vec![Part::Text(
        "Describe what unit synthetic:0 of the target responds to.".into(),
    )])];
    let mut transcript = String::new();
    for round in 1..=max_rounds {
        if round == max_rounds {
            messages.push(Message::User(vec![Part::Text(format!(
                "{ANSWER_NOW}: call final_answer."
            ))]));
        }
        let events = respond(&request(messages.clone(), tools));
        let reply = complete(&events);
        transcript.push_str(&reply.text);
        transcript.push('\n');
        messages.push(Message::Assistant {
            text: reply.text.clone(),
            tool_calls: reply.tool_calls.clone(),
        });
        if reply.tool_calls.is_empty() {
            return Outcome {
                answer: None,
                rounds: round,
                transcript,
                messages,
            };
        }
        let results: Vec<ToolResult> = reply.tool_calls.iter().map(|c| sim.run(c)).collect();
        if let Some(answer) = reply.tool_calls.iter().find(|c| c.name == "final_answer") {
            let args: Value = serde_json::from_str(&answer.arguments).unwrap_or(Value::Null);
            return Outcome {
                answer: Some((
                    args["description"].as_str().unwrap_or_default().to_owned(),
                    args["label"].as_str().unwrap_or_default().to_owned(),
                )),
                rounds: round,
                transcript,
                messages,
            };
        }
        messages.push(Message::ToolResults(results));
    }
    Outcome {
        answer: None,
        rounds: max_rounds,
        transcript,
        messages,
    }
}

#[test]
fn chunks_and_argument_pieces_reassemble() {
    let text = "Round 3.  Two  words\nand more words here, then some.";
    assert_eq!(chunks(text, 4).concat(), text);
    assert!(chunks(text, 4).len() >= 3);
    let args = json!({"prompts": ["a red circle", "a blue square"], "seed": 3}).to_string();
    let pieces = split_arguments(&args);
    assert!((2..=3).contains(&pieces.len()), "{pieces:?}");
    assert_eq!(pieces.concat(), args);
    assert_eq!(split_arguments("{}").concat(), "{}");
}

#[test]
fn the_first_step_is_the_exemplars_and_replies_are_deterministic() {
    let req = request(
        vec![Message::User(vec![Part::Text("Describe unit 0.".into())])],
        &ALL_TOOLS,
    );
    let events = respond(&req);
    assert_eq!(events, respond(&req));
    let reply = complete(&events);
    assert_eq!(reply.tool_calls.len(), 1);
    assert_eq!(reply.tool_calls[0].name, "dataset_exemplars");
    assert_eq!(reply.finish, Some(FinishReason::ToolCalls));
    assert!(reply.usage.input_tokens > 0 && reply.usage.output_tokens > 0);
    assert!(!reply.reasoning.is_empty() && !reply.text.is_empty());
    let deltas = events
        .iter()
        .filter(|e| matches!(e, LlmEvent::ToolCallDelta { .. }))
        .count();
    assert!(deltas >= 2);
}

#[test]
fn a_conjunction_is_found_and_named() {
    let mut sim = Sim::new("red_and_circle");
    let out = investigate(&mut sim, &ALL_TOOLS, 25);
    let (description, label) = out
        .answer
        .unwrap_or_else(|| panic!("no answer:\n{}", out.transcript));
    assert!(description.contains("red circles"), "{description}");
    assert!(description.contains("conjunction"), "{description}");
    assert!(!label.is_empty());
    assert!(out.rounds <= 14, "{} rounds", out.rounds);
    assert!(out.transcript.contains("[HYPOTHESIS LIST]"));
}

#[test]
fn co_occurrence_exclusion_and_disjunction() {
    for (unit, expected) in [
        (
            "circle_with_star",
            [
                "circles and stars, only in images containing all of them together",
                "co-occurrence",
            ],
        ),
        ("circle_not_red", ["circles that are not red", "exclusion"]),
        ("red_or_star", ["stars or red objects", "disjunction"]),
    ] {
        let mut sim = Sim::new(unit);
        let out = investigate(&mut sim, &ALL_TOOLS, 25);
        let (description, _) = out
            .answer
            .unwrap_or_else(|| panic!("{unit}: no answer:\n{}", out.transcript));
        for words in expected {
            assert!(
                description.contains(words),
                "{unit}: {description}\n{}",
                out.transcript
            );
        }
    }
}

#[test]
fn without_exemplars_it_surveys_first() {
    let mut sim = Sim::new("star");
    let tools = ["text2image", "edit_images", "call_unit", "final_answer"];
    let out = investigate(&mut sim, &tools, 25);
    let (description, _) = out.answer.unwrap_or_else(|| panic!("no answer"));
    assert!(
        description.starts_with("stars"),
        "{description}\n{}",
        out.transcript
    );
    assert!(out.transcript.contains("survey"), "{}", out.transcript);
}

#[test]
fn a_unit_that_never_fires_is_reported_as_such() {
    // Hearts that are hearts and not hearts: never present.
    let mut sim = Sim::new("heart & !heart");
    let out = investigate(&mut sim, &ALL_TOOLS, 25);
    let (description, label) = out.answer.unwrap_or_else(|| panic!("no answer"));
    assert!(
        description.starts_with("no response found"),
        "{description}"
    );
    assert!(label.contains("no response"));
    assert!(out.rounds <= 12, "{}", out.rounds);
}

#[test]
fn failing_tools_never_loop_forever() {
    for broken in [
        vec!["dataset_exemplars"],
        vec!["call_unit"],
        vec!["text2image", "edit_images"],
        vec![
            "dataset_exemplars",
            "text2image",
            "edit_images",
            "call_unit",
        ],
    ] {
        let mut sim = Sim::new("blue");
        sim.fail = broken.clone();
        let out = investigate(&mut sim, &ALL_TOOLS, 40);
        assert!(
            out.answer.is_some(),
            "{broken:?}: no answer in {} rounds",
            out.rounds
        );
        assert!(out.rounds <= 20, "{broken:?}: {} rounds", out.rounds);
    }
}

#[test]
fn answer_now_ends_the_investigation() {
    let mut sim = Sim::new("red");
    let out = investigate(&mut sim, &ALL_TOOLS, 3);
    let (description, _) = out.answer.unwrap_or_else(|| panic!("no answer"));
    assert_eq!(out.rounds, 3);
    assert!(!description.is_empty());
    assert!(out.transcript.contains("asked to give my final answer now"));
}

#[test]
fn exemplar_only_baseline_answers_in_one_reply() {
    let mut sim = Sim::new("yellow_and_star");
    // The harness shows the exemplars as a call and its result, then asks.
    let call = RequestedToolCall {
        id: "harness_1".into(),
        name: "dataset_exemplars".into(),
        arguments: "{}".into(),
    };
    let result = sim.run(&call);
    let messages = vec![
        Message::User(vec![Part::Text(
            "Describe unit 0 from its exemplars.".into(),
        )]),
        Message::Assistant {
            text: String::new(),
            tool_calls: vec![call],
        },
        Message::ToolResults(vec![result]),
    ];
    let reply = complete(&respond(&request(messages, &["final_answer"])));
    assert_eq!(reply.tool_calls.len(), 1, "{}", reply.text);
    assert_eq!(reply.tool_calls[0].name, "final_answer");
    let args: Value = serde_json::from_str(&reply.tool_calls[0].arguments).unwrap_or(Value::Null);
    let description = args["description"].as_str().unwrap_or_default();
    assert!(
        description.contains("yellow") && description.contains("star"),
        "{description}"
    );
}

#[test]
fn exemplars_it_cannot_read_give_no_made_up_answer() {
    let call = RequestedToolCall {
        id: "harness_1".into(),
        name: "dataset_exemplars".into(),
        arguments: "{}".into(),
    };
    let result = ToolResult {
        call_id: "harness_1".into(),
        name: "dataset_exemplars".into(),
        text: "top 2 of 50 dataset images for layer3:7:\n1. activation 3.100 (a.png)\n2. activation 2.900 (b.png)\n[img_1] a\n[img_2] b".into(),
        images: Vec::new(),
        data: Value::Null,
        is_error: false,
    };
    let messages = vec![
        Message::User(vec![Part::Text("Describe unit 7.".into())]),
        Message::Assistant {
            text: String::new(),
            tool_calls: vec![call],
        },
        Message::ToolResults(vec![result]),
    ];
    let reply = complete(&respond(&request(messages, &["final_answer"])));
    let args: Value = serde_json::from_str(&reply.tool_calls[0].arguments).unwrap_or(Value::Null);
    let description = args["description"].as_str().unwrap_or_default();
    assert!(description.starts_with("undetermined"), "{description}");
}

#[test]
fn exemplars_listed_in_the_prompt_are_read_too() {
    let mut lines = vec!["Describe the unit from its exemplars:".to_owned()];
    let unit = lookup("purple_and_heart").unwrap_or_else(|| panic!("unit"));
    let mut rank = 0;
    for (_, scene) in maia_shapes_world::generate(400, 9) {
        if rank < 12 && unit.concept.present_in(&scene) {
            rank += 1;
            lines.push(format!(
                "{rank}. activation 1.020 (x{rank}.png): {}",
                scene_to_prompt(&scene)
            ));
        }
    }
    let messages = vec![Message::User(vec![Part::Text(lines.join("\n"))])];
    let reply = complete(&respond(&request(messages, &["final_answer"])));
    let args: Value = serde_json::from_str(&reply.tool_calls[0].arguments).unwrap_or(Value::Null);
    let description = args["description"].as_str().unwrap_or_default();
    assert!(
        description.starts_with("purple hearts"),
        "{description}\n{}",
        reply.text
    );
}

#[test]
fn notes_are_acknowledged_and_drawn() {
    let mut sim = Sim::new("green");
    let mut messages = vec![Message::User(vec![Part::Text("Describe unit 0.".into())])];
    for _ in 0..2 {
        let reply = complete(&respond(&request(messages.clone(), &ALL_TOOLS)));
        let results = reply.tool_calls.iter().map(|c| sim.run(c)).collect();
        messages.push(Message::Assistant {
            text: reply.text,
            tool_calls: reply.tool_calls,
        });
        messages.push(Message::ToolResults(results));
    }
    messages.push(Message::User(vec![Part::Text(
        "Note from the user watching this run: try a purple hexagon".into(),
    )]));
    let reply = complete(&respond(&request(messages.clone(), &ALL_TOOLS)));
    assert!(
        reply.text.contains("Noted: 'Note from the user"),
        "{}",
        reply.text
    );
    // The note's words are drawn in the next round that makes images.
    let mut found = false;
    for _ in 0..3 {
        let reply = complete(&respond(&request(messages.clone(), &ALL_TOOLS)));
        found |= reply.tool_calls.iter().any(|c| {
            c.id.ends_with("_note")
                && c.arguments.contains("purple")
                && c.arguments.contains("hexagon")
        });
        let results = reply.tool_calls.iter().map(|c| sim.run(c)).collect();
        messages.push(Message::Assistant {
            text: reply.text,
            tool_calls: reply.tool_calls,
        });
        messages.push(Message::ToolResults(results));
    }
    assert!(found, "no note image was drawn");
}

#[test]
fn without_final_answer_the_answer_is_written_in_text() {
    let mut sim = Sim::new("striped");
    let tools = ["dataset_exemplars", "call_unit", "text2image"];
    let out = investigate(&mut sim, &tools, 25);
    assert!(out.answer.is_none());
    let last = out.messages.last().and_then(|m| match m {
        Message::Assistant { text, .. } => Some(text.clone()),
        _ => None,
    });
    let text = last.unwrap_or_default();
    assert!(text.contains("[DESCRIPTION]: striped objects"), "{text}");
    assert!(text.contains("[LABEL]:"), "{text}");
}

#[test]
fn replaying_a_conversation_gives_the_same_replies() {
    let mut sim = Sim::new("square_or_triangle");
    let out = investigate(&mut sim, &ALL_TOOLS, 25);
    assert!(out.answer.is_some());
    // Every prefix of the conversation that ends before a reply gives that reply again.
    let mut prefix = Vec::new();
    for m in &out.messages {
        if let Message::Assistant { text, tool_calls } = m {
            let again = complete(&respond(&request(prefix.clone(), &ALL_TOOLS)));
            assert_eq!(&again.text, text);
            assert_eq!(&again.tool_calls, tool_calls);
        }
        prefix.push(m.clone());
    }
}

/// Every catalogue unit against the stand-in tools; prints each answer and the share whose
/// answer names the ground-truth concept. Slow in debug builds: run with `--ignored`.
#[test]
#[ignore]
fn catalogue_accuracy_with_the_stand_in() {
    let mut right = 0;
    let units = maia_shapes_world::catalogue();
    let mut rounds = Vec::new();
    for unit in &units {
        let mut sim = Sim::new(&unit.name);
        let out = investigate(&mut sim, &ALL_TOOLS, 25);
        let (description, label) = out.answer.unwrap_or_default();
        let ok = description.contains(&unit.description)
            || super::hypotheses::catalogue()
                .hyps()
                .iter()
                .any(|h| h.label() == label && h.phrase() == unit.description);
        right += usize::from(ok);
        rounds.push(out.rounds);
        println!(
            "{} {:<20} {:>2} rounds  truth: {:<40} got: {description}",
            if ok { "ok  " } else { "MISS" },
            unit.name,
            out.rounds,
            unit.description
        );
        if !ok && std::env::var_os("OFFLINE_TRANSCRIPT").is_some() {
            println!("{}", out.transcript);
        }
    }
    println!(
        "{right}/{} right; rounds {:?}..{:?}",
        units.len(),
        rounds.iter().min(),
        rounds.iter().max()
    );
}

/// Prints the whole investigation of `OFFLINE_UNIT` (default `red_and_circle`).
#[test]
#[ignore]
fn print_a_transcript() {
    let unit = std::env::var("OFFLINE_UNIT").unwrap_or_else(|_| "red_and_circle".into());
    let mut sim = Sim::new(&unit);
    let out = investigate(&mut sim, &ALL_TOOLS, 25);
    for m in &out.messages {
        match m {
            Message::User(parts) => {
                for p in parts {
                    if let Part::Text(t) = p {
                        println!("USER: {t}\n");
                    }
                }
            }
            Message::Assistant { text, tool_calls } => {
                println!("ASSISTANT:\n{text}\n");
                for c in tool_calls {
                    println!("  -> {} {} {}", c.id, c.name, c.arguments);
                }
                println!();
            }
            Message::ToolResults(_) => {}
        }
    }
    println!("{:?}", out.answer);
}

#[test]
fn concepts_outside_the_hypothesis_space_still_end_in_an_answer() {
    for expr in ["(circle|star) & !red", "!red", "red + blue + circle"] {
        let mut sim = Sim::new(expr);
        let out = investigate(&mut sim, &ALL_TOOLS, 25);
        let (description, _) = out
            .answer
            .unwrap_or_else(|| panic!("{expr}: no answer in {} rounds", out.rounds));
        assert!(out.rounds <= 20, "{expr}: {} rounds", out.rounds);
        assert!(!description.is_empty());
        println!("{expr}: {} rounds: {description}", out.rounds);
    }
}

#[test]
fn a_selection_request_is_answered_with_one_select_units_call() {
    use maia_core::downstream::selection;
    let classes: Vec<String> = ["circle", "star"].map(String::from).to_vec();
    let described: Vec<(usize, String)> = [
        (0, "stars"),
        (
            1,
            "images with a green background, whatever objects they show",
        ),
        (2, "large objects"),
        (3, "red objects"),
    ]
    .map(|(u, d)| (u, d.to_owned()))
    .to_vec();
    let request = selection::request("choose", &classes, "conv4", &described);
    let mut builder = CompletionBuilder::new();
    for event in respond(&request) {
        builder.push(&event);
    }
    let reply = builder.finish();
    assert_eq!(reply.tool_calls.len(), 1);
    assert_eq!(reply.tool_calls[0].name, selection::SELECT_TOOL);
    let chosen = selection::parse(&reply.tool_calls[0].arguments, &classes, &described);
    let chosen = chosen.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(chosen.per_class["star"], vec![0]);
    // The object's own colour is the object's; the background is left out.
    assert_eq!(chosen.shared, vec![2, 3]);
    assert!(reply.text.contains("I keep 3 of 4 units"), "{}", reply.text);
}
