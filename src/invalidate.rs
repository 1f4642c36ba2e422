//! What one replica caches and another replica's request can change is invalidated through
//! PostgreSQL: the change notifies a channel in its own transaction (so the notice goes out when
//! it commits, and never for a change rolled back), and each replica's listener drops the entry.
//! A listener that lost its connection drops everything once it is back (notices may have been
//! missed meanwhile).
//!
//! The caches:
//! - the principal cache (`crate::auth::cache`): sessions and tokens by user, on
//!   `principal_changed`, which triggers on the tables notify;
//! - the runtime cache (`crate::lifecycle::RuntimeCache`): a container's host state as
//!   `?runtime=` last read it, on `cache_changed` with `runtime:<container id>`, which the
//!   host-operation runner sends with every op's outcome on a container.
//!
//! Not listed, because no request changes them: the host registry's drivers (rebuilt when the
//! server row's endpoint or fingerprint differs, read on every use), a rented server's live
//! figures (a reading of the host, 5 s), the AI catalogue (a file), the OpenAPI document.

use std::time::Duration;

use sqlx::{postgres::PgListener, PgConnection};

use crate::{shutdown::Stop, state::AppState};

/// The channel of every cache but the principal cache's (payload: `<cache>:<key>`).
pub const CHANNEL: &str = "cache_changed";

/// Tell every replica (this one included, through its listener) that `container_id`'s host state
/// changed; sent when `tx` commits.
pub async fn runtime_changed(tx: &mut PgConnection, container_id: &str) -> sqlx::Result<()> {
    sqlx::query!("select pg_notify($1, $2)", CHANNEL, format!("runtime:{container_id}")).execute(tx).await?;
    Ok(())
}

fn apply(st: &AppState, payload: &str) {
    if let Some(id) = payload.strip_prefix("runtime:") {
        st.runtime_cache.forget(id);
    }
}

fn apply_all(st: &AppState) {
    st.principals.invalidate_all();
    st.runtime_cache.clear();
}

/// Listen on both channels until `stop`; invalidate what each notice names.
pub async fn run_listener(st: AppState, stop: Stop) {
    let pool = crate::events::listen_pool(&st.db);
    let channels = [crate::auth::cache::CHANNEL, CHANNEL];
    loop {
        let listening = async {
            let mut l = PgListener::connect_with(&pool).await.ok()?;
            l.listen_all(channels).await.ok()?;
            Some(l)
        };
        let Some(mut listener) = listening.await else {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(500)) => continue,
                _ = stop.wait() => return,
            }
        };
        st.principals.set_listening(true);
        st.runtime_cache.clear();
        loop {
            tokio::select! {
                n = listener.try_recv() => match n {
                    Ok(Some(n)) if n.channel() == CHANNEL => apply(&st, n.payload()),
                    Ok(Some(n)) => st.principals.invalidate(n.payload()),
                    // The connection dropped and was made again (sqlx listens again before
                    // it says so): anything may have changed meanwhile.
                    Ok(None) => apply_all(&st),
                    Err(_) => break,
                },
                _ = stop.wait() => return,
            }
        }
        st.principals.set_listening(false);
        st.runtime_cache.clear();
    }
}
