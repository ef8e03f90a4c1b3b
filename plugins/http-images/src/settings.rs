//! The plugin's settings: maia.toml's `[plugins.http-images]` table, as the host hands
//! it over (`Host::config`), plus the host's `cache_dir` and `no_cache`.

use maia_plugin_sdk::ToolError;
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// Which API the server speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// The OpenAI Images API (`/images/generations`, `/images/edits`), also served by
    /// compatible local servers.
    Openai,
    /// The AUTOMATIC1111 / Forge web UI API (`/sdapi/v1/txt2img`, `/sdapi/v1/img2img`).
    A1111,
}

impl Backend {
    /// Name as in maia.toml.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Openai => "openai",
            Backend::A1111 => "a1111",
        }
    }
}

/// What `edit_model` asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EditModel<'a> {
    /// An InstructPix2Pix checkpoint if the server lists one, else img2img.
    Auto,
    /// Always img2img.
    None,
    /// This checkpoint (checked against the server's list).
    Named(&'a str),
}

/// What maia.toml must hold for the plugin to work, for error messages.
pub const CONFIG_HINT: &str = "add to maia.toml:\n  [plugins.http-images]\n  backend = \"a1111\"   # or \"openai\"\n  base_url = \"http://127.0.0.1:7860\"   # openai: \"https://api.openai.com/v1\"";

/// Resolved settings.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// `openai` or `a1111`.
    pub backend: Backend,
    /// API root: `https://api.openai.com/v1`, `http://127.0.0.1:7860`.
    pub base_url: String,
    /// Model (`dall-e-2`, `gpt-image-1`; a1111: checkpoint name, empty for the loaded one).
    pub model: String,
    /// Side of the images the agent gets when a call gives no `size` (MAIA's 224).
    pub size: u32,
    /// Side of the square images asked of the server (diffusion models make poor images
    /// far from their training size); what comes back is resized to the requested size.
    /// 0: ask for the requested size itself.
    pub server_size: u32,
    /// Sampling steps (a1111).
    pub steps: u32,
    /// Classifier-free guidance scale (a1111).
    pub cfg_scale: f64,
    /// Sampler (a1111).
    pub sampler_name: String,
    /// Negative prompt (a1111).
    pub negative_prompt: String,
    /// img2img strength of an edit (a1111 edits without an InstructPix2Pix checkpoint).
    pub denoising_strength: f64,
    /// How a1111 edits are made ([`EditModel`]): `"auto"` (default) uses an
    /// InstructPix2Pix checkpoint when the server lists one, else img2img; `"none"` or
    /// `""` is always img2img; any other value names the InstructPix2Pix checkpoint to
    /// use, and an edit fails with the server's checkpoints if it has no such one.
    pub edit_model: String,
    /// Image guidance of InstructPix2Pix edits (a1111).
    pub image_cfg_scale: f64,
    /// Environment variable holding the API key (never the key itself).
    pub api_key_env: Option<String>,
    /// Requests in flight at once.
    pub max_concurrent: usize,
    /// Retries of a request after a 429, a 5xx, a timeout or a dropped connection.
    pub retries: u32,
    /// Deadline of one request, in seconds.
    pub timeout_s: f64,
    /// First backoff delay, in milliseconds (doubled per retry, with jitter).
    pub retry_base_ms: u64,
    /// Longest wait before a retry, in seconds (also caps Retry-After).
    pub retry_max_s: f64,
    /// Where generated images are cached (set by the host).
    pub cache_dir: Option<PathBuf>,
    /// Bypass the cache (set by the host from `--no-cache`).
    pub no_cache: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            backend: Backend::A1111,
            base_url: String::new(),
            model: String::new(),
            size: 224,
            server_size: 512,
            steps: 30,
            cfg_scale: 7.0,
            sampler_name: "Euler a".into(),
            negative_prompt: String::new(),
            denoising_strength: 0.6,
            edit_model: "auto".into(),
            image_cfg_scale: 1.5,
            api_key_env: None,
            max_concurrent: 4,
            retries: 4,
            timeout_s: 120.0,
            retry_base_ms: 1000,
            retry_max_s: 60.0,
            cache_dir: None,
            no_cache: false,
        }
    }
}

