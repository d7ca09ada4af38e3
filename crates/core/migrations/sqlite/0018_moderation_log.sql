-- What moderators and admins did with their rights (crates/core/src/horde/moderation_log.rs): who,
-- what and when, never a prompt, a message's text or an address.
CREATE TABLE moderation_log (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    at       INTEGER NOT NULL,
    actor_id INTEGER NOT NULL,
    action   TEXT NOT NULL,
    target   TEXT NOT NULL
);
