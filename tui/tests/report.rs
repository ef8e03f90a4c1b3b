//! `maia report` as users run it: a real offline demo run becomes one self-contained page,
//! checked by structure (every round, every image inlined, nothing fetched from outside)
//! and in a real headless Chromium (the screenshot shows the page and the run's images).
//! Damaged and unfinished runs are reported, not refused.

use crate::support::*;

use base64::Engine;
use maia_core::agent::journal::read_journal;
use maia_core::agent::{Event, ImageRecord, Record, RunStatus};
use maia_tui::report::html::escape;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// One offline demo run (`maia demo --headless`) shared by every test; tests that damage
/// a run work on a copy.
struct Demo {
    _runs: tempfile::TempDir,
    _cache: tempfile::TempDir,
    dir: PathBuf,
}

fn demo() -> &'static Demo {
    static DEMO: OnceLock<Demo> = OnceLock::new();
    DEMO.get_or_init(|| {
        let runs = tempfile::tempdir().expect("tempdir");
        let cache = tempfile::tempdir().expect("tempdir");
        let (code, out, err) = run(maia()
            .args([
                "demo",
                "--headless",
                "--dataset-size",
                "300",
                "--no-default-plugins",
                "--plugin",
            ])
            .arg(bundled_plugins())
            .arg("--runs-dir")
            .arg(runs.path())
            .env("MAIA_CACHE_DIR", cache.path()));
        assert_eq!(code, 0, "the demo run failed:\n{out}{err}");
        let dir = std::fs::read_dir(runs.path())
            .expect("runs")
            .flatten()
            .next()
            .expect("a run folder")
            .path();
        Demo {
            _runs: runs,
            _cache: cache,
            dir,
        }
    })
}

/// A copy of the demo run in a fresh folder (same run id), to damage.
fn demo_copy() -> (tempfile::TempDir, PathBuf) {
    let src = &demo().dir;
    let parent = tempfile::tempdir().expect("tempdir");
    let dst = parent.path().join(src.file_name().expect("run id"));
    std::fs::create_dir_all(dst.join("images")).expect("mkdir");
    for entry in std::fs::read_dir(src).expect("run dir").flatten() {
        if entry.path().is_file()
            && entry.file_name() != "report.html"
            && entry.file_name() != "score.json"
        {
            std::fs::copy(entry.path(), dst.join(entry.file_name())).expect("copy");
        }
    }
    for entry in std::fs::read_dir(src.join("images"))
        .expect("images")
        .flatten()
        .filter(|e| e.path().is_file())
    {
        std::fs::copy(entry.path(), dst.join("images").join(entry.file_name()))
            .expect("copy image");
    }
    (parent, dst)
}

fn records(dir: &Path) -> Vec<Record> {
    read_journal(&dir.join("events.jsonl"))
        .expect("journal")
        .records
}

