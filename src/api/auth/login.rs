//! Password login. Unknown users and wrong passwords take the same path, time and answer.

use axum::{
    extract::State,
    http::{header, HeaderMap},
};

use super::{
    dto::{LoginIn, LoginIp, LoginOut, LoginResult, SessionOut, TwoFactorChallenge},
    intent::{new_intent, Answer},
    queries,
    session::issue_pair,
};
use crate::{
    auth::{limits, password::MAX_BYTES, second_factor},
    db::{
        ts,
        users::{self, UserRow},
    },
    envelope::{ApiOk, Envelope},
    error::{ApiError, ErrorBody, Result},
    extract::{ClientIp, Json},
    state::AppState,
};

fn invalid_credentials() -> ApiError {
    ApiError::unauthenticated("invalid_credentials", "Invalid credentials")
}

/// Login with username and password
///
/// `username` (case-sensitive) or `email` (case-insensitive), and `password`. Failures are limited
/// per client IP (1000 per 30 minutes) and per account (100 per hour).
#[utoipa::path(post, path = "/users/auth/login", tag = "authentication", request_body = LoginIn,
    responses((status = 200, body = Envelope<LoginResult>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn login(
    State(st): State<AppState>,
    client: ClientIp,
    headers: HeaderMap,
    Json(input): Json<LoginIn>,
) -> Result<ApiOk<LoginResult>> {
    let identifier = match (&input.username, &input.email) {
        (Some(u), _) if !u.is_empty() => Identifier::Username(u.clone()),
        (_, Some(e)) if !e.is_empty() => Identifier::Email(crate::auth::email::normalize(e)),
        _ => Identifier::Missing,
    };
    let password = input.password.filter(|p| !p.is_empty());
    let (Some(password), false) = (password, matches!(identifier, Identifier::Missing)) else {
        return Err(ApiError::bad_request("credentials_required", "Username or email, and password are required"));
    };
    if password.len() > MAX_BYTES {
        return Err(ApiError::invalid("password", format!("Password must be at most {MAX_BYTES} bytes")));
    }
    let answer = Answer::from_request(input.response_mode, input.code_challenge.as_deref())?;

    // Count the attempt as a failure before hashing; a success takes it back. So no more than the
    // account limit of concurrent guesses ever reach the hash.
    let user = match &identifier {
        Identifier::Username(u) => users::by_username(&st.db, u).await?,
        Identifier::Email(e) => users::by_email(&st.db, e).await?,
        Identifier::Missing => None,
    };
    let lim = &st.cfg.limits;
    let ip_bucket = format!("login:ip:{}", client.ip);
    let account_bucket = match &user {
        Some(u) => format!("login:user:{}", u.user_id),
        None => format!("login:unknown:{}", identifier.key()),
    };
    limits::hit(&st.db, &ip_bucket, lim.login_failures_per_ip, limits::HALF_HOUR).await?;
    limits::hit(&st.db, &account_bucket, lim.login_failures_per_account, limits::HOUR).await?;
    let verified = st.hasher.verify(password.clone(), user.as_ref().and_then(|u| u.password_hash.clone())).await?;
    let Some(user) = user.filter(|_| verified.ok) else {
        tracing::info!(ip = %client.ip, user_agent = user_agent(&headers), "login failed");
        return Err(invalid_credentials());
    };
    limits::undo(&st.db, &ip_bucket).await?;
    limits::undo(&st.db, &account_bucket).await?;

    if user.is_banned {
        return Err(ApiError::forbidden("account_banned", "This account is banned"));
    }
    if !user.email_verified {
        return Err(ApiError::precondition("email_not_verified", "Verify your email address before logging in"));
    }
    if verified.needs_rehash {
        let hash = st.hasher.hash(password).await?;
        queries::set_password(&st.db, &user.user_id, &hash).await?;
    }
    if second_factor::enabled(&st.db, &user.user_id).await? {
        let temp_token = second_factor::new_challenge(&st.db, &user.user_id, answer.challenge()).await?;
        let challenge = TwoFactorChallenge::totp(temp_token);
        return Ok(ApiOk::new("Two-factor verification required", LoginResult::TwoFactor(challenge)));
    }
    if let Answer::Intent(challenge) = &answer {
        let intent = new_intent(&st.db, &user.user_id, challenge).await?;
        return Ok(ApiOk::new("Login successful; exchange the auth intent", LoginResult::Intent(intent)));
    }
    let out = complete_login(&st, &user, client, &headers).await?;
    Ok(ApiOk::new("Login successful", LoginResult::Session(Box::new(out))))
}

/// After the first factor: the session, the login record and the recent addresses.
async fn complete_login(st: &AppState, user: &UserRow, client: ClientIp, headers: &HeaderMap) -> Result<LoginOut> {
    let ip = client.ip.to_string();
    let mut tx = st.db.begin().await?;
    let tokens = issue_pair(st, &mut tx, &user.user_id, user.session_generation, None).await?;
    queries::record_login(&mut *tx, &user.user_id, &ip, user_agent(headers)).await?;
    let recent = queries::recent_login_ips(&mut *tx, &user.user_id).await?;
    tx.commit().await?;
    Ok(LoginOut {
        session: SessionOut::new(st, tokens, user).await?,
        client_ip: ip,
        recent_login_ips: recent.into_iter().map(|(ip, at)| LoginIp { ip, timestamp: ts(at) }).collect(),
    })
}

fn user_agent(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok())
}

enum Identifier {
    Username(String),
    Email(String),
    Missing,
}

impl Identifier {
    fn key(&self) -> &str {
        match self {
            Self::Username(s) | Self::Email(s) => s,
            Self::Missing => "",
        }
    }
}
