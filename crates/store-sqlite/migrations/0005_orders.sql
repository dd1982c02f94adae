-- Carts, discount codes, shipping methods, tax rates, checkouts, orders,
-- payments and stock reservations. Aggregates are stored as JSON documents
-- (`doc`) beside the columns that queries filter, join or lock on.
-- Expiry instants are integer Unix milliseconds so they compare as numbers.
CREATE TABLE carts (
    id         BLOB PRIMARY KEY NOT NULL,
    token_hash TEXT UNIQUE,
    user_id    BLOB,
    status     TEXT NOT NULL,
    version    INTEGER NOT NULL,
    doc        TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
-- One active cart per customer.
CREATE UNIQUE INDEX carts_active_user ON carts (user_id) WHERE status = 'active' AND user_id IS NOT NULL;

CREATE TABLE discount_codes (
    id          BLOB PRIMARY KEY NOT NULL,
    code        TEXT NOT NULL UNIQUE,
    times_used  INTEGER NOT NULL CHECK (times_used >= 0),
    usage_limit INTEGER,
    doc         TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE TABLE discount_redemptions (
    checkout_id  BLOB PRIMARY KEY NOT NULL,
    code_id      BLOB NOT NULL,
    customer_key TEXT NOT NULL
);
CREATE INDEX discount_redemptions_customer ON discount_redemptions (code_id, customer_key);

CREATE TABLE shipping_methods (
    id       BLOB PRIMARY KEY NOT NULL,
    code     TEXT NOT NULL UNIQUE,
    position INTEGER NOT NULL,
    doc      TEXT NOT NULL
);

CREATE TABLE tax_rates (
    id      BLOB PRIMARY KEY NOT NULL,
    country TEXT NOT NULL,
    -- '' for the whole country.
    region  TEXT NOT NULL,
    doc     TEXT NOT NULL,
    UNIQUE (country, region)
);

CREATE TABLE checkouts (
    id               BLOB PRIMARY KEY NOT NULL,
    -- Idempotency keys are per customer (`user:…`) or per guest cart (`cart:…`).
    scope            TEXT NOT NULL,
    idempotency_key  TEXT NOT NULL,
    request_hash     TEXT NOT NULL,
    cart_id          BLOB NOT NULL,
    user_id          BLOB,
    email            TEXT NOT NULL,
    discount_code_id BLOB,
    version          INTEGER NOT NULL,
    created_at       TEXT NOT NULL,
    UNIQUE (scope, idempotency_key)
);

CREATE TABLE order_numbers (n INTEGER PRIMARY KEY AUTOINCREMENT);

CREATE TABLE orders (
    id          BLOB PRIMARY KEY NOT NULL,
    number      TEXT NOT NULL UNIQUE,
    checkout_id BLOB NOT NULL REFERENCES checkouts (id),
    user_id     BLOB,
    email       TEXT NOT NULL,
    status      TEXT NOT NULL,
    doc         TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE INDEX orders_checkout ON orders (checkout_id);
CREATE INDEX orders_user ON orders (user_id, id);
CREATE INDEX orders_status ON orders (status, id);

CREATE TABLE payments (
    id            BLOB PRIMARY KEY NOT NULL,
    checkout_id   BLOB NOT NULL UNIQUE REFERENCES checkouts (id),
    status        TEXT NOT NULL,
    expires_at_ms INTEGER NOT NULL,
    doc           TEXT NOT NULL
);
CREATE INDEX payments_due ON payments (status, expires_at_ms);

CREATE TABLE reservations (
    id            BLOB PRIMARY KEY NOT NULL,
    checkout_id   BLOB NOT NULL REFERENCES checkouts (id),
    order_id      BLOB NOT NULL,
    variant_id    BLOB NOT NULL,
    location_id   BLOB NOT NULL,
    sku           TEXT NOT NULL,
    quantity      INTEGER NOT NULL CHECK (quantity > 0),
    status        TEXT NOT NULL,
    expires_at_ms INTEGER NOT NULL,
    created_at    TEXT NOT NULL
);
CREATE INDEX reservations_checkout ON reservations (checkout_id);
CREATE INDEX reservations_status ON reservations (status);
