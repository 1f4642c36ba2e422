//! `github_bonus_claim`, and what the bonus reads: the GitHub identity and star check.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};

pub struct Standing {
    /// The linked GitHub identity: (GitHub user id, login).
    pub github: Option<(String, Option<String>)>,
    /// The last star check: (GitHub user id, starred).
    pub star: Option<(String, bool)>,
    pub claim: Option<Claim>,
    /// The linked identity's bonus was claimed by another account.
    pub claimed_elsewhere: bool,
}

#[derive(Debug, Clone)]
pub struct Claim {
    pub amount_cents: i64,
    pub txn_id: String,
    pub claimed_at: DateTime<Utc>,
}

pub async fn standing(db: impl PgExecutor<'_>, user_id: &str) -> sqlx::Result<Standing> {
    let r = sqlx::query!(
        r#"select
             (select provider_user_id from oauth_identity where user_id = $1 and provider = 'github'
               order by created_at limit 1) as gh_id,
             (select login from oauth_identity where user_id = $1 and provider = 'github'
               order by created_at limit 1) as gh_login,
             (select github_user_id from github_star_check where user_id = $1) as star_gh,
             (select starred from github_star_check where user_id = $1) as starred,
             (select amount_cents from github_bonus_claim where user_id = $1) as claim_cents,
             (select txn_id from github_bonus_claim where user_id = $1) as claim_txn,
             (select claimed_at from github_bonus_claim where user_id = $1) as claimed_at,
             exists(select 1 from github_bonus_claim c join oauth_identity o
                      on o.provider = 'github' and o.provider_user_id = c.github_user_id
                     where o.user_id = $1 and c.user_id <> $1) as "elsewhere!""#,
        user_id
    )
    .fetch_one(db)
    .await?;
    Ok(Standing {
        github: r.gh_id.map(|id| (id, r.gh_login)),
        star: r.star_gh.zip(r.starred),
        claim: match (r.claim_cents, r.claim_txn, r.claimed_at) {
            (Some(amount_cents), Some(txn_id), Some(claimed_at)) => Some(Claim { amount_cents, txn_id, claimed_at }),
            _ => None,
        },
        claimed_elsewhere: r.elsewhere,
    })
}

/// Record the claim; false when the account or the GitHub identity has one already.
pub async fn insert(
    conn: &mut PgConnection,
    user_id: &str,
    github_user_id: &str,
    amount_cents: i64,
    txn_id: &str,
) -> sqlx::Result<bool> {
    let done = sqlx::query_scalar!(
        "insert into github_bonus_claim (user_id, github_user_id, amount_cents, txn_id) values ($1, $2, $3, $4) \
         on conflict do nothing returning 1",
        user_id,
        github_user_id,
        amount_cents,
        txn_id
    )
    .fetch_optional(conn)
    .await?;
    Ok(done.is_some())
}
