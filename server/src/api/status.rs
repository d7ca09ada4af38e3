//! Public status: heartbeat, models, performance, modes.

use super::error::ApiResult;
use super::extract::{PathParam, QueryParams};
use super::AppState;
use axum::extract::State;
use axum::Json;
use protocol::{ActiveModel, Heartbeat, HordeModes, HordePerformance, RequestError, WorkerType};
use serde::Deserialize;

/// Liveness.
#[utoipa::path(get, path = "/api/v2/status/heartbeat", tag = "status", responses((status = 200, body = Heartbeat)))]
pub async fn heartbeat() -> Json<Heartbeat> {
    Json(Heartbeat {
        message: "OK".into(),
        version: env!("CARGO_PKG_VERSION").into(),
    })
}

#[derive(Deserialize)]
pub struct ModelsQuery {
    #[serde(rename = "type")]
    kind: Option<WorkerType>,
}

/// Models that online workers serve.
#[utoipa::path(get, path = "/api/v2/status/models", tag = "status",
    params(("type" = Option<String>, Query, description = "text or image")),
    responses((status = 200, body = Vec<ActiveModel>), (status = 400, body = RequestError)))]
pub async fn models(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<ModelsQuery>,
) -> ApiResult<Json<Vec<ActiveModel>>> {
    Ok(Json(state.horde.active_models(query.kind).await?))
}

/// One model (a list with one entry, or empty when nobody serves it).
#[utoipa::path(get, path = "/api/v2/status/models/{name}", tag = "status",
    params(("name" = String, Path, description = "the model name (a slash in it encoded as %2F)")),
    responses((status = 200, body = Vec<ActiveModel>)))]
pub async fn model(
    State(state): State<AppState>,
    PathParam(name): PathParam<String>,
) -> ApiResult<Json<Vec<ActiveModel>>> {
    Ok(Json(state.horde.model(&name).await?))
}

/// Queue sizes, workers and throughput.
#[utoipa::path(get, path = "/api/v2/status/performance", tag = "status",
    responses((status = 200, body = HordePerformance)))]
pub async fn performance(State(state): State<AppState>) -> ApiResult<Json<HordePerformance>> {
    Ok(Json(state.horde.performance().await?))
}

/// Maintenance, invite-only and raid modes.
#[utoipa::path(get, path = "/api/v2/status/modes", tag = "status", responses((status = 200, body = HordeModes)))]
pub async fn modes(State(state): State<AppState>) -> ApiResult<Json<HordeModes>> {
    Ok(Json(state.horde.modes().await?))
}
