//! Proxy aliases (`proxy_alias`), joined with their container, project and server and the
//! caller's access. An alias is seen by whoever may see its container; writes run inside the
//! caller's transaction, after the container's row is locked.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

#[derive(Debug, Clone)]
pub struct AliasRow {
    pub alias_id: String,
    pub container_id: String,
    pub alias: String,
    pub program: String,
    pub program_index: i32,
    pub target_path: Option<String>,
    pub allow_path_override: bool,
    pub expires_at: Option<DateTime<Utc>>,
    /// As stored; an expired alias reads as disabled ([`AliasRow::live`]).
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub project_id: String,
    pub project_alias: String,
    /// The owner of the container's project: the alias's owner.
    pub owner_id: String,
    pub container_name: String,
    pub container_status: String,
    pub lxd_name: String,
    pub server_id: Option<String>,
    pub server_name: Option<String>,
    /// The container's realms (an alias is in its container's realms).
    pub realm_ids: Vec<String>,
    /// The caller's access to the container's project: `owner`, a permission level or `none`.
    pub access: String,
}

impl AliasRow {
    /// Enabled and not expired at `now`.
    pub fn live(&self, now: DateTime<Utc>) -> bool {
        self.enabled && self.expires_at.is_none_or(|e| e > now)
    }
}

/// The rows of `ids`, in that order. With a caller, only those whose container they may see
/// (not deleted; they own the project or hold a permission on it); without one, every row.
pub async fn rows(db: impl PgExecutor<'_>, ids: &[String], caller: Option<&str>) -> sqlx::Result<Vec<AliasRow>> {
    sqlx::query_as!(
        AliasRow,
        r#"select a.alias_id, a.container_id, a.alias, a.program, a.program_index, a.target_path,
            a.allow_path_override, a.expires_at, a.enabled, a.created_at, a.updated_at,
            c.project_id, p.alias as project_alias, p.user_id as owner_id, c.name as container_name,
            c.status as container_status, c.lxd_name, c.server_id, s.name as "server_name?", c.realm_ids,
            coalesce(case when p.user_id = $2 then 'owner' else (select pp.level from project_permission pp
                where pp.project_id = c.project_id and pp.user_id = $2) end, 'none') as "access!"
        from proxy_alias a join container c on c.container_id = a.container_id
        join project p on p.project_id = c.project_id left join server s on s.server_id = c.server_id
        where a.alias_id = any($1) and ($2::text is null or (c.status <> 'deleted' and (p.user_id = $2
            or exists (select 1 from project_permission pp where pp.project_id = c.project_id and pp.user_id = $2))))
        order by array_position($1, a.alias_id)"#,
        ids,
        caller,
    )
    .fetch_all(db)
    .await
}

/// An alias the caller may see (the per-request lookup).
pub async fn visible(db: impl PgExecutor<'_>, alias_id: &str, user_id: &str) -> sqlx::Result<Option<AliasRow>> {
    Ok(rows(db, &[alias_id.to_owned()], Some(user_id)).await?.pop())
}

/// An alias by id, whoever's (read again inside a write's transaction).
pub async fn by_id(db: impl PgExecutor<'_>, alias_id: &str) -> sqlx::Result<Option<AliasRow>> {
    Ok(rows(db, &[alias_id.to_owned()], None).await?.pop())
}

/// What an alias list shows (every filter optional).
pub struct ListFilter<'a> {
    pub caller: &'a str,
    pub realm: Option<&'a str>,
    pub project_id: Option<&'a str>,
    pub container_id: Option<&'a str>,
    /// Live (enabled and not expired) or not.
    pub enabled: Option<bool>,
    pub expired: Option<bool>,
}

/// At most this many aliases in one list.
pub const LIST_MAX: i64 = 1000;

