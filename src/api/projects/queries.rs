//! Project SQL.

use sqlx::{FromRow, PgExecutor};

use super::dto::{PermissionOut, PermissionUser};
use crate::{
    api::list::Counted,
    db::{
        projects::{ProjectRow, ACCESS, COLUMNS},
        ts,
    },
};

pub async fn insert(
    db: impl PgExecutor<'_>,
    id: &str,
    user_id: &str,
    alias: &str,
    color: &str,
    max: Option<i32>,
    realms: &[String],
) -> sqlx::Result<ProjectRow> {
    let sql = format!(
        "with p as (insert into project (project_id, user_id, alias, color, max_containers, realm_ids) \
         values ($1, $2, $3, $4, $5, $6) returning *) select {COLUMNS}, 'owner' as access from p"
    );
    sqlx::query_as(&sql).bind(id).bind(user_id).bind(alias).bind(color).bind(max).bind(realms).fetch_one(db).await
}

pub async fn update(
    db: impl PgExecutor<'_>,
    p: &ProjectRow,
    alias: &str,
    color: &str,
    max: Option<i32>,
    realms: &[String],
) -> sqlx::Result<ProjectRow> {
    let sql = format!(
        "with p as (update project set alias = $2, color = $3, max_containers = $4, realm_ids = $5 \
         where project_id = $1 returning *) select {COLUMNS}, $6::text as access from p"
    );
    sqlx::query_as(&sql)
        .bind(&p.project_id)
        .bind(alias)
        .bind(color)
        .bind(max)
        .bind(realms)
        .bind(&p.access)
        .fetch_one(db)
        .await
}

/// A page of the projects `user_id` owns or holds a permission on, optionally in one realm.
pub async fn list(
    db: impl PgExecutor<'_>,
    user_id: &str,
    realm: Option<&str>,
    order: &str,
    limit: i64,
    offset: i64,
) -> sqlx::Result<Vec<Counted<ProjectRow>>> {
    // Dynamic only in `order`, a whitelisted column (`ProjectSort`).
    let sql = format!(
        "select count(*) over () as total, {COLUMNS}, {ACCESS} as access from project p \
         where (p.user_id = $2 or exists (select 1 from project_permission pp where pp.project_id = p.project_id \
         and pp.user_id = $2)) and ($1::text is null or $1 = any(p.realm_ids)) \
         order by {order}, p.project_id limit $3 offset $4"
    );
    sqlx::query_as(&sql).bind(realm).bind(user_id).bind(limit).bind(offset).fetch_all(db).await
}

#[derive(FromRow)]
struct PermRow {
    permission_id: String,
    project_id: String,
    user_id: String,
    level: String,
    created_at: chrono::DateTime<chrono::Utc>,
    updated_at: chrono::DateTime<chrono::Utc>,
    username: String,
    alias: Option<String>,
}

impl From<PermRow> for PermissionOut {
    fn from(r: PermRow) -> Self {
        Self {
            id: r.permission_id,
            project_id: r.project_id,
            user: PermissionUser { id: r.user_id.clone(), username: r.username, alias: r.alias },
            user_id: r.user_id,
            permission_level: r.level,
            created_at: ts(r.created_at),
            updated_at: ts(r.updated_at),
        }
    }
}

const PERM_SELECT: &str = "select pp.permission_id, pp.project_id, pp.user_id, pp.level, pp.created_at, \
    pp.updated_at, u.username, u.alias from project_permission pp join app_user u on u.user_id = pp.user_id";

/// A page of a project's permission rows, each with the total (`order`: a whitelisted column).
pub async fn permissions(
    db: impl PgExecutor<'_>,
    project_id: &str,
    order: &str,
    limit: i64,
    offset: i64,
) -> sqlx::Result<Vec<Counted<PermissionOut>>> {
    let select = PERM_SELECT.replacen("select ", "select count(*) over () as total, ", 1);
    let sql = format!("{select} where pp.project_id = $1 order by {order}, pp.permission_id limit $2 offset $3");
    let rows: Vec<Counted<PermRow>> =
        sqlx::query_as(&sql).bind(project_id).bind(limit).bind(offset).fetch_all(db).await?;
    Ok(rows.into_iter().map(|r| Counted { total: r.total, row: PermissionOut::from(r.row) }).collect())
}

pub async fn count_permissions(db: impl PgExecutor<'_>, project_id: &str) -> sqlx::Result<i64> {
    sqlx::query_scalar("select count(*) from project_permission where project_id = $1")
        .bind(project_id)
        .fetch_one(db)
        .await
}

pub async fn permission(
    db: impl PgExecutor<'_>,
    project_id: &str,
    permission_id: &str,
) -> sqlx::Result<Option<PermissionOut>> {
    let sql = format!("{PERM_SELECT} where pp.project_id = $1 and pp.permission_id = $2");
    let row: Option<PermRow> = sqlx::query_as(&sql).bind(project_id).bind(permission_id).fetch_optional(db).await?;
    Ok(row.map(PermissionOut::from))
}