impl Settings {
    /// Reads the host's settings; a missing `base_url` or an unknown key is an error
    /// that says what to put in maia.toml.
    pub fn from_config(config: serde_json::Value) -> Result<Settings, ToolError> {
        let config = if config.is_null() {
            serde_json::json!({})
        } else {
            config
        };
        let mut s: Settings = serde_json::from_value(config).map_err(|e| {
            ToolError::invalid_args(format!(
                "http-images: bad [plugins.http-images] settings in maia.toml: {e}"
            ))
        })?;
        s.base_url = s.base_url.trim().trim_end_matches('/').to_owned();
        if s.base_url.is_empty() {
            return Err(ToolError::invalid_args(format!(
                "http-images has no server configured; {CONFIG_HINT}"
            )));
        }
        if !(s.base_url.starts_with("http://") || s.base_url.starts_with("https://")) {
            return Err(ToolError::invalid_args(format!(
                "http-images: base_url `{}` must start with http:// or https://",
                s.base_url
            )));
        }
        if s.model.is_empty() && s.backend == Backend::Openai {
            s.model = "dall-e-2".into();
        }
        if s.api_key_env.is_none() && s.backend == Backend::Openai {
            s.api_key_env = Some("OPENAI_API_KEY".into());
        }
        if !(s.timeout_s.is_finite() && s.timeout_s > 0.0) {
            s.timeout_s = 120.0;
        }
        if !(s.retry_max_s.is_finite() && s.retry_max_s >= 0.0) {
            s.retry_max_s = 60.0;
        }
        s.max_concurrent = s.max_concurrent.max(1);
        Ok(s)
    }

    /// What `edit_model` asks for (`auto` and `none` in any case; surrounding blanks
    /// ignored).
    pub fn edit_model(&self) -> EditModel<'_> {
        let name = self.edit_model.trim();
        if name.eq_ignore_ascii_case("auto") {
            EditModel::Auto
        } else if name.is_empty() || name.eq_ignore_ascii_case("none") {
            EditModel::None
        } else {
            EditModel::Named(name)
        }
    }

    /// The deadline of one request.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs_f64(self.timeout_s)
    }

    /// The API key from the environment, if the variable is set and not empty.
    pub fn api_key(&self) -> Option<String> {
        let var = self.api_key_env.as_deref().filter(|v| !v.is_empty())?;
        std::env::var(var).ok().filter(|k| !k.trim().is_empty())
    }

    /// The host (and port) of `base_url`, for the cache key and messages.
    pub fn server(&self) -> &str {
        let rest = self
            .base_url
            .split_once("://")
            .map_or(self.base_url.as_str(), |(_, r)| r);
        rest.split('/').next().unwrap_or(rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn missing_base_url_says_what_to_write() {
        let err = Settings::from_config(json!({"no_cache": false})).expect_err("no url");
        assert!(
            err.message.contains("[plugins.http-images]"),
            "{}",
            err.message
        );
        assert!(err.message.contains("base_url ="), "{}", err.message);
        let err =
            Settings::from_config(json!({"base_url": "http://h", "stpes": 3})).expect_err("typo");
        assert!(err.message.contains("stpes"), "{}", err.message);
    }

    #[test]
    fn openai_defaults_fill_in() {
        let s = Settings::from_config(
            json!({"backend": "openai", "base_url": "https://api.openai.com/v1/"}),
        )
        .expect("ok");
        assert_eq!(s.model, "dall-e-2");
        assert_eq!(s.api_key_env.as_deref(), Some("OPENAI_API_KEY"));
        assert_eq!(s.base_url, "https://api.openai.com/v1");
        assert_eq!(s.server(), "api.openai.com");
    }
}
