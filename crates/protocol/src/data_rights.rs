//! Potluck's additions for the data rights of an account's owner (under `/api/v2/users/me`):
//! the export of everything stored about them, their contact address, freezing and erasure.
//! Times are seconds since the Unix epoch.

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

use crate::{TeamDetails, WorkerDetails};

/// The version of [`UserDataExport`]'s shape, so that a reader can tell future ones apart.
pub const EXPORT_FORMAT: &str = "potluck-user-export/1";

/// Everything the server stores about one account, as its owner downloads it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct UserDataExport {
    /// Always [`EXPORT_FORMAT`].
    pub format: String,
    pub exported_at: i64,
    pub account: ExportedAccount,
    /// Every line of the kudos ledger on the account, newest first.
    pub kudos_ledger: Vec<ExportedLedgerLine>,
    /// The workers it owns, as `GET /workers/{id}` shows them to their owner.
    pub workers: Vec<WorkerDetails>,
    /// The teams it created, as `GET /teams/{id}` shows them.
    #[serde(default)]
    pub teams: Vec<TeamDetails>,
    /// Its requests still stored, oldest first: with their prompts and results until those are
    /// purged, then only what the statistics keep.
    pub requests: Vec<ExportedRequest>,
    /// Browsers signed in to the web UI as this account. A session holds the hash of the key,
    /// nothing else.
    pub web_sessions: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ExportedAccount {
    pub id: i64,
    pub username: String,
    /// `name#id`, the name others send kudos to.
    pub alias: String,
    pub created: i64,
    pub kudos: f64,
    pub concurrency: i64,
    pub moderator: bool,
    /// Grants kudos and the moderator role.
    #[serde(default)]
    pub admin: bool,
    pub trusted: bool,
    pub flagged: bool,
    pub frozen: bool,
    /// Everyone may see which workers are its own.
    #[serde(default)]
    pub public_workers: bool,
    pub worker_invited: i64,
    /// The opt-in address for reaching a worker's owner.
    pub contact: Option<String>,
    /// The login provider it is linked to; None for a pseudonymous account.
    pub login: Option<ExportedLogin>,
    pub records: ExportedRecords,
}

/// What is kept of an account's identity at its login provider: the subject id alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ExportedLogin {
    /// The provider's id in this server's configuration.
    pub provider: String,
    /// The provider's id for the user (its ID token's `sub`).
    pub subject: String,
}

/// The account's counters, as `UserDetails.records` sums them up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ExportedRecords {
    pub requests_text: i64,
    pub requests_image: i64,
    pub fulfillments_text: i64,
    pub fulfillments_image: i64,
    /// Interrogation forms requested, and forms the account's alchemists delivered.
    #[serde(default)]
    pub requests_interrogation: i64,
    #[serde(default)]
    pub fulfillments_interrogation: i64,
    pub usage_tokens: i64,
    pub usage_megapixelsteps: f64,
    pub contributed_tokens: i64,
    pub contributed_megapixelsteps: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ExportedLedgerLine {
    pub id: i64,
    pub at: i64,
    pub amount: f64,
    /// `generated`, `uptime`, `spent`, `gifted`, `received`, `admin`, `erased`, `released`,
    /// `forfeited`, `refunded` or `checked` (see docs/trust.md).
    pub reason: String,
    /// The job it paid for.
    pub job_id: Option<String>,
    /// The other account of a transfer.
    pub counterparty: Option<i64>,
    /// It moved held kudos (rewards waiting for verification), not spendable ones.
    #[serde(default)]
    pub held: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ExportedRequest {
    pub id: String,
    /// `text`, `image`, or `interrogation` (one form of an interrogation).
    pub kind: String,
    /// The interrogation a form belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interrogation: Option<String>,
    /// `active`, `done`, `cancelled`, `faulted` or `expired`.
    pub state: String,
    pub created: i64,
    pub models: Vec<String>,
    pub n: i64,
    pub n_done: i64,
    /// None once purged.
    pub prompt: Option<String>,
    /// The parameters as queued; None once purged.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub params: Option<Value>,
    /// Where its results are POSTed; None once purged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<String>,
    pub generations: Vec<ExportedGeneration>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ExportedGeneration {
    pub job_id: String,
    /// `processing`, `ok`, `censored`, `csam`, `faulted` or `abandoned`.
    pub state: String,
    pub model: String,
    pub worker_name: Option<String>,
    /// A text result, until purged.
    pub text: Option<String>,
    /// Whether an image result is stored (download it at `/api/v2/images/{job_id}`).
    pub has_image: bool,
}

/// `PUT /api/v2/users/me/contact`: an address to set, or null to withdraw it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ContactInput {
    pub contact: Option<String>,
}

/// The answer of the contact, freeze and unfreeze calls: the account's state after it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AccountRestrictions {
    pub contact: Option<String>,
    pub frozen: bool,
    /// Active requests that freezing cancelled.
    pub requests_cancelled: u64,
}

/// The answer of `DELETE /api/v2/users/me`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AccountErased {
    /// The id the pseudonymised row keeps, which other accounts' ledger lines name.
    pub id: i64,
    pub requests_cancelled: u64,
    pub workers_deleted: u64,
    pub web_sessions_ended: u64,
    pub kudos_forfeited: f64,
}

/// `PUT /api/v2/users/me/username`: a linked account's new name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct UsernameInput {
    pub username: String,
}

/// The answer of a rename: the account's new `name#id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Renamed {
    pub username: String,
}

/// The answer of `POST /api/v2/users/me/apikey`: a linked account's new key, shown this once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct NewApiKey {
    pub apikey: String,
}
