//! `maia doctor`: what this installation can do, and what to fix when it cannot.

use crate::plugin_args::PluginArgs;
use crate::table::Table;
use anyhow::Result;
use maia_core::plugins::discover;
use maia_plugin_sdk::{SDK_VERSION, native::ABI_VERSION};
use std::process::ExitCode;

/// Options of `maia doctor`.
#[derive(clap::Args, Debug)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub plugins: PluginArgs,
}

/// Runs `maia doctor`.
pub fn run(args: DoctorArgs) -> Result<ExitCode> {
    let mut t = Table::new(&["COMPONENT", "STATUS", "DETAIL"]);
    let mut failures = 0;
    t.row(vec!["maia".into(), "ok".into(), format!("{} (plugin SDK {SDK_VERSION}, native ABI v{ABI_VERSION}, wasm world maia:plugin@{SDK_VERSION})", env!("CARGO_PKG_VERSION"))]);
    let torch = maia_core::torch::info();
    t.row(vec![
        "libtorch".into(),
        "ok".into(),
        format!(
            "{} CPU threads; linked by rpath, no LD_LIBRARY_PATH needed",
            torch.threads
        ),
    ]);
    t.row(vec![
        "cuda".into(),
        if torch.cuda {
            "ok".into()
        } else {
            "none".into()
        },
        if torch.cuda {
            format!(
                "{} device(s), cuDNN {}",
                torch.cuda_devices,
                if torch.cudnn { "yes" } else { "no" }
            )
        } else {
            "no CUDA device visible: models run on CPU".into()
        },
    ]);
    let loader = args.plugins.sandbox.loader();
    match loader.wasm_runtime() {
        Ok(_) => t.row(vec![
            "wasm runtime".into(),
            "ok".into(),
            "wasmtime component model, epoch deadlines".into(),
        ]),
        Err(e) => {
            failures += 1;
            t.row(vec!["wasm runtime".into(), "FAIL".into(), e.to_string()]);
        }
    }
    let search = args.plugins.search();
    for dir in &search.dirs {
        let status = if dir.is_dir() { "ok" } else { "absent" };
        t.row(vec![
            "plugin folder".into(),
            status.into(),
            dir.display().to_string(),
        ]);
    }
    for found in discover(&search) {
        match found {
            Ok(files) => t.row(vec![
                format!("plugin {}", files.manifest.name),
                "found".into(),
                format!(
                    "{} {} at {}",
                    files.manifest.kind,
                    files.manifest.version,
                    files.dir.display()
                ),
            ]),
            Err(e) => {
                failures += 1;
                t.row(vec!["plugin".into(), "FAIL".into(), e.to_string()]);
            }
        }
    }
    print!("{}", t.render());
    Ok(if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
