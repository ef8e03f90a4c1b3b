//! [`CallContext`]: maia's side of the SDK's [`maia_plugin_sdk::Host`] trait — what a tool
//! can reach during one call (the run's images, the target unit, logs and progress, HTTP and
//! its settings). Not to be confused with the activation server ([`crate::activation_server`],
//! `maia host`) or the plugin runtimes that load tools ([`crate::plugins`]).

use crate::images::ImageStore;
use maia_plugin_sdk::{Host, Image, ImageId, LogLevel, ToolError, UnitActivation};

/// Runs the target unit on stored images; provided by whoever owns the target model.
pub trait UnitCaller: Send + Sync {
    /// Activation (and optional mask id) per image.
    fn call_unit(&self, images: &[ImageId]) -> Result<Vec<UnitActivation>, ToolError>;
}

/// A log line or progress report emitted by a plugin during a call.
#[derive(Clone, Debug, PartialEq)]
pub enum PluginEvent {
    /// `done` of `total` steps.
    Progress {
        /// Steps done.
        done: u64,
        /// Steps in all.
        total: u64,
    },
    /// A log line.
    Log {
        /// Severity.
        level: LogLevel,
        /// Text.
        message: String,
    },
}

/// The services lent to a plugin for one call: the run's images, the target unit (if
/// any), and a sink for progress and log events.
pub struct CallContext<'a> {
    images: &'a ImageStore,
    unit: Option<&'a dyn UnitCaller>,
    events: Vec<PluginEvent>,
}

impl<'a> CallContext<'a> {
    /// A host over an image store, with no target unit.
    pub fn new(images: &'a ImageStore) -> Self {
        CallContext {
            images,
            unit: None,
            events: Vec::new(),
        }
    }

    /// Lends a target unit.
    pub fn with_unit(mut self, unit: &'a dyn UnitCaller) -> Self {
        self.unit = Some(unit);
        self
    }

    /// Progress and log events the plugin emitted so far.
    pub fn events(&self) -> &[PluginEvent] {
        &self.events
    }
}

impl Host for CallContext<'_> {
    fn image(&mut self, id: &ImageId) -> Result<Image, ToolError> {
        self.images.get_or_error(id).map(|arc| (*arc).clone())
    }

    fn call_unit(&mut self, images: &[ImageId]) -> Result<Vec<UnitActivation>, ToolError> {
        match self.unit {
            Some(unit) => unit.call_unit(images),
            None => Err(ToolError::failed(
                "no target unit in this session: start a run with --target/--unit to call units",
            )),
        }
    }

    fn progress(&mut self, done: u64, total: u64) {
        self.events.push(PluginEvent::Progress { done, total });
    }

    fn log(&mut self, level: LogLevel, message: &str) {
        self.events.push(PluginEvent::Log {
            level,
            message: message.to_owned(),
        });
    }
}
