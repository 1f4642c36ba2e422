//! The principal cache: the user (with one of its sessions) or the auth token (with its owner)
//! that the last requests authenticated as, kept a short while so a burst of requests costs one
//! database read instead of one each.
//!
//! Revocation still holds, on every replica:
//! - on the replica that made a change: the change's handler invalidates the user here after its
//!   transaction commits (`invalidate`), so the next request reads the database;
//! - on the others: a trigger on `app_user`, `user_session` and `auth_token` notifies
//!   `principal_changed` with the user id when something a request is judged by changes (a ban,
//!   a logout-all, a revoked session, a disabled, changed or deleted token), and every replica's
//!   listener (`crate::invalidate`) invalidates that user (milliseconds); a listener that lost
//!   its connection drops everything when it is back;
//! - and whatever happens to notifications, an entry lives at most `HOODY_PRINCIPAL_CACHE_MS`
//!   (1 s by default; 0 turns the cache off).
//!
//! A lookup notes the invalidation count and the time before it reads the database; its answer
//! is kept only if nothing was invalidated meanwhile (a read that raced a revocation is never
//! served), and its age counts from before the read. Nothing is kept while this replica is not
//! listening (before the first `LISTEN`, and from a lost connection until the next one), so the
//! lifetime alone never has to carry a revocation.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Mutex,
    },
    time::{Duration, Instant},
};

use crate::{db::auth_tokens::TokenWithUser, db::users::SessionUser};

/// The channel the `principal_changed` trigger notifies (payload: the user id).
pub const CHANNEL: &str = "principal_changed";

/// Entries kept at most; past it the cache starts over (it refills from the database).
const CAPACITY: usize = 50_000;

struct Entry<T> {
    value: T,
    at: Instant,
}

#[derive(Default)]
struct Maps {
    sessions: HashMap<(String, String), Entry<SessionUser>>,
    tokens: HashMap<Vec<u8>, Entry<TokenWithUser>>,
}

pub struct PrincipalCache {
    ttl: Duration,
    maps: Mutex<Maps>,
    /// Invalidations so far (of anyone, or of everything).
    invalidations: AtomicU64,
    /// The listener is connected and listening: only then is anything kept.
    listening: AtomicBool,
}

/// What a lookup saw before it went to the database (the invalidation count, the time): hand it
/// back to `put_*`.
#[derive(Clone, Copy)]
pub struct Ticket(u64, Instant);

