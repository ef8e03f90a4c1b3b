//! `maia eval score --evaluator llm`: MAIA's protocol through the binary, with an
//! OpenAI-compatible server on loopback writing the prompts (recorded-style replies), the
//! real shapes-tools plugin drawing them and the unit run on them.

use crate::support::maia;
use maia_tests::llm_server::{LlmServer, ScriptedReply};
use std::process::Output;

fn prompts_reply(positive: &[&str], neutral: &[&str]) -> ScriptedReply {
    ScriptedReply::new()
        .text(&serde_json::json!({"positive": positive, "neutral": neutral}).to_string())
        .usage(420, 160)
}

async fn score(server: &LlmServer, description: &str) -> Output {
    let mut cmd = maia();
    cmd.args(["eval", "score", "--target", "synthetic:red_and_circle"])
        .args([
            "-d",
            description,
            "--n",
            "4",
            "--json",
            "--evaluator",
            "llm",
        ])
        .args(["--backend", "openai", "--model", "gpt-test", "--base-url"])
        .arg(format!("{}/v1", server.url()))
        .env("OPENAI_API_KEY", "sk-eval-test");
    output(cmd).await
}

/// Runs `cmd` on a blocking thread, so the loopback servers keep serving meanwhile.
async fn output(mut cmd: std::process::Command) -> Output {
    tokio::task::spawn_blocking(move || cmd.output().expect("maia runs"))
        .await
        .expect("joined")
}

