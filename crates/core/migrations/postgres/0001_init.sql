-- Potluck's schema on PostgreSQL: the same tables and columns as on SQLite.
-- Times are milliseconds since the Unix epoch; kudos are integer hundredths
-- so that the ledger sums exactly. JSON columns are JSONB so that they can be
-- compared (queue figures group by the model list) and matched (?| on pop).

CREATE TABLE users (
    id                   BIGSERIAL        PRIMARY KEY,
    username             TEXT             NOT NULL,
    key_hash             TEXT             UNIQUE,
    kudos                BIGINT           NOT NULL DEFAULT 0,
    moderator            BOOLEAN          NOT NULL DEFAULT FALSE,
    trusted              BOOLEAN          NOT NULL DEFAULT FALSE,
    flagged              BOOLEAN          NOT NULL DEFAULT FALSE,
    concurrency          BIGINT           NOT NULL,
    worker_invited       BIGINT           NOT NULL DEFAULT 0,
    contact              TEXT,
    created_at           BIGINT           NOT NULL,
    requests_text        BIGINT           NOT NULL DEFAULT 0,
    requests_image       BIGINT           NOT NULL DEFAULT 0,
    fulfillments_text    BIGINT           NOT NULL DEFAULT 0,
    fulfillments_image   BIGINT           NOT NULL DEFAULT 0,
    usage_tokens         BIGINT           NOT NULL DEFAULT 0,
    usage_mps            DOUBLE PRECISION NOT NULL DEFAULT 0,
    contributed_tokens   BIGINT           NOT NULL DEFAULT 0,
    contributed_mps      DOUBLE PRECISION NOT NULL DEFAULT 0
);

-- Every movement of kudos. SUM(amount) per user equals users.kudos.
CREATE TABLE kudos_ledger (
    id           BIGSERIAL PRIMARY KEY,
    user_id      BIGINT    NOT NULL REFERENCES users(id),
    amount       BIGINT    NOT NULL,
    reason       TEXT      NOT NULL,
    job_id       TEXT,
    counterparty BIGINT,
    created_at   BIGINT    NOT NULL
);
CREATE INDEX kudos_ledger_user ON kudos_ledger(user_id, reason);

