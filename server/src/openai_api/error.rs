//! Every `/v1` error leaves here, in OpenAI's shape `{"error": {"message", "type", "param",
//! "code"}}`, so that OpenAI's clients raise their usual exceptions.

use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use potluck_core::{CoreError, RejectionKind};
use protocol::openai_api::{OpenAiError, OpenAiErrorBody};

#[derive(Debug)]
pub struct OpenAiApiError {
    pub status: StatusCode,
    kind: &'static str,
    code: Option<String>,
    param: Option<String>,
    pub message: String,
}

pub type OpenAiResult<T> = Result<T, OpenAiApiError>;

impl OpenAiApiError {
    fn new(
        status: StatusCode,
        kind: &'static str,
        code: Option<&str>,
        message: impl Into<String>,
    ) -> Self {
        OpenAiApiError {
            status,
            kind,
            code: code.map(str::to_owned),
            param: None,
            message: message.into(),
        }
    }

    /// A bad value in the request, naming the parameter at fault.
    pub fn invalid(param: &str, message: impl Into<String>) -> Self {
        OpenAiApiError {
            param: Some(param.to_string()),
            ..Self::new(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                None,
                message,
            )
        }
    }

    /// A parameter the server cannot honour.
    pub fn unsupported(param: &str) -> Self {
        OpenAiApiError {
            code: Some("unsupported_parameter".into()),
            ..Self::invalid(param, format!("{param} is not supported by this server"))
        }
    }

    pub fn unknown_model(model: &str) -> Self {
        OpenAiApiError {
            param: Some("model".into()),
            ..Self::new(
                StatusCode::NOT_FOUND,
                "invalid_request_error",
                Some("model_not_found"),
                format!("The model {model:?} does not exist: no worker serves it (GET /v1/models lists those online)"),
            )
        }
    }

    pub fn no_worker(model: &str) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "server_error",
            Some("no_worker_online"),
            format!("No worker serving {model:?} is online right now; try again later"),
        )
    }

    pub fn timeout(seconds: u64) -> Self {
        Self::new(
            StatusCode::GATEWAY_TIMEOUT,
            "timeout",
            Some("timeout"),
            format!("No worker finished the generation within {seconds} s; it was cancelled"),
        )
    }

    pub fn generation_failed(why: &str) -> Self {
        Self::new(
            StatusCode::BAD_GATEWAY,
            "server_error",
            Some("generation_failed"),
            why,
        )
    }

    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            Some("not_found"),
            "No such endpoint",
        )
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request_error",
            Some("method_not_allowed"),
            "This endpoint does not take this method",
        )
    }

    /// The body as a streamed error event.
    pub fn to_body(&self) -> OpenAiError {
        OpenAiError {
            error: OpenAiErrorBody {
                message: crate::api::capped(self.message.clone()),
                kind: self.kind.to_string(),
                param: self.param.clone(),
                code: self.code.clone(),
            },
        }
    }
}

impl From<CoreError> for OpenAiApiError {
    fn from(error: CoreError) -> Self {
        let CoreError::Rejected(r) = error else {
            tracing::error!(%error, "internal error");
            return Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "server_error",
                None,
                "The server could not complete this request; try again shortly",
            );
        };
        let (status, kind, code) = match r.kind {
            RejectionKind::BadRequest => (StatusCode::BAD_REQUEST, "invalid_request_error", r.rc),
            RejectionKind::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "invalid_request_error",
                "invalid_api_key",
            ),
            RejectionKind::Forbidden => (StatusCode::FORBIDDEN, "permission_error", r.rc),
            RejectionKind::NotFound | RejectionKind::Gone => {
                (StatusCode::NOT_FOUND, "invalid_request_error", r.rc)
            }
            RejectionKind::TooManyRequests => {
                (StatusCode::TOO_MANY_REQUESTS, "rate_limit_error", r.rc)
            }
        };
        OpenAiApiError {
            param: r.field.map(str::to_owned),
            ..Self::new(status, kind, Some(code), r.message)
        }
    }
}

impl From<PathRejection> for OpenAiApiError {
    fn from(rejection: PathRejection) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            None,
            format!("Invalid path: {}", rejection.body_text()),
        )
    }
}

impl From<BytesRejection> for OpenAiApiError {
    fn from(rejection: BytesRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request_error",
                Some("request_too_large"),
                "The request body is too large",
            )
        } else {
            Self::new(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                None,
                rejection.body_text(),
            )
        }
    }
}

impl IntoResponse for OpenAiApiError {
    fn into_response(self) -> Response {
        let status = self.status;
        let mut response = (status, Json(self.to_body())).into_response();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            // The rest of the body stays unread: the connection cannot carry another request.
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}