/// `out`'s standard output as JSON, once it is known to have exited 0.
fn success_json(out: &Output) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout).expect("json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_llm_writes_the_prompts_and_the_unit_separates_them() {
    let server = LlmServer::start().await;
    server.push(
        prompts_reply(
            &[
                "a red circle",
                "a large red circle on a white background",
                "a small red circle",
                "two red circles",
            ],
            &[
                "a blue square",
                "a red square",
                "a green circle",
                "a yellow star",
            ],
        )
        .openai(),
    );
    let out = score(&server, "red circles").await;
    let json = success_json(&out);
    let score = &json["score"];
    assert_eq!(score["evaluator"], "llm:openai/gpt-test", "{score}");
    assert_eq!(
        score["evaluator_usage"],
        serde_json::json!({"input_tokens": 420, "output_tokens": 160}),
        "the evaluator's tokens are kept with the score"
    );
    let pearson = score["pearson"].as_f64().expect("pearson");
    assert!(
        pearson > 0.8,
        "red circles separate the synthetic red-circle unit: {score}"
    );
    // The evaluator was told what the image generator draws: the text2image tool's words.
    let requests = server.requests();
    let body = requests
        .iter()
        .find(|r| r.path.ends_with("/chat/completions"))
        .map(|r| r.json().to_string())
        .expect("a completion request");
    assert!(body.contains("red circles"), "{body}");
    assert!(
        body.to_lowercase().contains("shapes"),
        "image context missing: {body}"
    );
    // The reply's shape travels as a JSON schema, four prompts a side.
    let body: serde_json::Value = serde_json::from_str(&body).expect("json body");
    let schema = &body["response_format"]["json_schema"]["schema"];
    assert_eq!(schema["properties"]["positive"]["minItems"], 4, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_that_is_not_the_json_asked_for_is_asked_again_once_then_fails_with_both() {
    let server = LlmServer::start().await;
    for text in [
        "Sure! Here are some prompts: red circles.",
        "{\"positive\": [\"a red circle\"]}",
    ] {
        server.push(ScriptedReply::new().text(text).usage(100, 20).openai());
    }
    let out = score(&server, "red circles").await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    let failure = &json["score"]["failure"];
    assert_eq!(failure["kind"], "evaluator", "{failure}");
    let log = failure["log"].to_string();
    assert!(log.contains("Sure! Here are some prompts"), "{log}");
    assert!(log.contains("a red circle"), "{log}");
    assert_eq!(server.pending(), 0, "both replies were asked for");
    assert_eq!(
        json["score"]["evaluator_usage"]["input_tokens"], 200,
        "a failed scoring keeps what both replies cost"
    );

    // The offline experimenter is not an evaluator: said before anything runs.
    let mut cmd = maia();
    cmd.args(["eval", "score", "--target", "synthetic:red_and_circle"])
        .args(["-d", "red circles", "--evaluator", "llm"]);
    let out = output(cmd).await;
    assert_ne!(out.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--evaluator llm needs a language model"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A run on a model outside the shapes world (a torch classifier) cannot be scored by the
/// world evaluator; `report --score --evaluator llm` scores it, keeps score.json, and a
/// later report shows the score.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_scores_a_torch_models_run_with_the_llm_evaluator() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (model, _) = crate::support::small_planted_classifier(dir.path());
    let runs = dir.path().join("runs");
    let mut cmd = maia();
    cmd.args([
        "run",
        "--headless",
        "--backend",
        "offline",
        "--max-rounds",
        "3",
    ])
    .arg("--target")
    .arg(format!("torch:{}", model.display()))
    .args([
        "--unit",
        "conv4:3",
        "--id",
        "r",
        "--device",
        "cpu",
        "--runs-dir",
    ])
    .arg(&runs);
    let out = output(cmd).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run_dir = runs.join("r");

    let report = |extra: Vec<String>| {
        let mut cmd = maia();
        cmd.arg("report").arg(&run_dir).args(extra);
        cmd.env("OPENAI_API_KEY", "sk-eval-test");
        async move {
            tokio::task::spawn_blocking(move || cmd.output().expect("maia runs"))
                .await
                .expect("joined")
        }
    };
    let out = report(vec!["--score".into(), "--device".into(), "cpu".into()]).await;
    assert_ne!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--score --evaluator llm"), "{err}");

    let server = LlmServer::start().await;
    server.push(
        prompts_reply(
            &[
                "a red circle",
                "a blue square",
                "a green star",
                "a white triangle",
            ],
            &[
                "a black background",
                "a gray background",
                "a white background",
                "a pink background",
            ],
        )
        .openai(),
    );
    let out = report(vec![
        "--score".into(),
        "--device".into(),
        "cpu".into(),
        "--n".into(),
        "4".into(),
        "--evaluator".into(),
        "llm".into(),
        "--backend".into(),
        "openai".into(),
        "--model".into(),
        "gpt-test".into(),
        "--base-url".into(),
        format!("{}/v1", server.url()),
    ])
    .await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("scored: pearson"), "{err}");
    let saved: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(run_dir.join("score.json")).expect("score.json"),
    )
    .expect("json");
    assert_eq!(
        saved["score"]["evaluator"], "llm:openai/gpt-test",
        "{saved}"
    );

    // A later plain report shows the kept score instead of saying the run is unscorable.
    let out = report(Vec::new()).await;
    assert_eq!(out.status.code(), Some(0));
    let page = std::fs::read_to_string(run_dir.join("report.html")).expect("report.html");
    assert!(
        page.contains("llm:openai/gpt-test"),
        "the page shows the kept score"
    );
    assert!(
        !page.contains("is not a shapes-world model"),
        "no unscorable note"
    );
}

/// `maia eval synthetic --evaluator llm`: the agent is the offline experimenter, the
/// prompts of every description (agent, exemplar baseline, random control) come from the
/// model on loopback, and the eval records which evaluator scored it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suite_scores_every_description_with_the_llm_evaluator() {
    let server = LlmServer::start().await;
    for _ in 0..3 {
        server.push(
            prompts_reply(
                &[
                    "a red circle",
                    "a blue circle",
                    "a large green circle",
                    "two circles",
                ],
                &[
                    "a red square",
                    "a blue star",
                    "a green triangle",
                    "a yellow heart",
                ],
            )
            .openai(),
        );
    }
    let root = tempfile::tempdir().expect("tempdir");
    let mut cmd = maia();
    cmd.args([
        "eval",
        "synthetic",
        "--units",
        "circle",
        "--dataset-size",
        "80",
        "--per-side",
        "4",
        "--evaluator",
        "llm",
        "--evaluator-model",
        "gpt-test",
        "--evaluator-base-url",
    ]);
    cmd.arg(format!("{}/v1", server.url()))
        .arg("--eval-dir")
        .arg(root.path().join("eval"))
        .env("MAIA_CACHE_DIR", root.path().join("cache"))
        .env("OPENAI_API_KEY", "sk-eval-test")
        .current_dir(root.path());
    crate::support::with_bundled(&mut cmd);
    let out = output(cmd).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let dir = root.path().join("eval/synthetic-offline-llm");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("suite.json")).expect("suite.json"))
            .expect("json");
    assert_eq!(manifest["evaluator"], "llm:openai/gpt-test", "{manifest}");
    let results = std::fs::read_to_string(dir.join("results.jsonl")).expect("results");
    let lines: Vec<serde_json::Value> = results
        .lines()
        .map(|l| serde_json::from_str(l).expect("a result line"))
        .collect();
    assert_eq!(lines.len(), 3, "{results}");
    for line in &lines {
        assert_eq!(line["score"]["evaluator"], "llm:openai/gpt-test", "{line}");
    }
    let agent = lines
        .iter()
        .find(|l| l["method"] == "agent")
        .expect("the agent's line");
    let pearson = agent["score"]["pearson"].as_f64().expect("pearson");
    assert!(pearson > 0.8, "the circle unit separates circles: {agent}");
    assert_eq!(server.pending(), 0, "one request per description");
}

