//! Realms are not stored: a realm exists while something of the account names it in its
//! `realm_ids` (auth tokens, projects, containers).

use sqlx::PgExecutor;

/// How many auth tokens, projects and containers of the user name a realm.
pub struct RealmCount {
    pub realm_id: String,
    pub tokens: i64,
    pub projects: i64,
    pub containers: i64,
}

/// Every realm the user's resources name (only those in `only`, when given), by id.
pub async fn counts(db: impl PgExecutor<'_>, user_id: &str, only: Option<&[String]>) -> sqlx::Result<Vec<RealmCount>> {
    sqlx::query_as!(
        RealmCount,
        r#"with r as (
             select r, 'token' as kind from auth_token t, unnest(t.realm_ids) r where t.user_id = $1
             union all select r, 'project' from project p, unnest(p.realm_ids) r where p.user_id = $1
             union all select r, 'container' from container c join project p on p.project_id = c.project_id,
               unnest(c.realm_ids) r where p.user_id = $1 and not c.prespawn)
           select r as "realm_id!", count(*) filter (where kind = 'token') as "tokens!",
             count(*) filter (where kind = 'project') as "projects!",
             count(*) filter (where kind = 'container') as "containers!"
           from r where ($2::text[] is null or r = any($2)) group by r order by r"#,
        user_id,
        only
    )
    .fetch_all(db)
    .await
}
