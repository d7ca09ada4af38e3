//! PostgreSQL, for any number of server instances sharing one database.
//!
//! Every statement here may run on several instances at once, so nothing
//! relies on being alone:
//!
//! - A pop claims with `SELECT ... FOR UPDATE SKIP LOCKED`: a request another
//!   pop is claiming is passed over, never waited for, never given twice.
//! - A check that precedes a write (a balance, a concurrency limit, a job
//!   still in progress, a worker's uptime) is made under the row lock of what
//!   it protects, in the same transaction as the write. Transactions run in
//!   READ COMMITTED, so each statement after a lock sees what the previous
//!   holder committed.
//! - Locks are always taken in one order: request, then job, then worker,
//!   then users by ascending id. A transaction may skip a level but never
//!   goes back up one, so no two can wait on each other in a cycle.
//! - The sweeps skip rows others hold (`SKIP LOCKED`) and only one instance
//!   at a time runs the bulk ones (`pg_try_advisory_xact_lock`); all their
//!   updates are conditional, so repeating one changes nothing.

use super::shared::{self, SCAN_PAGE};
use super::sql::{self, request_columns};
use super::*;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::types::Json;
use sqlx::{PgPool, Postgres, Transaction};
use std::str::FromStr;
use std::time::Duration;

/// Advisory lock keys (per database) of the bulk sweeps.
const EXPIRE_LOCK: i64 = 0x506f_746c_7563_6b01;
const PURGE_LOCK: i64 = 0x506f_746c_7563_6b02;

/// Expired leases one sweep handles; the rest wait for the next.
const REQUEUE_BATCH: i64 = 1000;

pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects to the (existing) database at `url`, e.g.
    /// `postgres://potluck@db/potluck`, and migrates it. Instances starting
    /// at once are safe: sqlx migrates under an advisory lock.
    pub async fn connect(url: &str) -> Result<Self> {
        let options = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        sqlx::migrate!("migrations/postgres").run(&pool).await?;
        Ok(PostgresStore { pool })
    }

    /// The connections, for what else talks to the same database (the relay's notifications).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Closes the pool's connections, e.g. before the database is dropped.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// The web sessions signed in as the account `$1`: tower-sessions serialises a session's entries
/// as plain bytes, so its data holds the account's key hash as it is.
macro_rules! sessions_of_user {
    () => {
        " FROM web_sessions \
         WHERE position(convert_to((SELECT key_hash FROM users WHERE id = $1), 'UTF8') IN data) > 0"
    };
}