impl PrincipalCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            maps: Mutex::new(Maps::default()),
            invalidations: AtomicU64::new(0),
            listening: AtomicBool::new(false),
        }
    }

    fn maps(&self) -> std::sync::MutexGuard<'_, Maps> {
        self.maps.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn enabled(&self) -> bool {
        !self.ttl.is_zero()
    }

    fn ticket(&self) -> Ticket {
        Ticket(self.invalidations.load(Ordering::Acquire), Instant::now())
    }

    /// Whether an answer read under ticket `t` may be kept: the cache is on, this replica hears
    /// of changes, and nothing was invalidated since the ticket (call with the maps locked).
    fn keeps(&self, t: Ticket) -> bool {
        self.enabled() && self.listening.load(Ordering::Acquire) && self.invalidations.load(Ordering::Acquire) == t.0
    }

    /// The listener is listening (`true`) or lost its connection (`false`: everything goes).
    pub(crate) fn set_listening(&self, on: bool) {
        if !on {
            self.listening.store(false, Ordering::Release);
        }
        self.invalidate_all();
        if on {
            self.listening.store(true, Ordering::Release);
        }
    }

    /// A cached session of `user_id`, or the ticket to cache what the database says.
    pub fn session(&self, user_id: &str, sid: &str) -> Result<SessionUser, Ticket> {
        let ticket = self.ticket();
        match self.maps().sessions.get(&(user_id.to_owned(), sid.to_owned())) {
            Some(e) if e.at.elapsed() < self.ttl => Ok(e.value.clone()),
            _ => Err(ticket),
        }
    }

    pub fn put_session(&self, user_id: &str, sid: &str, value: SessionUser, t: Ticket) {
        let mut maps = self.maps();
        if !self.keeps(t) {
            return;
        }
        if maps.sessions.len() >= CAPACITY {
            maps.sessions.clear();
        }
        maps.sessions.insert((user_id.to_owned(), sid.to_owned()), Entry { value, at: t.1 });
    }

    /// A cached token by the SHA-256 of its secret, or the ticket to cache what the database says.
    pub fn token(&self, hash: &[u8]) -> Result<TokenWithUser, Ticket> {
        let ticket = self.ticket();
        match self.maps().tokens.get(hash) {
            Some(e) if e.at.elapsed() < self.ttl => Ok(e.value.clone()),
            _ => Err(ticket),
        }
    }

    pub fn put_token(&self, hash: &[u8], value: TokenWithUser, t: Ticket) {
        let mut maps = self.maps();
        if !self.keeps(t) {
            return;
        }
        if maps.tokens.len() >= CAPACITY {
            maps.tokens.clear();
        }
        maps.tokens.insert(hash.to_vec(), Entry { value, at: t.1 });
    }

    /// Forget everything about `user_id` (their sessions and their tokens).
    pub fn invalidate(&self, user_id: &str) {
        let mut maps = self.maps();
        self.invalidations.fetch_add(1, Ordering::AcqRel);
        maps.sessions.retain(|(u, _), _| u != user_id);
        maps.tokens.retain(|_, e| e.value.user.user_id != user_id);
    }

    /// Forget `user_id` when the guard is dropped. Take it before committing a change to what
    /// their requests are judged by: it runs after the commit, and also when the request is cut
    /// short (a timeout, a hang-up) between the commit and the end of the handler.
    pub fn forget_on_drop<'a>(&'a self, user_id: &'a str) -> Forget<'a> {
        Forget { cache: self, user_id }
    }

    /// Forget everything.
    pub fn invalidate_all(&self) {
        let mut maps = self.maps();
        self.invalidations.fetch_add(1, Ordering::AcqRel);
        maps.sessions.clear();
        maps.tokens.clear();
    }
}

/// See [`PrincipalCache::forget_on_drop`].
#[must_use = "the user is forgotten when this guard is dropped"]
pub struct Forget<'a> {
    cache: &'a PrincipalCache,
    user_id: &'a str,
}

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        self.cache.invalidate(self.user_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invalidations(c: &PrincipalCache) -> u64 {
        c.invalidations.load(Ordering::Acquire)
    }

    #[tokio::test]
    async fn the_forget_guard_invalidates_when_done_and_when_cut_short() {
        let cache = PrincipalCache::new(Duration::from_secs(1));
        assert_eq!(invalidations(&cache), 0);
        {
            let _forget = cache.forget_on_drop("user-1");
            assert_eq!(invalidations(&cache), 0, "not before the guard goes");
        }
        assert_eq!(invalidations(&cache), 1);
        // A handler cut short while it awaits (its commit, say) still forgets the user.
        let cut_short = async {
            let _forget = cache.forget_on_drop("user-1");
            std::future::pending::<()>().await;
        };
        assert!(tokio::time::timeout(Duration::from_millis(10), cut_short).await.is_err());
        assert_eq!(invalidations(&cache), 2);
    }

    #[test]
    fn nothing_is_kept_unless_listening_and_unchanged_since_the_ticket() {
        let cache = PrincipalCache::new(Duration::from_secs(1));
        let before = cache.ticket();
        assert!(!cache.keeps(before), "not listening yet");
        cache.set_listening(true);
        assert!(!cache.keeps(before), "the ticket predates the listener's start");
        let t = cache.ticket();
        assert!(cache.keeps(t));
        cache.invalidate("someone");
        assert!(!cache.keeps(t), "an invalidation since the ticket");
        let t = cache.ticket();
        cache.set_listening(false);
        assert!(!cache.keeps(t) && !cache.keeps(cache.ticket()), "a lost listener keeps nothing");
        assert!(!PrincipalCache::new(Duration::ZERO).keeps(t), "the cache turned off");
    }
}
