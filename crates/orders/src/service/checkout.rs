//! `POST /checkout`: the saga of DESIGN.md §3, steps 1–4.

mod request;

use super::{Customer, OrdersService, Purchasable, VariantRef, decisions};
use crate::cart::{Cart, CartStatus};
use crate::error::PriceChange;
use crate::error::{CheckoutError, OrdersError, Result};
use crate::model::*;
use crate::payment::*;
use crate::pricing::{self, DiscountCode};
use crate::store::{Hold, Placed, Placement, Redemption};
use kernel::{Money, new_id};
use request::Checked;
pub use request::{CheckoutRequest, MAX_IDEMPOTENCY_KEY, check_idempotency_key};
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

/// A placed checkout, as data (`web` gives it its JSON shape).
#[derive(Debug, Clone)]
pub struct PlacedCheckout {
    pub checkout_id: Uuid,
    pub orders: Vec<Order>,
    pub payment: Payment,
    /// True when this answers a repeat of an earlier request with the same `Idempotency-Key`.
    pub replayed: bool,
}

impl PlacedCheckout {
    pub fn of(state: &CheckoutState, replayed: bool) -> Self {
        PlacedCheckout { checkout_id: state.id, orders: state.orders.clone(), payment: state.payment.clone(), replayed }
    }
}

impl OrdersService {
    /// Places a checkout for the cart: one order per seller, stock held
    /// all-or-nothing, one payment. Exactly once per `idempotency_key`.
    pub async fn checkout(
        &self,
        customer: Option<&Customer>,
        cart: &Cart,
        idempotency_key: &str,
        request: CheckoutRequest,
    ) -> Result<PlacedCheckout, CheckoutError> {
        self.checkout_cart(customer, cart, idempotency_key, request).await
    }

    /// The guest cart behind `token` for its checkout (see
    /// `OrdersStore::cart_for_checkout`), for [`Self::checkout_cart`].
    pub async fn guest_cart_for_checkout(&self, token: &str) -> Result<Option<Cart>> {
        self.store.cart_for_checkout(&super::carts::hash_token(token)).await
    }

    /// Places the checkout of `cart` as it was read; a key used before
    /// answers the checkout it placed.
    pub async fn checkout_cart(
        &self,
        customer: Option<&Customer>,
        cart: &Cart,
        idempotency_key: &str,
        request: CheckoutRequest,
    ) -> Result<PlacedCheckout, CheckoutError> {
        Ok(self.place_or_replay(customer, cart, idempotency_key, request).await?)
    }

    /// A refusal is final only for the cart as it is: if the cart moved on
    /// since it was read (another request changed it, or the store answered
    /// from a copy it kept), the checkout runs again on the cart as read now.
    async fn place_or_replay(
        &self,
        customer: Option<&Customer>,
        cart: &Cart,
        idempotency_key: &str,
        request: CheckoutRequest,
    ) -> Result<PlacedCheckout> {
        let body = serde_json::to_vec(&request).map_err(anyhow::Error::from)?;
        let request_hash: String = Sha256::digest(&body).iter().map(|b| format!("{b:02x}")).collect();
        let now = self.now();
        let scope = customer.map_or_else(|| format!("cart:{}", cart.id), |c| format!("user:{}", c.user_id));
        // The first request with a key (nearly every one) goes straight to placing the checkout,
        // where the key's insert finds a repeat; a repeat that fails before that point (its cart
        // is converted, a price moved since) is answered from the earlier checkout instead.
        let placed = match self.place(customer, cart, idempotency_key, &request, &scope, &request_hash, now).await {
            // The cart moved on after it was read: once more with the cart as it is now.
            Err(OrdersError::Contended) => match self.store.cart(cart.id).await? {
                Some(now_cart) => {
                    self.place(customer, &now_cart, idempotency_key, &request, &scope, &request_hash, now).await
                }
                None => Err(OrdersError::NotFound("cart")),
            },
            // A refusal decided on a copy that is no longer the cart is
            // decided again. A `cart_changed` stands: it comes only after
            // its refresh was written at the version priced, so the copy was exact.
            Err(e) if is_refusal(&e) => match self.store.cart(cart.id).await? {
                Some(now_cart) if now_cart.version != cart.version => {
                    self.place(customer, &now_cart, idempotency_key, &request, &scope, &request_hash, now).await
                }
                _ => Err(e),
            },
            other => other,
        };
        match placed {
            Ok(placed) => Ok(placed),
            Err(e) => match self.replay(&scope, idempotency_key, &request_hash).await? {
                Some(replay) => Ok(replay),
                None => Err(e),
            },
        }
    }

