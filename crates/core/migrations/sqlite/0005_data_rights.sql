-- The data rights (README, "Your data"). A frozen account is restricted: its key still reads,
-- exports, unfreezes and erases, and nothing else. An erased account keeps only a pseudonymised
-- row, which the ledger lines of other accounts' jobs and transfers point at.
ALTER TABLE users ADD COLUMN frozen INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN erased_at INTEGER;
