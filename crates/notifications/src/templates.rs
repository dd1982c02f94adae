//! The messages, made from the events that cause them. An email has a
//! plain-text and an HTML part, both rendered (askama) from one
//! [`Email`]: what happened, the figures that matter (an order's lines,
//! totals and address), a link to act on, and what comes next. An SMS is
//! one short line.

use askama::Template;
use kernel::{Event, Money};
use serde_json::Value;
use uuid::Uuid;

use crate::model::Channel;

/// A message ready to record and send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub template: &'static str,
    pub channel: Channel,
    /// An email address (several, comma-separated, to staff) or a phone number.
    pub recipient: String,
    pub user_id: Option<Uuid>,
    pub subject: String,
    /// The plain text (an SMS's whole text).
    pub body: String,
    pub html: Option<String>,
    /// Why this channel is not used for it (no phone number), if so.
    pub skipped: Option<String>,
}

/// What the messages need beyond the event.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub shop: &'a str,
    /// Where the shop is served, without a trailing slash, for links.
    pub public_url: &'a str,
    /// Where staff alerts (low stock) go.
    pub staff: &'a [String],
}

/// The topics that make messages (and `user.deleted`, which blanks them).
pub const TOPICS: [&str; 11] = [
    "user.registered",
    "user.deleted",
    "user.email_verification_requested",
    "user.password_reset_requested",
    "order.placed",
    "order.paid",
    "order.shipped",
    "order.cancelled",
    "order.refunded",
    "order.delivered",
    "stock.low",
];

/// Every template, for the admin's filter.
pub const TEMPLATES: [&str; 10] = [
    "welcome",
    "verify_email",
    "password_reset",
    "order_confirmation",
    "order_paid",
    "order_shipped",
    "order_delivered",
    "order_cancelled",
    "order_refunded",
    "low_stock",
];

/// An email's content; [`EmailText`] and [`EmailHtml`] lay it out.
#[derive(Debug, Clone, Default)]
pub struct Email {
    pub shop: String,
    pub heading: String,
    pub greeting: Option<String>,
    pub paragraphs: Vec<String>,
    pub order: Option<OrderSummary>,
    /// A button (HTML) or a line with the link (text).
    pub action: Option<Action>,
    pub closing: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Action {
    pub label: String,
    pub url: String,
}

#[derive(Debug, Clone, Default)]
pub struct OrderSummary {
    pub number: String,
    pub lines: Vec<LineView>,
    /// (label, amount), e.g. ("Shipping", "$5.00"), then the total.
    pub totals: Vec<(String, String)>,
    pub total: String,
    pub address: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct LineView {
    pub title: String,
    pub sku: String,
    pub quantity: i64,
    pub unit_price: String,
    pub total: String,
}

#[derive(Template)]
#[template(path = "email.txt")]
pub struct EmailText<'a> {
    pub e: &'a Email,
}

#[derive(Template)]
#[template(path = "email.html")]
pub struct EmailHtml<'a> {
    pub e: &'a Email,
    pub subject: &'a str,
}

impl Email {
    /// The plain-text and HTML parts.
    pub fn render(&self, subject: &str) -> (String, String) {
        // Rendering owned values into a String cannot fail; an empty part
        // would be the sign if it ever did.
        let text = EmailText { e: self }.render().unwrap_or_default();
        let html = EmailHtml { e: self, subject }.render().unwrap_or_default();
        (text, html)
    }
}

fn text<'a>(payload: &'a Value, key: &str) -> Option<&'a str> {
    payload.get(key).and_then(Value::as_str).filter(|s| !s.trim().is_empty())
}

fn amount(payload: &Value, key: &str) -> Option<Money> {
    serde_json::from_value::<Money>(payload.get(key)?.clone()).ok()
}

fn money(payload: &Value, key: &str) -> Option<String> {
    amount(payload, key).map(|m| m.to_string())
}

/// `money`, left out when zero (no discount, no tax).
fn nonzero_money(payload: &Value, key: &str) -> Option<String> {
    amount(payload, key).filter(|m| m.amount != 0).map(|m| m.to_string())
}

