//! Statements that read the same on SQLite and PostgreSQL and are used by more than one method,
//! or by the transactions of both stores. Both schemas share table and column names; where the
//! dialects differ (JSON, booleans, locking) each store keeps its own text. A request is read
//! whole (`SELECT *`, by column name), so a new request column needs no list here.
//!
//! The column lists are macros so that whole statements stay `&'static str` constants, built
//! with `concat!`.

macro_rules! user_columns {
    () => {
        "id, username, kudos, moderator, trusted, flagged, concurrency, worker_invited, \
         contact, created_at, requests_text, requests_image, fulfillments_text, \
         fulfillments_image, usage_tokens, usage_mps, contributed_tokens, contributed_mps, frozen, \
         erased_at, login_provider, login_subject, held_kudos, suspicion, admin, public_workers, \
         requests_interrogation, fulfillments_interrogation"
    };
}

macro_rules! worker_select {
    () => {
        "SELECT w.id, w.name, w.owner_id, u.username AS owner_name, \
         u.trusted AS owner_trusted, u.flagged AS owner_flagged, w.kind, w.models, w.max_length, \
         w.max_context_length, w.max_pixels, w.nsfw, w.allow_img2img, w.allow_painting, \
         w.allow_post_processing, w.allow_lora, w.allow_controlnet, w.threads, w.bridge_agent, \
         w.browser, w.keeps_prompts, w.info, w.maintenance, w.maintenance_msg, w.paused, w.created_at, \
         w.last_check_in, w.uptime_ms, w.requests_fulfilled, w.kudos_generated, w.kudos_uptime, \
         w.tokens_generated, w.mps_generated, w.uncompleted_jobs, w.can_score, w.checks_passed, \
         w.checks_failed, w.suspicion, w.clean_streak, w.auto_trusted, w.team_id, t.name AS team_name, \
         u.public_workers AS owner_public_workers, u.contact AS owner_contact, \
         w.allow_sdxl_controlnet, w.limit_max_steps, w.extra_slow_worker, w.require_upfront_kudos \
         FROM workers w JOIN users u ON u.id = w.owner_id LEFT JOIN teams t ON t.id = w.team_id"
    };
}

pub(crate) use worker_select;

macro_rules! job_select {
    () => {
        "SELECT j.id, j.request_id, j.worker_id, w.name AS worker_name, j.model, j.state, \
         j.popped_at, j.lease_expires_at, j.upload_token, j.generation, \
         (j.image IS NOT NULL) AS has_image, j.seed, j.gen_metadata, j.kudos, \
         j.prompt_tokens, j.completion_tokens, j.finish_reason, j.token_ids, j.verification \
         FROM jobs j LEFT JOIN workers w ON w.id = j.worker_id"
    };
}
pub(crate) use job_select;

// --- accounts ---------------------------------------------------------------

pub const USER_BY_KEY_HASH: &str = concat!(
    "SELECT ",
    user_columns!(),
    " FROM users WHERE key_hash = $1"
);
pub const USER_BY_ID: &str = concat!("SELECT ", user_columns!(), " FROM users WHERE id = $1");
pub const USERS_BY_KUDOS: &str = concat!(
    "SELECT ",
    user_columns!(),
    " FROM users WHERE id != 0 AND erased_at IS NULL ORDER BY kudos DESC, id LIMIT $1 OFFSET $2"
);
pub const USERS_BY_AGE: &str = concat!(
    "SELECT ",
    user_columns!(),
    " FROM users WHERE id != 0 AND erased_at IS NULL ORDER BY id LIMIT $1 OFFSET $2"
);
pub const CREATE_USER: &str = concat!(
    "INSERT INTO users (username, key_hash, concurrency, created_at, login_provider, \
     login_subject) VALUES ($1, $2, $3, $4, $5, $6) RETURNING ",
    user_columns!()
);
pub const USER_BY_LOGIN: &str = concat!(
    "SELECT ",
    user_columns!(),
    " FROM users WHERE login_provider = $1 AND login_subject = $2"
);

