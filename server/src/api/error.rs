//! Every error leaves the server here, in the AI Horde shape
//! `{"message": ..., "rc": ...}` with the matching HTTP status.

use axum::extract::rejection::{BytesRejection, JsonRejection, PathRejection, QueryRejection};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use potluck_core::CoreError;
use protocol::RequestError;
use std::collections::BTreeMap;

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    rc: &'static str,
    message: String,
    field: Option<&'static str>,
}

impl ApiError {
    pub fn new(status: StatusCode, rc: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            rc,
            message: message.into(),
            field: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BadRequest", message)
    }

    /// A body sent without a JSON Content-Type.
    pub fn not_json() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "BadRequest",
            "Send the body as JSON with Content-Type: application/json",
        )
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

impl From<CoreError> for ApiError {
    fn from(error: CoreError) -> Self {
        match error {
            CoreError::Rejected(r) => {
                let status =
                    StatusCode::from_u16(r.kind.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
                ApiError {
                    status,
                    rc: r.rc,
                    message: r.message,
                    field: r.field,
                }
            }
            other => {
                // The cause goes to the log only; the client learns nothing of our internals.
                tracing::error!(error = %other, "internal error");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "ServiceUnavailable",
                    "The server could not complete this request; try again shortly",
                )
            }
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::MissingJsonContentType(_) => ApiError::not_json(),
            JsonRejection::BytesRejection(rejection) => rejection.into(),
            other => ApiError::bad_request(format!("Invalid JSON body: {}", other.body_text())),
        }
    }
}

/// A body that could not be read: over the size limit, or cut off.
impl From<BytesRejection> for ApiError {
    fn from(rejection: BytesRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "BadRequest",
                "The request body is too large",
            )
        } else {
            ApiError::bad_request(format!("Unreadable body: {}", rejection.body_text()))
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::bad_request(format!("Invalid query: {}", rejection.body_text()))
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError::bad_request(format!("Invalid path: {}", rejection.body_text()))
    }
}

/// The most characters an error message carries. A message that quotes what the client sent
/// (a megabyte of model name) is cut here, so that no error body echoes its input back.
const MAX_MESSAGE_CHARS: usize = 300;

pub(crate) fn capped(message: String) -> String {
    match message.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((cut, _)) => format!("{}…", &message[..cut]),
        None => message,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let message = capped(self.message);
        // Clients (horde-sdk among them) read an `errors` map as a schema
        // failure and then ignore the rc, so only generic field errors carry one.
        let errors = self
            .field
            .filter(|_| self.rc == "BadRequest")
            .map(|field| BTreeMap::from([(field.to_string(), message.clone())]));
        let body = RequestError {
            message,
            rc: self.rc.to_string(),
            errors,
        };
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::PAYLOAD_TOO_LARGE {
            // The rest of the body stays unread, so the connection cannot
            // carry another request: say so, or the client reuses it and
            // its next request fails.
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            // The database is away (restarting, or every connection busy): clients that honour
            // it come back when it is likely to answer again.
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_messages_are_cut_on_a_character() {
        assert_eq!(capped("short".into()), "short");
        let long = "é".repeat(MAX_MESSAGE_CHARS + 10);
        let cut = capped(long);
        assert_eq!(cut.chars().count(), MAX_MESSAGE_CHARS + 1);
        assert!(cut.ends_with('…'));
    }
}
