//! Training progress as plain lines, for a log as much as for a terminal.
//!
//! A command that needs the world CNN and finds no cached model trains it on the spot
//! (minutes on a laptop-class CPU). A progress bar says nothing in a batch log or under
//! `nohup`, so the lines here are plain text: one when a phase starts (rendering, each
//! epoch, held-out accuracy, export) and otherwise at most one per interval.

use super::TrainProgress;
use std::time::{Duration, Instant};

/// Turns [`TrainProgress`] reports into occasional one-line summaries.
#[derive(Debug)]
pub struct ProgressLog {
    label: &'static str,
    interval: Duration,
    last_line: Option<Instant>,
    last_phase: Option<Phase>,
}

/// What is being done; a change of phase always gets a line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Rendering,
    Epoch(usize),
    Evaluating,
    Exporting,
}

impl ProgressLog {
    /// A log that writes at least every `interval` while a phase goes on, its lines
    /// starting `world CNN:`.
    pub fn new(interval: Duration) -> Self {
        ProgressLog {
            label: "world CNN",
            interval,
            last_line: None,
            last_phase: None,
        }
    }

    /// The same log, its lines starting with `label` (`world ViT`) instead.
    pub fn with_label(mut self, label: &'static str) -> Self {
        self.label = label;
        self
    }

    /// The line to write for `progress` reported at `now`, if one is due.
    pub fn line(&mut self, progress: &TrainProgress, now: Instant) -> Option<String> {
        let phase = match progress {
            TrainProgress::Rendering { .. } => Phase::Rendering,
            TrainProgress::Step { epoch, .. } => Phase::Epoch(*epoch),
            TrainProgress::Evaluating => Phase::Evaluating,
            TrainProgress::Exporting => Phase::Exporting,
        };
        let new_phase = self.last_phase != Some(phase);
        let due = self
            .last_line
            .is_none_or(|t| now.saturating_duration_since(t) >= self.interval);
        let finished = matches!(progress,
            TrainProgress::Rendering { done, total } if done == total);
        if !(new_phase || due || finished) {
            return None;
        }
        self.last_phase = Some(phase);
        self.last_line = Some(now);
        Some(format!("{}: {}", self.label, describe(progress)))
    }
}

/// One report in words.
fn describe(progress: &TrainProgress) -> String {
    match progress {
        TrainProgress::Rendering { done, total } => {
            format!("rendering scenes {done}/{total}")
        }
        TrainProgress::Step {
            epoch,
            epochs,
            step,
            total_steps,
            loss,
        } => format!(
            "epoch {epoch}/{epochs}, step {step}/{total_steps} ({:.0}%), loss {loss:.3}",
            100.0 * *step as f64 / (*total_steps).max(1) as f64
        ),
        TrainProgress::Evaluating => "measuring held-out accuracy".to_owned(),
        TrainProgress::Exporting => "writing TorchScript".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(epoch: usize, step: usize) -> TrainProgress {
        TrainProgress::Step {
            epoch,
            epochs: 3,
            step,
            total_steps: 30,
            loss: 1.25,
        }
    }

    #[test]
    fn a_line_per_phase_and_per_interval_not_per_report() {
        let t0 = Instant::now();
        let mut log = ProgressLog::new(Duration::from_secs(10));
        let rendering = |done| TrainProgress::Rendering { done, total: 100 };
        assert_eq!(
            log.line(&rendering(1), t0).as_deref(),
            Some("world CNN: rendering scenes 1/100")
        );
        assert_eq!(log.line(&rendering(2), t0 + Duration::from_secs(1)), None);
        assert!(
            log.line(&rendering(50), t0 + Duration::from_secs(11))
                .is_some()
        );
        assert_eq!(
            log.line(&rendering(100), t0 + Duration::from_secs(12))
                .as_deref(),
            Some("world CNN: rendering scenes 100/100"),
            "the end of a phase is always written"
        );
        let first = log.line(&step(1, 1), t0 + Duration::from_secs(12));
        assert_eq!(
            first.as_deref(),
            Some("world CNN: epoch 1/3, step 1/30 (3%), loss 1.250")
        );
        assert_eq!(log.line(&step(1, 2), t0 + Duration::from_secs(13)), None);
        assert!(
            log.line(&step(2, 11), t0 + Duration::from_secs(14))
                .is_some_and(|l| l.contains("epoch 2/3")),
            "a new epoch is a new phase"
        );
        assert_eq!(
            log.line(&TrainProgress::Exporting, t0 + Duration::from_secs(14))
                .as_deref(),
            Some("world CNN: writing TorchScript")
        );
        let mut vit = ProgressLog::new(Duration::from_secs(10)).with_label("world ViT");
        assert_eq!(
            vit.line(&TrainProgress::Evaluating, t0).as_deref(),
            Some("world ViT: measuring held-out accuracy")
        );
    }
}