    /// Prices `cart` as it is now and places its checkout: one order per
    /// seller, stock held for every line, one payment. The steps are the
    /// functions below, in order.
    #[allow(clippy::too_many_arguments)]
    async fn place(
        &self,
        customer: Option<&Customer>,
        cart: &Cart,
        idempotency_key: &str,
        request: &CheckoutRequest,
        scope: &str,
        request_hash: &str,
        now: OffsetDateTime,
    ) -> Result<PlacedCheckout> {
        let checked = self.check_request(customer, request).await?;
        let current = self.priced_lines(cart).await?;
        let currency = current[0].price.currency;
        let subtotal: i64 = cart.lines.iter().zip(&current).map(|(l, p)| p.price.amount * l.quantity).sum();
        let discount = self.discount_of(cart, Money::new(subtotal, currency), now).await?;
        let discount_total = discount.as_ref().map_or(0, |d| d.amount_off(subtotal));
        let sellers = sellers_of(&current);
        self.check_provider(checked.provider, &sellers, currency).await?;
        let checkout_id = new_id();
        let payment_id = new_id();
        let (orders, holds) = self
            .orders_of(OrdersOf {
                cart,
                current: &current,
                sellers: &sellers,
                discount: discount.as_ref(),
                discount_total,
                customer,
                checked: &checked,
                checkout_id,
                payment_id,
                now,
            })
            .await?;
        let amount: i64 = orders.iter().map(|o| o.total.amount).sum();
        let ttl = time::Duration::try_from(self.config.reservation_ttl).unwrap_or(time::Duration::minutes(15));
        let payment = Payment {
            id: payment_id,
            checkout_id,
            provider: checked.provider,
            status: PaymentStatus::Pending,
            amount: Money::new(amount, currency),
            refunded: Money::new(0, currency),
            failed_attempts: 0,
            last_error: None,
            expires_at: now + ttl,
            created_at: now,
            updated_at: now,
            stripe: None,
            solana: Vec::new(),
        };
        let redemption = discount.as_ref().map(|d: &DiscountCode| Redemption {
            code_id: d.id,
            customer_key: customer.map_or_else(|| checked.email.to_lowercase(), |c| c.user_id.to_string()),
            per_customer_limit: d.per_customer_limit,
        });
        let placement = Placement {
            checkout_id,
            cart_id: cart.id,
            cart_version: cart.version,
            user_id: customer.map(|c| c.user_id),
            email: checked.email,
            scope: scope.to_owned(),
            idempotency_key: idempotency_key.to_owned(),
            request_hash: request_hash.to_owned(),
            orders,
            payment,
            holds,
            redemption,
            at: now,
        };
        self.after_placing(&placement, now).await
    }

    /// Step 2: the cart's lines as the catalogue sells them now; a moved
    /// price refreshes the cart and refuses with `cart_changed`.
    async fn priced_lines(&self, cart: &Cart) -> Result<Vec<Purchasable>> {
        if cart.status != CartStatus::Active {
            return Err(OrdersError::CartClosed("this cart has already been checked out"));
        }
        if cart.lines.is_empty() {
            return Err(OrdersError::EmptyCart);
        }
        let mut current: Vec<Purchasable> = Vec::with_capacity(cart.lines.len());
        let mut changed = Vec::new();
        for line in &cart.lines {
            match self.purchasable(&VariantRef::Id(line.variant_id)).await? {
                Some(p) if p.price == line.unit_price => current.push(p),
                Some(p) => {
                    changed.push(PriceChange { sku: line.sku.clone(), was: line.unit_price, now: Some(p.price) })
                }
                None => changed.push(PriceChange { sku: line.sku.clone(), was: line.unit_price, now: None }),
            }
        }
        if !changed.is_empty() {
            self.refresh_cart(cart).await?;
            return Err(OrdersError::CartChanged { lines: changed });
        }
        Ok(current)
    }

