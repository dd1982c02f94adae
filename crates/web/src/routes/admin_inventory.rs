//! `/api/v1/admin/inventory`: stock levels by SKU, adjustments and the ledger.
//! SKUs are resolved to variants through the catalog; inventory keys by variant.

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{Can, Json, Path, Query, permit};
use crate::state::AppState;
use axum::extract::State;
use inventory::{LevelFilter, Movement, StockLevel};
use kernel::{Page, PageRequest};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_levels))
        .routes(routes!(get_level, set_level))
        .routes(routes!(adjust))
        .routes(routes!(movements))
}

/// A variant's stock at a location, as the admin sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct LevelView {
    pub sku: String,
    pub variant_id: Uuid,
    pub location_id: Uuid,
    /// False when the variant's stock is not tracked (always available).
    pub tracked: bool,
    pub on_hand: i64,
    pub reserved: i64,
    /// `on_hand − reserved`; `null` when not tracked.
    pub available: Option<i64>,
    pub low_stock_threshold: i64,
    pub low_stock: bool,
    #[serde(with = "time::serde::rfc3339::option")]
    pub updated_at: Option<OffsetDateTime>,
}

impl From<StockLevel> for LevelView {
    fn from(l: StockLevel) -> Self {
        LevelView {
            available: Some(l.available()),
            low_stock: l.is_low(),
            sku: l.sku,
            variant_id: l.variant_id,
            location_id: l.location_id,
            tracked: true,
            on_hand: l.on_hand,
            reserved: l.reserved,
            low_stock_threshold: l.low_stock_threshold,
            updated_at: Some(l.updated_at),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct LevelQuery {
    /// Only levels at or below their low-stock threshold.
    #[serde(default)]
    pub low_stock: bool,
    /// Substring of the SKU.
    pub q: Option<String>,
    pub page: Option<u32>,
    pub per_page: Option<u32>,
}

#[utoipa::path(get, path = "/admin/inventory", tag = "admin", security(("bearer" = [])), params(LevelQuery),
    responses((status = 200, body = Page<LevelView>), (status = 403, body = ErrorBody)))]
pub async fn list_levels(
    State(state): State<AppState>,
    _: Can<permit::ReadInventory>,
    Query(query): Query<LevelQuery>,
) -> ApiResult<Json<Page<LevelView>>> {
    let filter = LevelFilter { low_stock: query.low_stock, q: query.q.filter(|q| !q.trim().is_empty()) };
    let spec = PageRequest { page: query.page, per_page: query.per_page }.validate()?;
    let page = state.inventory.levels(&filter, spec).await?;
    let items = page.items.into_iter().map(LevelView::from).collect();
    Ok(Json(Page { items, page: page.page, per_page: page.per_page, total: page.total }))
}

async fn view(state: &AppState, variant_id: Uuid, sku: String) -> ApiResult<LevelView> {
    Ok(match state.inventory.level(variant_id).await? {
        Some(level) => level.into(),
        None => LevelView {
            sku,
            variant_id,
            location_id: inventory::DEFAULT_LOCATION,
            tracked: false,
            on_hand: 0,
            reserved: 0,
            available: None,
            low_stock_threshold: inventory::DEFAULT_LOW_STOCK_THRESHOLD,
            low_stock: false,
            updated_at: None,
        },
    })
}

#[utoipa::path(get, path = "/admin/inventory/{sku}", tag = "admin", security(("bearer" = [])),
    params(("sku" = String, Path)),
    responses((status = 200, body = LevelView), (status = 404, description = "Unknown SKU", body = ErrorBody)))]
pub async fn get_level(
    State(state): State<AppState>,
    _: Can<permit::ReadInventory>,
    Path(sku): Path<String>,
) -> ApiResult<Json<LevelView>> {
    let variant = state.catalog.variant_by_sku(&sku).await?;
    Ok(Json(view(&state, variant.id, variant.sku).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetLevel {
    pub on_hand: i64,
    pub low_stock_threshold: Option<i64>,
    /// Only the default location exists yet; naming another is 422.
    pub location: Option<Uuid>,
    /// Why (a stock take, a recount…), kept in the ledger.
    pub note: Option<String>,
}

/// Set the on-hand count (a stock take); starts tracking the variant.
#[utoipa::path(put, path = "/admin/inventory/{sku}", tag = "admin", security(("bearer" = [])),
    params(("sku" = String, Path)), request_body = SetLevel,
    responses((status = 200, body = LevelView), (status = 404, body = ErrorBody),
        (status = 409, description = "Below what is reserved", body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_level(
    State(state): State<AppState>,
    Can(actor, _): Can<permit::WriteInventory>,
    Path(sku): Path<String>,
    Json(body): Json<SetLevel>,
) -> ApiResult<Json<LevelView>> {
    if body.location.is_some_and(|l| l != inventory::DEFAULT_LOCATION) {
        return Err(crate::ApiError::field("location", "unknown location; only the default location exists"));
    }
    let variant = state.catalog.variant_by_sku(&sku).await?;
    let origin = inventory::service::Origin { actor: Some(actor.id), note: body.note, reference: None };
    let level = state.inventory.set(variant.id, &variant.sku, body.on_hand, body.low_stock_threshold, origin).await?;
    Ok(Json(level.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Adjustment {
    /// Units to add (negative removes).
    pub delta: i64,
    pub reason: String,
}

/// Add or remove units, with a reason for the ledger.
#[utoipa::path(post, path = "/admin/inventory/{sku}/adjustments", tag = "admin", security(("bearer" = [])),
    params(("sku" = String, Path)), request_body = Adjustment,
    responses((status = 200, body = LevelView), (status = 404, body = ErrorBody),
        (status = 409, description = "Would leave less than is reserved, or below zero", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn adjust(
    State(state): State<AppState>,
    Can(actor, _): Can<permit::WriteInventory>,
    Path(sku): Path<String>,
    Json(body): Json<Adjustment>,
) -> ApiResult<Json<LevelView>> {
    let variant = state.catalog.variant_by_sku(&sku).await?;
    let level = state.inventory.adjust(variant.id, &variant.sku, body.delta, &body.reason, Some(actor.id)).await?;
    Ok(Json(level.into()))
}

/// The ledger of a SKU, newest first.
#[utoipa::path(get, path = "/admin/inventory/{sku}/movements", tag = "admin", security(("bearer" = [])),
    params(("sku" = String, Path), PageRequest),
    responses((status = 200, body = Page<Movement>), (status = 404, body = ErrorBody)))]
pub async fn movements(
    State(state): State<AppState>,
    _: Can<permit::ReadInventory>,
    Path(sku): Path<String>,
    Query(page): Query<PageRequest>,
) -> ApiResult<Json<Page<Movement>>> {
    let spec = page.validate()?;
    let variant = state.catalog.variant_by_sku(&sku).await?;
    Ok(Json(state.inventory.movements(variant.id, spec).await?))
}
