//! A rented server's live figures: LXD's `GET /1.0/resources` and its storage pool's space,
//! cached per server for [`TTL`], so clients may poll. When the host does not answer, the last
//! figures are served with `stale: true` (and the host's error when there are none).

use std::{
    collections::HashMap,
    sync::{Mutex, OnceLock},
    time::{Duration, Instant},
};

use axum::extract::State;
use chrono::Utc;

use super::{dto::RuntimeOut, rental_id, rental_not_found};
use crate::{
    auth::access::Session,
    db::{self, rentals},
    envelope::{ApiOk, Envelope},
    error::{ApiError, ErrorBody, Result},
    extract::Path,
    host::HostResources,
    lifecycle::host_of,
    state::AppState,
};

/// How long one reading of a host serves.
const TTL: Duration = Duration::from_secs(5);

type Reading = (Instant, chrono::DateTime<Utc>, HostResources);

fn cache() -> &'static Mutex<HashMap<String, Reading>> {
    static CACHE: OnceLock<Mutex<HashMap<String, Reading>>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

fn cached(server_id: &str) -> Option<Reading> {
    cache().lock().ok()?.get(server_id).cloned()
}

fn pct(used: Option<i64>, total: Option<i64>) -> Option<f64> {
    match (used, total) {
        (Some(u), Some(t)) if t > 0 => Some((u as f64 * 10_000.0 / t as f64).round() / 100.0),
        _ => None,
    }
}

fn shown(r: &Reading, stale: bool) -> RuntimeOut {
    let (at, ts, res) = r;
    RuntimeOut {
        scope: "server",
        ts: db::ts(*ts),
        cache_age_ms: at.elapsed().as_millis() as i64,
        stale,
        uptime_s: None,
        cores: res.cores,
        load: serde_json::json!({"1": null, "5": null, "15": null}),
        cpu: serde_json::json!({"busy_pct": null}),
        mem: serde_json::json!({"used_bytes": res.mem_used, "total_bytes": res.mem_total, "pct": pct(res.mem_used, res.mem_total)}),
        swap: serde_json::json!({"used_bytes": null, "total_bytes": null}),
        storage: serde_json::json!({
            "used_bytes": res.storage_used, "total_bytes": res.storage_total, "pct": pct(res.storage_used, res.storage_total)
        }),
    }
}

async fn runtime(st: &AppState, me: &Session, raw: &str) -> Result<ApiOk<RuntimeOut>> {
    let id = rental_id(raw)?;
    let r = rentals::of_user(&st.db, &me.user.user_id, Some(id)).await?.pop().ok_or_else(rental_not_found)?;
    if r.status != "active" || r.rental_end <= Utc::now() {
        return Err(ApiError::conflict("rental_not_active", format!("This rental is {}", r.status)));
    }
    if let Some(hit) = cached(&r.server_id).filter(|c| c.0.elapsed() < TTL) {
        return Ok(ApiOk::new("Server runtime", shown(&hit, false)));
    }
    let read = async {
        let host = host_of(st, Some(&r.server_id)).await?;
        host.call("resources", |d| d.resources()).await.map_err(ApiError::from)
    };
    match read.await {
        Ok(res) => {
            let reading = (Instant::now(), Utc::now(), res);
            if let Ok(mut c) = cache().lock() {
                c.insert(r.server_id.clone(), reading.clone());
            }
            Ok(ApiOk::new("Server runtime", shown(&reading, false)))
        }
        Err(e) => match cached(&r.server_id) {
            Some(old) => Ok(ApiOk::new("Server runtime (stale: the host did not answer)", shown(&old, true))),
            None => Err(e),
        },
    }
}

/// Get rental runtime
///
/// Live figures of the server a rental of yours holds (cores, memory, storage), from LXD,
/// cached for 5 s (`cache_age_ms`); `stale: true` when the host did not answer and older
/// figures are shown. Load, CPU busy, swap and uptime are not reported by LXD: null. Needs a
/// signed-in session (auth tokens: 403); an ended rental is 409.
#[utoipa::path(get, path = "/rentals/{id}/runtime", tag = "serverRental", security(("bearer" = [])),
    params(("id" = String, Path, description = "Rental ID")),
    responses((status = 200, body = Envelope<RuntimeOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-session-only" = json!(true))))]
pub async fn get_rental_runtime(
    State(st): State<AppState>,
    me: Session,
    Path(id): Path<String>,
) -> Result<ApiOk<RuntimeOut>> {
    runtime(&st, &me, &id).await
}

/// Get server runtime
///
/// The same as `GET /rentals/{id}/runtime` (`id` is the rental's).
#[utoipa::path(get, path = "/servers/{id}/runtime", tag = "serverRental", security(("bearer" = [])),
    params(("id" = String, Path, description = "Rental ID")),
    responses((status = 200, body = Envelope<RuntimeOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-session-only" = json!(true))))]
pub async fn get_server_runtime(
    State(st): State<AppState>,
    me: Session,
    Path(id): Path<String>,
) -> Result<ApiOk<RuntimeOut>> {
    runtime(&st, &me, &id).await
}
