-- Sign-in through an OpenID Connect provider. An account linked to one keeps the provider's
-- name (as the operator configured it) and the subject id the provider gave it: nothing else
-- of the provider's profile.
ALTER TABLE users ADD COLUMN login_provider TEXT;
ALTER TABLE users ADD COLUMN login_subject TEXT;
CREATE UNIQUE INDEX users_login ON users (login_provider, login_subject);

-- A sign-in on its way through the provider: what the callback must check. The browser holds
-- the state in a short-lived cookie; only its hash is here. Deleted when used or after minutes.
CREATE TABLE pending_logins (
    state_hash    TEXT PRIMARY KEY,
    provider      TEXT NOT NULL,
    nonce         TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);

-- The secret of client-address hashes now changes every period, a day by default (settings
-- `secret:client_hash:<period>`); the one that never changed goes.
DELETE FROM settings WHERE key = 'secret:client_hash';
