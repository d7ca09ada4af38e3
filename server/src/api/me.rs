//! Potluck's additions for the data rights of the caller's own account (`/users/me`): the
//! export of what is stored about it, the contact address, freezing, and erasure; and, for an
//! account linked to a login provider, its name and a new key.

use super::error::ApiResult;
use super::extract::{Caller, JsonBody};
use super::AppState;
use axum::extract::State;
use axum::Json;
use protocol::{
    AccountErased, AccountRestrictions, ContactInput, NewApiKey, Renamed, RequestError,
    UserDataExport, UsernameInput,
};

/// Everything stored about the caller's account, as one JSON document.
#[utoipa::path(get, path = "/api/v2/users/me/export", tag = "users",
    responses((status = 200, body = UserDataExport), (status = 401, body = RequestError),
              (status = 403, body = RequestError)))]
pub async fn export(
    State(state): State<AppState>,
    Caller(account): Caller,
) -> ApiResult<Json<UserDataExport>> {
    Ok(Json(state.horde.export_data(&account).await?))
}

/// Set the opt-in contact address, or withdraw it with `{"contact": null}`.
#[utoipa::path(put, path = "/api/v2/users/me/contact", tag = "users", request_body = ContactInput,
    responses((status = 200, body = AccountRestrictions), (status = 400, body = RequestError),
              (status = 401, body = RequestError), (status = 403, body = RequestError)))]
pub async fn contact(
    State(state): State<AppState>,
    Caller(account): Caller,
    JsonBody(input): JsonBody<ContactInput>,
) -> ApiResult<Json<AccountRestrictions>> {
    Ok(Json(
        state
            .horde
            .set_contact(&account, input.contact.as_deref())
            .await?,
    ))
}

/// Freeze the account: its active requests are cancelled, and new requests, pops and kudos
/// transfers are refused (403 `AccountFrozen`) until it is unfrozen.
#[utoipa::path(post, path = "/api/v2/users/me/freeze", tag = "users",
    responses((status = 200, body = AccountRestrictions), (status = 401, body = RequestError),
              (status = 403, body = RequestError)))]
pub async fn freeze(
    State(state): State<AppState>,
    Caller(account): Caller,
) -> ApiResult<Json<AccountRestrictions>> {
    Ok(Json(state.horde.set_frozen(&account, true).await?))
}

/// Unfreeze the account.
#[utoipa::path(post, path = "/api/v2/users/me/unfreeze", tag = "users",
    responses((status = 200, body = AccountRestrictions), (status = 401, body = RequestError),
              (status = 403, body = RequestError)))]
pub async fn unfreeze(
    State(state): State<AppState>,
    Caller(account): Caller,
) -> ApiResult<Json<AccountRestrictions>> {
    Ok(Json(state.horde.set_frozen(&account, false).await?))
}

/// Erase the account: the key stops working at once, the name and contact go, the requests
/// are cancelled and their prompts and results purged, the workers deleted. Its kudos ledger
/// lines stay, pseudonymised, because other accounts' balances are the sums of theirs.
#[utoipa::path(delete, path = "/api/v2/users/me", tag = "users",
    responses((status = 200, body = AccountErased), (status = 401, body = RequestError),
              (status = 403, body = RequestError)))]
pub async fn erase(
    State(state): State<AppState>,
    Caller(account): Caller,
) -> ApiResult<Json<AccountErased>> {
    Ok(Json(state.horde.erase_account(&account).await?))
}

/// Rename an account linked to a login provider (403 `PseudonymousAccount` for the others).
#[utoipa::path(put, path = "/api/v2/users/me/username", tag = "users", request_body = UsernameInput,
    responses((status = 200, body = Renamed), (status = 400, body = RequestError),
              (status = 401, body = RequestError), (status = 403, body = RequestError)))]
pub async fn rename(
    State(state): State<AppState>,
    Caller(account): Caller,
    JsonBody(input): JsonBody<UsernameInput>,
) -> ApiResult<Json<Renamed>> {
    let username = state.horde.rename(&account, &input.username).await?;
    Ok(Json(Renamed { username }))
}

/// Give an account linked to a login provider a new key, shown this once; the key of the call
/// stops working at once (403 `PseudonymousAccount` for the others).
#[utoipa::path(post, path = "/api/v2/users/me/apikey", tag = "users",
    responses((status = 200, body = NewApiKey), (status = 401, body = RequestError),
              (status = 403, body = RequestError)))]
pub async fn reset_key(
    State(state): State<AppState>,
    Caller(account): Caller,
) -> ApiResult<Json<NewApiKey>> {
    let apikey = state.horde.reset_key(&account).await?;
    Ok(Json(NewApiKey { apikey }))
}
