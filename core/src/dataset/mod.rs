//! An image data set as maia reads it, in any of the layouts researchers keep them in:
//!
//! - a **flat folder** of images;
//! - **class folders** at any depth (`val/n01440764/ILSVRC2012_val_00000293.JPEG`): the class
//!   is the folder an image sits in, put into words by a mapping file beside the data
//!   ([`classes::MAPPING_FILES`]);
//! - a **list file** (`--data list.txt`): one image path per line, relative to the list's
//!   folder (`#` comments and blank lines skipped);
//! - **WebDataset tar shards**: a pattern (`shards/{000000..000099}.tar`), one `.tar`, or a
//!   folder holding only `.tar` files, read in place ([`shards`]).
//!
//! Images are JPEG, PNG or WebP, read by content ([`crate::imageio`]); in folders, the files
//! taken are those named like images (`.jpg`, `.jpeg`, `.png`, `.webp`, any case). Opening a
//! data set lists it (no image is decoded); images are read one at a time as a pass reaches
//! them, so memory does not grow with the data set beyond its list of names. A shapes-world
//! dataset folder also carries each image's scene graph (`scenes.jsonl`).

mod check;
pub mod classes;
pub mod sample;
pub mod shards;

pub use check::CheckReport;

use crate::imageio;
use classes::ClassNames;
use maia_plugin_sdk::Image;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// File extensions taken from folders and shard folders (compared without case).
pub const IMAGE_EXTENSIONS: [&str; 6] = ["jpg", "jpeg", "png", "webp", "jpe", "jfif"];

/// How many hints of the layouts maia reads, for messages.
pub const LAYOUTS: &str = "a flat folder, class folders at any depth, a text file listing image paths, or WebDataset tar shards (a folder of .tar files, one .tar, or a pattern like 'shards/{000000..000099}.tar')";

/// Why a data set could not be used.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// The folder or a file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Nothing at the path.
    #[error("{0}: no such file or folder; --data takes {LAYOUTS}")]
    Missing(PathBuf),
    /// No images in the data set.
    #[error(
        "{0}: no images found. maia reads {formats} files (named .jpg, .jpeg, .png or .webp), laid out as {LAYOUTS}; make a synthetic data set with `maia world dataset --n 10000 DIR`",
        formats = imageio::FORMATS
    )]
    Empty(PathBuf),
    /// One image where a data set was expected.
    #[error("{0} is a single image; --data takes a data set: {LAYOUTS}")]
    OneImage(PathBuf),
    /// A shard pattern that cannot be expanded.
    #[error("shard pattern `{pattern}`: {why}")]
    Pattern {
        /// The pattern as given.
        pattern: String,
        /// What is wrong with it.
        why: String,
    },
    /// One image could not be read or decoded.
    #[error("{file}: {why}")]
    Unreadable {
        /// The image's name in the data set.
        file: String,
        /// Why.
        why: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DatasetError + '_ {
    move |source| DatasetError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Where one image's bytes are.
#[derive(Clone, Debug)]
pub(crate) enum Source {
    /// A file: the item's name, relative to the data set's root (or absolute).
    File,
    /// A member of a tar shard.
    Member {
        /// Index into the shard list.
        shard: usize,
        /// Where its data starts.
        offset: u64,
        /// Its size.
        size: u64,
        /// The shard ends before the member does.
        cut_short: bool,
    },
}

/// One image of a data set.
#[derive(Clone, Debug)]
pub(crate) struct Item {
    /// Its name: the path relative to the root, or `shard.tar:member`.
    pub(crate) name: String,
    pub(crate) source: Source,
    /// Its class id: the folder it sits in, or its WebDataset `.cls` value.
    pub(crate) class: Option<String>,
}

/// The layout a data set was found in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Images in one folder (or in class folders below it).
    Folder {
        /// Distinct class folders (0: a flat folder).
        classes: usize,
    },
    /// A text file listing image paths.
    List,
    /// WebDataset tar shards.
    Shards {
        /// How many.
        shards: usize,
    },
}

