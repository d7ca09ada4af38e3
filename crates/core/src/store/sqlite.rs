//! The embedded default: SQLite through sqlx.
//!
//! Writes go through a pool of exactly one connection, so write transactions
//! never contend for SQLite's lock (no SQLITE_BUSY on upgrade) and a claim or
//! a submit is atomic by construction. Reads use their own pool and, thanks to
//! WAL mode, never wait for writers.

use super::shared::{self, SCAN_PAGE};
use super::sql::{self, request_columns};
use super::*;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};
use std::str::FromStr;
use std::time::Duration;

pub struct SqliteStore {
    read: SqlitePool,
    write: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) and migrates the database at `url`,
    /// e.g. `sqlite://potluck.db`.
    pub async fn connect(url: &str) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            // Purged prompts and results are overwritten on disk, not just unlinked.
            .pragma("secure_delete", "on")
            .busy_timeout(Duration::from_secs(10));
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("migrations/sqlite").run(&write).await?;
        let read = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options.read_only(true))
            .await?;
        Ok(SqliteStore { read, write })
    }

    /// The one writing connection, for other tables in the same file (the web UI's sessions):
    /// their writes then queue behind the store's instead of competing for SQLite's lock.
    pub fn write_pool(&self) -> &SqlitePool {
        &self.write
    }

    /// After content was deleted: the write-ahead log still holds the old pages, so fold it
    /// into the (securely deleted) database file and empty it.
    async fn fold_wal(&self) -> Result<()> {
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&self.write)
            .await?;
        Ok(())
    }
}

/// The web sessions signed in as the account `$1`: tower-sessions serialises a session's entries
/// as plain bytes, so its data holds the account's key hash as it is.
macro_rules! sessions_of_user {
    () => {
        " FROM web_sessions \
         WHERE instr(data, CAST((SELECT key_hash FROM users WHERE id = $1) AS BLOB)) > 0"
    };
}

