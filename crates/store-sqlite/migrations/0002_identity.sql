-- Identity context. Emails are stored normalised (trimmed, lower-case) by
-- the domain, so a plain UNIQUE constraint is case-insensitive in effect.
-- Erased accounts keep their row (orders refer to the id) with a tombstone
-- email and no personal data.
CREATE TABLE users (
    id            BLOB PRIMARY KEY NOT NULL,
    email         TEXT NOT NULL UNIQUE,
    full_name     TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('customer', 'staff', 'admin', 'superadmin')),
    suspended     INTEGER NOT NULL DEFAULT 0 CHECK (suspended IN (0, 1)),
    password_hash TEXT,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    deleted_at    TEXT
) STRICT;

-- Only a SHA-256 digest of a refresh token is kept. A family is one
-- sign-in: every rotation adds a token to it, and re-use of a spent token
-- revokes them all.
CREATE TABLE refresh_tokens (
    id         BLOB PRIMARY KEY NOT NULL,
    family_id  BLOB NOT NULL,
    user_id    BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash BLOB NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    spent_at   TEXT,
    revoked_at TEXT
) STRICT;

CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);

CREATE TABLE addresses (
    id                  BLOB PRIMARY KEY NOT NULL,
    user_id             BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    full_name           TEXT NOT NULL,
    line1               TEXT NOT NULL,
    line2               TEXT,
    city                TEXT NOT NULL,
    region              TEXT,
    postal_code         TEXT NOT NULL,
    country             TEXT NOT NULL,
    phone               TEXT,
    is_default_shipping INTEGER NOT NULL DEFAULT 0 CHECK (is_default_shipping IN (0, 1)),
    is_default_billing  INTEGER NOT NULL DEFAULT 0 CHECK (is_default_billing IN (0, 1)),
    created_at          TEXT NOT NULL
) STRICT;

CREATE INDEX addresses_user ON addresses (user_id);
-- At most one default of each kind per user, enforced by the database.
CREATE UNIQUE INDEX addresses_one_default_shipping ON addresses (user_id) WHERE is_default_shipping;
CREATE UNIQUE INDEX addresses_one_default_billing ON addresses (user_id) WHERE is_default_billing;
