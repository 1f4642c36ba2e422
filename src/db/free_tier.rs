//! The free tier's reads and writes that span tables: what a user's setup has produced (default
//! project, its default container and server), and the setup columns of `app_user`.

use sqlx::PgExecutor;

use crate::events::Tx;

/// A user's default project, its default container (not being deleted) and that one's server.
pub struct RefsRow {
    pub project_id: String,
    pub alias: String,
    pub container_id: Option<String>,
    pub container_name: Option<String>,
    pub ready: Option<bool>,
    pub server_id: Option<String>,
    pub server_name: Option<String>,
    pub country: Option<String>,
    pub region: Option<String>,
    pub city: Option<String>,
    pub datacenter: Option<String>,
}

pub async fn refs(db: impl PgExecutor<'_>, user_id: &str) -> sqlx::Result<Option<RefsRow>> {
    sqlx::query_as!(
        RefsRow,
        r#"select p.project_id, p.alias, c.container_id as "container_id?", c.name as "container_name?",
            c.status = 'running' as ready, s.server_id as "server_id?", s.name as "server_name?",
            s.country as "country?", s.region as "region?", s.city as "city?", s.datacenter as "datacenter?"
        from project p
        left join container c on c.project_id = p.project_id and c.is_default and c.status <> 'deleting'
        left join server s on s.server_id = c.server_id where p.user_id = $1 and p.is_default"#,
        user_id
    )
    .fetch_optional(db)
    .await
}

/// Lock the user's row for `tx`: one setup per user at a time.
pub async fn lock_user(tx: &mut Tx, user_id: &str) -> sqlx::Result<()> {
    sqlx::query_scalar!("select 1 as one from app_user where user_id = $1 for update", user_id)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(())
}

/// Setup started over: `pending`, no error.
pub async fn set_pending(db: impl PgExecutor<'_>, user_id: &str) -> sqlx::Result<()> {
    sqlx::query!("update app_user set setup_state = 'pending', setup_error = null where user_id = $1", user_id)
        .execute(db)
        .await?;
    Ok(())
}

/// How setup ended (`done`, or `failed` with why).
pub async fn set_state(db: impl PgExecutor<'_>, user_id: &str, state: &str, error: Option<&str>) -> sqlx::Result<()> {
    sqlx::query!("update app_user set setup_state = $2, setup_error = $3 where user_id = $1", user_id, state, error)
        .execute(db)
        .await?;
    Ok(())
}
