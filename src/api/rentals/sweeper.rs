//! Ends rentals whose time is up: each becomes `expired` with a `server.rental_expired` event
//! (one transaction), then the renter's running containers on the server are stopped through
//! the host-operation runner (stopped, never deleted: renting again or an admin can start
//! them). Rows are claimed with `FOR UPDATE SKIP LOCKED`, so replicas never end one twice.

use serde_json::json;

use crate::{
    db::{self, rentals},
    events::{publish, Event, EventKind, ResourceType},
    lifecycle::{self, ops, Trigger},
    shutdown::Stop,
    state::AppState,
};

pub async fn run(st: AppState, stop: Stop) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(st.cfg.rental_sweep_interval) => {}
            _ = stop.wait() => return,
        }
        if let Err(e) = sweep(&st).await {
            tracing::warn!(error = %e, "rental sweep failed");
        }
    }
}

/// End the rentals that are due, then stop their containers; how many ended.
pub async fn sweep(st: &AppState) -> anyhow::Result<usize> {
    let mut tx = st.db.begin().await?;
    let ended = rentals::expire_due(&mut tx, 100).await?;
    for r in &ended {
        let data = json!({"rental_id": r.rental_id, "rental_end": db::ts(r.rental_end)});
        publish(
            &mut tx,
            Event::new(EventKind::ServerRentalExpired, ResourceType::Server, &r.server_id, &r.user_id, data),
        )
        .await?;
    }
    tx.commit().await?;
    for r in &ended {
        stop_containers(st, &r.user_id, &r.server_id).await;
    }
    Ok(ended.len())
}

async fn stop_containers(st: &AppState, user_id: &str, server_id: &str) {
    let ids = match rentals::running_on(&st.db, user_id, server_id).await {
        Ok(ids) => ids,
        Err(e) => return tracing::warn!(error = %e, server_id, "rental ended: containers not listed"),
    };
    let Some(stop) = ops::Operation::parse("stop") else { return };
    for id in ids {
        let Ok(Some(c)) = db::containers::by_id(&st.db, &id).await else { continue };
        if let Err(e) = lifecycle::run(st, ops::Operate::new(c, stop, Trigger::system("rental_expired"))).await {
            tracing::warn!(error = %e, container_id = %id, "rental ended: container not stopped");
        }
    }
}
