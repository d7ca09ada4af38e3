//! Image generation: `/api/v2/generate/*`, and the images Potluck stores and serves.

use super::error::{ApiError, ApiResult};
use super::extract::{
    BaseUrl, Caller, ClientAddress, ClientHash, JsonBody, PathParam, QueryParams, Requester,
};
use super::AppState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use potluck_core::ImageUpload;
use protocol::{
    AestheticsPayload, GenerationInputStable, GenerationPayloadStable, GenerationSubmitted,
    PopInputStable, RequestAsync, RequestError, RequestStatusCheck, RequestStatusStable,
    SubmitInputStable,
};
use serde::Deserialize;

/// Queue an image generation.
#[utoipa::path(post, path = "/api/v2/generate/async", tag = "image", request_body = GenerationInputStable,
    responses((status = 202, body = RequestAsync), (status = 400, body = RequestError),
              (status = 401, body = RequestError), (status = 429, body = RequestError)))]
pub async fn submit(
    State(state): State<AppState>,
    Requester(account): Requester,
    ClientHash(client): ClientHash,
    JsonBody(input): JsonBody<GenerationInputStable>,
) -> ApiResult<(StatusCode, Json<RequestAsync>)> {
    let dry_run = input.dry_run;
    let accepted = state.horde.submit_image(&account, input, client).await?;
    let status = if dry_run {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    Ok((status, Json(accepted)))
}

/// The progress of an image request (cheap; poll this one).
#[utoipa::path(get, path = "/api/v2/generate/check/{id}", tag = "image",
    params(("id" = String, Path, description = "the request id")),
    responses((status = 200, body = RequestStatusCheck), (status = 404, body = RequestError)))]
pub async fn check(
    State(state): State<AppState>,
    PathParam(id): PathParam<String>,
) -> ApiResult<Json<RequestStatusCheck>> {
    Ok(Json(state.horde.image_check(&id).await?))
}

/// The status of an image request with its images.
#[utoipa::path(get, path = "/api/v2/generate/status/{id}", tag = "image",
    params(("id" = String, Path, description = "the request id")),
    responses((status = 200, body = RequestStatusStable), (status = 404, body = RequestError),
              (status = 410, body = RequestError)))]
pub async fn status(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    PathParam(id): PathParam<String>,
) -> ApiResult<Json<RequestStatusStable>> {
    Ok(Json(state.horde.image_status(&id, &base).await?))
}

/// Cancel an image request; answers its status with what was finished.
#[utoipa::path(delete, path = "/api/v2/generate/status/{id}", tag = "image",
    params(("id" = String, Path, description = "the request id")),
    responses((status = 200, body = RequestStatusStable), (status = 404, body = RequestError)))]
pub async fn cancel(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    PathParam(id): PathParam<String>,
) -> ApiResult<Json<RequestStatusStable>> {
    Ok(Json(state.horde.cancel_image(&id, &base).await?))
}

/// A worker asks for an image job.
#[utoipa::path(post, path = "/api/v2/generate/pop", tag = "image", request_body = PopInputStable,
    responses((status = 200, body = GenerationPayloadStable), (status = 401, body = RequestError),
              (status = 403, body = RequestError)))]
pub async fn pop(
    State(state): State<AppState>,
    Caller(account): Caller,
    BaseUrl(base): BaseUrl,
    ClientAddress(address): ClientAddress,
    JsonBody(input): JsonBody<PopInputStable>,
) -> ApiResult<Json<GenerationPayloadStable>> {
    Ok(Json(
        state
            .horde
            .pop_image(&account, input, &base, address.as_deref())
            .await?,
    ))
}

/// A worker submits a finished image: inline base64, or `R2` after uploading it.
#[utoipa::path(post, path = "/api/v2/generate/submit", tag = "image", request_body = SubmitInputStable,
    responses((status = 200, body = GenerationSubmitted), (status = 400, body = RequestError),
              (status = 404, body = RequestError)))]
pub async fn submit_result(
    State(state): State<AppState>,
    Caller(account): Caller,
    BaseUrl(base): BaseUrl,
    JsonBody(input): JsonBody<SubmitInputStable>,
) -> Result<Json<GenerationSubmitted>, ApiError> {
    Ok(Json(
        state
            .horde
            .submit_image_result(&account, input, &base)
            .await?,
    ))
}

/// The token of a job's URLs: its `r2_upload`, and an interrogation form's `source_image`.
#[derive(Deserialize)]
pub struct UploadToken {
    pub token: String,
}

/// The `r2_upload` target: the worker PUTs the image of its job here.
#[utoipa::path(put, path = "/api/v2/images/{id}", tag = "image",
    params(("id" = String, Path, description = "the job id"), ("token" = String, Query, description = "the token from r2_upload")),
    request_body(content = Vec<u8>, content_type = "image/webp"),
    responses((status = 200), (status = 400, body = RequestError), (status = 403, body = RequestError)))]
pub async fn upload(
    State(state): State<AppState>,
    PathParam(id): PathParam<String>,
    QueryParams(UploadToken { token }): QueryParams<UploadToken>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<StatusCode> {
    let body = body?;
    // No job id holds a NUL, and PostgreSQL cannot even look one up (a query with one is
    // refused before this).
    if id.contains('\0') {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "WrongCredentials",
            "No job in progress matches this upload URL",
        ));
    }
    let upload = ImageUpload {
        job_id: &id,
        token: &token,
        bytes: &body,
    };
    state.horde.upload_image(upload).await?;
    Ok(StatusCode::OK)
}

/// A generated image, until it is purged after delivery.
#[utoipa::path(get, path = "/api/v2/images/{id}", tag = "image",
    params(("id" = String, Path, description = "the job id")),
    responses((status = 200, content_type = "image/webp"), (status = 404, body = RequestError)))]
pub async fn download(
    State(state): State<AppState>,
    PathParam(id): PathParam<String>,
) -> ApiResult<impl IntoResponse> {
    if id.contains('\0') {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "RequestNotFound",
            "No such image, or it was purged after delivery",
        ));
    }
    let image = state.horde.image(&id).await?;
    Ok((
        [
            (header::CONTENT_TYPE, image.content_type),
            (header::CACHE_CONTROL, "private, max-age=600"),
        ],
        image.bytes,
    ))
}

/// Rates the images of a finished request that was shared: the best one, and/or each. Whoever
/// has the request's id may, once; the requester earns kudos for it (never more than the
/// request cost, less one).
#[utoipa::path(post, path = "/api/v2/generate/rate/{id}", tag = "image", request_body = AestheticsPayload,
    params(("id" = String, Path, description = "the request id")),
    responses((status = 200, body = GenerationSubmitted), (status = 400, body = RequestError),
              (status = 404, body = RequestError), (status = 410, body = RequestError)))]
pub async fn rate(
    State(state): State<AppState>,
    PathParam(id): PathParam<String>,
    JsonBody(input): JsonBody<AestheticsPayload>,
) -> ApiResult<Json<GenerationSubmitted>> {
    Ok(Json(state.horde.rate_images(&id, input).await?))
}
