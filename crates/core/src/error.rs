//! Errors of the domain. A [`Rejection`] is the client's fault and carries the
//! AI Horde `rc` code; everything else is ours and is never shown in detail.

use std::fmt;

/// What kind of refusal this is; the server maps each kind to one HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectionKind {
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    Gone,
    TooManyRequests,
}

impl RejectionKind {
    /// The HTTP status every front end (the API, the web UI) answers this kind of refusal with.
    pub fn http_status(self) -> u16 {
        match self {
            RejectionKind::BadRequest => 400,
            RejectionKind::Unauthorized => 401,
            RejectionKind::Forbidden => 403,
            RejectionKind::NotFound => 404,
            RejectionKind::Gone => 410,
            RejectionKind::TooManyRequests => 429,
        }
    }
}

/// A request the rules refuse, with the AI Horde `rc` code and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub kind: RejectionKind,
    pub rc: &'static str,
    pub message: String,
    /// The input field at fault, when one is.
    pub field: Option<&'static str>,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.rc)
    }
}

impl Rejection {
    fn new(kind: RejectionKind, rc: &'static str, message: impl Into<String>) -> Self {
        Rejection {
            kind,
            rc,
            message: message.into(),
            field: None,
        }
    }
    /// A bad value in one input field.
    pub fn invalid_field(
        field: &'static str,
        rc: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Rejection {
            field: Some(field),
            ..Self::bad_request(rc, message)
        }
    }
    pub fn bad_request(rc: &'static str, message: impl Into<String>) -> Self {
        Self::new(RejectionKind::BadRequest, rc, message)
    }
    pub fn unauthorized(rc: &'static str, message: impl Into<String>) -> Self {
        Self::new(RejectionKind::Unauthorized, rc, message)
    }
    pub fn forbidden(rc: &'static str, message: impl Into<String>) -> Self {
        Self::new(RejectionKind::Forbidden, rc, message)
    }
    pub fn not_found(rc: &'static str, message: impl Into<String>) -> Self {
        Self::new(RejectionKind::NotFound, rc, message)
    }
    pub fn gone(rc: &'static str, message: impl Into<String>) -> Self {
        Self::new(RejectionKind::Gone, rc, message)
    }
    pub fn too_many(rc: &'static str, message: impl Into<String>) -> Self {
        Self::new(RejectionKind::TooManyRequests, rc, message)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("{0}")]
    Rejected(Rejection),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
}

impl From<Rejection> for CoreError {
    fn from(r: Rejection) -> Self {
        CoreError::Rejected(r)
    }
}

impl CoreError {
    pub fn rejection(&self) -> Option<&Rejection> {
        match self {
            CoreError::Rejected(r) => Some(r),
            _ => None,
        }
    }
}

pub type Result<T, E = CoreError> = std::result::Result<T, E>;
