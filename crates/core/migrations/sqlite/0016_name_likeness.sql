-- What a worker's or a team's name looks like (crates/core/src/names.rs): names that look alike
-- (`admin`, `AdMіn` with a Cyrillic і, `adm1n`) share it, and a new name that looks like another
-- one's is refused. Rows older than this migration are filled in at start
-- (`Common::fill_name_likeness`).
ALTER TABLE workers ADD COLUMN name_likeness TEXT;
ALTER TABLE teams ADD COLUMN name_likeness TEXT;
CREATE INDEX workers_name_likeness ON workers(name_likeness);
CREATE INDEX teams_name_likeness ON teams(name_likeness);