fn journal_images(records: &[Record]) -> Vec<ImageRecord> {
    records
        .iter()
        .filter_map(|r| match &r.event {
            Event::ToolFinished { images, .. } => Some(images.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

/// `maia report DIR --out OUT`; returns the page and stdout.
fn report(dir: &Path, out: &Path, extra: &[&str]) -> (String, String) {
    let (code, stdout, stderr) = run(maia()
        .arg("report")
        .arg(dir)
        .arg("--out")
        .arg(out)
        .args(extra));
    assert_eq!(code, 0, "maia report failed:\n{stdout}{stderr}");
    (
        std::fs::read_to_string(out).expect("report written"),
        stdout,
    )
}

/// The `src` of every `<img>`.
fn img_sources(page: &str) -> Vec<&str> {
    page.split("<img ")
        .skip(1)
        .filter_map(|tag| {
            tag.split_once("src=\"")
                .and_then(|(_, rest)| rest.split_once('"'))
                .map(|(src, _)| src)
        })
        .collect()
}

/// The text of every `class="round"` section: each `Round N` heading.
fn round_headings(page: &str) -> Vec<u32> {
    page.split("<section class=\"round\" id=\"round-")
        .skip(1)
        .filter_map(|s| s.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok())
        .collect()
}

fn assert_self_contained(page: &str) {
    let lower = page.to_ascii_lowercase();
    for external in [
        "src=\"http",
        "href=\"http",
        "src='http",
        "href='http",
        "url(http",
        "url(\"http",
        "<link",
        "@import",
        "<script",
    ] {
        assert!(
            !lower.contains(external),
            "the page refers outside itself: found `{external}`"
        );
    }
    for src in img_sources(page) {
        assert!(
            src.starts_with("data:image/png;base64,"),
            "an image is not inlined: {}",
            &src[..src.len().min(80)]
        );
    }
}

#[test]
fn a_demo_run_becomes_one_self_contained_page() {
    let demo = demo();
    let out = tempfile::tempdir().expect("tempdir");
    let (code, stdout, stderr) = run(maia()
        .arg("report")
        .arg(demo.dir.file_name().expect("id"))
        .arg("--runs-dir")
        .arg(demo.dir.parent().expect("runs dir")));
    assert_eq!(code, 0, "{stdout}{stderr}");
    let default_path = demo.dir.join("report.html");
    assert!(
        stdout.contains(&format!("wrote {}", default_path.display())),
        "{stdout}"
    );
    assert!(
        default_path.is_file(),
        "report.html goes into the run folder by default"
    );

    let (page, _) = report(&demo.dir, &out.path().join("r.html"), &[]);
    assert_self_contained(&page);
    assert!(
        page.len() < 10 << 20,
        "the page is {} bytes; a demo run should stay well under 10 MB",
        page.len()
    );

    let records = records(&demo.dir);
    // Every round, in order.
    let rounds: Vec<u32> = records
        .iter()
        .filter_map(|r| match r.event {
            Event::RoundStarted { round } => Some(round),
            _ => None,
        })
        .collect();
    assert!(
        rounds.len() >= 3,
        "the demo should take several rounds: {rounds:?}"
    );
    assert_eq!(round_headings(&page), rounds);
    // Every image of every tool result, inlined as a decodable PNG of at most 224 px.
    let images = journal_images(&records);
    assert!(images.len() > 20);
    assert_eq!(
        img_sources(&page).len(),
        images.len(),
        "one <img> per image occurrence"
    );
    let mut checked = HashSet::new();
    for image in &images {
        let tag = format!(
            "<figure data-hash=\"{}\"><img src=\"data:image/png;base64,",
            image.hash
        );
        assert!(
            page.contains(&tag),
            "image {} ({}) is not inlined",
            image.id,
            image.hash
        );
        if checked.insert(image.hash.clone()) && checked.len() <= 5 {
            let start = page.find(&tag).expect("found") + tag.len();
            let b64 = &page[start..start + page[start..].find('"').expect("end of src")];
            let png = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .expect("base64");
            let img = image::load_from_memory(&png).expect("an inlined image decodes as PNG");
            assert!(img.width() <= 224 && img.height() <= 224);
        }
        if let Some(a) = image.activation {
            assert!(
                page.contains(&format!("activation <b>{a:.3}</b>")),
                "activation of {} not shown",
                image.id
            );
        }
    }
    // Task, every tool call with its name, the answer, and the score line.
    for r in &records {
        match &r.event {
            Event::RunStarted {
                target, task_text, ..
            } => {
                assert!(page.contains(&escape(target)));
                assert!(
                    page.contains(&escape(task_text.trim_end())),
                    "task text missing"
                );
            }
            Event::ToolStarted { name, call_id, .. } => {
                let header = format!(
                    "<span class=\"tool\">{}</span> <code class=\"muted\">{}</code>",
                    escape(name),
                    escape(call_id)
                );
                assert!(page.contains(&header), "call {call_id} missing");
            }
            Event::AssistantMessage {
                text, reasoning, ..
            } => {
                assert!(
                    page.contains(&escape(text.trim_end())),
                    "a message's text is missing"
                );
                assert!(
                    page.contains(&escape(reasoning.trim_end())),
                    "a message's reasoning is missing"
                );
            }
            Event::FinalAnswer {
                label, description, ..
            } => {
                let answer = &page[page.find("id=\"answer\"").expect("answer section")..];
                assert!(
                    answer.contains(&format!("<p class=\"label\">{}</p>", escape(label))),
                    "answer label missing"
                );
                assert!(
                    answer.contains(&escape(description.trim_end())),
                    "answer description missing"
                );
            }
            _ => {}
        }
    }
    assert!(page.contains("status-completed"));
    assert!(
        page.contains("<b>score: not computed</b>")
            && page.contains("maia report")
            && page.contains("--score"),
        "no score line"
    );
}

/// Chromium from Debian (`chromium`), or a failure saying how to install it.
fn chromium() -> PathBuf {
    for name in ["chromium", "chromium-browser"] {
        for dir in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
            let path = dir.join(name);
            if path.is_file() {
                return path;
            }
        }
    }
    panic!(
        "chromium is not installed, and this test renders the report in a real browser: run scripts/install-deps.sh (it installs Debian's `chromium`)"
    );
}

/// A screenshot of `page` in headless Chromium, 1200×2000.
fn screenshot(page: &Path, shot: &Path) -> image::RgbImage {
    let profile = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--window-size=1200,2000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!(
            "file://{}",
            page.canonicalize().expect("page path").display()
        ))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("chromium starts");
    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("chromium took over 90 s to screenshot {}", page.display());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut e, &mut err);
    }
    assert!(status.success(), "chromium failed ({status}):\n{err}");
    image::open(shot)
        .unwrap_or_else(|e| panic!("no screenshot at {} ({e}):\n{err}", shot.display()))
        .to_rgb8()
}

