//! The values that cross between maia and a tool: specs, calls, outputs, images, errors.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;

/// What the agent sees of a tool: its name, what it does, and the JSON Schema of its
/// arguments. The host validates every call against `parameters` before the plugin sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    /// Unique tool name, `snake_case` (e.g. `grayscale`).
    pub name: String,
    /// One or two sentences for the agent: what the tool does and when to use it.
    pub description: String,
    /// JSON Schema (draft 2020-12) of the `args` object.
    pub parameters: Value,
    /// What the output holds, in words.
    #[serde(default)]
    pub returns: String,
    /// Example argument objects. `maia plugin check` calls the tool with each one.
    #[serde(default)]
    pub examples: Vec<Value>,
}

impl ToolSpec {
    /// A spec with a name, description and parameter schema; add returns/examples with
    /// the builder methods.
    pub fn new(name: impl Into<String>, description: impl Into<String>, parameters: Value) -> Self {
        ToolSpec {
            name: name.into(),
            description: description.into(),
            parameters,
            returns: String::new(),
            examples: Vec::new(),
        }
    }

    /// Describes the output.
    pub fn returns(mut self, returns: impl Into<String>) -> Self {
        self.returns = returns.into();
        self
    }

    /// Adds an example argument object.
    pub fn example(mut self, args: Value) -> Self {
        self.examples.push(args);
        self
    }
}

/// One call of a tool by the agent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// Call id assigned by the agent loop (unique within a run).
    pub id: String,
    /// Tool name.
    pub name: String,
    /// Arguments; already validated against the tool's schema when a plugin receives them.
    pub args: Value,
}

impl ToolCall {
    /// A call with the given id, tool name and arguments.
    pub fn new(id: impl Into<String>, name: impl Into<String>, args: Value) -> Self {
        ToolCall {
            id: id.into(),
            name: name.into(),
            args,
        }
    }

    /// Deserializes the arguments into a typed struct, mapping failure to `invalid_args`.
    pub fn parse_args<T: serde::de::DeserializeOwned>(&self) -> Result<T, ToolError> {
        serde_json::from_value(self.args.clone())
            .map_err(|e| ToolError::invalid_args(format!("arguments of `{}`: {e}", self.name)))
    }
}

/// Short id by which the agent and tools refer to an image in the run's image store
/// (`img_12`). Images a plugin creates have an empty id until the host stores them.
#[derive(
    Clone,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(transparent)]
#[schemars(description = "An image id such as img_3")]
pub struct ImageId(pub String);

impl ImageId {
    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True for an image not yet stored by the host.
    pub fn is_unassigned(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for ImageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for ImageId {
    fn from(s: &str) -> Self {
        ImageId(s.to_owned())
    }
}

impl From<String> for ImageId {
    fn from(s: String) -> Self {
        ImageId(s)
    }
}

/// An image: PNG bytes, a caption for the agent, and free-form JSON metadata (the shapes
/// world keeps its scene graph here; image generators keep prompt, model and seed).
#[derive(Clone, PartialEq)]
pub struct Image {
    /// Store id; empty for a newly created image.
    pub id: ImageId,
    /// Encoded PNG.
    pub png: Vec<u8>,
    /// Short caption shown with the image.
    pub caption: String,
    /// Metadata (JSON object or null).
    pub meta: Value,
}

impl Image {
    /// A new, not yet stored image.
    pub fn new(png: Vec<u8>, caption: impl Into<String>) -> Self {
        Image {
            id: ImageId::default(),
            png,
            caption: caption.into(),
            meta: Value::Null,
        }
    }

    /// Attaches metadata.
    pub fn with_meta(mut self, meta: Value) -> Self {
        self.meta = meta;
        self
    }
}

impl fmt::Debug for Image {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Image")
            .field("id", &self.id)
            .field("png_bytes", &self.png.len())
            .field("caption", &self.caption)
            .field("meta", &self.meta)
            .finish()
    }
}

/// What a tool returns: text for the agent, images, and structured data.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ToolOutput {
    /// Text the agent reads (results, warnings, what the tool did).
    pub text: String,
    /// Images produced; the host stores them and tells the agent their ids.
    pub images: Vec<Image>,
    /// Structured data for programs (journal, evaluation); `null` when none.
    pub data: Value,
}

