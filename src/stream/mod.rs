//! The live event stream: socket.io at `/api/v1/events` ([`socket`]), fed by one dispatcher per
//! process that follows the numbered event table (`crate::events`).
//!
//! The dispatcher listens on the `events` channel (every replica's numbering announces there),
//! reads the rows after its cursor in number order and hands each to the sockets that may see
//! it: the owner's, and those of the users the event's project is shared with (read from the
//! database, cached per project and dropped when a permission event of that project passes, so
//! a revoked share stops the flow at the revoke's place in the stream). A socket realm-scoped
//! (a realm host label, `?realm_id=` or a realm-restricted token) gets only its realm's events.
//!
//! Every socket keeps the number of the last event it was given. A socket that connects with
//! `auth.last_event_id` is first given, from the table, what it missed; the dispatcher skips
//! what it already has: each event once, in order, whichever replica wrote it. A socket that
//! cannot keep up (its buffer full) is disconnected: it reconnects and catches up from the table.

pub mod socket;

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicI64, AtomicU64, Ordering},
        Arc, Mutex, RwLock,
    },
    time::Duration,
};

use serde_json::{json, Value};
use socketioxide::{extract::SocketRef, SendError, SocketError};
use sqlx::PgPool;
use tokio::sync::OwnedMutexGuard;

use crate::{
    db::{self, events::EventRow},
    events::{self as ev, EventKind},
    shutdown::Stop,
    state::AppState,
};

/// Rows read per query.
const BATCH: i64 = 500;
/// A resume gives at most this many batches from the table; past them the client is told where
/// to go on with `GET /events?after=` and gets live events (a resume never stalls the others long).
const RESUME_BATCHES: usize = 10;
/// How often every socket's credential is checked again (a logout, a revoked or expired token, a
/// ban or a withdrawn `event_access` ends its stream).
const RECHECK: Duration = Duration::from_secs(5);

/// What a socket authenticated with, to check it again (never logged: no `Debug`).
pub struct Credential {
    pub token: String,
    pub parts: axum::http::request::Parts,
}

/// Why an event could not be given.
enum Fail {
    /// The socket's buffer is full (it cannot keep up).
    Full,
    /// The socket is gone.
    Closed,
}

/// One connected socket.
pub struct Sub {
    pub socket: SocketRef,
    pub user_id: String,
    /// Only events of this realm, when set.
    pub realm: Option<String>,
    credential: Credential,
    /// The number of the last event given to this socket.
    cursor: Arc<tokio::sync::Mutex<i64>>,
}

/// The sockets of this process, by user, and what the dispatcher knows.
#[derive(Default)]
pub struct Hub {
    subs: RwLock<HashMap<String, Vec<Arc<Sub>>>>,
    /// The users each project is shared with (dropped on the project's permission events).
    grantees: Mutex<HashMap<String, Arc<Vec<String>>>>,
    /// The number of the last event the dispatcher handled.
    head: AtomicI64,
    /// Events given to sockets (a figure for `/metrics` and the benchmark).
    pub delivered: AtomicU64,
    /// From an event's `created_at` to the dispatcher having given it to every socket it goes to,
    /// for live events given to at least one (a resume's catch-up is not counted: it is late by
    /// design).
    pub lag: crate::metrics::SharedHistogram,
}

/// What the client receives: `message` with `{type: "event", event, data, timestamp, eventId}`
/// (CONVENTIONS 11), plus `seq`. `data` is the event's data with the resource named in it.
pub fn payload(r: &EventRow) -> Value {
    let mut data = match &r.data {
        Value::Object(m) => m.clone(),
        _ => Default::default(),
    };
    data.entry("resource_type").or_insert_with(|| json!(r.resource_type));
    data.entry("resource_id").or_insert_with(|| json!(r.resource_id));
    if let Some(p) = &r.project_id {
        data.entry("project_id").or_insert_with(|| json!(p));
    }
    if let Some(c) = &r.container_id {
        data.entry("container_id").or_insert_with(|| json!(c));
    }
    json!({
        "type": "event",
        "event": r.event_type,
        "data": data,
        "timestamp": db::ts(r.created_at),
        "eventId": r.event_id,
        "seq": r.seq,
    })
}

impl Sub {
    fn sees_realm(&self, r: &EventRow) -> bool {
        self.realm.as_ref().is_none_or(|realm| r.realm_ids.contains(realm))
    }

    /// Give `r` unless already given (or not of the socket's realm); the cursor moves only past
    /// what was given or skipped. True when it was given now.
    fn give(&self, cursor: &mut i64, r: &EventRow, message: &Value, hub: &Hub) -> Result<bool, Fail> {
        if r.seq <= *cursor {
            return Ok(false);
        }
        if !self.sees_realm(r) {
            *cursor = r.seq;
            return Ok(false);
        }
        match self.socket.emit("message", message) {
            Ok(()) => {
                *cursor = r.seq;
                hub.delivered.fetch_add(1, Ordering::Relaxed);
                Ok(true)
            }
            Err(SendError::Socket(SocketError::InternalChannelFull)) => Err(Fail::Full),
            Err(_) => Err(Fail::Closed),
        }
    }
}