/// Books one kudos movement: a ledger line and the balance, in the caller's
/// transaction. The anonymous account keeps no kudos.
async fn book(
    tx: &mut Transaction<'_, Sqlite>,
    user_id: i64,
    amount: Kudos,
    reason: &str,
    job_id: Option<&str>,
    counterparty: Option<i64>,
    now: i64,
) -> Result<()> {
    if user_id == 0 || amount == Kudos::ZERO {
        return Ok(());
    }
    sqlx::query(sql::LEDGER_INSERT)
        .bind(user_id)
        .bind(amount.hundredths())
        .bind(reason)
        .bind(job_id)
        .bind(counterparty)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    sqlx::query(sql::ADD_KUDOS)
        .bind(amount.hundredths())
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn requeue_one(
    tx: &mut Transaction<'_, Sqlite>,
    request_id: &str,
    max_restarts: u32,
    now: i64,
) -> Result<()> {
    sqlx::query(sql::REQUEUE_ONE)
        .bind(request_id)
        .bind(i64::from(max_restarts))
        .bind(now)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Takes up to `pop.amount` waiting generations of `request` for the worker.
async fn claim(
    tx: &mut Transaction<'_, Sqlite>,
    request: &RequestRow,
    pop: &PopQuery<'_>,
) -> Result<Claimed> {
    let claimed = shared::new_jobs(request, pop);
    sqlx::query(sql::TAKE_GENERATIONS)
        .bind(&request.id)
        .bind(claimed.jobs.len() as i64)
        .bind(pop.now)
        .execute(&mut **tx)
        .await?;
    for job in &claimed.jobs {
        sqlx::query(sql::INSERT_JOB)
            .bind(&job.id)
            .bind(&job.request_id)
            .bind(&job.worker_id)
            .bind(&job.model)
            .bind(job.popped_at)
            .bind(job.lease_expires_at)
            .bind(job.upload_token.as_deref())
            .execute(&mut **tx)
            .await?;
    }
    Ok(claimed)
}

#[async_trait]
impl Store for SqliteStore {
    async fn user_by_key_hash(&self, key_hash: &str) -> Result<Option<UserRow>> {
        Ok(sqlx::query_as(sql::USER_BY_KEY_HASH)
            .bind(key_hash)
            .fetch_optional(&self.read)
            .await?)
    }

    async fn user(&self, id: i64) -> Result<Option<UserRow>> {
        Ok(sqlx::query_as(sql::USER_BY_ID)
            .bind(id)
            .fetch_optional(&self.read)
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
            .fetch_all(&self.read)
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
            .fetch_one(&self.write)
            .await?)
    }

    async fn rename_user(&self, user_id: i64, username: &str) -> Result<()> {
        sqlx::query(sql::RENAME_USER)
            .bind(user_id)
            .bind(username)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn key_hash(&self, user_id: i64) -> Result<Option<String>> {
        let hash: Option<Option<String>> = sqlx::query_scalar(sql::KEY_HASH)
            .bind(user_id)
            .fetch_optional(&self.read)
            .await?;
        Ok(hash.flatten())
    }

    async fn user_by_login(&self, login: &Login) -> Result<Option<UserRow>> {
        Ok(sqlx::query_as(sql::USER_BY_LOGIN)
            .bind(&login.provider)
            .bind(&login.subject)
            .fetch_optional(&self.read)
            .await?)
    }

    async fn insert_pending_login(&self, pending: &PendingLogin) -> Result<()> {
        sqlx::query(sql::INSERT_PENDING_LOGIN)
            .bind(&pending.state_hash)
            .bind(&pending.provider)
            .bind(&pending.nonce)
            .bind(&pending.pkce_verifier)
            .bind(pending.created_at)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn take_pending_login(&self, state_hash: &str) -> Result<Option<PendingLogin>> {
        Ok(sqlx::query_as(sql::TAKE_PENDING_LOGIN)
            .bind(state_hash)
            .fetch_optional(&self.write)
            .await?)
    }

    async fn set_key_hash(&self, user_id: i64, key_hash: &str) -> Result<()> {
        sqlx::query(sql::SET_KEY_HASH)
            .bind(key_hash)
            .bind(user_id)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn update_user(&self, user_id: i64, change: &UserChange, now: i64) -> Result<()> {
        let mut tx = self.write.begin().await?;
        sqlx::query(sql::UPDATE_USER)
            .bind(user_id)
            .bind(change.concurrency)
            .bind(change.moderator)
            .bind(change.trusted)
            .bind(change.flagged)
            .bind(change.worker_invited)
            .bind(change.username.as_deref())
            .bind(change.contact.as_deref())
            .execute(&mut *tx)
            .await?;
        if let Some(delta) = change.kudos_delta {
            book(&mut tx, user_id, delta, "admin", None, None, now).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn kudos_by_reason(&self, user_id: i64) -> Result<Vec<(String, i64)>> {
        Ok(sqlx::query_as(sql::KUDOS_BY_REASON)
            .bind(user_id)
            .fetch_all(&self.read)
            .await?)
    }

    async fn kudos_history(&self, user_id: i64, limit: i64) -> Result<Vec<LedgerRow>> {
        Ok(sqlx::query_as(sql::KUDOS_HISTORY)
            .bind(user_id)
            .bind(limit)
            .fetch_all(&self.read)
            .await?)
    }

    async fn transfer_kudos(&self, from: i64, to: i64, amount: Kudos, now: i64) -> Result<()> {
        let mut tx = self.write.begin().await?;
        let balance: i64 = sqlx::query_scalar("SELECT kudos FROM users WHERE id = $1")
            .bind(from)
            .fetch_one(&mut *tx)
            .await?;
        shared::check_balance(balance, amount)?;
        book(&mut tx, from, -amount, "gifted", None, Some(to), now).await?;
        book(&mut tx, to, amount, "received", None, Some(from), now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn kudos_mismatches(&self) -> Result<Vec<(i64, i64, i64)>> {
        Ok(sqlx::query_as(sql::KUDOS_MISMATCHES)
            .fetch_all(&self.read)
            .await?)
    }

    async fn set_contact(&self, user_id: i64, contact: Option<&str>) -> Result<()> {
        sqlx::query(sql::SET_CONTACT)
            .bind(user_id)
            .bind(contact)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn set_frozen(&self, user_id: i64, frozen: bool, now: i64) -> Result<u64> {
        let mut tx = self.write.begin().await?;
        sqlx::query(sql::SET_FROZEN)
            .bind(user_id)
            .bind(frozen)
            .execute(&mut *tx)
            .await?;
        let mut cancelled = 0;
        if frozen {
            cancelled = sqlx::query(sql::CANCEL_REQUESTS_OF_USER)
                .bind(user_id)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        tx.commit().await?;
        Ok(cancelled)
    }

    async fn requests_of(&self, user_id: i64) -> Result<Vec<RequestRow>> {
        Ok(sqlx::query_as(sql::REQUESTS_OF_USER)
            .bind(user_id)
            .fetch_all(&self.read)
            .await?)
    }

    async fn web_sessions_of(&self, user_id: i64) -> Result<i64> {
        Ok(
            sqlx::query_scalar(concat!("SELECT COUNT(*)", sessions_of_user!()))
                .bind(user_id)
                .fetch_one(&self.read)
                .await?,
        )
    }

    async fn erase_user(&self, user_id: i64, now: i64) -> Result<Erasure> {
        let mut tx = self.write.begin().await?;
        let requests_cancelled = sqlx::query(sql::CANCEL_REQUESTS_OF_USER)
            .bind(user_id)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query(sql::ABORT_JOBS_OF_USER)
            .bind(user_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        for statement in [sql::PURGE_JOBS_OF_USER, sql::PURGE_REQUESTS_OF_USER] {
            sqlx::query(statement)
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
        }
        let workers_deleted = sqlx::query(sql::DELETE_WORKERS_OF)
            .bind(user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        // Before the key hash goes: it is how a session names its account.
        let sessions_ended = sqlx::query(concat!("DELETE", sessions_of_user!()))
            .bind(user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let balance: i64 = sqlx::query_scalar("SELECT kudos FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_one(&mut *tx)
            .await?;
        book(&mut tx, user_id, Kudos(-balance), "erased", None, None, now).await?;
        sqlx::query(sql::ERASE_USER)
            .bind(user_id)
            .bind(ERASED_NAME)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.fold_wal().await?;
        Ok(Erasure {
            requests_cancelled,
            workers_deleted,
            sessions_ended,
            kudos_forfeited: Kudos(balance),
        })
    }

    async fn worker(&self, id: &str) -> Result<Option<WorkerRow>> {
        Ok(sqlx::query_as(sql::WORKER_BY_ID)
            .bind(id)
            .fetch_optional(&self.read)
            .await?)
    }

    async fn worker_by_name(&self, name: &str) -> Result<Option<WorkerRow>> {
        Ok(sqlx::query_as(sql::WORKER_BY_NAME)
            .bind(name)
            .fetch_optional(&self.read)
            .await?)
    }

    async fn workers(&self, kind: Option<&str>) -> Result<Vec<WorkerRow>> {
        Ok(sqlx::query_as(sql::WORKERS_OF_KIND)
            .bind(kind)
            .fetch_all(&self.read)
            .await?)
    }

    async fn chat_templates(&self) -> Result<Vec<(Vec<String>, String)>> {
        let rows: Vec<(sqlx::types::Json<Vec<String>>, String)> =
            sqlx::query_as(sql::CHAT_TEMPLATES)
                .fetch_all(&self.read)
                .await?;
        Ok(rows.into_iter().map(|(models, t)| (models.0, t)).collect())
    }

    async fn worker_ids_of(&self, owner_id: i64) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(sql::WORKER_IDS_OF)
            .bind(owner_id)
            .fetch_all(&self.read)
            .await?)
    }

    async fn check_in_worker(&self, c: &WorkerCheckIn) -> Result<WorkerRow> {
        let mut tx = self.write.begin().await?;
        let existing: Option<(String, i64, i64, i64, bool)> = sqlx::query_as(
            "SELECT id, last_check_in, uptime_ms, last_reward_uptime_ms, maintenance \
             FROM workers WHERE lower(name) = lower($1)",
        )
        .bind(&c.name)
        .fetch_optional(&mut *tx)
        .await?;
        let models = json(&c.models);
        let id = match existing {
            None => {
                sqlx::query(sql::INSERT_WORKER)
                    .bind(&c.new_id)
                    .bind(&c.name)
                    .bind(c.owner_id)
                    .bind(&c.kind)
                    .bind(c.now)
                    .execute(&mut *tx)
                    .await?;
                c.new_id.clone()
            }
            Some((id, last_check_in, uptime_ms, last_reward_uptime_ms, maintenance)) => {
                let uptime = shared::uptime_after_check_in(
                    c,
                    last_check_in,
                    uptime_ms,
                    last_reward_uptime_ms,
                    maintenance,
                );
                book(
                    &mut tx,
                    c.owner_id,
                    uptime.reward,
                    "uptime",
                    None,
                    None,
                    c.now,
                )
                .await?;
                sqlx::query(sql::RECORD_UPTIME)
                    .bind(&id)
                    .bind(uptime.uptime_ms)
                    .bind(uptime.last_reward_uptime_ms)
                    .bind(uptime.reward.hundredths())
                    .execute(&mut *tx)
                    .await?;
                id
            }
        };
        sqlx::query(sql::REFRESH_WORKER)
            .bind(&id)
            .bind(models)
            .bind(c.max_length)
            .bind(c.max_context_length)
            .bind(c.max_pixels)
            .bind(c.nsfw)
            .bind(c.allow_img2img)
            .bind(c.allow_painting)
            .bind(c.allow_post_processing)
            .bind(c.allow_lora)
            .bind(c.allow_controlnet)
            .bind(c.threads)
            .bind(&c.bridge_agent)
            .bind(c.now)
            .bind(c.chat_template.as_deref())
            .bind(c.browser)
            .bind(c.keeps_prompts)
            .execute(&mut *tx)
            .await?;
        let row = sqlx::query_as(sql::WORKER_BY_ID)
            .bind(&id)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(row)
    }

    async fn modify_worker(&self, id: &str, change: &WorkerChange) -> Result<()> {
        let result = sqlx::query(sql::MODIFY_WORKER)
            .bind(id)
            .bind(change.maintenance)
            .bind(change.maintenance_msg.as_deref())
            .bind(change.paused)
            .bind(change.info.as_deref())
            .bind(change.name.as_deref())
            .execute(&self.write)
            .await;
        shared::renamed(result)
    }

    async fn delete_worker(&self, id: &str) -> Result<()> {
        sqlx::query(sql::DELETE_WORKER)
            .bind(id)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn insert_request(&self, r: &NewRequest, limit: u32) -> Result<()> {
        let mut tx = self.write.begin().await?;
        let active: i64 = sqlx::query_scalar(sql::COUNT_ACTIVE_REQUESTS)
            .bind(r.user_id)
            .bind(r.client_hash.as_deref())
            .fetch_one(&mut *tx)
            .await?;
        shared::check_concurrency(active, limit)?;
        sqlx::query(sql::INSERT_REQUEST)
            .bind(&r.id)
            .bind(&r.kind)
            .bind(r.user_id)
            .bind(r.client_hash.as_deref())
            .bind(&r.prompt)
            .bind(json(&r.params))
            .bind(json(&r.models))
            .bind(json(&r.workers))
            .bind(r.worker_blacklist)
            .bind(r.trusted_workers)
            .bind(r.nsfw)
            .bind(r.r2)
            .bind(r.shared)
            .bind(r.max_length)
            .bind(r.max_context_length)
            .bind(r.width)
            .bind(r.height)
            .bind(r.steps)
            .bind(r.img2img)
            .bind(r.post_processors)
            .bind(r.loras)
            .bind(r.n)
            .bind(r.priority)
            .bind(r.kudos_estimate.hundredths())
            .bind(r.now)
            .bind(r.workers_keep_nothing)
            .execute(&mut *tx)
            .await?;
        sqlx::query(shared::count_request_sql(&r.kind))
            .bind(r.user_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn request(&self, id: &str) -> Result<Option<RequestRow>> {
        Ok(sqlx::query_as(sql::REQUEST_BY_ID)
            .bind(id)
            .fetch_optional(&self.read)
            .await?)
    }

    async fn jobs_of(&self, request_id: &str) -> Result<Vec<JobRow>> {
        Ok(sqlx::query_as(sql::JOBS_OF_REQUEST)
            .bind(request_id)
            .fetch_all(&self.read)
            .await?)
    }

    async fn touch_request(&self, id: &str, now: i64, delivered: bool) -> Result<()> {
        sqlx::query(sql::TOUCH_REQUEST)
            .bind(id)
            .bind(now)
            .bind(delivered)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn cancel_request(&self, id: &str, now: i64) -> Result<()> {
        sqlx::query(sql::CANCEL_REQUEST)
            .bind(id)
            .bind(now)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn queue_position(&self, r: &RequestRow) -> Result<u32> {
        let ahead: i64 = sqlx::query_scalar(sql::QUEUE_POSITION)
            .bind(&r.kind)
            .bind(r.priority)
            .bind(r.created_at)
            .fetch_one(&self.read)
            .await?;
        Ok(u32::try_from(ahead).unwrap_or(u32::MAX))
    }

    async fn pop(&self, pop: &PopQuery<'_>) -> Result<PopOutcome> {
        // The scan runs inside the write transaction, so what it sees is what
        // it claims: with SQLite's single writer no other pop can interleave.
        const QUEUE_PAGE: &str = concat!(
            "SELECT ",
            request_columns!(),
            " FROM requests \
             WHERE kind = $1 AND state = 'active' AND n_waiting > 0 \
               AND (models = '[]' OR EXISTS (SELECT 1 FROM json_each(requests.models) m \
                    WHERE m.value IN (SELECT value FROM json_each($2)))) \
             ORDER BY priority DESC, created_at ASC LIMIT $3 OFFSET $4"
        );
        let models = json(&pop.worker.models);
        let mut skipped = protocol::NoValidRequestFound::default();
        let mut tx = self.write.begin().await?;
        let mut offset = 0;
        while offset < pop.scan_limit {
            let page: Vec<RequestRow> = sqlx::query_as(QUEUE_PAGE)
                .bind(pop.kind)
                .bind(&models)
                .bind(SCAN_PAGE)
                .bind(offset)
                .fetch_all(&mut *tx)
                .await?;
            for request in &page {
                match pop.worker.check(request) {
                    Err(skip) => skip.count(&mut skipped),
                    Ok(()) => {
                        let claimed = claim(&mut tx, request, pop).await?;
                        tx.commit().await?;
                        return Ok(PopOutcome {
                            claimed: Some(claimed),
                            skipped,
                        });
                    }
                }
            }
            if (page.len() as i64) < SCAN_PAGE {
                break;
            }
            offset += SCAN_PAGE;
        }
        Ok(PopOutcome {
            claimed: None,
            skipped,
        })
    }

    async fn job(&self, id: &str) -> Result<Option<JobRow>> {
        Ok(sqlx::query_as(sql::JOB_BY_ID)
            .bind(id)
            .fetch_optional(&self.read)
            .await?)
    }

    async fn attach_image(&self, job_id: &str, upload_token: &str, image: &[u8]) -> Result<bool> {
        let result = sqlx::query(sql::ATTACH_IMAGE)
            .bind(job_id)
            .bind(upload_token)
            .bind(image)
            .execute(&self.write)
            .await?;
        Ok(result.rows_affected() == 1)
    }

    async fn image(&self, job_id: &str) -> Result<Option<Vec<u8>>> {
        Ok(sqlx::query_scalar(sql::IMAGE_OF_JOB)
            .bind(job_id)
            .fetch_optional(&self.read)
            .await?)
    }

    async fn complete_job(&self, c: &Completion) -> Result<CompletionOutcome> {
        let mut tx = self.write.begin().await?;
        let found: Option<(String, String, String, i64, String, Option<i64>)> = sqlx::query_as(
            "SELECT j.state, j.worker_id, j.request_id, r.user_id, r.kind, w.owner_id FROM jobs j \
             JOIN requests r ON r.id = j.request_id LEFT JOIN workers w ON w.id = j.worker_id \
             WHERE j.id = $1",
        )
        .bind(&c.job_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((state, worker_id, request_id, requester, kind, owner)) = found else {
            return Ok(CompletionOutcome::NotFound);
        };
        if let Some(outcome) = shared::refused_completion(c, &state, &worker_id) {
            return Ok(outcome);
        }
        if c.state == protocol::SubmitState::Faulted {
            sqlx::query(sql::FAULT_JOB)
                .bind(&c.job_id)
                .bind(c.now)
                .execute(&mut *tx)
                .await?;
            sqlx::query(sql::COUNT_UNCOMPLETED)
                .bind(&worker_id)
                .execute(&mut *tx)
                .await?;
            requeue_one(&mut tx, &request_id, c.max_restarts, c.now).await?;
            tx.commit().await?;
            return Ok(CompletionOutcome::Requeued);
        }
        sqlx::query(sql::FINISH_JOB)
            .bind(&c.job_id)
            .bind(c.state.as_str())
            .bind(c.generation.as_deref())
            .bind(c.image.as_deref())
            .bind(&c.seed)
            .bind(json(&c.gen_metadata))
            .bind(c.reward.hundredths())
            .bind(c.things)
            .bind(c.now)
            .bind(c.prompt_tokens)
            .bind(c.completion_tokens)
            .bind(c.finish_reason.as_deref())
            .execute(&mut *tx)
            .await?;
        let delivered = shared::delivered(&kind, c.things);
        if let Some(owner) = owner {
            let job_id = Some(c.job_id.as_str());
            book(&mut tx, owner, c.reward, "generated", job_id, None, c.now).await?;
            sqlx::query(delivered.credit_owner_sql)
                .bind(owner)
                .bind(delivered.tokens)
                .bind(delivered.mps)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(sql::CREDIT_WORKER)
            .bind(&worker_id)
            .bind(c.reward.hundredths())
            .bind(delivered.tokens)
            .bind(delivered.mps)
            .execute(&mut *tx)
            .await?;
        let job_id = Some(c.job_id.as_str());
        book(&mut tx, requester, -c.cost, "spent", job_id, None, c.now).await?;
        sqlx::query(sql::CHARGE_USAGE)
            .bind(requester)
            .bind(delivered.tokens)
            .bind(delivered.mps)
            .execute(&mut *tx)
            .await?;
        sqlx::query(sql::COUNT_DONE)
            .bind(&request_id)
            .bind(c.now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(CompletionOutcome::Rewarded(c.reward))
    }

    async fn requeue_expired_leases(&self, now: i64, max_restarts: u32) -> Result<u64> {
        let mut tx = self.write.begin().await?;
        let expired: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT id, request_id, worker_id FROM jobs WHERE state = 'processing' AND lease_expires_at < $1 \
             LIMIT 1000",
        )
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
        for (job_id, request_id, worker_id) in &expired {
            sqlx::query("UPDATE jobs SET state = 'abandoned', finished_at = $2 WHERE id = $1")
                .bind(job_id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            sqlx::query(sql::COUNT_UNCOMPLETED)
                .bind(worker_id)
                .execute(&mut *tx)
                .await?;
            requeue_one(&mut tx, request_id, max_restarts, now).await?;
        }
        tx.commit().await?;
        Ok(expired.len() as u64)
    }

    async fn expire_idle_requests(&self, idle_before: i64, now: i64) -> Result<u64> {
        let result = sqlx::query(
            "UPDATE requests SET state = 'expired', n_waiting = 0, finished_at = $2 \
             WHERE state = 'active' AND last_activity < $1 \
               AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.request_id = requests.id AND j.state = 'processing')",
        )
        .bind(idle_before)
        .bind(now)
        .execute(&self.write)
        .await?;
        Ok(result.rows_affected())
    }

    async fn purge(&self, p: &PurgeCutoffs) -> Result<u64> {
        let mut tx = self.write.begin().await?;
        let purged = sqlx::query(
            "UPDATE requests SET prompt = NULL, params = NULL, client_hash = NULL, purged = 1 \
             WHERE purged = 0 AND state != 'active' \
               AND ((delivered_at IS NOT NULL AND delivered_at < $1) OR finished_at < $2)",
        )
        .bind(p.delivered_before)
        .bind(p.finished_before)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query(
            "UPDATE jobs SET generation = NULL, image = NULL, upload_token = NULL, gen_metadata = NULL \
             WHERE (generation IS NOT NULL OR image IS NOT NULL OR upload_token IS NOT NULL) \
               AND request_id IN (SELECT id FROM requests WHERE purged = 1)",
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM requests WHERE purged = 1 AND finished_at < $1")
            .bind(p.history_before)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE requests SET client_hash = NULL \
             WHERE client_hash IS NOT NULL AND created_at < $1",
        )
        .bind(p.client_hashes_before)
        .execute(&mut *tx)
        .await?;
        sqlx::query(sql::DELETE_PENDING_LOGINS_BEFORE)
            .bind(p.pending_logins_before)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        if purged > 0 {
            self.fold_wal().await?;
        }
        Ok(purged)
    }

    async fn queued_work(&self) -> Result<Vec<QueuedWork>> {
        Ok(sqlx::query_as(sql::QUEUED_WORK)
            .fetch_all(&self.read)
            .await?)
    }

    async fn finished_work_since(
        &self,
        since: i64,
        minute_since: i64,
    ) -> Result<Vec<FinishedWork>> {
        Ok(sqlx::query_as(sql::FINISHED_WORK_SINCE)
            .bind(since)
            .bind(minute_since)
            .fetch_all(&self.read)
            .await?)
    }

    async fn setting(&self, key: &str) -> Result<Option<String>> {
        Ok(sqlx::query_scalar(sql::SETTING)
            .bind(key)
            .fetch_optional(&self.read)
            .await?)
    }

    async fn delete_settings_in(&self, from: &str, to: &str) -> Result<u64> {
        Ok(sqlx::query(sql::DELETE_SETTINGS_IN)
            .bind(from)
            .bind(to)
            .execute(&self.write)
            .await?
            .rows_affected())
    }

    async fn setting_or_insert(&self, key: &str, value: &str) -> Result<String> {
        sqlx::query(sql::INSERT_SETTING_IF_ABSENT)
            .bind(key)
            .bind(value)
            .execute(&self.write)
            .await?;
        Ok(sqlx::query_scalar(sql::SETTING)
            .bind(key)
            .fetch_one(&self.write)
            .await?)
    }
}

/// JSON text for a TEXT column. Serialising plain vectors and JSON values cannot fail.
fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".into())
}
