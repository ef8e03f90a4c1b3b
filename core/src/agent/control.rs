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
}
