//! Text messages through Twilio's Messages API, or any provider that
//! speaks its wire format: `POST {base}/2010-04-01/Accounts/{sid}/Messages.json`
//! with HTTP Basic auth (account SID, auth token) and a form body of `To`,
//! `From` and `Body`; `201 Created` with the message's `sid` means taken.

use async_trait::async_trait;
use notifications::{Notification, SendError, Sender};
use serde::Deserialize;
use std::time::Duration;

pub const TWILIO_API_BASE: &str = "https://api.twilio.com";

#[derive(Clone)]
pub struct TwilioConfig {
    /// `https://api.twilio.com`, or a provider speaking its wire format.
    pub api_base: String,
    pub account_sid: String,
    pub auth_token: String,
    /// The number (or sender id) texts come from.
    pub from: String,
    pub timeout: Duration,
}

/// The token never prints.
impl std::fmt::Debug for TwilioConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwilioConfig")
            .field("api_base", &self.api_base)
            .field("account_sid", &self.account_sid)
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
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

/// Worth trying again: the provider busy or failing (408, 429, 5xx), or the
/// shop's account refused (401, 403; 404 is the account's URL not found):
/// credentials being fixed must not fail every text meanwhile. A refused
/// number or body (400) is the message's own.
fn transient_status(status: u16) -> bool {
    matches!(status, 401 | 403 | 404 | 408 | 429) || status >= 500
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
        if transient_status(status.as_u16()) {
            Err(SendError::transient(reason))
        } else {
            Err(SendError::permanent(reason))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_accounts_refusals_pass_the_messages_do_not() {
        for status in [401, 403, 404, 408, 429, 500, 503] {
            assert!(transient_status(status), "{status}");
        }
        for status in [400, 409, 422] {
            assert!(!transient_status(status), "{status}");
        }
        let config = TwilioConfig {
            api_base: TWILIO_API_BASE.into(),
            account_sid: "AC1".into(),
            auth_token: "very-secret".into(),
            from: "+1555".into(),
            timeout: Duration::from_secs(1),
        };
        assert!(!format!("{config:?}").contains("very-secret"));
    }
}
