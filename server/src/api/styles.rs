//! Styles (`/api/v2/styles/text`, `/api/v2/styles/image`), their example images, and
//! collections (`/api/v2/collections`, `/api/v2/collection_by_name`).

use super::error::ApiResult;
use super::extract::{Caller, JsonBody, PathParam, QueryParams};
use super::AppState;
use axum::extract::State;
use axum::Json;
use potluck_core::StyleKind;
use protocol::{
    CollectionDetails, CollectionInput, RequestError, SimpleResponse, StyleDetails,
    StyleExampleInput, StyleInput, StyleModify,
};
use serde::Deserialize;

#[derive(Deserialize)]
pub struct StylesQuery {
    sort: Option<String>,
    page: Option<i64>,
    tag: Option<String>,
    model: Option<String>,
}

impl StylesQuery {
    fn sort(&self) -> &str {
        self.sort.as_deref().unwrap_or("popular")
    }
}

async fn list(
    state: &AppState,
    kind: StyleKind,
    q: &StylesQuery,
) -> ApiResult<Json<Vec<StyleDetails>>> {
    let styles = state
        .horde
        .list_styles(
            kind,
            q.sort(),
            q.page.unwrap_or(1),
            q.tag.as_deref(),
            q.model.as_deref(),
        )
        .await?;
    Ok(Json(styles))
}

/// The public text styles, 25 a page, most used (`popular`, the default) or oldest (`age`)
/// first; with a tag, or using a model, when asked.
#[utoipa::path(get, path = "/api/v2/styles/text", tag = "styles",
    params(("sort" = Option<String>, Query, description = "popular or age"), ("page" = Option<i64>, Query),
        ("tag" = Option<String>, Query), ("model" = Option<String>, Query)),
    responses((status = 200, body = Vec<StyleDetails>), (status = 400, body = RequestError)))]
pub async fn list_text(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<StylesQuery>,
) -> ApiResult<Json<Vec<StyleDetails>>> {
    list(&state, StyleKind::Text, &query).await
}

/// The public image styles, as the text ones.
#[utoipa::path(get, path = "/api/v2/styles/image", tag = "styles",
    params(("sort" = Option<String>, Query, description = "popular or age"), ("page" = Option<i64>, Query),
        ("tag" = Option<String>, Query), ("model" = Option<String>, Query)),
    responses((status = 200, body = Vec<StyleDetails>), (status = 400, body = RequestError)))]
pub async fn list_image(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<StylesQuery>,
) -> ApiResult<Json<Vec<StyleDetails>>> {
    list(&state, StyleKind::Image, &query).await
}

/// A new text style (trusted accounts). Its `prompt` holds `{p}`, where requests' prompts go.
#[utoipa::path(post, path = "/api/v2/styles/text", tag = "styles", request_body = StyleInput,
    responses((status = 200, body = StyleModify), (status = 400, body = RequestError),
              (status = 401, body = RequestError), (status = 403, body = RequestError)))]
pub async fn create_text(
    State(state): State<AppState>,
    Caller(account): Caller,
    JsonBody(input): JsonBody<StyleInput>,
) -> ApiResult<Json<StyleModify>> {
    Ok(Json(
        state
            .horde
            .create_style(&account, StyleKind::Text, input)
            .await?,
    ))
}

/// A new image style (trusted accounts). Its `prompt` holds `{p}` and `{np}`, where requests'
/// prompts and negative prompts go.
#[utoipa::path(post, path = "/api/v2/styles/image", tag = "styles", request_body = StyleInput,
    responses((status = 200, body = StyleModify), (status = 400, body = RequestError),
              (status = 401, body = RequestError), (status = 403, body = RequestError)))]
pub async fn create_image(
    State(state): State<AppState>,
    Caller(account): Caller,
    JsonBody(input): JsonBody<StyleInput>,
) -> ApiResult<Json<StyleModify>> {
    Ok(Json(
        state
            .horde
            .create_style(&account, StyleKind::Image, input)
            .await?,
    ))
}

/// One text style, public or not.
#[utoipa::path(get, path = "/api/v2/styles/text/{id}", tag = "styles",
    params(("id" = String, Path)),
    responses((status = 200, body = StyleDetails), (status = 400, body = RequestError), (status = 404, body = RequestError)))]
pub async fn get_text(
    State(state): State<AppState>,
    PathParam(id): PathParam<String>,
) -> ApiResult<Json<StyleDetails>> {
    Ok(Json(state.horde.style_details(StyleKind::Text, &id).await?))
}

/// One image style, public or not, with its examples.
#[utoipa::path(get, path = "/api/v2/styles/image/{id}", tag = "styles",
    params(("id" = String, Path)),
    responses((status = 200, body = StyleDetails), (status = 400, body = RequestError), (status = 404, body = RequestError)))]
pub async fn get_image(
    State(state): State<AppState>,
    PathParam(id): PathParam<String>,
) -> ApiResult<Json<StyleDetails>> {
    Ok(Json(
        state.horde.style_details(StyleKind::Image, &id).await?,
    ))
}

