-- A worker says on every pop whether it keeps the prompts or results it is given (logs, caches,
-- training); a request may ask for workers that keep nothing.
ALTER TABLE workers ADD COLUMN keeps_prompts BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE requests ADD COLUMN workers_keep_nothing BOOLEAN NOT NULL DEFAULT FALSE;
