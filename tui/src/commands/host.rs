//! `maia host serve` and `maia host info`: one process owns the GPU and the loaded model and
//! serves many runs (`--target remote:ADDR`), batching their requests.

use crate::table::Table;
use anyhow::{Context, Result, bail};
use maia_core::activation_server::{
    ActivationServer, DEFAULT_ADDR, ServerAddr, ServerConfig, ServerEvent, ServerToken, TOKEN_ENV,
};
use maia_core::target::{ModelInfo, RemoteModel, TargetModel, TorchOptions, open_target_with};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// Subcommands of `maia host`.
#[derive(clap::Subcommand, Debug)]
pub enum HostCommand {
    /// Serve a model to many runs: load it once, keep it on the GPU, batch their requests.
    Serve(ServeArgs),
    /// Connect to a running host and show its model and counters.
    Info(InfoArgs),
}

/// Options of `maia host serve`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  maia host serve --model world-cnn --device cuda:0\n  \
maia host serve --model synthetic:all --listen unix:/tmp/maia.sock\n  \
maia call --target remote:127.0.0.1:7878 --unit conv3:5 call_unit '{\"image_ids\": [\"img_1\"]}'\n  \
head -c 32 /dev/urandom | base64 > maia-host.token\n  \
maia host serve --model world-cnn --listen 0.0.0.0:7878 --token-file maia-host.token\n  \
maia call --target remote:gpu-box:7878,token-file=maia-host.token …\n\n\
Anyone who can connect can use the model, so the host listens beyond loopback only with a shared \
token (--token-file, or MAIA_HOST_TOKEN); clients send the same token (MAIA_HOST_TOKEN, or \
--target remote:ADDR,token-file=PATH). The token is not encrypted on the wire: across untrusted \
networks use an SSH tunnel or a VPN. Stop the host with ctrl-c (twice to drop running requests)."
)]
pub struct ServeArgs {
    /// The model to serve: any --target spec (torch:MODEL.pt, world-cnn, world-vit, synthetic:NAME, …).
    #[arg(long, value_name = "SPEC")]
    pub model: String,
    /// Where a torch model runs: cpu, cuda, cuda:N or auto.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// Run a torch model in float16 (CUDA only).
    #[arg(long)]
    pub half: bool,
    /// Feature units: --sae and --directions.
    #[command(flatten)]
    pub features: crate::feature_args::FeatureArgs,
    /// Where to listen: HOST:PORT (port 0 picks a free one) or unix:PATH.
    #[arg(long, value_name = "ADDR", default_value = DEFAULT_ADDR)]
    pub listen: String,
    /// How long a request waits for others to share its model call, in milliseconds (less
    /// when every connected client already has a request waiting).
    #[arg(long, value_name = "MS", default_value_t = 5)]
    pub batch_window_ms: u64,
    /// Most images in one model call.
    #[arg(long, value_name = "IMAGES", default_value_t = 64)]
    pub max_batch: usize,
    /// A file holding the shared token clients must send (default: the MAIA_HOST_TOKEN
    /// environment variable). Required to listen on an address other machines can reach.
    #[arg(long, value_name = "PATH")]
    pub token_file: Option<PathBuf>,
    /// Print the counters this often while requests come in, in seconds (0: only at exit).
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub stats_every: u64,
    /// Do not print a line per client connecting and leaving.
    #[arg(long)]
    pub quiet: bool,
}

