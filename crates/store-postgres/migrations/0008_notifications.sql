-- The notifications context's delivery log: one row per message, unique per
-- (event, template) so a redelivered event sends nothing twice.
CREATE TABLE notifications (
    id         UUID PRIMARY KEY,
    event_id   UUID NOT NULL,
    template   TEXT NOT NULL,
    channel    TEXT NOT NULL,
    recipient  TEXT NOT NULL,
    user_id    UUID,
    subject    TEXT NOT NULL,
    body       TEXT NOT NULL,
    status     TEXT NOT NULL,
    transport  TEXT NOT NULL,
    error      TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    UNIQUE (event_id, template)
);
