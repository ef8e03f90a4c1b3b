//! # maia-tests
//!
//! Helpers for maia's integration tests at the plugin boundary (`tests/tests/`): build a
//! plugin crate of this workspace on demand, install it with its `plugin.toml` into a
//! temporary directory (optionally with a rewritten manifest), and make test PNGs.
//!
//! Builds run `$CARGO build -p NAME` (native, dev profile) or `$CARGO build --release
//! --target wasm32-wasip2 -p NAME` (wasm), once per package per test process: cargo
//! releases its build lock before it runs tests, so nested builds work, and parallel
//! tests wait for the first build of a package instead of starting their own.
//!
//! [`llm_server`] is a real HTTP server on loopback that plays an LLM provider from
//! scripted SSE responses, for the backend and agent-loop tests. [`image_servers`] plays
//! the OpenAI Images and AUTOMATIC1111 diffusion APIs, with scripted faults, for the
//! `http-images` plugin's tests.

pub mod agent_kit;
pub mod http_wire;
pub mod image_servers;
pub mod llm_server;

use image::{ImageFormat, Rgba, RgbaImage};
use std::collections::HashMap;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

/// What a test helper failed to do, with enough context to fix it.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// How a plugin crate is built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Build {
    /// A native `cdylib`, dev profile: `target/debug/lib<name>.so`.
    Native,
    /// A component for `wasm32-wasip2`, release profile:
    /// `target/wasm32-wasip2/release/<name>.wasm`.
    Wasm,
}

/// A plugin crate of this workspace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Package {
    /// Cargo package name (`-p NAME`).
    pub name: &'static str,
    /// Crate directory relative to the workspace root; holds its `plugin.toml`.
    pub dir: &'static str,
    /// Library target name (the artifact's stem).
    pub lib: &'static str,
    /// How it is built.
    pub build: Build,
}

/// The native test fixture: `noop`, `echo`, `echo_image`, `calls`, `panic`.
pub const NATIVE_FIXTURE: Package = Package {
    name: "native-fixture",
    dir: "tests/fixtures/native-fixture",
    lib: "native_fixture",
    build: Build::Native,
};

/// A native plugin whose vtable claims maia-plugin-sdk 2.0.0.
pub const NATIVE_SDK2: Package = Package {
    name: "native-sdk2",
    dir: "tests/fixtures/native-sdk2",
    lib: "native_sdk2",
    build: Build::Native,
};

/// The wasm test fixture: `noop`, `echo`, `echo_image`, `spin`, `hog`, `read_file`,
/// `connect`, `env`, `panic`.
pub const WASM_FIXTURE: Package = Package {
    name: "wasm-fixture",
    dir: "tests/fixtures/wasm-fixture",
    lib: "wasm_fixture",
    build: Build::Wasm,
};

/// A component of the world `maia:plugin/plugin@2.0.0`.
pub const WASM_SDK2: Package = Package {
    name: "wasm-sdk2",
    dir: "tests/fixtures/wasm-sdk2",
    lib: "wasm_sdk2",
    build: Build::Wasm,
};

/// The native example plugin (`grayscale`, `crop`, `tile`).
pub const IMAGE_OPS: Package = Package {
    name: "maia-image-ops",
    dir: "plugins/image-ops",
    lib: "image_ops",
    build: Build::Native,
};

/// The wasm example plugin (`image_stats`, `flip`).
pub const IMAGE_STATS: Package = Package {
    name: "maia-image-stats",
    dir: "plugins/image-stats",
    lib: "image_stats",
    build: Build::Wasm,
};

/// The shapes-world wasm plugin (`text2image`, `edit_images`).
pub const SHAPES_TOOLS: Package = Package {
    name: "maia-shapes-tools",
    dir: "plugins/shapes-tools",
    lib: "shapes_tools",
    build: Build::Wasm,
};

/// The diffusion-server plugin (`text2image`, `edit_images` over HTTP).
pub const HTTP_IMAGES: Package = Package {
    name: "maia-http-images",
    dir: "plugins/http-images",
    lib: "http_images",
    build: Build::Native,
};

/// The workspace root (the parent of this crate).
pub fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent().unwrap_or(here).to_path_buf()
}

impl Package {
    /// The crate's own `plugin.toml`.
    pub fn manifest_path(&self) -> PathBuf {
        workspace_root().join(self.dir).join("plugin.toml")
    }

    /// The text of the crate's own `plugin.toml`.
    pub fn manifest_text(&self) -> Result<String, Error> {
        let path = self.manifest_path();
        std::fs::read_to_string(&path)
            .map_err(|e| format!("reading {}: {e}", path.display()).into())
    }

