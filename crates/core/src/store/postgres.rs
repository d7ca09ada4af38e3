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
//! - Locks are always taken in one order: request, then job, then worker
//!   (several by ascending id), then users by ascending id, then what hangs
//!   off an account (the shared key a job spends from, the style a request
//!   uses, the counters of `generation_stats`), then team (many workers' jobs
//!   count on one team row, so it is held last and shortest). A transaction
//!   may skip a level but never goes back up one, so no two can wait on each
//!   other in a cycle. (A team's deletion sets its workers' `team_id` through
//!   the foreign key; a worker that joined after they were locked is taken
//!   then, a rare step back up that PostgreSQL's deadlock detection settles by
//!   failing one of the two.)
//! - The sweeps skip rows others hold (`SKIP LOCKED`) and only one instance
//!   at a time runs the bulk ones (`pg_try_advisory_xact_lock`); all their
//!   updates are conditional, so repeating one changes nothing.

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
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres, Transaction};
use std::str::FromStr;
use std::time::Duration;

/// Advisory lock keys (per database) of the bulk sweeps.
const EXPIRE_LOCK: i64 = 0x506f_746c_7563_6b01;
const PURGE_LOCK: i64 = 0x506f_746c_7563_6b02;

/// The schema's migrations, run by every instance at start.
pub(super) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// Expired leases one sweep handles; the rest wait for the next.
const REQUEUE_BATCH: i64 = 1000;

pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects to the (existing) database at `url`, e.g.
    /// `postgres://potluck@db/potluck`, with at most `pool_size` connections, and migrates
    /// it. Instances starting at once are safe: sqlx migrates under an advisory lock.
    pub async fn connect(url: &str, pool_size: u32) -> Result<Self> {
        let options = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(pool_size)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(PostgresStore { pool })
    }

    /// The connections, for what else talks to the same database (the relay's notifications).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    fn reader(&self) -> &PgPool {
        &self.pool
    }

    fn writer(&self) -> &PgPool {
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

async fn lock_worker_by_name(
    tx: &mut Transaction<'_, Postgres>,
    name: &str,
) -> Result<Option<shared::UptimeBefore>> {
    Ok(sqlx::query_as(
        "SELECT id, last_check_in, uptime_ms, last_reward_uptime_ms, maintenance \
         FROM workers WHERE lower(name) = lower($1) FOR NO KEY UPDATE",
    )
    .bind(name)
    .fetch_optional(&mut **tx)
    .await?)
}

/// Locks the workers of `condition` (a WHERE clause binding `$1`) by ascending id, before a
/// statement changes them all: the lock order for several workers.
async fn lock_workers_where(
    tx: &mut Transaction<'_, Postgres>,
    condition: &str,
    bind: impl for<'q> sqlx::Encode<'q, Postgres> + sqlx::Type<Postgres> + Send,
) -> Result<()> {
    sqlx::query(&format!(
        "SELECT 1 FROM workers WHERE {condition} ORDER BY id FOR NO KEY UPDATE"
    ))
    .bind(bind)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

transaction_steps!(Postgres);
impl_common!(PostgresStore);
impl_teams!(PostgresStore);
impl_worker_messages!(PostgresStore);
impl_admission!(PostgresStore);
impl_styles!(PostgresStore);
impl_shared_keys!(PostgresStore);
impl_generation_stats!(PostgresStore);
impl_awards!(PostgresStore);
impl_modes!(PostgresStore);
impl_address_blocks!(PostgresStore);
impl_moderation_log!(PostgresStore);
impl_suspicions!(PostgresStore);
impl_prompt_filters!(PostgresStore);
impl_alchemy!(PostgresStore);

#[async_trait]
impl Store for PostgresStore {
    fn connections(&self) -> Vec<PoolUse> {
        vec![PoolUse::of("main", &self.pool)]
    }

    async fn transfer_kudos(&self, from: i64, to: i64, amount: Kudos, now: i64) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        // Both accounts are locked before the balance is read, so two
        // transfers from one account cannot both spend the same kudos.
        lock_users(&mut tx, &[from, to]).await?;
        shared::check_balance(available_kudos(&mut tx, from).await?, amount)?;
        book(&mut tx, from, -amount, "gifted", None, Some(to), now).await?;
        book(&mut tx, to, amount, "received", None, Some(from), now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn record_style_use(&self, u: &StyleUse) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        // Both accounts before the style's rows: users come before styles in the lock order,
        // and a balance is read under its lock.
        lock_users(&mut tx, &[u.requester, u.creator]).await?;
        let paid = use_style(&mut tx, u).await?;
        tx.commit().await?;
        Ok(paid)
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
        sqlx::query(sql::CANCEL_CHECKS_OF_USER)
            .bind(user_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query(sql::PURGE_REQUESTS_OF_USER)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(sql::ABORT_JOBS_OF_USER)
            .bind(user_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        for statement in [
            sql::PURGE_JOBS_OF_USER,
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
        // Others' workers leave the account's teams before the teams go: workers first.
        lock_workers_where(&mut tx, sql::teams_of_user!(), user_id).await?;
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
        lock_users(&mut tx, &[user_id]).await?;
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
        Ok(Erasure {
            requests_cancelled,
            workers_deleted,
            sessions_ended,
            kudos_forfeited: forfeited,
        })
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
                .bind(crate::names::likeness(&c.name))
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
        let mut tx = self.pool.begin().await?;
        // Its workers first, then the team: the lock order.
        lock_workers_where(&mut tx, "team_id = $1", id).await?;
        for statement in [sql::LEAVE_TEAM, sql::DELETE_TEAM] {
            sqlx::query(statement).bind(id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn insert_request(&self, r: &NewRequest, limit: u32) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        // Counting the requester's active requests (and what they reserve) and adding one
        // must not interleave with the same on another instance. The counter update
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
        if r.upfront_kudos > Kudos::ZERO {
            shared::check_upfront(available_kudos(&mut tx, r.user_id).await?, r.upfront_kudos)?;
        }
        insert_request_row(&mut tx, r).await?;
        charge_tax(&mut tx, r).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn insert_interrogation(&self, i: &NewInterrogation, limit: u32) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        // As for a request: the counter update locks the requester's row first, so the count
        // after it sees every form committed before, and two interrogations of one requester
        // on two instances cannot both pass the limit.
        sqlx::query(alchemy::COUNT_FORMS_REQUESTED)
            .bind(i.user_id)
            .bind(i.forms.len() as i64)
            .execute(&mut *tx)
            .await?;
        let active: i64 = sqlx::query_scalar(alchemy::COUNT_ACTIVE_FORMS)
            .bind(i.user_id)
            .bind(i.client_hash.as_deref())
            .fetch_one(&mut *tx)
            .await?;
        alchemy::check_form_concurrency(active, i.forms.len(), limit)?;
        insert_interrogation_rows(&mut tx, i).await?;
        tx.commit().await?;
        Ok(())
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
        // The priority accounts' requests (`$5`) are left to the first pass. Checks have a
        // queue (an index) of their own, read only by a worker that may check others' work
        // (`$6`), so that however many wait they cost nobody else anything.
        const QUEUE_PAGE: &str = "SELECT * FROM ( \
               SELECT r.* FROM (SELECT DISTINCT unnest($2::text[]) AS model) served \
               CROSS JOIN LATERAL ( \
                 SELECT * FROM requests \
                 WHERE kind = $1 AND state = 'active' AND n_waiting > 0 \
                   AND jsonb_array_length(models) = 1 AND models ->> 0 = served.model \
                   AND user_id <> ALL($5) AND check_kind IS NULL \
                 ORDER BY priority DESC, created_at, id LIMIT $3 + $4) r \
               UNION ALL \
               (SELECT * FROM requests \
                WHERE kind = $1 AND state = 'active' AND n_waiting > 0 \
                  AND models = '[]'::jsonb AND user_id <> ALL($5) AND check_kind IS NULL \
                ORDER BY priority DESC, created_at, id LIMIT $3 + $4) \
               UNION ALL \
               (SELECT * FROM requests \
                WHERE kind = $1 AND state = 'active' AND n_waiting > 0 \
                  AND jsonb_array_length(models) > 1 AND models ?| $2 AND user_id <> ALL($5) \
                  AND check_kind IS NULL \
                ORDER BY priority DESC, created_at, id LIMIT $3 + $4) \
               UNION ALL \
               (SELECT * FROM requests \
                WHERE kind = $1 AND state = 'active' AND n_waiting > 0 \
                  AND check_kind IS NOT NULL AND $6 \
                  AND (models = '[]'::jsonb OR models ?| $2) AND user_id <> ALL($5) \
                ORDER BY priority DESC, created_at, id LIMIT $3 + $4) \
             ) candidates \
             ORDER BY priority DESC, created_at, id LIMIT $3 OFFSET $4";
        // The first pass: the few active requests of the priority accounts, through their
        // index (`requests_user_active`).
        const PRIORITY_PAGE: &str = "SELECT * FROM requests \
             WHERE user_id = ANY($5) AND state = 'active' AND kind = $1 AND n_waiting > 0 \
               AND (models = '[]'::jsonb OR models ?| $2) AND (check_kind IS NULL OR $6) \
             ORDER BY priority DESC, created_at, id LIMIT $3 OFFSET $4";
        // Locks the row by its key alone; the caller re-checks the queue conditions on it
        // (another pop may have taken the last generation since the page was read). With
        // the conditions in the statement, a plan cached while the table was nearly empty
        // walked a partial index of every active request instead of the key: in the soak
        // run, thousands of waiting checks for every pop.
        const LOCK_REQUEST: &str =
            "SELECT * FROM requests WHERE id = $1 FOR NO KEY UPDATE SKIP LOCKED";
        let mut skipped = protocol::NoValidRequestFound::default();
        let mut tx = self.pool.begin().await?;
        for priority in shared::pop_passes(pop) {
            let page_sql = if priority { PRIORITY_PAGE } else { QUEUE_PAGE };
            let mut offset = 0;
            while offset < pop.scan_limit {
                let page: Vec<RequestRow> = sqlx::query_as(page_sql)
                    .bind(pop.kind)
                    .bind(&pop.worker.models)
                    .bind(SCAN_PAGE)
                    .bind(offset)
                    .bind(pop.priority_users)
                    .bind(pop.worker.may_check)
                    .fetch_all(&mut *tx)
                    .await?;
                for request in &page {
                    if let Err(skip) = may_take(&mut tx, pop, request).await? {
                        skip.count(&mut skipped);
                        continue;
                    }
                    let locked: Option<RequestRow> = sqlx::query_as(LOCK_REQUEST)
                        .bind(&request.id)
                        .fetch_optional(&mut *tx)
                        .await?;
                    let waiting =
                        locked.filter(|r| r.state == request_state::ACTIVE && r.n_waiting > 0);
                    if let Some(request) = waiting {
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
        }
        Ok(PopOutcome {
            claimed: None,
            skipped,
        })
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
        if let Some(outcome) = shared::refused_completion(&c.worker_id, &state, &worker_id) {
            return Ok(outcome);
        }
        if c.state == protocol::SubmitState::Faulted {
            fault_job(&mut tx, c, &request_id).await?;
            tx.commit().await?;
            return Ok(CompletionOutcome::Requeued);
        }
        // A request purged while this job ran has nobody left to deliver to:
        // its result is not stored, which spares the purge from looking for
        // late results among all purged requests.
        let delivered = shared::delivered(&kind, c.things);
        finish_job(&mut tx, c, !purged, &delivered).await?;
        let accounts: Vec<i64> = owner.into_iter().chain([requester]).collect();
        lock_users(&mut tx, &accounts).await?;
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
        let mut tx = self.pool.begin().await?;
        // Two requests (the check's and the checked job's), two jobs, two workers and up to
        // three accounts: each kind locked in ascending order, in the usual order of kinds.
        let request_id: Option<String> =
            sqlx::query_scalar("SELECT request_id FROM jobs WHERE id = $1")
                .bind(&s.check_job_id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(request_id) = request_id else {
            return Ok(SettleOutcome::Refused(CompletionOutcome::NotFound));
        };
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
        let mut requests: Vec<&str> = [Some(request_id.as_str()), checked_request.as_deref()]
            .into_iter()
            .flatten()
            .collect();
        requests.sort_unstable();
        for id in requests {
            lock_request(&mut tx, id, false).await?;
        }
        let mut jobs = [s.check_job_id.as_str(), check.job_id.as_str()];
        jobs.sort_unstable();
        sqlx::query("SELECT 1 FROM jobs WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE")
            .bind(&jobs[..])
            .execute(&mut *tx)
            .await?;
        let found: Option<(String, String, Option<i64>)> = sqlx::query_as(
            "SELECT j.state, j.worker_id, w.owner_id FROM jobs j \
             LEFT JOIN workers w ON w.id = j.worker_id WHERE j.id = $1",
        )
        .bind(&s.check_job_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((state, worker_id, checker_owner)) = found else {
            return Ok(SettleOutcome::Refused(CompletionOutcome::NotFound));
        };
        if let Some(refused) = shared::refused_completion(&s.checker_worker_id, &state, &worker_id)
        {
            return Ok(SettleOutcome::Refused(refused));
        }
        let mut workers = [s.checker_worker_id.as_str(), check.worker_id.as_str()];
        workers.sort_unstable();
        sqlx::query("SELECT 1 FROM workers WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE")
            .bind(&workers[..])
            .execute(&mut *tx)
            .await?;
        let accounts: Vec<i64> = checker_owner
            .into_iter()
            .chain([check.owner_id, check.requester_id])
            .collect();
        lock_users(&mut tx, &accounts).await?;
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
            count_uncompleted(&mut tx, &worker_id, now).await?;
            requeue_one(&mut tx, request_id, max_restarts, now).await?;
            tx.commit().await?;
            requeued += 1;
        }
        Ok(requeued)
    }

    async fn expire_idle_requests(&self, e: &ExpiryCutoffs) -> Result<u64> {
        let mut tx = self.pool.begin().await?;
        if !try_sweep_lock(&mut tx, EXPIRE_LOCK).await? {
            return Ok(0);
        }
        // A request some pop holds is skipped: that pop makes it active again.
        // The rows are picked (and locked) by the inner query and updated by
        // id (here and in the purge), which keeps the planner from joining
        // against the whole table.
        let expired: Vec<String> = sqlx::query_scalar(concat!(
            "UPDATE requests SET state = 'expired', n_waiting = 0, finished_at = $3 \
             WHERE id = ANY(ARRAY(SELECT id FROM requests \
               WHERE state = 'active' AND ",
            sql::expirable!(),
            "  AND NOT EXISTS (SELECT 1 FROM jobs j \
                                 WHERE j.request_id = requests.id AND j.state = 'processing') \
               FOR NO KEY UPDATE SKIP LOCKED)) \
             RETURNING id"
        ))
        .bind(e.idle_before)
        .bind(e.checks_before)
        .bind(e.now)
        .fetch_all(&mut *tx)
        .await?;
        sqlx::query(concat!(sql::unawait_expired_checks!(), "= ANY($1))"))
            .bind(&expired)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(expired.len() as u64)
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
            "UPDATE requests SET prompt = NULL, params = NULL, client_hash = NULL, webhook = NULL, \
             purged = TRUE WHERE id = ANY(ARRAY(SELECT id FROM requests \
               WHERE NOT purged AND state <> 'active' AND delivered_at < $1 \
               FOR NO KEY UPDATE SKIP LOCKED)) \
             RETURNING id";
        const PURGE_FINISHED: &str =
            "UPDATE requests SET prompt = NULL, params = NULL, client_hash = NULL, webhook = NULL, \
             purged = TRUE WHERE id = ANY(ARRAY(SELECT id FROM requests \
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
            "UPDATE jobs SET generation = NULL, image = NULL, upload_token = NULL, \
             gen_metadata = NULL, token_ids = NULL \
             WHERE request_id = ANY($1) \
               AND (generation IS NOT NULL OR image IS NOT NULL OR upload_token IS NOT NULL \
                    OR token_ids IS NOT NULL)",
        )
        .bind(&purged)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE checks SET expected = NULL WHERE request_id = ANY($1)")
            .bind(&purged)
            .execute(&mut *tx)
            .await?;
        sqlx::query(alchemy::PURGE_IMAGES).execute(&mut *tx).await?;
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
        sqlx::query(sql::DELETE_EXPIRED_MESSAGES)
            .bind(p.history_before)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(purged.len() as u64)
    }

    async fn backup(&self, _path: &str) -> Result<()> {
        Err(crate::error::Rejection::bad_request(
            "Unsupported",
            "PostgreSQL databases are backed up with pg_dump (docs/operating.md#backups)",
        )
        .into())
    }
}