// --- data rights ------------------------------------------------------------

pub const SET_FROZEN: &str = "UPDATE users SET frozen = $2 WHERE id = $1 AND id != 0";
pub const REQUESTS_OF_USER: &str =
    "SELECT * FROM requests WHERE user_id = $1 ORDER BY created_at, id";
/// Cancels requests: nothing more is handed out, and what they have is delivered as it is.
/// Binds `$2`, the time; the caller adds the WHERE clause.
macro_rules! cancel_requests {
    () => {
        "UPDATE requests SET state = 'cancelled', n_waiting = 0, finished_at = $2, \
         last_activity = $2, delivered_at = COALESCE(delivered_at, $2)"
    };
}
pub(crate) use cancel_requests;

/// Stops handing out every active request of an account.
pub const CANCEL_REQUESTS_OF_USER: &str = concat!(
    cancel_requests!(),
    " WHERE user_id = $1 AND state = 'active'"
);
/// The requests that hold an account's content: its own, and the checks of their results
/// (which copy the prompt and the result, under no account).
macro_rules! requests_of_user {
    () => {
        "(user_id = $1 OR id IN (SELECT request_id FROM checks WHERE requester_id = $1))"
    };
}
/// An erased account's checks stop too: the account they were for is gone.
pub const CANCEL_CHECKS_OF_USER: &str = concat!(
    cancel_requests!(),
    " WHERE state = 'active' AND id IN (SELECT request_id FROM checks WHERE requester_id = $1)"
);
/// Jobs of an erased account's requests still with a worker: their submit is refused, since
/// nobody is left to deliver the result to or charge for it.
pub const ABORT_JOBS_OF_USER: &str = concat!(
    "UPDATE jobs SET state = 'abandoned', finished_at = $2 WHERE state = 'processing' \
     AND request_id IN (SELECT id FROM requests WHERE ",
    requests_of_user!(),
    ")"
);
pub const PURGE_JOBS_OF_USER: &str = concat!(
    "UPDATE jobs SET generation = NULL, image = NULL, upload_token = NULL, gen_metadata = NULL, \
     token_ids = NULL WHERE request_id IN (SELECT id FROM requests WHERE ",
    requests_of_user!(),
    ")"
);
pub const PURGE_CHECKS_OF_USER: &str = "UPDATE checks SET expected = NULL WHERE requester_id = $1";
pub const PURGE_REQUESTS_OF_USER: &str = concat!(
    "UPDATE requests SET prompt = NULL, params = NULL, client_hash = NULL, webhook = NULL, \
     purged = TRUE WHERE ",
    requests_of_user!()
);
pub const DELETE_WORKERS_OF: &str = "DELETE FROM workers WHERE owner_id = $1";
/// The teams an account created (`$1`), in a WHERE clause.
macro_rules! teams_of_user {
    () => {
        " team_id IN (SELECT id FROM teams WHERE owner_id = $1)"
    };
}
pub(crate) use teams_of_user;
/// Workers leave the teams an erased account created, which go with it.
pub const LEAVE_TEAMS_OF_USER: &str =
    concat!("UPDATE workers SET team_id = NULL WHERE", teams_of_user!());
pub const DELETE_TEAMS_OF_USER: &str = "DELETE FROM teams WHERE owner_id = $1";
/// The messages an erased account wrote, and those for all its workers.
pub const DELETE_MESSAGES_OF_USER: &str =
    "DELETE FROM worker_messages WHERE sender_id = $1 OR user_id = $1";
