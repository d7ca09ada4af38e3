//! Generation statistics (`/api/v2/stats/*`): how many images and texts finished over the last
//! minute, hour, day and month and of all time, in all and per model.

use super::error::{ApiError, ApiResult};
use super::extract::QueryParams;
use super::AppState;
use axum::extract::State;
use axum::Json;
use potluck_core::ModelState;
use protocol::{ModelStats, RequestError, StatsImgTotals, StatsTxtTotals, WorkerType};
use serde::Deserialize;

/// Images and pixelsteps generated.
#[utoipa::path(get, path = "/api/v2/stats/img/totals", tag = "status",
    responses((status = 200, body = StatsImgTotals)))]
pub async fn image_totals(State(state): State<AppState>) -> ApiResult<Json<StatsImgTotals>> {
    Ok(Json(state.horde.image_stats_totals().await?))
}

#[derive(Deserialize)]
pub struct ModelStatsQuery {
    model_state: Option<String>,
}

/// Images generated per model (`model_state`: `known`, the default, `custom` or `all`).
#[utoipa::path(get, path = "/api/v2/stats/img/models", tag = "status",
    params(("model_state" = Option<String>, Query, description = "known (default), custom or all")),
    responses((status = 200, body = ModelStats), (status = 400, body = RequestError)))]
pub async fn image_models(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<ModelStatsQuery>,
) -> ApiResult<Json<ModelStats>> {
    let model_state = match query.model_state.as_deref().unwrap_or("known") {
        "known" => ModelState::Known,
        "custom" => ModelState::Custom,
        "all" => ModelState::All,
        _ => {
            return Err(ApiError::bad_request(
                "'model_state' needs to be one of ['known', 'custom', 'all']",
            ))
        }
    };
    Ok(Json(
        state
            .horde
            .model_stats(WorkerType::Image, model_state)
            .await?,
    ))
}

/// Texts and tokens generated.
#[utoipa::path(get, path = "/api/v2/stats/text/totals", tag = "status",
    responses((status = 200, body = StatsTxtTotals)))]
pub async fn text_totals(State(state): State<AppState>) -> ApiResult<Json<StatsTxtTotals>> {
    Ok(Json(state.horde.text_stats_totals().await?))
}

/// Texts generated per model.
#[utoipa::path(get, path = "/api/v2/stats/text/models", tag = "status",
    responses((status = 200, body = ModelStats)))]
pub async fn text_models(State(state): State<AppState>) -> ApiResult<Json<ModelStats>> {
    Ok(Json(
        state
            .horde
            .model_stats(WorkerType::Text, ModelState::All)
            .await?,
    ))
}
