-- Accounts as the AI Horde's users have them, teams of workers, and messages to workers
-- (crates/core/src/horde/accounts.rs, teams.rs, worker_messages.rs).

-- Admins alone grant kudos and the moderator role (the AI Horde's ADMINS); the operator names
-- them with `potluck admin`.
ALTER TABLE users ADD COLUMN admin INTEGER NOT NULL DEFAULT 0;
-- The owner lets everyone see which workers are theirs.
ALTER TABLE users ADD COLUMN public_workers INTEGER NOT NULL DEFAULT 0;

-- A team its owner's and others' workers join; its figures count what they did while in it.
CREATE TABLE teams (
    id                 TEXT    PRIMARY KEY,
    name               TEXT    NOT NULL,
    info               TEXT,
    owner_id           INTEGER NOT NULL REFERENCES users(id),
    created_at         INTEGER NOT NULL,
    requests_fulfilled INTEGER NOT NULL DEFAULT 0,
    -- Hundredths, as everywhere.
    kudos              INTEGER NOT NULL DEFAULT 0,
    tokens_generated   INTEGER NOT NULL DEFAULT 0,
    mps_generated      REAL    NOT NULL DEFAULT 0,
    uptime_ms          INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX teams_name ON teams(lower(name));
CREATE INDEX teams_owner ON teams(owner_id);

ALTER TABLE workers ADD COLUMN team_id TEXT REFERENCES teams(id) ON DELETE SET NULL;
CREATE INDEX workers_team ON workers(team_id);

-- A message to one worker (worker_id), to every worker of an account (user_id alone), or to
-- every worker (neither); its workers read it with their pops until it expires.
CREATE TABLE worker_messages (
    id         TEXT    PRIMARY KEY,
    worker_id  TEXT    REFERENCES workers(id) ON DELETE CASCADE,
    -- The account whose workers it is for (a worker's owner, for a message to one worker).
    user_id    INTEGER REFERENCES users(id),
    sender_id  INTEGER NOT NULL REFERENCES users(id),
    message    TEXT    NOT NULL,
    origin     TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX worker_messages_worker ON worker_messages(worker_id);
CREATE INDEX worker_messages_user ON worker_messages(user_id);
CREATE INDEX worker_messages_sender ON worker_messages(sender_id);
CREATE INDEX worker_messages_expiry ON worker_messages(expires_at);
