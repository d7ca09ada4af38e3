//! Alchemy: `/api/v2/interrogate/*` (interrogations: an image and the forms asked of it), and
//! the image an alchemist downloads for the form it holds.

use super::error::ApiResult;
use super::extract::{
    BaseUrl, Caller, ClientAddress, ClientHash, JsonBody, PathParam, QueryParams,
};
use super::image::UploadToken;
use super::AppState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use protocol::{
    GenerationSubmitted, InterrogationPopInput, InterrogationPopPayload, InterrogationStatus,
    InterrogationSubmitInput, ModelInterrogationInputStable, RequestError,
    RequestInterrogationResponse,
};

/// Queue an interrogation: an image (base64, or an http(s) URL the server fetches) and the
/// forms asked of it.
#[utoipa::path(post, path = "/api/v2/interrogate/async", tag = "alchemy",
    request_body = ModelInterrogationInputStable,
    params(("apikey" = Option<String>, Header, description = "API key; 0000000000 or none is anonymous (refused by a private server)")),
    responses((status = 202, body = RequestInterrogationResponse), (status = 400, body = RequestError),
              (status = 401, body = RequestError), (status = 429, body = RequestError)))]
pub async fn submit(
    State(state): State<AppState>,
    Caller(account): Caller,
    ClientHash(client): ClientHash,
    JsonBody(input): JsonBody<ModelInterrogationInputStable>,
) -> ApiResult<(StatusCode, Json<RequestInterrogationResponse>)> {
    let accepted = state
        .horde
        .submit_interrogation(&account, input, client)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(accepted)))
}

/// The state of an interrogation's forms, with the results of those done.
#[utoipa::path(get, path = "/api/v2/interrogate/status/{id}", tag = "alchemy",
    params(("id" = String, Path, description = "the interrogation's id")),
    responses((status = 200, body = InterrogationStatus), (status = 404, body = RequestError),
              (status = 410, body = RequestError)))]
pub async fn status(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    PathParam(id): PathParam<String>,
) -> ApiResult<Json<InterrogationStatus>> {
    Ok(Json(state.horde.interrogation_status(&id, &base).await?))
}

/// Cancel the forms no alchemist took yet; answers the status.
#[utoipa::path(delete, path = "/api/v2/interrogate/status/{id}", tag = "alchemy",
    params(("id" = String, Path, description = "the interrogation's id")),
    responses((status = 200, body = InterrogationStatus), (status = 404, body = RequestError),
              (status = 410, body = RequestError)))]
pub async fn cancel(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    PathParam(id): PathParam<String>,
) -> ApiResult<Json<InterrogationStatus>> {
    Ok(Json(state.horde.cancel_interrogation(&id, &base).await?))
}

/// An alchemist asks for forms.
#[utoipa::path(post, path = "/api/v2/interrogate/pop", tag = "alchemy",
    request_body = InterrogationPopInput,
    responses((status = 200, body = InterrogationPopPayload), (status = 400, body = RequestError),
              (status = 401, body = RequestError), (status = 403, body = RequestError)))]
pub async fn pop(
    State(state): State<AppState>,
    Caller(account): Caller,
    BaseUrl(base): BaseUrl,
    ClientAddress(address): ClientAddress,
    JsonBody(input): JsonBody<InterrogationPopInput>,
) -> ApiResult<Json<InterrogationPopPayload>> {
    Ok(Json(
        state
            .horde
            .pop_interrogation(&account, input, &base, address.as_deref())
            .await?,
    ))
}

/// An alchemist submits a form's result (after uploading a post-processed image to its
/// `r2_upload`), or a fault.
#[utoipa::path(post, path = "/api/v2/interrogate/submit", tag = "alchemy",
    request_body = InterrogationSubmitInput,
    responses((status = 200, body = GenerationSubmitted), (status = 400, body = RequestError),
              (status = 403, body = RequestError), (status = 404, body = RequestError)))]
pub async fn submit_result(
    State(state): State<AppState>,
    Caller(account): Caller,
    BaseUrl(base): BaseUrl,
    JsonBody(input): JsonBody<InterrogationSubmitInput>,
) -> ApiResult<Json<GenerationSubmitted>> {
    Ok(Json(
        state
            .horde
            .submit_interrogation_result(&account, input, &base)
            .await?,
    ))
}

/// The image of the form an alchemist holds (the `source_image` of its pop), while it holds it.
#[utoipa::path(get, path = "/api/v2/interrogate/source/{id}", tag = "alchemy",
    params(("id" = String, Path, description = "the form's job id"),
           ("token" = String, Query, description = "the token from source_image")),
    responses((status = 200, content_type = "image/webp"), (status = 404, body = RequestError)))]
pub async fn source_image(
    State(state): State<AppState>,
    PathParam(id): PathParam<String>,
    QueryParams(UploadToken { token }): QueryParams<UploadToken>,
) -> ApiResult<impl IntoResponse> {
    let image = state.horde.interrogation_image(&id, &token).await?;
    Ok((
        [
            (header::CONTENT_TYPE, image.content_type),
            (header::CACHE_CONTROL, "private, no-store"),
        ],
        image.bytes,
    ))
}
