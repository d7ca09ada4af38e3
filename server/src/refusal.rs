//! Refusals answered before any handler (rate limits, address timeouts), in the error shape of
//! the API the request's path belongs to: OpenAI's under `/v1`, the AI Horde's elsewhere.

use crate::api::ApiError;
use crate::openai_api::OpenAiApiError;
use axum::response::{IntoResponse, Response};
use potluck_core::{CoreError, Rejection};

pub fn respond(path: &str, rejection: Rejection) -> Response {
    let error = CoreError::Rejected(rejection);
    if path.starts_with("/v1/") {
        OpenAiApiError::from(error).into_response()
    } else {
        ApiError::from(error).into_response()
    }
}
