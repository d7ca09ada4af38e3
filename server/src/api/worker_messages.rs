//! Messages to workers: written by moderators (or owners, to their own workers), listed, read
//! by id, deleted by their writer or a moderator. Workers get theirs with each pop.

use super::error::ApiResult;
use super::extract::{Caller, JsonBody, PathParam, QueryParams};
use super::AppState;
use axum::extract::State;
use axum::Json;
use potluck_core::MessagesQuery;
use protocol::{RequestError, SimpleResponse, WorkerMessage, WorkerMessageInput};
use serde::Deserialize;

#[derive(Deserialize)]
pub struct MessagesParams {
    user_id: Option<String>,
    worker_id: Option<String>,
    validity: Option<String>,
    page: Option<i64>,
}

/// Messages, newest first, 50 a page. Anyone but a moderator sees those for their own workers
/// and those for every worker.
#[utoipa::path(get, path = "/api/v2/workers/messages", tag = "workers",
    params(("user_id" = Option<String>, Query, description = "those for this account's workers (the number after '#')"),
           ("worker_id" = Option<String>, Query, description = "those for this worker"),
           ("validity" = Option<String>, Query, description = "active (the default), expired or all"),
           ("page" = Option<i64>, Query, description = "from 1")),
    responses((status = 200, body = Vec<WorkerMessage>), (status = 400, body = RequestError),
              (status = 401, body = RequestError), (status = 403, body = RequestError)))]
pub async fn list(
    State(state): State<AppState>,
    Caller(viewer): Caller,
    QueryParams(params): QueryParams<MessagesParams>,
) -> ApiResult<Json<Vec<WorkerMessage>>> {
    let query = MessagesQuery {
        user_id: params.user_id.as_deref(),
        worker_id: params.worker_id.as_deref(),
        validity: params.validity.as_deref(),
        page: params.page,
    };
    Ok(Json(state.horde.worker_messages(&viewer, query).await?))
}

/// Write a message: a moderator to one worker (`worker_id`), to every worker of an account
/// (`user_id`) or to every worker; anyone else to their own workers.
#[utoipa::path(post, path = "/api/v2/workers/messages", tag = "workers", request_body = WorkerMessageInput,
    responses((status = 200, body = WorkerMessage), (status = 400, body = RequestError),
              (status = 401, body = RequestError), (status = 403, body = RequestError),
              (status = 404, body = RequestError)))]
pub async fn send(
    State(state): State<AppState>,
    Caller(actor): Caller,
    JsonBody(input): JsonBody<WorkerMessageInput>,
) -> ApiResult<Json<WorkerMessage>> {
    Ok(Json(state.horde.send_worker_message(&actor, input).await?))
}

/// One message, for whoever has its id.
#[utoipa::path(get, path = "/api/v2/workers/messages/{id}", tag = "workers",
    params(("id" = String, Path, description = "the message id")),
    responses((status = 200, body = WorkerMessage), (status = 404, body = RequestError)))]
pub async fn get(
    State(state): State<AppState>,
    Caller(_): Caller,
    PathParam(id): PathParam<String>,
) -> ApiResult<Json<WorkerMessage>> {
    Ok(Json(state.horde.worker_message(&id).await?))
}

/// Delete a message (its writer or a moderator).
#[utoipa::path(delete, path = "/api/v2/workers/messages/{id}", tag = "workers",
    params(("id" = String, Path, description = "the message id")),
    responses((status = 200, body = SimpleResponse), (status = 401, body = RequestError),
              (status = 403, body = RequestError), (status = 404, body = RequestError)))]
pub async fn delete(
    State(state): State<AppState>,
    Caller(actor): Caller,
    PathParam(id): PathParam<String>,
) -> ApiResult<Json<SimpleResponse>> {
    Ok(Json(state.horde.delete_worker_message(&actor, &id).await?))
}
