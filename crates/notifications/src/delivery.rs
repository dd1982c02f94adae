//! Sending: the delivery log's pending messages go to their channel's
//! server (SMTP, an SMS provider), each tried again with back-off after a
//! transient failure, until it is sent or given up.
//!
//! The log is the queue. The dispatcher claims due messages by moving
//! their `next_attempt_at` past a claim window (`FOR UPDATE SKIP LOCKED` on
//! PostgreSQL), so several nodes send from one log without sending a
//! message twice; a node that dies mid-send leaves its claims to lapse and
//! another sends them (at least once: a message is resent only when its
//! sender died before recording the server's answer, and keeps its
//! `Message-ID`, so a mail client shows it once).

use crate::model::{Channel, Notification, Outcome};
use crate::store::NotificationStore;
use async_trait::async_trait;
use futures::StreamExt as _;
use kernel::clock::SharedClock;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Why a send did not go through.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct SendError {
    /// Worth trying again (the server is down, busy, or said "later");
    /// otherwise the message is failed at once (a refused address).
    pub transient: bool,
    pub reason: String,
}

impl SendError {
    pub fn transient(reason: impl Into<String>) -> SendError {
        SendError { transient: true, reason: reason.into() }
    }
    pub fn permanent(reason: impl Into<String>) -> SendError {
        SendError { transient: false, reason: reason.into() }
    }
}

/// A channel's server: the port the SMTP and SMS adapters implement.
#[async_trait]
pub trait Sender: Send + Sync + 'static {
    /// The log's `transport` for what it sends: `smtp`, `sms`.
    fn transport(&self) -> &'static str;
    async fn send(&self, message: &Notification) -> Result<(), SendError>;
}

/// The server for each channel; a channel without one only logs.
#[derive(Clone, Default)]
pub struct Senders {
    pub email: Option<Arc<dyn Sender>>,
    pub sms: Option<Arc<dyn Sender>>,
}

impl std::fmt::Debug for Senders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Senders")
            .field("email", &self.email.as_ref().map(|s| s.transport()))
            .field("sms", &self.sms.as_ref().map(|s| s.transport()))
            .finish()
    }
}

impl Senders {
    /// The channels with a server.
    pub fn channels(&self) -> Vec<Channel> {
        [Channel::Email, Channel::Sms].into_iter().filter(|c| self.for_channel(*c).is_some()).collect()
    }

    pub fn for_channel(&self, channel: Channel) -> Option<&Arc<dyn Sender>> {
        match channel {
            Channel::Email => self.email.as_ref(),
            Channel::Sms => self.sms.as_ref(),
        }
    }
}

/// When to try a message again, and when to give up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The wait after the first failure; doubled after each next one.
    pub first_delay: Duration,
    pub max_delay: Duration,
    /// Tries before a message is failed.
    pub max_attempts: u32,
    /// How long a claimed message is left to its sender before another
    /// node may take it (longer than any one send).
    pub claim_for: Duration,
}

impl Default for RetryPolicy {
    /// 2 s, 4 s, 8 s… up to 15 min between tries, 20 tries: about 2¾ hours
    /// of a mail server being away before a message is given up. A claim
    /// lasts 5 minutes: longer than two rounds of the slowest send (an SMTP
    /// exchange of six commands at 10 s each).
    fn default() -> Self {
        RetryPolicy {
            first_delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(15 * 60),
            max_attempts: 20,
            claim_for: Duration::from_secs(5 * 60),
        }
    }
}

impl RetryPolicy {
    /// The wait after the `attempts`-th failed try.
    pub fn delay_after(&self, attempts: u32) -> Duration {
        let doublings = attempts.saturating_sub(1).min(30);
        self.first_delay.saturating_mul(1 << doublings).min(self.max_delay)
    }

    /// What a try's result means for a message that has had `attempts` tries.
    pub fn outcome(&self, result: Result<(), SendError>, attempts: u32, now: time::OffsetDateTime) -> Outcome {
        match result {
            Ok(()) => Outcome::Sent { at: now },
            Err(e) if e.transient && attempts < self.max_attempts => {
                let wait = time::Duration::try_from(self.delay_after(attempts)).unwrap_or(time::Duration::HOUR);
                Outcome::Retry { at: now + wait, error: e.reason }
            }
            Err(e) if e.transient => Outcome::Failed { error: format!("gave up after {attempts} tries: {}", e.reason) },
            Err(e) => Outcome::Failed { error: e.reason },
        }
    }
}

/// Messages one claim takes: two rounds of sends, so that the last of
/// them starts well inside its claim.
const BATCH: u32 = 32;
/// Sends in flight at once.
const IN_FLIGHT: usize = 16;

