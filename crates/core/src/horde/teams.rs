//! Teams of workers, as the AI Horde has them: trusted accounts create them, any worker's owner
//! has it join one (`PUT /workers/{id}`, `team`), and a team counts what its workers do while in
//! it (generations, kudos, uptime). Its creator or a moderator changes or deletes it.

use super::{validate, Account, Horde};
use crate::error::{Rejection, Result};
use crate::kudos::Kudos;
use crate::names;
use crate::now_ms;
use crate::store::{NewTeam, TeamRow};
use protocol::{
    ActiveModelLite, CreateTeamInput, DeletedTeam, ModifyTeam, ModifyTeamInput, TeamDetails,
    WorkerDetailsLite, WorkerType,
};
use std::collections::BTreeMap;

/// The bounds of a team's name and info, as in the AI Horde.
const NAME_CHARS: (usize, usize) = (3, 100);
const INFO_CHARS: (usize, usize) = (3, 1000);

impl Horde {
    /// `GET /teams`: every team, oldest first.
    pub async fn teams(&self) -> Result<Vec<TeamDetails>> {
        let mut teams = Vec::new();
        for team in self.store.teams().await? {
            teams.push(self.team_details(&team).await?);
        }
        Ok(teams)
    }

    /// The teams the caller created.
    pub async fn teams_of(&self, owner: &Account) -> Result<Vec<TeamDetails>> {
        let mut teams = Vec::new();
        for team in self.store.teams_of(owner.user.id).await? {
            teams.push(self.team_details(&team).await?);
        }
        Ok(teams)
    }

    /// `GET /teams/{id}`: the same for everyone (nothing of a team is private).
    pub async fn team(&self, id: &str) -> Result<TeamDetails> {
        let team = self.existing_team(id).await?;
        self.team_details(&team).await
    }

    /// `POST /teams`: trusted accounts only, as in the AI Horde.
    pub async fn create_team(&self, actor: &Account, input: CreateTeamInput) -> Result<ModifyTeam> {
        actor.require_registered("AnonForbidden", "create teams")?;
        if !actor.user.trusted {
            return Err(Rejection::forbidden(
                "UntrustedTeamCreation",
                "Only trusted accounts can create teams",
            )
            .into());
        }
        let name = team_name(&input.name)?;
        let info = input.info.as_deref().map(team_info).transpose()?;
        self.refuse_taken_name(&name, None).await?;
        let team = NewTeam {
            id: uuid::Uuid::new_v4().to_string(),
            name,
            info,
            owner_id: actor.user.id,
            now: now_ms(),
        };
        self.store.insert_team(&team).await?;
        tracing::info!(owner = actor.user.id, team = %team.id, "team created");
        Ok(ModifyTeam {
            id: team.id,
            name: team.name,
            info: team.info,
        })
    }

    /// `PATCH /teams/{id}`: its creator or a moderator.
    pub async fn modify_team(
        &self,
        actor: &Account,
        id: &str,
        input: ModifyTeamInput,
    ) -> Result<ModifyTeam> {
        let team = self.existing_team(id).await?;
        let may = team.owner_id == actor.user.id || actor.user.moderator;
        // The AI Horde's rc for each field a stranger may not change.
        if input.info.is_some() && !may {
            return Err(
                Rejection::forbidden("NotOwner", "Only the team's creator can change it").into(),
            );
        }
        if input.name.is_some() && !may {
            actor.require_moderator()?;
        }
        if input.name.is_none() && input.info.is_none() {
            return Err(Rejection::bad_request(
                "NoTeamModSelected",
                "No team modification selected!",
            )
            .into());
        }
        let name = input.name.as_deref().map(team_name).transpose()?;
        let info = input.info.as_deref().map(team_info).transpose()?;
        if let Some(name) = &name {
            self.refuse_taken_name(name, Some(&team.id)).await?;
        }
        self.store
            .modify_team(&team.id, name.as_deref(), info.as_deref())
            .await?;
        if team.owner_id != actor.user.id {
            let target = format!("team {}", team.id);
            self.record_moderation(actor, "team changed", target)
                .await?;
        }
        let team = self.existing_team(&team.id).await?;
        Ok(ModifyTeam {
            id: team.id,
            name: team.name,
            info: team.info,
        })
    }

