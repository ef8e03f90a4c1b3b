//! The channel a backend streams its events through.

use super::{LlmError, LlmEvent};
use tokio::sync::mpsc;

/// Receiving end: what [`super::LlmBackend::stream`] returns.
#[derive(Debug)]
pub struct EventStream {
    rx: mpsc::Receiver<Result<LlmEvent, LlmError>>,
}

/// Sending end, held by the backend's task.
#[derive(Clone, Debug)]
pub struct EventSender {
    tx: mpsc::Sender<Result<LlmEvent, LlmError>>,
}

/// A bounded event channel.
pub fn channel() -> (EventSender, EventStream) {
    let (tx, rx) = mpsc::channel(256);
    (EventSender { tx }, EventStream { rx })
}

impl EventStream {
    /// The next event; `None` once the backend is done (after `Finish` or an error).
    pub async fn next(&mut self) -> Option<Result<LlmEvent, LlmError>> {
        self.rx.recv().await
    }

    /// A stream that yields one error and ends.
    pub fn failed(error: LlmError) -> Self {
        let (tx, stream) = channel();
        // The channel is fresh and bounded above one, so this cannot fail.
        let _ = tx.tx.try_send(Err(error));
        stream
    }
}

impl EventSender {
    /// Sends an event; `false` when the receiver is gone (the agent stopped listening).
    pub async fn send(&self, event: LlmEvent) -> bool {
        self.tx.send(Ok(event)).await.is_ok()
    }

    /// Sends the final error.
    pub async fn fail(&self, error: LlmError) {
        let _ = self.tx.send(Err(error)).await;
    }
}