impl ToolOutput {
    /// Output with text only.
    pub fn text(text: impl Into<String>) -> Self {
        ToolOutput {
            text: text.into(),
            images: Vec::new(),
            data: Value::Null,
        }
    }

    /// Adds an image.
    pub fn with_image(mut self, image: Image) -> Self {
        self.images.push(image);
        self
    }

    /// Sets the structured data.
    pub fn with_data(mut self, data: Value) -> Self {
        self.data = data;
        self
    }
}

/// Why a tool call failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The arguments were wrong (schema violation, unknown tool, unknown image id).
    InvalidArgs,
    /// The tool ran and failed (or panicked, or trapped).
    Failed,
    /// The call ran past its deadline.
    Timeout,
    /// The call tried something its permissions do not allow (file, network, env).
    Denied,
}

impl ErrorKind {
    /// The wire name: `invalid_args`, `failed`, `timeout`, `denied`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidArgs => "invalid_args",
            ErrorKind::Failed => "failed",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Denied => "denied",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A tool failure. The agent sees `kind` and `message`, so the message should say what
/// went wrong with the value that caused it and what to do instead.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolError {
    /// The class of failure.
    pub kind: ErrorKind,
    /// Human- and agent-readable explanation.
    pub message: String,
}

impl ToolError {
    /// An error of the given kind.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ToolError {
            kind,
            message: message.into(),
        }
    }

    /// The arguments were wrong.
    pub fn invalid_args(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgs, message)
    }

    /// The tool failed.
    pub fn failed(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Failed, message)
    }

    /// The call ran out of time.
    pub fn timeout(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Timeout, message)
    }

    /// The call was not permitted.
    pub fn denied(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Denied, message)
    }

    /// Maps an I/O error met while doing `what`: permission problems (including a sandbox
    /// with no granted directory or network) become `denied`, the rest `failed`.
    pub fn from_io(what: &str, err: &std::io::Error) -> Self {
        let text = err.to_string();
        let sandboxed = text.contains("pre-opened") || text.contains("preopen");
        if err.kind() == std::io::ErrorKind::PermissionDenied || sandboxed {
            Self::denied(format!(
                "{what}: {text} (the plugin has no permission for this)"
            ))
        } else {
            Self::failed(format!("{what}: {text}"))
        }
    }
}

impl ToolError {
    /// Like [`ToolError::from_io`], for an error met on a file `path`. In the wasm sandbox
    /// a path outside every directory the plugin was granted reads as *not found*
    /// (wasi-libc finds no preopened directory for it); when no directory above `path`
    /// is reachable either, that is reported as `denied`, not as a missing file.
    pub fn from_path_io(what: &str, path: &std::path::Path, err: &std::io::Error) -> Self {
        #[cfg(target_os = "wasi")]
        if err.kind() == std::io::ErrorKind::NotFound
            && !path
                .ancestors()
                .skip(1)
                .any(|dir| !dir.as_os_str().is_empty() && std::fs::metadata(dir).is_ok())
        {
            return Self::denied(format!(
                "{what}: {} is outside every directory granted to the plugin (the plugin has no permission for this; it must ask for the directory under [permissions] fs in plugin.toml, and the user grant it with --allow-fs)",
                path.display()
            ));
        }
        #[cfg(not(target_os = "wasi"))]
        let _ = path;
        Self::from_io(what, err)
    }
}

impl fmt::Display for ToolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

impl std::error::Error for ToolError {}

/// Severity of a plugin log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogLevel {
    /// Very detailed.
    Trace,
    /// Diagnostic.
    Debug,
    /// Normal.
    Info,
    /// Something looks wrong.
    Warn,
    /// Something failed.
    Error,
}

/// The target unit's response to one image, as `Host::call_unit` returns it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UnitActivation {
    /// The image the unit was run on.
    pub image: ImageId,
    /// Scalar activation (spatial max of the unit's map).
    pub activation: f32,
    /// Store id of the mask overlay showing where the unit fired, if the host made one.
    #[serde(default)]
    pub mask: Option<ImageId>,
}
