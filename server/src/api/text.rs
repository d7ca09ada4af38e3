//! Text generation: `/api/v2/generate/text/*`.

use super::error::{ApiError, ApiResult};
use super::extract::{Caller, ClientAddress, ClientHash, JsonBody, PathParam, Requester};
use super::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use protocol::{
    GenerationInputKobold, GenerationPayloadKobold, GenerationProgress, GenerationProgressAnswer,
    GenerationSubmitted, PopInputKobold, RequestAsync, RequestError, RequestStatusKobold,
    SubmitInputKobold,
};

/// Queue a text generation.
#[utoipa::path(post, path = "/api/v2/generate/text/async", tag = "text", request_body = GenerationInputKobold,
    params(("apikey" = Option<String>, Header, description = "API key; 0000000000 or none is anonymous (refused by a private server)")),
    responses((status = 202, body = RequestAsync), (status = 400, body = RequestError),
              (status = 401, body = RequestError), (status = 429, body = RequestError)))]
pub async fn submit(
    State(state): State<AppState>,
    Requester(account): Requester,
    ClientHash(client): ClientHash,
    JsonBody(input): JsonBody<GenerationInputKobold>,
) -> ApiResult<(StatusCode, Json<RequestAsync>)> {
    let dry_run = input.dry_run;
    let accepted = state.horde.submit_text(&account, input, client).await?;
    let status = if dry_run {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    Ok((status, Json(accepted)))
}

/// The status of a text request, with its finished generations.
#[utoipa::path(get, path = "/api/v2/generate/text/status/{id}", tag = "text",
    params(("id" = String, Path, description = "the request id")),
    responses((status = 200, body = RequestStatusKobold), (status = 404, body = RequestError),
              (status = 410, body = RequestError)))]
pub async fn status(
    State(state): State<AppState>,
    PathParam(id): PathParam<String>,
) -> ApiResult<Json<RequestStatusKobold>> {
    Ok(Json(state.horde.text_status(&id).await?))
}

/// Cancel a text request; answers its status with what was finished.
#[utoipa::path(delete, path = "/api/v2/generate/text/status/{id}", tag = "text",
    params(("id" = String, Path, description = "the request id")),
    responses((status = 200, body = RequestStatusKobold), (status = 404, body = RequestError)))]
pub async fn cancel(
    State(state): State<AppState>,
    PathParam(id): PathParam<String>,
) -> ApiResult<Json<RequestStatusKobold>> {
    Ok(Json(state.horde.cancel_text(&id).await?))
}

/// A worker asks for a text job.
#[utoipa::path(post, path = "/api/v2/generate/text/pop", tag = "text", request_body = PopInputKobold,
    responses((status = 200, body = GenerationPayloadKobold), (status = 401, body = RequestError),
              (status = 403, body = RequestError)))]
pub async fn pop(
    State(state): State<AppState>,
    Caller(account): Caller,
    ClientAddress(address): ClientAddress,
    JsonBody(input): JsonBody<PopInputKobold>,
) -> ApiResult<Json<GenerationPayloadKobold>> {
    Ok(Json(
        state
            .horde
            .pop_text(&account, input, address.as_deref())
            .await?,
    ))
}

/// A worker submits a finished text generation.
#[utoipa::path(post, path = "/api/v2/generate/text/submit", tag = "text", request_body = SubmitInputKobold,
    responses((status = 200, body = GenerationSubmitted), (status = 400, body = RequestError),
              (status = 404, body = RequestError)))]
pub async fn submit_result(
    State(state): State<AppState>,
    Caller(account): Caller,
    JsonBody(input): JsonBody<SubmitInputKobold>,
) -> Result<Json<GenerationSubmitted>, ApiError> {
    Ok(Json(state.horde.submit_text_result(&account, input).await?))
}

/// Potluck: a worker's text so far, relayed to a requester who streams the request. The answer
/// says whether the requester went away (then the worker stops and submits what it has).
#[utoipa::path(post, path = "/api/v2/generate/text/progress", tag = "text", request_body = GenerationProgress,
    responses((status = 200, body = GenerationProgressAnswer), (status = 400, body = RequestError),
              (status = 403, body = RequestError), (status = 404, body = RequestError)))]
pub async fn progress(
    State(state): State<AppState>,
    Caller(account): Caller,
    JsonBody(input): JsonBody<GenerationProgress>,
) -> ApiResult<Json<GenerationProgressAnswer>> {
    Ok(Json(state.horde.text_progress(&account, input).await?))
}
