//! The store methods that read the same on SQLite and PostgreSQL: one statement each (or, for
//! [`Common::update_user`], a statement and its ledger line), with nothing to lock beyond the
//! rows the statement itself touches. They are written once, here, and [`impl_common!`]
//! implements them for both stores; each store says which pool reads and which writes
//! (`reader()`, `writer()`) and brings its own `book` for the ledger.
//!
//! To add such a method: declare it in [`Common`], write its body in [`impl_common!`], and
//! cover it in `tests/store_behaviour.rs`, which runs against both databases.

use super::*;

#[async_trait]
pub trait Common: Send + Sync + 'static {
    // --- accounts -----------------------------------------------------------
    async fn user_by_key_hash(&self, key_hash: &str) -> Result<Option<UserRow>>;
    async fn user(&self, id: i64) -> Result<Option<UserRow>>;
    async fn users(&self, sort: UserSort, offset: i64, limit: i64) -> Result<Vec<UserRow>>;
    /// Creates an account, pseudonymous or (with `login`) linked to a provider; a login that is
    /// already linked is refused by the database's unique index.
    async fn create_user(
        &self,
        username: &str,
        key_hash: &str,
        concurrency: u32,
        login: Option<&Login>,
        now: i64,
    ) -> Result<UserRow>;
    async fn rename_user(&self, user_id: i64, username: &str) -> Result<()>;
    /// The hash of an account's key, which a web session keeps; None once erased.
    async fn key_hash(&self, user_id: i64) -> Result<Option<String>>;
    async fn set_key_hash(&self, user_id: i64, key_hash: &str) -> Result<()>;
    /// Applies a change to an account (`UserChange`); a kudos change is booked in the ledger.
    async fn update_user(&self, user_id: i64, change: &UserChange, now: i64) -> Result<()>;
    /// Ledger sums per reason, for `kudos_details`.
    async fn kudos_by_reason(&self, user_id: i64) -> Result<Vec<(String, i64)>>;
    /// The latest `limit` lines of an account's ledger, newest first.
    async fn kudos_history(&self, user_id: i64, limit: i64) -> Result<Vec<LedgerRow>>;
    /// Accounts whose spendable or held balance differs from the sum of their ledger lines of
    /// that balance (should be none).
    async fn kudos_mismatches(&self) -> Result<Vec<KudosMismatch>>;

    // --- data rights --------------------------------------------------------
    /// Sets an account's contact address, or removes it (`None`).
    async fn set_contact(&self, user_id: i64, contact: Option<&str>) -> Result<()>;
    /// Every request of an account still stored, oldest first.
    async fn requests_of(&self, user_id: i64) -> Result<Vec<RequestRow>>;

    // --- sign-in through a provider ----------------------------------------
    /// The account linked to this login, if any.
    async fn user_by_login(&self, login: &Login) -> Result<Option<UserRow>>;
    async fn insert_pending_login(&self, pending: &PendingLogin) -> Result<()>;
    /// Removes and returns the sign-in with this state hash: each is used at most once.
    async fn take_pending_login(&self, state_hash: &str) -> Result<Option<PendingLogin>>;

    // --- workers ------------------------------------------------------------
    async fn worker(&self, id: &str) -> Result<Option<WorkerRow>>;
    async fn worker_by_name(&self, name: &str) -> Result<Option<WorkerRow>>;
    /// The workers whose names look like one with this [`crate::names::likeness`].
    async fn workers_like(&self, likeness: &str) -> Result<Vec<WorkerRow>>;
    /// Gives the workers and teams named before names had a likeness theirs; how many.
    async fn fill_name_likeness(&self) -> Result<u64>;
    async fn workers(&self, kind: Option<&str>) -> Result<Vec<WorkerRow>>;
    async fn worker_ids_of(&self, owner_id: i64) -> Result<Vec<String>>;
    /// The chat templates text workers announced (JSON), newest first, with their models.
    async fn chat_templates(&self) -> Result<Vec<(Vec<String>, String)>>;
    async fn modify_worker(&self, id: &str, change: &WorkerChange) -> Result<()>;
    async fn delete_worker(&self, id: &str) -> Result<()>;

    // --- requests and jobs --------------------------------------------------
    async fn request(&self, id: &str) -> Result<Option<RequestRow>>;
    async fn jobs_of(&self, request_id: &str) -> Result<Vec<JobRow>>;
    /// Records that the requester looked, which keeps the request from expiring.
    async fn touch_request(&self, id: &str, now: i64, delivered: bool) -> Result<()>;
    async fn cancel_request(&self, id: &str, now: i64) -> Result<()>;
    /// Requests of the same kind ahead of this one in the queue.
    async fn queue_position(&self, request: &RequestRow) -> Result<u32>;
    async fn job(&self, id: &str) -> Result<Option<JobRow>>;
    /// Stores an uploaded image for a job still in progress; false if the job
    /// or token does not match.
    async fn attach_image(&self, job_id: &str, upload_token: &str, image: &[u8]) -> Result<bool>;
    async fn image(&self, job_id: &str) -> Result<Option<Vec<u8>>>;
    /// What the check whose request is `request_id` verifies; none for other requests.
    async fn check_of_request(&self, request_id: &str) -> Result<Option<CheckRow>>;

    // --- figures and settings -----------------------------------------------
    /// The requesters' queue, per kind and models; checks aside.
    async fn queued_work(&self) -> Result<Vec<QueuedWork>>;
    /// Checks waiting for a worker that may check others' work.
    async fn checks_waiting(&self) -> Result<i64>;
    /// Work finished since `since`, per kind and model; `minute_since` marks the last minute.
    async fn finished_work_since(&self, since: i64, minute_since: i64)
        -> Result<Vec<FinishedWork>>;
    async fn setting(&self, key: &str) -> Result<Option<String>>;
    /// The setting's value, storing `value` first if it has none: the first
    /// instance to ask decides, every later one reads the same.
    async fn setting_or_insert(&self, key: &str, value: &str) -> Result<String>;
    /// Deletes the settings whose keys sort in `from..to`.
    async fn delete_settings_in(&self, from: &str, to: &str) -> Result<u64>;
}

