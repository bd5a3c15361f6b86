//! The users behind API tokens, kept for a few seconds per instance so an integration's request needs no round
//! trip to learn who is calling (issue 22: the lead list and intake answer in fewer round trips).
//!
//! Correct across instances: every change to `users`, `api_tokens` or `team_managers` (deactivation, a new role
//! or team, a revoked token, changed scopes) notifies `loanfloor_auth_changed` from a trigger
//! (`migrations/0056_auth_change_notify.sql`), delivered by PostgreSQL to every instance's listener when the
//! change commits, and each instance then forgets everything it kept. So a deactivation takes effect everywhere
//! within the notification's delivery (milliseconds), not at the end of the entry's life. An entry read while a
//! change committed is never kept (the generation moved on during the read). Without a working listener (not
//! yet connected, connection lost, a command that serves nothing) nothing is kept and every request asks the
//! database, as before. An entry lives at most [`TTL`] and never past its token's expiry; after that the next
//! request reads the database again, which also records the token's last use to the minute.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::model::CurrentUser;
use super::session_cache::SessionCache;
use crate::state::AppState;

/// The channel the trigger notifies.
pub const CHANNEL: &str = "loanfloor_auth_changed";
/// How long an entry may serve.
const TTL: Duration = Duration::from_secs(30);
/// More entries than this and the map starts again (tokens are few; this bounds memory against a flood).
const MAX_ENTRIES: usize = 10_000;

struct Entry {
    user: CurrentUser,
    generation: u64,
    until: Instant,
    token_expires_at: DateTime<Utc>,
}

/// One instance's kept users by token hash.
#[derive(Default)]
pub struct TokenCache {
    /// Moves on with every notification (and every reconnection): entries of an older generation are dead.
    generation: AtomicU64,
    /// The listener is connected and listening: only then may entries serve.
    listening: AtomicBool,
    entries: Mutex<HashMap<String, Entry>>,
}

impl TokenCache {
    pub fn of(state: &AppState) -> std::sync::Arc<TokenCache> {
        state.extensions.get_or_insert_with(TokenCache::default)
    }

    /// The generation now, to pass to [`TokenCache::keep`] after reading the database.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The user behind this token hash, if kept, still current and unexpired.
    pub fn get(&self, hash: &str, now: DateTime<Utc>) -> Option<CurrentUser> {
        if !self.listening.load(Ordering::Acquire) {
            return None;
        }
        let generation = self.generation();
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let e = entries.get(hash)?;
        (e.generation == generation && Instant::now() < e.until && now < e.token_expires_at).then(|| e.user.clone())
    }

    /// Keeps `user`, read from the database at `generation`, unless anything changed since (or nothing listens).
    pub fn keep(&self, hash: String, user: &CurrentUser, token_expires_at: DateTime<Utc>, generation: u64) {
        if !self.listening.load(Ordering::Acquire) {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        // Checked under the lock: `forget` takes it too, so an entry of an older generation never lands after it.
        if self.generation() != generation {
            return;
        }
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        let entry = Entry { user: user.clone(), generation, until: Instant::now() + TTL, token_expires_at };
        entries.insert(hash, entry);
    }

    /// Forgets everything (a change was notified, or notifications may have been lost).
    fn forget(&self) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.clear();
    }

    fn set_listening(&self, on: bool) {
        self.forget();
        self.listening.store(on, Ordering::Release);
    }
}

/// Forgets everything this instance kept (tokens' users and sessions), at once. The instance that changed a
/// person, a team's managers or a token calls it right after its commit, so its own next request never runs
/// inside the notification's delivery (other instances forget when the notification reaches them, milliseconds
/// later).
pub fn changed_here(state: &AppState) {
    TokenCache::of(state).forget();
    SessionCache::of(state).forget_all();
}

/// The caches this instance keeps (`--token-cache`, `--session-cache`); the listener serves both.
struct Kept {
    tokens: Option<std::sync::Arc<TokenCache>>,
    sessions: Option<std::sync::Arc<SessionCache>>,
}

impl Kept {
    fn set_listening(&self, on: bool) {
        if let Some(t) = &self.tokens {
            t.set_listening(on);
        }
        if let Some(s) = &self.sessions {
            s.set_listening(on);
        }
    }
}

/// Listens for changes for as long as the server runs (on its own connection, outside the request pool), and
/// connects again after a lost connection; nothing is kept while it is not listening. None when neither cache
/// is on.
pub fn spawn_listener(state: &AppState) -> Option<tokio::task::JoinHandle<()>> {
    let kept = Kept {
        tokens: state.config.token_cache.then(|| TokenCache::of(state)),
        sessions: state.config.session_cache.then(|| SessionCache::of(state)),
    };
    if kept.tokens.is_none() && kept.sessions.is_none() {
        return None;
    }
    let db = state.db.clone();
    Some(tokio::spawn(async move {
        loop {
            if let Err(e) = listen(&db, &kept).await {
                tracing::warn!(error = %e, "the token and session caches stopped listening for changes; tokens and sessions are read from the database until they listen again");
            }
            kept.set_listening(false);
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }))
}

async fn listen(db: &PgPool, kept: &Kept) -> sqlx::Result<()> {
    let own = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_with(db.connect_options().as_ref().clone())
        .await?;
    let mut listener = sqlx::postgres::PgListener::connect_with(&own).await?;
    listener.listen_all([CHANNEL, super::session_cache::CHANNEL]).await?;
    kept.set_listening(true);
    loop {
        // `None`: the connection was lost and made again; what was notified meanwhile is unknown.
        let Some(n) = listener.try_recv().await? else {
            kept.set_listening(true);
            continue;
        };
        if n.channel() == super::session_cache::CHANNEL {
            if let Some(s) = &kept.sessions {
                s.notified(n.payload());
            }
        } else {
            if let Some(t) = &kept.tokens {
                t.forget();
            }
            if let Some(s) = &kept.sessions {
                s.forget_all();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> CurrentUser {
        CurrentUser::example(uuid::Uuid::nil(), true)
    }

    #[test]
    fn nothing_is_kept_without_a_listener_and_a_change_forgets_everything() {
        let cache = TokenCache::default();
        let later = Utc::now() + chrono::Duration::hours(1);
        cache.keep("h".into(), &user(), later, cache.generation());
        assert!(cache.get("h", Utc::now()).is_none(), "not listening: nothing kept");
        cache.set_listening(true);
        let generation = cache.generation();
        cache.keep("h".into(), &user(), later, generation);
        assert_eq!(cache.get("h", Utc::now()).map(|u| u.email), Some("ann@example.com".into()));
        // The token's own expiry bounds the entry.
        assert!(cache.get("h", later).is_none());
        // A change notified: gone; and a read that began before it is not kept.
        cache.forget();
        assert!(cache.get("h", Utc::now()).is_none());
        cache.keep("h".into(), &user(), later, generation);
        assert!(cache.get("h", Utc::now()).is_none(), "read before the change");
        cache.set_listening(false);
        cache.keep("h".into(), &user(), later, cache.generation());
        assert!(cache.get("h", Utc::now()).is_none());
    }
}
