-- What the sweep reads every few seconds, each an index range instead of a walk over every
-- request the history holds (the soak run found the walks, under the single writer, slowing
-- every pop and submit as the hour went on). The same as PostgreSQL's since 0001.
CREATE INDEX requests_unpurged_delivered ON requests(delivered_at)
    WHERE purged = 0 AND state <> 'active';
CREATE INDEX requests_unpurged_finished ON requests(finished_at)
    WHERE purged = 0 AND state <> 'active';
CREATE INDEX requests_history ON requests(finished_at) WHERE purged = 1;
-- Requests keep their requester's address hash until it is too old to keep.
CREATE INDEX requests_client_hash_age ON requests(created_at) WHERE client_hash IS NOT NULL;
-- Idle requests expire; checks, which nobody touches, by their age. These replace the index
-- of every request by state, which drew every query on active requests, without statistics to
-- tell SQLite better: a requester's concurrency count walked every waiting check (14.5 ms
-- with 35,000 of them, against 0.03 ms through requests_user_active).
DROP INDEX requests_activity;
CREATE INDEX requests_idle ON requests(last_activity) WHERE state = 'active' AND check_kind IS NULL;
CREATE INDEX requests_check_age ON requests(created_at)
    WHERE state = 'active' AND check_kind IS NOT NULL;
