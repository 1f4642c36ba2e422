//! The reconciler: what the database says about each container against what its host reports.
//! An instance that is gone, or a host that cannot be reached, turns the container `failed`; a
//! state changed behind our back (stopped from inside, frozen) is taken over. Each change is a
//! status-log row triggered by `reconciler`.

use serde_json::json;

use super::{reason, status, status_of, transition, Trigger};
use crate::{error::ApiError, host::HostError, shutdown::Stop, state::AppState};

pub async fn run(st: AppState, stop: Stop) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(st.cfg.reconcile_interval) => {}
            _ = stop.wait() => return,
        }
        if let Err(e) = pass(&st).await {
            tracing::warn!(error = %e, "reconcile pass failed");
        }
    }
}

/// One pass over every server with containers. Returns how many containers changed.
pub async fn pass(st: &AppState) -> Result<usize, ApiError> {
    let servers: Vec<String> = sqlx::query_scalar(
        "select distinct server_id from container where server_id is not null and status <> 'deleting'",
    )
    .fetch_all(&st.db)
    .await?;
    let stuck_secs = (st.cfg.host_limits.call_timeout.as_secs() * 2 + 30) as i64;
    let by = Trigger::system("reconciler");
    let mut changed = 0;
    for server_id in servers {
        let Some(row) = crate::servers::by_id(&st.db, &server_id).await? else { continue };
        let host = st.hosts.for_server(&row, &st.sealer)?;
        let containers = crate::db::containers::to_reconcile(&st.db, &server_id, stuck_secs).await?;
        for c in containers {
            let observed = host.call(|d| d.state(&c.lxd_name)).await;
            let (to, meta) = match &observed {
                Ok(s) => (status_of(&s.status), json!({"observed": s.status})),
                Err(e @ HostError::NotFound(_)) => (status::FAILED, reason(e)),
                Err(HostError::Unavailable { .. } | HostError::Timeout) => {
                    (status::FAILED, json!({"reason": "host_unreachable"}))
                }
                Err(e) => {
                    tracing::warn!(container = %c.container_id, error = %e, "reconciler could not read a container");
                    continue;
                }
            };
            if to != c.status && transition(st, &c, &[c.status.as_str()], to, &by, Some(meta)).await? {
                changed += 1;
            }
        }
    }
    Ok(changed)
}
