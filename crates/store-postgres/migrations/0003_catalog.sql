-- Catalog context. JSON-shaped values (options, attributes, tags, image
-- renditions, opening hours) are TEXT holding JSON (as on SQLite, so one set of queries serves both): they are always read
-- and written whole with their row, never queried inside.
-- User ids (reviews, wishlists) have no foreign key: users belong to the
-- identity context, which may live in another database.

-- Bumped in every transaction that changes what the search index reflects;
-- the index stores the revision it was built from, so a stale or restored
-- index is detected at start.
CREATE TABLE catalog_revision (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    revision BIGINT NOT NULL
);
INSERT INTO catalog_revision (id, revision) VALUES (1, 0);

CREATE TABLE sellers (
    id                UUID PRIMARY KEY,
    name              TEXT NOT NULL,
    payout_wallet     TEXT,
    stripe_account_id TEXT,
    is_default        BOOLEAN NOT NULL DEFAULT FALSE,
    created_at        TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL
);
-- At most one default seller.
CREATE UNIQUE INDEX sellers_one_default ON sellers (is_default) WHERE is_default;

CREATE TABLE categories (
    id          UUID PRIMARY KEY,
    parent_id   UUID REFERENCES categories (id),
    slug        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    description TEXT,
    position    INTEGER NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX categories_parent ON categories (parent_id);

CREATE TABLE products (
    id          UUID PRIMARY KEY,
    slug        TEXT NOT NULL UNIQUE,
    title       TEXT NOT NULL,
    description TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('draft', 'active', 'archived')),
    seller_id   UUID NOT NULL REFERENCES sellers (id),
    category_id UUID REFERENCES categories (id),
    attributes  TEXT NOT NULL,
    tags        TEXT NOT NULL,
    options     TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX products_category ON products (category_id);
CREATE INDEX products_seller ON products (seller_id);

CREATE TABLE variants (
    id                UUID PRIMARY KEY,
    product_id        UUID NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    sku               TEXT NOT NULL UNIQUE,
    options           TEXT NOT NULL,
    price_amount      BIGINT NOT NULL CHECK (price_amount >= 0),
    currency          TEXT NOT NULL,
    compare_at_amount BIGINT,
    weight_grams      INTEGER,
    position          INTEGER NOT NULL,
    created_at        TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL
);
CREATE INDEX variants_product ON variants (product_id);

CREATE TABLE product_images (
    id         UUID PRIMARY KEY,
    product_id UUID NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    key        TEXT NOT NULL,
    alt        TEXT NOT NULL,
    width      INTEGER NOT NULL,
    height     INTEGER NOT NULL,
    renditions TEXT NOT NULL,
    position   INTEGER NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX product_images_product ON product_images (product_id);

CREATE TABLE reviews (
    id                UUID PRIMARY KEY,
    product_id        UUID NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    user_id           UUID NOT NULL,
    author_name       TEXT NOT NULL,
    rating            INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5),
    title             TEXT NOT NULL,
    body              TEXT NOT NULL,
    verified_purchase BOOLEAN NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('published', 'hidden')),
    created_at        TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL,
    -- One review per customer per product.
    UNIQUE (product_id, user_id)
);
CREATE INDEX reviews_status ON reviews (status, created_at);
-- Ratings and review lists of a product (the UNIQUE index above leads with
-- product_id too, but the planner must not prefer the status index).
CREATE INDEX reviews_product ON reviews (product_id, status);

CREATE TABLE wishlist_items (
    user_id    UUID NOT NULL,
    product_id UUID NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    added_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, product_id)
);

CREATE TABLE stores (
    id            UUID PRIMARY KEY,
    name          TEXT NOT NULL,
    line1         TEXT NOT NULL,
    line2         TEXT,
    city          TEXT NOT NULL,
    region        TEXT,
    postal_code   TEXT NOT NULL,
    country       TEXT NOT NULL,
    latitude      DOUBLE PRECISION NOT NULL,
    longitude     DOUBLE PRECISION NOT NULL,
    phone         TEXT,
    opening_hours TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);