/// `maia eval simulate --simulator llm`: a vision model on loopback rates the held-out
/// images (top-activating and random) and the ratings are correlated with the unit; a
/// second bad reply fails with both kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dataset_simulation_correlates_a_models_ratings_with_the_unit() {
    let root = tempfile::tempdir().expect("tempdir");
    let data = root.path().join("shapes");
    let made = maia()
        .args(["world", "dataset", "--n", "60"])
        .arg(&data)
        .output()
        .expect("maia runs");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let simulate = |server: &LlmServer, description: &str| {
        let mut cmd = maia();
        cmd.args(["eval", "simulate", "--target", "synthetic:circle", "--data"])
            .arg(&data)
            .args(["-d", description, "--n", "4", "--shown", "2", "--json"])
            .args([
                "--simulator",
                "llm",
                "--backend",
                "openai",
                "--model",
                "vlm-test",
            ])
            .arg("--base-url")
            .arg(format!("{}/v1", server.url()))
            .env("OPENAI_API_KEY", "sk-sim-test")
            .env("MAIA_CACHE_DIR", root.path().join("cache"));
        cmd
    };
    let server = LlmServer::start().await;
    // The top half (circles: the unit fires) rated high, the random half low.
    server.push(
        ScriptedReply::new()
            .text("{\"ratings\": [9, 10, 8, 9, 1, 0, 2, 1]}")
            .usage(900, 30)
            .openai(),
    );
    let cmd = simulate(&server, "circles");
    let out = output(cmd).await;
    let json = success_json(&out);
    assert_eq!(json["simulator"], "llm:openai/vlm-test");
    assert_eq!(json["images"].as_array().map(Vec::len), Some(8));
    let all = json["all"].as_f64().expect("a correlation");
    assert!(all > 0.5, "{json}");
    let body = server.requests()[0].json().to_string();
    assert!(
        body.contains("circles") && body.contains("image_url"),
        "one request with the images"
    );

    let server = LlmServer::start().await;
    for text in ["I think they are all circles.", "{\"ratings\": [1, 2]}"] {
        server.push(ScriptedReply::new().text(text).usage(100, 10).openai());
    }
    let cmd = simulate(&server, "circles");
    let out = output(cmd).await;
    assert_eq!(out.status.code(), Some(2));
    let json: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("json even when it fails");
    let log = json["failure"]["log"].to_string();
    assert!(
        log.contains("all circles") && log.contains("[1, 2]"),
        "{log}"
    );
}

