//! Public status: heartbeat, models, performance, modes, news.

use super::error::ApiResult;
use super::extract::{Caller, JsonBody, OptionalCaller, PathParam, QueryParams};
use super::AppState;
use axum::extract::State;
use axum::Json;
use potluck_core::{ModelFilter, ModelState};
use protocol::{
    ActiveModel, Heartbeat, HordeModes, HordePerformance, Newspiece, RequestError, WorkerType,
};
use serde::Deserialize;

/// Liveness.
#[utoipa::path(get, path = "/api/v2/status/heartbeat", tag = "status", responses((status = 200, body = Heartbeat)))]
pub async fn heartbeat() -> Json<Heartbeat> {
    Json(Heartbeat {
        message: "OK".into(),
        version: env!("CARGO_PKG_VERSION").into(),
    })
}

/// Liveness, for an orchestrator: the process answers.
#[utoipa::path(get, path = "/health/live", tag = "status",
    responses((status = 200, body = Heartbeat)))]
pub async fn live() -> Json<Heartbeat> {
    heartbeat().await
}

/// Readiness, for a load balancer: the database answers too (503 in the error shape if not).
#[utoipa::path(get, path = "/health/ready", tag = "status",
    responses((status = 200, body = Heartbeat), (status = 503, body = RequestError)))]
pub async fn ready(State(state): State<AppState>) -> ApiResult<Json<Heartbeat>> {
    state.horde.check_database().await?;
    Ok(heartbeat().await)
}

#[derive(Deserialize)]
pub struct ModelsQuery {
    #[serde(rename = "type")]
    kind: Option<WorkerType>,
    min_count: Option<u32>,
    max_count: Option<u32>,
    #[serde(default)]
    model_state: ModelStateParam,
}

/// `model_state`, as the AI Horde spells it.
#[derive(Deserialize, Default, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum ModelStateParam {
    Known,
    Custom,
    #[default]
    All,
}

/// Models that online workers serve.
#[utoipa::path(get, path = "/api/v2/status/models", tag = "status",
    params(("type" = Option<String>, Query, description = "text or image"),
        ("min_count" = Option<u32>, Query, description = "only models at least this many workers serve"),
        ("max_count" = Option<u32>, Query, description = "only models at most this many workers serve"),
        ("model_state" = Option<String>, Query,
            description = "known (in the model reference), custom (not in it) or all (default)")),
    responses((status = 200, body = Vec<ActiveModel>), (status = 400, body = RequestError)))]
pub async fn models(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<ModelsQuery>,
) -> ApiResult<Json<Vec<ActiveModel>>> {
    let filter = ModelFilter {
        state: match query.model_state {
            ModelStateParam::Known => ModelState::Known,
            ModelStateParam::Custom => ModelState::Custom,
            ModelStateParam::All => ModelState::All,
        },
        min_count: query.min_count,
        max_count: query.max_count,
    };
    Ok(Json(
        state
            .horde
            .active_models_filtered(query.kind, &filter)
            .await?,
    ))
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

/// Maintenance and invite-only modes; raid mode too for a moderator's key (another key is
/// refused).
#[utoipa::path(get, path = "/api/v2/status/modes", tag = "status",
    params(("apikey" = Option<String>, Header, description = "a moderator's key, to see raid mode")),
    responses((status = 200, body = HordeModes), (status = 401, body = RequestError),
              (status = 403, body = RequestError)))]
pub async fn modes(
    State(state): State<AppState>,
    OptionalCaller(viewer): OptionalCaller,
) -> ApiResult<Json<HordeModes>> {
    Ok(Json(state.horde.modes(viewer.as_ref()).await?))
}

/// Sets modes (moderators); the answer holds the modes changed. Entering maintenance cancels
/// the requests waiting.
#[utoipa::path(put, path = "/api/v2/status/modes", tag = "status", request_body = HordeModes,
    responses((status = 200, body = HordeModes), (status = 400, body = RequestError),
              (status = 401, body = RequestError), (status = 403, body = RequestError)))]
pub async fn set_modes(
    State(state): State<AppState>,
    Caller(account): Caller,
    JsonBody(input): JsonBody<HordeModes>,
) -> ApiResult<Json<HordeModes>> {
    Ok(Json(state.horde.set_modes(&account, input).await?))
}

/// The operator's news, newest first.
#[utoipa::path(get, path = "/api/v2/status/news", tag = "status",
    responses((status = 200, body = Vec<Newspiece>)))]
pub async fn news(State(state): State<AppState>) -> Json<Vec<Newspiece>> {
    Json(state.horde.news())
}
