-- Transactional outbox: a context inserts its event here in the same
-- transaction as the change it describes; the relay publishes and stamps it.
-- Ids are UUIDv7 stored as 16-byte blobs, so ORDER BY id is time order.
CREATE TABLE outbox (
    id           BLOB PRIMARY KEY NOT NULL,
    topic        TEXT NOT NULL,
    aggregate_id BLOB NOT NULL,
    occurred_at  TEXT NOT NULL,
    payload      TEXT NOT NULL,
    published_at TEXT,
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT
) STRICT;

-- The relay's scan touches only unpublished rows.
CREATE INDEX outbox_pending ON outbox (id) WHERE published_at IS NULL;

-- Consumer-side deduplication: delivery is at-least-once.
CREATE TABLE processed_events (
    consumer     TEXT NOT NULL,
    event_id     BLOB NOT NULL,
    processed_at TEXT NOT NULL,
    PRIMARY KEY (consumer, event_id)
) STRICT, WITHOUT ROWID;
