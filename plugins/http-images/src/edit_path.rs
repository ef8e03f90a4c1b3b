//! Which way an edit goes. On A1111 that is either an InstructPix2Pix checkpoint — a model
//! trained to follow edit instructions, far better at "make the car blue" than img2img —
//! or plain img2img at `denoising_strength`, which any checkpoint can do.
//!
//! `edit_model = "auto"` (the default) looks for an InstructPix2Pix checkpoint in the
//! server's list (`GET /sdapi/v1/sd-models`) and uses img2img when there is none; a
//! checkpoint name is checked against the list, so a typo fails the edit with the names
//! the server does have instead of an A1111 stack trace; `"none"` (or `""`) is always
//! img2img and asks nothing. The list is asked once per plugin instance and `base_url`,
//! whatever it answered: checkpoints do not come and go during a run, and a server whose
//! list times out would otherwise cost every edit call the full retry budget again.
//! When the list cannot be read (an older server without the route, a timeout), `auto`
//! falls back to img2img and a named checkpoint is trusted, and the tool's text says so.

use crate::backend;
use crate::retry::{self, Final};
use crate::settings::{Backend, EditModel, Settings};
use maia_plugin_sdk::{Host, ToolError};
use serde::Deserialize;
use std::collections::HashMap;

/// Substrings (of a lower-cased title or model name) that mark an InstructPix2Pix
/// checkpoint, as such checkpoints are usually named (`instruct-pix2pix-00-22000`,
/// `instruct_pix2pix`, `InstructPix2Pix`, `sd15-ip2p`).
const INSTRUCT_PIX2PIX_NAMES: [&str; 4] = [
    "instruct-pix2pix",
    "instruct_pix2pix",
    "instructpix2pix",
    "ip2p",
];

/// One entry of A1111's checkpoint list.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Checkpoint {
    /// `v1-5-pruned-emaonly.safetensors [6ce0161689]`: the key A1111 itself uses.
    pub title: String,
    /// `v1-5-pruned-emaonly`.
    pub model_name: String,
    /// Short hash, if computed.
    pub hash: Option<String>,
    /// Full SHA-256, if computed.
    pub sha256: Option<String>,
    /// Path of the checkpoint file on the server.
    pub filename: Option<String>,
}

impl Checkpoint {
    /// The name to send as `override_settings.sd_model_checkpoint`: the title, which is
    /// the key of A1111's checkpoint table (the model name also works, via its aliases).
    pub fn name(&self) -> &str {
        if self.title.is_empty() {
            &self.model_name
        } else {
            &self.title
        }
    }

    /// Whether the title or model name follows InstructPix2Pix naming.
    pub fn is_instruct_pix2pix(&self) -> bool {
        [&self.model_name, &self.title].iter().any(|name| {
            let name = name.to_lowercase();
            INSTRUCT_PIX2PIX_NAMES.iter().any(|n| name.contains(n))
        })
    }

    /// Whether `wanted` names this checkpoint the way A1111's look-up accepts: its title,
    /// model name, file name (with or without extension) or hash.
    pub fn answers_to(&self, wanted: &str) -> bool {
        let file = self
            .filename
            .as_deref()
            .map(|f| f.rsplit(['/', '\\']).next().unwrap_or(f));
        let stem = file.map(|f| f.rsplit_once('.').map_or(f, |(stem, _)| stem));
        [
            Some(self.title.as_str()),
            Some(self.model_name.as_str()),
            file,
            stem,
            self.hash.as_deref(),
            self.sha256.as_deref(),
        ]
        .into_iter()
        .flatten()
        .any(|name| !name.is_empty() && name.eq_ignore_ascii_case(wanted))
    }
}

/// The server's checkpoint list, or why it could not be read.
pub type Listing = Result<Vec<Checkpoint>, String>;

/// The checkpoint lists asked so far, by `base_url`: one request per server per plugin
/// instance.
#[derive(Debug, Default)]
pub struct CheckpointLists {
    by_server: HashMap<String, Listing>,
}

