//! Messages to workers (`/api/v2/workers/messages`): a moderator's (or an owner's) word to one
//! worker, to every worker of an account, or to every worker; workers read them with each pop
//! until they expire.

use serde::{Deserialize, Serialize};

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// `POST /api/v2/workers/messages`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct WorkerMessageInput {
    /// The worker it is for; without it, every worker of `user_id`, or every worker.
    pub worker_id: Option<String>,
    /// Potluck: the account (the number after '#') whose workers it is for, when it is for all
    /// of them. An owner's message without `worker_id` is for all their own workers.
    pub user_id: Option<String>,
    /// 1 to 10240 characters.
    pub message: String,
    /// Who it is from (moderators only; anyone else's messages are from their account's id).
    pub origin: Option<String>,
    /// Hours until it expires: 1 to 720, 12 by default.
    pub expiry: Option<i64>,
}

/// A message, as the messages endpoints and a worker's details show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct WorkerMessage {
    pub id: String,
    /// The worker it is for; none when it is for several.
    pub worker_id: Option<String>,
    /// The account whose workers it is for; none when it is for every worker.
    pub user_id: Option<String>,
    pub message: String,
    pub origin: String,
    /// Hours until it expires, rounded up (0 once expired), as the AI Horde's schema (and
    /// horde-sdk) has it.
    pub expiry: i64,
    /// When it was written (RFC 822, as the AI Horde writes dates).
    pub created: String,
}

/// A message as a pop's answer carries it (the AI Horde's `ResponseModelMessagePop`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PopMessage {
    pub id: String,
    pub message: String,
    pub origin: String,
    /// When it expires (RFC 822).
    pub expiry: String,
}
