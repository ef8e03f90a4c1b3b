//! A private one-node Slurm cluster for a test (`scripts/slurm/cluster.sh` in a temp
//! dir, torn down on drop, panics included), and the Slurm commands a test drives it with:
//! the array tasks `squeue` lists, `scancel` of one task, `sbatch --test-only`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Set to `1` to skip the Slurm tests (a machine where no cluster can run: no root, no
/// slurm-wlm). Without it a cluster that cannot start fails the test with the reason.
pub const SKIP_VAR: &str = "MAIA_SKIP_SLURM";

/// A running private cluster; `down` on drop.
pub struct Cluster {
    dir: tempfile::TempDir,
    conf: PathBuf,
}

impl Cluster {
    /// Starts a cluster, or says why not: `Ok(None)` when [`SKIP_VAR`] is set and it cannot
    /// start (after printing why), a panic with the script's message and log tails otherwise.
    pub fn start_or_skip() -> Option<Cluster> {
        match Cluster::start() {
            Ok(cluster) => Some(cluster),
            Err(why) if std::env::var(SKIP_VAR).as_deref() == Ok("1") => {
                eprintln!("skipping the Slurm test ({SKIP_VAR}=1): {why}");
                None
            }
            Err(why) => panic!(
                "cannot start a private Slurm cluster: {why}\n\
                 (install slurm-wlm and munge with scripts/install-deps.sh, \
                 or set {SKIP_VAR}=1 to skip this test)"
            ),
        }
    }

    /// Runs `cluster.sh up` in a fresh temp dir, with this process as the owner whose end
    /// stops the cluster even where `Drop` never runs (SIGKILL, Ctrl-C).
    pub fn start() -> Result<Cluster, String> {
        let dir = tempfile::Builder::new()
            .prefix("maia-slurm-")
            .tempdir()
            .map_err(|e| format!("temp dir: {e}"))?;
        let out = Command::new("bash")
            .arg(script())
            .arg("up")
            .arg(dir.path())
            .arg("--owner")
            .arg(std::process::id().to_string())
            .output()
            .map_err(|e| format!("bash {}: {e}", script().display()))?;
        let conf = dir.path().join("slurm.conf");
        let cluster = Cluster { dir, conf };
        if !out.status.success() {
            // Drop runs `down` for whatever did start.
            return Err(format!(
                "{} up exited with {}:\n{}{}",
                script().display(),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(cluster)
    }

    /// A Slurm client command pointed at this cluster.
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.env("SLURM_CONF", &self.conf);
        cmd
    }

    /// Points any command (e.g. `maia batch submit`) at this cluster.
    pub fn point<'c>(&self, cmd: &'c mut Command) -> &'c mut Command {
        cmd.env("SLURM_CONF", &self.conf)
    }

    /// Runs a Slurm client command; its stdout, or a panic with its stderr.
    pub fn run(&self, program: &str, args: &[&str]) -> String {
        let out = self
            .command(program)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("{program} starts: {e}"));
        assert!(
            out.status.success(),
            "{program} {args:?}: {}\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            self.log_tails()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The state of each task of array job `job` that the controller still knows of, by
    /// task index (`PENDING`, `RUNNING`, `COMPLETING`, `COMPLETED`, `CANCELLED`, …). A
    /// pending range (`5_[3-7]`) is expanded; `squeue -t all` keeps finished tasks for
    /// MinJobAge (300 s).
    pub fn tasks(&self, job: &str) -> BTreeMap<u32, String> {
        let out = self.run(
            "squeue",
            &["-h", "-t", "all", "-r", "-j", job, "-o", "%K %T"],
        );
        let mut tasks = BTreeMap::new();
        for line in out.lines() {
            let mut parts = line.split_whitespace();
            let (Some(index), Some(state)) = (parts.next(), parts.next()) else {
                continue;
            };
            if let Ok(index) = index.parse() {
                tasks.insert(index, state.to_owned());
            }
        }
        tasks
    }

    /// Cancels one task of an array job (`scancel JOB_TASK`).
    pub fn cancel_task(&self, job: &str, task: u32) {
        self.run("scancel", &[&format!("{job}_{task}")]);
    }

    /// `sbatch --test-only SCRIPT`: `Ok(what sbatch said)` if Slurm accepts the script.
    pub fn test_only(&self, script: &Path) -> Result<String, String> {
        let out = self
            .command("sbatch")
            .arg("--test-only")
            .arg(script)
            .output()
            .map_err(|e| format!("sbatch starts: {e}"))?;
        // sbatch --test-only writes its verdict to stderr.
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if out.status.success() {
            Ok(said)
        } else {
            Err(said)
        }
    }

    /// The last lines of the daemons' logs, for a failure message.
    pub fn log_tails(&self) -> String {
        let mut text = String::new();
        for name in ["slurmctld.log", "slurmd.log"] {
            let path = self.dir.path().join(name);
            let Ok(log) = std::fs::read_to_string(&path) else {
                continue;
            };
            let lines: Vec<&str> = log.lines().collect();
            let tail = &lines[lines.len().saturating_sub(20)..];
            text += &format!(
                "\n--- last lines of {}\n{}\n",
                path.display(),
                tail.join("\n")
            );
        }
        text
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Cancels the jobs, stops the daemons; the temp dir goes after.
        let _ = Command::new("bash")
            .arg(script())
            .arg("down")
            .arg(self.dir.path())
            .status();
    }
}

/// `scripts/slurm/cluster.sh`.
fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/slurm/cluster.sh")
}

/// Polls `done` every 50 ms until it gives a value; panics after `limit` with `what` and
/// the last thing `describe` says about the state.
pub fn wait_for<T>(
    limit: Duration,
    what: &str,
    mut done: impl FnMut() -> Option<T>,
    describe: impl Fn() -> String,
) -> T {
    let start = Instant::now();
    loop {
        if let Some(value) = done() {
            return value;
        }
        if start.elapsed() > limit {
            panic!("waited {limit:?} for {what}; {}", describe());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
