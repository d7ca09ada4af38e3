//! The AI Horde API v2 under `/api/v2`: thin handlers that parse, call the
//! core, and map its errors in one place (`error.rs`).

mod error;
mod extract;
mod image;
mod me;
mod openapi;
mod status;
mod text;
mod users;
mod workers;

pub use error::ApiError;
pub use extract::{client_hash, public_base, ClientHash};

use axum::http::StatusCode;
use axum::routing::{delete, get, post, put};
use axum::Router;
use potluck_core::Horde;
use std::sync::Arc;

/// What the handlers need besides the core.
pub struct ApiSettings {
    pub public_url: Option<String>,
    pub client_ip_header: Option<String>,
    /// How long a `/v1` request waits for its result.
    pub openai_timeout: std::time::Duration,
}

#[derive(Clone)]
pub struct AppState {
    pub horde: Arc<Horde>,
    pub settings: Arc<ApiSettings>,
}

pub fn router(state: AppState) -> Router {
    let v2 = Router::new()
        .route("/generate/text/async", post(text::submit))
        .route(
            "/generate/text/status/{id}",
            get(text::status).delete(text::cancel),
        )
        .route("/generate/text/pop", post(text::pop))
        .route("/generate/text/submit", post(text::submit_result))
        .route("/generate/text/progress", post(text::progress))
        .route("/generate/async", post(image::submit))
        .route("/generate/check/{id}", get(image::check))
        .route(
            "/generate/status/{id}",
            get(image::status).delete(image::cancel),
        )
        .route("/generate/pop", post(image::pop))
        .route("/generate/submit", post(image::submit_result))
        .route("/images/{id}", get(image::download).put(image::upload))
        .route("/status/heartbeat", get(status::heartbeat))
        .route("/status/models", get(status::models))
        .route("/status/models/{name}", get(status::model))
        .route("/status/performance", get(status::performance))
        .route("/status/modes", get(status::modes))
        .route("/workers", get(workers::list))
        .route(
            "/workers/{id}",
            get(workers::get)
                .put(workers::modify)
                .delete(workers::delete),
        )
        .route("/find_user", get(users::find_user))
        .route("/users", get(users::list))
        .route("/users/{id}", get(users::get).put(users::modify))
        .route("/users/me", delete(me::erase))
        .route("/users/me/export", get(me::export))
        .route("/users/me/contact", put(me::contact))
        .route("/users/me/freeze", post(me::freeze))
        .route("/users/me/unfreeze", post(me::unfreeze))
        .route("/users/me/username", put(me::rename))
        .route("/users/me/apikey", post(me::reset_key))
        .route("/register", post(users::register))
        .route("/kudos/transfer", post(users::transfer))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed);
    Router::new()
        .nest("/api/v2", v2)
        .route("/api/swagger.json", get(openapi::document))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "NotFound", "No such API endpoint")
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "BadRequest",
        "This endpoint does not take this method",
    )
}