impl CheckpointLists {
    /// The list of `settings.base_url`, asked of the server (through the host, with the
    /// usual timeout and retries) the first time. `Err` only when the host refuses the
    /// request (network policy); a server that fails to answer is an `Ok(Err(why))`.
    pub fn get(&mut self, host: &mut dyn Host, settings: &Settings) -> Result<Listing, ToolError> {
        if let Some(listing) = self.by_server.get(&settings.base_url) {
            return Ok(listing.clone());
        }
        let request = backend::sd_models_request(settings);
        let fin = retry::send_all(host, settings, std::slice::from_ref(&request))?
            .pop()
            .unwrap_or_else(|| Final::GaveUp("no answer".into()));
        let listing = read_listing(settings, fin);
        self.by_server
            .insert(settings.base_url.clone(), listing.clone());
        Ok(listing)
    }
}

/// Reads the answer to `GET /sdapi/v1/sd-models`.
pub fn read_listing(settings: &Settings, fin: Final) -> Listing {
    let response = match fin {
        Final::Answer(r) => r,
        Final::GaveUp(why) => return Err(why),
    };
    if !response.is_success() {
        let excerpt = backend::excerpt_suffix(&response.body);
        let old = if response.status == 404 {
            " (an older server without the route?)"
        } else {
            ""
        };
        return Err(format!(
            "GET {}/sdapi/v1/sd-models answered {}{excerpt}{old}",
            settings.base_url, response.status
        ));
    }
    serde_json::from_slice::<Vec<Checkpoint>>(&response.body).map_err(|e| {
        format!(
            "GET {}/sdapi/v1/sd-models did not answer with a checkpoint list ({e})",
            settings.base_url
        )
    })
}

/// How the edits of one call are made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EditPath {
    /// The OpenAI Images API's `/images/edits` with the configured model.
    OpenaiEdits,
    /// A1111 img2img from the source at `denoising_strength`, with the loaded (or
    /// `model`) checkpoint.
    Img2img,
    /// A1111 img2img with this InstructPix2Pix checkpoint (sent as
    /// `override_settings.sd_model_checkpoint`) at `image_cfg_scale`.
    InstructPix2Pix {
        /// The checkpoint's name as sent.
        checkpoint: String,
    },
}

impl EditPath {
    /// The method's name, for images' meta and the cache key.
    pub fn method(&self) -> &'static str {
        match self {
            EditPath::OpenaiEdits => "images/edits",
            EditPath::Img2img => "img2img",
            EditPath::InstructPix2Pix { .. } => "instruct-pix2pix",
        }
    }

    /// The checkpoint that makes the edits, when it is not the generation model.
    pub fn checkpoint(&self) -> Option<&str> {
        match self {
            EditPath::InstructPix2Pix { checkpoint } => Some(checkpoint),
            EditPath::OpenaiEdits | EditPath::Img2img => None,
        }
    }
}

/// The edit path of a call, with why it was chosen when that is worth telling.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EditPlan {
    /// The path.
    pub path: EditPath,
    /// Why, in words, when it is not simply what maia.toml says (a fallback, an unchecked
    /// name).
    pub note: Option<String>,
}

impl EditPlan {
    fn new(path: EditPath, note: Option<String>) -> EditPlan {
        EditPlan { path, note }
    }

    /// One phrase for the tool's text: "InstructPix2Pix checkpoint `X`", "img2img at
    /// denoising_strength 0.6 (the server has no InstructPix2Pix checkpoint)".
    pub fn describe(&self, settings: &Settings) -> String {
        let what = match &self.path {
            EditPath::OpenaiEdits => format!("the images/edits endpoint with {}", settings.model),
            EditPath::Img2img => format!(
                "img2img at denoising_strength {}",
                settings.denoising_strength
            ),
            EditPath::InstructPix2Pix { checkpoint } => {
                format!("InstructPix2Pix checkpoint `{checkpoint}`")
            }
        };
        match &self.note {
            Some(note) => format!("{what} ({note})"),
            None => what,
        }
    }
}

