-- Moderators' prompt filters (crates/core/src/prompt_filter.rs): a regular expression of a type
-- (10, 11: terms for minors; 20: sexual terms), what replaces its matches, and who wrote it.
CREATE TABLE prompt_filters (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    regex       TEXT NOT NULL,
    filter_type INTEGER NOT NULL,
    description TEXT,
    replacement TEXT NOT NULL DEFAULT '',
    user_id     INTEGER NOT NULL,
    created_at  INTEGER NOT NULL
);
