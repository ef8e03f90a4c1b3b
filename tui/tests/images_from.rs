//! `maia run --images-from`: which plugin draws `text2image`/`edit_images`, and the error
//! that says what to put in maia.toml when the HTTP image plugin has no server.

use crate::support::*;

#[test]
fn images_from_http_without_a_server_says_what_to_configure() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (code, _, err) = run(maia()
        .current_dir(dir.path())
        .env("MAIA_CONFIG_DIR", dir.path())
        .args(["run", "--headless", "--images-from", "http"]));
    assert_ne!(code, 0);
    assert!(
        err.contains("[plugins.http-images]") && err.contains("base_url ="),
        "{err}"
    );
    assert!(
        !dir.path().join("runs").exists(),
        "no run is started before the check"
    );
    let (code, _, err) = run(maia()
        .current_dir(dir.path())
        .env("MAIA_CONFIG_DIR", dir.path())
        .args(["run", "--headless", "--images-from", "dalle"]));
    assert_ne!(code, 0);
    assert!(err.contains("shapes") && err.contains("http"), "{err}");
}

#[test]
fn images_from_in_maia_toml_is_checked_too() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("maia.toml"),
        "[run]\nimages_from = \"http\"\n",
    )
    .expect("write");
    let (code, _, err) = run(maia()
        .current_dir(dir.path())
        .env("MAIA_CONFIG_DIR", dir.path())
        .args(["run", "--headless"]));
    assert_ne!(code, 0);
    assert!(err.contains("[plugins.http-images]"), "{err}");
}

