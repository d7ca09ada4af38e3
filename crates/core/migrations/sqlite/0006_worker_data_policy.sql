-- A worker says on every pop whether it keeps the prompts or results it is given (logs, caches,
-- training); a request may ask for workers that keep nothing.
ALTER TABLE workers ADD COLUMN keeps_prompts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE requests ADD COLUMN workers_keep_nothing INTEGER NOT NULL DEFAULT 0;
