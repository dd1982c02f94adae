//! Cart use cases: find or make the cart, add and change lines, codes, merge.

use super::{Customer, OrdersService, Purchasable, VariantRef, retrying};
use crate::cart::{Cart, CartLine, CartStatus, MAX_LINE_QUANTITY, MAX_LINES};
use crate::error::{CartError, OrdersError, Result, ShortLine};
use crate::pricing::DiscountCode;
use crate::store::{StockNeed, Stocked};
use base64::Engine as _;
use kernel::{Money, new_id};
use rand::RngCore as _;
use serde::Serialize;
use sha2::{Digest as _, Sha256};
use std::collections::HashMap;
use utoipa::ToSchema;
use uuid::Uuid;

/// A cart line with what the catalog and stock say now.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LineView {
    pub id: Uuid,
    pub variant_id: Uuid,
    pub product_id: Uuid,
    pub sku: String,
    pub title: String,
    pub quantity: i64,
    /// The price when the line was added.
    pub unit_price: Money,
    /// The catalogue price now; `null` when the variant is no longer for sale.
    pub current_price: Option<Money>,
    /// True when `current_price` differs from `unit_price`; checkout charges the current price.
    pub price_changed: bool,
    /// Units available now; `null` when stock is not tracked.
    pub available: Option<i64>,
    /// `current_price` (or `unit_price` when gone) × quantity.
    pub total: Money,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DiscountView {
    pub code: String,
    pub amount: Money,
    /// Why the code would not apply now, if it would not.
    pub problem: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CartView {
    pub id: Uuid,
    /// For guests: send it back as `X-Cart-Token`. Only shown when the cart was just made.
    pub cart_token: Option<String>,
    pub currency: Option<String>,
    pub lines: Vec<LineView>,
    pub item_count: i64,
    pub subtotal: Money,
    pub discount: Option<DiscountView>,
    pub discount_total: Money,
    /// Subtotal less discount, before shipping and tax (worked out at checkout).
    pub total: Money,
}

/// The version of a guest cart made in memory and not stored yet.
pub const UNSAVED: i64 = -1;

pub fn hash_token(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn check_quantity(quantity: i64) -> Result<()> {
    if (1..=MAX_LINE_QUANTITY).contains(&quantity) {
        Ok(())
    } else {
        Err(OrdersError::field("quantity", format!("must be between 1 and {MAX_LINE_QUANTITY}")))
    }
}

impl OrdersService {
    fn blank_cart(&self, user_id: Option<Uuid>, token_hash: Option<String>) -> Cart {
        let now = self.now();
        Cart {
            id: new_id(),
            token_hash,
            user_id,
            status: CartStatus::Active,
            lines: Vec::new(),
            discount_code: None,
            version: 0,
            created_at: now,
            updated_at: now,
        }
    }

    /// The customer's active cart, made when missing.
    async fn customer_cart(&self, user_id: Uuid) -> Result<Cart> {
        retrying(|| async {
            if let Some(cart) = self.store.active_cart_of(user_id).await? {
                return Ok(cart);
            }
            let cart = self.blank_cart(Some(user_id), None);
            self.store.insert_cart(&cart).await?;
            Ok(cart)
        })
        .await
    }

    /// The guest cart behind a token, if it is still active.
    pub async fn guest_cart(&self, token: &str) -> Result<Option<Cart>> {
        Ok(self.store.cart_by_token(&hash_token(token)).await?.filter(|c| c.status == CartStatus::Active))
    }

    /// The cart for this request: the customer's (merging a guest cart
    /// whose token came along), the guest's, or a new guest cart whose
    /// token is returned.
    pub async fn open_cart(&self, customer: Option<&Customer>, token: Option<&str>) -> Result<(Cart, Option<String>)> {
        let (cart, new_token) = self.open_cart_lazily(customer, token).await?;
        if cart.version == UNSAVED {
            let cart = Cart { version: 0, ..cart };
            self.store.insert_cart(&cart).await?;
            return Ok((cart, new_token));
        }
        Ok((cart, new_token))
    }

    /// As [`Self::open_cart`], but a new guest cart is not stored yet
    /// (`version == UNSAVED`): the first edit stores it with its first line,
    /// saving a round trip.
    pub async fn open_cart_lazily(
        &self,
        customer: Option<&Customer>,
        token: Option<&str>,
    ) -> Result<(Cart, Option<String>)> {
        if let Some(customer) = customer {
            if let Some(token) = token {
                self.merge_guest_cart(customer.user_id, token).await?;
            }
            return Ok((self.customer_cart(customer.user_id).await?, None));
        }
        if let Some(token) = token
            && let Some(cart) = self.guest_cart(token).await?
        {
            return Ok((cart, None));
        }
        let token = new_token();
        let cart = Cart { version: UNSAVED, ..self.blank_cart(None, Some(hash_token(&token))) };
        Ok((cart, Some(token)))
    }

    /// Folds an active guest cart into the customer's: quantities add,
    /// capped by availability and the per-line maximum. Runs at sign-in and
    /// whenever a signed-in request carries a guest token.
    pub async fn merge_guest_cart(&self, user_id: Uuid, token: &str) -> Result<()> {
        retrying(|| async {
            let Some(mut guest) = self.guest_cart(token).await? else { return Ok(()) };
            if guest.user_id.is_some() {
                return Ok(());
            }
            let mut mine = self.customer_cart(user_id).await?;
            let skus: Vec<String> = guest.lines.iter().map(|l| l.sku.clone()).collect();
            let available = self.available(&skus).await?;
            for line in &guest.lines {
                let cap = available.get(&line.sku).copied().unwrap_or(MAX_LINE_QUANTITY).min(MAX_LINE_QUANTITY);
                if let Some(existing) = mine.lines.iter_mut().find(|l| l.variant_id == line.variant_id) {
                    existing.quantity = (existing.quantity + line.quantity).min(cap.max(existing.quantity));
                } else if mine.lines.len() < MAX_LINES
                    && mine.currency().is_none_or(|c| c == line.unit_price.currency)
                    && cap > 0
                {
                    mine.lines.push(CartLine { quantity: line.quantity.min(cap), ..line.clone() });
                }
            }
            if mine.discount_code.is_none() {
                mine.discount_code = guest.discount_code.clone();
            }
            let now = self.now();
            mine.updated_at = now;
            guest.status = CartStatus::Merged;
            guest.updated_at = now;
            self.store.save_carts(&[mine, guest]).await
        })
        .await
    }

    /// Applies `edit` to the cart with optimistic retries and returns the
    /// result. The first attempt edits the cart as the caller read it; a lost
    /// race re-reads it.
    pub(super) async fn edit_cart<F>(&self, cart: &Cart, edit: F) -> Result<Cart>
    where
        F: Fn(&mut Cart) -> Result<()> + Send + Sync,
    {
        Ok(self.edit_cart_needing(cart, |cart| edit(cart).map(|()| None)).await?.0)
    }

    /// `edit_cart` for an edit that may need stock: when `edit` names a SKU
    /// and the units of it the edited cart holds, the cart is written only
    /// if that many are available (checked and written in one statement on
    /// PostgreSQL), else the answer is 409 `out_of_stock`. Also answers the
    /// availability read for that SKU (`None` inside: not tracked).
    async fn edit_cart_needing<F>(&self, cart: &Cart, edit: F) -> Result<(Cart, Option<(String, Option<i64>)>)>
    where
        F: Fn(&mut Cart) -> Result<Option<StockNeed>> + Send + Sync,
    {
        let first = std::sync::atomic::AtomicBool::new(true);
        retrying(|| async {
            let mut cart = if first.swap(false, std::sync::atomic::Ordering::Relaxed) {
                cart.clone()
            } else {
                self.store.cart(cart.id).await?.ok_or(OrdersError::NotFound("cart"))?
            };
            if cart.status != CartStatus::Active {
                return Err(OrdersError::CartClosed("this cart has been checked out; open a new one"));
            }
            let need = edit(&mut cart)?;
            cart.updated_at = self.now();
            let new = cart.version == UNSAVED;
            if new {
                cart.version = 0;
            }
            let known = match need {
                Some(need) => match self.store.write_cart_if_available(&cart, new, &need).await? {
                    Stocked::Written { available } => Some((need.sku, available)),
                    Stocked::Short { available } => {
                        return Err(OrdersError::OutOfStock(vec![ShortLine {
                            sku: need.sku,
                            variant_id: need.variant_id,
                            requested: need.wanted,
                            available,
                        }]));
                    }
                },
                None if new => {
                    self.store.insert_cart(&cart).await?;
                    None
                }
                None => {
                    self.store.save_carts(std::slice::from_ref(&cart)).await?;
                    None
                }
            };
            if !new {
                cart.version += 1;
            }
            Ok((cart, known))
        })
        .await
    }

    /// Adds a variant and answers the cart's view. Availability is checked
    /// by the cart's write itself and not read again for the view.
    pub async fn add_item(
        &self,
        cart: &Cart,
        variant: VariantRef,
        quantity: i64,
        token: Option<String>,
    ) -> Result<(Cart, CartView), CartError> {
        check_quantity(quantity)?;
        let p = self.purchasable(&variant).await?.ok_or(OrdersError::NotFound("variant"))?;
        let (cart, known) = self.add_line(cart, &p, quantity).await?;
        let view = self.view_knowing(&cart, token, &known.into_iter().collect()).await?;
        Ok((cart, view))
    }

    async fn add_line(
        &self,
        cart: &Cart,
        p: &Purchasable,
        quantity: i64,
    ) -> Result<(Cart, Option<(String, Option<i64>)>)> {
        let now = self.now();
        self.edit_cart_needing(cart, |cart| {
            if let Some(c) = cart.currency()
                && c != p.price.currency
            {
                return Err(OrdersError::field(
                    "variant_id",
                    format!("priced in {}, but this cart is in {c}", p.price.currency),
                ));
            }
            let existing = cart.line_for(p.variant_id).map_or(0, |l| l.quantity);
            let wanted = existing + quantity;
            if wanted > MAX_LINE_QUANTITY {
                return Err(OrdersError::field(
                    "quantity",
                    format!("at most {MAX_LINE_QUANTITY} per line; the cart already has {existing}"),
                ));
            }
            match cart.lines.iter_mut().find(|l| l.variant_id == p.variant_id) {
                Some(line) => line.quantity = wanted,
                None => {
                    if cart.lines.len() >= MAX_LINES {
                        return Err(OrdersError::field(
                            "variant_id",
                            format!("a cart holds at most {MAX_LINES} lines"),
                        ));
                    }
                    cart.lines.push(CartLine {
                        id: new_id(),
                        variant_id: p.variant_id,
                        product_id: p.product_id,
                        sku: p.sku.clone(),
                        title: p.title.clone(),
                        quantity,
                        unit_price: p.price,
                        added_at: now,
                    });
                }
            }
            Ok(Some(StockNeed { sku: p.sku.clone(), variant_id: p.variant_id, wanted }))
        })
        .await
    }

    /// Sets a line's quantity; 0 removes it. A rise is checked against the
    /// stock as the cart is written.
    pub async fn set_quantity(&self, cart: &Cart, line_id: Uuid, quantity: i64) -> Result<Cart, CartError> {
        if quantity != 0 {
            check_quantity(quantity)?;
        }
        let (cart, _) = self
            .edit_cart_needing(cart, |cart| {
                let index =
                    cart.lines.iter().position(|l| l.id == line_id).ok_or(OrdersError::NotFound("cart item"))?;
                let line = &mut cart.lines[index];
                let need = (quantity > line.quantity).then(|| StockNeed {
                    sku: line.sku.clone(),
                    variant_id: line.variant_id,
                    wanted: quantity,
                });
                if quantity == 0 {
                    cart.lines.remove(index);
                } else {
                    line.quantity = quantity;
                }
                Ok(need)
            })
            .await?;
        Ok(cart)
    }

    pub async fn apply_discount(&self, cart: &Cart, code: &str) -> Result<Cart, CartError> {
        let normalized = DiscountCode::normalize_code(code);
        let discount = self
            .store
            .discount_by_code(&normalized)
            .await?
            .ok_or_else(|| OrdersError::DiscountNotApplicable("no such discount code".into()))?;
        let view = self.view(cart, None).await?;
        discount.check(view.subtotal, self.now()).map_err(|e| CartError::DiscountNotApplicable(e.to_string()))?;
        let edited = self
            .edit_cart(cart, |cart| {
                cart.discount_code = Some(discount.code.clone());
                Ok(())
            })
            .await?;
        Ok(edited)
    }

    pub async fn remove_discount(&self, cart: &Cart) -> Result<Cart, CartError> {
        let edited = self
            .edit_cart(cart, |cart| {
                cart.discount_code = None;
                Ok(())
            })
            .await?;
        Ok(edited)
    }

    /// The current price of each line's variant (`None`: no longer for sale).
    async fn current_prices(&self, cart: &Cart) -> Result<HashMap<Uuid, Option<Purchasable>>> {
        let mut out = HashMap::new();
        for line in &cart.lines {
            out.insert(line.variant_id, self.purchasable(&VariantRef::Id(line.variant_id)).await?);
        }
        Ok(out)
    }

    /// The cart as the API shows it, priced now.
    pub async fn view(&self, cart: &Cart, token: Option<String>) -> Result<CartView> {
        self.view_knowing(cart, token, &HashMap::new()).await
    }

    /// `view`, taking the availability of the SKUs in `known` (`None`: not
    /// tracked) as just read instead of asking inventory again.
    async fn view_knowing(
        &self,
        cart: &Cart,
        token: Option<String>,
        known: &HashMap<String, Option<i64>>,
    ) -> Result<CartView> {
        let prices = self.current_prices(cart).await?;
        let skus: Vec<String> =
            cart.lines.iter().filter(|l| !known.contains_key(&l.sku)).map(|l| l.sku.clone()).collect();
        let mut available = if skus.is_empty() { HashMap::new() } else { self.available(&skus).await? };
        available.extend(known.iter().filter_map(|(sku, n)| n.map(|n| (sku.clone(), n))));
        let currency = cart.currency().unwrap_or(kernel::Currency::parse("USD").map_err(anyhow::Error::from)?);
        let mut lines = Vec::with_capacity(cart.lines.len());
        let mut subtotal = 0i64;
        for line in &cart.lines {
            let current = prices.get(&line.variant_id).cloned().flatten().map(|p| p.price);
            let price = current.unwrap_or(line.unit_price);
            let total = price.amount.saturating_mul(line.quantity);
            subtotal = subtotal.saturating_add(total);
            lines.push(LineView {
                id: line.id,
                variant_id: line.variant_id,
                product_id: line.product_id,
                sku: line.sku.clone(),
                title: line.title.clone(),
                quantity: line.quantity,
                unit_price: line.unit_price,
                current_price: current,
                price_changed: current.is_some_and(|c| c != line.unit_price),
                available: available.get(&line.sku).copied(),
                total: Money::new(total, price.currency),
            });
        }
        let subtotal = Money::new(subtotal, currency);
        let discount = match &cart.discount_code {
            None => None,
            Some(code) => Some(match self.store.discount_by_code(code).await? {
                Some(d) => {
                    let problem = d.check(subtotal, self.now()).err().map(|e| e.to_string());
                    let amount = if problem.is_some() { 0 } else { d.amount_off(subtotal.amount) };
                    DiscountView { code: code.clone(), amount: Money::new(amount, currency), problem }
                }
                None => DiscountView {
                    code: code.clone(),
                    amount: Money::new(0, currency),
                    problem: Some("this code no longer exists".into()),
                },
            }),
        };
        let discount_total = Money::new(discount.as_ref().map_or(0, |d| d.amount.amount), currency);
        Ok(CartView {
            id: cart.id,
            cart_token: token,
            currency: cart.currency().map(|c| c.to_string()),
            item_count: cart.lines.iter().map(|l| l.quantity).sum(),
            lines,
            subtotal,
            discount,
            discount_total,
            total: Money::new(subtotal.amount - discount_total.amount, currency),
        })
    }
}