/// Sends the log's pending messages; see the module's documentation.
#[derive(Clone)]
pub struct Dispatcher {
    store: Arc<dyn NotificationStore>,
    senders: Senders,
    clock: SharedClock,
    policy: RetryPolicy,
    wake: Arc<Notify>,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher").field("senders", &self.senders).field("policy", &self.policy).finish()
    }
}

impl Dispatcher {
    pub fn new(store: Arc<dyn NotificationStore>, senders: Senders, clock: SharedClock, policy: RetryPolicy) -> Self {
        Dispatcher { store, senders, clock, policy, wake: Arc::new(Notify::new()) }
    }

    /// Woken when new messages are recorded on this node, so they leave at
    /// once rather than at the next poll.
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Claims the messages due now on the channels it has a server for
    /// (a node without one leaves them to a node with one) and tries each;
    /// how many were tried.
    pub async fn run_once(&self) -> anyhow::Result<usize> {
        let channels = self.senders.channels();
        if channels.is_empty() {
            return Ok(0);
        }
        let now = self.clock.now();
        let claim = time::Duration::try_from(self.policy.claim_for).unwrap_or(time::Duration::MINUTE);
        let due = self.store.claim_due(&channels, now, now + claim, BATCH).await?;
        let tried = due.len();
        futures::stream::iter(due)
            .map(|message| async move {
                let result = match self.senders.for_channel(message.channel) {
                    Some(sender) => sender.send(&message).await,
                    None => Err(SendError::transient("no server for this channel on the node that took it")),
                };
                let outcome = self.policy.outcome(result, message.attempts, self.clock.now());
                match &outcome {
                    Outcome::Sent { .. } => tracing::info!(
                        target: "emporium::mail", id = %message.id, template = %message.template,
                        channel = message.channel.as_str(), to = %message.recipient, "message sent"),
                    Outcome::Retry { at, error } => tracing::warn!(
                        target: "emporium::mail", id = %message.id, attempts = message.attempts, %error,
                        retry_at = %at, "message not sent; will try again"),
                    Outcome::Failed { error } => tracing::error!(
                        target: "emporium::mail", id = %message.id, attempts = message.attempts, %error,
                        "message given up"),
                }
                // Recorded at once, so that a later failure (or a crash)
                // cannot make it look unsent; fenced by the try's number,
                // so that a claim that lapsed records nothing over the next.
                if let Err(e) = self.store.settle(message.id, message.attempts, &outcome).await {
                    tracing::warn!(target: "emporium::mail", id = %message.id, error = format!("{e:#}"),
                        "how a message's try went could not be recorded; its claim will lapse and it is tried again");
                }
            })
            .buffer_unordered(IN_FLIGHT)
            .collect::<Vec<()>>()
            .await;
        Ok(tried)
    }

    /// Sends until `stop`: whenever woken, and every `poll` for retries and
    /// for messages other nodes recorded. Without any server, nothing.
    pub async fn run(self, poll: Duration, stop: CancellationToken) {
        if self.senders.channels().is_empty() {
            return;
        }
        loop {
            match self.run_once().await {
                // A full batch: there may be more due right now.
                Ok(n) if n >= BATCH as usize && !stop.is_cancelled() => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "sending messages failed; trying again shortly"),
            }
            tokio::select! {
                () = stop.cancelled() => break,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(poll) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::OffsetDateTime;

    #[test]
    fn waits_double_up_to_the_cap_then_give_up() {
        let p = RetryPolicy {
            first_delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(60),
            max_attempts: 4,
            claim_for: Duration::from_secs(60),
        };
        let waits: Vec<u64> = (1..=7).map(|n| p.delay_after(n).as_secs()).collect();
        assert_eq!(waits, [2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(p.delay_after(u32::MAX), Duration::from_secs(60));

        let now = OffsetDateTime::UNIX_EPOCH;
        let down = || Err(SendError::transient("connection refused"));
        assert_eq!(
            p.outcome(down(), 3, now),
            Outcome::Retry { at: now + time::Duration::seconds(8), error: "connection refused".into() }
        );
        assert_eq!(
            p.outcome(down(), 4, now),
            Outcome::Failed { error: "gave up after 4 tries: connection refused".into() }
        );
        assert_eq!(
            p.outcome(Err(SendError::permanent("550 no such user")), 1, now),
            Outcome::Failed { error: "550 no such user".into() }
        );
        assert_eq!(p.outcome(Ok(()), 1, now), Outcome::Sent { at: now });
    }
}