/// The signs of suspicion of an erased account: moderation has nothing left to act on.
pub const DELETE_SUSPICIONS_OF_USER: &str = "DELETE FROM suspicions WHERE user_id = $1";
/// Workers leave team `$1`.
pub const LEAVE_TEAM: &str = "UPDATE workers SET team_id = NULL WHERE team_id = $1";
pub const DELETE_TEAM: &str = "DELETE FROM teams WHERE id = $1";
/// Messages expired before `$1` are deleted (they are listed as expired until then).
pub const DELETE_EXPIRED_MESSAGES: &str = "DELETE FROM worker_messages WHERE expires_at < $1";
/// Wipes what identifies an account and its key; the row stays for the ledger lines on it.
pub const ERASE_USER: &str =
    "UPDATE users SET username = $2, key_hash = NULL, contact = NULL, moderator = FALSE, \
     trusted = FALSE, flagged = FALSE, frozen = FALSE, concurrency = 0, worker_invited = 0, \
     login_provider = NULL, login_subject = NULL, erased_at = $3 WHERE id = $1";

// --- sign-in through a provider ---------------------------------------------

pub const DELETE_PENDING_LOGINS_BEFORE: &str = "DELETE FROM pending_logins WHERE created_at < $1";

/// One line of the kudos ledger; always paired with [`ADD_KUDOS`] or [`ADD_HELD_KUDOS`], as `$7`
/// (held) says.
pub const LEDGER_INSERT: &str =
    "INSERT INTO kudos_ledger (user_id, amount, reason, job_id, counterparty, created_at, held) \
     VALUES ($1, $2, $3, $4, $5, $6, $7)";
/// Returns what the floor depends on: the new balance, the provider, the erasure.
pub const ADD_KUDOS: &str = "UPDATE users SET kudos = kudos + $1 WHERE id = $2 \
     RETURNING kudos, login_provider, erased_at";
/// An account's balance, its provider (which sets its floor) and the kudos its active requests
/// reserve.
pub const AVAILABLE_KUDOS: &str = "SELECT u.kudos, u.login_provider, \
     CAST(COALESCE((SELECT SUM(r.upfront_kudos) FROM requests r \
                    WHERE r.user_id = u.id AND r.state = 'active'), 0) AS BIGINT) \
     FROM users u WHERE u.id = $1";
pub const ADD_HELD_KUDOS: &str = "UPDATE users SET held_kudos = held_kudos + $1 WHERE id = $2";

// --- workers ----------------------------------------------------------------

pub const WORKER_BY_ID: &str = concat!(worker_select!(), " WHERE w.id = $1");
pub const WORKER_BY_NAME: &str = concat!(worker_select!(), " WHERE lower(w.name) = lower($1)");
pub const WORKERS_OF_KIND: &str = concat!(
    worker_select!(),
    " WHERE ($1 IS NULL OR w.kind = $1) ORDER BY w.name"
);
/// Does nothing when the name is taken, which only a concurrent first pop
/// under the same name (on another instance) can cause.
pub const INSERT_WORKER: &str =
    "INSERT INTO workers (id, name, owner_id, kind, created_at, last_check_in, name_likeness) \
     VALUES ($1, $2, $3, $4, $5, $5, $6) ON CONFLICT DO NOTHING";
pub const RECORD_UPTIME: &str = "UPDATE workers SET uptime_ms = $2, last_reward_uptime_ms = $3, \
     kudos_uptime = kudos_uptime + $4 WHERE id = $1";
pub const REFRESH_WORKER: &str =
    "UPDATE workers SET models = $2, max_length = $3, max_context_length = $4, max_pixels = $5, \
     nsfw = $6, allow_img2img = $7, allow_painting = $8, allow_post_processing = $9, \
     allow_lora = $10, allow_controlnet = $11, threads = $12, bridge_agent = $13, \
     last_check_in = $14, chat_template = COALESCE($15, chat_template), browser = $16, \
     keeps_prompts = $17, can_score = $18, allow_sdxl_controlnet = $19, limit_max_steps = $20, \
     extra_slow_worker = $21, require_upfront_kudos = $22, \
     address_period = COALESCE($23, address_period), address_hash = COALESCE($24, address_hash), \
     address_hash_next = COALESCE($25, address_hash_next) WHERE id = $1";
