//! The embedded default: SQLite through sqlx.
//!
//! Writes go through a pool of exactly one connection, so write transactions
//! never contend for SQLite's lock (no SQLITE_BUSY on upgrade) and a claim or
//! a submit is atomic by construction. Reads use their own pool and, thanks to
//! WAL mode, never wait for writers.

use super::*;
use crate::error::Rejection;
use crate::keys;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};
use std::str::FromStr;
use std::time::Duration;

const USER_COLUMNS: &str =
    "id, username, kudos, moderator, trusted, flagged, concurrency, worker_invited, \
     contact, created_at, requests_text, requests_image, fulfillments_text, fulfillments_image, \
     usage_tokens, usage_mps, contributed_tokens, contributed_mps";

const WORKER_SELECT: &str = "SELECT w.id, w.name, w.owner_id, u.username AS owner_name, \
     u.trusted AS owner_trusted, u.flagged AS owner_flagged, w.kind, w.models, w.max_length, \
     w.max_context_length, w.max_pixels, w.nsfw, w.allow_img2img, w.allow_painting, \
     w.allow_post_processing, w.allow_lora, w.allow_controlnet, w.threads, w.bridge_agent, w.info, \
     w.maintenance, w.maintenance_msg, w.paused, w.created_at, w.last_check_in, w.uptime_ms, \
     w.requests_fulfilled, w.kudos_generated, w.kudos_uptime, w.tokens_generated, w.mps_generated, \
     w.uncompleted_jobs FROM workers w JOIN users u ON u.id = w.owner_id";

const REQUEST_COLUMNS: &str = "id, kind, user_id, prompt, params, models, workers, worker_blacklist, \
     trusted_workers, nsfw, r2, shared, max_length, max_context_length, width, height, steps, img2img, \
     post_processors, loras, n, n_waiting, n_done, restarts, priority, kudos_estimate, state, \
     created_at, last_activity, purged";

