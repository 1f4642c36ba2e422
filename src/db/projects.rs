//! Project rows and who may reach them: the owner, or a user holding a permission row.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgExecutor};

use crate::api::list::Counted;

/// How far a caller may go with a project (and its containers). Ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Read,
    Edit,
    Delete,
    Owner,
}

impl Level {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "read" => Self::Read,
            "edit" => Self::Edit,
            "delete" => Self::Delete,
            "owner" => Self::Owner,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Edit => "edit",
            Self::Delete => "delete",
            Self::Owner => "owner",
        }
    }
}

#[derive(Debug, Clone, FromRow)]
pub struct ProjectRow {
    pub project_id: String,
    pub user_id: String,
    pub alias: String,
    pub color: String,
    pub max_containers: Option<i32>,
    pub is_default: bool,
    pub realm_ids: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The caller's access: `owner`, or the level of their permission row.
    pub access: String,
}

impl ProjectRow {
    pub fn level(&self) -> Level {
        Level::parse(&self.access).unwrap_or(Level::Read)
    }
}

/// A project the caller (`user_id`) owns or holds a permission row on.
pub async fn visible(db: impl PgExecutor<'_>, project_id: &str, user_id: &str) -> sqlx::Result<Option<ProjectRow>> {
    sqlx::query_as!(
        ProjectRow,
        r#"select p.project_id, p.user_id, p.alias, p.color, p.max_containers, p.is_default, p.realm_ids,
            p.created_at, p.updated_at,
            case when p.user_id = $2 then 'owner' else (select pp.level from project_permission pp
                where pp.project_id = p.project_id and pp.user_id = $2) end as "access!"
        from project p where p.project_id = $1 and (p.user_id = $2
            or exists (select 1 from project_permission pp where pp.project_id = p.project_id and pp.user_id = $2))"#,
        project_id,
        user_id
    )
    .fetch_optional(db)
    .await
}

/// The caller's own project (owner access).
pub async fn owned(db: impl PgExecutor<'_>, project_id: &str, user_id: &str) -> sqlx::Result<Option<ProjectRow>> {
    visible(db, project_id, user_id).await.map(|p| p.filter(|p| p.level() == Level::Owner))
}

/// What a project's owner sets.
pub struct ProjectFields<'a> {
    pub alias: &'a str,
    pub color: &'a str,
    pub max_containers: Option<i32>,
    pub realm_ids: &'a [String],
}

/// A new project of `user_id`'s (a taken alias is a `project_alias_key` violation).
pub async fn insert(
    db: impl PgExecutor<'_>,
    id: &str,
    user_id: &str,
    f: &ProjectFields<'_>,
) -> sqlx::Result<ProjectRow> {
    sqlx::query_as!(
        ProjectRow,
        r#"insert into project (project_id, user_id, alias, color, max_containers, realm_ids)
        values ($1, $2, $3, $4, $5, $6)
        returning project_id, user_id, alias, color, max_containers, is_default, realm_ids, created_at, updated_at,
            'owner' as "access!""#,
        id,
        user_id,
        f.alias,
        f.color,
        f.max_containers,
        f.realm_ids
    )
    .fetch_one(db)
    .await
}

/// Change `p` (read with the caller's access, which the answer keeps).
pub async fn update(db: impl PgExecutor<'_>, p: &ProjectRow, f: &ProjectFields<'_>) -> sqlx::Result<ProjectRow> {
    sqlx::query_as!(
        ProjectRow,
        r#"update project set alias = $2, color = $3, max_containers = $4, realm_ids = $5 where project_id = $1
        returning project_id, user_id, alias, color, max_containers, is_default, realm_ids, created_at, updated_at,
            $6::text as "access!""#,
        p.project_id,
        f.alias,
        f.color,
        f.max_containers,
        f.realm_ids,
        p.access
    )
    .fetch_one(db)
    .await
}

/// Delete a project (its permission rows go with it; a container left is a
/// `container_project_id_fkey` violation, and nothing is deleted) with its proxy permission
/// document (`proxy.project`: the current body and every kept version). Its containers'
/// documents went with each container (`containers::delete`). The row is locked first, in its
/// own statement, as a container's is.
pub async fn delete(conn: &mut sqlx::PgConnection, project_id: &str) -> sqlx::Result<()> {
    sqlx::query!("select 1 as one from project where project_id = $1 for update", project_id)
        .fetch_optional(&mut *conn)
        .await?;
    sqlx::query!(
        "with d as (delete from document where kind = 'proxy.project' and owner_key = $1), \
         v as (delete from document_version where kind = 'proxy.project' and owner_key = $1) \
         delete from project where project_id = $1",
        project_id
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// One page of the projects `user_id` owns or holds a permission on (in `realm` only, when
/// given), each with the total. Dynamic: ordered by `order`, a whitelisted column
/// (`ProjectSort` via `ListParams::order_by`).
pub async fn page(
    db: impl PgExecutor<'_>,
    user_id: &str,
    realm: Option<&str>,
    order: &str,
    limit: i64,
    offset: i64,
) -> sqlx::Result<Vec<Counted<ProjectRow>>> {
    let sql = format!(
        "select count(*) over () as total, p.project_id, p.user_id, p.alias, p.color, p.max_containers, p.is_default, \
         p.realm_ids, p.created_at, p.updated_at, case when p.user_id = $2 then 'owner' else \
         (select pp.level from project_permission pp where pp.project_id = p.project_id and pp.user_id = $2) end \
         as access from project p \
         where (p.user_id = $2 or exists (select 1 from project_permission pp where pp.project_id = p.project_id \
         and pp.user_id = $2)) and ($1::text is null or $1 = any(p.realm_ids)) \
         order by {order}, p.project_id limit $3 offset $4"
    );
    sqlx::query_as(&sql).bind(realm).bind(user_id).bind(limit).bind(offset).fetch_all(db).await
}

/// The id of `user_id`'s default project.
pub async fn default_of(db: impl PgExecutor<'_>, user_id: &str) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar!("select project_id from project where user_id = $1 and is_default", user_id)
        .fetch_optional(db)
        .await
}

/// Whether `user_id` has a project named `alias`.
pub async fn alias_used(db: impl PgExecutor<'_>, user_id: &str, alias: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"select exists (select 1 from project where user_id = $1 and alias = $2) as "used!""#,
        user_id,
        alias
    )
    .fetch_one(db)
    .await
}

/// `user_id`'s default project (the free tier's).
pub async fn insert_default(
    db: impl PgExecutor<'_>,
    id: &str,
    user_id: &str,
    alias: &str,
    color: &str,
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into project (project_id, user_id, alias, color, is_default) values ($1, $2, $3, $4, true)",
        id,
        user_id,
        alias,
        color
    )
    .execute(db)
    .await?;
    Ok(())
}