CREATE TABLE workers (
    id                    TEXT             PRIMARY KEY,
    name                  TEXT             NOT NULL,
    owner_id              BIGINT           NOT NULL REFERENCES users(id),
    kind                  TEXT             NOT NULL,
    models                JSONB            NOT NULL DEFAULT '[]',
    max_length            BIGINT           NOT NULL DEFAULT 0,
    max_context_length    BIGINT           NOT NULL DEFAULT 0,
    max_pixels            BIGINT           NOT NULL DEFAULT 0,
    nsfw                  BOOLEAN          NOT NULL DEFAULT FALSE,
    allow_img2img         BOOLEAN          NOT NULL DEFAULT FALSE,
    allow_painting        BOOLEAN          NOT NULL DEFAULT FALSE,
    allow_post_processing BOOLEAN          NOT NULL DEFAULT FALSE,
    allow_lora            BOOLEAN          NOT NULL DEFAULT FALSE,
    allow_controlnet      BOOLEAN          NOT NULL DEFAULT FALSE,
    threads               BIGINT           NOT NULL DEFAULT 1,
    bridge_agent          TEXT             NOT NULL DEFAULT 'unknown:0:unknown',
    info                  TEXT,
    maintenance           BOOLEAN          NOT NULL DEFAULT FALSE,
    maintenance_msg       TEXT,
    paused                BOOLEAN          NOT NULL DEFAULT FALSE,
    created_at            BIGINT           NOT NULL,
    last_check_in         BIGINT           NOT NULL,
    uptime_ms             BIGINT           NOT NULL DEFAULT 0,
    last_reward_uptime_ms BIGINT           NOT NULL DEFAULT 0,
    requests_fulfilled    BIGINT           NOT NULL DEFAULT 0,
    kudos_generated       BIGINT           NOT NULL DEFAULT 0,
    kudos_uptime          BIGINT           NOT NULL DEFAULT 0,
    tokens_generated      BIGINT           NOT NULL DEFAULT 0,
    mps_generated         DOUBLE PRECISION NOT NULL DEFAULT 0,
    uncompleted_jobs      BIGINT           NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX workers_name ON workers(lower(name));
CREATE INDEX workers_owner ON workers(owner_id);
CREATE INDEX workers_online ON workers(kind, last_check_in);

-- A requester's request for n generations. Prompts and params are purged
-- (set NULL) once the results were delivered and retained long enough.
CREATE TABLE requests (
    id                 TEXT    PRIMARY KEY,
    kind               TEXT    NOT NULL,
    user_id            BIGINT  NOT NULL REFERENCES users(id),
    client_hash        TEXT,
    prompt             TEXT,
    params             JSONB,
    models             JSONB   NOT NULL DEFAULT '[]',
    workers            JSONB   NOT NULL DEFAULT '[]',
    worker_blacklist   BOOLEAN NOT NULL DEFAULT FALSE,
    trusted_workers    BOOLEAN NOT NULL DEFAULT FALSE,
    nsfw               BOOLEAN NOT NULL DEFAULT FALSE,
    r2                 BOOLEAN NOT NULL DEFAULT TRUE,
    shared             BOOLEAN NOT NULL DEFAULT FALSE,
    max_length         BIGINT  NOT NULL DEFAULT 0,
    max_context_length BIGINT  NOT NULL DEFAULT 0,
    width              BIGINT  NOT NULL DEFAULT 0,
    height             BIGINT  NOT NULL DEFAULT 0,
    steps              BIGINT  NOT NULL DEFAULT 0,
    img2img            BOOLEAN NOT NULL DEFAULT FALSE,
    post_processors    BIGINT  NOT NULL DEFAULT 0,
    loras              BIGINT  NOT NULL DEFAULT 0,
    n                  BIGINT  NOT NULL,
    n_waiting          BIGINT  NOT NULL,
    n_done             BIGINT  NOT NULL DEFAULT 0,
    restarts           BIGINT  NOT NULL DEFAULT 0,
    priority           BIGINT  NOT NULL,
    kudos_estimate     BIGINT  NOT NULL,
    state              TEXT    NOT NULL DEFAULT 'active',
    created_at         BIGINT  NOT NULL,
    last_activity      BIGINT  NOT NULL,
    finished_at        BIGINT,
    delivered_at       BIGINT,
    purged             BOOLEAN NOT NULL DEFAULT FALSE
);
-- Partial indexes keep the hot paths independent of the history: finished
-- and purged rows are in none of the first four.
-- The queue, best first: its position counts.
CREATE INDEX requests_queue ON requests(kind, priority DESC, created_at)
    WHERE state = 'active' AND n_waiting > 0;
-- The queue as a worker pops it: one ordered scan per model it serves, so
-- that requests for models it does not serve cost nothing however many wait
-- ahead. Requests naming one model (the usual case) are indexed by it; those
-- naming any model or several have an ordered index each.
CREATE INDEX requests_queue_one_model ON requests(kind, (models ->> 0), priority DESC, created_at)
    WHERE state = 'active' AND n_waiting > 0 AND jsonb_array_length(models) = 1;
CREATE INDEX requests_queue_any_model ON requests(kind, priority DESC, created_at)
    WHERE state = 'active' AND n_waiting > 0 AND models = '[]'::jsonb;
CREATE INDEX requests_queue_many_models ON requests(kind, priority DESC, created_at)
    WHERE state = 'active' AND n_waiting > 0 AND jsonb_array_length(models) > 1;
-- Concurrency limits count a requester's active requests.
CREATE INDEX requests_user_active ON requests(user_id, client_hash) WHERE state = 'active';
-- Idle requests expire.
CREATE INDEX requests_idle ON requests(last_activity) WHERE state = 'active';
-- Finished requests wait here for their prompts and results to be purged,
-- once delivered or finished long enough ago.
CREATE INDEX requests_unpurged_delivered ON requests(delivered_at)
    WHERE NOT purged AND state <> 'active';
CREATE INDEX requests_unpurged_finished ON requests(finished_at)
    WHERE NOT purged AND state <> 'active';
-- Purged requests are deleted once older than the history window.
CREATE INDEX requests_history ON requests(finished_at) WHERE purged;

-- One generation handed to one worker under a lease.
CREATE TABLE jobs (
    id               TEXT             PRIMARY KEY,
    request_id       TEXT             NOT NULL REFERENCES requests(id) ON DELETE CASCADE,
    worker_id        TEXT             NOT NULL,
    model            TEXT             NOT NULL,
    state            TEXT             NOT NULL DEFAULT 'processing',
    popped_at        BIGINT           NOT NULL,
    lease_expires_at BIGINT           NOT NULL,
    finished_at      BIGINT,
    upload_token     TEXT,
    generation       TEXT,
    image            BYTEA,
    seed             TEXT,
    gen_metadata     JSONB,
    kudos            BIGINT           NOT NULL DEFAULT 0,
    things           DOUBLE PRECISION NOT NULL DEFAULT 0
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
