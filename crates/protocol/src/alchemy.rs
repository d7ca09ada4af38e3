//! Alchemy (`/api/v2/interrogate/*`), the "interrogation" models of the original: one image and
//! the forms asked of it (a caption, an interrogation, an NSFW verdict, an upscale, a face fix,
//! a background removal, ...), each served by an alchemist worker on its own.

use crate::common::SubmitState;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// One form asked of the image.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(default)]
pub struct ModelInterrogationFormStable {
    /// The form: `caption`, `interrogation`, `nsfw`, ..., or a post-processor (`GFPGAN`,
    /// `RealESRGAN_x4plus`, `strip_background`, ...).
    pub name: String,
    /// Settings passed to the alchemist as they are (flat: strings, numbers, booleans).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub payload: Option<Map<String, Value>>,
}

/// `POST /api/v2/interrogate/async`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(default)]
pub struct ModelInterrogationInputStable {
    pub forms: Vec<ModelInterrogationFormStable>,
    /// The image: base64 (WebP, PNG or JPEG), or an http(s) URL the server fetches once.
    pub source_image: Option<String>,
    /// Only trusted workers may serve it.
    pub trusted_workers: bool,
    /// Slower workers may serve it too; Potluck does not measure alchemists' speed, so only
    /// `true` is accepted.
    pub slow_workers: bool,
    /// An https URL the result of each form is POSTed to as it is delivered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook: Option<String>,
}

impl Default for ModelInterrogationInputStable {
    fn default() -> Self {
        ModelInterrogationInputStable {
            forms: Vec::new(),
            source_image: None,
            trusted_workers: false,
            slow_workers: true,
            webhook: None,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct RequestInterrogationResponse {
    /// The interrogation's id, for its status.
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A form's state and, once done, its result.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct InterrogationFormStatus {
    pub form: String,
    /// `waiting`, `processing`, `done`, `faulted` or `cancelled`.
    pub state: String,
    /// The alchemist's result, keyed by the form's name (`{"caption": "..."}`); a
    /// post-processed image as a URL served by this server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub result: Option<Value>,
}

/// `GET` and `DELETE /api/v2/interrogate/status/{id}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct InterrogationStatus {
    /// `waiting`, `processing`, `partial`, `done` or `faulted`, from its forms' states.
    pub state: String,
    pub forms: Vec<InterrogationFormStatus>,
}

/// `POST /api/v2/interrogate/pop`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(default)]
pub struct InterrogationPopInput {
    /// The worker's name; the worker is created on its first pop.
    pub name: Option<String>,
    /// Users (`alias#id`) whose forms this worker serves first; its owner's always are.
    pub priority_usernames: Vec<String>,
    /// The forms this worker can serve.
    pub forms: Vec<String>,
    /// How many forms to pop at once.
    pub amount: u32,
    pub bridge_agent: String,
    pub threads: u32,
    /// The largest image it takes, in 512×512 tiles.
    pub max_tiles: u32,
}

impl Default for InterrogationPopInput {
    fn default() -> Self {
        InterrogationPopInput {
            name: None,
            priority_usernames: Vec::new(),
            forms: Vec::new(),
            amount: 1,
            bridge_agent: "unknown:0:unknown".into(),
            threads: 1,
            // The original's handler default (its model documents 16).
            max_tiles: 80,
        }
    }
}

/// One form for an alchemist.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct InterrogationPopFormPayload {
    /// The job's id, for the submit.
    pub id: String,
    pub form: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub payload: Option<Map<String, Value>>,
    /// Where to download the image (a URL of this server, valid while the form is held).
    pub source_image: String,
    /// Where to PUT the post-processed image (post-processing forms only), before submitting
    /// `{"<form>": "R2"}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r2_upload: Option<String>,
}

/// Reasons a pop found nothing, counted per reason.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct NoValidInterrogationsFound {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub worker_id: u32,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub untrusted: u32,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub bridge_version: u32,
    /// Potluck: the image has more tiles than the worker's `max_tiles`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub max_tiles: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct InterrogationPopPayload {
    /// The forms popped; null when none.
    pub forms: Option<Vec<InterrogationPopFormPayload>>,
    pub skipped: NoValidInterrogationsFound,
}

/// `POST /api/v2/interrogate/submit`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(default)]
pub struct InterrogationSubmitInput {
    pub id: Option<String>,
    /// The result keyed by the form's name (`{"caption": "a cat"}`, `{"GFPGAN": "R2"}` after an
    /// upload to `r2_upload`); ignored when faulted.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub result: Option<Value>,
    pub state: SubmitState,
}
