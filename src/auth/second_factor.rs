//! The second factor as every entry point checks it: TOTP codes (replay-proof, atomically) and
//! single-use backup codes under one per-user failure budget, the login challenge
//! (`temp_token`), the token gate, and the security events they record.

use sqlx::PgExecutor;

use super::{limits, secrets, totp};
use crate::{
    db::{
        security_events,
        two_factor::{self, ChallengeBinding},
    },
    error::{ApiError, Result},
    state::AppState,
};

pub fn aad(user_id: &str) -> Vec<u8> {
    format!("totp:{user_id}").into_bytes()
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Factor {
    Totp,
    BackupCode,
}

fn invalid_code() -> ApiError {
    ApiError::unauthenticated("invalid_code", "Invalid or already used code")
}

/// Accept a TOTP code once: only a step strictly later than the last accepted one passes, and
/// the check-and-set is one UPDATE, so concurrent submissions of one code succeed once.
/// `confirming` checks the pending secret of a setup and enables it.
pub async fn accept_totp(st: &AppState, user_id: &str, code: &str, confirming: bool) -> Result<bool> {
    let Some(row) = two_factor::totp(&st.db, user_id).await? else { return Ok(false) };
    if row.enabled_at.is_some() == confirming {
        return Ok(false);
    }
    let secret = st.sealer.open(&aad(user_id), &row.secret_enc)?;
    let Some(step) = totp::matching_step(&secret, code, totp::now_secs()) else { return Ok(false) };
    Ok(two_factor::accept_step(&st.db, user_id, step as i64, confirming).await?)
}

/// Use one backup code (already normalised, see [`totp::normalize_backup_code`]): argon2id-verified
/// against the unused ones, then consumed atomically.
async fn accept_backup_code(st: &AppState, user_id: &str, code: String) -> Result<bool> {
    let rows = two_factor::unused_backup_codes(&st.db, user_id).await?;
    for (id, hash) in rows {
        if st.hasher.verify(code.clone(), Some(hash)).await?.ok {
            let mut tx = st.db.begin().await?;
            if two_factor::use_backup_code(&mut *tx, id).await? {
                security_events::record(&mut *tx, user_id, "2fa.backup_code_used", None, None).await?;
                let left = two_factor::count_unused_backup_codes(&mut *tx, user_id).await?;
                if left <= crate::signals::BACKUP_CODES_LOW {
                    crate::signals::raise(&mut tx, user_id, crate::signals::Signal::BackupCodesLow { left }).await?;
                }
                tx.commit().await?;
                return Ok(true);
            }
            return Ok(false);
        }
    }
    Ok(false)
}

/// What a submitted code can be. Only a backup-code shape ever reaches argon2.
enum Shape {
    Totp(String),
    Backup(String),
    Neither,
}

fn shape(code: &str) -> Shape {
    let code = code.trim();
    if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
        return Shape::Totp(code.to_owned());
    }
    match totp::normalize_backup_code(code) {
        Some(c) => Shape::Backup(c),
        None => Shape::Neither,
    }
}

/// How long the per-user OTP failure budget lasts.
pub const OTP_WINDOW: std::time::Duration = std::time::Duration::from_secs(15 * 60);

fn budget_bucket(user_id: &str) -> String {
    format!("otp:user:{user_id}")
}

/// Every OTP check of a user (the token gate, disabling 2FA, regenerating backup codes, the
/// login's `temp_token` step, confirming a setup) draws on one failure budget held in
/// PostgreSQL (`HOODY_LIMIT_OTP_FAILURES` per 15 minutes, on every replica). The attempt is
/// counted before the code is looked at, so once the budget is spent even the right code gets
/// 429 until the window ends; an accepted code gives its attempt back.
async fn with_budget<F: std::future::Future<Output = Result<Option<Factor>>>>(
    st: &AppState,
    user_id: &str,
    check: F,
) -> Result<Factor> {
    let bucket = budget_bucket(user_id);
    limits::hit(&st.db, &bucket, st.cfg.limits.otp_failures, OTP_WINDOW).await?;
    match check.await? {
        Some(factor) => {
            limits::undo(&st.db, &bucket).await?;
            Ok(factor)
        }
        None => Err(invalid_code()),
    }
}

