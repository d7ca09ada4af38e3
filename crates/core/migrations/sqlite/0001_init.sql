-- Potluck's schema. Times are milliseconds since the Unix epoch; kudos are
-- integer hundredths so that the ledger sums exactly.

CREATE TABLE users (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    username             TEXT    NOT NULL,
    key_hash             TEXT    UNIQUE,
    kudos                INTEGER NOT NULL DEFAULT 0,
    moderator            INTEGER NOT NULL DEFAULT 0,
    trusted              INTEGER NOT NULL DEFAULT 0,
    flagged              INTEGER NOT NULL DEFAULT 0,
    concurrency          INTEGER NOT NULL,
    worker_invited       INTEGER NOT NULL DEFAULT 0,
    contact              TEXT,
    created_at           INTEGER NOT NULL,
    requests_text        INTEGER NOT NULL DEFAULT 0,
    requests_image       INTEGER NOT NULL DEFAULT 0,
    fulfillments_text    INTEGER NOT NULL DEFAULT 0,
    fulfillments_image   INTEGER NOT NULL DEFAULT 0,
    usage_tokens         INTEGER NOT NULL DEFAULT 0,
    usage_mps            REAL    NOT NULL DEFAULT 0,
    contributed_tokens   INTEGER NOT NULL DEFAULT 0,
    contributed_mps      REAL    NOT NULL DEFAULT 0
);

-- Every movement of kudos. SUM(amount) per user equals users.kudos.
CREATE TABLE kudos_ledger (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id      INTEGER NOT NULL REFERENCES users(id),
    amount       INTEGER NOT NULL,
    reason       TEXT    NOT NULL,
    job_id       TEXT,
    counterparty INTEGER,
    created_at   INTEGER NOT NULL
);
CREATE INDEX kudos_ledger_user ON kudos_ledger(user_id, reason);

CREATE TABLE workers (
    id                    TEXT    PRIMARY KEY,
    name                  TEXT    NOT NULL,
    owner_id              INTEGER NOT NULL REFERENCES users(id),
    kind                  TEXT    NOT NULL,
    models                TEXT    NOT NULL DEFAULT '[]',
    max_length            INTEGER NOT NULL DEFAULT 0,
    max_context_length    INTEGER NOT NULL DEFAULT 0,
    max_pixels            INTEGER NOT NULL DEFAULT 0,
    nsfw                  INTEGER NOT NULL DEFAULT 0,
    allow_img2img         INTEGER NOT NULL DEFAULT 0,
    allow_painting        INTEGER NOT NULL DEFAULT 0,
    allow_post_processing INTEGER NOT NULL DEFAULT 0,
    allow_lora            INTEGER NOT NULL DEFAULT 0,
    allow_controlnet      INTEGER NOT NULL DEFAULT 0,
    threads               INTEGER NOT NULL DEFAULT 1,
    bridge_agent          TEXT    NOT NULL DEFAULT 'unknown:0:unknown',
    info                  TEXT,
    maintenance           INTEGER NOT NULL DEFAULT 0,
    maintenance_msg       TEXT,
    paused                INTEGER NOT NULL DEFAULT 0,
    created_at            INTEGER NOT NULL,
    last_check_in         INTEGER NOT NULL,
    uptime_ms             INTEGER NOT NULL DEFAULT 0,
    last_reward_uptime_ms INTEGER NOT NULL DEFAULT 0,
    requests_fulfilled    INTEGER NOT NULL DEFAULT 0,
    kudos_generated       INTEGER NOT NULL DEFAULT 0,
    kudos_uptime          INTEGER NOT NULL DEFAULT 0,
    tokens_generated      INTEGER NOT NULL DEFAULT 0,
    mps_generated         REAL    NOT NULL DEFAULT 0,
    uncompleted_jobs      INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX workers_name ON workers(lower(name));
CREATE INDEX workers_owner ON workers(owner_id);
CREATE INDEX workers_online ON workers(kind, last_check_in);

-- A requester's request for n generations. Prompts and params are purged
-- (set NULL) once the results were delivered and retained long enough.
CREATE TABLE requests (
    id                 TEXT    PRIMARY KEY,
    kind               TEXT    NOT NULL,
    user_id            INTEGER NOT NULL REFERENCES users(id),
    client_hash        TEXT,
    prompt             TEXT,
    params             TEXT,
    models             TEXT    NOT NULL DEFAULT '[]',
    workers            TEXT    NOT NULL DEFAULT '[]',
    worker_blacklist   INTEGER NOT NULL DEFAULT 0,
    trusted_workers    INTEGER NOT NULL DEFAULT 0,
    nsfw               INTEGER NOT NULL DEFAULT 0,
    r2                 INTEGER NOT NULL DEFAULT 1,
    shared             INTEGER NOT NULL DEFAULT 0,
    max_length         INTEGER NOT NULL DEFAULT 0,
    max_context_length INTEGER NOT NULL DEFAULT 0,
    width              INTEGER NOT NULL DEFAULT 0,
    height             INTEGER NOT NULL DEFAULT 0,
    steps              INTEGER NOT NULL DEFAULT 0,
    img2img            INTEGER NOT NULL DEFAULT 0,
    post_processors    INTEGER NOT NULL DEFAULT 0,
    loras              INTEGER NOT NULL DEFAULT 0,
    n                  INTEGER NOT NULL,
    n_waiting          INTEGER NOT NULL,
    n_done             INTEGER NOT NULL DEFAULT 0,
    restarts           INTEGER NOT NULL DEFAULT 0,
    priority           INTEGER NOT NULL,
    kudos_estimate     INTEGER NOT NULL,
    state              TEXT    NOT NULL DEFAULT 'active',
    created_at         INTEGER NOT NULL,
    last_activity      INTEGER NOT NULL,
    finished_at        INTEGER,
    delivered_at       INTEGER,
    purged             INTEGER NOT NULL DEFAULT 0
);
-- The queue: what a worker scans when it pops, best first.
CREATE INDEX requests_queue ON requests(kind, priority DESC, created_at)
    WHERE state = 'active' AND n_waiting > 0;
CREATE INDEX requests_user_active ON requests(user_id, client_hash) WHERE state = 'active';
CREATE INDEX requests_activity ON requests(state, last_activity);

-- One generation handed to one worker under a lease.
CREATE TABLE jobs (
    id               TEXT    PRIMARY KEY,
    request_id       TEXT    NOT NULL REFERENCES requests(id) ON DELETE CASCADE,
    worker_id        TEXT    NOT NULL,
    model            TEXT    NOT NULL,
    state            TEXT    NOT NULL DEFAULT 'processing',
    popped_at        INTEGER NOT NULL,
    lease_expires_at INTEGER NOT NULL,
    finished_at      INTEGER,
    upload_token     TEXT,
    generation       TEXT,
    image            BLOB,
    seed             TEXT,
    gen_metadata     TEXT,
    kudos            INTEGER NOT NULL DEFAULT 0,
    things           REAL    NOT NULL DEFAULT 0
);
CREATE INDEX jobs_request ON jobs(request_id);
CREATE INDEX jobs_lease ON jobs(lease_expires_at) WHERE state = 'processing';
CREATE INDEX jobs_finished ON jobs(finished_at) WHERE finished_at IS NOT NULL;

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- The shared anonymous account. Its well-known key 0000000000 is recognised
-- before any lookup, so it has no stored hash.
INSERT INTO users (id, username, key_hash, concurrency, created_at)
VALUES (0, 'Anonymous', NULL, 0, 0);
