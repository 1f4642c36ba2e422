//! Password login. Unknown users and wrong passwords take the same path, time and answer.

use crate::secret::Secret;
use axum::{
    extract::State,
    http::{header, HeaderMap},
};

use super::{
    dto::{LoginIn, LoginIp, LoginOut, LoginResult, SessionOut, TwoFactorChallenge},
    intent::{new_intent, Answer},
};
use crate::{
    auth::{limits, password::MAX_BYTES, second_factor, sessions},
    db::{
        security_events, ts, two_factor,
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
/// `username` (case-sensitive; one holding `@` is taken as an email address) or `email`
/// (case-insensitive), and `password`. Failures are limited per client IP (1000 per 30 minutes)
/// and per account (100 per hour).
#[utoipa::path(post, path = "/users/auth/login", tag = "authentication", request_body = LoginIn,
    responses((status = 200, body = Envelope<LoginResult>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn login(
    State(st): State<AppState>,
    client: ClientIp,
    headers: HeaderMap,
    Json(input): Json<LoginIn>,
) -> Result<ApiOk<LoginResult>> {
    let (identifier, password) =
        credentials(input.username.as_deref(), input.email.as_deref(), input.password.map(Secret::into_inner))?;
    let answer = Answer::from_request(input.response_mode, input.code_challenge.as_deref())?;
    let user = check_password(&st, client, &headers, &identifier, password).await?;
    if two_factor::enabled(&st.db, &user.user_id).await? {
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

/// The identifier and password of a password sign-in: 400 when either is missing, 422 when the
/// password is over the byte limit.
pub(crate) fn credentials(
    username: Option<&str>,
    email: Option<&str>,
    password: Option<String>,
) -> Result<(Identifier, String)> {
    let identifier = match (username, email) {
        // The CLI sends an address in `username` (`hoody login -u ada@example.com`); usernames
        // cannot hold `@`.
        (Some(u), _) if u.contains('@') => Identifier::Email(crate::auth::email::normalize(u)),
        (Some(u), _) if !u.is_empty() => Identifier::Username(u.to_owned()),
        (_, Some(e)) if !e.is_empty() => Identifier::Email(crate::auth::email::normalize(e)),
        _ => Identifier::Missing,
    };
    let password = password.filter(|p| !p.is_empty());
    let (Some(password), false) = (password, matches!(identifier, Identifier::Missing)) else {
        return Err(ApiError::bad_request("credentials_required", "Username or email, and password are required"));
    };
    if password.len() > MAX_BYTES {
        return Err(ApiError::invalid("password", format!("Password must be at most {MAX_BYTES} bytes")));
    }
    Ok((identifier, password))
}

/// The first factor, as every password sign-in checks it (login and the device verification
/// page): the per-IP and per-account failure limits, the same argon2 work for unknown users,
/// then bans and verification. A rejected password of a known account is recorded for its
/// security history.
pub(crate) async fn check_password(
    st: &AppState,
    client: ClientIp,
    headers: &HeaderMap,
    identifier: &Identifier,
    password: String,
) -> Result<UserRow> {
    // Count the attempt as a failure before hashing; a success takes it back. So no more than the
    // account limit of concurrent guesses ever reach the hash.
    let user = match identifier {
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
    let verified = st
        .hasher
        .verify(password.clone(), user.as_ref().and_then(|u| u.password_hash.clone().map(Secret::into_inner)))
        .await?;
    let user = match user {
        Some(u) if verified.ok => u,
        known => {
            tracing::info!(ip = %client.ip, user_agent = user_agent(headers), "login failed");
            if let Some(u) = known {
                record_failure(st, &u.user_id, &client.ip.to_string(), user_agent(headers));
            }
            return Err(invalid_credentials());
        }
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
        users::set_password(&st.db, &user.user_id, &hash).await?;
    }
    Ok(user)
}

/// A rejected password of a known account goes into its security history, at most 200 an hour
/// (unknown identifiers are never recorded). Written behind the answer, so a known account's
/// failure takes no longer than an unknown one's; it never changes the answer.
fn record_failure(st: &AppState, user_id: &str, ip: &str, user_agent: Option<&str>) {
    let (st, user_id, ip, user_agent) = (st.clone(), user_id.to_owned(), ip.to_owned(), user_agent.map(str::to_owned));
    tokio::spawn(async move {
        let bucket = format!("login:recorded:{user_id}");
        if limits::hit(&st.db, &bucket, 200, limits::HOUR).await.is_ok() {
            let recorded =
                security_events::record(&st.db, &user_id, "login.failed", Some(&ip), user_agent.as_deref()).await;
            if let Err(e) = recorded {
                tracing::warn!(error = %e, "could not record a failed login");
            }
        }
    });
}

/// After the first factor: the session, the login record and the recent addresses.
async fn complete_login(st: &AppState, user: &UserRow, client: ClientIp, headers: &HeaderMap) -> Result<LoginOut> {
    let ip = client.ip.to_string();
    let mut tx = st.db.begin().await?;
    let tokens = sessions::start(st, &mut tx, &user.user_id, user.session_generation).await?;
    crate::signals::record_login(&mut tx, &user.user_id, &ip, user_agent(headers), None).await?;
    let recent = security_events::recent_login_ips(&mut *tx, &user.user_id).await?;
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

pub(crate) enum Identifier {
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