/// Chooses the edit path for `settings`, asking the server's checkpoint list when
/// `edit_model` is `auto` or a name.
pub fn resolve(
    host: &mut dyn Host,
    settings: &Settings,
    lists: &mut CheckpointLists,
) -> Result<EditPlan, ToolError> {
    if settings.backend == Backend::Openai {
        return Ok(EditPlan::new(EditPath::OpenaiEdits, None));
    }
    let listing = match settings.edit_model() {
        EditModel::None => None,
        EditModel::Auto | EditModel::Named(_) => Some(lists.get(host, settings)?),
    };
    choose(settings, listing.as_ref())
}

/// The decision itself, given the server's list (`None`: not asked).
pub fn choose(settings: &Settings, listing: Option<&Listing>) -> Result<EditPlan, ToolError> {
    match (settings.edit_model(), listing) {
        (EditModel::None, _) | (EditModel::Auto, None) => {
            Ok(EditPlan::new(EditPath::Img2img, None))
        }
        (EditModel::Auto, Some(Ok(list))) => {
            Ok(match list.iter().find(|c| c.is_instruct_pix2pix()) {
                Some(c) => EditPlan::new(
                    EditPath::InstructPix2Pix {
                        checkpoint: c.name().to_owned(),
                    },
                    None,
                ),
                None => EditPlan::new(
                    EditPath::Img2img,
                    Some("the server has no InstructPix2Pix checkpoint".into()),
                ),
            })
        }
        (EditModel::Auto, Some(Err(why))) => Ok(EditPlan::new(
            EditPath::Img2img,
            Some(format!(
                "could not list the server's checkpoints to look for an InstructPix2Pix one: {why}"
            )),
        )),
        (EditModel::Named(name), None) => Ok(EditPlan::new(
            EditPath::InstructPix2Pix {
                checkpoint: name.to_owned(),
            },
            None,
        )),
        (EditModel::Named(name), Some(Err(why))) => Ok(EditPlan::new(
            EditPath::InstructPix2Pix {
                checkpoint: name.to_owned(),
            },
            Some(format!(
                "edit_model as set, unchecked: could not list the server's checkpoints: {why}"
            )),
        )),
        (EditModel::Named(name), Some(Ok(list))) => {
            match list.iter().find(|c| c.answers_to(name)) {
                Some(c) => Ok(EditPlan::new(
                    EditPath::InstructPix2Pix {
                        checkpoint: c.name().to_owned(),
                    },
                    None,
                )),
                None => Err(missing(settings, name, list)),
            }
        }
    }
}

