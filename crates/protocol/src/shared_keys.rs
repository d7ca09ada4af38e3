//! Shared keys (`/api/v2/sharedkeys`): the original's `SharedKeyInput` and `SharedKeyDetails`.

use serde::{Deserialize, Serialize};

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// A new shared key's settings, or a change to a key's (then every field is optional).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(default)]
pub struct SharedKeyInput {
    /// The kudos the key may spend, -1 for no limit (default 5000).
    pub kudos: Option<i64>,
    /// Days until the key expires, -1 for never (the default).
    pub expiry: Option<i64>,
    pub name: Option<String>,
    /// Per-job limits, -1 for none (the default).
    pub max_image_pixels: Option<i64>,
    pub max_image_steps: Option<i64>,
    pub max_text_tokens: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct SharedKeyDetails {
    /// The key itself: the `apikey` it is used as.
    pub id: String,
    /// Its owner, `name#id`, whose kudos it spends.
    pub username: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What it may still spend, -1 for no limit.
    pub kudos: i64,
    /// When it expires (RFC 822); absent when it never does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiry: Option<String>,
    /// The kudos spent through it so far.
    pub utilized: i64,
    pub max_image_pixels: i64,
    pub max_image_steps: i64,
    pub max_text_tokens: i64,
}
