//! Real data sets: every format variant decodes as Pillow decodes it; class folders (with a
//! synset mapping), list files and WebDataset shards (a pattern, a folder, one .tar) are
//! found and read in place; the manifest hash follows the files; and one exemplar pass over
//! a JPEG data set full of bad files goes on, counting and naming what it skipped.

use crate::support::{check, python, script};
use maia_core::dataset::{Dataset, Layout};
use maia_core::exemplars::exemplars;
use maia_core::imageio;
use maia_core::target::open_target;
use std::path::Path;
use std::process::Command;

fn run_python(args: &[&std::ffi::OsStr]) {
    check(Command::new(python()).args(args));
}

/// A shapes-world data set of `n` PNGs converted by Pillow into 160×120 JPEGs in `layout`.
fn jpeg_dataset(n: usize, layout: &str) -> tempfile::TempDir {
    let png = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    maia_shapes_world::write_dataset(png.path(), n, 5).unwrap_or_else(|e| panic!("{e}"));
    let out = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    run_python(&[
        script("jpeg_dataset.py").as_os_str(),
        "convert".as_ref(),
        "--src".as_ref(),
        png.path().as_os_str(),
        "--out".as_ref(),
        out.path().as_os_str(),
        "--size".as_ref(),
        "160x120".as_ref(),
        "--layout".as_ref(),
        layout.as_ref(),
        "--per-shard".as_ref(),
        "5".as_ref(),
    ]);
    out
}

fn write(path: &Path, bytes: &[u8]) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{e}"));
    }
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn every_format_variant_decodes_as_pillow_decodes_it() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    run_python(&[
        script("jpeg_dataset.py").as_os_str(),
        "variants".as_ref(),
        "--out".as_ref(),
        dir.path().as_os_str(),
    ]);
    let mut checked = 0;
    for entry in std::fs::read_dir(dir.path()).unwrap_or_else(|e| panic!("{e}")) {
        let path = entry.unwrap_or_else(|e| panic!("{e}")).path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.ends_with(".rgb") || name.ends_with(".json") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{e}"));
        let ours = imageio::decode(&bytes)
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .to_rgb8();
        let size: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join(format!("{name}.json")))
                .unwrap_or_else(|e| panic!("{e}")),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (u64::from(ours.width()), u64::from(ours.height())),
            (
                size["width"].as_u64().unwrap_or(0),
                size["height"].as_u64().unwrap_or(0)
            ),
            "{name}: size (EXIF orientation applied?)"
        );
        let pillow =
            std::fs::read(dir.path().join(format!("{name}.rgb"))).unwrap_or_else(|e| panic!("{e}"));
        let diffs: Vec<u32> = ours
            .as_raw()
            .iter()
            .zip(&pillow)
            .map(|(a, b)| u32::from(a.abs_diff(*b)))
            .collect();
        let mean = diffs.iter().sum::<u32>() as f64 / diffs.len() as f64;
        // Lossless formats are exact; JPEG decoders differ in IDCT and chroma upsampling
        // (measured here: mean 0.2–0.5, at most a few levels), CMYK in its conversion.
        let (mean_limit, max_limit) =
            if name.ends_with(".png") || name.ends_with(".webp") || name.ends_with(".JPEG") {
                (0.5, 1) // 16-bit to 8-bit: Pillow truncates, image rounds
            } else if name.starts_with("cmyk") {
                (3.0, 40)
            } else {
                (1.0, 12)
            };
        let max = diffs.iter().copied().max().unwrap_or(0);
        assert!(
            mean <= mean_limit && max <= max_limit,
            "{name}: mean abs difference from Pillow {mean:.2} (limit {mean_limit}), max {max} (limit {max_limit})"
        );
        checked += 1;
    }
    assert_eq!(checked, 10, "every variant was checked");
}

