-- What the sweep reads every few seconds, each an index range instead of a walk over every
-- request the history holds, or over every check waiting (the soak run found the walks
-- slowing the cycle as the hour went on).
-- Requests keep their requester's address hash until it is too old to keep.
CREATE INDEX requests_client_hash_age ON requests(created_at) WHERE client_hash IS NOT NULL;
-- Idle requests expire; checks, which nobody touches, by their age.
DROP INDEX requests_idle;
CREATE INDEX requests_idle ON requests(last_activity) WHERE state = 'active' AND check_kind IS NULL;
CREATE INDEX requests_check_age ON requests(created_at)
    WHERE state = 'active' AND check_kind IS NOT NULL;