    /// `DELETE /teams/{id}`: its creator or a moderator; its workers leave it.
    pub async fn delete_team(&self, actor: &Account, id: &str) -> Result<DeletedTeam> {
        let team = self.existing_team(id).await?;
        if team.owner_id != actor.user.id {
            actor.require_moderator()?;
        }
        self.store.delete_team(&team.id).await?;
        tracing::info!(actor = actor.user.id, team = %team.id, "team deleted");
        if team.owner_id != actor.user.id {
            let target = format!("team {}", team.id);
            self.record_moderation(actor, "team deleted", target)
                .await?;
        }
        Ok(DeletedTeam {
            deleted_id: team.id,
            deleted_name: team.name,
        })
    }

    pub(super) async fn existing_team(&self, id: &str) -> Result<TeamRow> {
        let not_found = || Rejection::not_found("TeamNotFound", format!("Team {id} not found"));
        if id.contains('\0') {
            return Err(not_found().into());
        }
        Ok(self.store.team(id).await?.ok_or_else(not_found)?)
    }

    /// Refuses a name another team has, or one that looks like it (`Te4m` beside `team`).
    async fn refuse_taken_name(&self, name: &str, this_team: Option<&str>) -> Result<()> {
        let taken = self.store.team_like(&names::likeness(name)).await?;
        if let Some(other) = taken.filter(|other| Some(other.id.as_str()) != this_team) {
            return Err(Rejection::bad_request(
                "TeamNameAlreadyExists",
                format!("A team named {:?} already exists", other.name),
            )
            .into());
        }
        Ok(())
    }

    async fn team_details(&self, team: &TeamRow) -> Result<TeamDetails> {
        let workers = self.store.workers_of_team(&team.id).await?;
        let online_since = self.online_since();
        let mut models: BTreeMap<&str, i64> = BTreeMap::new();
        for worker in &workers {
            for model in &worker.models.0 {
                *models.entry(model).or_default() += 1;
            }
        }
        Ok(TeamDetails {
            id: team.id.clone(),
            name: team.name.clone(),
            info: team.info.clone(),
            creator: team.creator(),
            requests_fulfilled: team.requests_fulfilled,
            kudos: Kudos(team.kudos).as_f64(),
            contributions: team.mps_generated,
            tokens_generated: team.tokens_generated,
            uptime: team.uptime_ms / 1000,
            worker_count: workers.len() as i64,
            models: models
                .into_iter()
                .map(|(name, count)| ActiveModelLite {
                    name: name.to_string(),
                    count,
                })
                .collect(),
            workers: workers
                .iter()
                .map(|w| WorkerDetailsLite {
                    kind: WorkerType::parse(&w.kind).unwrap_or(WorkerType::Text),
                    name: w.name.clone(),
                    id: w.id.clone(),
                    online: w.last_check_in >= online_since,
                })
                .collect(),
        })
    }
}

fn team_name(name: &str) -> Result<String> {
    names::chosen("name", "BadRequest", Some(name), NAME_CHARS.0, NAME_CHARS.1)
}

fn team_info(info: &str) -> Result<String> {
    validate::no_nul("info", info)?;
    let info = info.trim();
    let length = info.chars().count();
    if length < INFO_CHARS.0 || length > INFO_CHARS.1 {
        return Err(Rejection::invalid_field(
            "info",
            "BadRequest",
            format!(
                "info must have {} to {} characters",
                INFO_CHARS.0, INFO_CHARS.1
            ),
        )
        .into());
    }
    Ok(info.to_string())
}
