-- The Ed25519 keys identity signs access tokens with (`alg: EdDSA`, named
-- by their RFC 7638 thumbprint `kid`). One is current (`retired_at IS
-- NULL`); a rotation retires it, and it stays published at
-- /.well-known/jwks.json until the tokens it signed have expired.
CREATE TABLE token_signing_keys (
    kid         TEXT PRIMARY KEY NOT NULL,
    -- The 32-byte Ed25519 seed.
    private_key BLOB NOT NULL,
    created_at  TEXT NOT NULL,
    retired_at  TEXT
) STRICT;

-- At most one current key, so replicas starting together agree on it.
CREATE UNIQUE INDEX token_signing_keys_one_current ON token_signing_keys ((retired_at IS NULL))
    WHERE retired_at IS NULL;
