-- Inventory: stock per variant per location and the ledger of every change.
CREATE TABLE inventory_locations (
    id         UUID PRIMARY KEY,
    name       TEXT NOT NULL,
    is_default BOOLEAN NOT NULL
);
INSERT INTO inventory_locations (id, name, is_default)
VALUES ('00000000-0000-7000-8000-000000000001', 'Main', TRUE);

CREATE TABLE stock_levels (
    variant_id          UUID NOT NULL,
    location_id         UUID NOT NULL REFERENCES inventory_locations (id),
    sku                 TEXT NOT NULL,
    on_hand             BIGINT NOT NULL,
    reserved            BIGINT NOT NULL,
    low_stock_threshold BIGINT NOT NULL,
    updated_at          TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (variant_id, location_id),
    -- The rule that makes overselling impossible, enforced by the database too.
    CHECK (reserved >= 0 AND on_hand >= reserved),
    CHECK (low_stock_threshold >= 0)
);
CREATE INDEX stock_levels_sku ON stock_levels (sku);

CREATE TABLE stock_movements (
    id             UUID PRIMARY KEY,
    variant_id     UUID NOT NULL,
    location_id    UUID NOT NULL,
    sku            TEXT NOT NULL,
    on_hand_delta  BIGINT NOT NULL,
    reserved_delta BIGINT NOT NULL,
    on_hand_after  BIGINT NOT NULL,
    reason         TEXT NOT NULL,
    actor          UUID,
    reference      TEXT,
    note           TEXT,
    at             TIMESTAMPTZ NOT NULL
);
CREATE INDEX stock_movements_variant ON stock_movements (variant_id, at);