/// The README's recipe end to end: a torchvision ResNet-18 (random weights) exported as
/// the README shows, a loopback AUTOMATIC1111 server configured in maia.toml, and
/// `maia run --target torch:resnet18.pt --unit layer4:122 --images-from http --data DIR`
/// with the offline experimenter. The run's generated images come from the server (its
/// request log and the images' metadata agree), and repeating the run is served from the
/// plugin's cache.
#[test]
fn maia_run_on_a_torchvision_model_with_images_from_a_diffusion_server() {
    use maia_tests::image_servers::{A1111_IMG2IMG, A1111_TXT2IMG, ImageServer};
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let python = workspace().join(".venv/bin/python");
    let export = r#"
import json, torch, torchvision
from torchvision.models.feature_extraction import create_feature_extractor

layers = ["layer1", "layer2", "layer3", "layer4", "fc"]
net = torchvision.models.resnet18(weights=None).eval()
body = create_feature_extractor(net, return_nodes={n: n for n in layers})
torch.jit.script(body).save("resnet18.pt")
json.dump({"format": "maia-model", "format_version": 1, "name": "resnet18", "layers": layers,
           "input": {"size": 224, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}},
          open("resnet18.pt.json", "w"))
"#;
    let (code, _, err) = run(std::process::Command::new(&python)
        .args(["-c", export])
        .current_dir(root));
    assert_eq!(
        code,
        0,
        "the README's export recipe failed ({}): {err}",
        python.display()
    );
    let data = root.join("data");
    let (code, _, err) = run(maia()
        .args(["world", "dataset", "--n", "48", "--seed", "3"])
        .arg(&data));
    assert_eq!(code, 0, "{err}");

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let server = runtime.block_on(ImageServer::a1111());
    std::fs::write(
        root.join("maia.toml"),
        format!(
            "[run]\nimage_price_usd = 0.5\n[plugins.http-images]\nbackend = \"a1111\"\nbase_url = \"{}\"\nsteps = 4\n",
            server.url()
        ),
    )
    .expect("write maia.toml");
    let run_once = |id: &str| {
        let mut cmd = maia();
        cmd.current_dir(root)
            .env("MAIA_CONFIG_DIR", root)
            .env("MAIA_CACHE_DIR", root.join("cache"))
            .args([
                "run",
                "--headless",
                "--json",
                "--target",
                "torch:resnet18.pt",
            ])
            .args(["--unit", "layer4:122", "--images-from", "http", "--data"])
            .arg(&data)
            .args(["--max-rounds", "4", "--device", "cpu", "--id", id]);
        let (code, out, err) = run(with_bundled(&mut cmd));
        assert_eq!(code, 0, "maia run failed:\n{out}\n{err}");
        std::fs::read_to_string(root.join("runs").join(id).join("events.jsonl"))
            .expect("the run's journal")
    };
    let journal = run_once("first");
    let generated = server.count(A1111_TXT2IMG);
    assert!(
        generated > 0,
        "the agent's text2image never reached the server:\n{journal}"
    );
    assert!(
        journal.contains(r#""backend":"a1111""#),
        "images carry their backend in their metadata:\n{journal}"
    );
    // Every image the server drew cost the configured price, in the run's journal.
    let tool_cost = |journal: &str| -> f64 {
        journal
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|e| e["type"] == "tool_finished")
            .filter_map(|e| e["cost_usd"].as_f64())
            .sum()
    };
    let drawn = generated + server.count(A1111_IMG2IMG);
    assert!(
        (tool_cost(&journal) - 0.5 * drawn as f64).abs() < 1e-9,
        "{} for {drawn} images drawn",
        tool_cost(&journal)
    );
    // The same experiments again: every image comes from the cache.
    let again = run_once("second");
    assert_eq!(
        server.count(A1111_TXT2IMG),
        generated,
        "a repeated run paid the server again"
    );
    assert!(again.contains(r#""cached":true"#), "{again}");
    assert_eq!(tool_cost(&again), 0.0, "cached images cost nothing");
}

/// An OpenAI Images server that wants a key: `maia run --images-from http` reads it from the
/// variable maia.toml names, sends it, and writes it nowhere — not in the run folder
/// (journal, images, their metadata), the plugin's cache, or what the run prints.
#[test]
fn the_images_api_key_reaches_the_server_and_nothing_else() {
    use maia_tests::image_servers::{ImageServer, OPENAI_GENERATIONS};
    const KEY: &str = "sk-maia-images-0123456789abcdef";
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let server = runtime.block_on(ImageServer::openai());
    server.require_api_key(KEY);
    std::fs::write(
        root.join("maia.toml"),
        format!(
            "[plugins.http-images]\nbackend = \"openai\"\nbase_url = \"{}/v1\"\nmodel = \"dall-e-2\"\napi_key_env = \"MAIA_TEST_IMAGES_KEY\"\n",
            server.url()
        ),
    )
    .expect("write maia.toml");
    let mut cmd = maia();
    cmd.current_dir(root)
        .env("MAIA_CONFIG_DIR", root)
        .env("MAIA_CACHE_DIR", root.join("cache"))
        .env("MAIA_TEST_IMAGES_KEY", KEY)
        .args([
            "run",
            "--headless",
            "--json",
            "--target",
            "synthetic:circle",
        ])
        .args([
            "--images-from",
            "http",
            "--max-rounds",
            "4",
            "--id",
            "keyed",
        ]);
    let (code, out, err) = run(with_bundled(&mut cmd));
    // A synthetic unit reads the shapes world's scene graph, which a diffusion server's
    // pictures do not carry: call_unit fails on them, and after two such failures the
    // run ends `failed` with the reason (exit 1) instead of "completed" on no evidence.
    assert_eq!(code, 1, "maia run:\n{out}\n{err}");
    assert!(
        out.contains("\"status\":\"failed\"") && out.contains("no scene graph"),
        "{out}"
    );
    let asked = server.count(OPENAI_GENERATIONS);
    assert!(asked > 0, "the agent's text2image never reached the server");
    assert!(
        server
            .requests()
            .iter()
            .all(|r| r.header("authorization") == Some(&format!("Bearer {KEY}"))),
        "every request carries the key"
    );
    assert!(
        !out.contains(KEY) && !err.contains(KEY),
        "the run printed the key"
    );
    let mut files = 0;
    let mut stack = vec![root.join("runs"), root.join("cache")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read_dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let bytes = std::fs::read(&path).expect("read");
            files += 1;
            assert!(
                !bytes.windows(KEY.len()).any(|w| w == KEY.as_bytes()),
                "{} holds the API key",
                path.display()
            );
        }
    }
    assert!(files > 3, "the run and the cache wrote files ({files})");
}
