//! Flash messages: one-time notices a form's redirect leaves for the next page (Post/Redirect/Get).

use serde::{Deserialize, Serialize};
use tower_sessions::Session;

/// The session key the messages wait under.
pub const FLASH_KEY: &str = "flash";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Flash {
    /// `success`, `info` or `error`.
    pub kind: String,
    pub message: String,
}

impl Flash {
    /// Queues a message for the next page this session renders (Post/Redirect/Get).
    pub async fn push(session: &Session, kind: &str, message: impl Into<String>) {
        let mut list: Vec<Flash> = session.get(FLASH_KEY).await.ok().flatten().unwrap_or_default();
        list.push(Flash { kind: kind.into(), message: message.into() });
        let _ = session.insert(FLASH_KEY, list).await;
    }
}
