-- Checks wait in a queue of their own. Only a worker that may check others' work reads them,
-- and while none is online they pile up until they expire (some 20,000 in a soak run with
-- only untrusted workers). In the shared index every other pop, and every requester's queue
-- position, walked past all of them.
DROP INDEX requests_queue;
CREATE INDEX requests_queue ON requests(kind, priority DESC, created_at)
    WHERE state = 'active' AND n_waiting > 0 AND check_kind IS NULL;
CREATE INDEX requests_check_queue ON requests(kind, priority DESC, created_at)
    WHERE state = 'active' AND n_waiting > 0 AND check_kind IS NOT NULL;
