//! Moderators' operations: timeouts of client addresses (`/api/v2/operations`).

use serde::{Deserialize, Serialize};
#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// `POST /operations/ipaddr`: an address to put in timeout, and for how long.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AddTimeoutIpInput {
    /// One IPv4 or IPv6 address, or an IPv6 /64 network.
    pub ipaddr: String,
    /// 1 to 720.
    pub hours: i64,
}

/// `DELETE /operations/ipaddr`: the address whose timeouts to lift.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct DeleteTimeoutIpInput {
    pub ipaddr: String,
}

/// `PUT /operations/block_worker_ipaddr/{worker_id}`: for how many days.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AddWorkerTimeout {
    /// 1 to 30.
    pub days: i64,
}

/// A timeout. Addresses are not kept, so a listed timeout names its block instead.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct IpTimeout {
    pub ipaddr: String,
    /// Seconds it still lasts.
    pub seconds: i64,
}

/// An entry of the moderation log (`GET /operations/moderation_log`, Potluck's): what a
/// moderator or an admin did with their rights. Never a prompt, a message's text or an address.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ModerationEntry {
    pub id: i64,
    /// Seconds since 1970.
    pub at: i64,
    /// `name#id`, or `#id` once the account is erased.
    pub actor: String,
    pub action: String,
    pub target: String,
}

/// A prompt filter (`/api/v2/filters`, moderators only).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct FilterDetails {
    pub id: String,
    pub regex: String,
    /// 10 or 11: terms for minors; 20: sexual terms.
    pub filter_type: i64,
    pub description: Option<String>,
    /// What replaces a type-10 filter's matches when a request allows replacements.
    pub replacement: String,
    /// `name#id` of its writer.
    pub user: String,
}

/// `PUT /filters`: a new filter.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PutNewFilter {
    pub regex: String,
    pub filter_type: i64,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub replacement: Option<String>,
}

/// `PATCH /filters/{id}`: what to change.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PatchExistingFilter {
    #[serde(default)]
    pub regex: Option<String>,
    #[serde(default)]
    pub filter_type: Option<i64>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub replacement: Option<String>,
}

/// `POST /filters`: a prompt to check, against one type's filters or all.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct FilterPromptInput {
    pub prompt: String,
    #[serde(default)]
    pub filter_type: Option<i64>,
}

/// How a prompt stands: the filter groups it matches (0 to 2) and what matched.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct FilterPromptSuspicion {
    pub suspicion: i64,
    pub matches: Vec<String>,
}

/// One type's filters as the one expression they are matched as (`GET /filters/regex`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct FilterRegex {
    pub filter_type: i64,
    pub regex: String,
}
