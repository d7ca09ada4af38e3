//! Accounts: registration, details, moderation, kudos transfers and awards.

use super::error::{ApiError, ApiResult};
use super::extract::{ApiKey, Caller, JsonBody, PathParam, QueryParams};
use super::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use protocol::{
    KudosAwardInput, KudosAwarded, KudosTransferInput, KudosTransferred, ModifyUser,
    ModifyUserInput, RegisterInput, Registered, RequestError, SuspicionDetails, UserDetails,
};
use serde::Deserialize;

/// Create a pseudonymous account. The key in the answer is shown only this once.
#[utoipa::path(post, path = "/api/v2/register", tag = "users", request_body = RegisterInput,
    responses((status = 201, body = Registered), (status = 400, body = RequestError)))]
pub async fn register(
    State(state): State<AppState>,
    JsonBody(input): JsonBody<RegisterInput>,
) -> ApiResult<(StatusCode, Json<Registered>)> {
    let registered = state.horde.register(Some(&input.username)).await?;
    Ok((StatusCode::CREATED, Json(registered)))
}

/// The account of the `apikey` header, as its owner sees it: 401 without a key, 404 for a key
/// of no account; for a shared key, its owner's public details.
#[utoipa::path(get, path = "/api/v2/find_user", tag = "users",
    responses((status = 200, body = UserDetails), (status = 401, body = RequestError),
              (status = 404, body = RequestError)))]
pub async fn find_user(
    State(state): State<AppState>,
    ApiKey(key): ApiKey,
) -> ApiResult<Json<UserDetails>> {
    Ok(Json(state.horde.find_user(key.as_deref()).await?))
}

#[derive(Deserialize)]
pub struct UsersQuery {
    page: Option<i64>,
    sort: Option<String>,
}

/// All accounts, 25 a page, by kudos (the default, also for a sort it does not know) or by age.
#[utoipa::path(get, path = "/api/v2/users", tag = "users",
    params(("page" = Option<i64>, Query), ("sort" = Option<String>, Query, description = "kudos or age")),
    responses((status = 200, body = Vec<UserDetails>), (status = 400, body = RequestError),
              (status = 401, body = RequestError)))]
pub async fn list(
    State(state): State<AppState>,
    // The list is the same for everyone, but a private server shows it to account holders only.
    Caller(_): Caller,
    QueryParams(query): QueryParams<UsersQuery>,
) -> ApiResult<Json<Vec<UserDetails>>> {
    let page = query.page.unwrap_or(1);
    Ok(Json(state.horde.users(page, query.sort.as_deref()).await?))
}

fn user_id(id: &str) -> ApiResult<i64> {
    id.parse().map_err(|_| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "UserNotFound",
            format!("User {id} not found"),
        )
    })
}

/// One account.
#[utoipa::path(get, path = "/api/v2/users/{id}", tag = "users",
    params(("id" = String, Path, description = "the user id (the number after '#')")),
    responses((status = 200, body = UserDetails), (status = 404, body = RequestError)))]
pub async fn get(
    State(state): State<AppState>,
    Caller(viewer): Caller,
    PathParam(id): PathParam<String>,
) -> ApiResult<Json<UserDetails>> {
    Ok(Json(state.horde.user(&viewer, user_id(&id)?).await?))
}

/// Potluck: an account's signs of suspicion, each with its reason, oldest first; for the
/// account itself and moderators.
#[utoipa::path(get, path = "/api/v2/users/{id}/suspicions", tag = "users",
    params(("id" = String, Path, description = "the user id (the number after '#')")),
    responses((status = 200, body = Vec<SuspicionDetails>), (status = 401, body = RequestError),
              (status = 403, body = RequestError), (status = 404, body = RequestError)))]
pub async fn suspicions(
    State(state): State<AppState>,
    Caller(viewer): Caller,
    PathParam(id): PathParam<String>,
) -> ApiResult<Json<Vec<SuspicionDetails>>> {
    Ok(Json(state.horde.suspicions(&viewer, user_id(&id)?).await?))
}

/// Change an account: kudos and the moderator role by admins; concurrency, invitations, trust,
/// flags and suspicion by moderators; `public_workers` and the name by the account itself or
/// moderators; the contact address by the account itself.
#[utoipa::path(put, path = "/api/v2/users/{id}", tag = "users", request_body = ModifyUserInput,
    params(("id" = String, Path, description = "the user id (the number after '#')")),
    responses((status = 200, body = ModifyUser), (status = 400, body = RequestError),
              (status = 401, body = RequestError), (status = 403, body = RequestError),
              (status = 404, body = RequestError)))]
pub async fn modify(
    State(state): State<AppState>,
    Caller(actor): Caller,
    PathParam(id): PathParam<String>,
    JsonBody(input): JsonBody<ModifyUserInput>,
) -> ApiResult<Json<ModifyUser>> {
    Ok(Json(
        state
            .horde
            .modify_user(&actor, user_id(&id)?, input)
            .await?,
    ))
}

/// Give kudos to another account (`name#id`).
#[utoipa::path(post, path = "/api/v2/kudos/transfer", tag = "users", request_body = KudosTransferInput,
    responses((status = 200, body = KudosTransferred), (status = 400, body = RequestError)))]
pub async fn transfer(
    State(state): State<AppState>,
    Caller(giver): Caller,
    JsonBody(input): JsonBody<KudosTransferInput>,
) -> ApiResult<Json<KudosTransferred>> {
    Ok(Json(
        state
            .horde
            .transfer_kudos(&giver, &input.username, input.amount)
            .await?,
    ))
}

/// Awards kudos to an account, `name#id` (admins).
#[utoipa::path(post, path = "/api/v2/kudos/award", tag = "users", request_body = KudosAwardInput,
    responses((status = 200, body = KudosAwarded), (status = 400, body = RequestError),
              (status = 401, body = RequestError), (status = 403, body = RequestError)))]
pub async fn award(
    State(state): State<AppState>,
    Caller(account): Caller,
    JsonBody(input): JsonBody<KudosAwardInput>,
) -> ApiResult<Json<KudosAwarded>> {
    Ok(Json(
        state
            .horde
            .award_kudos(&account, &input.username, input.amount)
            .await?,
    ))
}
