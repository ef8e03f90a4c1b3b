//! `maia plugin new` (scaffold a plugin crate) and `maia plugin install` (copy a built
//! plugin into the user's plugin folder).

use anyhow::{Context, Result, bail};
use maia_core::plugins::locate;
use maia_plugin_sdk::{PluginKind, SDK_VERSION};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const CARGO_TOML: &str = include_str!("../../templates/Cargo.toml.tmpl");
const LIB_RS: &str = include_str!("../../templates/lib.rs.tmpl");
const PLUGIN_TOML: &str = include_str!("../../templates/plugin.toml.tmpl");
const README_MD: &str = include_str!("../../templates/README.md.tmpl");

/// Plugin kinds on the command line.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum KindArg {
    /// A native dynamic library: in-process, fastest, trusted.
    Native,
    /// A WebAssembly component: sandboxed (deadline, memory cap, no files/network/env).
    Wasm,
}

/// Options of `maia plugin new`.
#[derive(clap::Args, Debug)]
pub struct NewArgs {
    /// Plugin name: lowercase letters, digits and dashes (also the crate name).
    pub name: String,
    /// What to build.
    #[arg(long, value_enum)]
    pub kind: KindArg,
    /// Folder to create the crate in (default: ./NAME).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Path of the maia-plugin-sdk crate to depend on (default: the one this maia was built
    /// from, if it still exists; else the registry version).
    #[arg(long, value_name = "PATH")]
    pub sdk_path: Option<PathBuf>,
    /// One sentence saying what the plugin offers.
    #[arg(long, default_value = "Image tools for maia")]
    pub description: String,
}

/// Options of `maia plugin install`.
#[derive(clap::Args, Debug)]
pub struct InstallArgs {
    /// The built plugin: its directory (with plugin.toml) or its artifact.
    pub path: PathBuf,
    /// Plugins folder to install into (default: ~/.config/maia/plugins).
    #[arg(long, value_name = "DIR")]
    pub dest: Option<PathBuf>,
}

fn validate_name(name: &str) -> Result<()> {
    let ok = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-');
    if !ok {
        bail!(
            "`{name}` is not a valid plugin name: use lowercase letters, digits and dashes, starting with a letter (e.g. `edge-detect`)"
        );
    }
    Ok(())
}

