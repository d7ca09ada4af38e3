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
        super::alchemy::submit, super::alchemy::status, super::alchemy::cancel, super::alchemy::pop,
        super::alchemy::submit_result, super::alchemy::source_image,
        super::status::heartbeat, super::status::live, super::status::ready, super::status::models, super::status::model, super::status::performance,
        super::status::modes, super::status::set_modes, super::status::news,
        super::stats::image_totals, super::stats::image_models, super::stats::text_totals,
        super::stats::text_models,
        super::documents::terms, super::documents::privacy, super::documents::sponsors,
        super::documents::service_info,
        super::styles::list_text, super::styles::create_text, super::styles::get_text,
        super::styles::get_text_by_name, super::styles::modify_text, super::styles::delete_text,
        super::styles::list_image, super::styles::create_image, super::styles::get_image,
        super::styles::get_image_by_name, super::styles::modify_image, super::styles::delete_image,
        super::styles::add_example, super::styles::modify_example, super::styles::delete_example,
        super::styles::list_collections, super::styles::create_collection,
        super::styles::get_collection, super::styles::get_collection_by_name,
        super::styles::modify_collection, super::styles::delete_collection,
        super::shared_keys::create, super::shared_keys::get, super::shared_keys::modify,
        super::shared_keys::delete,
        super::image::rate, super::users::award,
        super::workers::list, super::workers::get, super::workers::get_by_name, super::workers::modify,
        super::workers::delete,
        super::worker_messages::list, super::worker_messages::send, super::worker_messages::get,
        super::worker_messages::delete,
        super::teams::list, super::teams::create, super::teams::get, super::teams::modify, super::teams::delete,
        super::users::register, super::users::find_user, super::users::list, super::users::get, super::users::modify,
        super::users::suspicions,
        super::users::transfer,
        super::me::export, super::me::contact, super::me::freeze, super::me::unfreeze, super::me::erase,
        super::me::rename, super::me::reset_key,
        super::operations::list, super::operations::block, super::operations::unblock,
        super::operations::check, super::operations::block_worker, super::operations::unblock_worker,
        super::operations::moderation_log,
        super::filters::list, super::filters::add, super::filters::check, super::filters::regex,
        super::filters::get, super::filters::modify, super::filters::delete,
        crate::openai_api::models, crate::openai_api::model, crate::openai_api::chat_completions, crate::openai_api::completions,
    ),
    tags((name = "text"), (name = "image"), (name = "alchemy", description = "Interrogations: an image and the forms asked of it"), (name = "status"), (name = "workers"), (name = "teams"), (name = "users"),
         (name = "operations", description = "Moderators' timeouts of client addresses, kept only as keyed hashes"),
         (name = "styles", description = "Styles, their examples, and collections of styles"),
         (name = "openai", description = "The OpenAI-compatible API, on the same queue"))
)]
pub struct ApiDoc;

pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
