-- Carts, discount codes, shipping methods, tax rates, checkouts, orders,
-- payments and stock reservations. Aggregates are stored as JSON documents
-- (`doc`) beside the columns that queries filter, join or lock on.
-- Expiry instants are integer Unix milliseconds (as on SQLite).
CREATE TABLE carts (
    id         UUID PRIMARY KEY,
    token_hash TEXT UNIQUE,
    user_id    UUID,
    status     TEXT NOT NULL,
    version    BIGINT NOT NULL,
    doc        JSONB NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
-- One active cart per customer.
CREATE UNIQUE INDEX carts_active_user ON carts (user_id) WHERE status = 'active' AND user_id IS NOT NULL;

CREATE TABLE discount_codes (
    id          UUID PRIMARY KEY,
    code        TEXT NOT NULL UNIQUE,
    times_used  BIGINT NOT NULL CHECK (times_used >= 0),
    usage_limit BIGINT,
    doc         JSONB NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE TABLE discount_redemptions (
    checkout_id  UUID PRIMARY KEY,
    code_id      UUID NOT NULL,
    customer_key TEXT NOT NULL
);
CREATE INDEX discount_redemptions_customer ON discount_redemptions (code_id, customer_key);

CREATE TABLE shipping_methods (
    id       UUID PRIMARY KEY,
    code     TEXT NOT NULL UNIQUE,
    position BIGINT NOT NULL,
    doc      JSONB NOT NULL
);

CREATE TABLE tax_rates (
    id      UUID PRIMARY KEY,
    country TEXT NOT NULL,
    -- '' for the whole country.
    region  TEXT NOT NULL,
    doc     JSONB NOT NULL,
    UNIQUE (country, region)
);

CREATE TABLE checkouts (
    id               UUID PRIMARY KEY,
    -- Idempotency keys are per customer (`user:…`) or per guest cart (`cart:…`).
    scope            TEXT NOT NULL,
    idempotency_key  TEXT NOT NULL,
    request_hash     TEXT NOT NULL,
    cart_id          UUID NOT NULL,
    user_id          UUID,
    email            TEXT NOT NULL,
    discount_code_id UUID,
    version          BIGINT NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL,
    UNIQUE (scope, idempotency_key)
);

CREATE SEQUENCE order_numbers START 1;

CREATE TABLE orders (
    id          UUID PRIMARY KEY,
    number      TEXT NOT NULL UNIQUE,
    checkout_id UUID NOT NULL REFERENCES checkouts (id),
    user_id     UUID,
    email       TEXT NOT NULL,
    status      TEXT NOT NULL,
    doc         JSONB NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX orders_checkout ON orders (checkout_id);
CREATE INDEX orders_user ON orders (user_id, id);
CREATE INDEX orders_status ON orders (status, id);

CREATE TABLE payments (
    id            UUID PRIMARY KEY,
    checkout_id   UUID NOT NULL UNIQUE REFERENCES checkouts (id),
    status        TEXT NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    doc           JSONB NOT NULL
);
CREATE INDEX payments_due ON payments (status, expires_at_ms);

CREATE TABLE reservations (
    id            UUID PRIMARY KEY,
    checkout_id   UUID NOT NULL REFERENCES checkouts (id),
    order_id      UUID NOT NULL,
    variant_id    UUID NOT NULL,
    location_id   UUID NOT NULL,
    sku           TEXT NOT NULL,
    quantity      BIGINT NOT NULL CHECK (quantity > 0),
    status        TEXT NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX reservations_checkout ON reservations (checkout_id);
CREATE INDEX reservations_status ON reservations (status);
