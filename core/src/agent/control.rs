//! What a human can tell a running agent (from the TUI's oversight keys).

/// A command to the agent loop; takes effect between steps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Control {
    /// Pause after the current step (`true`) or go on (`false`).
    Pause(bool),
    /// Add a note to the next message to the model (journaled as [`super::Event::Note`]).
    Note(String),
    /// Stop experimenting: the model is told to give its final answer now.
    ForceAnswer,
    /// End the run now without an answer (resumable).
    Quit,
    /// End the run now without an answer (resumable), for this reason (journaled in
    /// `run_ended`): how a batch worker passes on a signal.
    Stop(String),
}

impl Control {
    /// Why the run ends, when this control ends it.
    pub fn stop_reason(&self) -> Option<String> {
        match self {
            Control::Quit => Some("stopped by the user (resumable)".into()),
            Control::Stop(reason) => Some(reason.clone()),
            _ => None,
        }
    }
}
