//! Announces rentals that end within a day (`server.rental_expiring`, once per end: an extension
//! announces the new one again). Ends rentals whose time is up: each becomes `expired` with a `server.rental_expired` event
//! (one transaction). Then, on every pass, the containers that run on a server their owner
//! rented and rents no more are stopped through the host-operation runner (stopped, never
//! deleted: renting again lets them start), so a stop that failed is tried again. Starting one
//! there is refused like a create (`may_run_on`). Rentals are claimed with
//! `FOR UPDATE SKIP LOCKED`, so replicas never end one twice. Last, server command runs still
//! `running` a minute past their timeout (their process stopped) become `failed` (`abandoned`).

use serde_json::json;

use crate::{
    db::{self, rentals},
    events::{publish, Event, EventKind, ResourceType},
    lifecycle::{self, ops, Trigger},
    shutdown::Stop,
    state::AppState,
};

/// A rental is announced as expiring (`server.rental_expiring`, once per end) this many hours
/// before it ends.
pub const EXPIRING_HOURS: i32 = 24;

pub async fn run(st: AppState, stop: Stop) {
    let period = st.cfg.rental_sweep_interval;
    crate::lease::every(st, stop, "rental_sweep", period, |st| async move {
        if let Err(e) = sweep(&st).await {
            tracing::warn!(error = %e, "rental sweep failed");
        }
    })
    .await
}

/// End the rentals that are due, then stop what they leave running, and close the command runs
/// a stopped process left `running`; how many rentals ended.
pub async fn sweep(st: &AppState) -> anyhow::Result<usize> {
    let mut tx = st.db.begin().await?;
    for (rental_id, user_id, server_id, end) in rentals::note_expiring(&mut tx, EXPIRING_HOURS, 100).await? {
        let data = json!({"rental_id": rental_id, "rental_end": db::ts(end)});
        publish(&mut tx, Event::new(EventKind::ServerRentalExpiring, ResourceType::Server, &server_id, &user_id, data))
            .await?;
    }
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
    let abandoned = db::server_commands::close_abandoned(&st.db).await?;
    if abandoned > 0 {
        tracing::warn!(abandoned, "server command runs left running by a stopped process recorded as failed");
    }
    stop_left_running(st).await?;
    Ok(ended.len())
}

/// Stop the containers ended rentals leave running, each after checking once more that its
/// owner did not rent the server again meanwhile.
async fn stop_left_running(st: &AppState) -> anyhow::Result<()> {
    let Some(stop) = ops::Operation::parse("stop") else { return Ok(()) };
    rentals::prune_pool_use_ended(&st.db).await?;
    for id in rentals::left_running(&st.db, 200).await? {
        let Some(c) = db::containers::by_id(&st.db, &id).await? else { continue };
        let Some(server_id) = c.server_id.clone() else { continue };
        if rentals::rents(&st.db, &c.owner_id, &server_id).await? {
            continue;
        }
        if let Err(e) = lifecycle::run(st, ops::Operate::new(c, stop, Trigger::system("rental_expired"))).await {
            tracing::warn!(error = %e, container_id = %id, "rental ended: container not stopped (tried again next pass)");
        }
    }
    Ok(())
}