/// A text style by name: `name`, `creator#id::name`, or its unique name.
#[utoipa::path(get, path = "/api/v2/styles/text_by_name/{name}", tag = "styles",
    params(("name" = String, Path)),
    responses((status = 200, body = StyleDetails), (status = 400, body = RequestError), (status = 404, body = RequestError)))]
pub async fn get_text_by_name(
    State(state): State<AppState>,
    PathParam(name): PathParam<String>,
) -> ApiResult<Json<StyleDetails>> {
    Ok(Json(
        state
            .horde
            .style_details_by_name(StyleKind::Text, &name)
            .await?,
    ))
}

/// An image style by name.
#[utoipa::path(get, path = "/api/v2/styles/image_by_name/{name}", tag = "styles",
    params(("name" = String, Path)),
    responses((status = 200, body = StyleDetails), (status = 400, body = RequestError), (status = 404, body = RequestError)))]
pub async fn get_image_by_name(
    State(state): State<AppState>,
    PathParam(name): PathParam<String>,
) -> ApiResult<Json<StyleDetails>> {
    Ok(Json(
        state
            .horde
            .style_details_by_name(StyleKind::Image, &name)
            .await?,
    ))
}

/// Its creator's change to a text style.
#[utoipa::path(patch, path = "/api/v2/styles/text/{id}", tag = "styles", request_body = StyleInput,
    params(("id" = String, Path)),
    responses((status = 200, body = StyleModify), (status = 400, body = RequestError),
              (status = 403, body = RequestError), (status = 404, body = RequestError)))]
pub async fn modify_text(
    State(state): State<AppState>,
    Caller(account): Caller,
    PathParam(id): PathParam<String>,
    JsonBody(input): JsonBody<StyleInput>,
) -> ApiResult<Json<StyleModify>> {
    Ok(Json(
        state
            .horde
            .modify_style(&account, StyleKind::Text, &id, input)
            .await?,
    ))
}

/// Its creator's change to an image style.
#[utoipa::path(patch, path = "/api/v2/styles/image/{id}", tag = "styles", request_body = StyleInput,
    params(("id" = String, Path)),
    responses((status = 200, body = StyleModify), (status = 400, body = RequestError),
              (status = 403, body = RequestError), (status = 404, body = RequestError)))]
pub async fn modify_image(
    State(state): State<AppState>,
    Caller(account): Caller,
    PathParam(id): PathParam<String>,
    JsonBody(input): JsonBody<StyleInput>,
) -> ApiResult<Json<StyleModify>> {
    Ok(Json(
        state
            .horde
            .modify_style(&account, StyleKind::Image, &id, input)
            .await?,
    ))
}

/// Deletes a text style (its creator or a moderator).
#[utoipa::path(delete, path = "/api/v2/styles/text/{id}", tag = "styles",
    params(("id" = String, Path)),
    responses((status = 200, body = SimpleResponse), (status = 403, body = RequestError), (status = 404, body = RequestError)))]
pub async fn delete_text(
    State(state): State<AppState>,
    Caller(account): Caller,
    PathParam(id): PathParam<String>,
) -> ApiResult<Json<SimpleResponse>> {
    Ok(Json(
        state
            .horde
            .delete_style(&account, StyleKind::Text, &id)
            .await?,
    ))
}

/// Deletes an image style (its creator or a moderator).
#[utoipa::path(delete, path = "/api/v2/styles/image/{id}", tag = "styles",
    params(("id" = String, Path)),
    responses((status = 200, body = SimpleResponse), (status = 403, body = RequestError), (status = 404, body = RequestError)))]
pub async fn delete_image(
    State(state): State<AppState>,
    Caller(account): Caller,
    PathParam(id): PathParam<String>,
) -> ApiResult<Json<SimpleResponse>> {
    Ok(Json(
        state
            .horde
            .delete_style(&account, StyleKind::Image, &id)
            .await?,
    ))
}

/// Adds an example image (an `https://` address) to an image style: its creator or a
/// moderator; four at most.
#[utoipa::path(post, path = "/api/v2/styles/image/{id}/example", tag = "styles", request_body = StyleExampleInput,
    params(("id" = String, Path)),
    responses((status = 200, body = StyleModify), (status = 400, body = RequestError),
              (status = 403, body = RequestError), (status = 404, body = RequestError)))]
pub async fn add_example(
    State(state): State<AppState>,
    Caller(account): Caller,
    PathParam(id): PathParam<String>,
    JsonBody(input): JsonBody<StyleExampleInput>,
) -> ApiResult<Json<StyleModify>> {
    Ok(Json(
        state.horde.add_style_example(&account, &id, input).await?,
    ))
}

/// Changes an example's address, or makes it the primary one.
#[utoipa::path(patch, path = "/api/v2/styles/image/{id}/example/{example_id}", tag = "styles",
    request_body = StyleExampleInput, params(("id" = String, Path), ("example_id" = String, Path)),
    responses((status = 200, body = StyleModify), (status = 400, body = RequestError),
              (status = 403, body = RequestError), (status = 404, body = RequestError)))]
