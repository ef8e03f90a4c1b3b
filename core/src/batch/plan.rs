//! Planning a batch: the manifest (`batch.toml`), the unit list (`units.txt`) and the
//! Slurm job-array script (`batch.sbatch`); and reading them back, refusing a folder
//! written in another format version with a message that says what to do.

use super::{
    BatchError, FORMAT, LOGS_DIR, MANIFEST_FILE, RUNS_DIR, SBATCH_FILE, UNITS_FILE, io_err,
};
use crate::config::Config;
use crate::quote::shell_word;
use crate::target::UnitRef;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Where the array tasks' workers reach the target model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum HostMode {
    /// Each worker opens the target itself (synthetic units, a small model, CPU).
    None,
    /// Each array task first starts its own `maia host serve` on a unix socket in its
    /// temporary folder, points its worker at it, and stops it when the task ends.
    PerTask,
    /// Every task uses one running host at this address (`HOST:PORT`, `unix:PATH`).
    Remote(String),
}

impl fmt::Display for HostMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostMode::None => f.write_str("none"),
            HostMode::PerTask => f.write_str("per-task"),
            HostMode::Remote(addr) => write!(f, "remote:{addr}"),
        }
    }
}

impl FromStr for HostMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "none" | "" => Ok(HostMode::None),
            "per-task" => Ok(HostMode::PerTask),
            other => match other.strip_prefix("remote:") {
                Some(addr) if !addr.is_empty() => Ok(HostMode::Remote(addr.to_owned())),
                _ => Err(format!(
                    "`{s}` is not a host mode: write per-task (each task starts its own `maia host serve`), remote:ADDR (all tasks use one host) or none"
                )),
            },
        }
    }
}

impl TryFrom<String> for HostMode {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<HostMode> for String {
    fn from(h: HostMode) -> String {
        h.to_string()
    }
}

/// `#SBATCH` settings of the job array.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SlurmOptions {
    /// `--partition`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    /// GPUs per array task (`--gres=gpu:G`; 0: none asked).
    pub gpus: u32,
    /// `--time` per array task (`HH:MM:SS`, `D-HH:MM`, minutes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    /// Array tasks running at once (`--array=…%N`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u32>,
    /// `--cpus-per-task`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpus_per_task: Option<u32>,
    /// `--mem` per task (e.g. `16G`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mem: Option<String>,
    /// Further `#SBATCH` lines, without the prefix (`--account=proj42`).
    pub extra: Vec<String>,
}

/// How each worker opens the target and its tools: what `maia batch work` needs beyond
/// the resolved config.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkerOptions {
    /// Where a torch model runs (`auto`, `cpu`, `cuda:N`).
    pub device: String,
    /// float16 (CUDA only).
    pub half: bool,
    /// Exemplars kept per unit.
    pub k: usize,
    /// Plugin flags as given to `plan` (`--plugin PATH`, `--no-default-plugins`,
    /// `--allow-net NAME`, …), passed to every worker.
    pub plugin_args: Vec<String>,
}

/// `batch.toml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchManifest {
    /// The folder format ([`FORMAT`]).
    pub format: u32,
    /// The maia that wrote it.
    pub maia_version: String,
    /// When it was planned (UNIX ms).
    pub created_ms: u64,
    /// Slurm job name.
    pub name: String,
    /// Target spec (`world-cnn`, `torch:…`, `synthetic:all`, `remote:…`).
    pub target: String,
    /// `--units` as given.
    pub units_spec: String,
    /// Units in `units.txt`.
    pub units: usize,
    /// Task (a file under `prompts/tasks/`).
    pub task: String,
    /// Units per shard (array task).
    pub shard_size: usize,
    /// Shards (array tasks): `ceil(units / shard_size)`.
    pub shards: usize,
    /// The `maia` binary the array tasks run (`$MAIA_BIN` overrides it at run time).
    pub maia: PathBuf,
    /// Where workers reach the target.
    pub host: HostMode,
    /// Job-array settings.
    pub slurm: SlurmOptions,
    /// Worker settings.
    pub worker: WorkerOptions,
    /// The resolved configuration of every unit's run (no secrets: keys stay in the
    /// environment; `run.unit` is set per unit, `run.runs_dir` is `OUT/runs`).
    pub config: Config,
}

impl BatchManifest {
    /// The units of shard `shard` (empty past the last shard).
    pub fn shard<'a>(&self, units: &'a [UnitRef], shard: usize) -> &'a [UnitRef] {
        let size = self.shard_size.max(1);
        let start = shard.saturating_mul(size).min(units.len());
        let end = start.saturating_add(size).min(units.len());
        &units[start..end]
    }

    /// The shard unit number `index` (in `units.txt` order) belongs to.
    pub fn shard_of(&self, index: usize) -> usize {
        index / self.shard_size.max(1)
    }
}