/// Implements [`Common`] for a store. The store's module must have `book` (a ledger line and
/// the balance, in its transaction type) in scope, and the store inherent methods `reader()`
/// and `writer()` returning its pools.
macro_rules! impl_common {
    ($store:ty) => {
        #[async_trait]
        impl $crate::store::Common for $store {
            async fn user_by_key_hash(&self, key_hash: &str) -> Result<Option<UserRow>> {
                Ok(sqlx::query_as(sql::USER_BY_KEY_HASH)
                    .bind(key_hash)
                    .fetch_optional(self.reader())
                    .await?)
            }

            async fn user(&self, id: i64) -> Result<Option<UserRow>> {
                Ok(sqlx::query_as(sql::USER_BY_ID)
                    .bind(id)
                    .fetch_optional(self.reader())
                    .await?)
            }

            async fn users(&self, sort: UserSort, offset: i64, limit: i64) -> Result<Vec<UserRow>> {
                let sql = match sort {
                    UserSort::Kudos => sql::USERS_BY_KUDOS,
                    UserSort::Age => sql::USERS_BY_AGE,
                };
                Ok(sqlx::query_as(sql)
                    .bind(limit)
                    .bind(offset)
                    .fetch_all(self.reader())
                    .await?)
            }

            async fn create_user(
                &self,
                username: &str,
                key_hash: &str,
                concurrency: u32,
                login: Option<&Login>,
                now: i64,
            ) -> Result<UserRow> {
                Ok(sqlx::query_as(sql::CREATE_USER)
                    .bind(username)
                    .bind(key_hash)
                    .bind(i64::from(concurrency))
                    .bind(now)
                    .bind(login.map(|l| l.provider.as_str()))
                    .bind(login.map(|l| l.subject.as_str()))
                    .fetch_one(self.writer())
                    .await?)
            }

            async fn rename_user(&self, user_id: i64, username: &str) -> Result<()> {
                sqlx::query("UPDATE users SET username = $2 WHERE id = $1 AND id != 0")
                    .bind(user_id)
                    .bind(username)
                    .execute(self.writer())
                    .await?;
                Ok(())
            }

            async fn key_hash(&self, user_id: i64) -> Result<Option<String>> {
                let hash: Option<Option<String>> =
                    sqlx::query_scalar("SELECT key_hash FROM users WHERE id = $1")
                        .bind(user_id)
                        .fetch_optional(self.reader())
                        .await?;
                Ok(hash.flatten())
            }

            async fn set_key_hash(&self, user_id: i64, key_hash: &str) -> Result<()> {
                sqlx::query("UPDATE users SET key_hash = $1 WHERE id = $2 AND id != 0")
                    .bind(key_hash)
                    .bind(user_id)
                    .execute(self.writer())
                    .await?;
                Ok(())
            }

            async fn update_user(&self, user_id: i64, change: &UserChange, now: i64) -> Result<()> {
                let mut tx = self.writer().begin().await?;
                if change.trusted == Some(true) {
                    // Trusting an account lifts its workers' pauses, as in the AI Horde. Workers
                    // before the account: the lock order.
                    sqlx::query("UPDATE workers SET paused = FALSE WHERE owner_id = $1 AND paused")
                        .bind(user_id)
                        .execute(&mut *tx)
                        .await?;
                }
                if change.reset_suspicion {
                    sqlx::query("UPDATE workers SET suspicion = 0 WHERE owner_id = $1")
                        .bind(user_id)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query("DELETE FROM suspicions WHERE user_id = $1")
                        .bind(user_id)
                        .execute(&mut *tx)
                        .await?;
                }
                sqlx::query(
                    "UPDATE users SET concurrency = COALESCE($2, concurrency), \
                     moderator = COALESCE($3, moderator), trusted = COALESCE($4, trusted), \
                     flagged = COALESCE($5, flagged), \
                     worker_invited = COALESCE($6, worker_invited), \
                     username = COALESCE($7, username), \
                     contact = CASE WHEN $8 THEN $12 ELSE contact END, \
                     admin = COALESCE($9, admin), public_workers = COALESCE($10, public_workers), \
                     suspicion = CASE WHEN $11 THEN 0 ELSE suspicion END \
                     WHERE id = $1",
                )
                .bind(user_id)
                .bind(change.concurrency)
                .bind(change.moderator)
                .bind(change.trusted)
                .bind(change.flagged)
                .bind(change.worker_invited)
                .bind(change.username.as_deref())
                .bind(change.contact.is_some())
                .bind(change.admin)
                .bind(change.public_workers)
                .bind(change.reset_suspicion)
                .bind(change.contact.clone().flatten())
                .execute(&mut *tx)
                .await?;
                if let Some(delta) = change.kudos_delta {
                    book(&mut tx, user_id, delta, "admin", None, None, now).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn kudos_by_reason(&self, user_id: i64) -> Result<Vec<(String, i64)>> {
                Ok(sqlx::query_as(
                    "SELECT reason, CAST(SUM(amount) AS BIGINT) FROM kudos_ledger \
                     WHERE user_id = $1 AND held = FALSE GROUP BY reason",
                )
                .bind(user_id)
                .fetch_all(self.reader())
                .await?)
            }

            async fn kudos_history(&self, user_id: i64, limit: i64) -> Result<Vec<LedgerRow>> {
                Ok(sqlx::query_as(
                    "SELECT id, amount, reason, job_id, counterparty, created_at, held \
                     FROM kudos_ledger WHERE user_id = $1 ORDER BY id DESC LIMIT $2",
                )
                .bind(user_id)
                .bind(limit)
                .fetch_all(self.reader())
                .await?)
            }

            async fn kudos_mismatches(&self) -> Result<Vec<KudosMismatch>> {
                Ok(sqlx::query_as(
                    "SELECT u.id AS user_id, u.kudos, u.held_kudos, \
                       CAST(COALESCE(SUM(CASE WHEN l.held THEN 0 ELSE l.amount END), 0) AS BIGINT) \
                         AS ledger, \
                       CAST(COALESCE(SUM(CASE WHEN l.held THEN l.amount ELSE 0 END), 0) AS BIGINT) \
                         AS held_ledger \
                     FROM users u LEFT JOIN kudos_ledger l ON l.user_id = u.id \
                     GROUP BY u.id, u.kudos, u.held_kudos \
                     HAVING u.kudos != COALESCE(SUM(CASE WHEN l.held THEN 0 ELSE l.amount END), 0) \
                       OR u.held_kudos != COALESCE(SUM(CASE WHEN l.held THEN l.amount ELSE 0 END), 0)",
                )
                .fetch_all(self.reader())
                .await?)
            }

            async fn set_contact(&self, user_id: i64, contact: Option<&str>) -> Result<()> {
                sqlx::query("UPDATE users SET contact = $2 WHERE id = $1 AND id != 0")
                    .bind(user_id)
                    .bind(contact)
                    .execute(self.writer())
                    .await?;
                Ok(())
            }

            async fn requests_of(&self, user_id: i64) -> Result<Vec<RequestRow>> {
                Ok(sqlx::query_as(sql::REQUESTS_OF_USER)
                    .bind(user_id)
                    .fetch_all(self.reader())
                    .await?)
            }

            async fn user_by_login(&self, login: &Login) -> Result<Option<UserRow>> {
                Ok(sqlx::query_as(sql::USER_BY_LOGIN)
                    .bind(&login.provider)
                    .bind(&login.subject)
                    .fetch_optional(self.reader())
                    .await?)
            }

            async fn insert_pending_login(&self, pending: &PendingLogin) -> Result<()> {
                sqlx::query(
                    "INSERT INTO pending_logins \
                     (state_hash, provider, nonce, pkce_verifier, created_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&pending.state_hash)
                .bind(&pending.provider)
                .bind(&pending.nonce)
                .bind(&pending.pkce_verifier)
                .bind(pending.created_at)
                .execute(self.writer())
                .await?;
                Ok(())
            }

            async fn take_pending_login(&self, state_hash: &str) -> Result<Option<PendingLogin>> {
                // Taken once: a second callback with the same state finds nothing.
                Ok(sqlx::query_as(
                    "DELETE FROM pending_logins WHERE state_hash = $1 \
                     RETURNING state_hash, provider, nonce, pkce_verifier, created_at",
                )
                .bind(state_hash)
                .fetch_optional(self.writer())
                .await?)
            }

            async fn worker(&self, id: &str) -> Result<Option<WorkerRow>> {
                Ok(sqlx::query_as(sql::WORKER_BY_ID)
                    .bind(id)
                    .fetch_optional(self.reader())
                    .await?)
            }

            async fn worker_by_name(&self, name: &str) -> Result<Option<WorkerRow>> {
                Ok(sqlx::query_as(sql::WORKER_BY_NAME)
                    .bind(name)
                    .fetch_optional(self.reader())
                    .await?)
            }

            async fn workers_like(&self, likeness: &str) -> Result<Vec<WorkerRow>> {
                Ok(sqlx::query_as(concat!(
                    $crate::store::sql::worker_select!(),
                    " WHERE w.name_likeness = $1"
                ))
                .bind(likeness)
                .fetch_all(self.reader())
                .await?)
            }

            async fn fill_name_likeness(&self) -> Result<u64> {
                let mut filled = 0;
                for table in ["workers", "teams"] {
                    let rows: Vec<(String, String)> = sqlx::query_as(&format!(
                        "SELECT id, name FROM {table} WHERE name_likeness IS NULL"
                    ))
                    .fetch_all(self.reader())
                    .await?;
                    for (id, name) in rows {
                        sqlx::query(&format!(
                            "UPDATE {table} SET name_likeness = $2 WHERE id = $1"
                        ))
                        .bind(&id)
                        .bind($crate::names::likeness(&name))
                        .execute(self.writer())
                        .await?;
                        filled += 1;
                    }
                }
                Ok(filled)
            }

            async fn workers(&self, kind: Option<&str>) -> Result<Vec<WorkerRow>> {
                Ok(sqlx::query_as(sql::WORKERS_OF_KIND)
                    .bind(kind)
                    .fetch_all(self.reader())
                    .await?)
            }

            async fn worker_ids_of(&self, owner_id: i64) -> Result<Vec<String>> {
                Ok(
                    sqlx::query_scalar("SELECT id FROM workers WHERE owner_id = $1 ORDER BY name")
                        .bind(owner_id)
                        .fetch_all(self.reader())
                        .await?,
                )
            }

            async fn chat_templates(&self) -> Result<Vec<(Vec<String>, String)>> {
                let rows: Vec<(Json<Vec<String>>, String)> = sqlx::query_as(
                    "SELECT models, chat_template FROM workers \
                     WHERE kind = 'text' AND chat_template IS NOT NULL \
                     ORDER BY last_check_in DESC LIMIT 200",
                )
                .fetch_all(self.reader())
                .await?;
                Ok(rows.into_iter().map(|(models, t)| (models.0, t)).collect())
            }

            async fn modify_worker(&self, id: &str, change: &WorkerChange) -> Result<()> {
                let result = sqlx::query(
                    "UPDATE workers SET maintenance = COALESCE($2, maintenance), \
                     maintenance_msg = CASE WHEN $3 THEN $4 ELSE maintenance_msg END, \
                     paused = COALESCE($5, paused), info = COALESCE($6, info), \
                     name = COALESCE($7, name), \
                     team_id = CASE WHEN $8 THEN $9 ELSE team_id END, \
                     name_likeness = COALESCE($10, name_likeness) WHERE id = $1",
                )
                .bind(id)
                .bind(change.maintenance)
                .bind(change.maintenance_msg.is_some())
                .bind(change.maintenance_msg.clone().flatten())
                .bind(change.paused)
                .bind(change.info.as_deref())
                .bind(change.name.as_deref())
                .bind(change.team.is_some())
                .bind(change.team.clone().flatten())
                .bind(change.name.as_deref().map($crate::names::likeness))
                .execute(self.writer())
                .await;
                shared::worker_changed(result)
            }

            async fn delete_worker(&self, id: &str) -> Result<()> {
                sqlx::query("DELETE FROM workers WHERE id = $1")
                    .bind(id)
                    .execute(self.writer())
                    .await?;
                Ok(())
            }

            async fn request(&self, id: &str) -> Result<Option<RequestRow>> {
                Ok(sqlx::query_as(sql::REQUEST_BY_ID)
                    .bind(id)
                    .fetch_optional(self.reader())
                    .await?)
            }

            async fn jobs_of(&self, request_id: &str) -> Result<Vec<JobRow>> {
                Ok(sqlx::query_as(sql::JOBS_OF_REQUEST)
                    .bind(request_id)
                    .fetch_all(self.reader())
                    .await?)
            }

            async fn touch_request(&self, id: &str, now: i64, delivered: bool) -> Result<()> {
                sqlx::query(concat!(sql::touch_requests!(), " WHERE id = $1"))
                .bind(id)
                .bind(now)
                .bind(delivered)
                .execute(self.writer())
                .await?;
                Ok(())
            }

            async fn cancel_request(&self, id: &str, now: i64) -> Result<()> {
                sqlx::query(concat!(sql::cancel_requests!(), " WHERE id = $1 AND state = 'active'"))
                    .bind(id)
                    .bind(now)
                    .execute(self.writer())
                    .await?;
                Ok(())
            }

            async fn queue_position(&self, r: &RequestRow) -> Result<u32> {
                // Checks wait in a queue of their own, for other workers.
                let ahead: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM requests \
                     WHERE kind = $1 AND state = 'active' AND n_waiting > 0 \
                       AND check_kind IS NULL \
                       AND (priority > $2 OR (priority = $2 AND created_at < $3))",
                )
                .bind(&r.kind)
                .bind(r.priority)
                .bind(r.created_at)
                .fetch_one(self.reader())
                .await?;
                Ok(u32::try_from(ahead).unwrap_or(u32::MAX))
            }

            async fn job(&self, id: &str) -> Result<Option<JobRow>> {
                Ok(sqlx::query_as(sql::JOB_BY_ID)
                    .bind(id)
                    .fetch_optional(self.reader())
                    .await?)
            }

            async fn attach_image(
                &self,
                job_id: &str,
                upload_token: &str,
                image: &[u8],
            ) -> Result<bool> {
                let result = sqlx::query(
                    "UPDATE jobs SET image = $3 \
                     WHERE id = $1 AND upload_token = $2 AND state = 'processing'",
                )
                .bind(job_id)
                .bind(upload_token)
                .bind(image)
                .execute(self.writer())
                .await?;
                Ok(result.rows_affected() == 1)
            }

            async fn image(&self, job_id: &str) -> Result<Option<Vec<u8>>> {
                Ok(sqlx::query_scalar(
                    "SELECT image FROM jobs WHERE id = $1 AND image IS NOT NULL",
                )
                .bind(job_id)
                .fetch_optional(self.reader())
                .await?)
            }

            async fn check_of_request(&self, request_id: &str) -> Result<Option<CheckRow>> {
                Ok(sqlx::query_as(sql::CHECK_OF_REQUEST)
                    .bind(request_id)
                    .fetch_optional(self.reader())
                    .await?)
            }

            async fn queued_work(&self) -> Result<Vec<QueuedWork>> {
                Ok(sqlx::query_as(
                    "SELECT kind, models, COUNT(*) AS requests, \
                     CAST(SUM(n_waiting) AS BIGINT) AS generations, \
                     CAST(SUM(n_waiting * max_length) AS BIGINT) AS tokens, \
                     CAST(SUM(n_waiting * width * height * steps) / 1000000.0 \
                          AS DOUBLE PRECISION) AS mps, \
                     MIN(created_at) AS oldest \
                     FROM requests \
                     WHERE state = 'active' AND n_waiting > 0 AND check_kind IS NULL \
                     GROUP BY kind, models",
                )
                .fetch_all(self.reader())
                .await?)
            }

            async fn checks_waiting(&self) -> Result<i64> {
                Ok(sqlx::query_scalar(
                    "SELECT COUNT(*) FROM requests \
                     WHERE state = 'active' AND n_waiting > 0 AND check_kind IS NOT NULL",
                )
                .fetch_one(self.reader())
                .await?)
            }

            async fn finished_work_since(
                &self,
                since: i64,
                minute_since: i64,
            ) -> Result<Vec<FinishedWork>> {
                Ok(sqlx::query_as(
                    "SELECT r.kind, j.model, COUNT(*) AS jobs, SUM(j.things) AS things, \
                     CAST(SUM(j.finished_at - j.popped_at) AS BIGINT) AS busy_ms, \
                     SUM(CASE WHEN j.finished_at >= $2 THEN j.things ELSE 0.0 END) \
                       AS last_minute_things \
                     FROM jobs j JOIN requests r ON r.id = j.request_id \
                     WHERE j.finished_at >= $1 AND j.state IN ('ok', 'censored', 'csam') \
                     GROUP BY r.kind, j.model",
                )
                .bind(since)
                .bind(minute_since)
                .fetch_all(self.reader())
                .await?)
            }

            async fn setting(&self, key: &str) -> Result<Option<String>> {
                Ok(sqlx::query_scalar(sql::SETTING)
                    .bind(key)
                    .fetch_optional(self.reader())
                    .await?)
            }

            async fn setting_or_insert(&self, key: &str, value: &str) -> Result<String> {
                sqlx::query(
                    "INSERT INTO settings (key, value) VALUES ($1, $2) \
                     ON CONFLICT (key) DO NOTHING",
                )
                .bind(key)
                .bind(value)
                .execute(self.writer())
                .await?;
                // From the writer: a reader might not see the row just inserted yet.
                Ok(sqlx::query_scalar(sql::SETTING)
                    .bind(key)
                    .fetch_one(self.writer())
                    .await?)
            }

            async fn delete_settings_in(&self, from: &str, to: &str) -> Result<u64> {
                Ok(
                    sqlx::query("DELETE FROM settings WHERE key >= $1 AND key < $2")
                        .bind(from)
                        .bind(to)
                        .execute(self.writer())
                        .await?
                        .rows_affected(),
                )
            }
        }
    };
}

pub(super) use impl_common;