/// Options of `maia host info`.
#[derive(clap::Args, Debug)]
pub struct InfoArgs {
    /// The host: HOST:PORT, tcp://HOST:PORT or unix:PATH.
    #[arg(default_value = DEFAULT_ADDR)]
    pub addr: String,
    /// A file holding the host's token, for a host that requires one (default: the
    /// MAIA_HOST_TOKEN environment variable).
    #[arg(long, value_name = "PATH")]
    pub token_file: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// The token from `--token-file`, else from MAIA_HOST_TOKEN.
fn token(file: Option<&Path>) -> Result<Option<ServerToken>> {
    Ok(match file {
        Some(path) => Some(ServerToken::from_file(path)?),
        None => ServerToken::from_env()?,
    })
}

/// Runs a `maia host` subcommand.
pub fn run(cmd: HostCommand) -> Result<ExitCode> {
    match cmd {
        HostCommand::Serve(args) => serve(args),
        HostCommand::Info(args) => info(args),
    }
}

fn serve(args: ServeArgs) -> Result<ExitCode> {
    if args.model.trim().starts_with("remote:") {
        bail!(
            "`{}` is already served by a host; point clients at it with --target {} instead of serving it again",
            args.model,
            args.model.trim()
        );
    }
    let listen: ServerAddr = args.listen.parse()?;
    let token = token(args.token_file.as_deref())?;
    let torch = TorchOptions {
        device: args.device.clone(),
        half: args.half,
        sae: args.features.sae.clone(),
        directions: args.features.directions.clone(),
    };
    let model: Arc<dyn TargetModel> = Arc::from(
        open_target_with(&args.model, &torch).with_context(|| format!("loading {}", args.model))?,
    );
    let config = ServerConfig {
        listen,
        batch_window: Duration::from_millis(args.batch_window_ms),
        max_batch: args.max_batch,
        token: token.clone(),
        stop_on_signal: true,
        stats_every: (args.stats_every > 0).then(|| Duration::from_secs(args.stats_every)),
        ..ServerConfig::default()
    };
    let host = ActivationServer::start(model.clone(), config)?;
    // The first line is for scripts and tests: the address, with the real port. Output
    // errors are ignored from here on: a host whose terminal went away keeps serving.
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(
        stdout,
        "listening on {addr}\nserving {} — runs reach it with --target remote:{addr}",
        describe(model.info()),
        addr = host.address()
    );
    if token.is_some() {
        let from = args
            .token_file
            .as_ref()
            .map_or_else(|| TOKEN_ENV.to_owned(), |p| p.display().to_string());
        let _ = writeln!(
            stdout,
            "clients must send the token from {from} ({TOKEN_ENV}, or --target remote:{},token-file=PATH)",
            host.address()
        );
    }
    let _ = stdout.flush();
    drop(stdout);
    let say = |line: String| {
        let _ = writeln!(std::io::stderr(), "{line}");
    };
    loop {
        match host.next_event(Duration::from_millis(500)) {
            Some(ServerEvent::Connected { client }) if !args.quiet => {
                say(format!("{client} connected"))
            }
            Some(ServerEvent::Disconnected { client }) if !args.quiet => {
                say(format!("{client} left"))
            }
            Some(ServerEvent::Connected { .. } | ServerEvent::Disconnected { .. }) => {}
            Some(ServerEvent::Stats(stats)) => say(format!("stats: {stats}")),
            Some(ServerEvent::Warning(warning)) => say(format!("warning: {warning}")),
            Some(ServerEvent::Stopping { reason }) => {
                say(format!("{reason}: stopping, finishing running requests"))
            }
            Some(ServerEvent::Stopped(stats)) => {
                say(format!("stopped; {stats}"));
                break;
            }
            None if !host.is_running() => break,
            None => {}
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn info(args: InfoArgs) -> Result<ExitCode> {
    let remote = match args.token_file.as_deref() {
        // The address may carry its own `,token-file=PATH`, read by `connect`.
        None => RemoteModel::connect(&args.addr)?,
        Some(file) => RemoteModel::connect_to(args.addr.parse()?, token(Some(file))?)?,
    };
    let stats = remote.stats()?;
    let hello = remote.hello();
    if args.json {
        let json = serde_json::json!({
            "address": remote.address().to_string(),
            "server": hello.server,
            "protocol": hello.protocol.to_string(),
            "model": hello.model,
            "fingerprint": hello.fingerprint,
            "stats": stats,
        });
        println!("{}", serde_json::to_string_pretty(&json)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "maia host at {} (maia {}, protocol {})",
        remote.address(),
        hello.server,
        hello.protocol
    );
    println!("serving {}", describe(&hello.model));
    let mut t = Table::new(&["LAYER", "UNITS", "MAP", "ADDRESS"]);
    for l in &hello.model.layers {
        t.row(vec![
            l.name.clone(),
            l.units.to_string(),
            format!("{}×{}", l.map_height, l.map_width),
            format!("{}:0 … {}:{}", l.name, l.name, l.units.saturating_sub(1)),
        ]);
    }
    print!("{}", t.render());
    println!("stats: {stats}");
    Ok(ExitCode::SUCCESS)
}

/// `NAME (KIND, input S×S, N layers, on DEVICE)`.
fn describe(info: &ModelInfo) -> String {
    format!(
        "{} ({}, input {}×{}, {} layer{}, on {})",
        info.name,
        info.kind,
        info.input_size,
        info.input_size,
        info.layers.len(),
        if info.layers.len() == 1 { "" } else { "s" },
        info.device
    )
}
