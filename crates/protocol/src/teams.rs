//! Teams of workers (`/api/v2/teams`): a team groups workers of any owners, who join it through
//! `PUT /api/v2/workers/{id}` (`team`), and counts what they did while in it.

use crate::common::WorkerType;
use serde::{Deserialize, Serialize};

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// A team as a worker's details name it. Both fields are null for a worker in no team, as the
/// AI Horde answers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct TeamDetailsLite {
    pub name: Option<String>,
    pub id: Option<String>,
}

/// A worker as a team lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct WorkerDetailsLite {
    #[serde(rename = "type")]
    pub kind: WorkerType,
    pub name: String,
    pub id: String,
    pub online: bool,
}

/// A model the team's workers serve, and how many of them serve it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ActiveModelLite {
    pub name: String,
    pub count: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct TeamDetails {
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info: Option<String>,
    /// `name#id` of the account that created it.
    pub creator: String,
    /// Generations its workers finished while in it.
    pub requests_fulfilled: i64,
    /// Kudos its workers earned for them while in it.
    pub kudos: f64,
    /// Megapixelsteps its image workers generated while in it.
    pub contributions: f64,
    /// Potluck: tokens its text workers generated while in it.
    pub tokens_generated: i64,
    /// Seconds its workers were online while in it.
    pub uptime: i64,
    pub worker_count: i64,
    pub workers: Vec<WorkerDetailsLite>,
    pub models: Vec<ActiveModelLite>,
}

/// `POST /api/v2/teams`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CreateTeamInput {
    /// 3 to 100 characters, unique (whatever the case).
    pub name: String,
    /// 3 to 1000 characters.
    pub info: Option<String>,
}

/// `PATCH /api/v2/teams/{id}`: what to change.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ModifyTeamInput {
    pub name: Option<String>,
    pub info: Option<String>,
}

/// A team as created or changed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ModifyTeam {
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct DeletedTeam {
    pub deleted_id: String,
    pub deleted_name: String,
}
