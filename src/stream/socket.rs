//! socket.io on the API's own port at `/api/v1/events`, beside the REST routes of the same path:
//! a request goes to socket.io only when it is an Engine.IO request (`EIO=` in its query).
//!
//! The handshake's `auth` carries `token` (a session JWT, or an auth token with `event_access`
//! and `resources.events`) and, to resume, `last_event_id` (an event's `eventId`, or its `seq`).
//! A refused connection gets socket.io's connect error with `<status> <code>: <message>`.

use std::{fmt, future::Future, pin::Pin};

use axum::{
    body::Body,
    extract::Request,
    middleware::Next,
    response::{IntoResponse, Response},
};
use serde_json::{json, Value};
use socketioxide::{
    extract::{SocketRef, TryData},
    handler::ConnectHandler,
    SocketIo,
};
use tower::ServiceExt;

use super::Credential;
use crate::{api::events::EventReader, auth::principal::Principal, db, error::ApiError, state::AppState};

/// The stream's path (the REST history's too).
pub const PATH: &str = "/api/v1/events";

/// Why a connection was refused (socket.io sends its text as the connect error's `message`).
#[derive(Debug)]
pub struct Refused(String);

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<ApiError> for Refused {
    fn from(e: ApiError) -> Self {
        Self(e.client_text())
    }
}

/// Who a socket is, set when its handshake is accepted.
#[derive(Clone)]
struct Viewer {
    user_id: String,
    /// The credential, checked again while the socket lives (never logged).
    token: String,
    realm: Option<String>,
    /// Where to resume: after this event number.
    after: Option<i64>,
    /// `last_event_id` named no event we have.
    unknown_resume: Option<String>,
}

/// `auth.last_event_id`: an event id (24 hex) or a number.
fn resume_point(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

async fn authenticate(st: &AppState, s: &SocketRef, auth: Option<Value>) -> Result<(), Refused> {
    let auth = auth.unwrap_or(Value::Null);
    let token = auth
        .get("token")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| Refused("401 missing_token: connect with auth: { token: <JWT or auth token> }".into()))?;
    let credential = token.strip_prefix("Bearer ").unwrap_or(token).trim().to_owned();
    let mut parts = s.req_parts().clone();
    let me: Principal = Principal::from_credential(&mut parts, st, credential.clone()).await?;
    let EventReader(me) = EventReader::check(me)?;
    let (mut after, mut unknown_resume) = (None, None);
    if let Some(point) = auth.get("last_event_id").and_then(resume_point) {
        let seq = if point.bytes().all(|b| b.is_ascii_digit()) && point.len() < 19 {
            point.parse::<i64>().ok()
        } else if db::is_id(&point) {
            db::events::seq_of(&st.db, &me.user.user_id, me.realm.as_deref(), &point).await.map_err(ApiError::from)?
        } else {
            None
        };
        match seq {
            Some(seq) => after = Some(seq),
            None => unknown_resume = Some(point),
        }
    }
    s.extensions.insert(Viewer {
        user_id: me.user.user_id.clone(),
        token: credential,
        realm: me.realm.clone(),
        after,
        unknown_resume,
    });
    Ok(())
}

async fn connected(st: AppState, s: SocketRef) {
    let Some(v) = s.extensions.get::<Viewer>() else {
        let _ = s.disconnect();
        return;
    };
    let hub = st.stream.clone();
    let credential = Credential { token: v.token.clone(), parts: s.req_parts().clone() };
    let (sub, cursor) = hub.add(s.clone(), &v.user_id, v.realm.clone(), credential, v.after);
    s.on_disconnect({
        let (hub, sub) = (hub.clone(), sub.clone());
        move || async move { hub.remove(&sub) }
    });
    if !s.connected() {
        // Gone before its disconnect handler was set.
        hub.remove(&sub);
        return;
    }
    if let Some(point) = &v.unknown_resume {
        let note = json!({"type": "resume_failed", "last_event_id": point,
            "message": "last_event_id names no event you may see (deleted, or not numbered yet): live events only"});
        let _ = s.emit("message", &note);
    }
    if v.after.is_some() {
        if let Err(e) = hub.catch_up(&st.db, &sub, cursor).await {
            tracing::warn!(error = %e, "event stream resume failed");
            hub.remove(&sub);
            let _ = s.disconnect();
        }
    }
}

/// Whether `req` is socket.io's (Engine.IO's query names its protocol version).
pub fn is_engine_io(req: &Request) -> bool {
    let path = req.uri().path();
    (path == PATH || path == "/api/v1/events/")
        && req.uri().query().is_some_and(|q| q.split('&').any(|kv| kv.starts_with("EIO=")))
}

type Routed = Pin<Box<dyn Future<Output = Response> + Send>>;

/// The socket.io service with the default namespace's handlers, as a middleware: Engine.IO
/// requests go to socket.io, everything else on to the routes.
pub fn middleware(st: &AppState) -> impl Fn(Request, Next) -> Routed + Clone + Send + Sync + 'static {
    // A resume gives up to 500 events at once; an event's data may be large (a notification).
    let (svc, io) = SocketIo::builder().req_path(PATH).max_buffer_size(1024).max_payload(1024 * 1024).build_svc();
    let auth_st = st.clone();
    let check = move |s: SocketRef, TryData(auth): TryData<Value>| {
        let st = auth_st.clone();
        async move { authenticate(&st, &s, auth.ok()).await }
    };
    let conn_st = st.clone();
    let on_connect = move |s: SocketRef| {
        let st = conn_st.clone();
        async move { connected(st, s).await }
    };
    io.ns("/", on_connect.with(check));
    move |req: Request, next: Next| -> Routed {
        if !is_engine_io(&req) {
            return Box::pin(next.run(req));
        }
        let svc = svc.clone();
        Box::pin(async move {
            match svc.oneshot(req).await {
                Ok(res) => res.map(Body::new),
                Err(e) => {
                    tracing::debug!(error = ?e, "socket.io request failed");
                    ApiError::bad_request("invalid_socketio_request", "Not a valid socket.io request").into_response()
                }
            }
        })
    }
}
