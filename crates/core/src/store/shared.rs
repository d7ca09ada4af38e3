//! The decisions both stores make the same way, apart from how they talk to
//! their database: uptime rewards, what a claim creates, how a submit for a
//! job that is no longer in progress ends, and the refusals.

use super::*;
use crate::error::{CoreError, Rejection};
use crate::keys;

/// One line of the kudos ledger, and the balance (spendable or held) it moves.
pub struct LedgerLine<'a> {
    pub user_id: i64,
    pub amount: Kudos,
    pub reason: &'a str,
    pub job_id: Option<&'a str>,
    pub counterparty: Option<i64>,
    pub held: bool,
    /// A spendable balance it leaves below the account's floor is topped up (`kudos::floor`);
    /// false only where an erasure books the balance away.
    pub floored: bool,
    pub now: i64,
}

/// Candidates a pop reads per query.
pub const SCAN_PAGE: i64 = 50;

/// A worker's uptime after a check-in, and the reward it earned.
pub struct Uptime {
    pub uptime_ms: i64,
    pub last_reward_uptime_ms: i64,
    pub reward: Kudos,
}

/// A known worker's uptime bookkeeping as its check-in finds it (read under its row lock).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UptimeBefore {
    pub id: String,
    pub last_check_in: i64,
    pub uptime_ms: i64,
    pub last_reward_uptime_ms: i64,
    pub maintenance: bool,
}

/// Counts the time since the last check-in as uptime unless the worker was
/// silent for too long, and pays a reward for every full interval online.
pub fn uptime_after_check_in(c: &WorkerCheckIn, before: &UptimeBefore) -> Uptime {
    let UptimeBefore {
        last_check_in,
        uptime_ms,
        last_reward_uptime_ms,
        maintenance,
        ..
    } = *before;
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
    Uptime {
        uptime_ms,
        last_reward_uptime_ms,
        reward,
    }
}

/// The passes a pop scans the queue in: the requests of its priority accounts (`true`), then
/// everyone else's (`false`), unless it serves the priority accounts alone.
pub fn pop_passes(pop: &PopQuery<'_>) -> Vec<bool> {
    let mut passes = Vec::with_capacity(2);
    if !pop.priority_users.is_empty() {
        passes.push(true);
    }
    if !pop.only_priority {
        passes.push(false);
    }
    passes
}

/// The jobs a pop creates for `request`: up to `pop.amount` of its waiting
/// generations, at least one.
pub fn new_jobs(request: &RequestRow, pop: &PopQuery<'_>) -> Claimed {
    let take = pop.worker.batch_for(request, pop.amount);
    let model = pop.worker.model_for(request).unwrap_or_default();
    let lease_expires_at = pop.now + (pop.ttl_ms)(request);
    let jobs = (0..take)
        .map(|_| JobRow {
            id: uuid::Uuid::new_v4().to_string(),
            request_id: request.id.clone(),
            worker_id: pop.worker.worker_id.clone(),
            worker_name: Some(pop.worker.worker_name.clone()),
            model: model.clone(),
            state: job_state::PROCESSING.into(),
            popped_at: pop.now,
            lease_expires_at,
            upload_token: pop.with_upload_token.then(keys::generate_key),
            generation: None,
            has_image: false,
            seed: None,
            gen_metadata: None,
            kudos: 0,
            prompt_tokens: None,
            completion_tokens: None,
            finish_reason: None,
            token_ids: None,
            verification: None,
        })
        .collect();
    Claimed {
        request: request.clone(),
        model,
        jobs,
    }
}

/// How a submit ends without changing anything, given the job's current
/// state and worker: `None` when the job is this worker's and in progress.
pub fn refused_completion(
    submitter: &str,
    state: &str,
    worker_id: &str,
) -> Option<CompletionOutcome> {
    if worker_id != submitter {
        return Some(CompletionOutcome::NotFound);
    }
    if state == job_state::PROCESSING {
        return None;
    }
    Some(if matches!(state, "ok" | "censored" | "csam") {
        CompletionOutcome::AlreadySubmitted
    } else {
        CompletionOutcome::Aborted
    })
}

/// What settling a check moved, gathered as the settlement goes.
#[derive(Default)]
pub struct Settled {
    pub released: Kudos,
    pub forfeited: Kudos,
    pub refunded: Kudos,
    pub requeued: bool,
    pub paused: bool,
    pub auto_trusted: bool,
}