/// A data set: its images in a fixed order, and how to read each.
pub struct Dataset {
    root: PathBuf,
    layout: Layout,
    items: Vec<Item>,
    shards: Vec<PathBuf>,
    classes: ClassNames,
    scenes: HashMap<String, serde_json::Value>,
    /// Extra files whose change changes the data set (the list, the mapping, the scenes).
    side_files: Vec<PathBuf>,
    damaged: Vec<String>,
}

impl Dataset {
    /// Opens a data set: a folder, a list file, a `.tar` or a shard pattern (see the module
    /// documentation). Lists it; decodes nothing.
    pub fn open(spec: &Path) -> Result<Dataset, DatasetError> {
        let text = spec.to_string_lossy();
        if let Some(shards) = shards::expand(&text)? {
            if let Some(missing) = shards.iter().find(|s| !s.is_file()) {
                return Err(DatasetError::Pattern {
                    pattern: text.into_owned(),
                    why: format!("{} does not exist", missing.display()),
                });
            }
            let root = shards
                .first()
                .and_then(|s| s.parent())
                .map(Path::to_path_buf)
                .unwrap_or_default();
            return Dataset::from_shards(spec, root, shards);
        }
        let meta = std::fs::metadata(spec).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                DatasetError::Missing(spec.to_path_buf())
            } else {
                io(spec)(e)
            }
        })?;
        let parent = spec.parent().map(Path::to_path_buf).unwrap_or_default();
        if meta.is_file() {
            if has_extension(spec, &["tar"]) {
                return Dataset::from_shards(spec, parent, vec![spec.to_path_buf()]);
            }
            return Dataset::from_list(spec, parent);
        }
        Dataset::from_folder(spec)
    }

    fn new(root: PathBuf, layout: Layout, items: Vec<Item>) -> Dataset {
        let classes = ClassNames::find(&root);
        let side_files = classes.source.iter().map(|name| root.join(name)).collect();
        Dataset {
            root,
            layout,
            items,
            shards: Vec::new(),
            classes,
            scenes: HashMap::new(),
            side_files,
            damaged: Vec::new(),
        }
    }

    fn from_folder(dir: &Path) -> Result<Dataset, DatasetError> {
        let mut names = Vec::new();
        let mut tars = Vec::new();
        walk(dir, dir, &mut HashSet::new(), &mut names, &mut tars)?;
        if names.is_empty() && !tars.is_empty() {
            tars.sort();
            return Dataset::from_shards(dir, dir.to_path_buf(), tars);
        }
        if names.is_empty() {
            return Err(DatasetError::Empty(dir.to_path_buf()));
        }
        names.sort();
        let items: Vec<Item> = names
            .into_iter()
            .map(|name| Item {
                class: class_folder(&name),
                name,
                source: Source::File,
            })
            .collect();
        let classes: HashSet<&str> = items.iter().filter_map(|i| i.class.as_deref()).collect();
        let layout = Layout::Folder {
            classes: classes.len(),
        };
        let mut dataset = Dataset::new(dir.to_path_buf(), layout, items);
        let index = dir.join(maia_shapes_world::SCENE_INDEX);
        if let Ok(text) = std::fs::read_to_string(&index) {
            for line in text.lines() {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(line)
                    && let (Some(file), Some(scene)) =
                        (v.get("file").and_then(|f| f.as_str()), v.get("scene"))
                {
                    dataset.scenes.insert(file.to_owned(), scene.clone());
                }
            }
            dataset.side_files.push(index);
        }
        Ok(dataset)
    }

    fn from_list(list: &Path, root: PathBuf) -> Result<Dataset, DatasetError> {
        let bytes = std::fs::read(list).map_err(io(list))?;
        if imageio::sniff(&bytes).is_some() {
            return Err(DatasetError::OneImage(list.to_path_buf()));
        }
        let text = String::from_utf8(bytes).map_err(|_| DatasetError::Pattern {
            pattern: list.display().to_string(),
            why: format!("not a text file listing image paths; --data takes {LAYOUTS}"),
        })?;
        let items: Vec<Item> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|line| Item {
                name: line.to_owned(),
                source: Source::File,
                class: class_folder(line),
            })
            .collect();
        if items.is_empty() {
            return Err(DatasetError::Empty(list.to_path_buf()));
        }
        let mut dataset = Dataset::new(root, Layout::List, items);
        dataset.side_files.push(list.to_path_buf());
        Ok(dataset)
    }

    fn from_shards(
        spec: &Path,
        root: PathBuf,
        shards: Vec<PathBuf>,
    ) -> Result<Dataset, DatasetError> {
        let index = shards::index(&shards);
        if index.items.is_empty() {
            return Err(match index.damaged.first() {
                Some((shard, why)) => DatasetError::Unreadable {
                    file: shard.display().to_string(),
                    why: why.clone(),
                },
                None => DatasetError::Empty(spec.to_path_buf()),
            });
        }
        let layout = Layout::Shards {
            shards: shards.len(),
        };
        let mut dataset = Dataset::new(root, layout, index.items);
        dataset.damaged = index
            .damaged
            .into_iter()
            .map(|(shard, why)| format!("{}: {why}", shard.display()))
            .collect();
        dataset.shards = shards;
        Ok(dataset)
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when empty (never, once opened).
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The layout it was found in.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Shards that ended early or could not be read (their readable members are kept).
    pub fn damaged(&self) -> &[String] {
        &self.damaged
    }

    /// One line saying what was found: "1,000 images in 10 class folders (names from
    /// LOC_synset_mapping.txt)".
    pub fn summary(&self) -> String {
        let n = self.items.len();
        let mut text = match &self.layout {
            Layout::Folder { classes: 0 } => format!("{n} images in one folder"),
            Layout::Folder { classes } => format!("{n} images in {classes} class folders"),
            Layout::List => format!("{n} images from a list"),
            Layout::Shards { shards } => format!("{n} images in {shards} tar shards"),
        };
        if let Some(source) = &self.classes.source {
            text.push_str(&format!(" (class names from {source})"));
        }
        text
    }

    /// Name of image `index`: its path within the data set, or `shard.tar:member`.
    pub fn file_name(&self, index: usize) -> String {
        self.items
            .get(index)
            .map(|i| i.name.clone())
            .unwrap_or_default()
    }

    /// The class of image `index`: its id (folder name or `.cls` value) and, when a mapping
    /// file names it, its words.
    pub fn class(&self, index: usize) -> Option<(String, Option<String>)> {
        let id = self.items.get(index)?.class.clone()?;
        let words = self.classes.words(&id);
        Some((id, words))
    }

    /// The bytes of image `index`, as stored.
    pub fn bytes(&self, index: usize) -> Result<Vec<u8>, DatasetError> {
        let item = self
            .items
            .get(index)
            .ok_or_else(|| DatasetError::Unreadable {
                file: format!("#{index}"),
                why: format!("the data set has {} images", self.items.len()),
            })?;
        let unreadable = |why: String| DatasetError::Unreadable {
            file: item.name.clone(),
            why,
        };
        match &item.source {
            Source::File => {
                let path = self.root.join(&item.name);
                std::fs::read(&path).map_err(|e| unreadable(e.to_string()))
            }
            Source::Member {
                shard,
                offset,
                size,
                cut_short,
            } => shards::read_member(&self.shards[*shard], *offset, *size, *cut_short)
                .map_err(unreadable),
        }
    }

    /// Image `index` with its bytes as stored (JPEG, PNG or WebP: a target model decodes by
    /// content), for the exemplar pass; `meta` as in [`Dataset::image`].
    pub fn raw_image(&self, index: usize) -> Result<Image, DatasetError> {
        let bytes = self.bytes(index)?;
        if bytes.is_empty() {
            return Err(DatasetError::Unreadable {
                file: self.file_name(index),
                why: "the file is empty (0 bytes)".into(),
            });
        }
        Ok(Image::new(bytes, self.file_name(index)).with_meta(self.meta(index)))
    }

    /// Image `index` as PNG (what tools and the agent take), with `meta` holding its
    /// `dataset_file`, its `class` and `class_name` when it has one, and its scene graph
    /// when the data set is a shapes-world one.
    pub fn image(&self, index: usize) -> Result<Image, DatasetError> {
        let png = imageio::to_png(self.bytes(index)?).map_err(|why| DatasetError::Unreadable {
            file: self.file_name(index),
            why,
        })?;
        Ok(Image::new(png, self.caption(index)).with_meta(self.meta(index)))
    }

    /// "n01440764/x.JPEG (tench, Tinca tinca)".
    fn caption(&self, index: usize) -> String {
        let name = self.file_name(index);
        match self.class(index) {
            Some((_, Some(words))) => format!("{name} ({words})"),
            _ => name,
        }
    }

    fn meta(&self, index: usize) -> serde_json::Value {
        let name = self.file_name(index);
        let mut meta = serde_json::json!({"dataset_file": name});
        if let Some((id, words)) = self.class(index) {
            meta["class"] = id.into();
            if let Some(words) = words {
                meta["class_name"] = words.into();
            }
        }
        if let Some(scene) = self.scenes.get(&name) {
            meta["scene"] = scene.clone();
        }
        meta
    }

    /// BLAKE3 over the data set's manifest: every image's name, size and modification time
    /// (shards: each shard's), and the list, mapping and scene files. One `stat` per file,
    /// no read of the data, so a cached pass over 50,000 images is found at once; a file
    /// rewritten in place changes it. The same data copied with its times (`cp -p`, rsync
    /// `-t`) keeps it, wherever it lives; `--no-cache` forces a recount.
    pub fn manifest_hash(&self) -> String {
        let mut hasher = blake3::Hasher::new();
        hasher.update(b"maia-dataset-manifest-v1\0");
        let stat = |hasher: &mut blake3::Hasher, name: &str, path: &Path| {
            hasher.update(name.as_bytes());
            hasher.update(&[0]);
            match std::fs::metadata(path) {
                Ok(meta) => {
                    hasher.update(&meta.len().to_le_bytes());
                    let mtime = meta
                        .modified()
                        .ok()
                        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                        .map_or(0, |d| d.as_nanos());
                    hasher.update(&mtime.to_le_bytes());
                }
                Err(e) => {
                    hasher.update(format!("unreadable: {:?}", e.kind()).as_bytes());
                }
            }
        };
        if self.shards.is_empty() {
            for item in &self.items {
                stat(&mut hasher, &item.name, &self.root.join(&item.name));
            }
        }
        // Shards (their members are not stat'ed one by one) and the side files: by name.
        for path in self.shards.iter().chain(&self.side_files) {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default();
            stat(&mut hasher, &name, path);
        }
        hasher.finalize().to_hex().to_string()
    }
}