/// Books one kudos movement: a ledger line and the balance, in the caller's
/// transaction. The anonymous account keeps no kudos.
async fn book(
    tx: &mut Transaction<'_, Postgres>,
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

/// Locks these accounts, in ascending id order (the rows are locked as the
/// sort yields them), and returns their balances by id.
async fn lock_users(tx: &mut Transaction<'_, Postgres>, ids: &[i64]) -> Result<Vec<(i64, i64)>> {
    Ok(sqlx::query_as(
        "SELECT id, kudos FROM users WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE",
    )
    .bind(ids)
    .fetch_all(&mut **tx)
    .await?)
}

/// Locks a request row: the first lock of every transaction that changes a
/// request or its jobs.
async fn lock_request(tx: &mut Transaction<'_, Postgres>, id: &str, skip: bool) -> Result<bool> {
    let sql = if skip {
        "SELECT 1 FROM requests WHERE id = $1 FOR NO KEY UPDATE SKIP LOCKED"
    } else {
        "SELECT 1 FROM requests WHERE id = $1 FOR NO KEY UPDATE"
    };
    let row: Option<i32> = sqlx::query_scalar(sql)
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(row.is_some())
}

/// Holds this sweep's advisory lock until the transaction ends; false when
/// another instance is running the sweep right now.
async fn try_sweep_lock(tx: &mut Transaction<'_, Postgres>, key: i64) -> Result<bool> {
    Ok(sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
        .bind(key)
        .fetch_one(&mut **tx)
        .await?)
}

/// Expects the request row to be locked already.
async fn requeue_one(
    tx: &mut Transaction<'_, Postgres>,
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

/// Takes up to `pop.amount` waiting generations of the locked `request`.
async fn claim(
    tx: &mut Transaction<'_, Postgres>,
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

/// A worker's uptime bookkeeping, read under its row lock.
type UptimeRow = (String, i64, i64, i64, bool);

async fn lock_worker_by_name(
    tx: &mut Transaction<'_, Postgres>,
    name: &str,
) -> Result<Option<UptimeRow>> {
    Ok(sqlx::query_as(
        "SELECT id, last_check_in, uptime_ms, last_reward_uptime_ms, maintenance \
         FROM workers WHERE lower(name) = lower($1) FOR NO KEY UPDATE",
    )
    .bind(name)
    .fetch_optional(&mut **tx)
    .await?)
}

#[async_trait]
impl Store for PostgresStore {
    async fn user_by_key_hash(&self, key_hash: &str) -> Result<Option<UserRow>> {
        Ok(sqlx::query_as(sql::USER_BY_KEY_HASH)
            .bind(key_hash)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn user(&self, id: i64) -> Result<Option<UserRow>> {
        Ok(sqlx::query_as(sql::USER_BY_ID)
            .bind(id)
            .fetch_optional(&self.pool)
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
            .fetch_all(&self.pool)
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
            .fetch_one(&self.pool)
            .await?)
    }

    async fn rename_user(&self, user_id: i64, username: &str) -> Result<()> {
        sqlx::query(sql::RENAME_USER)
            .bind(user_id)
            .bind(username)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn key_hash(&self, user_id: i64) -> Result<Option<String>> {
        let hash: Option<Option<String>> = sqlx::query_scalar(sql::KEY_HASH)
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(hash.flatten())
    }

    async fn user_by_login(&self, login: &Login) -> Result<Option<UserRow>> {
        Ok(sqlx::query_as(sql::USER_BY_LOGIN)
            .bind(&login.provider)
            .bind(&login.subject)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn insert_pending_login(&self, pending: &PendingLogin) -> Result<()> {
        sqlx::query(sql::INSERT_PENDING_LOGIN)
            .bind(&pending.state_hash)
            .bind(&pending.provider)
            .bind(&pending.nonce)
            .bind(&pending.pkce_verifier)
            .bind(pending.created_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn take_pending_login(&self, state_hash: &str) -> Result<Option<PendingLogin>> {
        Ok(sqlx::query_as(sql::TAKE_PENDING_LOGIN)
            .bind(state_hash)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn set_key_hash(&self, user_id: i64, key_hash: &str) -> Result<()> {
        sqlx::query(sql::SET_KEY_HASH)
            .bind(key_hash)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn update_user(&self, user_id: i64, change: &UserChange, now: i64) -> Result<()> {
        let mut tx = self.pool.begin().await?;
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
            .fetch_all(&self.pool)
            .await?)
    }

    async fn kudos_history(&self, user_id: i64, limit: i64) -> Result<Vec<LedgerRow>> {
        Ok(sqlx::query_as(sql::KUDOS_HISTORY)
            .bind(user_id)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?)
    }

    async fn transfer_kudos(&self, from: i64, to: i64, amount: Kudos, now: i64) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        // Both accounts are locked before the balance is read, so two
        // transfers from one account cannot both spend the same kudos.
        let balances = lock_users(&mut tx, &[from, to]).await?;
        let balance = balances
            .iter()
            .find(|(id, _)| *id == from)
            .map(|(_, kudos)| *kudos)
            .ok_or(sqlx::Error::RowNotFound)?;
        shared::check_balance(balance, amount)?;
        book(&mut tx, from, -amount, "gifted", None, Some(to), now).await?;
        book(&mut tx, to, amount, "received", None, Some(from), now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn kudos_mismatches(&self) -> Result<Vec<(i64, i64, i64)>> {
        Ok(sqlx::query_as(sql::KUDOS_MISMATCHES)
            .fetch_all(&self.pool)
            .await?)
    }

    async fn set_contact(&self, user_id: i64, contact: Option<&str>) -> Result<()> {
        sqlx::query(sql::SET_CONTACT)
            .bind(user_id)
            .bind(contact)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn set_frozen(&self, user_id: i64, frozen: bool, now: i64) -> Result<u64> {
        let mut tx = self.pool.begin().await?;
        let mut cancelled = 0;
        // Requests first, the account last: the lock order.
        if frozen {
            cancelled = sqlx::query(sql::CANCEL_REQUESTS_OF_USER)
                .bind(user_id)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        sqlx::query(sql::SET_FROZEN)
            .bind(user_id)
            .bind(frozen)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(cancelled)
    }

    async fn requests_of(&self, user_id: i64) -> Result<Vec<RequestRow>> {
        Ok(sqlx::query_as(sql::REQUESTS_OF_USER)
            .bind(user_id)
            .fetch_all(&self.pool)
            .await?)
    }

    async fn web_sessions_of(&self, user_id: i64) -> Result<i64> {
        Ok(
            sqlx::query_scalar(concat!("SELECT COUNT(*)", sessions_of_user!()))
                .bind(user_id)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn erase_user(&self, user_id: i64, now: i64) -> Result<Erasure> {
        let mut tx = self.pool.begin().await?;
        // In the lock order: the requests, their jobs, the workers, then the account.
        let requests_cancelled = sqlx::query(sql::CANCEL_REQUESTS_OF_USER)
            .bind(user_id)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query(sql::PURGE_REQUESTS_OF_USER)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(sql::ABORT_JOBS_OF_USER)
            .bind(user_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query(sql::PURGE_JOBS_OF_USER)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        let workers_deleted = sqlx::query(sql::DELETE_WORKERS_OF)
            .bind(user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let balance = lock_users(&mut tx, &[user_id])
            .await?
            .first()
            .map(|(_, kudos)| *kudos)
            .ok_or(sqlx::Error::RowNotFound)?;
        // Before the key hash goes: it is how a session names its account.
        let sessions_ended = sqlx::query(concat!("DELETE", sessions_of_user!()))
            .bind(user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        book(&mut tx, user_id, Kudos(-balance), "erased", None, None, now).await?;
        sqlx::query(sql::ERASE_USER)
            .bind(user_id)
            .bind(ERASED_NAME)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
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
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn worker_by_name(&self, name: &str) -> Result<Option<WorkerRow>> {
        Ok(sqlx::query_as(sql::WORKER_BY_NAME)
            .bind(name)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn workers(&self, kind: Option<&str>) -> Result<Vec<WorkerRow>> {
        Ok(sqlx::query_as(sql::WORKERS_OF_KIND)
            .bind(kind)
            .fetch_all(&self.pool)
            .await?)
    }

    async fn chat_templates(&self) -> Result<Vec<(Vec<String>, String)>> {
        let rows: Vec<(sqlx::types::Json<Vec<String>>, String)> =
            sqlx::query_as(sql::CHAT_TEMPLATES)
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.into_iter().map(|(models, t)| (models.0, t)).collect())
    }

    async fn worker_ids_of(&self, owner_id: i64) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(sql::WORKER_IDS_OF)
            .bind(owner_id)
            .fetch_all(&self.pool)
            .await?)
    }

    async fn check_in_worker(&self, c: &WorkerCheckIn) -> Result<WorkerRow> {
        let mut tx = self.pool.begin().await?;
        // The uptime is read and written back under the worker's row lock:
        // two pops of one worker on two instances must not both pay a reward.
        let mut existing = lock_worker_by_name(&mut tx, &c.name).await?;
        if existing.is_none() {
            let inserted = sqlx::query(sql::INSERT_WORKER)
                .bind(&c.new_id)
                .bind(&c.name)
                .bind(c.owner_id)
                .bind(&c.kind)
                .bind(c.now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if inserted == 0 {
                // Another instance registered the name since we looked (the
                // insert waited for it to commit): check in to that worker.
                existing = lock_worker_by_name(&mut tx, &c.name).await?;
            }
        }
        let id = match existing {
            None => c.new_id.clone(),
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
            .bind(Json(&c.models))
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
            .execute(&self.pool)
            .await;
        shared::renamed(result)
    }

    async fn delete_worker(&self, id: &str) -> Result<()> {
        sqlx::query(sql::DELETE_WORKER)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn insert_request(&self, r: &NewRequest, limit: u32) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        // Counting the requester's active requests and adding one must not
        // interleave with the same on another instance. The counter update
        // comes first because it locks the requester's row until commit, so
        // the count after it sees every request committed before the lock.
        sqlx::query(shared::count_request_sql(&r.kind))
            .bind(r.user_id)
            .execute(&mut *tx)
            .await?;
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
            .bind(Json(&r.params))
            .bind(Json(&r.models))
            .bind(Json(&r.workers))
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
        tx.commit().await?;
        Ok(())
    }

    async fn request(&self, id: &str) -> Result<Option<RequestRow>> {
        Ok(sqlx::query_as(sql::REQUEST_BY_ID)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn jobs_of(&self, request_id: &str) -> Result<Vec<JobRow>> {
        Ok(sqlx::query_as(sql::JOBS_OF_REQUEST)
            .bind(request_id)
            .fetch_all(&self.pool)
            .await?)
    }

    async fn touch_request(&self, id: &str, now: i64, delivered: bool) -> Result<()> {
        sqlx::query(sql::TOUCH_REQUEST)
            .bind(id)
            .bind(now)
            .bind(delivered)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn cancel_request(&self, id: &str, now: i64) -> Result<()> {
        sqlx::query(sql::CANCEL_REQUEST)
            .bind(id)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn queue_position(&self, r: &RequestRow) -> Result<u32> {
        let ahead: i64 = sqlx::query_scalar(sql::QUEUE_POSITION)
            .bind(&r.kind)
            .bind(r.priority)
            .bind(r.created_at)
            .fetch_one(&self.pool)
            .await?;
        Ok(u32::try_from(ahead).unwrap_or(u32::MAX))
    }

    async fn pop(&self, pop: &PopQuery<'_>) -> Result<PopOutcome> {
        // The queue is read without locks, best first; only the request this
        // worker can serve is then locked, with SKIP LOCKED, and re-read.
        // Locking the whole page instead would hide the requests this worker
        // cannot serve from the workers that can, for as long as we hold them.
        //
        // A page merges the best waiting requests for each model the worker
        // serves, for any model, and for several models (the migration's
        // queue indexes): each part is an ordered index scan that stops after
        // `limit + offset` rows. `id` breaks ties so that pages never overlap.
        const QUEUE_PAGE: &str = concat!(
            "SELECT ",
            request_columns!(),
            " FROM ( \
               SELECT r.* FROM (SELECT DISTINCT unnest($2::text[]) AS model) served \
               CROSS JOIN LATERAL ( \
                 SELECT * FROM requests \
                 WHERE kind = $1 AND state = 'active' AND n_waiting > 0 \
                   AND jsonb_array_length(models) = 1 AND models ->> 0 = served.model \
                 ORDER BY priority DESC, created_at, id LIMIT $3 + $4) r \
               UNION ALL \
               (SELECT * FROM requests \
                WHERE kind = $1 AND state = 'active' AND n_waiting > 0 \
                  AND models = '[]'::jsonb \
                ORDER BY priority DESC, created_at, id LIMIT $3 + $4) \
               UNION ALL \
               (SELECT * FROM requests \
                WHERE kind = $1 AND state = 'active' AND n_waiting > 0 \
                  AND jsonb_array_length(models) > 1 AND models ?| $2 \
                ORDER BY priority DESC, created_at, id LIMIT $3 + $4) \
             ) candidates \
             ORDER BY priority DESC, created_at, id LIMIT $3 OFFSET $4"
        );
        // Re-checks the queue conditions on the current row: another pop may
        // have taken the last generation since the page was read.
        const LOCK_WAITING: &str = concat!(
            "SELECT ",
            request_columns!(),
            " FROM requests WHERE id = $1 AND state = 'active' AND n_waiting > 0 \
             FOR NO KEY UPDATE SKIP LOCKED"
        );
        let mut skipped = protocol::NoValidRequestFound::default();
        let mut tx = self.pool.begin().await?;
        let mut offset = 0;
        while offset < pop.scan_limit {
            let page: Vec<RequestRow> = sqlx::query_as(QUEUE_PAGE)
                .bind(pop.kind)
                .bind(&pop.worker.models)
                .bind(SCAN_PAGE)
                .bind(offset)
                .fetch_all(&mut *tx)
                .await?;
            for request in &page {
                if let Err(skip) = pop.worker.check(request) {
                    skip.count(&mut skipped);
                    continue;
                }
                let locked: Option<RequestRow> = sqlx::query_as(LOCK_WAITING)
                    .bind(&request.id)
                    .fetch_optional(&mut *tx)
                    .await?;
                if let Some(request) = locked {
                    let claimed = claim(&mut tx, &request, pop).await?;
                    tx.commit().await?;
                    return Ok(PopOutcome {
                        claimed: Some(claimed),
                        skipped,
                    });
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
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn attach_image(&self, job_id: &str, upload_token: &str, image: &[u8]) -> Result<bool> {
        let result = sqlx::query(sql::ATTACH_IMAGE)
            .bind(job_id)
            .bind(upload_token)
            .bind(image)
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected() == 1)
    }

    async fn image(&self, job_id: &str) -> Result<Option<Vec<u8>>> {
        Ok(sqlx::query_scalar(sql::IMAGE_OF_JOB)
            .bind(job_id)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn complete_job(&self, c: &Completion) -> Result<CompletionOutcome> {
        let mut tx = self.pool.begin().await?;
        // Lock order: the request first (a job never changes request), then
        // the job, whose state is read only once both are held.
        let request_id: Option<String> =
            sqlx::query_scalar("SELECT request_id FROM jobs WHERE id = $1")
                .bind(&c.job_id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(request_id) = request_id else {
            return Ok(CompletionOutcome::NotFound);
        };
        lock_request(&mut tx, &request_id, false).await?;
        let found: Option<(String, String, i64, String, Option<i64>, bool)> = sqlx::query_as(
            "SELECT j.state, j.worker_id, r.user_id, r.kind, w.owner_id, r.purged FROM jobs j \
             JOIN requests r ON r.id = j.request_id LEFT JOIN workers w ON w.id = j.worker_id \
             WHERE j.id = $1 FOR NO KEY UPDATE OF j",
        )
        .bind(&c.job_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((state, worker_id, requester, kind, owner, purged)) = found else {
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
        // A request purged while this job ran has nobody left to deliver to:
        // its result is not stored, which spares the purge from looking for
        // late results among all purged requests.
        let keep = !purged;
        sqlx::query(sql::FINISH_JOB)
            .bind(&c.job_id)
            .bind(c.state.as_str())
            .bind(c.generation.as_deref().filter(|_| keep))
            .bind(c.image.as_deref().filter(|_| keep))
            .bind(&c.seed)
            .bind(keep.then_some(Json(&c.gen_metadata)))
            .bind(c.reward.hundredths())
            .bind(c.things)
            .bind(c.now)
            .bind(c.prompt_tokens)
            .bind(c.completion_tokens)
            .bind(c.finish_reason.as_deref())
            .execute(&mut *tx)
            .await?;
        let delivered = shared::delivered(&kind, c.things);
        sqlx::query(sql::CREDIT_WORKER)
            .bind(&worker_id)
            .bind(c.reward.hundredths())
            .bind(delivered.tokens)
            .bind(delivered.mps)
            .execute(&mut *tx)
            .await?;
        let accounts: Vec<i64> = owner.into_iter().chain([requester]).collect();
        lock_users(&mut tx, &accounts).await?;
        let job_id = Some(c.job_id.as_str());
        if let Some(owner) = owner {
            book(&mut tx, owner, c.reward, "generated", job_id, None, c.now).await?;
            sqlx::query(delivered.credit_owner_sql)
                .bind(owner)
                .bind(delivered.tokens)
                .bind(delivered.mps)
                .execute(&mut *tx)
                .await?;
        }
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
        // One short transaction per job, so that a sweep holds one request at
        // a time and the lock order (request, job, worker) is kept.
        let expired: Vec<(String, String)> = sqlx::query_as(
            "SELECT id, request_id FROM jobs WHERE state = 'processing' AND lease_expires_at < $1 \
             ORDER BY lease_expires_at LIMIT $2",
        )
        .bind(now)
        .bind(REQUEUE_BATCH)
        .fetch_all(&self.pool)
        .await?;
        let mut requeued = 0;
        for (job_id, request_id) in &expired {
            let mut tx = self.pool.begin().await?;
            // Whoever holds the request (a pop, a submit, another instance's
            // sweep) settles it or leaves it to the next sweep.
            if !lock_request(&mut tx, request_id, true).await? {
                continue;
            }
            let worker_id: Option<String> = sqlx::query_scalar(
                "UPDATE jobs SET state = 'abandoned', finished_at = $2 \
                 WHERE id = $1 AND state = 'processing' AND lease_expires_at < $2 \
                 RETURNING worker_id",
            )
            .bind(job_id)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(worker_id) = worker_id else {
                continue;
            };
            sqlx::query(sql::COUNT_UNCOMPLETED)
                .bind(&worker_id)
                .execute(&mut *tx)
                .await?;
            requeue_one(&mut tx, request_id, max_restarts, now).await?;
            tx.commit().await?;
            requeued += 1;
        }
        Ok(requeued)
    }

    async fn expire_idle_requests(&self, idle_before: i64, now: i64) -> Result<u64> {
        let mut tx = self.pool.begin().await?;
        if !try_sweep_lock(&mut tx, EXPIRE_LOCK).await? {
            return Ok(0);
        }
        // A request some pop holds is skipped: that pop makes it active again.
        // The rows are picked (and locked) by the inner query and updated by
        // id (here and in the purge), which keeps the planner from joining
        // against the whole table.
        let expired = sqlx::query(
            "UPDATE requests SET state = 'expired', n_waiting = 0, finished_at = $2 \
             WHERE id = ANY(ARRAY(SELECT id FROM requests \
               WHERE state = 'active' AND last_activity < $1 \
                 AND NOT EXISTS (SELECT 1 FROM jobs j \
                                 WHERE j.request_id = requests.id AND j.state = 'processing') \
               FOR NO KEY UPDATE SKIP LOCKED))",
        )
        .bind(idle_before)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(expired)
    }

    async fn purge(&self, p: &PurgeCutoffs) -> Result<u64> {
        let mut tx = self.pool.begin().await?;
        if !try_sweep_lock(&mut tx, PURGE_LOCK).await? {
            return Ok(0);
        }
        // Requests someone else holds are left for the next sweep rather than
        // waited for: this transaction holds many rows, and waiting while
        // holding them is how deadlocks start. Delivered and finished long ago
        // are two statements, each an index range over unpurged requests only.
        const PURGE_DELIVERED: &str =
            "UPDATE requests SET prompt = NULL, params = NULL, client_hash = NULL, purged = TRUE \
             WHERE id = ANY(ARRAY(SELECT id FROM requests \
               WHERE NOT purged AND state <> 'active' AND delivered_at < $1 \
               FOR NO KEY UPDATE SKIP LOCKED)) \
             RETURNING id";
        const PURGE_FINISHED: &str =
            "UPDATE requests SET prompt = NULL, params = NULL, client_hash = NULL, purged = TRUE \
             WHERE id = ANY(ARRAY(SELECT id FROM requests \
               WHERE NOT purged AND state <> 'active' AND finished_at < $1 \
               FOR NO KEY UPDATE SKIP LOCKED)) \
             RETURNING id";
        let mut purged: Vec<String> = sqlx::query_scalar(PURGE_DELIVERED)
            .bind(p.delivered_before)
            .fetch_all(&mut *tx)
            .await?;
        purged.extend(
            sqlx::query_scalar::<_, String>(PURGE_FINISHED)
                .bind(p.finished_before)
                .fetch_all(&mut *tx)
                .await?,
        );
        // Only the jobs of the requests purged now: a later result is never
        // stored (see complete_job). This waits for a job being uploaded to
        // (an upload holds nothing else, so it cannot wait on us), since a
        // job skipped here would keep its result for good.
        sqlx::query(
            "UPDATE jobs SET generation = NULL, image = NULL, upload_token = NULL, gen_metadata = NULL \
             WHERE request_id = ANY($1) \
               AND (generation IS NOT NULL OR image IS NOT NULL OR upload_token IS NOT NULL)",
        )
        .bind(&purged)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "DELETE FROM requests WHERE id = ANY(ARRAY(SELECT id FROM requests \
               WHERE purged AND finished_at < $1 FOR UPDATE SKIP LOCKED))",
        )
        .bind(p.history_before)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE requests SET client_hash = NULL WHERE id = ANY(ARRAY(SELECT id FROM requests \
               WHERE client_hash IS NOT NULL AND created_at < $1 FOR NO KEY UPDATE SKIP LOCKED))",
        )
        .bind(p.client_hashes_before)
        .execute(&mut *tx)
        .await?;
        sqlx::query(sql::DELETE_PENDING_LOGINS_BEFORE)
            .bind(p.pending_logins_before)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(purged.len() as u64)
    }

    async fn queued_work(&self) -> Result<Vec<QueuedWork>> {
        Ok(sqlx::query_as(sql::QUEUED_WORK)
            .fetch_all(&self.pool)
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
            .fetch_all(&self.pool)
            .await?)
    }

    async fn setting(&self, key: &str) -> Result<Option<String>> {
        Ok(sqlx::query_scalar(sql::SETTING)
            .bind(key)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn delete_settings_in(&self, from: &str, to: &str) -> Result<u64> {
        Ok(sqlx::query(sql::DELETE_SETTINGS_IN)
            .bind(from)
            .bind(to)
            .execute(&self.pool)
            .await?
            .rows_affected())
    }

    async fn setting_or_insert(&self, key: &str, value: &str) -> Result<String> {
        sqlx::query(sql::INSERT_SETTING_IF_ABSENT)
            .bind(key)
            .bind(value)
            .execute(&self.pool)
            .await?;
        Ok(sqlx::query_scalar(sql::SETTING)
            .bind(key)
            .fetch_one(&self.pool)
            .await?)
    }
}
