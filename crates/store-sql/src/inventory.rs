/// Inventory's figure for the units of the SKU bound at `sku_param` that
/// are available, as a scalar subquery: on hand less reserved over every
/// location, NULL when the SKU has no stock row (not tracked). Orders
/// compose it into a cart write, as the checkout composes `hold_units`.
pub fn available_of_sku(sku_param: &str) -> String {
    format!("(SELECT CAST(SUM(on_hand - reserved) AS BIGINT) FROM stock_levels WHERE sku = {sku_param})")
}
