//! Workers: list, details (by id or name), and changes by their owners or moderators.

use super::error::ApiResult;
use super::extract::{Caller, JsonBody, PathParam, QueryParams};
use super::AppState;
use axum::extract::State;
use axum::Json;
use protocol::{DeletedWorker, ModifyWorker, ModifyWorkerInput, RequestError, WorkerDetails};
use serde::Deserialize;

#[derive(Deserialize)]
pub struct WorkersQuery {
    #[serde(rename = "type")]
    kind: Option<String>,
    name: Option<String>,
}

/// Workers online now.
#[utoipa::path(get, path = "/api/v2/workers", tag = "workers",
    params(("type" = Option<String>, Query, description = "text or image (any other type has no workers)"),
           ("name" = Option<String>, Query, description = "the worker of this name, whatever the case")),
    responses((status = 200, body = Vec<WorkerDetails>), (status = 400, body = RequestError)))]
pub async fn list(
    State(state): State<AppState>,
    Caller(viewer): Caller,
    QueryParams(query): QueryParams<WorkersQuery>,
) -> ApiResult<Json<Vec<WorkerDetails>>> {
    let (kind, name) = (query.kind.as_deref(), query.name.as_deref());
    Ok(Json(state.horde.workers(&viewer, kind, name).await?))
}

/// One worker, online or not.
#[utoipa::path(get, path = "/api/v2/workers/{id}", tag = "workers",
    params(("id" = String, Path, description = "the worker id")),
    responses((status = 200, body = WorkerDetails), (status = 404, body = RequestError)))]
pub async fn get(
    State(state): State<AppState>,
    Caller(viewer): Caller,
    PathParam(id): PathParam<String>,
) -> ApiResult<Json<WorkerDetails>> {
    Ok(Json(state.horde.worker(&viewer, &id).await?))
}

/// One worker by its name (whatever the case), online or not.
#[utoipa::path(get, path = "/api/v2/workers/name/{name}", tag = "workers",
    params(("name" = String, Path, description = "the worker's name")),
    responses((status = 200, body = WorkerDetails), (status = 404, body = RequestError)))]
pub async fn get_by_name(
    State(state): State<AppState>,
    Caller(viewer): Caller,
    PathParam(name): PathParam<String>,
) -> ApiResult<Json<WorkerDetails>> {
    Ok(Json(state.horde.worker_named(&viewer, &name).await?))
}

/// Change a worker: maintenance, info, name and team (owner or moderator); paused (moderator).
#[utoipa::path(put, path = "/api/v2/workers/{id}", tag = "workers", request_body = ModifyWorkerInput,
    params(("id" = String, Path, description = "the worker id")),
    responses((status = 200, body = ModifyWorker), (status = 400, body = RequestError),
              (status = 401, body = RequestError), (status = 403, body = RequestError),
              (status = 404, body = RequestError)))]
pub async fn modify(
    State(state): State<AppState>,
    Caller(actor): Caller,
    PathParam(id): PathParam<String>,
    JsonBody(input): JsonBody<ModifyWorkerInput>,
) -> ApiResult<Json<ModifyWorker>> {
    Ok(Json(state.horde.modify_worker(&actor, &id, input).await?))
}

/// Delete a worker (owner or moderator).
#[utoipa::path(delete, path = "/api/v2/workers/{id}", tag = "workers",
    params(("id" = String, Path, description = "the worker id")),
    responses((status = 200, body = DeletedWorker), (status = 403, body = RequestError),
              (status = 404, body = RequestError)))]
pub async fn delete(
    State(state): State<AppState>,
    Caller(actor): Caller,
    PathParam(id): PathParam<String>,
) -> ApiResult<Json<DeletedWorker>> {
    Ok(Json(state.horde.delete_worker(&actor, &id).await?))
}
