-- Inventory: stock per variant per location and the ledger of every change.
-- Timestamps are RFC 3339 TEXT, ids 16-byte BLOBs (as sqlx writes them).
CREATE TABLE inventory_locations (
    id         BLOB PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL,
    is_default INTEGER NOT NULL
);
INSERT INTO inventory_locations (id, name, is_default)
VALUES (X'00000000000070008000000000000001', 'Main', 1);

CREATE TABLE stock_levels (
    variant_id          BLOB NOT NULL,
    location_id         BLOB NOT NULL REFERENCES inventory_locations (id),
    sku                 TEXT NOT NULL,
    on_hand             INTEGER NOT NULL,
    reserved            INTEGER NOT NULL,
    low_stock_threshold INTEGER NOT NULL,
    updated_at          TEXT NOT NULL,
    PRIMARY KEY (variant_id, location_id),
    -- The rule that makes overselling impossible, enforced by the database too.
    CHECK (reserved >= 0 AND on_hand >= reserved),
    CHECK (low_stock_threshold >= 0)
);
CREATE INDEX stock_levels_sku ON stock_levels (sku);

CREATE TABLE stock_movements (
    id             BLOB PRIMARY KEY NOT NULL,
    variant_id     BLOB NOT NULL,
    location_id    BLOB NOT NULL,
    sku            TEXT NOT NULL,
    on_hand_delta  INTEGER NOT NULL,
    reserved_delta INTEGER NOT NULL,
    on_hand_after  INTEGER NOT NULL,
    reason         TEXT NOT NULL,
    actor          BLOB,
    reference      TEXT,
    note           TEXT,
    at             TEXT NOT NULL
);
CREATE INDEX stock_movements_variant ON stock_movements (variant_id, at);