/// A carrier's tracking page for `number`, for the carriers most shops use.
pub fn tracking_url(carrier: &str, number: &str) -> Option<String> {
    let n: String = number.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    if n.is_empty() {
        return None;
    }
    let c = carrier.to_ascii_lowercase();
    let url = if c.contains("ups") {
        format!("https://www.ups.com/track?tracknum={n}")
    } else if c.contains("usps") {
        format!("https://tools.usps.com/go/TrackConfirmAction?tLabels={n}")
    } else if c.contains("fedex") {
        format!("https://www.fedex.com/fedextrack/?trknbr={n}")
    } else if c.contains("dhl") {
        format!("https://www.dhl.com/global-en/home/tracking.html?tracking-id={n}")
    } else {
        return None;
    };
    Some(url)
}

fn order_summary(p: &Value) -> Option<OrderSummary> {
    let lines: Vec<LineView> = p
        .get("lines")?
        .as_array()?
        .iter()
        .filter_map(|l| {
            Some(LineView {
                title: text(l, "title")?.to_owned(),
                sku: text(l, "sku").unwrap_or("").to_owned(),
                quantity: l.get("quantity")?.as_i64()?,
                unit_price: money(l, "unit_price").unwrap_or_default(),
                total: money(l, "total").unwrap_or_default(),
            })
        })
        .collect();
    let mut totals = Vec::new();
    if let Some(m) = money(p, "subtotal") {
        totals.push(("Subtotal".to_owned(), m));
    }
    if let Some(m) = nonzero_money(p, "discount_total") {
        totals.push(("Discount".to_owned(), format!("−{m}")));
    }
    if let Some(m) = money(p, "shipping_total") {
        totals.push(("Shipping".to_owned(), m));
    }
    if let Some(m) = nonzero_money(p, "tax_total") {
        totals.push(("Tax".to_owned(), m));
    }
    let address = p
        .get("shipping_address")
        .map(|a| {
            let city_line = [text(a, "postal_code"), text(a, "city"), text(a, "region")]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ");
            [text(a, "full_name"), text(a, "line1"), text(a, "line2"), Some(city_line.as_str()), text(a, "country")]
                .into_iter()
                .flatten()
                .filter(|s| !s.trim().is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    Some(OrderSummary {
        number: text(p, "number").unwrap_or("").to_owned(),
        lines,
        totals,
        total: money(p, "total").unwrap_or_default(),
        address,
    })
}

/// The phone an order's texts go to: the shipping address's.
fn order_phone(p: &Value) -> Option<&str> {
    p.get("shipping_address").and_then(|a| text(a, "phone"))
}

/// The messages `event` calls for (none for most events).
pub fn messages_for(event: &Event, cx: &Context<'_>) -> Vec<Message> {
    let p = &event.payload;
    let shop = cx.shop;
    let user_id: Option<Uuid> = p.get("user_id").and_then(|v| serde_json::from_value(v.clone()).ok());
    let number = text(p, "number").unwrap_or("");
    let total = money(p, "total").unwrap_or_default();
    let order_link = || {
        user_id.map(|_| Action {
            label: "View your order".to_owned(),
            url: format!("{}/account/orders/{}", cx.public_url, text(p, "order_id").unwrap_or("")),
        })
    };
    let mut email = Email { shop: shop.to_owned(), ..Email::default() };
    let mut recipient = text(p, "email").map(str::to_owned);
    let mut sms = None;
    let (template, subject): (&'static str, String) = match event.topic.as_str() {
        "user.registered" => {
            email.greeting = Some(format!("Hello {},", text(p, "full_name").unwrap_or("there")));
            email.heading = format!("Welcome to {shop}");
            email.paragraphs = vec![format!(
                "Your {shop} account is ready. Sign in with this address to check out faster, follow your orders and keep a wishlist."
            )];
            email.action = Some(Action { label: "Visit the shop".to_owned(), url: format!("{}/", cx.public_url) });
            ("welcome", format!("Welcome to {shop}"))
        }
        "user.email_verification_requested" => {
            let url = text(p, "url").map(str::to_owned);
            email.heading = "Confirm your email address".to_owned();
            email.paragraphs = vec![format!("Please confirm that this is the address of your {shop} account.")];
            email.action = url.map(|url| Action { label: "Confirm my address".to_owned(), url });
            email.closing = vec!["If you did not create an account, you can ignore this email.".to_owned()];
            ("verify_email", format!("Confirm your email for {shop}"))
        }
        "user.password_reset_requested" => {
            let url = text(p, "url").map(str::to_owned);
            email.heading = "Reset your password".to_owned();
            email.paragraphs = vec![format!(
                "Someone asked to reset the password of your {shop} account. The link works once, for an hour."
            )];
            email.action = url.map(|url| Action { label: "Choose a new password".to_owned(), url });
            email.closing = vec!["If it was not you, ignore this email: your password stays as it is.".to_owned()];
            ("password_reset", format!("Reset your {shop} password"))
        }
        "order.placed" => {
            email.heading = format!("Thank you for your order {number}");
            email.paragraphs = vec![format!("We have received order {number} ({total}).")];
            email.order = order_summary(p);
            email.action = order_link();
            email.closing = vec![if text(p, "status") == Some("pending_payment") {
                "We will write again when your payment is received.".to_owned()
            } else {
                "We will write again when it ships.".to_owned()
            }];
            ("order_confirmation", format!("Order {number} confirmed"))
        }
        "order.paid" => {
            email.heading = format!("Payment received for order {number}");
            email.paragraphs = vec![format!("Order {number} is paid: {total}.")];
            email.action = order_link();
            email.closing = vec!["We will write again when it ships.".to_owned()];
            ("order_paid", format!("Payment received for order {number}"))
        }
        "order.shipped" => {
            let carrier = text(p, "carrier");
            let tracking = text(p, "tracking_number");
            email.heading = format!("Order {number} is on its way");
            email.paragraphs = vec![format!("Good news: order {number} has shipped.")];
            let link = carrier.zip(tracking).and_then(|(c, t)| tracking_url(c, t));
            if let (Some(carrier), Some(tracking)) = (carrier, tracking) {
                email.paragraphs.push(format!("Carrier: {carrier}. Tracking number: {tracking}."));
            }
            email.order =
                order_summary(p).map(|o| OrderSummary { lines: o.lines, address: o.address, ..Default::default() });
            email.action =
                link.clone().map(|url| Action { label: "Track your parcel".to_owned(), url }).or_else(order_link);
            let mut line = format!("{shop}: order {number} has shipped");
            if let (Some(carrier), Some(tracking)) = (carrier, tracking) {
                line.push_str(&format!(" with {carrier}, tracking {tracking}"));
            }
            if let Some(url) = &link {
                line.push_str(&format!(": {url}"));
            }
            line.push('.');
            sms = Some(match order_phone(p) {
                Some(phone) => (phone.to_owned(), None, line),
                None => (String::new(), Some("the order has no phone number".to_owned()), line),
            });
            ("order_shipped", format!("Order {number} has shipped"))
        }
        "order.delivered" => {
            email.heading = format!("Order {number} was delivered");
            email.paragraphs = vec![format!("Order {number} has arrived. We hope you enjoy it.")];
            email.action = order_link();
            ("order_delivered", format!("Order {number} delivered"))
        }
        "order.cancelled" => {
            email.heading = format!("Order {number} cancelled");
            email.paragraphs = vec![
                format!("Order {number} ({total}) has been cancelled."),
                "If you paid for it, the money is on its way back to you.".to_owned(),
            ];
            ("order_cancelled", format!("Order {number} cancelled"))
        }
        "order.refunded" => {
            let amount = money(p, "amount").unwrap_or(total);
            email.heading = format!("Refund for order {number}");
            email.paragraphs = vec![
                format!("We have refunded {amount} for order {number}."),
                "It can take a few days to show on your statement.".to_owned(),
            ];
            ("order_refunded", format!("Refund for order {number}"))
        }
        "stock.low" => {
            let sku = text(p, "sku").unwrap_or("?");
            let available = p.get("available").and_then(Value::as_i64).unwrap_or(0);
            let threshold = p.get("low_stock_threshold").and_then(Value::as_i64).unwrap_or(0);
            email.heading = format!("Low stock: {sku}");
            email.paragraphs = vec![format!(
                "{sku} is down to {available} available (the alert is set at {threshold}). Restock it before it sells out."
            )];
            email.action = Some(Action {
                label: "Open the inventory".to_owned(),
                url: format!("{}/admin/inventory", cx.public_url),
            });
            recipient = (!cx.staff.is_empty()).then(|| cx.staff.join(", "));
            ("low_stock", format!("Low stock: {sku} ({available} left)"))
        }
        _ => return Vec::new(),
    };
    let Some(recipient) = recipient else { return Vec::new() };
    if template != "low_stock" {
        email.closing.push(format!("— {shop}"));
    }
    let (body, html) = email.render(&subject);
    let mut out = vec![Message {
        template,
        channel: Channel::Email,
        recipient,
        user_id: if template == "low_stock" { None } else { user_id },
        subject: subject.clone(),
        body,
        html: Some(html),
        skipped: None,
    }];
    if let Some((to, skipped, line)) = sms {
        out.push(Message {
            template,
            channel: Channel::Sms,
            recipient: to,
            user_id,
            subject,
            body: line,
            html: None,
            skipped,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::OffsetDateTime;

    fn event(topic: &str, payload: Value) -> Event {
        Event::new(topic, Uuid::nil(), OffsetDateTime::UNIX_EPOCH, payload)
    }

    const CX: Context<'static> = Context { shop: "Corner Shop", public_url: "https://shop.test", staff: &[] };

    fn order() -> Value {
        json!({"order_id": "o-1", "number": "EM-1001", "email": "ann@example.com", "user_id": Uuid::from_u128(9),
            "status": "pending_payment",
            "total": {"amount": 123_456, "currency": "USD"},
            "subtotal": {"amount": 120_000, "currency": "USD"},
            "discount_total": {"amount": 0, "currency": "USD"},
            "shipping_total": {"amount": 3_456, "currency": "USD"},
            "tax_total": {"amount": 0, "currency": "USD"},
            "lines": [{"title": "Linen shirt — M", "sku": "LS-M", "quantity": 2,
                       "unit_price": {"amount": 60_000, "currency": "USD"},
                       "total": {"amount": 120_000, "currency": "USD"}}],
            "shipping_address": {"full_name": "Ann <Lee>", "line1": "1 Main St", "city": "Springfield",
                                 "postal_code": "12345", "country": "US", "phone": "+15550100"}})
    }

    fn one(event: &Event) -> Message {
        let mut list = messages_for(event, &CX);
        assert_eq!(list.len(), 1, "{list:?}");
        list.remove(0)
    }

    #[test]
    fn the_confirmation_carries_lines_totals_and_address_in_both_parts() {
        let m = one(&event("order.placed", order()));
        assert_eq!((m.template, m.channel), ("order_confirmation", Channel::Email));
        assert_eq!(m.recipient, "ann@example.com");
        assert_eq!(m.subject, "Order EM-1001 confirmed");
        assert_eq!(m.user_id, Some(Uuid::from_u128(9)));
        for needle in [
            "Linen shirt — M",
            "2 × $600.00",
            "$1,200.00",
            "Shipping",
            "$34.56",
            "$1,234.56",
            "1 Main St",
            "12345 Springfield",
            "https://shop.test/account/orders/o-1",
            "when your payment is received",
            "— Corner Shop",
        ] {
            assert!(m.body.contains(needle), "text lacks {needle:?}:\n{}", m.body);
        }
        let html = m.html.expect("an HTML part");
        assert!(html.contains("<td>Linen shirt — M"), "{html}");
        assert!(html.contains("$1,234.56") && html.contains("href=\"https://shop.test/account/orders/o-1\""), "{html}");
        // What customers typed is escaped in the HTML, left as typed in the text.
        assert!(html.contains("Ann &#60;Lee&#62;") || html.contains("Ann &lt;Lee&gt;"), "{html}");
        assert!(m.body.contains("Ann <Lee>"));
        assert!(!m.body.contains("Discount") && !m.body.contains("Tax"), "zero lines are left out:\n{}", m.body);
    }

    #[test]
    fn shipping_sends_an_email_with_the_tracking_link_and_a_text() {
        let mut shipped = order();
        shipped["carrier"] = json!("UPS");
        shipped["tracking_number"] = json!("1Z 999");
        let list = messages_for(&event("order.shipped", shipped.clone()), &CX);
        assert_eq!(list.len(), 2, "{list:?}");
        let (email, sms) = (&list[0], &list[1]);
        assert!(email.body.contains("Carrier: UPS. Tracking number: 1Z 999."), "{}", email.body);
        assert!(email.html.as_deref().is_some_and(|h| h.contains("https://www.ups.com/track?tracknum=1Z999")));
        assert_eq!((sms.channel, sms.recipient.as_str(), sms.skipped.as_deref()), (Channel::Sms, "+15550100", None));
        assert_eq!(
            sms.body,
            "Corner Shop: order EM-1001 has shipped with UPS, tracking 1Z 999: https://www.ups.com/track?tracknum=1Z999."
        );
        shipped["shipping_address"]["phone"] = Value::Null;
        let list = messages_for(&event("order.shipped", shipped), &CX);
        assert_eq!(list[1].skipped.as_deref(), Some("the order has no phone number"));
    }

    #[test]
    fn every_other_order_step_has_its_message() {
        let paid = one(&event("order.paid", order()));
        assert_eq!((paid.template, paid.subject.as_str()), ("order_paid", "Payment received for order EM-1001"));
        assert!(paid.body.contains("Order EM-1001 is paid: $1,234.56."), "{}", paid.body);
        let cancelled = one(&event("order.cancelled", order()));
        assert!(cancelled.body.contains("Order EM-1001 ($1,234.56) has been cancelled."), "{}", cancelled.body);
        let mut refunded = order();
        refunded["amount"] = json!({"amount": 500, "currency": "EUR"});
        let m = one(&event("order.refunded", refunded));
        assert!(m.body.contains("refunded €5.00"), "{}", m.body);
        assert_eq!(one(&event("order.delivered", order())).template, "order_delivered");
    }

    #[test]
    fn low_stock_goes_to_staff_and_only_when_there_is_staff() {
        let level = json!({"sku": "MUG-1", "available": 2, "low_stock_threshold": 5, "variant_id": Uuid::nil()});
        assert!(messages_for(&event("stock.low", level.clone()), &CX).is_empty());
        let staff = ["ops@shop.test".to_owned(), "boss@shop.test".to_owned()];
        let cx = Context { staff: &staff, ..CX };
        let list = messages_for(&event("stock.low", level), &cx);
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].recipient, "ops@shop.test, boss@shop.test");
        assert_eq!(list[0].subject, "Low stock: MUG-1 (2 left)");
        assert!(list[0].body.contains("https://shop.test/admin/inventory"), "{}", list[0].body);
    }

    #[test]
    fn account_hooks_link_to_their_page() {
        let ask =
            json!({"email": "bob@example.com", "user_id": Uuid::from_u128(7), "url": "https://shop.test/reset?t=abc"});
        let m = one(&event("user.password_reset_requested", ask.clone()));
        assert_eq!(m.template, "password_reset");
        assert!(m.body.contains("https://shop.test/reset?t=abc"), "{}", m.body);
        let m = one(&event("user.email_verification_requested", ask));
        assert_eq!(m.template, "verify_email");
        assert!(m.html.is_some_and(|h| h.contains("href=\"https://shop.test/reset?t=abc\"")));
    }

    #[test]
    fn no_address_or_unknown_topic_means_no_message() {
        let user = json!({"email": "bob@example.com", "full_name": "Bob", "user_id": Uuid::from_u128(7)});
        let welcome = one(&event("user.registered", user.clone()));
        assert!(welcome.body.contains("Hello Bob,\n\nYour Corner Shop account is ready."), "{}", welcome.body);
        assert!(messages_for(&event("product.created", user), &CX).is_empty());
        assert!(messages_for(&event("order.paid", json!({"number": "EM-1"})), &CX).is_empty());
        assert!(messages_for(&event("order.paid", json!({"email": " "})), &CX).is_empty());
    }
}