pub async fn modify_example(
    State(state): State<AppState>,
    Caller(account): Caller,
    PathParam((id, example_id)): PathParam<(String, String)>,
    JsonBody(input): JsonBody<StyleExampleInput>,
) -> ApiResult<Json<StyleModify>> {
    Ok(Json(
        state
            .horde
            .modify_style_example(&account, &id, &example_id, input)
            .await?,
    ))
}

/// Deletes an example; the oldest left becomes primary if it was.
#[utoipa::path(delete, path = "/api/v2/styles/image/{id}/example/{example_id}", tag = "styles",
    params(("id" = String, Path), ("example_id" = String, Path)),
    responses((status = 200, body = SimpleResponse), (status = 403, body = RequestError), (status = 404, body = RequestError)))]
pub async fn delete_example(
    State(state): State<AppState>,
    Caller(account): Caller,
    PathParam((id, example_id)): PathParam<(String, String)>,
) -> ApiResult<Json<SimpleResponse>> {
    Ok(Json(
        state
            .horde
            .delete_style_example(&account, &id, &example_id)
            .await?,
    ))
}

#[derive(Deserialize)]
pub struct CollectionsQuery {
    sort: Option<String>,
    page: Option<i64>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

/// The public collections, 25 a page, of one kind (`text`, `image`) or `all`.
#[utoipa::path(get, path = "/api/v2/collections", tag = "styles",
    params(("sort" = Option<String>, Query, description = "popular or age"), ("page" = Option<i64>, Query),
        ("type" = Option<String>, Query, description = "all, image or text")),
    responses((status = 200, body = Vec<CollectionDetails>), (status = 400, body = RequestError)))]
pub async fn list_collections(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<CollectionsQuery>,
) -> ApiResult<Json<Vec<CollectionDetails>>> {
    Ok(Json(
        state
            .horde
            .list_collections(
                query.sort.as_deref().unwrap_or("popular"),
                query.page.unwrap_or(1),
                query.kind.as_deref().unwrap_or("all"),
            )
            .await?,
    ))
}

/// A new collection of styles of one kind (registered accounts).
#[utoipa::path(post, path = "/api/v2/collections", tag = "styles", request_body = CollectionInput,
    responses((status = 200, body = StyleModify), (status = 400, body = RequestError),
              (status = 401, body = RequestError), (status = 403, body = RequestError)))]
pub async fn create_collection(
    State(state): State<AppState>,
    Caller(account): Caller,
    JsonBody(input): JsonBody<CollectionInput>,
) -> ApiResult<Json<StyleModify>> {
    Ok(Json(state.horde.create_collection(&account, input).await?))
}

/// One collection, public or not.
#[utoipa::path(get, path = "/api/v2/collections/{id}", tag = "styles",
    params(("id" = String, Path)),
    responses((status = 200, body = CollectionDetails), (status = 404, body = RequestError)))]
pub async fn get_collection(
    State(state): State<AppState>,
    PathParam(id): PathParam<String>,
) -> ApiResult<Json<CollectionDetails>> {
    Ok(Json(state.horde.collection_details(&id).await?))
}

/// A collection by name.
#[utoipa::path(get, path = "/api/v2/collection_by_name/{name}", tag = "styles",
    params(("name" = String, Path)),
    responses((status = 200, body = CollectionDetails), (status = 404, body = RequestError)))]
pub async fn get_collection_by_name(
    State(state): State<AppState>,
    PathParam(name): PathParam<String>,
) -> ApiResult<Json<CollectionDetails>> {
    Ok(Json(state.horde.collection_details_by_name(&name).await?))
}

/// Its creator's change to a collection.
#[utoipa::path(patch, path = "/api/v2/collections/{id}", tag = "styles", request_body = CollectionInput,
    params(("id" = String, Path)),
    responses((status = 200, body = StyleModify), (status = 400, body = RequestError),
              (status = 403, body = RequestError), (status = 404, body = RequestError)))]
pub async fn modify_collection(
    State(state): State<AppState>,
    Caller(account): Caller,
    PathParam(id): PathParam<String>,
    JsonBody(input): JsonBody<CollectionInput>,
) -> ApiResult<Json<StyleModify>> {
    Ok(Json(
        state.horde.modify_collection(&account, &id, input).await?,
    ))
}

/// Deletes a collection, not its styles (its creator or a moderator).
#[utoipa::path(delete, path = "/api/v2/collections/{id}", tag = "styles",
    params(("id" = String, Path)),
    responses((status = 200, body = SimpleResponse), (status = 403, body = RequestError), (status = 404, body = RequestError)))]
pub async fn delete_collection(
    State(state): State<AppState>,
    Caller(account): Caller,
    PathParam(id): PathParam<String>,
) -> ApiResult<Json<SimpleResponse>> {
    Ok(Json(state.horde.delete_collection(&account, &id).await?))
}
