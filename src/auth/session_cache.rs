//! Signed-in browser sessions kept for a few seconds per instance (`--session-cache`, issue 22), so a page or an
//! API call made with a session cookie needs no round trip to learn who is calling: the lead list then costs one
//! statement instead of two.
//!
//! Correct across instances, like the token cache (`auth::token_cache`): what a kept session answers with comes
//! from the user (every change to users, API tokens or managed teams notifies `loanfloor_auth_changed`, and every
//! instance forgets everything), the session row (its data, such as a flash message, and its idle expiry) and the
//! person's unread notifications (the bell's count). A change to either of the last two notifies
//! `loanfloor_session_changed` with the session's id hash or the person (`migrations/0066`), and every instance
//! forgets just that. The instance that makes a change forgets at once too ([`SessionCache::forget_session`] from
//! the session store, [`changed_here`] after a person's change), so its own next request never runs inside the
//! notification's delivery. A read that began before a change it overlaps is never kept. Without a working
//! listener nothing is kept. An entry lives at most [`TTL`], never past the session's idle expiry or absolute
//! lifetime, and only sessions whose sign-in is complete (second factor passed or not needed) are kept: a change
//! to the roles that need a second factor notifies like a change to a person.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::model::CurrentUser;
use super::session::SessionAuth;
use crate::state::AppState;

/// The channel the session and notification triggers notify.
pub const CHANNEL: &str = "loanfloor_session_changed";
/// How long an entry may serve.
const TTL: Duration = Duration::from_secs(30);
/// More entries than this and the map starts again (bounds memory against a flood of sign-ins).
const MAX_ENTRIES: usize = 10_000;
/// How long a targeted forget is remembered, to refuse a read begun before it (longer than any read takes).
const REMEMBER_FORGETS: Duration = Duration::from_secs(120);

/// What a kept session answers a request with.
#[derive(Debug, Clone)]
pub struct KeptSession {
    pub user: CurrentUser,
    pub auth: SessionAuth,
    /// The session's idle expiry when it was read.
    pub expires_at: DateTime<Utc>,
    /// The person's unread notifications (the bell).
    pub unread: i64,
    /// The session holds a flash message to show.
    pub has_flash: bool,
    /// The person's own time zone, if they chose one.
    pub zone: Option<chrono_tz::Tz>,
}

/// What a forget names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Target {
    Session(String),
    Person(Uuid),
}

struct Entry {
    kept: KeptSession,
    until: Instant,
}

struct Inner {
    entries: HashMap<String, Entry>,
    /// When everything was last forgotten.
    all_forgotten_at: Instant,
    /// When each session or person was last forgotten (pruned after [`REMEMBER_FORGETS`]).
    forgotten_at: HashMap<Target, Instant>,
}

/// One instance's kept sessions by the session id's hash.
pub struct SessionCache {
    /// The listener is connected and listening: only then may entries serve.
    listening: AtomicBool,
    inner: Mutex<Inner>,
}

impl Default for SessionCache {
    fn default() -> Self {
        let inner = Inner { entries: HashMap::new(), all_forgotten_at: Instant::now(), forgotten_at: HashMap::new() };
        Self { listening: AtomicBool::new(false), inner: Mutex::new(inner) }
    }
}

