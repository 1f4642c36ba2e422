//! Project permission rows: who else may reach a project, and how far (`read`, `edit`,
//! `delete`), each with the grantee's name.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgExecutor};

use crate::api::list::Counted;

#[derive(Debug, Clone, FromRow)]
pub struct PermissionRow {
    pub permission_id: String,
    pub project_id: String,
    pub user_id: String,
    pub level: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub username: String,
    pub alias: Option<String>,
}

/// One page of a project's permission rows, each with the total. Dynamic: ordered by `order`, a
/// whitelisted column (`PermissionSort` via `ListParams::order_by`, or a fixed one).
pub async fn page(
    db: impl PgExecutor<'_>,
    project_id: &str,
    order: &str,
    limit: i64,
    offset: i64,
) -> sqlx::Result<Vec<Counted<PermissionRow>>> {
    let sql = format!(
        "select count(*) over () as total, pp.permission_id, pp.project_id, pp.user_id, pp.level, pp.created_at, \
         pp.updated_at, u.username, u.alias from project_permission pp join app_user u on u.user_id = pp.user_id \
         where pp.project_id = $1 order by {order}, pp.permission_id limit $2 offset $3"
    );
    sqlx::query_as(&sql).bind(project_id).bind(limit).bind(offset).fetch_all(db).await
}

/// One permission row of a project's.
pub async fn one(
    db: impl PgExecutor<'_>,
    project_id: &str,
    permission_id: &str,
) -> sqlx::Result<Option<PermissionRow>> {
    sqlx::query_as!(
        PermissionRow,
        "select pp.permission_id, pp.project_id, pp.user_id, pp.level, pp.created_at, pp.updated_at, u.username, \
         u.alias from project_permission pp join app_user u on u.user_id = pp.user_id \
         where pp.project_id = $1 and pp.permission_id = $2",
        project_id,
        permission_id
    )
    .fetch_optional(db)
    .await
}

pub async fn count(db: impl PgExecutor<'_>, project_id: &str) -> sqlx::Result<i64> {
    sqlx::query_scalar!(r#"select count(*) as "n!" from project_permission where project_id = $1"#, project_id)
        .fetch_one(db)
        .await
}

/// Whether the user a grant names exists.
pub async fn grantee_exists(db: impl PgExecutor<'_>, user_id: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar!(r#"select exists (select 1 from app_user where user_id = $1) as "found!""#, user_id)
        .fetch_one(db)
        .await
}

/// A new grant (a second one for the same user is a `project_permission_user_key` violation).
pub async fn insert(
    db: impl PgExecutor<'_>,
    id: &str,
    project_id: &str,
    user_id: &str,
    level: &str,
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into project_permission (permission_id, project_id, user_id, level) values ($1, $2, $3, $4)",
        id,
        project_id,
        user_id,
        level
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Change a grant's level; false when the project has no such grant.
pub async fn set_level(
    db: impl PgExecutor<'_>,
    project_id: &str,
    permission_id: &str,
    level: &str,
) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "update project_permission set level = $3 where project_id = $1 and permission_id = $2",
        project_id,
        permission_id,
        level
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() > 0)
}

pub async fn delete(db: impl PgExecutor<'_>, project_id: &str, permission_id: &str) -> sqlx::Result<()> {
    sqlx::query!(
        "delete from project_permission where project_id = $1 and permission_id = $2",
        project_id,
        permission_id
    )
    .execute(db)
    .await?;
    Ok(())
}