/// The aliases a list shows, newest first (at most [`LIST_MAX`]), and how many match in all.
pub async fn list(db: &sqlx::PgPool, f: &ListFilter<'_>) -> sqlx::Result<(Vec<AliasRow>, i64)> {
    let found = sqlx::query!(
        r#"select a.alias_id, count(*) over () as "total!" from proxy_alias a
        join container c on c.container_id = a.container_id join project p on p.project_id = c.project_id
        where (p.user_id = $1 or exists (select 1 from project_permission pp
            where pp.project_id = c.project_id and pp.user_id = $1))
        and c.status <> 'deleted' and ($2::text is null or $2 = any(c.realm_ids))
        and ($3::text is null or c.project_id = $3) and ($4::text is null or a.container_id = $4)
        and ($5::bool is null or (a.enabled and (a.expires_at is null or a.expires_at > now())) = $5)
        and ($6::bool is null or (a.expires_at is not null and a.expires_at <= now()) = $6)
        order by a.created_at desc, a.alias_id limit $7"#,
        f.caller,
        f.realm,
        f.project_id,
        f.container_id,
        f.enabled,
        f.expired,
        LIST_MAX,
    )
    .fetch_all(db)
    .await?;
    let total = found.first().map_or(0, |r| r.total);
    let ids: Vec<String> = found.into_iter().map(|r| r.alias_id).collect();
    Ok((rows(db, &ids, Some(f.caller)).await?, total))
}

/// Every alias of `container_ids`, oldest first (the containers are already the caller's).
pub async fn of_containers(db: impl PgExecutor<'_> + Copy, container_ids: &[String]) -> sqlx::Result<Vec<AliasRow>> {
    let ids = sqlx::query_scalar!(
        "select alias_id from proxy_alias where container_id = any($1) order by created_at, alias_id limit 10000",
        container_ids
    )
    .fetch_all(db)
    .await?;
    rows(db, &ids, None).await
}

/// The ids of a container's aliases (they go with it).
pub async fn ids_of_container(db: impl PgExecutor<'_>, container_id: &str) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar!("select alias_id from proxy_alias where container_id = $1 order by alias_id", container_id)
        .fetch_all(db)
        .await
}

/// How many aliases each of `container_ids` has (containers without one are left out).
pub async fn counts(db: impl PgExecutor<'_>, container_ids: &[String]) -> sqlx::Result<Vec<(String, i64)>> {
    let found = sqlx::query!(
        r#"select container_id, count(*) as "n!" from proxy_alias where container_id = any($1)
        group by container_id"#,
        container_ids
    )
    .fetch_all(db)
    .await?;
    Ok(found.into_iter().map(|r| (r.container_id, r.n)).collect())
}

/// An alias's settings: what a create writes and an update rewrites.
pub struct AliasFields<'a> {
    pub alias: &'a str,
    pub program: &'a str,
    pub program_index: i32,
    pub target_path: Option<&'a str>,
    pub allow_path_override: bool,
    pub expires_at: Option<DateTime<Utc>>,
    pub enabled: bool,
}

/// Add an alias (a taken name: `proxy_alias_alias_key`).
pub async fn insert(
    db: impl PgExecutor<'_>,
    alias_id: &str,
    container_id: &str,
    f: &AliasFields<'_>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into proxy_alias (alias_id, container_id, alias, program, program_index, target_path, \
         allow_path_override, expires_at, enabled) values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        alias_id,
        container_id,
        f.alias,
        f.program,
        f.program_index,
        f.target_path,
        f.allow_path_override,
        f.expires_at,
        f.enabled,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Rewrite an alias's settings (a taken name: `proxy_alias_alias_key`).
pub async fn update(db: impl PgExecutor<'_>, alias_id: &str, f: &AliasFields<'_>) -> sqlx::Result<()> {
    sqlx::query!(
        "update proxy_alias set alias = $2, program = $3, program_index = $4, target_path = $5, \
         allow_path_override = $6, expires_at = $7, enabled = $8 where alias_id = $1",
        alias_id,
        f.alias,
        f.program,
        f.program_index,
        f.target_path,
        f.allow_path_override,
        f.expires_at,
        f.enabled,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Remove an alias; whether it was there.
pub async fn delete(db: impl PgExecutor<'_>, alias_id: &str) -> sqlx::Result<bool> {
    let done = sqlx::query!("delete from proxy_alias where alias_id = $1", alias_id).execute(db).await?;
    Ok(done.rows_affected() == 1)
}
