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
