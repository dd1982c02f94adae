-- Transactional outbox: a context inserts its event here in the same
-- transaction as the change it describes; the relay publishes and stamps it.
-- Ids are UUIDv7, so ORDER BY id is time order.
CREATE TABLE outbox (
    id           UUID PRIMARY KEY,
    topic        TEXT NOT NULL,
    aggregate_id UUID NOT NULL,
    occurred_at  TIMESTAMPTZ NOT NULL,
    payload      JSONB NOT NULL,
    published_at TIMESTAMPTZ,
    attempts     BIGINT NOT NULL DEFAULT 0,
    last_error   TEXT
);

-- The relay's scan touches only unpublished rows.
CREATE INDEX outbox_pending ON outbox (id) WHERE published_at IS NULL;

-- Consumer-side deduplication: delivery is at-least-once.
CREATE TABLE processed_events (
    consumer     TEXT NOT NULL,
    event_id     UUID NOT NULL,
    processed_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (consumer, event_id)
);