#[test]
fn class_folders_at_any_depth_take_their_words_from_the_synset_mapping() {
    let data = jpeg_dataset(12, "classes");
    // One level deeper than the mapping file, as `train/n0…/x.JPEG` under a root.
    let set = Dataset::open(data.path()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(set.len(), 12);
    let Layout::Folder { classes } = set.layout().clone() else {
        panic!("{:?}", set.layout())
    };
    assert!(classes >= 2, "{classes} class folders");
    assert!(
        set.summary()
            .contains("class names from LOC_synset_mapping.txt"),
        "{}",
        set.summary()
    );
    let (id, words) = set
        .class(0)
        .unwrap_or_else(|| panic!("no class for image 0"));
    assert!(
        id.starts_with('n') && set.file_name(0).starts_with(&format!("{id}/")),
        "{id}"
    );
    let words = words.unwrap_or_default();
    assert!(words.ends_with(", a shape"), "{words}");
    let image = set.image(0).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        imageio::sniff(&image.png),
        Some(image::ImageFormat::Png),
        "tools get PNG"
    );
    assert_eq!(image.meta["class"], id.as_str());
    assert_eq!(image.meta["class_name"], words.as_str());
    assert!(image.caption.contains(&words), "{}", image.caption);

    // Nested deeper, with hidden files and a README beside: the same images.
    let deep = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let nested = deep.path().join("imagenet/val");
    std::fs::create_dir_all(nested.parent().unwrap_or(deep.path()))
        .unwrap_or_else(|e| panic!("{e}"));
    std::os::unix::fs::symlink(data.path(), &nested).unwrap_or_else(|e| panic!("{e}"));
    write(&deep.path().join("imagenet/README.txt"), b"not an image");
    write(&deep.path().join("imagenet/.cache/x.jpg"), b"hidden");
    let outer = Dataset::open(&deep.path().join("imagenet")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(outer.len(), 12);
    assert_eq!(outer.file_name(0), format!("val/{}", set.file_name(0)));
    assert_eq!(outer.class(0).map(|c| c.0), Some(id));
}

#[test]
fn list_files_and_tar_shards_are_read_in_place() {
    let flat = jpeg_dataset(10, "flat");
    let mut names: Vec<String> = std::fs::read_dir(flat.path())
        .unwrap_or_else(|e| panic!("{e}"))
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    names.sort();
    let list = flat.path().join("list.txt");
    write(
        &list,
        format!(
            "# three of them\n{}\n\n{}\n{}\n",
            names[0], names[3], names[7]
        )
        .as_bytes(),
    );
    let set = Dataset::open(&list).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((set.len(), set.layout()), (3, &Layout::List));
    assert_eq!(set.file_name(1), names[3]);
    assert!(set.image(2).is_ok());

    let shards = jpeg_dataset(12, "shards");
    let pattern = shards.path().join("{000000..000002}.tar");
    let by_pattern = Dataset::open(&pattern).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (by_pattern.len(), by_pattern.layout()),
        (12, &Layout::Shards { shards: 3 })
    );
    assert!(
        by_pattern.file_name(5).starts_with("000001.tar:"),
        "{}",
        by_pattern.file_name(5)
    );
    let (cls, words) = by_pattern
        .class(5)
        .unwrap_or_else(|| panic!("the .cls member is read"));
    assert!(cls.parse::<usize>().is_ok(), "{cls}");
    assert!(
        words.is_some_and(|w| !w.is_empty()),
        "classes.txt names class {cls}"
    );
    let image = by_pattern.image(5).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        imageio::decode(&image.png).map(|i| i.width()).unwrap_or(0),
        160
    );
    let by_folder = Dataset::open(shards.path()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(by_folder.len(), 12);
    let one = Dataset::open(&shards.path().join("000002.tar")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(one.len(), 2);
    let missing = Dataset::open(&shards.path().join("{000000..000009}.tar"))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(missing.contains("000003.tar does not exist"), "{missing}");

    // A shard cut short: its whole members stay, the cut one is skipped when read.
    let shard = shards.path().join("000001.tar");
    let bytes = std::fs::read(&shard).unwrap_or_else(|e| panic!("{e}"));
    // Into the last image: past its JPEG start, before its end.
    let cut = bytes
        .windows(3)
        .rposition(|w| w == [0xFF, 0xD8, 0xFF])
        .unwrap_or_else(|| panic!("no JPEG in the shard"))
        + 200;
    std::fs::write(&shard, &bytes[..cut]).unwrap_or_else(|e| panic!("{e}"));
    let damaged = Dataset::open(&pattern).unwrap_or_else(|e| panic!("{e}"));
    let unreadable: Vec<String> = (0..damaged.len())
        .filter_map(|i| damaged.image(i).err().map(|e| e.to_string()))
        .collect();
    assert_eq!(unreadable.len(), 1, "{unreadable:?}");
    assert!(
        unreadable[0].contains("000001.tar:") && unreadable[0].contains("cut short"),
        "{unreadable:?}"
    );

    // A shard damaged inside (its second member's header overwritten): the members before
    // the damage are kept and the shard is named.
    let shard = shards.path().join("000000.tar");
    let mut bytes = std::fs::read(&shard).unwrap_or_else(|e| panic!("{e}"));
    // The first member's size (octal, at 124..136 of its header) says where the next
    // header starts.
    let size = std::str::from_utf8(&bytes[124..135])
        .ok()
        .and_then(|s| usize::from_str_radix(s.trim_matches(['\0', ' ']), 8).ok())
        .unwrap_or_else(|| panic!("no size in the first header"));
    let second = 512 + size.div_ceil(512) * 512;
    bytes[second..second + 512].fill(b'x');
    std::fs::write(&shard, &bytes).unwrap_or_else(|e| panic!("{e}"));
    let damaged = Dataset::open(&pattern).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(damaged.damaged().len(), 1, "{:?}", damaged.damaged());
    assert!(
        damaged.damaged()[0].contains("000000.tar"),
        "{:?}",
        damaged.damaged()
    );
    // Shard 0 keeps only its first image (the damage is its .cls header); shards 1 and 2
    // keep their 5 and 2.
    assert_eq!(
        damaged.len(),
        1 + 5 + 2,
        "members after the damage are not listed"
    );
}

#[test]
fn the_manifest_follows_names_sizes_and_times_without_reading_the_data() {
    let data = jpeg_dataset(4, "flat");
    let first = Dataset::open(data.path())
        .unwrap_or_else(|e| panic!("{e}"))
        .manifest_hash();
    let again = Dataset::open(data.path())
        .unwrap_or_else(|e| panic!("{e}"))
        .manifest_hash();
    assert_eq!(first, again);
    let name = Dataset::open(data.path())
        .unwrap_or_else(|e| panic!("{e}"))
        .file_name(1);
    let path = data.path().join(&name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{e}"));
    let file = std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("{e}"));
    file.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000))
        .unwrap_or_else(|e| panic!("{e}"));
    drop(file);
    let touched = Dataset::open(data.path())
        .unwrap_or_else(|e| panic!("{e}"))
        .manifest_hash();
    assert_ne!(first, touched, "a new modification time is a new data set");
    std::fs::write(&path, &bytes[..bytes.len() - 10]).unwrap_or_else(|e| panic!("{e}"));
    let shorter = Dataset::open(data.path())
        .unwrap_or_else(|e| panic!("{e}"))
        .manifest_hash();
    assert_ne!(touched, shorter);
}

