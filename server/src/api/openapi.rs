//! The OpenAPI document, generated from the handlers and wire types.

use axum::Json;
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(title = "Potluck AI Horde API", description = "The AI Horde API v2 as served by Potluck, and its OpenAI-compatible API under /v1"),
    paths(
        super::text::submit, super::text::status, super::text::cancel, super::text::pop, super::text::submit_result,
        super::text::progress,
        super::image::submit, super::image::check, super::image::status, super::image::cancel, super::image::pop,
        super::image::submit_result, super::image::upload, super::image::download,
        super::status::heartbeat, super::status::models, super::status::model, super::status::performance,
        super::status::modes,
        super::workers::list, super::workers::get, super::workers::modify, super::workers::delete,
        super::users::register, super::users::find_user, super::users::list, super::users::get, super::users::modify,
        super::users::transfer,
        super::me::export, super::me::contact, super::me::freeze, super::me::unfreeze, super::me::erase,
        super::me::rename, super::me::reset_key,
        crate::openai_api::models, crate::openai_api::model, crate::openai_api::chat_completions, crate::openai_api::completions,
    ),
    tags((name = "text"), (name = "image"), (name = "status"), (name = "workers"), (name = "users"),
         (name = "openai", description = "The OpenAI-compatible API, on the same queue"))
)]
pub struct ApiDoc;

pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
