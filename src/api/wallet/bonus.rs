//! The GitHub bonus: a one-time credit for an account whose linked GitHub identity stars the
//! project's repository (the star check recorded at GitHub sign-in). Once per account and once
//! per GitHub identity across all accounts. Reads local state only; never calls GitHub.

use axum::extract::State;

use super::dto::{BonusClaimOut, BonusClaimResultOut, BonusOut};
use crate::{
    auth::{access::Require, permissions::perm},
    db::{
        self,
        github_bonus::{Claim, Standing},
    },
    envelope::{ApiOk, Envelope},
    error::{ErrorBody, Result},
    ledger::{self, Account, Key, Movement, Recorded},
    money,
    state::AppState,
};

fn claim_out(c: &Claim) -> BonusClaimOut {
    BonusClaimOut {
        amount_usd: money::dollars(c.amount_cents),
        at: Some(db::ts(c.claimed_at)),
        transaction_id: c.txn_id.clone(),
    }
}

/// The offer: (repository, amount) when it runs.
fn offer(st: &AppState) -> Option<(String, i64)> {
    let cents = st.cfg.money.github_bonus_cents;
    st.cfg.github.star_repo.clone().filter(|_| cents > 0).map(|r| (r, cents))
}

/// Get GitHub bonus status
///
/// Whether the offer runs, its amount, whether your account has a GitHub identity linked and
/// claimed the bonus. With the offer off: only `enabled: false` and your earlier claim, if any.
#[utoipa::path(get, path = "/wallet/github-bonus", tag = "wallet", security(("bearer" = [])),
    responses((status = 200, body = Envelope<BonusOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("financial.wallet.read"))))]
pub async fn get_github_bonus(State(st): State<AppState>, me: Require<perm::WalletRead>) -> Result<ApiOk<BonusOut>> {
    let s = db::github_bonus::standing(&st.db, &me.user.user_id).await?;
    let claim = s.claim.as_ref().map(claim_out);
    let out = match offer(&st) {
        None => BonusOut {
            enabled: false,
            repo: None,
            amount_usd: None,
            github_linked: None,
            github_username: None,
            claimed: None,
            identity_claimed_elsewhere: None,
            claim: claim.map(Some),
        },
        Some((repo, cents)) => BonusOut {
            enabled: true,
            repo: Some(repo),
            amount_usd: Some(money::dollars(cents)),
            github_linked: Some(s.github.is_some()),
            github_username: Some(s.github.as_ref().and_then(|g| g.1.clone())),
            claimed: Some(s.claim.is_some()),
            identity_claimed_elsewhere: Some(s.claimed_elsewhere),
            claim: Some(claim),
        },
    };
    Ok(ApiOk::new("GitHub bonus", out))
}

fn outcome(result: &'static str, s: &Standing, message: &'static str) -> ApiOk<BonusClaimResultOut> {
    let claim = s.claim.as_ref().map(claim_out);
    ApiOk::new(message, BonusClaimResultOut { result, amount_usd: None, transaction_id: None, claim })
}

/// Claim the GitHub bonus
///
/// Always 200; `data.result` says what happened: `granted` (credited now), `already_claimed`
/// (a repeat credits nothing), `identity_claimed_elsewhere`, `not_linked` (sign in with GitHub
/// first), `retry` (the last star check found no star: star the repository, sign in with GitHub
/// again), `offer_ended`.
#[utoipa::path(post, path = "/wallet/github-bonus/claim", tag = "wallet", security(("bearer" = [])),
    responses((status = 200, body = Envelope<BonusClaimResultOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("financial.wallet.transfer"))))]
pub async fn claim_github_bonus(
    State(st): State<AppState>,
    me: Require<perm::WalletTransfer>,
) -> Result<ApiOk<BonusClaimResultOut>> {
    let user = &me.user.user_id;
    let s = db::github_bonus::standing(&st.db, user).await?;
    if s.claim.is_some() {
        return Ok(outcome("already_claimed", &s, "You have claimed this bonus already"));
    }
    let Some((_, cents)) = offer(&st) else {
        return Ok(outcome("offer_ended", &s, "The GitHub bonus offer has ended"));
    };
    let Some((github_id, _)) = s.github.clone() else {
        return Ok(outcome("not_linked", &s, "Sign in with GitHub first to link your GitHub account"));
    };
    if s.claimed_elsewhere {
        return Ok(outcome("identity_claimed_elsewhere", &s, "This GitHub account's bonus went to another account"));
    }
    if s.star.as_ref().is_none_or(|(gh, starred)| !starred || *gh != github_id) {
        return Ok(outcome("retry", &s, "No star found: star the repository, then sign in with GitHub again"));
    }
    let m = Movement {
        user_id: user.clone(),
        kind: "bonus",
        amount_cents: cents,
        reason: "GitHub star bonus".into(),
        key: Some(Key::new("github-bonus".into(), "github-bonus")),
        postings: vec![(Account::Platform(db::ledger::PROMOTIONS), -cents), (Account::General, cents)],
        meta: serde_json::json!({"github_user_id": github_id}),
    };
    let (st_ref, m_ref, gh) = (&st, &m, &github_id);
    let granted = ledger::retrying(|| async move {
        let mut tx = st_ref.db.begin().await?;
        let Recorded::New { txn_id, .. } = ledger::record(&mut tx, m_ref).await? else { return Ok(None) };
        if !db::github_bonus::insert(&mut tx, &m_ref.user_id, gh, cents, &txn_id).await? {
            return Ok(None);
        }
        tx.commit().await?;
        Ok(Some(txn_id))
    })
    .await?;
    let s = db::github_bonus::standing(&st.db, user).await?;
    Ok(match granted {
        Some(txn_id) => ApiOk::new(
            "GitHub bonus granted",
            BonusClaimResultOut {
                result: "granted",
                amount_usd: Some(money::dollars(cents)),
                transaction_id: Some(txn_id),
                claim: s.claim.as_ref().map(claim_out),
            },
        ),
        None if s.claim.is_some() => outcome("already_claimed", &s, "You have claimed this bonus already"),
        None => outcome("identity_claimed_elsewhere", &s, "This GitHub account's bonus went to another account"),
    })
}