#[test]
fn a_folder_without_images_names_the_formats_and_layouts_read() {
    let empty = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    write(&empty.path().join("notes.txt"), b"nothing here");
    let msg = Dataset::open(empty.path())
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    for says in [
        "no images found",
        "JPEG, PNG and WebP",
        "class folders",
        "tar shards",
        "maia world dataset",
    ] {
        assert!(msg.contains(says), "missing `{says}`: {msg}");
    }
    let gone = Dataset::open(&empty.path().join("nowhere"))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(gone.contains("no such file or folder"), "{gone}");
}

/// A small JPEG whose frame header claims 30,000 × 30,000 pixels.
fn bomb() -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(image::RgbImage::new(16, 16))
        .write_to(&mut out, image::ImageFormat::Jpeg)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut jpeg = out.into_inner();
    let sof = jpeg
        .windows(2)
        .position(|w| w == [0xFF, 0xC0])
        .unwrap_or_else(|| panic!("no SOF0"));
    jpeg[sof + 5..sof + 7].copy_from_slice(&30000u16.to_be_bytes());
    jpeg[sof + 7..sof + 9].copy_from_slice(&30000u16.to_be_bytes());
    jpeg
}

#[test]
fn a_pass_over_bad_files_goes_on_and_names_each_one_skipped() {
    let data = jpeg_dataset(16, "flat");
    let dir = data.path();
    let good = std::fs::read(dir.join("00000.jpg")).unwrap_or_else(|e| panic!("{e}"));
    write(&dir.join("bad-truncated.jpg"), &good[..good.len() / 2]);
    write(&dir.join("bad-empty.jpg"), b"");
    write(
        &dir.join("bad-text.jpg"),
        b"this is a text file, not a photo\n",
    );
    write(&dir.join("bad-bomb.jpg"), &bomb());
    std::os::unix::fs::symlink(dir.join("gone.jpg"), dir.join("bad-unreadable.jpg"))
        .unwrap_or_else(|e| panic!("{e}"));
    let models = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let model_path = models.path().join("tiny.pt");
    run_python(&[
        script("export_model.py").as_os_str(),
        "--arch".as_ref(),
        "tiny".as_ref(),
        "--size".as_ref(),
        "64".as_ref(),
        "--out".as_ref(),
        model_path.as_os_str(),
    ]);
    let model = open_target(&model_path.to_string_lossy()).unwrap_or_else(|e| panic!("{e}"));
    let (found, _) = exemplars(model.as_ref(), "block2", dir, 3, None, &mut |_, _| {})
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((found.images, found.skipped), (21, 5));
    let why = |file: &str| {
        found
            .skipped_files
            .iter()
            .find(|s| s.file == file)
            .map(|s| s.reason.clone())
            .unwrap_or_else(|| panic!("{file} not listed: {:?}", found.skipped_files))
    };
    assert!(why("bad-truncated.jpg").contains("cut short"));
    assert!(why("bad-empty.jpg").contains("empty"));
    assert!(why("bad-text.jpg").contains("not an image"));
    assert!(why("bad-bomb.jpg").contains("decompression bomb"));
    assert!(why("bad-unreadable.jpg").contains("No such file"));
    assert!(
        found
            .units
            .iter()
            .all(|u| u.len() == 3 && u.iter().all(|e| !e.file.starts_with("bad-")))
    );
}