fn type_name(name: &str) -> String {
    name.split('-')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut c = p.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

fn sdk_dependency(explicit: Option<&Path>) -> Result<(String, Option<String>)> {
    let path = match explicit {
        Some(p) => {
            let p = p
                .canonicalize()
                .with_context(|| format!("--sdk-path {}", p.display()))?;
            if !p.join("Cargo.toml").is_file() {
                bail!(
                    "--sdk-path {}: no Cargo.toml there; point it at maia's plugin-sdk folder",
                    p.display()
                );
            }
            Some(p)
        }
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../plugin-sdk")
            .canonicalize()
            .ok(),
    };
    Ok(match path {
        Some(p) => (format!("{{ path = {:?} }}", p.display().to_string()), None),
        None => (
            format!("\"{SDK_VERSION}\""),
            Some("the SDK source this maia was built from is gone; depending on the registry version (use --sdk-path to point at a checkout)".to_owned()),
        ),
    })
}

fn fill(template: &str, vars: &[(&str, &str)]) -> String {
    vars.iter().fold(template.to_owned(), |text, (key, value)| {
        text.replace(&format!("{{{{{key}}}}}"), value)
    })
}

/// Runs `maia plugin new`.
pub fn run(args: NewArgs) -> Result<ExitCode> {
    validate_name(&args.name)?;
    if args.description.contains('"')
        || args.description.contains('\\')
        || args.description.contains('\n')
    {
        bail!("--description must be one line without quotes or backslashes");
    }
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(&args.name));
    if dir.exists()
        && std::fs::read_dir(&dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        bail!(
            "{} already exists and is not empty; pick another --dir or name",
            dir.display()
        );
    }
    let (sdk_dep, warning) = sdk_dependency(args.sdk_path.as_deref())?;
    let snake = args.name.replace('-', "_");
    let (kind, artifact, build_command) = match args.kind {
        KindArg::Native => (
            PluginKind::Native,
            format!("target/release/lib{snake}.so"),
            "cargo build --release",
        ),
        KindArg::Wasm => (
            PluginKind::Wasm,
            format!("target/wasm32-wasip2/release/{snake}.wasm"),
            "cargo build --release --target wasm32-wasip2",
        ),
    };
    let kind_text = kind.to_string();
    let ty = type_name(&args.name);
    let tool = format!("{snake}_png_info");
    let vars = [
        ("name", args.name.as_str()),
        ("description", args.description.as_str()),
        ("sdk_dependency", sdk_dep.as_str()),
        ("sdk_version", SDK_VERSION),
        ("kind", kind_text.as_str()),
        ("artifact", artifact.as_str()),
        ("type_name", ty.as_str()),
        ("tool_name", tool.as_str()),
        ("build_command", build_command),
    ];
    std::fs::create_dir_all(dir.join("src"))
        .with_context(|| format!("creating {}", dir.display()))?;
    for (file, template) in [
        ("Cargo.toml", CARGO_TOML),
        ("src/lib.rs", LIB_RS),
        ("plugin.toml", PLUGIN_TOML),
        ("README.md", README_MD),
    ] {
        let path = dir.join(file);
        std::fs::write(&path, fill(template, &vars))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    std::fs::write(dir.join(".gitignore"), "/target\n").context("writing .gitignore")?;
    if let Some(w) = warning {
        eprintln!("warning: {w}");
    }
    println!(
        "created {} plugin `{}` in {}",
        kind_text,
        args.name,
        dir.display()
    );
    println!(
        "next:\n  cd {}\n  {build_command}\n  maia plugin check .",
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn user_plugin_dir() -> Result<PathBuf> {
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .context("neither XDG_CONFIG_HOME nor HOME is set; pass --dest DIR")?;
    Ok(config.join("maia").join("plugins"))
}

/// Runs `maia plugin install`.
pub fn install(args: InstallArgs) -> Result<ExitCode> {
    let files = locate(&args.path)?;
    let dest_root = match args.dest {
        Some(d) => d,
        None => user_plugin_dir()?,
    };
    let dest = dest_root.join(&files.manifest.name);
    std::fs::create_dir_all(&dest).with_context(|| format!("creating {}", dest.display()))?;
    let file_name = files
        .artifact
        .file_name()
        .context("the artifact path has no file name")?;
    std::fs::copy(&files.artifact, dest.join(file_name))
        .with_context(|| format!("copying {} to {}", files.artifact.display(), dest.display()))?;
    let mut manifest = files.manifest.clone();
    manifest.artifact = Some(file_name.to_string_lossy().into_owned());
    let text = toml::to_string(&manifest).context("writing plugin.toml")?;
    std::fs::write(dest.join("plugin.toml"), text)
        .with_context(|| format!("writing {}/plugin.toml", dest.display()))?;
    println!(
        "installed `{}` into {}; `maia tools` lists its tools",
        files.manifest.name,
        dest.display()
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_and_turned_into_type_names() {
        assert!(validate_name("edge-detect").is_ok());
        assert!(validate_name("Edge").is_err());
        assert!(validate_name("9lives").is_err());
        assert!(validate_name("a_b").is_err());
        assert_eq!(type_name("edge-detect2"), "EdgeDetect2");
    }

    #[test]
    fn templates_have_no_unfilled_placeholders() {
        let vars = [
            ("name", "x"),
            ("description", "d"),
            ("sdk_dependency", "\"1\""),
            ("sdk_version", "1.0.0"),
            ("kind", "wasm"),
            ("artifact", "x.wasm"),
            ("type_name", "X"),
            ("tool_name", "x_png_info"),
            ("build_command", "cargo build"),
        ];
        for t in [CARGO_TOML, LIB_RS, PLUGIN_TOML, README_MD] {
            let filled = fill(t, &vars);
            assert!(!filled.contains("{{"), "unfilled placeholder in:\n{filled}");
        }
    }
}
