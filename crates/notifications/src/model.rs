use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Email,
    Sms,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
        }
    }
}

/// What became of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting for its channel's server: not tried yet, or tried and to be
    /// tried again at `next_attempt_at` (`error` says what went wrong).
    Pending,
    /// Kept in the delivery log (and echoed to the console) only: no server
    /// is configured for its channel, as in the embedded shop.
    Logged,
    /// Accepted by the mail or SMS server.
    Sent,
    /// Given up: the server refused it for good, or every attempt failed;
    /// `error` says why.
    Failed,
    /// Not sent on this channel, on purpose (no phone number); `error` says why.
    Skipped,
}

impl DeliveryStatus {
    pub const ALL: [DeliveryStatus; 5] = [
        DeliveryStatus::Pending,
        DeliveryStatus::Logged,
        DeliveryStatus::Sent,
        DeliveryStatus::Failed,
        DeliveryStatus::Skipped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Logged => "logged",
            DeliveryStatus::Sent => "sent",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::Skipped => "skipped",
        }
    }
}

impl fmt::Display for DeliveryStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("must be one of pending, logged, sent, failed, skipped")]
pub struct UnknownStatus;

impl FromStr for DeliveryStatus {
    type Err = UnknownStatus;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DeliveryStatus::ALL.into_iter().find(|d| d.as_str() == s).ok_or(UnknownStatus)
    }
}

impl FromStr for Channel {
    type Err = UnknownStatus;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [Channel::Email, Channel::Sms].into_iter().find(|c| c.as_str() == s).ok_or(UnknownStatus)
    }
}

/// One entry of the delivery log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Notification {
    pub id: Uuid,
    /// The event that caused it; with `template`, the log's unique key.
    pub event_id: Uuid,
    /// e.g. `order_confirmation`.
    pub template: String,
    pub channel: Channel,
    /// The address it goes to: an email address (several, comma-separated,
    /// for a message to staff) or a phone number (`redacted` once its
    /// account is deleted).
    pub recipient: String,
    /// The account it concerns, when there is one.
    pub user_id: Option<Uuid>,
    pub subject: String,
    /// The plain-text part (an SMS's whole text).
    pub body: String,
    /// The HTML part of an email.
    #[serde(default)]
    pub html: Option<String>,
    pub status: DeliveryStatus,
    /// How it leaves: `smtp`, `sms` (Twilio's wire), or `log` for the
    /// delivery log alone.
    pub transport: String,
    /// Why it failed, was skipped, or is waiting to be tried again.
    pub error: Option<String>,
    /// Tries made so far.
    #[serde(default)]
    pub attempts: u32,
    /// When a pending message is tried (again).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub next_attempt_at: Option<OffsetDateTime>,
    /// When the server accepted it.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub sent_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// How a try to send went, as the dispatcher records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Sent {
        at: OffsetDateTime,
    },
    /// To be tried again at `at`.
    Retry {
        at: OffsetDateTime,
        error: String,
    },
    Failed {
        error: String,
    },
}