impl Hub {
    pub fn connected(&self) -> usize {
        self.subs.read().map(|m| m.values().map(Vec::len).sum()).unwrap_or(0)
    }

    /// Add a socket that starts after event `from` (None: after the last one handled). Its
    /// cursor comes back locked: the dispatcher gives it nothing until the guard is dropped (after
    /// a resume's catch-up), so nothing overtakes the catch-up.
    pub fn add(
        &self,
        socket: SocketRef,
        user_id: &str,
        realm: Option<String>,
        credential: Credential,
        from: Option<i64>,
    ) -> (Arc<Sub>, OwnedMutexGuard<i64>) {
        let mut subs = self.subs.write().unwrap_or_else(|e| e.into_inner());
        // Read under the lock: the dispatcher gives every event after `head` to the sockets
        // in the map when it gets there.
        let start = from.unwrap_or_else(|| self.head.load(Ordering::SeqCst));
        let cursor = Arc::new(tokio::sync::Mutex::new(start));
        let guard = cursor.clone().try_lock_owned().unwrap_or_else(|_| unreachable!("a new mutex is free"));
        let sub = Arc::new(Sub { socket, user_id: user_id.to_owned(), realm, credential, cursor });
        subs.entry(user_id.to_owned()).or_default().push(sub.clone());
        (sub, guard)
    }

    /// Take `sub` out and close its socket (its client reconnects and resumes from the table).
    fn drop_sub(&self, sub: &Arc<Sub>) {
        self.remove(sub);
        let socket = sub.socket.clone();
        tokio::spawn(async move {
            // A full buffer refuses the disconnect packet too: try again while it drains.
            for _ in 0..100 {
                match socket.clone().disconnect() {
                    Err(SocketError::InternalChannelFull) => tokio::time::sleep(Duration::from_millis(50)).await,
                    _ => return,
                }
            }
        });
    }

    pub fn remove(&self, sub: &Arc<Sub>) {
        let mut subs = self.subs.write().unwrap_or_else(|e| e.into_inner());
        if let Some(list) = subs.get_mut(&sub.user_id) {
            list.retain(|s| !Arc::ptr_eq(s, sub));
            if list.is_empty() {
                subs.remove(&sub.user_id);
            }
        }
    }

    fn of_user(&self, user_id: &str) -> Vec<Arc<Sub>> {
        self.subs.read().ok().and_then(|m| m.get(user_id).cloned()).unwrap_or_default()
    }

    fn has_subs(&self) -> bool {
        self.subs.read().map(|m| !m.is_empty()).unwrap_or(true)
    }

    /// Give `sub` the events it may see after its cursor, from the table (a resume), then let
    /// the dispatcher go on (the guard `add` returned). A full buffer is waited on here for up to
    /// a second per event (the client is draining it; one that does not is closed: meanwhile the
    /// dispatcher waits for this socket); past [`RESUME_BATCHES`] the client gets `resume_truncated` with
    /// the `seq` to read on from (`GET /events?after=`) and live events.
    pub async fn catch_up(&self, db: &PgPool, sub: &Arc<Sub>, mut cursor: OwnedMutexGuard<i64>) -> sqlx::Result<()> {
        for _ in 0..RESUME_BATCHES {
            let rows = db::events::visible_after(db, &sub.user_id, sub.realm.as_deref(), *cursor, BATCH).await?;
            for r in &rows {
                let message = payload(r);
                let mut tries = 0;
                loop {
                    match sub.give(&mut cursor, r, &message, self) {
                        Ok(_) => break,
                        Err(Fail::Full) if tries < 40 => {
                            tries += 1;
                            tokio::time::sleep(Duration::from_millis(25)).await;
                        }
                        Err(_) => {
                            drop(cursor);
                            self.drop_sub(sub);
                            return Ok(());
                        }
                    }
                }
            }
            if (rows.len() as i64) < BATCH {
                return Ok(());
            }
        }
        let note = json!({"type": "resume_truncated", "after": *cursor,
            "message": "too far behind: read GET /api/v1/events?after=<after> for the rest; live events follow"});
        let _ = sub.socket.emit("message", &note);
        *cursor = (*cursor).max(self.head.load(Ordering::SeqCst));
        Ok(())
    }