/// The most common strongly coloured pixel of an image (quantized to 8 levels a channel),
/// averaged over its bucket: "the red of the red circle".
fn dominant_colour(img: &image::RgbImage) -> [u8; 3] {
    let mut buckets: std::collections::HashMap<[u8; 3], (u64, [u64; 3])> =
        std::collections::HashMap::new();
    for p in img.pixels() {
        let [r, g, b] = p.0;
        let (max, min) = (r.max(g).max(b), r.min(g).min(b));
        if max - min < 120 {
            continue;
        }
        let e = buckets.entry([r >> 5, g >> 5, b >> 5]).or_default();
        e.0 += 1;
        for c in 0..3 {
            e.1[c] += u64::from(p.0[c]);
        }
    }
    let (_, (n, sum)) = buckets
        .into_iter()
        .max_by_key(|(_, (n, _))| *n)
        .expect("the image has strong colours");
    [(sum[0] / n) as u8, (sum[1] / n) as u8, (sum[2] / n) as u8]
}

fn count_near(img: &image::RgbImage, colour: [u8; 3], tolerance: i32) -> usize {
    img.pixels()
        .filter(|p| (0..3).all(|c| (i32::from(p.0[c]) - i32::from(colour[c])).abs() <= tolerance))
        .count()
}

#[test]
fn chromium_renders_the_page_with_the_runs_images() {
    let demo = demo();
    let out = tempfile::tempdir().expect("tempdir");
    let page_path = out.path().join("report.html");
    report(&demo.dir, &page_path, &[]);
    let shot = screenshot(&page_path, &out.path().join("shot.png"));
    assert_eq!(shot.dimensions(), (1200, 2000));
    let total = shot.pixels().count();
    let blank = shot
        .pixels()
        .filter(|p| p.0.iter().all(|&c| c >= 235))
        .count();
    assert!(
        (total - blank) * 100 / total >= 10,
        "the screenshot is nearly blank: {} of {total} pixels are not near-white",
        total - blank
    );
    let distinct: HashSet<[u8; 3]> = shot.pixels().map(|p| p.0).collect();
    assert!(
        distinct.len() > 500,
        "only {} colours on screen: the images did not render",
        distinct.len()
    );

    // The first image on the page (a top exemplar of the red-and-circle unit) is drawn:
    // its dominant colour, which the page's own CSS never uses, is on screen.
    let first = journal_images(&records(&demo.dir))
        .into_iter()
        .next()
        .expect("an image");
    let known = image::open(demo.dir.join("images").join(format!("{}.png", first.hash)))
        .expect("image file")
        .to_rgb8();
    let colour = dominant_colour(&known);
    let on_screen = count_near(&shot, colour, 16);
    assert!(
        on_screen >= 200,
        "the colour {colour:?} of {} shows on only {on_screen} screenshot pixels",
        first.id
    );

    // Control: the same page without its image files shows placeholders, not that colour.
    let (_keep, copy) = demo_copy();
    std::fs::remove_dir_all(copy.join("images")).expect("remove images");
    let bare_path = out.path().join("bare.html");
    report(&copy, &bare_path, &[]);
    let bare = screenshot(&bare_path, &out.path().join("bare.png"));
    let without = count_near(&bare, colour, 16);
    assert!(
        without * 10 < on_screen,
        "the colour {colour:?} shows {without} times without images, {on_screen} with them"
    );
}

