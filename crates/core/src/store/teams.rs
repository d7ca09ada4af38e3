//! Teams of workers: the statements that read the same on both databases. Deleting a team
//! locks its workers first, which differs per database: `Store::delete_team`. What a team's
//! workers do is counted on it in the transactions that pay them (`credit_team` and
//! `record_uptime` in `steps.rs`).

use super::*;

#[async_trait]
pub trait Teams: Send + Sync + 'static {
    /// Creates a team; a name another team has (whatever the case) is refused.
    async fn insert_team(&self, team: &NewTeam) -> Result<()>;
    async fn team(&self, id: &str) -> Result<Option<TeamRow>>;
    /// A team whose name looks like one with this [`crate::names::likeness`].
    async fn team_like(&self, likeness: &str) -> Result<Option<TeamRow>>;
    /// Every team, oldest first.
    async fn teams(&self) -> Result<Vec<TeamRow>>;
    /// The teams an account created, oldest first.
    async fn teams_of(&self, owner_id: i64) -> Result<Vec<TeamRow>>;
    /// Renames a team and/or changes its info (`None` leaves it); a taken name is refused.
    async fn modify_team(&self, id: &str, name: Option<&str>, info: Option<&str>) -> Result<()>;
    /// The workers in a team, by name.
    async fn workers_of_team(&self, team_id: &str) -> Result<Vec<WorkerRow>>;
}

/// A team's columns and its owner's name.
macro_rules! team_select {
    () => {
        "SELECT t.id, t.name, t.info, t.owner_id, u.username AS owner_name, t.created_at, \
         t.requests_fulfilled, t.kudos, t.tokens_generated, t.mps_generated, t.uptime_ms \
         FROM teams t JOIN users u ON u.id = t.owner_id"
    };
}
pub(super) use team_select;

/// Implements [`Teams`] for a store with `reader()` and `writer()`.
macro_rules! impl_teams {
    ($store:ty) => {
        #[async_trait]
        impl $crate::store::Teams for $store {
            async fn insert_team(&self, team: &NewTeam) -> Result<()> {
                let inserted = sqlx::query(
                    "INSERT INTO teams (id, name, info, owner_id, created_at, name_likeness) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&team.id)
                .bind(&team.name)
                .bind(team.info.as_deref())
                .bind(team.owner_id)
                .bind(team.now)
                .bind($crate::names::likeness(&team.name))
                .execute(self.writer())
                .await;
                shared::team_named(inserted).map(|_| ())
            }

            async fn team(&self, id: &str) -> Result<Option<TeamRow>> {
                Ok(sqlx::query_as(concat!(
                    $crate::store::teams::team_select!(),
                    " WHERE t.id = $1"
                ))
                .bind(id)
                .fetch_optional(self.reader())
                .await?)
            }

            async fn team_like(&self, likeness: &str) -> Result<Option<TeamRow>> {
                Ok(sqlx::query_as(concat!(
                    $crate::store::teams::team_select!(),
                    " WHERE t.name_likeness = $1 LIMIT 1"
                ))
                .bind(likeness)
                .fetch_optional(self.reader())
                .await?)
            }

            async fn teams(&self) -> Result<Vec<TeamRow>> {
                Ok(sqlx::query_as(concat!(
                    $crate::store::teams::team_select!(),
                    " ORDER BY t.created_at, t.id"
                ))
                .fetch_all(self.reader())
                .await?)
            }

            async fn teams_of(&self, owner_id: i64) -> Result<Vec<TeamRow>> {
                Ok(sqlx::query_as(concat!(
                    $crate::store::teams::team_select!(),
                    " WHERE t.owner_id = $1 ORDER BY t.created_at, t.id"
                ))
                .bind(owner_id)
                .fetch_all(self.reader())
                .await?)
            }

            async fn modify_team(
                &self,
                id: &str,
                name: Option<&str>,
                info: Option<&str>,
            ) -> Result<()> {
                let changed = sqlx::query(
                    "UPDATE teams SET name = COALESCE($2, name), info = COALESCE($3, info), \
                     name_likeness = COALESCE($4, name_likeness) WHERE id = $1",
                )
                .bind(id)
                .bind(name)
                .bind(info)
                .bind(name.map($crate::names::likeness))
                .execute(self.writer())
                .await;
                shared::team_named(changed).map(|_| ())
            }

            async fn workers_of_team(&self, team_id: &str) -> Result<Vec<WorkerRow>> {
                Ok(sqlx::query_as(concat!(
                    $crate::store::sql::worker_select!(),
                    " WHERE w.team_id = $1 ORDER BY w.name"
                ))
                .bind(team_id)
                .fetch_all(self.reader())
                .await?)
            }
        }
    };
}

pub(super) use impl_teams;
