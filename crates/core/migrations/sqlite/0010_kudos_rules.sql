-- The AI Horde's kudos and matching rules (crates/core/src/kudos.rs, matching.rs).

-- What a request's kudos depend on (kudos::ImagePricing for images, the prompt's context
-- tokens for text), so that its estimate, rewards and charges are computed alike.
ALTER TABLE requests ADD COLUMN pricing TEXT;
-- Kudos its requester had to hold when it was queued, still reserved: spent as it is charged,
-- released when it is no longer active.
ALTER TABLE requests ADD COLUMN upfront_kudos INTEGER NOT NULL DEFAULT 0;
-- The requester's choices of workers: slow ones (below a speed), extra slow ones (that said
-- so), only validated text back ends; and whether a worker may take several at once.
ALTER TABLE requests ADD COLUMN slow_workers INTEGER NOT NULL DEFAULT 1;
ALTER TABLE requests ADD COLUMN extra_slow_workers INTEGER NOT NULL DEFAULT 0;
ALTER TABLE requests ADD COLUMN validated_backends INTEGER NOT NULL DEFAULT 0;
ALTER TABLE requests ADD COLUMN disable_batching INTEGER NOT NULL DEFAULT 0;

-- What an image worker said of itself on its latest pop, besides what it already did, and what
-- any worker said of its pace and of whose requests it takes.
ALTER TABLE workers ADD COLUMN allow_sdxl_controlnet INTEGER NOT NULL DEFAULT 0;
ALTER TABLE workers ADD COLUMN limit_max_steps INTEGER NOT NULL DEFAULT 0;
ALTER TABLE workers ADD COLUMN extra_slow_worker INTEGER NOT NULL DEFAULT 0;
ALTER TABLE workers ADD COLUMN require_upfront_kudos INTEGER NOT NULL DEFAULT 0;