/// Counts a finished generation on the team its worker `$1` is in, if any: (worker, kudos,
/// tokens, megapixelsteps).
pub const CREDIT_TEAM: &str = "UPDATE teams SET requests_fulfilled = requests_fulfilled + 1, \
     kudos = kudos + $2, tokens_generated = tokens_generated + $3, \
     mps_generated = mps_generated + $4 WHERE id = (SELECT team_id FROM workers WHERE id = $1)";
/// Counts uptime of worker `$1` (`$2` ms) on its team, if any.
pub const RECORD_TEAM_UPTIME: &str = "UPDATE teams SET uptime_ms = uptime_ms + $2 \
     WHERE id = (SELECT team_id FROM workers WHERE id = $1)";
/// Counts a job worker `$1` gave up on or let expire at `$2`, and within the hour before (from
/// `$3` on): returns that hour's count and the worker's owner.
pub const COUNT_UNCOMPLETED: &str = "UPDATE workers SET uncompleted_jobs = uncompleted_jobs + 1, \
     aborted_recent = CASE WHEN aborted_since < $3 THEN 1 ELSE aborted_recent + 1 END, \
     aborted_since = CASE WHEN aborted_since < $3 THEN $2 ELSE aborted_since END \
     WHERE id = $1 RETURNING aborted_recent, owner_id";
pub const FORGET_ABORTED: &str = "UPDATE workers SET aborted_recent = 0 WHERE id = $1";
pub const CREDIT_WORKER: &str = "UPDATE workers SET requests_fulfilled = requests_fulfilled + 1, \
     kudos_generated = kudos_generated + $2, tokens_generated = tokens_generated + $3, \
     mps_generated = mps_generated + $4 WHERE id = $1";

// --- requests and jobs ------------------------------------------------------

/// Interrogation forms have a limit of their own (`store/alchemy.rs`).
pub const COUNT_ACTIVE_REQUESTS: &str =
    "SELECT COUNT(*) FROM requests WHERE user_id = $1 AND state = 'active' \
     AND kind <> 'interrogation' AND ($2 IS NULL OR client_hash = $2)";
pub const COUNT_TEXT_REQUEST: &str =
    "UPDATE users SET requests_text = requests_text + 1 WHERE id = $1";
pub const COUNT_IMAGE_REQUEST: &str =
    "UPDATE users SET requests_image = requests_image + 1 WHERE id = $1";
pub const REQUEST_BY_ID: &str = "SELECT * FROM requests WHERE id = $1";
/// Records that the requester looked (binds `$2`, the time, and `$3`, whether the results were
/// delivered): an active request stays alive, and a delivery starts the retention window. The
/// caller adds the WHERE clause.
macro_rules! touch_requests {
    () => {
        "UPDATE requests SET \
         last_activity = CASE WHEN state = 'active' THEN $2 ELSE last_activity END, \
         delivered_at = CASE WHEN $3 THEN COALESCE(delivered_at, $2) ELSE delivered_at END"
    };
}
pub(crate) use touch_requests;
pub const JOBS_OF_REQUEST: &str = concat!(
    job_select!(),
    " WHERE j.request_id = $1 ORDER BY j.popped_at, j.id"
);
pub const JOB_BY_ID: &str = concat!(job_select!(), " WHERE j.id = $1");
pub const TAKE_GENERATIONS: &str =
    "UPDATE requests SET n_waiting = n_waiting - $2, last_activity = $3 WHERE id = $1";
pub const INSERT_JOB: &str =
    "INSERT INTO jobs (id, request_id, worker_id, model, popped_at, lease_expires_at, upload_token) \
     VALUES ($1, $2, $3, $4, $5, $6, $7)";
pub const FAULT_JOB: &str = "UPDATE jobs SET state = 'faulted', finished_at = $2 WHERE id = $1";
pub const FINISH_JOB: &str =
    "UPDATE jobs SET state = $2, generation = $3, image = COALESCE($4, image), seed = $5, \
     gen_metadata = $6, kudos = $7, things = $8, finished_at = $9, prompt_tokens = $10, \
     completion_tokens = $11, finish_reason = $12, token_ids = $13, verification = $14 \
     WHERE id = $1";