/// What `maia batch plan` decided; [`write_plan`] turns it into a folder.
#[derive(Clone, Debug)]
pub struct PlanOptions {
    /// The manifest (with `units`, `shards` filled in by [`PlanOptions::manifest`]).
    pub manifest: BatchManifest,
    /// The units.
    pub units: Vec<UnitRef>,
    /// Replace a folder that holds something else, or a batch of other units.
    pub force: bool,
}

/// Shard count for `units` units of `shard_size` each.
pub fn shard_count(units: usize, shard_size: usize) -> usize {
    units.div_ceil(shard_size.max(1))
}

/// Slurm's default `MaxArraySize`: array indices must stay below it (0..=1000). Clusters
/// may raise or lower it (`scontrol show config | grep MaxArraySize`).
pub const SLURM_DEFAULT_MAX_ARRAY_SIZE: usize = 1001;

/// When `shards` array tasks exceed Slurm's default `MaxArraySize`, what to do about it:
/// the smallest `--shard-size` that fits, for `units` units.
pub fn array_size_warning(units: usize, shards: usize) -> Option<String> {
    if shards <= SLURM_DEFAULT_MAX_ARRAY_SIZE {
        return None;
    }
    let fits = units.div_ceil(SLURM_DEFAULT_MAX_ARRAY_SIZE);
    Some(format!(
        "this array has {shards} tasks (indices 0..={last}) but Slurm's default MaxArraySize is {max}: \
         sbatch will refuse it unless the cluster raised the limit (`scontrol show config | grep MaxArraySize`). \
         Re-plan with --shard-size {fits} or more (or --shards {max} or fewer) with --force",
        last = shards - 1,
        max = SLURM_DEFAULT_MAX_ARRAY_SIZE,
    ))
}

fn is_empty_dir(dir: &Path) -> Result<bool, BatchError> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => Ok(entries.next().is_none()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(io_err(dir)(e)),
    }
}

/// Writes the batch folder `out`: `batch.toml`, `units.txt`, `batch.sbatch` (executable),
/// `runs/` and `logs/`. A folder that holds anything but a batch of the same units is
/// refused unless `force`; run folders already in `runs/` are kept either way (their
/// finished units are reused, unfinished ones resumed).
pub fn write_plan(out: &Path, plan: &PlanOptions) -> Result<(), BatchError> {
    if plan.units.is_empty() {
        return Err(BatchError::Units("the batch has no units".into()));
    }
    if !is_empty_dir(out)? && !plan.force {
        if !out.join(MANIFEST_FILE).is_file() {
            return Err(BatchError::Exists(format!(
                "{} is not empty and holds no batch; plan into a new folder, or pass --force to write the batch there anyway",
                out.display()
            )));
        }
        if let Ok((_, old)) = load_batch(out)
            && old != plan.units
        {
            return Err(BatchError::Exists(format!(
                "{} already holds a batch of other units ({} units, planned with `{}`); plan into a new folder, or pass --force to replace the plan (finished runs of units in both are kept)",
                out.display(),
                old.len(),
                read_manifest_value(out, "units_spec").unwrap_or_default()
            )));
        }
    }
    for dir in [out.to_path_buf(), out.join(RUNS_DIR), out.join(LOGS_DIR)] {
        std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
    }
    let out = std::path::absolute(out).map_err(io_err(out))?;
    let units_text: String = plan.units.iter().map(|u| format!("{u}\n")).collect();
    write_atomic(&out.join(UNITS_FILE), units_text.as_bytes())?;
    let manifest_text = format!(
        "# maia batch manifest: written by `maia batch plan`, read by every worker.\n# Keys of the model providers are never stored here; they come from the environment.\n{}",
        toml::to_string_pretty(&plan.manifest).map_err(|e| BatchError::Manifest {
            path: out.join(MANIFEST_FILE),
            message: e.to_string(),
        })?
    );
    write_atomic(&out.join(MANIFEST_FILE), manifest_text.as_bytes())?;
    let script = out.join(SBATCH_FILE);
    write_atomic(&script, sbatch_script(&plan.manifest, &out).as_bytes())?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
            .map_err(io_err(&script))?;
    }
    Ok(())
}

fn read_manifest_value(out: &Path, key: &str) -> Option<String> {
    let text = std::fs::read_to_string(out.join(MANIFEST_FILE)).ok()?;
    let table: toml::Table = text.parse().ok()?;
    table.get(key)?.as_str().map(str::to_owned)
}

