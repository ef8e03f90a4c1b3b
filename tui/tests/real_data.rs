//! Real data sets through the `maia` binary: exemplars of an exported torch model over JPEGs
//! in ImageNet's class-folder layout and over WebDataset shards, with class words shown, a
//! plain progress line where stderr is a log, PNG exemplar files, and `maia call` on a JPEG.

use crate::support::*;

use std::path::Path;

fn python(args: &[&std::ffi::OsStr]) {
    let out = std::process::Command::new(workspace().join(".venv/bin/python"))
        .args(args)
        .output()
        .expect("running the venv's python");
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `n` shapes-world scenes as 160×120 JPEGs in `layout` under `out`.
fn jpegs(dir: &Path, n: usize, layout: &str) -> std::path::PathBuf {
    let png = dir.join(format!("png-{layout}"));
    let (code, _, err) = run(maia()
        .args(["world", "dataset", "--n", &n.to_string(), "--seed", "4"])
        .arg(&png));
    assert_eq!(code, 0, "{err}");
    let out = dir.join(layout);
    let script = workspace().join("scripts/jpeg_dataset.py");
    python(&[
        script.as_os_str(),
        "convert".as_ref(),
        "--src".as_ref(),
        png.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
        "--size".as_ref(),
        "160x120".as_ref(),
        "--layout".as_ref(),
        layout.as_ref(),
        "--per-shard".as_ref(),
        "25".as_ref(),
    ]);
    out
}

#[test]
fn exemplars_over_class_folders_and_shards_show_classes_and_progress() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = dir.path().join("tiny.pt");
    python(&[
        workspace().join("scripts/export_model.py").as_os_str(),
        "--arch".as_ref(),
        "tiny".as_ref(),
        "--size".as_ref(),
        "64".as_ref(),
        "--out".as_ref(),
        model.as_os_str(),
    ]);
    let classes = jpegs(dir.path(), 100, "classes");
    let out = dir.path().join("ex");
    let (code, stdout, err) = run(maia()
        .env("MAIA_CACHE_DIR", dir.path().join("cache"))
        .args(["exemplars", "--model"])
        .arg(&model)
        .args(["--layer", "block3", "--k", "5", "--unit", "2", "--data"])
        .arg(&classes)
        .arg("--out")
        .arg(&out));
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("images/s, ETA") && err.contains("exemplars of block3 over 100 images"),
        "a plain progress line in the log: {err}"
    );
    // "1. 0.123  n10000003/00042.JPEG (star, a shape)  → ex/block3_2_01_n10000003_00042.png"
    let first = stdout.lines().next().unwrap_or_default();
    assert!(
        first.contains(".JPEG (") && first.contains(", a shape)") && first.contains(".png"),
        "{stdout}"
    );
    let files: Vec<_> = std::fs::read_dir(&out)
        .expect("out")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(files.len(), 5);
    for file in &files {
        let bytes = std::fs::read(file).expect("exemplar");
        assert!(bytes.starts_with(b"\x89PNG"), "{} is a PNG", file.display());
    }

    let shards = jpegs(dir.path(), 50, "shards");
    let pattern = shards.join("{000000..000001}.tar");
    let (code, stdout, err) = run(maia()
        .env("MAIA_CACHE_DIR", dir.path().join("cache"))
        .args(["exemplars", "--model"])
        .arg(&model)
        .args(["--layer", "block3", "--k", "3", "--data"])
        .arg(&pattern));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("over 50 images"), "{err}");
    assert!(stdout.contains(".tar:"), "shard members named: {stdout}");

    // `maia dataset info` says what it found; `check` reads every image and names the
    // one that cannot be used, without failing.
    let (code, stdout, err) = run(maia().args(["dataset", "info"]).arg(&classes));
    assert_eq!(code, 0, "{err}");
    assert!(
        stdout.contains("100 images in")
            && stdout.contains("class folders (class names from LOC_synset_mapping.txt)")
            && stdout.contains(", a shape)"),
        "{stdout}"
    );
    let (code, stdout, err) = run(maia().args(["dataset", "info"]).arg(&pattern));
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("50 images in 2 tar shards"), "{stdout}");
    let broken = classes.join("n99999999/cut.JPEG");
    std::fs::create_dir_all(broken.parent().expect("parent")).expect("mkdir");
    let whole = std::fs::read(shards.join("000000.tar")).expect("shard");
    std::fs::write(&broken, &whole[..whole.len() / 3]).expect("write");
    let (code, stdout, err) = run(maia()
        .args(["dataset", "check", "--model"])
        .arg(&model)
        .arg(&classes));
    assert_eq!(code, 0, "{err}");
    assert!(
        stdout.contains("100 of 101 images read and prepared")
            && stdout.contains("images/s")
            && stdout.contains("n99999999/cut.JPEG: not an image"),
        "{stdout}"
    );

    // `maia call` takes a JPEG as it is.
    let jpeg = shards.join("photo.jpg");
    let any = std::fs::read_dir(
        classes
            .read_dir()
            .expect("classes")
            .find_map(|e| {
                let p = e.ok()?.path();
                p.is_dir().then_some(p)
            })
            .expect("a class folder"),
    )
    .expect("class folder")
    .next()
    .expect("an image")
    .expect("entry")
    .path();
    std::fs::copy(&any, &jpeg).expect("copy");
    let (code, stdout, err) = run(with_bundled(
        maia()
            .args(["call", "--image"])
            .arg(&jpeg)
            .args(["grayscale", "{\"image_ids\": [\"img_1\"]}"]),
    ));
    assert_eq!(code, 0, "{stdout}{err}");
}
