//! Email over SMTP with lettre: `smtp://host:port` (plain, or STARTTLS with
//! `?tls=required`), `smtps://user:pass@host:465` (TLS from the start).
//! Each email has a plain-text and an HTML part, and a `Message-ID` made
//! from the log entry's id, so a resend after a crash is the same message.

use async_trait::async_trait;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::PoolConfig;
use lettre::{AsyncSmtpTransport, AsyncTransport as _, Tokio1Executor};
use notifications::{Notification, SendError, Sender};
use std::time::Duration;

#[derive(Clone)]
pub struct SmtpConfig {
    /// `smtp://…` or `smtps://…`, credentials in the URL.
    pub url: String,
    /// `Shop <shop@example.com>` or a bare address.
    pub from: String,
    /// For connecting and for each command.
    pub timeout: Duration,
    /// Connections kept open to the server: as many as the dispatcher
    /// sends at once.
    pub pool_size: u32,
}

/// The URL holds the credentials: it never prints.
impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpConfig").field("from", &self.from).field("timeout", &self.timeout).finish_non_exhaustive()
    }
}

impl SmtpConfig {
    pub fn new(url: &str, from: &str) -> SmtpConfig {
        SmtpConfig { url: url.to_owned(), from: from.to_owned(), timeout: Duration::from_secs(10), pool_size: 16 }
    }
}

/// Sends email through one SMTP server.
pub struct SmtpSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// The right-hand side of `Message-ID`s: the sender's domain.
    domain: String,
}

impl std::fmt::Debug for SmtpSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSender").field("from", &self.from.to_string()).finish_non_exhaustive()
    }
}

/// Why an SMTP setting is refused at start.
#[derive(Debug, thiserror::Error)]
pub enum SmtpConfigError {
    #[error("not an SMTP URL (smtp://host:port or smtps://user:pass@host:465): {0}")]
    Url(String),
    #[error("not an email address (shop@example.com or Shop <shop@example.com>): {0}")]
    From(String),
}

impl SmtpSender {
    /// Checks the settings; connects only when the first email is sent.
    pub fn new(config: &SmtpConfig) -> Result<SmtpSender, SmtpConfigError> {
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|e: lettre::address::AddressError| SmtpConfigError::From(format!("{}: {e}", config.from)))?;
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&config.url)
            .map_err(|e| SmtpConfigError::Url(e.to_string()))?
            .timeout(Some(config.timeout))
            .pool_config(PoolConfig::new().max_size(config.pool_size.max(1)))
            .build();
        let domain = from.email.domain().to_owned();
        Ok(SmtpSender { transport, from, domain })
    }

    /// The email for `n`, with both parts (text alone without HTML).
    fn email(&self, n: &Notification) -> Result<lettre::Message, SendError> {
        let mut builder = lettre::Message::builder()
            .from(self.from.clone())
            .subject(n.subject.clone())
            .message_id(Some(format!("<{}@{}>", n.id, self.domain)));
        let mut any = false;
        for address in n.recipient.split(',').map(str::trim).filter(|a| !a.is_empty()) {
            let to: Mailbox =
                address.parse().map_err(|e| SendError::permanent(format!("bad recipient {address:?}: {e}")))?;
            builder = builder.to(to);
            any = true;
        }
        if !any {
            return Err(SendError::permanent("no recipient"));
        }
        let built = match &n.html {
            Some(html) => builder.multipart(MultiPart::alternative_plain_html(n.body.clone(), html.clone())),
            None => builder.singlepart(SinglePart::plain(n.body.clone())),
        };
        built.map_err(|e| SendError::permanent(format!("could not build the email: {e}")))
    }
}

/// SMTP answers that say the shop's account, not the message, is refused
/// (authentication required, too weak, or failed): a password being
/// rotated must not fail every message sent meanwhile.
const ACCOUNT_REFUSALS: [&str; 3] = ["530", "534", "535"];

/// Whether an SMTP failure is worth trying again: anything but a
/// permanent (5xx) answer about the message itself (a refused address).
fn classify(e: &lettre::transport::smtp::Error) -> SendError {
    let reason = e.to_string();
    let account = e.status().is_some_and(|code| ACCOUNT_REFUSALS.contains(&code.to_string().as_str()));
    if e.is_permanent() && !account { SendError::permanent(reason) } else { SendError::transient(reason) }
}

#[async_trait]
impl Sender for SmtpSender {
    fn transport(&self) -> &'static str {
        "smtp"
    }

    async fn send(&self, n: &Notification) -> Result<(), SendError> {
        let email = self.email(n)?;
        self.transport.send(email).await.map(|_| ()).map_err(|e| classify(&e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use notifications::{Channel, DeliveryStatus};

    fn note(recipient: &str) -> Notification {
        Notification {
            id: uuid::Uuid::from_u128(42),
            event_id: uuid::Uuid::nil(),
            template: "welcome".into(),
            channel: Channel::Email,
            recipient: recipient.into(),
            user_id: None,
            subject: "Welcome — to the shop".into(),
            body: "Hello".into(),
            html: Some("<p>Hello</p>".into()),
            status: DeliveryStatus::Pending,
            transport: "smtp".into(),
            error: None,
            attempts: 1,
            next_attempt_at: None,
            sent_at: None,
            created_at: time::OffsetDateTime::UNIX_EPOCH,
        }
    }

    /// The connection pool lives on the Tokio runtime, as in the shop.
    #[tokio::test]
    async fn settings_are_checked_and_emails_carry_both_parts() {
        assert!(matches!(SmtpSender::new(&SmtpConfig::new("http://x", "a@b.c")), Err(SmtpConfigError::Url(_))));
        assert!(matches!(
            SmtpSender::new(&SmtpConfig::new("smtp://127.0.0.1:2525", "not an address")),
            Err(SmtpConfigError::From(_))
        ));
        let sender = SmtpSender::new(&SmtpConfig::new("smtp://127.0.0.1:2525", "Shop <shop@example.com>"))
            .expect("good settings");
        let email = sender.email(&note("ann@example.com, bob@example.com")).expect("an email");
        let raw = String::from_utf8(email.formatted()).expect("text");
        assert!(raw.contains("To: ann@example.com, bob@example.com"), "{raw}");
        assert!(raw.contains("Message-ID: <00000000-0000-0000-0000-00000000002a@example.com>"), "{raw}");
        assert!(raw.contains("multipart/alternative") && raw.contains("text/html"), "{raw}");
        let bad = sender.email(&note("nobody")).expect_err("refused");
        assert!(!bad.transient, "{bad}");
        assert!(!sender.email(&note(" , ")).expect_err("refused").transient);
        let secret = SmtpConfig::new("smtps://user:hunter2@mail.example:465", "a@b.c");
        assert!(!format!("{secret:?}").contains("hunter2"));
    }
}
