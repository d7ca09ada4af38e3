-- A worker in a web browser tab (the Contribute page) says so on every pop. Its effective trust
-- is its owner's AND NOT browser: a tab's results are never trusted, whoever owns it.
ALTER TABLE workers ADD COLUMN browser INTEGER NOT NULL DEFAULT 0;
