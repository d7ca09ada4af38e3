//! Moderators' prompt filters (`/api/v2/filters`): list, add, check a prompt, the combined
//! expressions, and one filter read, changed or deleted.

use super::error::{ApiError, ApiResult};
use super::extract::{Caller, JsonBody, PathParam, QueryParams};
use super::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use protocol::{
    FilterDetails, FilterPromptInput, FilterPromptSuspicion, FilterRegex, PatchExistingFilter,
    PutNewFilter, RequestError, SimpleResponse,
};
use serde::Deserialize;

#[derive(Deserialize)]
pub struct FilterQuery {
    filter_type: Option<i64>,
    contains: Option<String>,
}

/// A filter's id from the path: digits, or no such filter.
fn filter_id(id: &str) -> ApiResult<i64> {
    id.parse().map_err(|_| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "FilterNotFound",
            "No filter has this id",
        )
    })
}

/// Every filter, or those of a type, or those whose pattern or description contains a text.
#[utoipa::path(get, path = "/api/v2/filters", tag = "operations",
    params(("filter_type" = Option<i64>, Query, description = "10, 11 or 20"),
           ("contains" = Option<String>, Query, description = "a text in the pattern or the description")),
    responses((status = 200, body = Vec<FilterDetails>), (status = 401, body = RequestError),
              (status = 403, body = RequestError)))]
pub async fn list(
    State(state): State<AppState>,
    Caller(moderator): Caller,
    QueryParams(query): QueryParams<FilterQuery>,
) -> ApiResult<Json<Vec<FilterDetails>>> {
    let filters = state
        .horde
        .filters(&moderator, query.filter_type, query.contains.as_deref())
        .await?;
    Ok(Json(filters))
}

/// Add a filter (or get the one with the same pattern and type).
#[utoipa::path(put, path = "/api/v2/filters", tag = "operations", request_body = PutNewFilter,
    responses((status = 200, body = FilterDetails), (status = 400, body = RequestError),
              (status = 401, body = RequestError), (status = 403, body = RequestError)))]
pub async fn add(
    State(state): State<AppState>,
    Caller(moderator): Caller,
    JsonBody(input): JsonBody<PutNewFilter>,
) -> ApiResult<Json<FilterDetails>> {
    Ok(Json(state.horde.add_filter(&moderator, input).await?))
}

/// How a prompt stands against the filters (of one type, or all).
#[utoipa::path(post, path = "/api/v2/filters", tag = "operations", request_body = FilterPromptInput,
    responses((status = 200, body = FilterPromptSuspicion), (status = 401, body = RequestError),
              (status = 403, body = RequestError)))]
pub async fn check(
    State(state): State<AppState>,
    Caller(moderator): Caller,
    JsonBody(input): JsonBody<FilterPromptInput>,
) -> ApiResult<Json<FilterPromptSuspicion>> {
    Ok(Json(state.horde.check_prompt(&moderator, input).await?))
}

/// Each type's filters as the one expression they are matched as.
#[utoipa::path(get, path = "/api/v2/filters/regex", tag = "operations",
    params(("filter_type" = Option<i64>, Query, description = "10, 11 or 20")),
    responses((status = 200, body = Vec<FilterRegex>), (status = 401, body = RequestError),
              (status = 403, body = RequestError)))]
pub async fn regex(
    State(state): State<AppState>,
    Caller(moderator): Caller,
    QueryParams(query): QueryParams<FilterQuery>,
) -> ApiResult<Json<Vec<FilterRegex>>> {
    Ok(Json(
        state
            .horde
            .filter_regexes(&moderator, query.filter_type)
            .await?,
    ))
}

/// One filter.
#[utoipa::path(get, path = "/api/v2/filters/{filter_id}", tag = "operations",
    params(("filter_id" = String, Path, description = "the filter's id")),
    responses((status = 200, body = FilterDetails), (status = 401, body = RequestError),
              (status = 403, body = RequestError), (status = 404, body = RequestError)))]
pub async fn get(
    State(state): State<AppState>,
    Caller(moderator): Caller,
    PathParam(id): PathParam<String>,
) -> ApiResult<Json<FilterDetails>> {
    Ok(Json(state.horde.filter(&moderator, filter_id(&id)?).await?))
}

/// Change a filter.
#[utoipa::path(patch, path = "/api/v2/filters/{filter_id}", tag = "operations",
    request_body = PatchExistingFilter,
    params(("filter_id" = String, Path, description = "the filter's id")),
    responses((status = 200, body = FilterDetails), (status = 400, body = RequestError),
              (status = 401, body = RequestError), (status = 403, body = RequestError),
              (status = 404, body = RequestError)))]
pub async fn modify(
    State(state): State<AppState>,
    Caller(moderator): Caller,
    PathParam(id): PathParam<String>,
    JsonBody(input): JsonBody<PatchExistingFilter>,
) -> ApiResult<Json<FilterDetails>> {
    let id = filter_id(&id)?;
    Ok(Json(
        state.horde.modify_filter(&moderator, id, input).await?,
    ))
}

/// Delete a filter.
#[utoipa::path(delete, path = "/api/v2/filters/{filter_id}", tag = "operations",
    params(("filter_id" = String, Path, description = "the filter's id")),
    responses((status = 200, body = SimpleResponse), (status = 401, body = RequestError),
              (status = 403, body = RequestError), (status = 404, body = RequestError)))]
pub async fn delete(
    State(state): State<AppState>,
    Caller(moderator): Caller,
    PathParam(id): PathParam<String>,
) -> ApiResult<Json<SimpleResponse>> {
    let id = filter_id(&id)?;
    state.horde.delete_filter(&moderator, id).await?;
    Ok(Json(SimpleResponse {
        message: "OK".into(),
    }))
}
