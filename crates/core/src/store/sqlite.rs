//! The embedded default: SQLite through sqlx.
//!
//! Writes go through a pool of exactly one connection, so write transactions
//! never contend for SQLite's lock (no SQLITE_BUSY on upgrade) and a claim or
//! a submit is atomic by construction. Reads use their own pool and, thanks to
//! WAL mode, never wait for writers.

use super::address_blocks::impl_address_blocks;
use super::admission::impl_admission;
use super::alchemy::{self, impl_alchemy};
use super::awards::impl_awards;
use super::common::impl_common;
use super::generation_stats::impl_generation_stats;
use super::moderation_log::impl_moderation_log;
use super::modes::impl_modes;
use super::prompt_filters::impl_prompt_filters;
use super::shared::{self, SCAN_PAGE};
use super::shared_keys::{self, impl_shared_keys};
use super::sql;
use super::steps::transaction_steps;
use super::styles::{self as style_sql, impl_styles};
use super::suspicions::impl_suspicions;
use super::teams::impl_teams;
use super::worker_messages::impl_worker_messages;
use super::*;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// What a pop's page asks of a waiting request, in either queue (see `pop`).
macro_rules! queue_page_filter {
    () => {
        "kind = $1 AND state = 'active' AND n_waiting > 0 \
         AND (models = '[]' OR EXISTS (SELECT 1 FROM json_each(requests.models) m \
              WHERE m.value IN (SELECT value FROM json_each($2)))) \
         AND (user_id IN (SELECT value FROM json_each($5))) = $6"
    };
}

pub struct SqliteStore {
    read: SqlitePool,
    write: SqlitePool,
    /// Whether deleted content may still sit in the write-ahead log: a fold that readers
    /// kept from finishing is tried again by the next purge.
    fold_pending: AtomicBool,
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
            .busy_timeout(BUSY_TIMEOUT);
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("migrations/sqlite").run(&write).await?;
        let read = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options.read_only(true))
            .await?;
        Ok(SqliteStore {
            read,
            write,
            fold_pending: AtomicBool::new(false),
        })
    }

    /// The one writing connection, for other tables in the same file (the web UI's sessions):
    /// their writes then queue behind the store's instead of competing for SQLite's lock.
    pub fn write_pool(&self) -> &SqlitePool {
        &self.write
    }

    fn reader(&self) -> &SqlitePool {
        &self.read
    }

    fn writer(&self) -> &SqlitePool {
        &self.write
    }

    /// After content was deleted: the write-ahead log still holds the old pages, so fold it
    /// into the (securely deleted) database file and empty it. Emptying it needs every reader
    /// to be done with it, and waiting for them would hold the one writer, and so every write,
    /// behind the slowest read. So the fold does not wait: when a reader is in the way, it is
    /// left pending, and the next purge (a sweep later) tries again.
    async fn fold_wal(&self) -> Result<()> {
        let mut writer = self.write.acquire().await?;
        sqlx::query("PRAGMA busy_timeout = 0")
            .execute(&mut *writer)
            .await?;
        let folded: Result<(i64, i64, i64)> = sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
            .fetch_one(&mut *writer)
            .await
            .map_err(Into::into);
        sqlx::query(&format!(
            "PRAGMA busy_timeout = {}",
            BUSY_TIMEOUT.as_millis()
        ))
        .execute(&mut *writer)
        .await?;
        let (busy, _, _) = folded?;
        self.fold_pending.store(busy != 0, Ordering::Relaxed);
        Ok(())
    }
}

/// How long a connection waits for SQLite's locks before it fails with "database is locked".
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The web sessions signed in as the account `$1`: tower-sessions serialises a session's entries
/// as plain bytes, so its data holds the account's key hash as it is.
macro_rules! sessions_of_user {
    () => {
        " FROM web_sessions \
         WHERE instr(data, CAST((SELECT key_hash FROM users WHERE id = $1) AS BLOB)) > 0"
    };
}

transaction_steps!(Sqlite);
impl_common!(SqliteStore);
impl_teams!(SqliteStore);
impl_worker_messages!(SqliteStore);
impl_admission!(SqliteStore);
impl_styles!(SqliteStore);
impl_shared_keys!(SqliteStore);
impl_generation_stats!(SqliteStore);
impl_awards!(SqliteStore);
impl_modes!(SqliteStore);
impl_address_blocks!(SqliteStore);
impl_moderation_log!(SqliteStore);
impl_suspicions!(SqliteStore);
impl_prompt_filters!(SqliteStore);
impl_alchemy!(SqliteStore);

