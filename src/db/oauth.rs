//! OAuth sign-in: `oauth_state` (single-use states, stored as SHA-256), `launch_ticket` (the popup
//! hand-off's single-use tickets), `oauth_identity` (provider identities linked to accounts) and
//! `github_star_check`.

use sqlx::PgExecutor;

/// What a sign-in's state is bound to.
pub struct NewState<'a> {
    pub state_hash: &'a [u8],
    pub provider: &'a str,
    pub redirect_uri: &'a str,
    pub code_challenge: &'a str,
    pub intent: &'a str,
    pub ttl: chrono::Duration,
    pub state_id: Option<&'a str>,
    pub device_id: Option<&'a str>,
}

pub async fn insert_state(db: impl PgExecutor<'_>, s: &NewState<'_>) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into oauth_state (state_hash, provider, redirect_uri, code_challenge, intent, expires_at, state_id, \
         device_id) values ($1, $2, $3, $4, $5, now() + $6, $7, $8)",
        s.state_hash,
        s.provider,
        s.redirect_uri,
        s.code_challenge,
        s.intent,
        super::interval(s.ttl)?,
        s.state_id,
        s.device_id
    )
    .execute(db)
    .await?;
    Ok(())
}

/// A live state, spent.
pub struct SpentState {
    pub redirect_uri: String,
    pub code_challenge: String,
    pub state_id: Option<String>,
    pub intent: String,
    pub device_id: Option<String>,
}

/// Spend a live state of `provider`: of concurrent callbacks one gets it.
pub async fn spend_state(
    db: impl PgExecutor<'_>,
    state_hash: &[u8],
    provider: &str,
) -> sqlx::Result<Option<SpentState>> {
    sqlx::query_as!(
        SpentState,
        "update oauth_state set used_at = now() \
         where state_hash = $1 and provider = $2 and used_at is null and expires_at > now() \
         returning redirect_uri, code_challenge, state_id, intent, device_id",
        state_hash,
        provider
    )
    .fetch_optional(db)
    .await
}

pub async fn insert_launch_ticket(
    db: impl PgExecutor<'_>,
    ticket_hash: &[u8],
    provider: &str,
    code_challenge: &str,
    state_id: &str,
    ttl: chrono::Duration,
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into launch_ticket (ticket_hash, provider, code_challenge, state_id, expires_at) \
         values ($1, $2, $3, $4, now() + $5)",
        ticket_hash,
        provider,
        code_challenge,
        state_id,
        super::interval(ttl)?
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Spend a live launch ticket: its provider, PKCE challenge and `state_id`.
pub async fn spend_launch_ticket(
    db: impl PgExecutor<'_>,
    ticket_hash: &[u8],
) -> sqlx::Result<Option<(String, String, String)>> {
    let row = sqlx::query!(
        "update launch_ticket set used_at = now() \
         where ticket_hash = $1 and used_at is null and expires_at > now() \
         returning provider, code_challenge, state_id",
        ticket_hash
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| (r.provider, r.code_challenge, r.state_id)))
}

/// The account a provider identity is linked to.
pub async fn linked_user(
    db: impl PgExecutor<'_>,
    provider: &str,
    provider_user_id: &str,
) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar!(
        "select user_id from oauth_identity where provider = $1 and provider_user_id = $2",
        provider,
        provider_user_id
    )
    .fetch_optional(db)
    .await
}

pub async fn link(
    db: impl PgExecutor<'_>,
    provider: &str,
    provider_user_id: &str,
    user_id: &str,
    login: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into oauth_identity (provider, provider_user_id, user_id, login) values ($1, $2, $3, $4)",
        provider,
        provider_user_id,
        user_id,
        login
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Whether the user's GitHub account stars `repository`, as checked now.
pub async fn record_star_check(
    db: impl PgExecutor<'_>,
    user_id: &str,
    github_user_id: &str,
    repository: &str,
    starred: bool,
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into github_star_check (user_id, github_user_id, repository, starred) values ($1, $2, $3, $4) \
         on conflict (user_id) do update set github_user_id = excluded.github_user_id, \
         repository = excluded.repository, starred = excluded.starred, checked_at = now()",
        user_id,
        github_user_id,
        repository,
        starred
    )
    .execute(db)
    .await?;
    Ok(())
}
