-- Sending notifications: the delivery log is also the send queue. A message
-- is `pending` until its channel's server takes it; `attempts` counts the
-- tries and `next_attempt_ms` (Unix milliseconds) is when it is due, pushed
-- past a claim window while a node is sending it. The log's unique key
-- gains the channel: a shipped order is an email and a text.
ALTER TABLE notifications ADD COLUMN html TEXT;
ALTER TABLE notifications ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE notifications ADD COLUMN next_attempt_ms BIGINT;
ALTER TABLE notifications ADD COLUMN sent_at TIMESTAMPTZ;
ALTER TABLE notifications DROP CONSTRAINT notifications_event_id_template_key;
ALTER TABLE notifications ADD CONSTRAINT notifications_once UNIQUE (event_id, template, channel);
CREATE INDEX notifications_due ON notifications (next_attempt_ms) WHERE status = 'pending';