pub const CREDIT_TEXT_OWNER: &str = "UPDATE users SET fulfillments_text = fulfillments_text + 1, \
     contributed_tokens = contributed_tokens + $2, contributed_mps = contributed_mps + $3 \
     WHERE id = $1";
pub const CREDIT_IMAGE_OWNER: &str =
    "UPDATE users SET fulfillments_image = fulfillments_image + 1, \
     contributed_tokens = contributed_tokens + $2, contributed_mps = contributed_mps + $3 \
     WHERE id = $1";
pub const CREDIT_INTERROGATION_OWNER: &str =
    "UPDATE users SET fulfillments_interrogation = fulfillments_interrogation + 1, \
     contributed_tokens = contributed_tokens + $2, contributed_mps = contributed_mps + $3 \
     WHERE id = $1";
pub const CHARGE_USAGE: &str = "UPDATE users SET usage_tokens = usage_tokens + $2, \
     usage_mps = usage_mps + $3 WHERE id = $1";
pub const SPEND_RESERVED: &str = "UPDATE requests SET upfront_kudos = \
     CASE WHEN upfront_kudos > $2 THEN upfront_kudos - $2 ELSE 0 END WHERE id = $1";
pub const COUNT_DONE: &str = "UPDATE requests SET n_done = n_done + 1, last_activity = $2, \
     state = CASE WHEN state = 'active' AND n_done + 1 >= n THEN 'done' ELSE state END, \
     finished_at = CASE WHEN state = 'active' AND n_done + 1 >= n THEN $2 ELSE finished_at END \
     WHERE id = $1";
// --- verification -------------------------------------------------------------

pub const INSERT_HELD_REWARD: &str =
    "INSERT INTO held_rewards (owner_id, worker_id, job_id, amount, awaiting_check, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6)";
pub const INSERT_CHECK: &str =
    "INSERT INTO checks (request_id, job_id, worker_id, owner_id, requester_id, cost, reward, \
     held, expected, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
pub const CHECK_OF_REQUEST: &str = "SELECT * FROM checks WHERE request_id = $1";
/// The held rewards a verdict on job `$2` of worker `$1` settles: the job's own, and those of
/// the worker's jobs (and uptime) that no check of their own waits for, earned up to `$3`.
macro_rules! settled_held_rewards {
    () => {
        " FROM held_rewards WHERE worker_id = $1 \
          AND (job_id = $2 OR (awaiting_check = FALSE AND created_at <= $3))"
    };
}
pub const SUM_SETTLED_HELD: &str = concat!(
    "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT)",
    settled_held_rewards!()
);
pub const DELETE_SETTLED_HELD: &str = concat!("DELETE", settled_held_rewards!());
pub const SET_VERIFICATION: &str = "UPDATE jobs SET verification = $2 WHERE id = $1";
/// Returns the worker's clean streak after it.
pub const RECORD_PASSED_CHECK: &str =
    "UPDATE workers SET checks_passed = checks_passed + 1, clean_streak = clean_streak + 1 \
     WHERE id = $1 RETURNING clean_streak";
/// Trusts worker `$1` if its record is long and clean enough: `$2` passed checks, none failed,
/// and created before `$3`. Returns its id when it did.
pub const AUTO_TRUST: &str = "UPDATE workers SET auto_trusted = TRUE \
     WHERE id = $1 AND auto_trusted = FALSE AND checks_failed = 0 AND checks_passed >= $2 \
       AND created_at <= $3 RETURNING id";
/// Also pauses it once it failed `$2` checks; returns whether it is paused.
pub const RECORD_FAILED_CHECK: &str =
    "UPDATE workers SET checks_failed = checks_failed + 1, clean_streak = 0, \
     auto_trusted = FALSE, paused = (paused OR checks_failed + 1 >= $2) WHERE id = $1 \
     RETURNING paused";

// --- suspicion ----------------------------------------------------------------