    /// Builds the package (once per process) and returns the artifact cargo produced.
    pub fn artifact(&self) -> Result<PathBuf, Error> {
        static BUILT: OnceLock<Mutex<HashMap<&'static str, Result<PathBuf, String>>>> =
            OnceLock::new();
        // Holding the lock while building: a second test wanting the same package waits
        // for this build; one wanting another package would wait on cargo's lock anyway.
        let mut built = BUILT
            .get_or_init(Mutex::default)
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let result = built
            .entry(self.name)
            .or_insert_with(|| self.cargo_build())
            .clone();
        result.map_err(Into::into)
    }

    fn cargo_build(&self) -> Result<PathBuf, String> {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut command = Command::new(&cargo);
        command.current_dir(workspace_root()).args([
            "build",
            "--message-format=json-render-diagnostics",
            "-p",
            self.name,
        ]);
        let (extension, label) = match self.build {
            Build::Native => ("so", "dev"),
            Build::Wasm => {
                command.args(["--release", "--target", "wasm32-wasip2"]);
                ("wasm", "release, wasm32-wasip2")
            }
        };
        let shown = format!("cargo build -p {} ({label})", self.name);
        let output = command
            .output()
            .map_err(|e| format!("{shown}: cannot run {}: {e}", cargo.to_string_lossy()))?;
        if !output.status.success() {
            return Err(format!(
                "{shown} failed ({}):\n{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        // The last compiler-artifact message for our library names the file cargo made.
        let stdout = String::from_utf8_lossy(&output.stdout);
        let found = stdout
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == self.lib)
            .flat_map(|m| m["filenames"].as_array().cloned().unwrap_or_default())
            .filter_map(|f| f.as_str().map(PathBuf::from))
            .rfind(|f| f.extension().is_some_and(|e| e == extension));
        found.ok_or_else(|| {
            format!(
                "{shown} succeeded but reported no .{extension} artifact for `{}`",
                self.lib
            )
        })
    }

    /// Builds the package and installs it with its own `plugin.toml`.
    pub fn install(&self) -> Result<Installed, Error> {
        self.install_with_manifest(&self.manifest_text()?)
    }

    /// Builds the package and installs it with `manifest` as its `plugin.toml` (e.g. the
    /// crate's own text with a `[permissions]` section added).
    pub fn install_with_manifest(&self, manifest: &str) -> Result<Installed, Error> {
        let artifact = self.artifact()?;
        let dir = tempfile::Builder::new()
            .prefix(&format!("maia-{}-", self.name))
            .tempdir()?;
        let file_name = artifact
            .file_name()
            .ok_or_else(|| format!("artifact {} has no file name", artifact.display()))?;
        let installed = dir.path().join(file_name);
        std::fs::copy(&artifact, &installed).map_err(|e| {
            format!(
                "copying {} to {}: {e}",
                artifact.display(),
                installed.display()
            )
        })?;
        std::fs::write(dir.path().join("plugin.toml"), manifest)?;
        Ok(Installed {
            dir,
            artifact: installed,
        })
    }
}

/// A plugin installed in a temporary directory (removed on drop).
#[derive(Debug)]
pub struct Installed {
    dir: tempfile::TempDir,
    /// The artifact's path inside the directory.
    pub artifact: PathBuf,
}

impl Installed {
    /// The plugin directory (holding `plugin.toml` and the artifact).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The installed `plugin.toml`.
    pub fn manifest_path(&self) -> PathBuf {
        self.dir.path().join("plugin.toml")
    }
}

/// Encodes an RGBA image as PNG.
pub fn png(image: &RgbaImage) -> Result<Vec<u8>, Error> {
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, ImageFormat::Png)?;
    Ok(out.into_inner())
}

/// A PNG of one colour.
pub fn solid_png(width: u32, height: u32, rgba: [u8; 4]) -> Result<Vec<u8>, Error> {
    png(&RgbaImage::from_pixel(width, height, Rgba(rgba)))
}

/// An image whose every pixel differs from its neighbours: r = x, g = y, b = x ^ y
/// (mod 256), opaque. Crops and flips of it can be checked pixel by pixel.
pub fn pattern(width: u32, height: u32) -> RgbaImage {
    RgbaImage::from_fn(width, height, |x, y| {
        Rgba([x as u8, y as u8, (x ^ y) as u8, 255])
    })
}

/// Decodes a PNG into RGBA8.
pub fn decode(png: &[u8]) -> Result<RgbaImage, Error> {
    Ok(image::load_from_memory_with_format(png, ImageFormat::Png)?.to_rgba8())
}
