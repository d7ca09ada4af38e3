//! Kudos given for something other than work: awards (`/api/v2/kudos/award`) and aesthetic
//! ratings (`/api/v2/generate/rate/{id}`).

use serde::{Deserialize, Serialize};

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct KudosAwardInput {
    /// The account to award, `name#id`.
    pub username: String,
    /// Default 100.
    #[serde(default = "default_award")]
    pub amount: f64,
}

fn default_award() -> f64 {
    100.0
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct KudosAwarded {
    pub awarded: f64,
}

/// Ratings of a finished, shared image request's images (`AestheticsPayload`): the best one,
/// and/or a rating of each.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(default)]
pub struct AestheticsPayload {
    /// The id of the best image of the set (only for sets of two or more).
    pub best: Option<String>,
    pub ratings: Vec<AestheticRating>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AestheticRating {
    /// The image's id (its generation's `id`).
    pub id: String,
    /// 1 to 10.
    pub rating: i64,
    /// 0 (flawless) to 5 (garbage).
    #[serde(default)]
    pub artifacts: Option<i64>,
}