/// CoSy's control from the model's own data: `--control-data` names it in the score; a
/// folder that is not a data set is refused before anything is scored.
#[test]
fn cosy_takes_its_control_sample_from_the_given_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let made = maia()
        .args(["world", "dataset", "--n", "40"])
        .arg(&data)
        .output()
        .expect("maia runs");
    assert!(made.status.success(), "{made:?}");
    let out = maia()
        .args(["eval", "score", "--target", "synthetic:red_and_circle"])
        .args([
            "-d",
            "red circles",
            "--n",
            "4",
            "--json",
            "--control-n",
            "30",
        ])
        .arg("--control-data")
        .arg(&data)
        .output()
        .expect("maia runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{out:?}");
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    let score = &json["score"];
    assert_eq!(
        score["cosy_control"],
        format!("30 images of {}", data.display()),
        "{score}"
    );
    assert!(score["cosy_auc"].as_f64() > Some(0.8), "{score}");
    let out = maia()
        .args(["eval", "score", "--target", "synthetic:red_and_circle"])
        .args(["-d", "red circles", "--control-data"])
        .arg(dir.path().join("missing"))
        .output()
        .expect("maia runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr.contains("--control-data") && stderr.contains("missing"),
        "{stderr}"
    );
}

/// MAIA's protocol on a unit of a torch model, every part real but the paid services: a
/// loopback OpenAI-compatible server writes the prompts, a loopback AUTOMATIC1111 server
/// draws them through the http-images plugin, the unit runs on them, and CoSy's control
/// comes from a data set of the model's own images. The score keeps the evaluator's
/// tokens and names its control.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_torch_unit_is_scored_with_an_llm_evaluator_and_a_diffusion_server() {
    use maia_tests::image_servers::{A1111_TXT2IMG, ImageServer};
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().to_path_buf();
    let (model, _) = crate::support::small_planted_classifier(&root);
    let data = root.join("data");
    let made = maia()
        .args(["world", "dataset", "--n", "30"])
        .arg(&data)
        .output()
        .expect("maia runs");
    assert!(made.status.success(), "{made:?}");
    let images = ImageServer::a1111().await;
    std::fs::write(
        root.join("maia.toml"),
        format!(
            "[run]\nimage_price_usd = 0.25\n[plugins.http-images]\nbackend = \"a1111\"\nbase_url = \"{}\"\nsteps = 4\n",
            images.url()
        ),
    )
    .expect("write maia.toml");
    let llm = LlmServer::start().await;
    llm.push(
        prompts_reply(
            &["a red circle", "a blue circle", "a green circle"],
            &["a red square", "a yellow star", "a blue triangle"],
        )
        .openai(),
    );
    let mut cmd = maia();
    cmd.current_dir(&root)
        .env("MAIA_CONFIG_DIR", &root)
        .env("MAIA_CACHE_DIR", root.join("cache"))
        .env("OPENAI_API_KEY", "sk-eval-test")
        .args(["eval", "score", "--target"])
        .arg(format!("torch:{}", model.display()))
        .args(["--unit", "conv4:3", "-d", "circles", "--n", "3", "--json"])
        .args([
            "--device",
            "cpu",
            "--images-from",
            "http",
            "--evaluator",
            "llm",
        ])
        .args(["--backend", "openai", "--model", "gpt-test", "--base-url"])
        .arg(format!("{}/v1", llm.url()))
        .args(["--control-n", "20", "--control-data"])
        .arg(&data);
    let out = output(cmd).await;
    let json = success_json(&out);
    let score = &json["score"];
    assert_eq!(score["n_positive"], 3, "{score}");
    assert_eq!(score["evaluator_usage"]["input_tokens"], 420, "{score}");
    assert_eq!(
        score["cosy_control"],
        format!("20 images of {}", data.display()),
        "{score}"
    );
    assert!(score["pearson"].is_number(), "{score}");
    assert_eq!(
        score["images_cost_usd"], 1.5,
        "six images at $0.25: {score}"
    );
    // The six evaluation prompts and the probe scenes were drawn by the server.
    assert!(
        images.count(A1111_TXT2IMG) >= 6,
        "{}",
        images.count(A1111_TXT2IMG)
    );
}
