//! Generation statistics (`/api/v2/stats/*`): the original's `StatsImgTotals`,
//! `StatsTxtTotals`, `ImgModelStats` and `TxtModelStats`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct SinglePeriodImgStat {
    pub images: i64,
    /// Pixelsteps: width × height × steps, summed.
    pub ps: i64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct SinglePeriodTxtStat {
    pub requests: i64,
    pub tokens: i64,
}

/// Images generated over the last minute, hour, day and month, and of all time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct StatsImgTotals {
    pub minute: SinglePeriodImgStat,
    pub hour: SinglePeriodImgStat,
    pub day: SinglePeriodImgStat,
    pub month: SinglePeriodImgStat,
    pub total: SinglePeriodImgStat,
}

/// Texts generated over the last minute, hour, day and month, and of all time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct StatsTxtTotals {
    pub minute: SinglePeriodTxtStat,
    pub hour: SinglePeriodTxtStat,
    pub day: SinglePeriodTxtStat,
    pub month: SinglePeriodTxtStat,
    pub total: SinglePeriodTxtStat,
}

/// Generations per model over the last day and month, and of all time.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ModelStats {
    pub day: BTreeMap<String, i64>,
    pub month: BTreeMap<String, i64>,
    pub total: BTreeMap<String, i64>,
}
