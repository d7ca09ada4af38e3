//! Moderators' timeouts of client addresses (`/api/v2/operations`), which work on the keyed
//! hashes of addresses: see `potluck_core`'s `address_blocks.rs`.

use super::error::ApiResult;
use super::extract::{Caller, JsonBody, PathParam, QueryParams};
use super::AppState;
use axum::extract::State;
use axum::Json;
use protocol::{
    AddTimeoutIpInput, AddWorkerTimeout, DeleteTimeoutIpInput, IpTimeout, ModerationEntry,
    RequestError, SimpleResponse,
};
use serde::Deserialize;

fn ok() -> Json<SimpleResponse> {
    Json(SimpleResponse {
        message: "OK".into(),
    })
}

/// Every timeout, each named by its block (addresses are not kept).
#[utoipa::path(get, path = "/api/v2/operations/ipaddr", tag = "operations",
    responses((status = 200, body = Vec<IpTimeout>), (status = 401, body = RequestError),
              (status = 403, body = RequestError)))]
pub async fn list(
    State(state): State<AppState>,
    Caller(moderator): Caller,
) -> ApiResult<Json<Vec<IpTimeout>>> {
    Ok(Json(state.horde.address_timeouts(&moderator).await?))
}

/// Put an address (or an IPv6 /64) in timeout for 1 to 720 hours.
#[utoipa::path(post, path = "/api/v2/operations/ipaddr", tag = "operations",
    request_body = AddTimeoutIpInput,
    responses((status = 200, body = SimpleResponse), (status = 400, body = RequestError),
              (status = 401, body = RequestError), (status = 403, body = RequestError)))]
pub async fn block(
    State(state): State<AppState>,
    Caller(moderator): Caller,
    JsonBody(input): JsonBody<AddTimeoutIpInput>,
) -> ApiResult<Json<SimpleResponse>> {
    state
        .horde
        .block_address(&moderator, &input.ipaddr, input.hours)
        .await?;
    Ok(ok())
}

/// Lift an address's timeouts.
#[utoipa::path(delete, path = "/api/v2/operations/ipaddr", tag = "operations",
    request_body = DeleteTimeoutIpInput,
    responses((status = 200, body = SimpleResponse), (status = 400, body = RequestError),
              (status = 401, body = RequestError), (status = 403, body = RequestError)))]
pub async fn unblock(
    State(state): State<AppState>,
    Caller(moderator): Caller,
    JsonBody(input): JsonBody<DeleteTimeoutIpInput>,
) -> ApiResult<Json<SimpleResponse>> {
    state
        .horde
        .unblock_address(&moderator, &input.ipaddr)
        .await?;
    Ok(ok())
}

/// Whether an address is in timeout, and for how long.
#[utoipa::path(get, path = "/api/v2/operations/ipaddr/{ipaddr}", tag = "operations",
    params(("ipaddr" = String, Path, description = "an IPv4 or IPv6 address")),
    responses((status = 200, body = Vec<IpTimeout>), (status = 400, body = RequestError),
              (status = 401, body = RequestError), (status = 403, body = RequestError)))]
pub async fn check(
    State(state): State<AppState>,
    Caller(moderator): Caller,
    PathParam(ipaddr): PathParam<String>,
) -> ApiResult<Json<Vec<IpTimeout>>> {
    Ok(Json(
        state.horde.timeouts_of_address(&moderator, &ipaddr).await?,
    ))
}

/// Put the address a worker last asked for work from in timeout, for 1 to 30 days.
#[utoipa::path(put, path = "/api/v2/operations/block_worker_ipaddr/{worker_id}",
    tag = "operations", request_body = AddWorkerTimeout,
    params(("worker_id" = String, Path, description = "the worker's id")),
    responses((status = 200, body = SimpleResponse), (status = 400, body = RequestError),
              (status = 401, body = RequestError), (status = 403, body = RequestError),
              (status = 404, body = RequestError)))]
pub async fn block_worker(
    State(state): State<AppState>,
    Caller(moderator): Caller,
    PathParam(worker_id): PathParam<String>,
    JsonBody(input): JsonBody<AddWorkerTimeout>,
) -> ApiResult<Json<SimpleResponse>> {
    state
        .horde
        .block_worker_address(&moderator, &worker_id, input.days)
        .await?;
    Ok(ok())
}

/// Lift the timeouts made through a worker.
#[utoipa::path(delete, path = "/api/v2/operations/block_worker_ipaddr/{worker_id}",
    tag = "operations",
    params(("worker_id" = String, Path, description = "the worker's id")),
    responses((status = 200, body = SimpleResponse), (status = 401, body = RequestError),
              (status = 403, body = RequestError), (status = 404, body = RequestError)))]
pub async fn unblock_worker(
    State(state): State<AppState>,
    Caller(moderator): Caller,
    PathParam(worker_id): PathParam<String>,
) -> ApiResult<Json<SimpleResponse>> {
    state
        .horde
        .unblock_worker_address(&moderator, &worker_id)
        .await?;
    Ok(ok())
}

#[derive(Deserialize)]
pub struct PageParams {
    page: Option<i64>,
}

/// What moderators and admins did with their rights, 50 entries a page, newest first
/// (Potluck's): who, what and when, never a prompt, a message's text or an address.
#[utoipa::path(get, path = "/api/v2/operations/moderation_log", tag = "operations",
    params(("page" = Option<i64>, Query, description = "from 1")),
    responses((status = 200, body = Vec<ModerationEntry>), (status = 401, body = RequestError),
              (status = 403, body = RequestError)))]
pub async fn moderation_log(
    State(state): State<AppState>,
    Caller(moderator): Caller,
    QueryParams(params): QueryParams<PageParams>,
) -> ApiResult<Json<Vec<ModerationEntry>>> {
    Ok(Json(
        state.horde.moderation_log(&moderator, params.page).await?,
    ))
}
