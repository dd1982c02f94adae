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
    /// Kept in the delivery log (and echoed to the console) only: no mail
    /// server is configured, as in the embedded shop.
    Logged,
    /// Handed to the mail or SMS server.
    Sent,
    /// The server refused it; `error` says why.
    Failed,
}

impl DeliveryStatus {
    pub const ALL: [DeliveryStatus; 3] = [DeliveryStatus::Logged, DeliveryStatus::Sent, DeliveryStatus::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Logged => "logged",
            DeliveryStatus::Sent => "sent",
            DeliveryStatus::Failed => "failed",
        }
    }
}

impl fmt::Display for DeliveryStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("must be one of logged, sent, failed")]
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
    /// The address it went to (`redacted` once its account is deleted).
    pub recipient: String,
    /// The account it concerns, when there is one.
    pub user_id: Option<Uuid>,
    pub subject: String,
    pub body: String,
    pub status: DeliveryStatus,
    /// How it left: `log` for the delivery log alone.
    pub transport: String,
    pub error: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}