impl SessionCache {
    pub fn of(state: &AppState) -> std::sync::Arc<SessionCache> {
        state.extensions.get_or_insert_with(SessionCache::default)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The session kept under this id hash, if any and still within its entry's life.
    pub fn get(&self, id_hash: &str) -> Option<KeptSession> {
        if !self.listening.load(Ordering::Acquire) {
            return None;
        }
        let inner = self.lock();
        inner.entries.get(id_hash).filter(|e| Instant::now() < e.until).map(|e| e.kept.clone())
    }

    /// Keeps a session read from the database in a read that began at `began`, unless anything it depends on was
    /// forgotten since (or nothing listens).
    pub fn keep(&self, id_hash: String, kept: KeptSession, began: Instant) {
        if !self.listening.load(Ordering::Acquire) {
            return;
        }
        let mut inner = self.lock();
        let overlapped = |t: &Target| inner.forgotten_at.get(t).is_some_and(|at| *at >= began);
        if inner.all_forgotten_at >= began
            || overlapped(&Target::Session(id_hash.clone()))
            || overlapped(&Target::Person(kept.user.id))
        {
            return;
        }
        if inner.entries.len() >= MAX_ENTRIES {
            inner.entries.clear();
        }
        inner.entries.insert(id_hash, Entry { kept, until: Instant::now() + TTL });
    }

    /// Forgets every kept session (a person, a token or a team's managers changed, or notifications may have been
    /// lost).
    pub fn forget_all(&self) {
        let mut inner = self.lock();
        inner.entries.clear();
        inner.forgotten_at.clear();
        inner.all_forgotten_at = Instant::now();
    }

    /// Forgets one session (its data or idle expiry changed, or it ended).
    pub fn forget_session(&self, id_hash: &str) {
        let mut inner = self.lock();
        inner.entries.remove(id_hash);
        Self::remember(&mut inner, Target::Session(id_hash.to_string()));
    }

    /// Forgets a person's sessions (their unread notifications changed).
    pub fn forget_person(&self, person: Uuid) {
        let mut inner = self.lock();
        inner.entries.retain(|_, e| e.kept.user.id != person);
        Self::remember(&mut inner, Target::Person(person));
    }

    fn remember(inner: &mut Inner, target: Target) {
        let now = Instant::now();
        inner.forgotten_at.retain(|_, at| now.duration_since(*at) < REMEMBER_FORGETS);
        inner.forgotten_at.insert(target, now);
    }

    /// What a notification on [`CHANNEL`] names: `session:<id hash>` or `person:<user id>`; anything else
    /// forgets everything.
    pub fn notified(&self, payload: &str) {
        if let Some(hash) = payload.strip_prefix("session:") {
            self.forget_session(hash);
        } else if let Some(person) = payload.strip_prefix("person:").and_then(|p| p.parse().ok()) {
            self.forget_person(person);
        } else {
            self.forget_all();
        }
    }

    pub(super) fn set_listening(&self, on: bool) {
        self.forget_all();
        self.listening.store(on, Ordering::Release);
    }
}

/// Forgets a person's kept sessions at once on this instance (their unread count changed here); other instances
/// forget when the trigger's notification reaches them.
pub fn person_changed_here(state: &AppState, person: Uuid) {
    if state.config.session_cache {
        SessionCache::of(state).forget_person(person);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(id: Uuid) -> KeptSession {
        KeptSession {
            user: CurrentUser::example(id, false),
            auth: SessionAuth { user_id: id, epoch: 0, signed_in_at: 0, mfa_ok: true, mfa_at: None },
            expires_at: Utc::now() + chrono::Duration::hours(1),
            unread: 2,
            has_flash: false,
            zone: None,
        }
    }

    #[test]
    fn a_forget_removes_what_it_names_and_refuses_reads_begun_before_it() {
        let cache = SessionCache::default();
        let (ann, bo) = (Uuid::new_v4(), Uuid::new_v4());
        cache.keep("a".into(), kept(ann), Instant::now());
        assert!(cache.get("a").is_none(), "not listening: nothing kept");
        cache.set_listening(true);
        let began = Instant::now();
        cache.keep("a".into(), kept(ann), began);
        cache.keep("b".into(), kept(bo), began);
        assert_eq!(cache.get("a").map(|k| k.unread), Some(2));

        // Ann's notifications changed: her session goes, Bo's stays, and a read of hers begun earlier is refused.
        cache.notified(&format!("person:{ann}"));
        assert!(cache.get("a").is_none());
        assert!(cache.get("b").is_some());
        cache.keep("a".into(), kept(ann), began);
        assert!(cache.get("a").is_none(), "read before the change");
        cache.keep("a".into(), kept(ann), Instant::now());
        assert!(cache.get("a").is_some(), "read after the change");

        // One session changed: only it goes.
        cache.notified("session:b");
        assert!(cache.get("b").is_none());
        assert!(cache.get("a").is_some());
        cache.keep("b".into(), kept(bo), began);
        assert!(cache.get("b").is_none(), "read before the change");

        // A person, token or team changed: everything goes.
        cache.notified("users");
        assert!(cache.get("a").is_none());
        cache.keep("a".into(), kept(ann), began);
        assert!(cache.get("a").is_none());
        cache.set_listening(false);
        cache.keep("a".into(), kept(ann), Instant::now());
        assert!(cache.get("a").is_none(), "not listening");
    }
}
