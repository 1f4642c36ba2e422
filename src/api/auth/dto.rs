//! Request and response bodies of the `authentication` tag, as the public clients type them.

use crate::secret::Secret;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{api::users::dto::UserOut, auth::signing::IdentityClaim};

/// How a successful sign-in is answered. `tokens` returns the access/refresh pair; `intent`
/// (with an S256 `code_challenge`) returns an `auth_intent_token` for `POST /auth/intent/exchange`.
#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema, PartialEq)]
#[serde(rename_all = "lowercase")]
pub enum ResponseMode {
    #[default]
    Tokens,
    Intent,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "ada@example.com", "password": "Correct-Horse-42!"}))]
pub struct SignupIn {
    /// Email address for the new account.
    pub email: String,
    /// At least 12 characters with uppercase, lowercase, number and special character.
    pub password: Secret,
    /// Preferred server region; must be one `GET /auth/available-regions` lists.
    pub region: Option<String>,
    /// Accepted for the clients; invites are not used yet.
    #[allow(dead_code)]
    pub invite_code: Option<String>,
    /// Free-form client identifier (accepted for the clients; unused).
    #[allow(dead_code)]
    pub client: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SignupOut {
    pub email: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"token": "vfy_4a8e2c6b1d9f3e7a"}))]
pub struct VerifyEmailIn {
    /// Verification token from the email link.
    pub token: Secret,
    pub response_mode: Option<ResponseMode>,
    /// PKCE S256 challenge; required in intent mode.
    pub code_challenge: Option<String>,
    #[allow(dead_code)]
    pub client: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "ada@example.com"}))]
pub struct EmailIn {
    pub email: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"token": "rst_9e4b2a7c1f6d8e3b", "password": "Correct-Horse-42!"}))]
pub struct ResetPasswordIn {
    /// Password reset token from the email link.
    pub token: Secret,
    /// New password (same rules as signup).
    pub password: Secret,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "ada@example.com", "password": "Correct-Horse-42!"}))]
pub struct LoginIn {
    /// Username (case-sensitive), or an email address (anything with `@`, case-insensitive).
    pub username: Option<String>,
    /// Email address (case-insensitive), alternative to `username`.
    pub email: Option<String>,
    pub password: Option<Secret>,
    pub response_mode: Option<ResponseMode>,
    /// PKCE S256 challenge; required in intent mode.
    pub code_challenge: Option<String>,
    #[allow(dead_code)]
    pub client: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"refreshToken": "rt_3e9a1c7f5b2d8e4a"}))]
pub struct RefreshIn {
    /// The refresh token: the credential of this call (`Authorization` may be absent, this same
    /// token, or an access token of the same session).
    #[serde(rename = "refreshToken")]
    pub refresh_token: Secret,
}

/// An access/refresh pair with their lifetimes.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenPair {
    pub token: String,
    #[serde(rename = "refreshToken")]
    pub refresh_token: String,
    pub expires_at: String,
    /// Seconds.
    pub expires_in: i64,
    pub refresh_expires_at: String,
    /// Seconds.
    pub refresh_expires_in: i64,
}

pub use crate::lifecycle::free_tier::{ContainerRef, ProjectRef, ServerRef};

/// A signed-in session: what login and verify-email return.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionOut {
    #[serde(flatten)]
    pub tokens: TokenPair,
    /// Who signed in, signed with the API's Ed25519 key (see `GET /meta/public-key`).
    pub identity_claim: IdentityClaim,
    pub user: UserOut,
    /// The free-tier server, project and container; null until provisioned.
    pub server: Option<ServerRef>,
    pub project: Option<ProjectRef>,
    pub container: Option<ContainerRef>,
}

impl SessionOut {
    /// A session for `user`, with their free-tier server, project and container as they are now.
    pub async fn new(
        st: &crate::state::AppState,
        tokens: TokenPair,
        user: &crate::db::users::UserRow,
    ) -> crate::error::Result<Self> {
        let identity_claim = st.signer.identity_claim(user);
        let refs = crate::lifecycle::free_tier::refs(st, &user.user_id).await?;
        Ok(Self {
            tokens,
            identity_claim,
            user: UserOut::from(user),
            server: refs.server,
            project: refs.project,
            container: refs.container,
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LoginIp {
    pub ip: String,
    pub timestamp: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LoginOut {
    #[serde(flatten)]
    pub session: SessionOut,
    pub client_ip: String,
    /// The last distinct addresses this account signed in from, newest first.
    pub recent_login_ips: Vec<LoginIp>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RegionOut {
    pub region: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub country: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub city: Option<String>,
    pub available: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RegionsOut {
    pub regions: Vec<RegionOut>,
}

/// The second factor is on: no tokens yet. Send `temp_token` and a code to
/// `POST /users/auth/2fa/verify` within 5 minutes.
#[derive(Debug, Serialize, ToSchema)]
pub struct TwoFactorChallenge {
    pub requires_2fa: bool,
    pub temp_token: String,
    /// `totp`.
    pub method: &'static str,
}

/// Intent mode's answer: redeem the token with the PKCE verifier at `POST /auth/intent/exchange`.
#[derive(Debug, Serialize, ToSchema)]
pub struct IntentOut {
    pub auth_intent_token: String,
    /// Seconds the token stays redeemable.
    pub expires_in: i64,
}

impl TwoFactorChallenge {
    pub fn totp(temp_token: String) -> Self {
        Self { requires_2fa: true, temp_token, method: "totp" }
    }
}

/// What a successful first factor yields: a session, the 2FA challenge, or an auth intent.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum LoginResult {
    Session(Box<LoginOut>),
    TwoFactor(TwoFactorChallenge),
    Intent(IntentOut),
}

/// verify-email's answer: a session, the 2FA challenge when the account has 2FA on, or an intent.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum VerifyResult {
    Session(Box<SessionOut>),
    TwoFactor(TwoFactorChallenge),
    Intent(IntentOut),
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "auth_intent_token": "ait_6d3f9b2e1a8c4f7e",
    "code_verifier": "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
}))]
pub struct ExchangeIn {
    pub auth_intent_token: Secret,
    /// The PKCE verifier whose S256 hash was the `code_challenge`.
    pub code_verifier: Secret,
}

/// The signed-in user; `auth_token` when the request carried one.
#[derive(Debug, Serialize, ToSchema)]
pub struct MeOut {
    #[serde(flatten)]
    pub user: UserOut,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub auth_token: Option<crate::api::tokens::dto::CurrentTokenOut>,
}
