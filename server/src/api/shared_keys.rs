//! Shared keys (`/api/v2/sharedkeys`): keys an account lends to others, who then spend its
//! kudos within the key's limits. The key is its own id.

use super::error::ApiResult;
use super::extract::{Caller, JsonBody, PathParam};
use super::AppState;
use axum::extract::State;
use axum::Json;
use protocol::{RequestError, SharedKeyDetails, SharedKeyInput, SimpleResponse};

/// A new shared key of the caller's. Its `id` is the key, shown this once: only its hash is
/// stored. (The AI Horde takes PUT; POST is the same.)
#[utoipa::path(put, path = "/api/v2/sharedkeys", tag = "users", request_body = SharedKeyInput,
    responses((status = 200, body = SharedKeyDetails), (status = 400, body = RequestError),
              (status = 401, body = RequestError), (status = 403, body = RequestError)))]
pub async fn create(
    State(state): State<AppState>,
    Caller(account): Caller,
    JsonBody(input): JsonBody<SharedKeyInput>,
) -> ApiResult<Json<SharedKeyDetails>> {
    Ok(Json(state.horde.create_shared_key(&account, input).await?))
}

/// A key's details, for whoever holds the key.
#[utoipa::path(get, path = "/api/v2/sharedkeys/{key}", tag = "users",
    params(("key" = String, Path, description = "the shared key")),
    responses((status = 200, body = SharedKeyDetails), (status = 401, body = RequestError)))]
pub async fn get(
    State(state): State<AppState>,
    PathParam(key): PathParam<String>,
) -> ApiResult<Json<SharedKeyDetails>> {
    Ok(Json(state.horde.shared_key_details(&key).await?))
}

/// Its owner's change to a key.
#[utoipa::path(patch, path = "/api/v2/sharedkeys/{key}", tag = "users", request_body = SharedKeyInput,
    params(("key" = String, Path, description = "the shared key")),
    responses((status = 200, body = SharedKeyDetails), (status = 400, body = RequestError),
              (status = 401, body = RequestError), (status = 403, body = RequestError)))]
pub async fn modify(
    State(state): State<AppState>,
    Caller(account): Caller,
    PathParam(key): PathParam<String>,
    JsonBody(input): JsonBody<SharedKeyInput>,
) -> ApiResult<Json<SharedKeyDetails>> {
    Ok(Json(
        state.horde.modify_shared_key(&account, &key, input).await?,
    ))
}

/// Deletes one of the caller's keys; the requests it queued that still wait are cancelled.
#[utoipa::path(delete, path = "/api/v2/sharedkeys/{key}", tag = "users",
    params(("key" = String, Path, description = "the shared key")),
    responses((status = 200, body = SimpleResponse), (status = 401, body = RequestError),
              (status = 403, body = RequestError)))]
pub async fn delete(
    State(state): State<AppState>,
    Caller(account): Caller,
    PathParam(key): PathParam<String>,
) -> ApiResult<Json<SimpleResponse>> {
    Ok(Json(state.horde.delete_shared_key(&account, &key).await?))
}
