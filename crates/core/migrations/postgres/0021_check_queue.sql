-- Checks wait in a queue of their own. Only a worker that may check others' work reads them,
-- and while none is online they pile up until they expire (some 20,000 in a soak run with
-- only untrusted workers). In the shared indexes every other pop, and every requester's queue
-- position, walked past all of them.
DROP INDEX requests_queue, requests_queue_one_model, requests_queue_any_model,
    requests_queue_many_models;
CREATE INDEX requests_queue ON requests(kind, priority DESC, created_at)
    WHERE state = 'active' AND n_waiting > 0 AND check_kind IS NULL;
CREATE INDEX requests_queue_one_model ON requests(kind, (models ->> 0), priority DESC, created_at)
    WHERE state = 'active' AND n_waiting > 0 AND jsonb_array_length(models) = 1
      AND check_kind IS NULL;
CREATE INDEX requests_queue_any_model ON requests(kind, priority DESC, created_at)
    WHERE state = 'active' AND n_waiting > 0 AND models = '[]'::jsonb AND check_kind IS NULL;
CREATE INDEX requests_queue_many_models ON requests(kind, priority DESC, created_at)
    WHERE state = 'active' AND n_waiting > 0 AND jsonb_array_length(models) > 1
      AND check_kind IS NULL;
CREATE INDEX requests_check_queue ON requests(kind, priority DESC, created_at)
    WHERE state = 'active' AND n_waiting > 0 AND check_kind IS NOT NULL;
