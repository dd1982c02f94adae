//! The messages, made from the events that cause them. Each is plain text:
//! what happened, the figures that matter, and what comes next.

use kernel::{Event, Money};
use serde_json::Value;
use uuid::Uuid;

/// A message ready to record and send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub template: &'static str,
    pub recipient: String,
    pub user_id: Option<Uuid>,
    pub subject: String,
    pub body: String,
}

fn text<'a>(payload: &'a Value, key: &str) -> Option<&'a str> {
    payload.get(key).and_then(Value::as_str).filter(|s| !s.trim().is_empty())
}

fn money(payload: &Value, key: &str) -> Option<String> {
    serde_json::from_value::<Money>(payload.get(key)?.clone()).ok().map(|m| m.to_string())
}

/// The message `event` calls for, if any, signed by `shop`.
pub fn message_for(event: &Event, shop: &str) -> Option<Message> {
    let p = &event.payload;
    let recipient = text(p, "email")?.to_owned();
    let user_id = p.get("user_id").and_then(|v| serde_json::from_value(v.clone()).ok());
    let number = text(p, "number").unwrap_or("");
    let total = money(p, "total").unwrap_or_default();
    let (template, subject, lines): (&'static str, String, Vec<String>) = match event.topic.as_str() {
        "user.registered" => {
            let name = text(p, "full_name").unwrap_or("there");
            (
                "welcome",
                format!("Welcome to {shop}"),
                vec![
                    format!("Hello {name},"),
                    format!(
                        "Your {shop} account is ready. Sign in with this address to check out faster, follow your orders and keep a wishlist."
                    ),
                ],
            )
        }
        "order.paid" => (
            "order_confirmation",
            format!("Order {number} confirmed"),
            vec![
                "Thank you for your order!".to_owned(),
                format!("Order {number} is paid: {total}."),
                "We will write again when it ships.".to_owned(),
            ],
        ),
        "order.shipped" => {
            let mut lines = vec![format!("Good news: order {number} is on its way.")];
            if let (Some(carrier), Some(tracking)) = (text(p, "carrier"), text(p, "tracking_number")) {
                lines.push(format!("Carrier: {carrier}. Tracking number: {tracking}."));
            }
            ("order_shipped", format!("Order {number} has shipped"), lines)
        }
        "order.cancelled" => (
            "order_cancelled",
            format!("Order {number} cancelled"),
            vec![
                format!("Order {number} ({total}) has been cancelled."),
                "If you paid for it, the money is on its way back to you.".to_owned(),
            ],
        ),
        "order.refunded" => {
            let amount = money(p, "amount").unwrap_or(total);
            (
                "order_refunded",
                format!("Refund for order {number}"),
                vec![
                    format!("We have refunded {amount} for order {number}."),
                    "It can take a few days to show on your statement.".to_owned(),
                ],
            )
        }
        _ => return None,
    };
    let mut body = lines.join("\n\n");
    body.push_str(&format!("\n\n— {shop}\n"));
    Some(Message { template, recipient, user_id, subject, body })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::OffsetDateTime;

    fn event(topic: &str, payload: Value) -> Event {
        Event::new(topic, Uuid::nil(), OffsetDateTime::UNIX_EPOCH, payload)
    }

    #[test]
    fn order_messages_carry_their_figures() {
        let order = json!({"number": "EM-1001", "email": "ann@example.com", "user_id": null,
            "total": {"amount": 123_456, "currency": "USD"}});
        let paid = message_for(&event("order.paid", order.clone()), "Corner Shop").expect("a message");
        assert_eq!(paid.template, "order_confirmation");
        assert_eq!(paid.recipient, "ann@example.com");
        assert_eq!(paid.subject, "Order EM-1001 confirmed");
        assert!(paid.body.contains("$1,234.56"), "{}", paid.body);
        assert!(paid.body.ends_with("— Corner Shop\n"));
        assert_eq!(paid.user_id, None);

        let mut shipped = order.clone();
        shipped["carrier"] = json!("UPS");
        shipped["tracking_number"] = json!("1Z999");
        let m = message_for(&event("order.shipped", shipped), "S").expect("a message");
        assert!(m.body.contains("Carrier: UPS. Tracking number: 1Z999."), "{}", m.body);

        let mut refunded = order;
        refunded["amount"] = json!({"amount": 500, "currency": "EUR"});
        let m = message_for(&event("order.refunded", refunded), "S").expect("a message");
        assert!(m.body.contains("refunded €5.00"), "{}", m.body);
    }

    #[test]
    fn no_address_or_unknown_topic_means_no_message() {
        let user = json!({"email": "bob@example.com", "full_name": "Bob", "user_id": Uuid::from_u128(7)});
        let welcome = message_for(&event("user.registered", user.clone()), "S").expect("a message");
        assert_eq!(welcome.user_id, Some(Uuid::from_u128(7)));
        assert!(welcome.body.starts_with("Hello Bob,\n\nYour S account is ready."), "{}", welcome.body);
        assert_eq!(message_for(&event("stock.low", user), "S"), None);
        assert_eq!(message_for(&event("order.paid", json!({"number": "EM-1"})), "S"), None);
        assert_eq!(message_for(&event("order.paid", json!({"email": " "})), "S"), None);
    }
}
