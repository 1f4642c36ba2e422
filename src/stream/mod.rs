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
use socketioxide::extract::SocketRef;
use sqlx::{postgres::PgListener, PgPool};

use crate::{
    db::{self, events::EventRow},
    events::{self as ev, EventKind},
    shutdown::Stop,
};

/// Rows read per query.
const BATCH: i64 = 500;

/// One connected socket.
pub struct Sub {
    pub socket: SocketRef,
    pub user_id: String,
    /// Only events of this realm, when set.
    pub realm: Option<String>,
    /// The number of the last event given to this socket.
    cursor: tokio::sync::Mutex<i64>,
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

    /// Give `r` unless already given; false when the socket cannot take it (closed or full).
    fn give(&self, cursor: &mut i64, r: &EventRow, hub: &Hub) -> bool {
        if r.seq <= *cursor {
            return true;
        }
        *cursor = r.seq;
        if !self.sees_realm(r) {
            return true;
        }
        match self.socket.emit("message", &payload(r)) {
            Ok(()) => {
                hub.delivered.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(_) => false,
        }
    }
}

impl Hub {
    pub fn connected(&self) -> usize {
        self.subs.read().map(|m| m.values().map(Vec::len).sum()).unwrap_or(0)
    }

    /// Add a socket that starts after event `from` (None: after the last one handled).
    pub fn add(&self, socket: SocketRef, user_id: &str, realm: Option<String>, from: Option<i64>) -> Arc<Sub> {
        let mut subs = self.subs.write().unwrap_or_else(|e| e.into_inner());
        // Read under the lock: the dispatcher gives every event after `head` to the sockets
        // in the map when it gets there.
        let start = from.unwrap_or_else(|| self.head.load(Ordering::SeqCst));
        let sub = Arc::new(Sub { socket, user_id: user_id.to_owned(), realm, cursor: tokio::sync::Mutex::new(start) });
        subs.entry(user_id.to_owned()).or_default().push(sub.clone());
        sub
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
    /// the dispatcher go on. Holds the socket's cursor meanwhile, so nothing is given twice or
    /// out of order.
    pub async fn catch_up(&self, db: &PgPool, sub: &Arc<Sub>) -> sqlx::Result<()> {
        let mut cursor = sub.cursor.lock().await;
        loop {
            let rows = db::events::visible_after(db, &sub.user_id, sub.realm.as_deref(), *cursor, BATCH).await?;
            for r in &rows {
                if !sub.give(&mut cursor, r, self) {
                    let _ = sub.socket.clone().disconnect();
                    return Ok(());
                }
            }
            if (rows.len() as i64) < BATCH {
                return Ok(());
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
        for user in self.recipients(db, r).await? {
            for sub in self.of_user(&user) {
                let mut cursor = sub.cursor.lock().await;
                if !sub.give(&mut cursor, r, self) {
                    tracing::debug!(user = %sub.user_id, "event socket cannot keep up: disconnected");
                    let _ = sub.socket.clone().disconnect();
                }
            }
        }
        Ok(())
    }

    /// Handle every numbered event after the cursor; the new cursor.
    async fn drain(&self, db: &PgPool, mut cursor: i64) -> sqlx::Result<i64> {
        loop {
            if !self.has_subs() {
                // Nobody to give them to: move on to the last one.
                cursor = cursor.max(db::events::last_seq(db).await?);
                self.head.store(cursor, Ordering::SeqCst);
                return Ok(cursor);
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
pub async fn run(hub: Arc<Hub>, db: PgPool, stop: Stop) {
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
    let listen = ev::listen_pool(&db);
    let mut listener: Option<PgListener> = None;
    loop {
        if listener.is_none() {
            listener = match PgListener::connect_with(&listen).await {
                Ok(mut l) => l.listen(ev::CHANNEL).await.ok().map(|()| l),
                Err(_) => None,
            };
        }
        let woken = async {
            match listener.as_mut() {
                Some(l) => l.try_recv().await.map(|_| ()).map_err(|_| ()),
                None => Err(()),
            }
        };
        let heard = tokio::select! {
            r = woken => Some(r.is_ok()),
            _ = tokio::time::sleep(Duration::from_secs(1)) => None,
            _ = stop.wait() => return,
        };
        if heard == Some(false) {
            listener = None;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        match hub.drain(&db, cursor).await {
            Ok(c) => cursor = c,
            Err(e) => tracing::debug!(error = %e, "event dispatch paused"),
        }
    }
}
