-- Signs of bad faith, each with its reason (crates/core/src/suspicion.rs). `users.suspicion`
-- and `workers.suspicion` count an account's and a worker's rows, so that reading an account
-- (every request does) needs no count. Accounts' earlier suspicion came only from failed
-- checks (reason 100): each becomes a row of that reason.
CREATE TABLE suspicions (
    id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id   BIGINT NOT NULL,
    -- The worker it was found on; NULL for an account's own.
    worker_id TEXT,
    reason    BIGINT NOT NULL,
    at        BIGINT NOT NULL
);
CREATE INDEX suspicions_user ON suspicions(user_id);
CREATE INDEX suspicions_worker ON suspicions(worker_id);
ALTER TABLE workers ADD COLUMN suspicion BIGINT NOT NULL DEFAULT 0;
-- Jobs a worker abandoned since `aborted_since` (reset every hour).
ALTER TABLE workers ADD COLUMN aborted_since BIGINT NOT NULL DEFAULT 0;
ALTER TABLE workers ADD COLUMN aborted_recent BIGINT NOT NULL DEFAULT 0;
INSERT INTO suspicions (user_id, reason, at)
SELECT u.id, 100, 0 FROM users u, generate_series(1, u.suspicion);
