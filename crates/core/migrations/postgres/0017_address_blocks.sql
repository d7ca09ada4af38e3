-- Timeouts of client addresses by moderators (crates/core/src/horde/address_blocks.rs). No address
-- is stored: a block holds the address's keyed hashes for the periods whose secrets exist (this
-- one and the next), and is carried into the period after when the blocked client comes back.
CREATE TABLE address_blocks (
    id         TEXT PRIMARY KEY,
    until_ms   BIGINT NOT NULL,
    created_by BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    -- Set for the block of a worker's address (/operations/block_worker_ipaddr).
    worker_id  TEXT
);
CREATE INDEX address_blocks_worker ON address_blocks(worker_id) WHERE worker_id IS NOT NULL;

CREATE TABLE address_block_hashes (
    block_id TEXT NOT NULL,
    period   BIGINT NOT NULL,
    hash     TEXT NOT NULL,
    PRIMARY KEY (block_id, period)
);
CREATE INDEX address_block_hashes_period ON address_block_hashes(period, hash);

-- The keyed hashes of the address a worker last popped from, for that period and the next: what
-- a moderator's block of the worker's address blocks. Cleared once both periods are over.
ALTER TABLE workers ADD COLUMN address_period BIGINT;
ALTER TABLE workers ADD COLUMN address_hash TEXT;
ALTER TABLE workers ADD COLUMN address_hash_next TEXT;
