-- Leases: one holder at a time for work that several nodes could do but
-- only one should (the outbox relay), taken and renewed by the holder and
-- free once `until_ms` (Unix milliseconds) has passed.
CREATE TABLE leases (
    name     TEXT PRIMARY KEY,
    holder   TEXT NOT NULL,
    until_ms BIGINT NOT NULL
);
