//! Teams of workers: list, details, and creation, changes and deletion by their creators (trusted
//! accounts) or moderators. Workers join a team with `PUT /workers/{id}`.

use super::error::ApiResult;
use super::extract::{Caller, JsonBody, PathParam};
use super::AppState;
use axum::extract::State;
use axum::Json;
use protocol::{
    CreateTeamInput, DeletedTeam, ModifyTeam, ModifyTeamInput, RequestError, TeamDetails,
};

/// Every team, oldest first.
#[utoipa::path(get, path = "/api/v2/teams", tag = "teams",
    responses((status = 200, body = Vec<TeamDetails>)))]
pub async fn list(
    State(state): State<AppState>,
    // The same for everyone, but a private server shows it to account holders only.
    Caller(_): Caller,
) -> ApiResult<Json<Vec<TeamDetails>>> {
    Ok(Json(state.horde.teams().await?))
}

/// Create a team (trusted accounts).
#[utoipa::path(post, path = "/api/v2/teams", tag = "teams", request_body = CreateTeamInput,
    responses((status = 200, body = ModifyTeam), (status = 400, body = RequestError),
              (status = 401, body = RequestError), (status = 403, body = RequestError)))]
pub async fn create(
    State(state): State<AppState>,
    Caller(actor): Caller,
    JsonBody(input): JsonBody<CreateTeamInput>,
) -> ApiResult<Json<ModifyTeam>> {
    Ok(Json(state.horde.create_team(&actor, input).await?))
}

/// One team.
#[utoipa::path(get, path = "/api/v2/teams/{id}", tag = "teams",
    params(("id" = String, Path, description = "the team id")),
    responses((status = 200, body = TeamDetails), (status = 404, body = RequestError)))]
pub async fn get(
    State(state): State<AppState>,
    Caller(_): Caller,
    PathParam(id): PathParam<String>,
) -> ApiResult<Json<TeamDetails>> {
    Ok(Json(state.horde.team(&id).await?))
}

/// Change a team's name or info (its creator or a moderator).
#[utoipa::path(patch, path = "/api/v2/teams/{id}", tag = "teams", request_body = ModifyTeamInput,
    params(("id" = String, Path, description = "the team id")),
    responses((status = 200, body = ModifyTeam), (status = 400, body = RequestError),
              (status = 401, body = RequestError), (status = 403, body = RequestError),
              (status = 404, body = RequestError)))]
pub async fn modify(
    State(state): State<AppState>,
    Caller(actor): Caller,
    PathParam(id): PathParam<String>,
    JsonBody(input): JsonBody<ModifyTeamInput>,
) -> ApiResult<Json<ModifyTeam>> {
    Ok(Json(state.horde.modify_team(&actor, &id, input).await?))
}

/// Delete a team (its creator or a moderator); its workers leave it.
#[utoipa::path(delete, path = "/api/v2/teams/{id}", tag = "teams",
    params(("id" = String, Path, description = "the team id")),
    responses((status = 200, body = DeletedTeam), (status = 401, body = RequestError),
              (status = 403, body = RequestError), (status = 404, body = RequestError)))]
pub async fn delete(
    State(state): State<AppState>,
    Caller(actor): Caller,
    PathParam(id): PathParam<String>,
) -> ApiResult<Json<DeletedTeam>> {
    Ok(Json(state.horde.delete_team(&actor, &id).await?))
}
