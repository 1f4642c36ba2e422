//! Signup. Always 200 for a well-formed request, whether or not the address is known.

use axum::extract::State;
use rand::Rng;

use super::dto::{SignupIn, SignupOut};
use crate::{
    auth::{limits, password, secrets},
    db::{email_tokens, new_id, regions, users},
    envelope::{ApiOk, Envelope},
    error::{ApiError, ErrorBody, FieldError, Result},
    extract::{ClientIp, Json},
    mail::templates,
    state::AppState,
};

const SIGNUP_OK: &str = "Signup successful. Check your email to verify your account.";
pub const VERIFY_TTL: chrono::Duration = chrono::Duration::hours(24);

/// Sign up with email and password
///
/// A new account gets a verification mail. A repeated signup over an unverified account
/// replaces its password and sends a new link (older links stop working); over a verified
/// account it does nothing. Limited to 5 per hour per client IP.
#[utoipa::path(post, path = "/auth/signup", tag = "authentication", request_body = SignupIn,
    responses((status = 200, body = Envelope<SignupOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn signup(
    State(st): State<AppState>,
    client: ClientIp,
    Json(input): Json<SignupIn>,
) -> Result<ApiOk<SignupOut>> {
    let email = normalize_email(&input.email);
    let mut errors = Vec::new();
    if let Err(e) = check_email(&email) {
        errors.push(e);
    }
    errors.extend(password::policy("password", &input.password, password::Classes::All));
    if let Some(region) = input.region.as_deref() {
        if !regions::exists(&st.db, region).await? {
            errors.push(FieldError::new("region", "Unknown region; see GET /api/v1/auth/available-regions"));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let lim = &st.cfg.limits;
    limits::hit_fail_closed(&st.db, &format!("signup:ip:{}", client.ip), lim.signup_per_hour, limits::HOUR).await?;

    // Hash in every branch so that all of them take the same time.
    let hash = st.hasher.hash(input.password.into_inner()).await?;
    let mut tx = st.db.begin().await?;
    let mail = match users::lock_by_email(&mut *tx, &email).await? {
        Some((_, true)) => None,
        Some((user_id, false)) => {
            users::set_password(&mut *tx, &user_id, &hash).await?;
            email_tokens::cancel(&mut *tx, &user_id, email_tokens::VERIFY).await?;
            let token = new_email_token(&mut tx, &user_id, email_tokens::VERIFY, VERIFY_TTL).await?;
            Some(templates::verify_email(&st.cfg.public_url, &token, true))
        }
        None => {
            let user_id = new_id();
            if !insert_with_fresh_username(&mut tx, &user_id, &email, &email, Some(&hash), input.region.as_deref())
                .await?
            {
                // A concurrent first signup for this address won; answer as for a duplicate.
                return Ok(ApiOk::new(SIGNUP_OK, SignupOut { email }));
            }
            let token = new_email_token(&mut tx, &user_id, email_tokens::VERIFY, VERIFY_TTL).await?;
            Some(templates::verify_email(&st.cfg.public_url, &token, false))
        }
    };
    let mut sent = false;
    if let Some(m) = mail {
        if mail_allowed(&mut tx, &email, lim.mail_per_address).await? {
            st.mailer.enqueue(&mut *tx, &email, m.subject, &m.body).await?;
            sent = true;
        }
    }
    tx.commit().await?;
    if sent {
        st.mailer.wake();
    }
    Ok(ApiOk::new(SIGNUP_OK, SignupOut { email }))
}

/// The per-address mail allowance (verification, resend, reset): over it, the request still
/// answers 200 but no mail goes out.
pub async fn mail_allowed(db: &mut sqlx::PgConnection, email: &str, limit: i32) -> Result<bool> {
    match limits::hit(&mut *db, &format!("mail:address:{email}"), limit, limits::HOUR).await {
        Ok(()) => Ok(true),
        Err(ApiError::RateLimited { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Store a new one-time email token for `purpose` (hashed) and return it for the mail.
pub async fn new_email_token(
    db: &mut sqlx::PgConnection,
    user_id: &str,
    purpose: &str,
    ttl: chrono::Duration,
) -> sqlx::Result<String> {
    let token = secrets::random_token();
    email_tokens::insert(db, &secrets::sha256(&token), user_id, purpose, ttl).await?;
    Ok(token)
}

/// Insert a user under a generated unique username; false when the email is already taken.
pub async fn insert_with_fresh_username(
    tx: &mut sqlx::PgConnection,
    user_id: &str,
    username_hint: &str,
    email: &str,
    hash: Option<&str>,
    region: Option<&str>,
) -> Result<bool> {
    let base = username_base(username_hint);
    for _ in 0..5 {
        let username = format!("{base}-{:06x}", rand::thread_rng().gen_range(0..0x100_0000));
        match users::insert_in_savepoint(&mut *tx, user_id, &username, email, hash, region).await {
            Ok(()) => return Ok(true),
            Err(sqlx::Error::Database(d)) if d.constraint() == Some("app_user_username_key") => {}
            Err(sqlx::Error::Database(d)) if d.constraint() == Some("app_user_email_key") => return Ok(false),
            Err(e) => return Err(e.into()),
        }
    }
    Err(anyhow::anyhow!("could not find a free username").into())
}

/// Letters, digits, `_` and `-` from a hint (a login, or an address's local part).
fn username_base(hint: &str) -> String {
    let local = hint.split('@').next().unwrap_or("");
    let base: String = local
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .take(20)
        .collect::<String>()
        .to_ascii_lowercase();
    if base.is_empty() {
        "user".into()
    } else {
        base
    }
}

/// See [`crate::auth::email`]: invisible and look-alike spellings reach one account.
pub fn normalize_email(email: &str) -> String {
    crate::auth::email::normalize(email)
}

pub fn check_email(email: &str) -> std::result::Result<(), FieldError> {
    crate::auth::email::check(email)
}