/// The error for an `edit_model` the server does not have: what it has, and what to
/// write in maia.toml.
fn missing(settings: &Settings, name: &str, list: &[Checkpoint]) -> ToolError {
    let has = if list.is_empty() {
        "no checkpoints at all".to_owned()
    } else {
        list.iter()
            .map(|c| {
                let mark = if c.is_instruct_pix2pix() {
                    " (InstructPix2Pix)"
                } else {
                    ""
                };
                format!("`{}`{mark}", c.name())
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let fix = match list.iter().find(|c| c.is_instruct_pix2pix()) {
        Some(c) => format!(
            "set edit_model = \"{}\", or \"auto\" (an InstructPix2Pix checkpoint when the \
             server has one), or \"none\" (always img2img)",
            c.model_name
        ),
        None => "install an InstructPix2Pix checkpoint on the server and name it, or set \
                 edit_model = \"auto\" (img2img until the server has one) or \"none\" (always \
                 img2img)"
            .to_owned(),
    };
    ToolError::failed(format!(
        "http-images: edit_model `{name}` is not a checkpoint the server at {} has; it has \
         {has}. In maia.toml's [plugins.http-images], {fix}",
        settings.server()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checkpoint(model_name: &str) -> Checkpoint {
        Checkpoint {
            title: format!("{model_name}.safetensors [0123456789]"),
            model_name: model_name.into(),
            hash: Some("0123456789".into()),
            sha256: None,
            filename: Some(format!("/models/Stable-diffusion/{model_name}.safetensors")),
        }
    }

    fn settings(edit_model: &str) -> Settings {
        Settings {
            base_url: "http://127.0.0.1:7860".into(),
            edit_model: edit_model.into(),
            ..Settings::default()
        }
    }

    #[test]
    fn instruct_pix2pix_naming_is_recognised() {
        for name in [
            "instruct-pix2pix-00-22000",
            "InstructPix2Pix",
            "sd15_Instruct_Pix2Pix",
            "forge-ip2p",
        ] {
            assert!(checkpoint(name).is_instruct_pix2pix(), "{name}");
        }
        for name in ["v1-5-pruned-emaonly", "sdxl_base_1.0", "pix2pix-zero"] {
            assert!(!checkpoint(name).is_instruct_pix2pix(), "{name}");
        }
    }

    #[test]
    fn a_name_matches_the_title_model_name_file_or_hash() {
        let c = checkpoint("instruct-pix2pix-00-22000");
        for wanted in [
            "instruct-pix2pix-00-22000.safetensors [0123456789]",
            "instruct-pix2pix-00-22000",
            "Instruct-Pix2Pix-00-22000.safetensors",
            "0123456789",
        ] {
            assert!(c.answers_to(wanted), "{wanted}");
        }
        assert!(!c.answers_to("instruct-pix2pix"));
    }

    #[test]
    fn auto_picks_the_first_instruct_pix2pix_checkpoint_by_title() {
        let list = Ok(vec![
            checkpoint("v1-5-pruned-emaonly"),
            checkpoint("instruct-pix2pix-00-22000"),
        ]);
        let plan = choose(&settings("auto"), Some(&list)).expect("plan");
        assert_eq!(
            plan.path.checkpoint(),
            Some("instruct-pix2pix-00-22000.safetensors [0123456789]")
        );
        assert_eq!(plan.note, None);
    }

    #[test]
    fn auto_without_one_or_without_a_list_is_img2img_and_says_why() {
        let s = settings("auto");
        let plan = choose(&s, Some(&Ok(vec![checkpoint("v1-5")]))).expect("plan");
        assert_eq!(plan.path, EditPath::Img2img);
        assert_eq!(
            plan.describe(&s),
            "img2img at denoising_strength 0.6 (the server has no InstructPix2Pix checkpoint)"
        );
        let plan = choose(&s, Some(&Err("answered 404".into()))).expect("plan");
        assert_eq!(plan.path, EditPath::Img2img);
        assert!(plan.describe(&s).contains("answered 404"));
        for none in ["none", "", " NONE "] {
            let plan = choose(&settings(none), None).expect("plan");
            assert_eq!((plan.path, plan.note), (EditPath::Img2img, None));
        }
    }

    #[test]
    fn a_missing_name_lists_the_checkpoints_and_the_fix() {
        let s = settings("instruct-pix2pix");
        let list = Ok(vec![
            checkpoint("v1-5-pruned-emaonly"),
            checkpoint("instruct-pix2pix-00-22000"),
        ]);
        let err = choose(&s, Some(&list)).expect_err("missing");
        for needle in [
            "`instruct-pix2pix`",
            "`v1-5-pruned-emaonly.safetensors [0123456789]`",
            "(InstructPix2Pix)",
            "maia.toml",
            "edit_model = \"instruct-pix2pix-00-22000\"",
        ] {
            assert!(err.message.contains(needle), "{needle}: {}", err.message);
        }
        let err = choose(&s, Some(&Ok(vec![checkpoint("v1-5")]))).expect_err("missing");
        assert!(
            err.message
                .contains("it has `v1-5.safetensors [0123456789]`. In maia.toml")
                && err
                    .message
                    .contains("install an InstructPix2Pix checkpoint"),
            "{}",
            err.message
        );
        // An unreadable list: the name is trusted, and the text says so.
        let plan = choose(&s, Some(&Err("timed out".into()))).expect("trusted");
        assert_eq!(plan.path.checkpoint(), Some("instruct-pix2pix"));
        assert!(plan.describe(&s).contains("unchecked"));
    }
}