/// A six-digit TOTP code, or (when allowed) a backup code; 401 `invalid_code` otherwise, 429
/// once the user's OTP failure budget is spent. Input of neither shape is refused without hashing.
pub async fn check_code(st: &AppState, user_id: &str, code: &str, allow_backup: bool) -> Result<Factor> {
    with_budget(st, user_id, async {
        Ok(match shape(code) {
            Shape::Totp(c) => accept_totp(st, user_id, &c, false).await?.then_some(Factor::Totp),
            Shape::Backup(c) if allow_backup => accept_backup_code(st, user_id, c).await?.then_some(Factor::BackupCode),
            Shape::Backup(_) | Shape::Neither => None,
        })
    })
    .await
}

/// Confirm a pending setup with a code from the app (same budget as [`check_code`]).
pub async fn confirm_setup(st: &AppState, user_id: &str, code: &str) -> Result<()> {
    with_budget(st, user_id, async {
        Ok(match shape(code) {
            Shape::Totp(c) => accept_totp(st, user_id, &c, true).await?.then_some(Factor::Totp),
            Shape::Backup(_) | Shape::Neither => None,
        })
    })
    .await
    .map(drop)
}

/// The token gate: with 2FA on and the gate on, a change to auth tokens made with a session JWT
/// needs `otp_code` (a TOTP or backup code). Missing → 403 `otp_required`; wrong → 401.
pub async fn token_gate(st: &AppState, user_id: &str, otp_code: Option<&str>) -> Result<()> {
    let Some(row) = two_factor::totp(&st.db, user_id).await? else { return Ok(()) };
    if row.enabled_at.is_none() || !row.require_for_tokens {
        return Ok(());
    }
    match otp_code.map(str::trim).filter(|c| !c.is_empty()) {
        None => Err(ApiError::forbidden("otp_required", "otp_code is required: two-factor authentication is on")),
        Some(code) => check_code(st, user_id, code, true).await.map(drop),
    }
}

pub const CHALLENGE_TTL: chrono::Duration = chrono::Duration::minutes(5);
pub const CHALLENGE_ATTEMPTS: i32 = 5;

/// Start a login's second step: a single-use `temp_token` (stored hashed) for 5 minutes. A login
/// in intent mode keeps its PKCE challenge here, so the second step answers in intent mode too.
pub async fn new_challenge(
    db: impl PgExecutor<'_>,
    user_id: &str,
    code_challenge: Option<&str>,
) -> sqlx::Result<String> {
    insert_challenge(db, user_id, code_challenge, None).await
}

/// The second step of a sign-in on the device verification page: accepting its code approves
/// the device (`device_id`) instead of minting tokens.
pub async fn new_device_challenge(db: impl PgExecutor<'_>, user_id: &str, device_id: &str) -> sqlx::Result<String> {
    insert_challenge(db, user_id, None, Some(device_id)).await
}

async fn insert_challenge(
    db: impl PgExecutor<'_>,
    user_id: &str,
    code_challenge: Option<&str>,
    device_id: Option<&str>,
) -> sqlx::Result<String> {
    let token = secrets::random_token();
    two_factor::insert_challenge(db, &secrets::sha256(&token), user_id, CHALLENGE_TTL, code_challenge, device_id)
        .await?;
    Ok(token)
}

/// Count an attempt on a live challenge; `None` once it is used, expired or out of attempts.
pub async fn challenge_attempt(db: impl PgExecutor<'_>, token: &str) -> sqlx::Result<Option<ChallengeBinding>> {
    two_factor::challenge_attempt(db, &secrets::sha256(token), CHALLENGE_ATTEMPTS).await
}

/// Close a challenge (its code was accepted, or it is cancelled); false if it was already closed.
pub async fn close_challenge(db: impl PgExecutor<'_>, token: &str) -> sqlx::Result<bool> {
    two_factor::close_challenge(db, &secrets::sha256(token)).await
}