    /// Check every socket's credential again; close those no longer allowed.
    async fn recheck(&self, st: &AppState) {
        let all: Vec<Arc<Sub>> = self.subs.read().map(|m| m.values().flatten().cloned().collect()).unwrap_or_default();
        for sub in all {
            let mut parts = sub.credential.parts.clone();
            let token = sub.credential.token.clone();
            let allowed = match crate::auth::principal::Principal::from_credential(&mut parts, st, token).await {
                Ok(me) => crate::api::events::EventReader::check(me).is_ok(),
                // The database being away is no reason to end a stream.
                Err(e) => e.status().is_server_error(),
            };
            if !allowed {
                tracing::debug!(user = %sub.user_id, "event socket's credential no longer valid: closed");
                self.drop_sub(&sub);
            }
        }
    }

    /// Who may see `r`: its owner, the users its project is shared with, and (for a permission
    /// event) the user it is about.
    async fn recipients(&self, db: &PgPool, r: &EventRow) -> sqlx::Result<Vec<String>> {
        let mut users = vec![r.user_id.clone()];
        let Some(project) = r.project_id.as_deref() else { return Ok(users) };
        let kind = EventKind::parse(&r.event_type);
        let permission = matches!(
            kind,
            Some(
                EventKind::ProjectPermissionGranted
                    | EventKind::ProjectPermissionUpdated
                    | EventKind::ProjectPermissionRevoked
            )
        );
        if permission || kind == Some(EventKind::ProjectDeleted) {
            self.grantees.lock().unwrap_or_else(|e| e.into_inner()).remove(project);
        }
        if permission {
            if let Some(u) = r.data.get("user_id").and_then(Value::as_str) {
                users.push(u.to_owned());
            }
        }
        let cached = self.grantees.lock().unwrap_or_else(|e| e.into_inner()).get(project).cloned();
        let grantees = match cached {
            Some(g) => g,
            None => {
                let g = Arc::new(db::events::grantees(db, project).await?);
                let mut cache = self.grantees.lock().unwrap_or_else(|e| e.into_inner());
                if cache.len() > 10_000 {
                    cache.clear();
                }
                cache.insert(project.to_owned(), g.clone());
                g
            }
        };
        users.extend(grantees.iter().cloned());
        users.sort();
        users.dedup();
        Ok(users)
    }

    async fn dispatch(&self, db: &PgPool, r: &EventRow) -> sqlx::Result<()> {
        self.head.store(r.seq, Ordering::SeqCst);
        // Built once for every socket it goes to.
        let message = payload(r);
        let mut given = false;
        for user in self.recipients(db, r).await? {
            for sub in self.of_user(&user) {
                let mut cursor = sub.cursor.lock().await;
                match sub.give(&mut cursor, r, &message, self) {
                    Ok(now) => given |= now,
                    Err(_) => {
                        drop(cursor);
                        tracing::debug!(user = %sub.user_id, "event socket cannot keep up (or is gone): closed");
                        self.drop_sub(&sub);
                    }
                }
            }
        }
        if given {
            let lag = chrono::Utc::now() - r.created_at;
            self.lag.observe_secs(lag.num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6);
        }
        Ok(())
    }

    /// Handle every numbered event after the cursor; the new cursor.
    async fn drain(&self, db: &PgPool, mut cursor: i64) -> sqlx::Result<i64> {
        loop {
            if !self.has_subs() {
                // Nobody to give them to: move on to the last one. Read first, then check again
                // under the lock `add` takes (a socket added meanwhile starts after `last`).
                let last = cursor.max(db::events::last_seq(db).await?);
                let subs = self.subs.write().unwrap_or_else(|e| e.into_inner());
                if subs.is_empty() {
                    self.head.store(last, Ordering::SeqCst);
                    // The permission events skipped are not seen: forget what they would change.
                    self.grantees.lock().unwrap_or_else(|e| e.into_inner()).clear();
                    return Ok(last);
                }
                continue;
            }
            let rows = ev::after(db, cursor, BATCH).await?;
            for r in &rows {
                self.dispatch(db, r).await?;
                cursor = r.seq;
            }
            if (rows.len() as i64) < BATCH {
                return Ok(cursor);
            }
        }
    }
}

/// The dispatcher: woken by the `events` channel (and every second, in case a notification was
/// missed while its listener reconnected).
pub async fn run(st: AppState, stop: Stop) {
    let (hub, db) = (st.stream.clone(), st.db.clone());
    let mut cursor = loop {
        match db::events::last_seq(&db).await {
            Ok(c) => break c,
            Err(_) => tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                _ = stop.wait() => return,
            },
        }
    };
    hub.head.store(cursor, Ordering::SeqCst);
    let mut wake = ev::Wake::new(&db, ev::CHANNEL);
    let mut checked = tokio::time::Instant::now();
    while wake.wait(&stop).await {
        if checked.elapsed() >= RECHECK {
            hub.recheck(&st).await;
            checked = tokio::time::Instant::now();
        }
        match hub.drain(&db, cursor).await {
            Ok(c) => cursor = c,
            Err(e) => tracing::debug!(error = %e, "event dispatch paused"),
        }
    }
}
