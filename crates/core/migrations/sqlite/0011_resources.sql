-- Styles, collections, shared keys, aesthetic ratings and the generation counters of
-- /api/v2/stats (crates/core/src/horde/styles.rs, shared_keys.rs, ratings.rs, stats.rs).

-- A key an account lends to others: they spend its owner's kudos, up to its limit. Only the
-- key's hash is stored, as for API keys; `kudos` is what is left to spend (hundredths), none
-- for no limit; the per-job limits are -1 for none.
CREATE TABLE shared_keys (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    key_hash         TEXT    NOT NULL UNIQUE,
    user_id          INTEGER NOT NULL REFERENCES users(id),
    name             TEXT,
    kudos            INTEGER,
    utilized         INTEGER NOT NULL DEFAULT 0,
    expires_at       INTEGER,
    max_image_pixels INTEGER NOT NULL DEFAULT -1,
    max_image_steps  INTEGER NOT NULL DEFAULT -1,
    max_text_tokens  INTEGER NOT NULL DEFAULT -1,
    created_at       INTEGER NOT NULL
);
CREATE INDEX shared_keys_user ON shared_keys(user_id);

-- The shared key a request spends (no foreign key: a deleted key's requests are cancelled
-- with it, and their jobs in progress still finish).
ALTER TABLE requests ADD COLUMN shared_key_id INTEGER;
CREATE INDEX requests_shared_key ON requests(shared_key_id) WHERE shared_key_id IS NOT NULL;

-- A prompt template with parameters and models that requests can name (`style`).
CREATE TABLE styles (
    id            TEXT    PRIMARY KEY,
    kind          TEXT    NOT NULL,
    user_id       INTEGER NOT NULL REFERENCES users(id),
    name          TEXT    NOT NULL,
    info          TEXT,
    prompt        TEXT    NOT NULL,
    params        TEXT    NOT NULL DEFAULT '{}',
    public        INTEGER NOT NULL DEFAULT 1,
    nsfw          INTEGER NOT NULL DEFAULT 0,
    shared_key_id INTEGER REFERENCES shared_keys(id) ON DELETE SET NULL,
    use_count     INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    UNIQUE (user_id, name)
);
CREATE INDEX styles_listed ON styles(kind, public, use_count);
CREATE INDEX styles_name ON styles(name);
CREATE TABLE style_models (
    style_id TEXT NOT NULL REFERENCES styles(id) ON DELETE CASCADE,
    model    TEXT NOT NULL,
    PRIMARY KEY (style_id, model)
);
CREATE INDEX style_models_model ON style_models(model);
CREATE TABLE style_tags (
    style_id TEXT NOT NULL REFERENCES styles(id) ON DELETE CASCADE,
    tag      TEXT NOT NULL,
    PRIMARY KEY (style_id, tag)
);
CREATE INDEX style_tags_tag ON style_tags(tag);
CREATE TABLE style_examples (
    id         TEXT    PRIMARY KEY,
    style_id   TEXT    NOT NULL REFERENCES styles(id) ON DELETE CASCADE,
    url        TEXT    NOT NULL,
    is_primary INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);
CREATE INDEX style_examples_style ON style_examples(style_id);

-- Styles of one kind grouped under a name; a request naming it gets one of them at random.
CREATE TABLE style_collections (
    id         TEXT    PRIMARY KEY,
    kind       TEXT    NOT NULL,
    user_id    INTEGER NOT NULL REFERENCES users(id),
    name       TEXT    NOT NULL,
    info       TEXT,
    public     INTEGER NOT NULL DEFAULT 1,
    use_count  INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    UNIQUE (user_id, name)
);
CREATE INDEX style_collections_listed ON style_collections(public, use_count);
CREATE INDEX style_collections_name ON style_collections(name);
CREATE TABLE style_collection_members (
    collection_id TEXT    NOT NULL REFERENCES style_collections(id) ON DELETE CASCADE,
    style_id      TEXT    NOT NULL REFERENCES styles(id) ON DELETE CASCADE,
    position      INTEGER NOT NULL,
    PRIMARY KEY (collection_id, style_id)
);
CREATE INDEX style_collection_members_style ON style_collection_members(style_id);

-- Aesthetic ratings of a shared image request's images, once per request; nobody's identity.
-- They go with the request's row.
CREATE TABLE aesthetic_sets (
    request_id  TEXT    PRIMARY KEY REFERENCES requests(id) ON DELETE CASCADE,
    best_job_id TEXT,
    reward      INTEGER NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE TABLE aesthetic_ratings (
    request_id TEXT    NOT NULL REFERENCES aesthetic_sets(request_id) ON DELETE CASCADE,
    job_id     TEXT    NOT NULL,
    rating     INTEGER NOT NULL,
    artifacts  INTEGER,
    PRIMARY KEY (request_id, job_id)
);

-- Generations finished per kind, model and period, counted when each finishes: they outlive
-- the requests (deleted after the history window) and hold no personal data. `span` is
-- `minute` (bucket: the minute's start), folded into `hour` rows after two hours, and those
-- into one `total` row per model (bucket 0) after 31 days. `things`: tokens or pixelsteps.
CREATE TABLE generation_stats (
    kind        TEXT    NOT NULL,
    model       TEXT    NOT NULL,
    span        TEXT    NOT NULL,
    bucket      INTEGER NOT NULL,
    generations INTEGER NOT NULL,
    things      INTEGER NOT NULL,
    PRIMARY KEY (kind, span, bucket, model)
);