/// The class to show for an image, from its meta: the class's words when the data set
/// names them, else its id.
pub fn class_label(meta: &serde_json::Value) -> Option<&str> {
    meta["class_name"].as_str().or(meta["class"].as_str())
}

/// The class of an image file: the name of the folder it sits in (none for a file at the
/// top of the data set).
fn class_folder(name: &str) -> Option<String> {
    Path::new(name)
        .parent()
        .and_then(Path::file_name)
        .map(|n| n.to_string_lossy().into_owned())
}

fn has_extension(path: &Path, extensions: &[&str]) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| extensions.iter().any(|x| x.eq_ignore_ascii_case(e)))
}

/// Collects image files (as paths relative to `root`, with `/`) and `.tar` files below
/// `dir`, following links to folders once each; hidden entries are skipped.
fn walk(
    root: &Path,
    dir: &Path,
    seen: &mut HashSet<PathBuf>,
    names: &mut Vec<String>,
    tars: &mut Vec<PathBuf>,
) -> Result<(), DatasetError> {
    let real = std::fs::canonicalize(dir).map_err(io(dir))?;
    if !seen.insert(real) {
        return Ok(());
    }
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        // Follows links: a class folder may be a link into another disk.
        let is_dir = entry
            .file_type()
            .is_ok_and(|t| t.is_dir() || (t.is_symlink() && path.is_dir()));
        if is_dir {
            walk(root, &path, seen, names, tars)?;
        } else if has_extension(&path, &IMAGE_EXTENSIONS) {
            if let Ok(relative) = path.strip_prefix(root) {
                names.push(relative.to_string_lossy().replace('\\', "/"));
            }
        } else if has_extension(&path, &["tar"]) && dir == root {
            tars.push(path);
        }
    }
    Ok(())
}