impl From<Settled> for SettleOutcome {
    fn from(s: Settled) -> Self {
        SettleOutcome::Settled {
            released: s.released,
            forfeited: s.forfeited,
            refunded: s.refunded,
            requeued: s.requeued,
            paused: s.paused,
            auto_trusted: s.auto_trusted,
        }
    }
}

/// Who a finished job's kudos move between, and the request it belongs to.
pub struct JobParties {
    pub request_id: String,
    pub requester: i64,
    /// The worker's owner; none once the worker was deleted.
    pub owner: Option<i64>,
}

/// What a finished job delivered, as the records count it.
pub struct Delivered {
    pub tokens: i64,
    pub mps: f64,
    /// Credits the worker's owner with the job; binds (owner, tokens, mps).
    pub credit_owner_sql: &'static str,
}

pub fn delivered(kind: &str, things: f64) -> Delivered {
    match kind {
        "text" => Delivered {
            tokens: things as i64,
            mps: 0.0,
            credit_owner_sql: sql::CREDIT_TEXT_OWNER,
        },
        // A form is counted, not measured.
        "interrogation" => Delivered {
            tokens: 0,
            mps: 0.0,
            credit_owner_sql: sql::CREDIT_INTERROGATION_OWNER,
        },
        _ => Delivered {
            tokens: 0,
            mps: things,
            credit_owner_sql: sql::CREDIT_IMAGE_OWNER,
        },
    }
}

/// Counts a new request of `kind` on its requester; binds (user).
pub fn count_request_sql(kind: &str) -> &'static str {
    if kind == "text" {
        sql::COUNT_TEXT_REQUEST
    } else {
        sql::COUNT_IMAGE_REQUEST
    }
}

pub fn check_concurrency(active: i64, limit: u32) -> Result<()> {
    if active >= i64::from(limit) {
        return Err(Rejection::too_many(
            "TooManyPrompts",
            format!(
                "You already have {active} active requests; wait for some to finish (limit {limit})"
            ),
        )
        .into());
    }
    Ok(())
}

/// A giver may give what it holds above its floor and beyond its reservations
/// (`kudos::available`).
pub fn check_balance(available: Kudos, amount: Kudos) -> Result<()> {
    if available < amount {
        return Err(Rejection::bad_request(
            "KudosTransferNotEnough",
            format!(
                "Not enough kudos: {available} can be given (what is above your account's floor \
                 and not reserved by large requests)"
            ),
        )
        .into());
    }
    Ok(())
}

/// A requester must hold a large request's upfront kudos (`kudos::available`).
pub fn check_upfront(available: Kudos, required: Kudos) -> Result<()> {
    if available < required {
        return Err(Rejection::forbidden(
            "KudosUpfront",
            format!(
                "This request needs its requester to hold {required} kudos already (requests \
                 this large, or refusing slow workers, are paid up front; you have {available} \
                 available above your account's floor and your other large requests). Ask for \
                 less, or send allow_downgrade to have it made smaller instead."
            ),
        )
        .into());
    }
    Ok(())
}

/// A worker change that hit the unique name index (a rename to a taken name), or a team that
/// was deleted meanwhile, is the client's mistake.
pub fn worker_changed<T>(result: std::result::Result<T, sqlx::Error>) -> Result<()> {
    let violated = |e: &sqlx::Error| e.as_database_error().map(|e| e.kind());
    match result {
        Err(e) if violated(&e) == Some(sqlx::error::ErrorKind::UniqueViolation) => {
            Err(Rejection::bad_request(
                "WorkerNameAlreadyExists",
                "A worker with this name already exists",
            )
            .into())
        }
        Err(e) if violated(&e) == Some(sqlx::error::ErrorKind::ForeignKeyViolation) => {
            Err(Rejection::not_found("TeamNotFound", "No such team").into())
        }
        other => other.map(|_| ()).map_err(CoreError::from),
    }
}

/// A team name that hit the unique index (another team took it meanwhile).
pub fn team_named<T>(result: std::result::Result<T, sqlx::Error>) -> Result<T> {
    match result {
        Err(e)
            if e.as_database_error()
                .is_some_and(|e| e.is_unique_violation()) =>
        {
            Err(Rejection::bad_request(
                "TeamNameAlreadyExists",
                "A team with this name already exists",
            )
            .into())
        }
        other => other.map_err(CoreError::from),
    }
}
