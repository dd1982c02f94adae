//! Text messages through Twilio's Messages API, or any provider that
//! speaks its wire format: `POST {base}/2010-04-01/Accounts/{sid}/Messages.json`
//! with HTTP Basic auth (account SID, auth token) and a form body of `To`,
//! `From` and `Body`; `201 Created` with the message's `sid` means taken.

use async_trait::async_trait;
use notifications::{Notification, SendError, Sender};
use serde::Deserialize;
use std::time::Duration;

pub const TWILIO_API_BASE: &str = "https://api.twilio.com";

#[derive(Debug, Clone)]
pub struct TwilioConfig {
    /// `https://api.twilio.com`, or a provider speaking its wire format.
    pub api_base: String,
    pub account_sid: String,
    pub auth_token: String,
    /// The number (or sender id) texts come from.
    pub from: String,
    pub timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct TwilioSms {
    http: reqwest::Client,
    config: TwilioConfig,
}

/// Twilio's error body.
#[derive(Debug, Deserialize)]
struct ApiError {
    code: Option<i64>,
    message: Option<String>,
}

impl TwilioSms {
    pub fn new(config: TwilioConfig) -> anyhow::Result<TwilioSms> {
        let http = reqwest::Client::builder().timeout(config.timeout).build()?;
        let config = TwilioConfig { api_base: config.api_base.trim_end_matches('/').to_owned(), ..config };
        Ok(TwilioSms { http, config })
    }
}

#[async_trait]
impl Sender for TwilioSms {
    fn transport(&self) -> &'static str {
        "sms"
    }

    async fn send(&self, n: &Notification) -> Result<(), SendError> {
        let c = &self.config;
        let url = format!("{}/2010-04-01/Accounts/{}/Messages.json", c.api_base, c.account_sid);
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("To", &n.recipient)
            .append_pair("From", &c.from)
            .append_pair("Body", &n.body)
            .finish();
        let res = self
            .http
            .post(url)
            .basic_auth(&c.account_sid, Some(&c.auth_token))
            .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await
            .map_err(|e| SendError::transient(format!("SMS provider unreachable: {e}")))?;
        let status = res.status();
        if status.is_success() {
            return Ok(());
        }
        let text = res.text().await.unwrap_or_default();
        let detail = match serde_json::from_str::<ApiError>(&text) {
            Ok(ApiError { code, message: Some(message) }) => {
                code.map_or(message.clone(), |code| format!("{message} (code {code})"))
            }
            _ => text.chars().take(200).collect(),
        };
        let reason = format!("SMS provider answered {}: {detail}", status.as_u16());
        // Too many requests and the provider's own failures pass; a refused
        // number, sender or credential does not.
        if status.as_u16() == 429 || status.is_server_error() {
            Err(SendError::transient(reason))
        } else {
            Err(SendError::permanent(reason))
        }
    }
}
