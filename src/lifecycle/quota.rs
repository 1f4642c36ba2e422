//! How many containers a project (and an owner) may hold, checked inside the transaction that
//! adds one after taking the owner's lock, so simultaneous creates cannot overshoot.

use crate::{db::containers::NewContainer, error::ApiError, events::Tx};

/// The project's `max_containers` (or, for a prespawned container, the server's prespawn cap)
/// for a new container `n` of `owner_id`'s.
pub async fn check(tx: &mut Tx, owner_id: &str, n: &NewContainer, prespawn_cap: i32) -> Result<(), ApiError> {
    sqlx::query("select pg_advisory_xact_lock(hashtext('containers:' || $1))")
        .bind(owner_id)
        .execute(&mut **tx)
        .await?;
    if n.prespawn {
        let held: i64 = sqlx::query_scalar(
            "select count(*) from container c join project p on p.project_id = c.project_id \
             where p.user_id = $1 and c.server_id = $2 and c.prespawn",
        )
        .bind(owner_id)
        .bind(&n.server_id)
        .fetch_one(&mut **tx)
        .await?;
        if held >= i64::from(prespawn_cap) {
            return Err(ApiError::invalid(
                "prespawn",
                format!("this server keeps at most {prespawn_cap} prespawned containers"),
            ));
        }
        return Ok(());
    }
    let max: Option<Option<i32>> = sqlx::query_scalar("select max_containers from project where project_id = $1")
        .bind(&n.project_id)
        .fetch_optional(&mut **tx)
        .await?;
    let max = max.ok_or_else(|| ApiError::not_found("project_not_found", "Project not found"))?;
    if let Some(max) = max {
        let held: i64 = sqlx::query_scalar(
            "select count(*) from container where project_id = $1 and not prespawn and status <> 'deleting'",
        )
        .bind(&n.project_id)
        .fetch_one(&mut **tx)
        .await?;
        if held >= i64::from(max) {
            return Err(ApiError::invalid(
                "max_containers",
                format!("the project holds its maximum of {max} containers"),
            ));
        }
    }
    Ok(())
}