/// Writes `bytes` beside `path` and renames it into place.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), BatchError> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(io_err(path))
}

/// Reads a batch folder: its manifest (format checked first) and its units.
pub fn load_batch(out: &Path) -> Result<(BatchManifest, Vec<UnitRef>), BatchError> {
    let path = out.join(MANIFEST_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(BatchError::NotABatch {
                dir: out.to_path_buf(),
            });
        }
        Err(e) => return Err(io_err(&path)(e)),
    };
    let bad = |message: String| BatchError::Manifest {
        path: path.clone(),
        message,
    };
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| bad(format!("not valid TOML ({})", e.message())))?;
    let written_by = table
        .get("maia_version")
        .and_then(|v| v.as_str())
        .unwrap_or("(unknown)")
        .to_owned();
    let found = table
        .get("format")
        .and_then(|v| v.as_integer())
        .ok_or_else(|| bad("no `format` number: not a batch manifest".into()))?;
    if found != i64::from(FORMAT) {
        let hint = if found < i64::from(FORMAT) {
            format!(
                "Re-plan it with this maia (`maia batch plan … --force {}`): finished runs under runs/ are kept and reused",
                out.display()
            )
        } else {
            format!(
                "Use maia {written_by} or newer to work on it, or plan a new batch with this one"
            )
        };
        return Err(BatchError::Format {
            dir: out.to_path_buf(),
            found,
            written_by,
            hint,
        });
    }
    let manifest: BatchManifest = toml::Value::Table(table)
        .try_into()
        .map_err(|e: toml::de::Error| bad(e.message().to_owned()))?;
    let units_path = out.join(UNITS_FILE);
    let units_text = std::fs::read_to_string(&units_path).map_err(io_err(&units_path))?;
    let mut units = Vec::new();
    for (i, line) in units_text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let unit = line.parse::<UnitRef>().map_err(|e| BatchError::Manifest {
            path: units_path.clone(),
            message: format!("line {}: {e}", i + 1),
        })?;
        units.push(unit);
    }
    if units.len() != manifest.units {
        return Err(BatchError::Manifest {
            path: units_path,
            message: format!(
                "{} units, but {MANIFEST_FILE} says {}",
                units.len(),
                manifest.units
            ),
        });
    }
    Ok((manifest, units))
}

/// The `--array` value for `shards` (all when `only` is `None`), with `%N` when the
/// manifest limits concurrency: `0-15%4`, `3,7,9%4`.
pub fn array_spec(manifest: &BatchManifest, only: Option<&[usize]>) -> String {
    let mut spec = match only {
        None => format!("0-{}", manifest.shards.saturating_sub(1)),
        Some(shards) => compress(shards),
    };
    if let Some(n) = manifest.slurm.concurrency {
        spec.push_str(&format!("%{n}"));
    }
    spec
}

/// `0,1,2,5,7,8` → `0-2,5,7-8`.
fn compress(shards: &[usize]) -> String {
    let mut sorted = shards.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut parts = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        let mut end = start;
        while i + 1 < sorted.len() && sorted[i + 1] == end + 1 {
            i += 1;
            end = sorted[i];
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
        i += 1;
    }
    parts.join(",")
}

