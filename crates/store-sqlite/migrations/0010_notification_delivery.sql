-- Sending notifications: the delivery log is also the send queue. A message
-- is `pending` until its channel's server takes it; `attempts` counts the
-- tries and `next_attempt_ms` (Unix milliseconds) is when it is due, pushed
-- past a claim window while a node is sending it. The log's unique key
-- gains the channel (a shipped order is an email and a text), which SQLite
-- can only change by rebuilding the table.
CREATE TABLE notifications_new (
    id              BLOB PRIMARY KEY NOT NULL,
    event_id        BLOB NOT NULL,
    template        TEXT NOT NULL,
    channel         TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    user_id         BLOB,
    subject         TEXT NOT NULL,
    body            TEXT NOT NULL,
    html            TEXT,
    status          TEXT NOT NULL,
    transport       TEXT NOT NULL,
    error           TEXT,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms BIGINT,
    sent_at         TEXT,
    created_at      TEXT NOT NULL,
    UNIQUE (event_id, template, channel)
);
INSERT INTO notifications_new (id, event_id, template, channel, recipient, user_id, subject, body, status,
                               transport, error, created_at)
SELECT id, event_id, template, channel, recipient, user_id, subject, body, status, transport, error, created_at
FROM notifications;
DROP TABLE notifications;
ALTER TABLE notifications_new RENAME TO notifications;
CREATE INDEX notifications_due ON notifications (next_attempt_ms) WHERE status = 'pending';