#[test]
fn an_unknown_run_is_named_with_a_hint() {
    let runs = tempfile::tempdir().expect("tempdir");
    let (code, out, err) = run(maia()
        .args(["report", "no-such-run", "--runs-dir"])
        .arg(runs.path()));
    assert_ne!(code, 0, "{out}");
    assert!(
        err.contains("no-such-run") && err.contains("maia runs"),
        "{err}"
    );
    // A folder that is not a run.
    let (code, _, err) = run(maia().arg("report").arg(runs.path()));
    assert_ne!(code, 0);
    assert!(
        err.contains("events.jsonl") && err.contains("maia runs"),
        "{err}"
    );
}

#[test]
fn a_torn_last_line_is_left_out_and_said() {
    let (_keep, dir) = demo_copy();
    let journal = dir.join("events.jsonl");
    let mut text = std::fs::read_to_string(&journal).expect("journal");
    text.push_str(r#"{"seq":9999,"t_ms":1,"type":"note","te"#);
    std::fs::write(&journal, text).expect("tear");
    let (page, stdout) = report(&dir, &dir.join("report.html"), &[]);
    assert!(stdout.contains("torn last journal line"), "{stdout}");
    assert!(
        page.contains("class=\"banner torn\""),
        "no torn-line banner"
    );
    assert!(
        page.contains("status-completed"),
        "the records before the torn line are all there"
    );
    assert_self_contained(&page);
}

#[test]
fn a_run_in_progress_shows_what_happened_so_far() {
    let (_keep, dir) = demo_copy();
    let all = records(&dir);
    // Cut the journal in round 3, mid-reply: some text streamed, no message yet.
    let cut = all
        .iter()
        .position(|r| matches!(r.event, Event::RoundStarted { round: 3 }))
        .expect("round 3");
    let mut lines: Vec<String> = all[..=cut]
        .iter()
        .map(|r| serde_json::to_string(r).expect("json"))
        .collect();
    let partial = Record {
        seq: all[cut].seq + 1,
        t_ms: all[cut].t_ms,
        event: Event::TextDelta {
            round: 3,
            text: "Half a <thought> & more".into(),
            reasoning: false,
        },
    };
    lines.push(serde_json::to_string(&partial).expect("json"));
    std::fs::write(dir.join("events.jsonl"), lines.join("\n") + "\n").expect("write");
    std::fs::remove_file(dir.join("result.json")).expect("no result yet");
    let (page, stdout) = report(&dir, &dir.join("report.html"), &[]);
    assert!(stdout.contains("in progress"), "{stdout}");
    assert!(page.contains("status-in-progress") && page.contains("<strong>In progress.</strong>"));
    assert_eq!(round_headings(&page), vec![1, 2, 3]);
    assert!(
        page.contains("Half a &lt;thought&gt; &amp; more"),
        "the streamed text of the open round is shown, escaped"
    );
    assert!(page.contains("none yet: the run is in progress"));
    assert!(page.contains("score: not computed"));
}

#[test]
fn missing_image_files_become_placeholders() {
    let (_keep, dir) = demo_copy();
    let images = journal_images(&records(&dir));
    let gone: HashSet<String> = images.iter().take(3).map(|i| i.hash.clone()).collect();
    for hash in &gone {
        std::fs::remove_file(dir.join("images").join(format!("{hash}.png"))).expect("remove");
    }
    let (page, stdout) = report(&dir, &dir.join("report.html"), &[]);
    assert!(
        stdout.contains(&format!("{} image files missing", gone.len())),
        "{stdout}"
    );
    let occurrences = images.iter().filter(|i| gone.contains(&i.hash)).count();
    assert_eq!(
        page.matches("<figure class=\"missing\"").count(),
        occurrences
    );
    assert_eq!(img_sources(&page).len(), images.len() - occurrences);
    for hash in &gone {
        assert!(page.contains(&format!("images/{hash}.png is missing")));
    }
}

#[test]
fn model_and_tool_strings_are_escaped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run_dir = dir.path().join("evil");
    std::fs::create_dir_all(run_dir.join("images")).expect("mkdir");
    let evil = "<script>alert('x')</script><img src=\"http://example.com/x.png\">";
    let events = vec![
        Event::RunStarted {
            run_id: "evil".into(),
            task: "describe-unit".into(),
            target: "synthetic:red".into(),
            unit: "synthetic:0".into(),
            backend: "offline".into(),
            model: evil.into(),
            max_rounds: 3,
            task_text: format!("task {evil}\nsecond line"),
        },
        Event::Note { text: evil.into() },
        Event::RoundStarted { round: 1 },
        Event::AssistantMessage {
            round: 1,
            text: evil.into(),
            reasoning: evil.into(),
            tool_calls: vec![],
            usage: maia_core::llm::Usage {
                input_tokens: 1,
                output_tokens: 2,
            },
            cost_usd: 0.0,
        },
        Event::ToolStarted {
            round: 1,
            call_id: evil.into(),
            name: evil.into(),
            args: serde_json::json!({ "prompt": evil }),
        },
        Event::ToolFinished {
            round: 1,
            call_id: evil.into(),
            name: evil.into(),
            error: Some(evil.into()),
            text: evil.into(),
            images: vec![ImageRecord {
                id: evil.into(),
                hash: "../../etc/passwd".into(),
                caption: evil.into(),
                activation: Some(1.0),
            }],
            data: serde_json::json!({ "k": evil }),
            elapsed_ms: 1,
            cost_usd: 0.0,
        },
        Event::Warning { text: evil.into() },
        Event::Retry {
            round: 1,
            attempt: 1,
            reason: evil.into(),
            wait_ms: 10,
        },
        Event::FinalAnswer {
            round: 1,
            description: evil.into(),
            label: evil.into(),
        },
        Event::RunEnded {
            status: RunStatus::Failed,
            reason: evil.into(),
        },
    ];
    let lines: Vec<String> = events
        .into_iter()
        .enumerate()
        .map(|(i, event)| {
            serde_json::to_string(&Record {
                seq: i as u64,
                t_ms: 1_000 + i as u64,
                event,
            })
            .expect("json")
        })
        .collect();
    std::fs::write(run_dir.join("events.jsonl"), lines.join("\n") + "\n").expect("write");
    let (page, _) = report(&run_dir, &run_dir.join("report.html"), &[]);
    assert_self_contained(&page);
    assert!(
        !page.contains("<script>") && !page.contains("alert('x')"),
        "raw markup from the journal reached the page"
    );
    assert!(page.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
    assert!(
        page.contains("malformed hash"),
        "a hash that steps out of images/ is refused"
    );
    assert!(
        page.contains("task &lt;script&gt;") && page.contains("\nsecond line"),
        "line breaks are kept"
    );
    assert!(
        page.contains("pre class=\"result error\""),
        "errors are styled"
    );
}

#[test]
fn score_flag_scores_the_answer_and_later_reports_keep_it() {
    let (_keep, dir) = demo_copy();
    let out = dir.join("report.html");
    let (page, _) = report(
        &dir,
        &out,
        &[
            "--score",
            "--n",
            "10",
            "--no-default-plugins",
            "--plugin",
            bundled_plugins().to_str().expect("utf-8 path"),
        ],
    );
    assert!(
        dir.join("score.json").is_file(),
        "the score is kept beside the run"
    );
    let answer = &page[page.find("id=\"answer\"").expect("answer section")..];
    assert!(
        !answer.contains("score: not computed"),
        "scored, yet the page says not computed"
    );
    assert!(
        answer.contains("<th>Pearson</th><th>AUPRC</th><th>F1</th>"),
        "no metrics table"
    );
    assert!(
        answer.contains("<th>against truth</th>"),
        "a synthetic unit is also scored against its truth"
    );
    assert!(answer.contains("Ground truth: <b>red circles</b>"));

    // A later report without --score shows the kept score …
    let (page, _) = report(&dir, &out, &[]);
    assert!(page.contains("<th>Pearson</th>"));
    // … unless it scored another answer.
    let path = dir.join("score.json");
    let mut kept: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("score.json")).expect("json");
    kept["score"]["description"] = "blue squares".into();
    std::fs::write(&path, serde_json::to_string(&kept).expect("json")).expect("write");
    let (page, _) = report(&dir, &out, &[]);
    assert!(page.contains("score: not computed") && page.contains("scored an earlier answer"));
    assert!(!page.contains("<th>Pearson</th>"));
}
