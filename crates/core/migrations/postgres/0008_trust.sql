-- Verification of untrusted work (crates/core/src/horde/trust.rs).

-- Kudos held until verified: a second balance, and ledger lines that move it.
ALTER TABLE users ADD COLUMN held_kudos BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN suspicion BIGINT NOT NULL DEFAULT 0;
ALTER TABLE kudos_ledger ADD COLUMN held BOOLEAN NOT NULL DEFAULT FALSE;

-- A worker's record of checks, and whether it can score others' work.
ALTER TABLE workers ADD COLUMN can_score BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE workers ADD COLUMN checks_passed BIGINT NOT NULL DEFAULT 0;
ALTER TABLE workers ADD COLUMN checks_failed BIGINT NOT NULL DEFAULT 0;
-- Passed checks since the last failed one: the check rate falls with it.
ALTER TABLE workers ADD COLUMN clean_streak BIGINT NOT NULL DEFAULT 0;
ALTER TABLE workers ADD COLUMN auto_trusted BOOLEAN NOT NULL DEFAULT FALSE;

-- The tokens a text job's worker reported (purged with its result), and its check's outcome.
ALTER TABLE jobs ADD COLUMN token_ids JSONB;
ALTER TABLE jobs ADD COLUMN verification TEXT;

-- A check is a request of its own, queued like any: `score` (a trusted worker scores the
-- checked tokens) or `redo` (a trusted worker generates the same again); the checked worker's
-- owner may not take it.
ALTER TABLE requests ADD COLUMN check_kind TEXT;
ALTER TABLE requests ADD COLUMN exclude_owner BIGINT;

-- Rewards held until verified: one per job of an untrusted worker (or uptime reward).
CREATE TABLE held_rewards (
    id             BIGSERIAL PRIMARY KEY,
    owner_id       BIGINT  NOT NULL REFERENCES users(id),
    worker_id      TEXT    NOT NULL,
    job_id         TEXT,
    amount         BIGINT  NOT NULL,
    -- Its job was chosen for a check: only that check's verdict settles it.
    awaiting_check BOOLEAN NOT NULL DEFAULT FALSE,
    created_at     BIGINT  NOT NULL
);
CREATE INDEX held_rewards_worker ON held_rewards(worker_id, created_at);
CREATE INDEX held_rewards_owner ON held_rewards(owner_id);
CREATE UNIQUE INDEX held_rewards_job ON held_rewards(job_id) WHERE job_id IS NOT NULL;

-- What a check request verifies, and what its verdict moves.
CREATE TABLE checks (
    request_id   TEXT    PRIMARY KEY REFERENCES requests(id) ON DELETE CASCADE,
    job_id       TEXT    NOT NULL,
    worker_id    TEXT    NOT NULL,
    owner_id     BIGINT  NOT NULL,
    requester_id BIGINT  NOT NULL,
    -- What the requester paid and the worker earned for the checked job.
    cost         BIGINT  NOT NULL,
    reward       BIGINT  NOT NULL,
    -- The reward waits in held_rewards; otherwise (an automatically trusted worker) it was paid.
    held         BOOLEAN NOT NULL,
    -- What the check compares with (JSON: the text and its token ids, or an image's hash);
    -- purged with the check's request.
    expected     JSONB,
    created_at   BIGINT  NOT NULL
);
CREATE INDEX checks_job ON checks(job_id);