    /// Step 3: the cart's discount code, if it still applies to `subtotal`.
    async fn discount_of(&self, cart: &Cart, subtotal: Money, now: OffsetDateTime) -> Result<Option<DiscountCode>> {
        let discount = match &cart.discount_code {
            None => None,
            Some(code) => {
                let d =
                    self.store.discount_by_code(code).await?.ok_or_else(|| {
                        OrdersError::DiscountNotApplicable("the discount code no longer exists".into())
                    })?;
                d.check(subtotal, now).map_err(|e| OrdersError::DiscountNotApplicable(e.to_string()))?;
                Some(d)
            }
        };
        Ok(discount)
    }

    /// Step 4: one order per seller, in the cart's order, with its share of
    /// the discount, its shipping and tax, and the stock holds for its lines.
    // Long because each order's totals (share of the discount, shipping, tax) depend
    // on the ones before it; the per-line work is in `pricing`.
    async fn orders_of(&self, o: OrdersOf<'_>) -> Result<(Vec<Order>, Vec<Hold>)> {
        let OrdersOf {
            cart,
            current,
            sellers,
            discount,
            discount_total,
            customer,
            checked,
            checkout_id,
            payment_id,
            now,
        } = o;
        let currency = current[0].price.currency;
        let seller_subtotals: Vec<i64> = sellers
            .iter()
            .map(|s| {
                cart.lines
                    .iter()
                    .zip(current)
                    .filter(|(_, p)| p.seller_id == *s)
                    .map(|(l, p)| p.price.amount * l.quantity)
                    .sum()
            })
            .collect();
        let discounts = pricing::allocate(discount_total, &seller_subtotals);
        let rates = self.tax_cached().await?;
        let address = &checked.shipping_address;
        let rate = pricing::rate_for(&rates, &address.country, address.region.as_deref());
        let inclusive = self.config.prices_include_tax;
        let money = |amount| Money::new(amount, currency);
        let (email, method) = (&checked.email, &checked.method);
        let (shipping_address, billing_address) = (&checked.shipping_address, &checked.billing_address);
        let mut orders = Vec::with_capacity(sellers.len());
        let mut holds = Vec::new();
        for (i, seller) in sellers.iter().enumerate() {
            let order_id = new_id();
            let lines: Vec<OrderLine> = cart
                .lines
                .iter()
                .zip(current)
                .filter(|(_, p)| p.seller_id == *seller)
                .map(|(l, p)| OrderLine {
                    variant_id: p.variant_id,
                    product_id: p.product_id,
                    sku: p.sku.clone(),
                    title: p.title.clone(),
                    quantity: l.quantity,
                    unit_price: p.price,
                    total: money(p.price.amount * l.quantity),
                })
                .collect();
            holds.extend(lines.iter().map(|l| Hold {
                order_id,
                variant_id: l.variant_id,
                sku: l.sku.clone(),
                quantity: l.quantity,
            }));
            let totals = pricing::order_totals(seller_subtotals[i], discounts[i], method.as_ref(), rate, inclusive);
            orders.push(Order {
                id: order_id,
                number: String::new(),
                checkout_id,
                payment_id,
                seller_id: *seller,
                user_id: customer.map(|c| c.user_id),
                email: email.clone(),
                status: OrderStatus::PendingPayment,
                currency,
                lines,
                subtotal: money(totals.subtotal),
                discount_total: money(totals.discount),
                discount_code: discount.as_ref().map(|d| d.code.clone()),
                shipping_total: money(totals.shipping),
                tax_total: money(totals.tax),
                prices_include_tax: inclusive,
                total: money(totals.total),
                refunded_total: money(0),
                shipping_address: shipping_address.clone(),
                billing_address: billing_address.clone(),
                shipping_method: method.as_ref().map(|m| ShippingChoice { code: m.code.clone(), name: m.name.clone() }),
                timeline: vec![TimelineEntry {
                    at: now,
                    from: None,
                    to: OrderStatus::PendingPayment,
                    by: customer.map(|c| c.user_id),
                    note: Some("order placed".into()),
                }],
                fulfillments: Vec::new(),
                refunds: Vec::new(),
                flags: Vec::new(),
                created_at: now,
                updated_at: now,
            });
        }
        Ok((orders, holds))
    }