/// Whether account `$1` already has a sign of reason `$3` (on worker `$2`, when given).
pub const HAS_SUSPICION: &str = "SELECT EXISTS (SELECT 1 FROM suspicions \
     WHERE user_id = $1 AND reason = $3 AND ($2 IS NULL OR worker_id = $2))";
pub const INSERT_SUSPICION: &str =
    "INSERT INTO suspicions (user_id, worker_id, reason, at) VALUES ($1, $2, $3, $4)";
pub const RAISE_USER_SUSPICION: &str = "UPDATE users SET suspicion = suspicion + 1 WHERE id = $1";
/// Also pauses worker `$1` once its suspicion reaches `$2`, unless its owner is trusted.
pub const RAISE_WORKER_SUSPICION: &str = "UPDATE workers SET suspicion = suspicion + 1, \
     paused = (paused OR (suspicion + 1 >= $2 AND \
       owner_id NOT IN (SELECT id FROM users WHERE trusted = TRUE))) WHERE id = $1";

/// A checked result its requester has not fetched yet is withdrawn (`$2`: the job) and its
/// generation queued again, unless the request ended otherwise meanwhile.
pub const WITHDRAW_UNDELIVERED: &str =
    "UPDATE requests SET n_done = n_done - 1, n_waiting = n_waiting + 1, state = 'active', \
     finished_at = NULL, last_activity = $3 \
     WHERE id = $1 AND delivered_at IS NULL AND state IN ('active', 'done') \
       AND EXISTS (SELECT 1 FROM jobs WHERE jobs.id = $2 AND jobs.request_id = $1 \
                   AND jobs.state = 'ok')";
pub const REJECT_JOB: &str = "UPDATE jobs SET state = 'rejected', generation = NULL, \
     image = NULL, token_ids = NULL, gen_metadata = NULL WHERE id = $1";
/// An active request expires when nobody touched it since `$1`; a check, which nobody touches,
/// when it was made before `$2`. Two index ranges (`requests_idle`, `requests_check_age`):
/// as one condition with OR, the whole queue was walked.
macro_rules! expirable {
    () => {
        "id IN (SELECT id FROM requests \
                WHERE state = 'active' AND check_kind IS NULL AND last_activity < $1 \
                UNION ALL SELECT id FROM requests \
                WHERE state = 'active' AND check_kind IS NOT NULL AND created_at < $2)"
    };
}
pub(crate) use expirable;
/// The held rewards whose checks expired wait for them no more: a later passed check may
/// release them. The caller adds the condition on `request_id` (the expired requests).
macro_rules! unawait_expired_checks {
    () => {
        "UPDATE held_rewards SET awaiting_check = FALSE \
         WHERE job_id IN (SELECT job_id FROM checks WHERE request_id "
    };
}
pub(crate) use unawait_expired_checks;
/// A check's own request is done and delivered at once: nobody fetches it.
pub const CHECK_DONE: &str = "UPDATE requests SET n_done = n_done + 1, n_waiting = 0, \
     state = 'done', finished_at = $2, last_activity = $2, delivered_at = $2 WHERE id = $1";

/// Puts one generation back in the queue after a lost or faulted job, or
/// faults the request once it has restarted too often. All SET expressions
/// read the row as it was before the update.
pub const REQUEUE_ONE: &str = "UPDATE requests SET \
       restarts = restarts + 1, \
       n_waiting = CASE WHEN state = 'active' AND restarts + 1 <= $2 THEN n_waiting + 1 \
                        WHEN state = 'active' THEN 0 ELSE n_waiting END, \
       state = CASE WHEN state = 'active' AND restarts + 1 > $2 THEN 'faulted' ELSE state END, \
       finished_at = CASE WHEN state = 'active' AND restarts + 1 > $2 THEN $3 ELSE finished_at END, \
       last_activity = $3 \
     WHERE id = $1";

// --- figures ----------------------------------------------------------------

pub const SETTING: &str = "SELECT value FROM settings WHERE key = $1";