/// The job-array script: `#SBATCH` lines from the manifest, then the worker for
/// `$SLURM_ARRAY_TASK_ID`, after starting its own `maia host serve` in per-task host mode.
/// `out` should be absolute (array tasks start in the submit directory, but logs and
/// runs must land in the batch folder whichever it is).
pub fn sbatch_script(m: &BatchManifest, out: &Path) -> String {
    let out_s = out.display().to_string();
    let mut s = String::from("#!/bin/bash\n");
    s.push_str(&format!(
        "# maia batch `{}`: {} units of {} ({}), {} shards of up to {}; written by maia {} (batch format {}).\n",
        m.name, m.units, m.target, m.units_spec, m.shards, m.shard_size, m.maia_version, m.format
    ));
    s.push_str(&format!(
        "# Submit with `maia batch submit {out_s}`; without Slurm, `maia batch run {out_s} --local N`\n# runs the same shards on this machine. Each task runs its shard's units one after another;\n# a unit already finished is skipped and one cut off is resumed from its journal.\n"
    ));
    let mut directive = |line: String| s.push_str(&format!("#SBATCH {line}\n"));
    directive(format!("--job-name={}", shell_word(&m.name)));
    directive(format!("--array={}", array_spec(m, None)));
    directive(format!(
        "--output={}",
        shell_word(&format!("{out_s}/{LOGS_DIR}/%A_%a.out"))
    ));
    if let Some(p) = &m.slurm.partition {
        directive(format!("--partition={}", shell_word(p)));
    }
    if m.slurm.gpus > 0 {
        directive(format!("--gres=gpu:{}", m.slurm.gpus));
    }
    if let Some(t) = &m.slurm.time {
        directive(format!("--time={}", shell_word(t)));
    }
    if let Some(c) = m.slurm.cpus_per_task {
        directive(format!("--cpus-per-task={c}"));
    }
    if let Some(mem) = &m.slurm.mem {
        directive(format!("--mem={}", shell_word(mem)));
    }
    for extra in &m.slurm.extra {
        directive(extra.clone());
    }
    s.push_str("\nset -euo pipefail\n");
    s.push_str(&format!(
        "MAIA=\"${{MAIA_BIN:-{}}}\"\n",
        m.maia.display().to_string().replace('"', "\\\"")
    ));
    s.push_str(&format!("OUT={}\n", shell_word(&out_s)));
    s.push_str(&format!(
        "SHARD=\"${{SLURM_ARRAY_TASK_ID:?this is a job array: submit it with 'maia batch submit {out_s}', or run it without Slurm with 'maia batch run {out_s} --local N'}}\"\n"
    ));
    s.push_str("echo \"maia batch: shard $SHARD on $(hostname), job ${SLURM_ARRAY_JOB_ID:-?}_${SLURM_ARRAY_TASK_ID}\" >&2\n\n");
    match &m.host {
        HostMode::None => {
            s.push_str("exec \"$MAIA\" batch work \"$OUT\" --shard \"$SHARD\"\n");
        }
        HostMode::Remote(addr) => {
            s.push_str(&format!(
                "exec \"$MAIA\" batch work \"$OUT\" --shard \"$SHARD\" --target {}\n",
                shell_word(&format!("remote:{addr}"))
            ));
        }
        HostMode::PerTask => {
            let mut serve = format!(
                "\"$MAIA\" host serve --model {} --device {} --listen \"unix:$SOCK\" --quiet --stats-every 0",
                shell_word(&m.target),
                shell_word(if m.worker.device.is_empty() {
                    "auto"
                } else {
                    &m.worker.device
                })
            );
            if m.worker.half {
                serve.push_str(" --half");
            }
            s.push_str(&format!(
                "# This task's own model host: the model is loaded once and kept for every unit of the shard.\n\
SOCK=\"${{TMPDIR:-/tmp}}/maia-host-${{SLURM_JOB_ID:-$$}}-$SHARD.sock\"\n\
rm -f \"$SOCK\"\n\
{serve} &\n\
HOST_PID=$!\n\
trap 'kill \"$HOST_PID\" 2>/dev/null || true; wait \"$HOST_PID\" 2>/dev/null || true; rm -f \"$SOCK\"' EXIT\n\
for _ in $(seq 1 600); do\n\
  [ -S \"$SOCK\" ] && break\n\
  kill -0 \"$HOST_PID\" 2>/dev/null || {{ echo \"maia batch: maia host serve exited before listening (see above)\" >&2; exit 1; }}\n\
  sleep 1\n\
done\n\
[ -S \"$SOCK\" ] || {{ echo \"maia batch: maia host serve did not listen on $SOCK within 600 s\" >&2; exit 1; }}\n\
\"$MAIA\" batch work \"$OUT\" --shard \"$SHARD\" --target \"remote:unix:$SOCK\"\n"
            ));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn arrays_past_slurms_default_limit_are_warned_with_a_shard_size_that_fits() {
        assert_eq!(array_size_warning(8_008, 1_001), None);
        let warning = array_size_warning(9_216, 1_152).unwrap_or_default();
        assert!(warning.contains("1152 tasks"), "{warning}");
        assert!(warning.contains("--shard-size 10 "), "{warning}");
        assert!(shard_count(9_216, 10) <= SLURM_DEFAULT_MAX_ARRAY_SIZE);
        assert!(shard_count(9_216, 9) > SLURM_DEFAULT_MAX_ARRAY_SIZE);
    }

    use super::*;
    use crate::batch::MAIA_VERSION;

    fn manifest() -> BatchManifest {
        BatchManifest {
            format: FORMAT,
            maia_version: MAIA_VERSION.into(),
            created_ms: 0,
            name: "maia-conv3".into(),
            target: "world-cnn".into(),
            units_spec: "conv3:0..20".into(),
            units: 20,
            task: "describe-unit".into(),
            shard_size: 3,
            shards: shard_count(20, 3),
            maia: "/opt/maia/bin/maia".into(),
            host: HostMode::None,
            slurm: SlurmOptions::default(),
            worker: WorkerOptions::default(),
            config: Config::default(),
        }
    }

    fn directives(script: &str) -> Vec<&str> {
        script
            .lines()
            .filter_map(|l| l.strip_prefix("#SBATCH "))
            .collect()
    }

    #[test]
    fn the_script_asks_slurm_for_what_the_plan_says() {
        let mut m = manifest();
        assert_eq!(m.shards, 7);
        let plain = sbatch_script(&m, Path::new("/scratch/b"));
        assert_eq!(
            directives(&plain),
            [
                "--job-name=maia-conv3",
                "--array=0-6",
                "--output=/scratch/b/logs/%A_%a.out"
            ]
        );
        assert!(plain.starts_with("#!/bin/bash\n"));
        assert!(plain.contains("MAIA=\"${MAIA_BIN:-/opt/maia/bin/maia}\""));
        assert!(plain.contains("exec \"$MAIA\" batch work \"$OUT\" --shard \"$SHARD\"\n"));
        assert!(!plain.contains("host serve"));

        m.slurm = SlurmOptions {
            partition: Some("gpu".into()),
            gpus: 2,
            time: Some("04:00:00".into()),
            concurrency: Some(4),
            cpus_per_task: Some(8),
            mem: None,
            extra: vec!["--account=proj42".into()],
        };
        m.host = HostMode::PerTask;
        m.worker.device = "cuda".into();
        let script = sbatch_script(&m, Path::new("/scratch/my batch"));
        assert_eq!(
            directives(&script),
            [
                "--job-name=maia-conv3",
                "--array=0-6%4",
                "--output='/scratch/my batch/logs/%A_%a.out'",
                "--partition=gpu",
                "--gres=gpu:2",
                "--time=04:00:00",
                "--cpus-per-task=8",
                "--account=proj42"
            ]
        );
        assert!(script.contains(
            "\"$MAIA\" host serve --model world-cnn --device cuda --listen \"unix:$SOCK\""
        ));
        assert!(script.contains("trap '"));
        assert!(script.contains("--target \"remote:unix:$SOCK\"\n"));

        m.host = HostMode::Remote("gpu-box:7878".into());
        let script = sbatch_script(&m, Path::new("/b"));
        assert!(script.contains("--shard \"$SHARD\" --target remote:gpu-box:7878\n"));
    }

    #[test]
    fn arrays_of_some_shards_are_compressed() {
        let mut m = manifest();
        assert_eq!(array_spec(&m, Some(&[5, 0, 1, 2, 7, 8])), "0-2,5,7-8");
        m.slurm.concurrency = Some(2);
        assert_eq!(array_spec(&m, Some(&[3])), "3%2");
        assert_eq!(
            m.shard(
                &vec![
                    UnitRef {
                        layer: "a".into(),
                        unit: 0
                    };
                    20
                ],
                6
            )
            .len(),
            2
        );
        assert_eq!(m.shard_of(8), 2);
    }

    #[test]
    fn host_modes_parse_and_print() {
        for text in [
            "none",
            "per-task",
            "remote:gpu-box:7878",
            "remote:unix:/tmp/h.sock",
        ] {
            let mode: HostMode = text.parse().unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(mode.to_string(), text);
        }
        assert!("remote:".parse::<HostMode>().is_err());
        assert!("everywhere".parse::<HostMode>().is_err());
    }

    #[test]
    fn manifests_round_trip_and_other_formats_are_refused() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let units: Vec<UnitRef> = (0..20)
            .map(|unit| UnitRef {
                layer: "conv3".into(),
                unit,
            })
            .collect();
        let plan = PlanOptions {
            manifest: manifest(),
            units: units.clone(),
            force: false,
        };
        write_plan(dir.path(), &plan).unwrap_or_else(|e| panic!("{e}"));
        let (back, back_units) = load_batch(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, plan.manifest);
        assert_eq!(back_units, units);
        // Re-planning the same units is fine; other units need --force.
        write_plan(dir.path(), &plan).unwrap_or_else(|e| panic!("{e}"));
        let other = PlanOptions {
            units: units[..4].to_vec(),
            ..plan.clone()
        };
        let err = write_plan(dir.path(), &other)
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("already holds a batch of other units"),
            "{err}"
        );

        let path = dir.path().join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        std::fs::write(&path, text.replace("format = 1", "format = 99")).unwrap_or_default();
        let err = load_batch(dir.path()).map(|_| ()).unwrap_err().to_string();
        assert!(
            err.contains("batch format 99") && err.contains("or newer"),
            "{err}"
        );
    }
}