#[async_trait]
impl Store for SqliteStore {
    fn connections(&self) -> Vec<PoolUse> {
        vec![
            PoolUse::of("read", &self.read),
            PoolUse::of("write", &self.write),
        ]
    }

    async fn transfer_kudos(&self, from: i64, to: i64, amount: Kudos, now: i64) -> Result<()> {
        let mut tx = self.write.begin().await?;
        shared::check_balance(available_kudos(&mut tx, from).await?, amount)?;
        book(&mut tx, from, -amount, "gifted", None, Some(to), now).await?;
        book(&mut tx, to, amount, "received", None, Some(from), now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn record_style_use(&self, u: &StyleUse) -> Result<bool> {
        let mut tx = self.write.begin().await?;
        let paid = use_style(&mut tx, u).await?;
        tx.commit().await?;
        Ok(paid)
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
        sqlx::query(sql::CANCEL_CHECKS_OF_USER)
            .bind(user_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query(sql::ABORT_JOBS_OF_USER)
            .bind(user_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        for statement in [
            sql::PURGE_JOBS_OF_USER,
            sql::PURGE_REQUESTS_OF_USER,
            sql::PURGE_CHECKS_OF_USER,
            style_sql::DELETE_COLLECTIONS_OF_USER,
            style_sql::DELETE_STYLES_OF_USER,
            shared_keys::DELETE_SHARED_KEYS_OF_USER,
            alchemy::PURGE_IMAGES_OF_USER,
        ] {
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
        for statement in [
            sql::LEAVE_TEAMS_OF_USER,
            sql::DELETE_TEAMS_OF_USER,
            sql::DELETE_MESSAGES_OF_USER,
            sql::DELETE_SUSPICIONS_OF_USER,
        ] {
            sqlx::query(statement)
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
        }
        // Before the key hash goes: it is how a session names its account.
        let sessions_ended = sqlx::query(concat!("DELETE", sessions_of_user!()))
            .bind(user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let forfeited = book_away_balances(&mut tx, user_id, now).await?;
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
            kudos_forfeited: forfeited,
        })
    }

    async fn check_in_worker(&self, c: &WorkerCheckIn) -> Result<WorkerRow> {
        let mut tx = self.write.begin().await?;
        let existing: Option<shared::UptimeBefore> = sqlx::query_as(
            "SELECT id, last_check_in, uptime_ms, last_reward_uptime_ms, maintenance \
             FROM workers WHERE lower(name) = lower($1)",
        )
        .bind(&c.name)
        .fetch_optional(&mut *tx)
        .await?;
        let id = match existing {
            None => {
                sqlx::query(sql::INSERT_WORKER)
                    .bind(&c.new_id)
                    .bind(&c.name)
                    .bind(c.owner_id)
                    .bind(&c.kind)
                    .bind(c.now)
                    .bind(crate::names::likeness(&c.name))
                    .execute(&mut *tx)
                    .await?;
                c.new_id.clone()
            }
            Some(before) => {
                record_uptime(&mut tx, &before.id, c, before.clone()).await?;
                before.id
            }
        };
        refresh_worker(&mut tx, &id, c).await?;
        let row = sqlx::query_as(sql::WORKER_BY_ID)
            .bind(&id)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(row)
    }

    async fn delete_team(&self, id: &str) -> Result<()> {
        let mut tx = self.write.begin().await?;
        for statement in [sql::LEAVE_TEAM, sql::DELETE_TEAM] {
            sqlx::query(statement).bind(id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
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
        if r.upfront_kudos > Kudos::ZERO {
            shared::check_upfront(available_kudos(&mut tx, r.user_id).await?, r.upfront_kudos)?;
        }
        insert_request_row(&mut tx, r).await?;
        sqlx::query(shared::count_request_sql(&r.kind))
            .bind(r.user_id)
            .execute(&mut *tx)
            .await?;
        charge_tax(&mut tx, r).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn insert_interrogation(&self, i: &NewInterrogation, limit: u32) -> Result<()> {
        let mut tx = self.write.begin().await?;
        let active: i64 = sqlx::query_scalar(alchemy::COUNT_ACTIVE_FORMS)
            .bind(i.user_id)
            .bind(i.client_hash.as_deref())
            .fetch_one(&mut *tx)
            .await?;
        alchemy::check_form_concurrency(active, i.forms.len(), limit)?;
        insert_interrogation_rows(&mut tx, i).await?;
        sqlx::query(alchemy::COUNT_FORMS_REQUESTED)
            .bind(i.user_id)
            .bind(i.forms.len() as i64)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn pop(&self, pop: &PopQuery<'_>) -> Result<PopOutcome> {
        // The scan runs inside the write transaction, so what it sees is what
        // it claims: with SQLite's single writer no other pop can interleave.
        // `$6`: this pass reads the priority accounts' requests (`$5`), or everyone else's.
        // `$7`: the worker may check others' work. Checks have a queue (an index) of their
        // own, read only by such a worker, so that however many wait they cost nobody else
        // anything: a page merges the best of both queues, each an ordered index scan that
        // stops after `limit + offset` rows. `id` breaks ties so that pages never overlap.
        const QUEUE_PAGE: &str = concat!(
            "SELECT * FROM (SELECT * FROM requests WHERE check_kind IS NULL AND ",
            queue_page_filter!(),
            " ORDER BY priority DESC, created_at LIMIT $3 + $4) \
             UNION ALL \
             SELECT * FROM (SELECT * FROM requests WHERE check_kind IS NOT NULL AND $7 AND ",
            queue_page_filter!(),
            " ORDER BY priority DESC, created_at LIMIT $3 + $4) \
             ORDER BY priority DESC, created_at, id LIMIT $3 OFFSET $4"
        );
        let models = Json(&pop.worker.models);
        let priority_users = Json(pop.priority_users);
        let mut skipped = protocol::NoValidRequestFound::default();
        let mut tx = self.write.begin().await?;
        for priority in shared::pop_passes(pop) {
            let mut offset = 0;
            while offset < pop.scan_limit {
                let page: Vec<RequestRow> = sqlx::query_as(QUEUE_PAGE)
                    .bind(pop.kind)
                    .bind(models)
                    .bind(SCAN_PAGE)
                    .bind(offset)
                    .bind(priority_users)
                    .bind(priority)
                    .bind(pop.worker.may_check)
                    .fetch_all(&mut *tx)
                    .await?;
                for request in &page {
                    if let Err(skip) = may_take(&mut tx, pop, request).await? {
                        skip.count(&mut skipped);
                        continue;
                    }
                    let claimed = claim(&mut tx, request, pop).await?;
                    tx.commit().await?;
                    return Ok(PopOutcome {
                        claimed: Some(claimed),
                        skipped,
                    });
                }
                if (page.len() as i64) < SCAN_PAGE {
                    break;
                }
                offset += SCAN_PAGE;
            }
        }
        Ok(PopOutcome {
            claimed: None,
            skipped,
        })
    }

    async fn complete_job(&self, c: &Completion) -> Result<CompletionOutcome> {
        let mut tx = self.write.begin().await?;
        type Found = (String, String, String, i64, String, Option<i64>, bool);
        let found: Option<Found> = sqlx::query_as(
            "SELECT j.state, j.worker_id, j.request_id, r.user_id, r.kind, w.owner_id, r.purged \
             FROM jobs j JOIN requests r ON r.id = j.request_id \
             LEFT JOIN workers w ON w.id = j.worker_id WHERE j.id = $1",
        )
        .bind(&c.job_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((state, worker_id, request_id, requester, kind, owner, purged)) = found else {
            return Ok(CompletionOutcome::NotFound);
        };
        if let Some(outcome) = shared::refused_completion(&c.worker_id, &state, &worker_id) {
            return Ok(outcome);
        }
        if c.state == protocol::SubmitState::Faulted {
            fault_job(&mut tx, c, &request_id).await?;
            tx.commit().await?;
            return Ok(CompletionOutcome::Requeued);
        }
        // A request purged while this job ran has nobody left to deliver to: its result is
        // not stored, which spares the purge from looking for late results.
        let delivered = shared::delivered(&kind, c.things);
        finish_job(&mut tx, c, !purged, &delivered).await?;
        let parties = shared::JobParties {
            request_id,
            requester,
            owner,
        };
        settle_job(&mut tx, c, &parties, &delivered).await?;
        tx.commit().await?;
        Ok(CompletionOutcome::Rewarded(c.reward))
    }

    async fn settle_check(&self, s: &Settlement) -> Result<SettleOutcome> {
        let mut tx = self.write.begin().await?;
        let found: Option<(String, String, String, Option<i64>)> = sqlx::query_as(
            "SELECT j.state, j.worker_id, j.request_id, w.owner_id FROM jobs j \
             LEFT JOIN workers w ON w.id = j.worker_id WHERE j.id = $1",
        )
        .bind(&s.check_job_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((state, worker_id, request_id, checker_owner)) = found else {
            return Ok(SettleOutcome::Refused(CompletionOutcome::NotFound));
        };
        if let Some(refused) = shared::refused_completion(&s.checker_worker_id, &state, &worker_id)
        {
            return Ok(SettleOutcome::Refused(refused));
        }
        let check: Option<CheckRow> = sqlx::query_as(sql::CHECK_OF_REQUEST)
            .bind(&request_id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(check) = check else {
            return Ok(SettleOutcome::Refused(CompletionOutcome::NotFound));
        };
        let checked_request: Option<String> =
            sqlx::query_scalar("SELECT request_id FROM jobs WHERE id = $1")
                .bind(&check.job_id)
                .fetch_optional(&mut *tx)
                .await?;
        let outcome = apply_settlement(
            &mut tx,
            s,
            &check,
            checker_owner,
            checked_request.as_deref(),
        )
        .await?;
        tx.commit().await?;
        Ok(outcome)
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
            count_uncompleted(&mut tx, worker_id, now).await?;
            requeue_one(&mut tx, request_id, max_restarts, now).await?;
        }
        tx.commit().await?;
        Ok(expired.len() as u64)
    }

    async fn expire_idle_requests(&self, e: &ExpiryCutoffs) -> Result<u64> {
        let mut tx = self.write.begin().await?;
        let expired: Vec<String> = sqlx::query_scalar(concat!(
            "UPDATE requests SET state = 'expired', n_waiting = 0, finished_at = $3 \
             WHERE state = 'active' AND ",
            sql::expirable!(),
            " AND NOT EXISTS (SELECT 1 FROM jobs j \
                              WHERE j.request_id = requests.id AND j.state = 'processing') \
             RETURNING id"
        ))
        .bind(e.idle_before)
        .bind(e.checks_before)
        .bind(e.now)
        .fetch_all(&mut *tx)
        .await?;
        sqlx::query(concat!(
            sql::unawait_expired_checks!(),
            "IN (SELECT value FROM json_each($1)))"
        ))
        .bind(Json(&expired))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(expired.len() as u64)
    }

    async fn purge(&self, p: &PurgeCutoffs) -> Result<u64> {
        // Every statement is an index range (migration 0022): this runs every few seconds
        // under the single writer, however long the history.
        const PURGE: &str =
            "UPDATE requests SET prompt = NULL, params = NULL, client_hash = NULL, webhook = NULL, \
             purged = 1 WHERE purged = 0 AND state != 'active' AND ";
        let mut tx = self.write.begin().await?;
        let mut purged: Vec<String> = Vec::new();
        for (condition, before) in [
            ("delivered_at < $1 RETURNING id", p.delivered_before),
            ("finished_at < $1 RETURNING id", p.finished_before),
        ] {
            purged.extend(
                sqlx::query_scalar::<_, String>(&format!("{PURGE}{condition}"))
                    .bind(before)
                    .fetch_all(&mut *tx)
                    .await?,
            );
        }
        // Only the jobs of the requests purged now: a later result is never stored (see
        // complete_job).
        sqlx::query(
            "UPDATE jobs SET generation = NULL, image = NULL, upload_token = NULL, \
             gen_metadata = NULL, token_ids = NULL \
             WHERE request_id IN (SELECT value FROM json_each($1)) \
               AND (generation IS NOT NULL OR image IS NOT NULL OR upload_token IS NOT NULL \
                    OR token_ids IS NOT NULL)",
        )
        .bind(Json(&purged))
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE checks SET expected = NULL \
             WHERE request_id IN (SELECT value FROM json_each($1))",
        )
        .bind(Json(&purged))
        .execute(&mut *tx)
        .await?;
        sqlx::query(alchemy::PURGE_IMAGES).execute(&mut *tx).await?;
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
        sqlx::query(sql::DELETE_EXPIRED_MESSAGES)
            .bind(p.history_before)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        if !purged.is_empty() || self.fold_pending.load(Ordering::Relaxed) {
            self.fold_wal().await?;
        }
        Ok(purged.len() as u64)
    }

    async fn backup(&self, path: &str) -> Result<()> {
        // A reader's snapshot: writers go on meanwhile, and the copy is one moment's state.
        sqlx::query("VACUUM INTO $1")
            .bind(path)
            .execute(&self.read)
            .await?;
        Ok(())
    }
}
