-- The account page reads an account's latest ledger lines.
CREATE INDEX kudos_ledger_history ON kudos_ledger(user_id, id);

-- The web UI's sessions (tower-sessions-sqlx-store's layout; the server names the table). A row
-- exists only for a signed-in browser and holds its account's key hash, never a key.
CREATE TABLE web_sessions (
    id          TEXT PRIMARY KEY NOT NULL,
    data        BLOB NOT NULL,
    expiry_date INTEGER NOT NULL
);