const JOB_SELECT: &str = "SELECT j.id, j.request_id, j.worker_id, w.name AS worker_name, j.model, j.state, \
     j.popped_at, j.lease_expires_at, j.upload_token, j.generation, (j.image IS NOT NULL) AS has_image, \
     j.seed, j.gen_metadata, j.kudos FROM jobs j LEFT JOIN workers w ON w.id = j.worker_id";

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
    sqlx::query(
        "INSERT INTO kudos_ledger (user_id, amount, reason, job_id, counterparty, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(user_id)
    .bind(amount.hundredths())
    .bind(reason)
    .bind(job_id)
    .bind(counterparty)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    sqlx::query("UPDATE users SET kudos = kudos + $1 WHERE id = $2")
        .bind(amount.hundredths())
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Puts one generation of a request back in the queue after a lost or
/// faulted job, or faults the request once it has restarted too often.
/// All SET expressions read the row as it was before the update.
async fn requeue_one(
    tx: &mut Transaction<'_, Sqlite>,
    request_id: &str,
    max_restarts: u32,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "UPDATE requests SET \
           restarts = restarts + 1, \
           n_waiting = CASE WHEN state = 'active' AND restarts + 1 <= $2 THEN n_waiting + 1 \
                            WHEN state = 'active' THEN 0 ELSE n_waiting END, \
           state = CASE WHEN state = 'active' AND restarts + 1 > $2 THEN 'faulted' ELSE state END, \
           finished_at = CASE WHEN state = 'active' AND restarts + 1 > $2 THEN $3 ELSE finished_at END, \
           last_activity = $3 \
         WHERE id = $1",
    )
    .bind(request_id)
    .bind(i64::from(max_restarts))
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Candidates a pop reads per query.
const SCAN_PAGE: i64 = 50;

/// Takes up to `pop.amount` waiting generations of `request` for the worker.
async fn claim(
    tx: &mut Transaction<'_, Sqlite>,
    request: &RequestRow,
    pop: &PopQuery<'_>,
) -> Result<Claimed> {
    let take = request.n_waiting.min(pop.amount).max(1);
    sqlx::query("UPDATE requests SET n_waiting = n_waiting - $2, last_activity = $3 WHERE id = $1")
        .bind(&request.id)
        .bind(take)
        .bind(pop.now)
        .execute(&mut **tx)
        .await?;
    let model = pop.worker.model_for(request).unwrap_or_default();
    let lease_expires_at = pop.now + (pop.ttl_ms)(request);
    let mut jobs = Vec::with_capacity(take as usize);
    for _ in 0..take {
        let id = uuid::Uuid::new_v4().to_string();
        let upload_token = pop.with_upload_token.then(keys::generate_key);
        sqlx::query(
            "INSERT INTO jobs (id, request_id, worker_id, model, popped_at, lease_expires_at, upload_token) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&id)
        .bind(&request.id)
        .bind(&pop.worker.worker_id)
        .bind(&model)
        .bind(pop.now)
        .bind(lease_expires_at)
        .bind(upload_token.as_deref())
        .execute(&mut **tx)
        .await?;
        jobs.push(JobRow {
            id,
            request_id: request.id.clone(),
            worker_id: pop.worker.worker_id.clone(),
            worker_name: Some(pop.worker.worker_name.clone()),
            model: model.clone(),
            state: job_state::PROCESSING.into(),
            popped_at: pop.now,
            lease_expires_at,
            upload_token,
            generation: None,
            has_image: false,
            seed: None,
            gen_metadata: None,
            kudos: 0,
        });
    }
    Ok(Claimed {
        request: request.clone(),
        model,
        jobs,
    })
}

fn is_unique_violation(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .is_some_and(|e| e.is_unique_violation())
}

#[async_trait]
impl Store for SqliteStore {
    async fn user_by_key_hash(&self, key_hash: &str) -> Result<Option<UserRow>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE key_hash = $1");
        Ok(sqlx::query_as(&sql)
            .bind(key_hash)
            .fetch_optional(&self.read)
            .await?)
    }

    async fn user(&self, id: i64) -> Result<Option<UserRow>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        Ok(sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(&self.read)
            .await?)
    }

    async fn users(&self, sort: UserSort, offset: i64, limit: i64) -> Result<Vec<UserRow>> {
        let order = match sort {
            UserSort::Kudos => "kudos DESC, id",
            UserSort::Age => "id",
        };
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM users WHERE id != 0 ORDER BY {order} LIMIT $1 OFFSET $2"
        );
        Ok(sqlx::query_as(&sql)
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
        now: i64,
    ) -> Result<UserRow> {
        let sql = format!(
            "INSERT INTO users (username, key_hash, concurrency, created_at) VALUES ($1, $2, $3, $4) \
             RETURNING {USER_COLUMNS}"
        );
        Ok(sqlx::query_as(&sql)
            .bind(username)
            .bind(key_hash)
            .bind(i64::from(concurrency))
            .bind(now)
            .fetch_one(&self.write)
            .await?)
    }

    async fn set_key_hash(&self, user_id: i64, key_hash: &str) -> Result<()> {
        sqlx::query("UPDATE users SET key_hash = $1 WHERE id = $2 AND id != 0")
            .bind(key_hash)
            .bind(user_id)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn update_user(&self, user_id: i64, change: &UserChange, now: i64) -> Result<()> {
        let mut tx = self.write.begin().await?;
        sqlx::query(
            "UPDATE users SET concurrency = COALESCE($2, concurrency), moderator = COALESCE($3, moderator), \
             trusted = COALESCE($4, trusted), flagged = COALESCE($5, flagged), \
             worker_invited = COALESCE($6, worker_invited), username = COALESCE($7, username), \
             contact = COALESCE($8, contact) WHERE id = $1",
        )
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
        Ok(sqlx::query_as(
            "SELECT reason, SUM(amount) FROM kudos_ledger WHERE user_id = $1 GROUP BY reason",
        )
        .bind(user_id)
        .fetch_all(&self.read)
        .await?)
    }

    async fn transfer_kudos(&self, from: i64, to: i64, amount: Kudos, now: i64) -> Result<()> {
        let mut tx = self.write.begin().await?;
        let balance: i64 = sqlx::query_scalar("SELECT kudos FROM users WHERE id = $1")
            .bind(from)
            .fetch_one(&mut *tx)
            .await?;
        if balance < amount.hundredths() {
            return Err(Rejection::bad_request(
                "KudosTransferNotEnough",
                format!("Not enough kudos: you have {}", Kudos(balance)),
            )
            .into());
        }
        book(&mut tx, from, -amount, "gifted", None, Some(to), now).await?;
        book(&mut tx, to, amount, "received", None, Some(from), now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn kudos_mismatches(&self) -> Result<Vec<(i64, i64, i64)>> {
        Ok(sqlx::query_as(
            "SELECT u.id, u.kudos, COALESCE(SUM(l.amount), 0) AS ledger FROM users u \
             LEFT JOIN kudos_ledger l ON l.user_id = u.id GROUP BY u.id, u.kudos HAVING u.kudos != ledger",
        )
        .fetch_all(&self.read)
        .await?)
    }

    async fn worker(&self, id: &str) -> Result<Option<WorkerRow>> {
        let sql = format!("{WORKER_SELECT} WHERE w.id = $1");
        Ok(sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(&self.read)
            .await?)
    }

    async fn worker_by_name(&self, name: &str) -> Result<Option<WorkerRow>> {
        let sql = format!("{WORKER_SELECT} WHERE lower(w.name) = lower($1)");
        Ok(sqlx::query_as(&sql)
            .bind(name)
            .fetch_optional(&self.read)
            .await?)
    }

    async fn workers(&self, kind: Option<&str>) -> Result<Vec<WorkerRow>> {
        let sql = format!("{WORKER_SELECT} WHERE ($1 IS NULL OR w.kind = $1) ORDER BY w.name");
        Ok(sqlx::query_as(&sql)
            .bind(kind)
            .fetch_all(&self.read)
            .await?)
    }

    async fn worker_ids_of(&self, owner_id: i64) -> Result<Vec<String>> {
        Ok(
            sqlx::query_scalar("SELECT id FROM workers WHERE owner_id = $1 ORDER BY name")
                .bind(owner_id)
                .fetch_all(&self.read)
                .await?,
        )
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
                sqlx::query(
                    "INSERT INTO workers (id, name, owner_id, kind, created_at, last_check_in) \
                     VALUES ($1, $2, $3, $4, $5, $5)",
                )
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
                let since = c.now - last_check_in;
                let (uptime_ms, mut last_reward_uptime_ms) = if since <= c.stale_ms {
                    (uptime_ms + since.max(0), last_reward_uptime_ms)
                } else {
                    // Back from being offline: the next reward needs a full interval again.
                    (uptime_ms, uptime_ms)
                };
                let interval_ms = crate::kudos::UPTIME_REWARD_INTERVAL_SECS * 1000;
                let mut reward = Kudos::ZERO;
                if maintenance {
                    last_reward_uptime_ms = uptime_ms;
                } else {
                    while uptime_ms - last_reward_uptime_ms >= interval_ms {
                        last_reward_uptime_ms += interval_ms;
                        reward += c.uptime_reward;
                    }
                }
                book(&mut tx, c.owner_id, reward, "uptime", None, None, c.now).await?;
                sqlx::query(
                    "UPDATE workers SET uptime_ms = $2, last_reward_uptime_ms = $3, \
                     kudos_uptime = kudos_uptime + $4 WHERE id = $1",
                )
                .bind(&id)
                .bind(uptime_ms)
                .bind(last_reward_uptime_ms)
                .bind(reward.hundredths())
                .execute(&mut *tx)
                .await?;
                id
            }
        };
        sqlx::query(
            "UPDATE workers SET models = $2, max_length = $3, max_context_length = $4, max_pixels = $5, \
             nsfw = $6, allow_img2img = $7, allow_painting = $8, allow_post_processing = $9, \
             allow_lora = $10, allow_controlnet = $11, threads = $12, bridge_agent = $13, \
             last_check_in = $14 WHERE id = $1",
        )
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
        .execute(&mut *tx)
        .await?;
        let sql = format!("{WORKER_SELECT} WHERE w.id = $1");
        let row = sqlx::query_as(&sql).bind(&id).fetch_one(&mut *tx).await?;
        tx.commit().await?;
        Ok(row)
    }

    async fn modify_worker(&self, id: &str, change: &WorkerChange) -> Result<()> {
        let result = sqlx::query(
            "UPDATE workers SET maintenance = COALESCE($2, maintenance), \
             maintenance_msg = COALESCE($3, maintenance_msg), paused = COALESCE($4, paused), \
             info = COALESCE($5, info), name = COALESCE($6, name) WHERE id = $1",
        )
        .bind(id)
        .bind(change.maintenance)
        .bind(change.maintenance_msg.as_deref())
        .bind(change.paused)
        .bind(change.info.as_deref())
        .bind(change.name.as_deref())
        .execute(&self.write)
        .await;
        match result {
            Err(e) if is_unique_violation(&e) => Err(Rejection::bad_request(
                "WorkerNameAlreadyExists",
                "A worker with this name already exists",
            )
            .into()),
            other => other.map(|_| ()).map_err(Into::into),
        }
    }

    async fn delete_worker(&self, id: &str) -> Result<()> {
        sqlx::query("DELETE FROM workers WHERE id = $1")
            .bind(id)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn insert_request(&self, r: &NewRequest, limit: u32) -> Result<()> {
        let mut tx = self.write.begin().await?;
        let active: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM requests WHERE user_id = $1 AND state = 'active' \
             AND ($2 IS NULL OR client_hash = $2)",
        )
        .bind(r.user_id)
        .bind(r.client_hash.as_deref())
        .fetch_one(&mut *tx)
        .await?;
        if active >= i64::from(limit) {
            return Err(Rejection::too_many(
                "TooManyPrompts",
                format!("You already have {active} active requests; wait for some to finish (limit {limit})"),
            )
            .into());
        }
        sqlx::query(
            "INSERT INTO requests (id, kind, user_id, client_hash, prompt, params, models, workers, \
             worker_blacklist, trusted_workers, nsfw, r2, shared, max_length, max_context_length, width, \
             height, steps, img2img, post_processors, loras, n, n_waiting, priority, kudos_estimate, \
             created_at, last_activity) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, \
             $14, $15, $16, $17, $18, $19, $20, $21, $22, $22, $23, $24, $25, $25)",
        )
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
        .execute(&mut *tx)
        .await?;
        let counter = if r.kind == "text" {
            "requests_text"
        } else {
            "requests_image"
        };
        sqlx::query(&format!(
            "UPDATE users SET {counter} = {counter} + 1 WHERE id = $1"
        ))
        .bind(r.user_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn request(&self, id: &str) -> Result<Option<RequestRow>> {
        let sql = format!("SELECT {REQUEST_COLUMNS} FROM requests WHERE id = $1");
        Ok(sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(&self.read)
            .await?)
    }

    async fn jobs_of(&self, request_id: &str) -> Result<Vec<JobRow>> {
        let sql = format!("{JOB_SELECT} WHERE j.request_id = $1 ORDER BY j.popped_at, j.id");
        Ok(sqlx::query_as(&sql)
            .bind(request_id)
            .fetch_all(&self.read)
            .await?)
    }

    async fn touch_request(&self, id: &str, now: i64, delivered: bool) -> Result<()> {
        sqlx::query(
            "UPDATE requests SET last_activity = CASE WHEN state = 'active' THEN $2 ELSE last_activity END, \
             delivered_at = CASE WHEN $3 THEN COALESCE(delivered_at, $2) ELSE delivered_at END WHERE id = $1",
        )
        .bind(id)
        .bind(now)
        .bind(delivered)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn cancel_request(&self, id: &str, now: i64) -> Result<()> {
        sqlx::query(
            "UPDATE requests SET state = 'cancelled', n_waiting = 0, finished_at = $2, last_activity = $2, \
             delivered_at = COALESCE(delivered_at, $2) WHERE id = $1 AND state = 'active'",
        )
        .bind(id)
        .bind(now)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn queue_position(&self, r: &RequestRow) -> Result<u32> {
        let ahead: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM requests WHERE kind = $1 AND state = 'active' AND n_waiting > 0 \
             AND (priority > $2 OR (priority = $2 AND created_at < $3))",
        )
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
        let sql = format!(
            "SELECT {REQUEST_COLUMNS} FROM requests \
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
            let page: Vec<RequestRow> = sqlx::query_as(&sql)
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
        let sql = format!("{JOB_SELECT} WHERE j.id = $1");
        Ok(sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(&self.read)
            .await?)
    }

    async fn attach_image(&self, job_id: &str, upload_token: &str, image: &[u8]) -> Result<bool> {
        let result = sqlx::query(
            "UPDATE jobs SET image = $3 WHERE id = $1 AND upload_token = $2 AND state = 'processing'",
        )
        .bind(job_id)
        .bind(upload_token)
        .bind(image)
        .execute(&self.write)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    async fn image(&self, job_id: &str) -> Result<Option<Vec<u8>>> {
        Ok(
            sqlx::query_scalar("SELECT image FROM jobs WHERE id = $1 AND image IS NOT NULL")
                .bind(job_id)
                .fetch_optional(&self.read)
                .await?,
        )
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
        if worker_id != c.worker_id {
            return Ok(CompletionOutcome::NotFound);
        }
        if state != job_state::PROCESSING {
            return Ok(if matches!(state.as_str(), "ok" | "censored" | "csam") {
                CompletionOutcome::AlreadySubmitted
            } else {
                CompletionOutcome::Aborted
            });
        }
        if c.state == protocol::SubmitState::Faulted {
            sqlx::query("UPDATE jobs SET state = 'faulted', finished_at = $2 WHERE id = $1")
                .bind(&c.job_id)
                .bind(c.now)
                .execute(&mut *tx)
                .await?;
            sqlx::query("UPDATE workers SET uncompleted_jobs = uncompleted_jobs + 1 WHERE id = $1")
                .bind(&worker_id)
                .execute(&mut *tx)
                .await?;
            requeue_one(&mut tx, &request_id, c.max_restarts, c.now).await?;
            tx.commit().await?;
            return Ok(CompletionOutcome::Requeued);
        }
        sqlx::query(
            "UPDATE jobs SET state = $2, generation = $3, image = COALESCE($4, image), seed = $5, \
             gen_metadata = $6, kudos = $7, things = $8, finished_at = $9 WHERE id = $1",
        )
        .bind(&c.job_id)
        .bind(c.state.as_str())
        .bind(c.generation.as_deref())
        .bind(c.image.as_deref())
        .bind(&c.seed)
        .bind(json(&c.gen_metadata))
        .bind(c.reward.hundredths())
        .bind(c.things)
        .bind(c.now)
        .execute(&mut *tx)
        .await?;
        let (tokens, mps) = if kind == "text" {
            (c.things as i64, 0.0)
        } else {
            (0, c.things)
        };
        let fulfillments = if kind == "text" {
            "fulfillments_text"
        } else {
            "fulfillments_image"
        };
        if let Some(owner) = owner {
            book(
                &mut tx,
                owner,
                c.reward,
                "generated",
                Some(&c.job_id),
                None,
                c.now,
            )
            .await?;
            sqlx::query(&format!(
                "UPDATE users SET {fulfillments} = {fulfillments} + 1, contributed_tokens = contributed_tokens + $2, \
                 contributed_mps = contributed_mps + $3 WHERE id = $1"
            ))
            .bind(owner)
            .bind(tokens)
            .bind(mps)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "UPDATE workers SET requests_fulfilled = requests_fulfilled + 1, kudos_generated = kudos_generated + $2, \
             tokens_generated = tokens_generated + $3, mps_generated = mps_generated + $4 WHERE id = $1",
        )
        .bind(&worker_id)
        .bind(c.reward.hundredths())
        .bind(tokens)
        .bind(mps)
        .execute(&mut *tx)
        .await?;
        book(
            &mut tx,
            requester,
            -c.cost,
            "spent",
            Some(&c.job_id),
            None,
            c.now,
        )
        .await?;
        sqlx::query("UPDATE users SET usage_tokens = usage_tokens + $2, usage_mps = usage_mps + $3 WHERE id = $1")
            .bind(requester)
            .bind(tokens)
            .bind(mps)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE requests SET n_done = n_done + 1, last_activity = $2, \
             state = CASE WHEN state = 'active' AND n_done + 1 >= n THEN 'done' ELSE state END, \
             finished_at = CASE WHEN state = 'active' AND n_done + 1 >= n THEN $2 ELSE finished_at END \
             WHERE id = $1",
        )
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
            sqlx::query("UPDATE workers SET uncompleted_jobs = uncompleted_jobs + 1 WHERE id = $1")
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
        tx.commit().await?;
        if purged > 0 {
            // The write-ahead log still holds the old pages; fold it into the
            // (securely deleted) database file and empty it.
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(&self.write)
                .await?;
        }
        Ok(purged)
    }

    async fn queued_work(&self) -> Result<Vec<QueuedWork>> {
        Ok(sqlx::query_as(
            "SELECT kind, models, COUNT(*) AS requests, SUM(n_waiting) AS generations, \
             SUM(n_waiting * max_length) AS tokens, SUM(n_waiting * width * height * steps) / 1000000.0 AS mps \
             FROM requests WHERE state = 'active' AND n_waiting > 0 GROUP BY kind, models",
        )
        .fetch_all(&self.read)
        .await?)
    }

    async fn finished_work_since(
        &self,
        since: i64,
        minute_since: i64,
    ) -> Result<Vec<FinishedWork>> {
        Ok(sqlx::query_as(
            "SELECT r.kind, j.model, COUNT(*) AS jobs, SUM(j.things) AS things, \
             SUM(j.finished_at - j.popped_at) AS busy_ms, \
             SUM(CASE WHEN j.finished_at >= $2 THEN j.things ELSE 0 END) AS last_minute_things \
             FROM jobs j JOIN requests r ON r.id = j.request_id \
             WHERE j.finished_at >= $1 AND j.state IN ('ok', 'censored', 'csam') GROUP BY r.kind, j.model",
        )
        .bind(since)
        .bind(minute_since)
        .fetch_all(&self.read)
        .await?)
    }

    async fn setting(&self, key: &str) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
                .bind(key)
                .fetch_optional(&self.read)
                .await?,
        )
    }
}

/// JSON text for a TEXT column. Serialising plain vectors and JSON values cannot fail.
fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".into())
}
