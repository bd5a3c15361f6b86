//! Handing a message to the SMTP server (lettre): STARTTLS or implicit TLS and credentials come from
//! `--smtp-url`. A permanent refusal (5xx) bounces the message; anything else (4xx, a connection that fails)
//! is retried by the job queue with backoff.

use lettre::message::header::{Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, header::ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// What the SMTP server said.
#[derive(Debug)]
pub enum Delivery {
    Sent,
    /// Refused for good (5xx): the message bounced.
    Bounced(String),
    /// Refused for now, or unreachable: try again later.
    Retry(String),
}

/// `List-Unsubscribe: <https://…>` (RFC 2369).
#[derive(Clone)]
struct ListUnsubscribe(String);

impl Header for ListUnsubscribe {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe")
    }
    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self(s.trim_matches(|c| c == '<' || c == '>').to_string()))
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), format!("<{}>", self.0))
    }
}

/// `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058): the mail client may unsubscribe with one
/// POST to the link, no page in between.
#[derive(Clone)]
struct ListUnsubscribePost;

impl Header for ListUnsubscribePost {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe-Post")
    }
    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self)
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "List-Unsubscribe=One-Click".into())
    }
}

/// One email to hand over.
pub struct Outgoing<'a> {
    pub id: i64,
    pub from: &'a str,
    pub to: &'a str,
    pub subject: &'a str,
    pub body: &'a str,
    /// The one-click unsubscribe link of a borrower message.
    pub unsubscribe_url: Option<&'a str>,
}

/// Builds the email; None when an address is not one (the message bounces without a conversation).
fn build(m: &Outgoing<'_>) -> Result<Message, String> {
    let from: Mailbox = m.from.parse().map_err(|e| format!("the From address is not valid: {e}"))?;
    let to: Mailbox = m.to.parse().map_err(|e| format!("'{}' is not an email address: {e}", m.to))?;
    let domain = from.email.domain().to_string();
    let mut b = Message::builder()
        .from(from)
        .to(to)
        .subject(m.subject)
        // The same id on every attempt, so a receiver that got a retried message once can tell.
        .message_id(Some(format!("<message-{}@{}>", m.id, domain)));
    if let Some(url) = m.unsubscribe_url {
        b = b.header(ListUnsubscribe(url.to_string())).header(ListUnsubscribePost);
    }
    b.header(ContentType::TEXT_PLAIN).body(m.body.to_string()).map_err(|e| e.to_string())
}

/// Sends one email through `smtp_url`.
pub async fn send(smtp_url: &str, m: &Outgoing<'_>) -> Delivery {
    let email = match build(m) {
        Ok(e) => e,
        Err(e) => return Delivery::Bounced(e),
    };
    let transport = match AsyncSmtpTransport::<Tokio1Executor>::from_url(smtp_url) {
        Ok(t) => t.timeout(Some(std::time::Duration::from_secs(30))).build(),
        Err(e) => return Delivery::Retry(format!("the SMTP URL does not work: {e}")),
    };
    match transport.send(email).await {
        Ok(_) => Delivery::Sent,
        Err(e) if e.is_permanent() => Delivery::Bounced(e.to_string()),
        Err(e) => Delivery::Retry(e.to_string()),
    }
}
