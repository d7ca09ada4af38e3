-- Alchemy (crates/core/src/horde/alchemy.rs): an interrogation is one image and the forms asked of
-- it (a caption, an upscale, ...). Each form is a request of its own, of kind 'interrogation',
-- which an alchemist pops alone; `group_id` is the id of the interrogation its forms share.
ALTER TABLE requests ADD COLUMN group_id TEXT;
CREATE INDEX requests_group ON requests(group_id) WHERE group_id IS NOT NULL;

-- The image an interrogation's forms work on, served to the alchemists that hold one of them.
-- It is content, like a prompt: deleted once every form of its interrogation is purged.
CREATE TABLE interrogation_images (
    interrogation_id TEXT PRIMARY KEY,
    image            BLOB NOT NULL
);

-- Where the results of a request's jobs are POSTed as they finish (text, image and alchemy);
-- purged with the prompt.
ALTER TABLE requests ADD COLUMN webhook TEXT;

-- An account's interrogation forms requested, and forms its alchemists delivered.
ALTER TABLE users ADD COLUMN requests_interrogation INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN fulfillments_interrogation INTEGER NOT NULL DEFAULT 0;
