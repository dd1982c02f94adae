//! The servers notifications leave through, behind the notifications
//! context's [`Sender`] port: email over SMTP ([`SmtpSender`], lettre, a
//! pooled connection) and text messages through an HTTP provider that
//! speaks Twilio's Messages API ([`TwilioSms`]). Each sorts its failures
//! into transient (tried again) and permanent (failed at once).

mod smtp;
mod twilio;

pub use smtp::{SmtpConfig, SmtpSender};
pub use twilio::{TWILIO_API_BASE, TwilioConfig, TwilioSms};

#[doc(no_inline)]
pub use notifications::{SendError, Sender};