    /// Step 5: the placement written; an earlier unpaid checkout of the same
    /// cart superseded, and the payment opened at its provider.
    async fn after_placing(&self, placement: &Placement, now: OffsetDateTime) -> Result<PlacedCheckout> {
        let checkout_id = placement.checkout_id;
        match self.store.place_checkout(placement).await? {
            Placed::New { orders, earlier } => {
                self.remember_checkout(orders.iter().map(|o| o.id).chain([placement.payment.id]), checkout_id);
                // One cart holds stock once: its earlier unpaid checkouts give
                // theirs back now rather than at their expiry. Done after the new
                // one committed, so a refused checkout leaves the earlier one
                // payable; if this fails, the earlier one simply expires.
                for id in earlier {
                    match self
                        .store
                        .change_checkout(id, &|state: &CheckoutState| decisions::supersede(state, now))
                        .await
                    {
                        Ok(closed) => self.close_at_provider(&closed).await,
                        Err(e) => {
                            tracing::warn!(checkout_id = %id, error = %e, "could not supersede an earlier checkout")
                        }
                    }
                }
                let state = CheckoutState {
                    id: checkout_id,
                    cart_id: placement.cart_id,
                    user_id: placement.user_id,
                    email: placement.email.clone(),
                    discount_code_id: placement.redemption.as_ref().map(|r| r.code_id),
                    payment: placement.payment.clone(),
                    orders,
                    reservations: Vec::new(),
                };
                let state = self.open_at_provider(state).await;
                Ok(PlacedCheckout::of(&state, false))
            }
            Placed::Replay(id) => {
                let state = self.store.checkout(id).await?.ok_or(OrdersError::NotFound("checkout"))?;
                let state = self.open_at_provider(state).await;
                Ok(PlacedCheckout::of(&state, true))
            }
        }
    }

    /// The earlier answer for this key, if it was used; 422 if with another body.
    async fn replay(&self, scope: &str, key: &str, request_hash: &str) -> Result<Option<PlacedCheckout>> {
        let Some((id, hash)) = self.store.checkout_by_key(scope, key).await? else { return Ok(None) };
        if hash != request_hash {
            return Err(crate::error::idempotency_reused());
        }
        let state = self.store.checkout(id).await?.ok_or(OrdersError::NotFound("checkout"))?;
        let state = self.open_at_provider(state).await;
        Ok(Some(PlacedCheckout::of(&state, true)))
    }

    /// Re-snapshots every line at today's price and drops what is no longer
    /// for sale, if the cart is still as priced.
    async fn refresh_cart(&self, cart: &Cart) -> Result<()> {
        let mut prices = std::collections::HashMap::new();
        for line in &cart.lines {
            prices.insert(line.variant_id, self.purchasable(&VariantRef::Id(line.variant_id)).await?);
        }
        let mut c = cart.clone();
        c.lines.retain(|l| prices.get(&l.variant_id).is_some_and(Option::is_some));
        for line in &mut c.lines {
            if let Some(Some(p)) = prices.get(&line.variant_id) {
                line.unit_price = p.price;
                line.title = p.title.clone();
            }
        }
        c.updated_at = self.now();
        // At the version priced only: a cart that moved since (or a stale
        // kept copy) is `Contended`, and the checkout prices it again as it is.
        self.store.save_carts(&[c]).await
    }
}

/// Whether `e` refuses the checkout for what the cart holds (not for a
/// fault, and not `cart_changed`, which is decided on an exact copy).
fn is_refusal(e: &OrdersError) -> bool {
    matches!(
        e,
        OrdersError::Validation(_)
            | OrdersError::NotFound(_)
            | OrdersError::OutOfStock(_)
            | OrdersError::CartClosed(_)
            | OrdersError::EmptyCart
            | OrdersError::DiscountNotApplicable(_)
    )
}

/// What `orders_of` builds the orders from.
struct OrdersOf<'a> {
    cart: &'a Cart,
    current: &'a [Purchasable],
    sellers: &'a [Uuid],
    discount: Option<&'a DiscountCode>,
    discount_total: i64,
    customer: Option<&'a Customer>,
    checked: &'a Checked,
    checkout_id: Uuid,
    payment_id: Uuid,
    now: OffsetDateTime,
}

/// The cart's sellers, each once, in the order of the cart's lines.
fn sellers_of(current: &[Purchasable]) -> Vec<Uuid> {
    let mut sellers: Vec<Uuid> = Vec::new();
    for p in current {
        if !sellers.contains(&p.seller_id) {
            sellers.push(p.seller_id);
        }
    }
    sellers
}
