//! The AI Horde API v2 under `/api/v2`: thin handlers that parse, call the
//! core, and map its errors in one place (`error.rs`).

mod alchemy;
mod documents;
mod error;
mod extract;
mod filters;
mod image;
mod me;
mod openapi;
mod operations;
mod shared_keys;
mod stats;
mod status;
mod styles;
mod teams;
mod text;
mod users;
mod worker_messages;
mod workers;

pub use documents::Documents;
pub(crate) use error::capped;
pub use error::ApiError;
pub use extract::{client_address, client_hash, public_base, ClientHash};

use axum::http::StatusCode;
use axum::routing::{any, delete, get, patch, post, put};
use axum::Router;
use potluck_core::Horde;
use std::sync::Arc;

/// What the handlers need besides the core.
pub struct ApiSettings {
    pub public_url: Option<String>,
    pub client_ip_header: Option<String>,
    /// How long a `/v1` request waits for its result.
    pub openai_timeout: std::time::Duration,
    /// What `/api/v2/documents` and `/.well-known/serviceinfo` serve.
    pub documents: documents::Documents,
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
        .route("/generate/rate/{id}", post(image::rate))
        .route("/images/{id}", get(image::download).put(image::upload))
        .route("/interrogate/async", post(alchemy::submit))
        .route(
            "/interrogate/status/{id}",
            get(alchemy::status).delete(alchemy::cancel),
        )
        .route("/interrogate/pop", post(alchemy::pop))
        .route("/interrogate/submit", post(alchemy::submit_result))
        .route("/interrogate/source/{id}", get(alchemy::source_image))
        .route("/status/heartbeat", get(status::heartbeat))
        .route("/status/models", get(status::models))
        .route("/status/models/{name}", get(status::model))
        .route("/status/performance", get(status::performance))
        .route("/status/modes", get(status::modes).put(status::set_modes))
        .route("/status/news", get(status::news))
        .route("/stats/img/totals", get(stats::image_totals))
        .route("/stats/img/models", get(stats::image_models))
        .route("/stats/text/totals", get(stats::text_totals))
        .route("/stats/text/models", get(stats::text_models))
        .route("/documents/terms", get(documents::terms))
        .route("/documents/privacy", get(documents::privacy))
        .route("/documents/sponsors", get(documents::sponsors))
        .route(
            "/styles/text",
            get(styles::list_text).post(styles::create_text),
        )
        .route(
            "/styles/text/{id}",
            get(styles::get_text)
                .patch(styles::modify_text)
                .delete(styles::delete_text),
        )
        .route("/styles/text_by_name/{name}", get(styles::get_text_by_name))
        .route(
            "/styles/image",
            get(styles::list_image).post(styles::create_image),
        )
        .route(
            "/styles/image/{id}",
            get(styles::get_image)
                .patch(styles::modify_image)
                .delete(styles::delete_image),
        )
        .route(
            "/styles/image_by_name/{name}",
            get(styles::get_image_by_name),
        )
        .route("/styles/image/{id}/example", post(styles::add_example))
        .route(
            "/styles/image/{id}/example/{example_id}",
            patch(styles::modify_example).delete(styles::delete_example),
        )
        .route(
            "/collections",
            get(styles::list_collections).post(styles::create_collection),
        )
        .route(
            "/collections/{id}",
            get(styles::get_collection)
                .patch(styles::modify_collection)
                .delete(styles::delete_collection),
        )
        .route(
            "/collection_by_name/{name}",
            get(styles::get_collection_by_name),
        )
        .route("/sharedkeys", put(shared_keys::create))
        .route(
            "/sharedkeys/{key}",
            get(shared_keys::get)
                .patch(shared_keys::modify)
                .delete(shared_keys::delete),
        )
        .route("/workers", get(workers::list))
        .route(
            "/workers/{id}",
            get(workers::get)
                .put(workers::modify)
                .delete(workers::delete),
        )
        .route("/workers/name/{name}", get(workers::get_by_name))
        .route(
            "/workers/messages",
            get(worker_messages::list).post(worker_messages::send),
        )
        .route(
            "/workers/messages/{id}",
            get(worker_messages::get).delete(worker_messages::delete),
        )
        .route("/teams", get(teams::list).post(teams::create))
        .route(
            "/teams/{id}",
            get(teams::get).patch(teams::modify).delete(teams::delete),
        )
        .route("/find_user", get(users::find_user))
        .route("/users", get(users::list))
        .route("/users/{id}", get(users::get).put(users::modify))
        .route("/users/{id}/suspicions", get(users::suspicions))
        .route("/users/me", delete(me::erase))
        .route("/users/me/export", get(me::export))
        .route("/users/me/contact", put(me::contact))
        .route("/users/me/freeze", post(me::freeze))
        .route("/users/me/unfreeze", post(me::unfreeze))
        .route("/users/me/username", put(me::rename))
        .route("/users/me/apikey", post(me::reset_key))
        .route("/register", post(users::register))
        .route("/kudos/transfer", post(users::transfer))
        .route("/kudos/award", post(users::award))
        .route(
            "/operations/ipaddr",
            get(operations::list)
                .post(operations::block)
                .delete(operations::unblock),
        )
        .route("/operations/ipaddr/{ipaddr}", get(operations::check))
        .route(
            "/filters",
            get(filters::list).put(filters::add).post(filters::check),
        )
        .route("/filters/regex", get(filters::regex))
        .route(
            "/filters/{filter_id}",
            get(filters::get)
                .patch(filters::modify)
                .delete(filters::delete),
        )
        .route(
            "/operations/moderation_log",
            get(operations::moderation_log),
        )
        .route(
            "/operations/block_worker_ipaddr/{worker_id}",
            put(operations::block_worker).delete(operations::unblock_worker),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed);
    Router::new()
        .nest("/api/v2", v2)
        .route(
            "/api/swagger.json",
            get(openapi::document).fallback(method_not_allowed),
        )
        .route("/health/live", get(status::live))
        .route("/health/ready", get(status::ready))
        .route("/.well-known/serviceinfo", get(documents::service_info))
        // Every other path under /api is the API's too: a 404 in its shape, not the UI's page.
        .route("/api", any(not_found))
        .route("/api/", any(not_found))
        .route("/api/{*rest}", any(not_found))
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
