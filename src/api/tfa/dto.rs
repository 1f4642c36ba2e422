//! Bodies of the `tfa` tag.

use crate::secret::Secret;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::auth::dto::{IntentOut, ResponseMode, SessionOut};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"password": "Correct-Horse-42!"}))]
pub struct PasswordIn {
    /// Current account password.
    pub password: Secret,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SetupOut {
    /// The otpauth URI as a PNG QR code (`data:image/png;base64,…`).
    pub qr_code: String,
    /// The secret in base32, for typing into an authenticator.
    pub manual_entry_key: String,
    /// Ten single-use codes of ten characters; shown only now.
    pub backup_codes: Vec<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"code": "123456"}))]
pub struct CodeIn {
    /// Six-digit code from the authenticator app.
    pub code: Secret,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EnabledOut {
    pub enabled: bool,
    pub enabled_at: String,
    /// New tokens of the calling session (its current tokens keep working too); every other
    /// session was signed out.
    pub token: String,
    #[serde(rename = "refreshToken")]
    pub refresh_token: String,
    pub sessions_revoked: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StatusOut {
    pub enabled: bool,
    /// The setup was confirmed with a code.
    pub verified: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub enabled_at: Option<String>,
    pub backup_codes_remaining: i64,
    /// Whether auth-token changes made with a session need an OTP.
    pub require_for_tokens: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"password": "Correct-Horse-42!", "code": "123456"}))]
pub struct PasswordCodeIn {
    pub password: Secret,
    /// A six-digit code (disable also takes a backup code).
    pub code: Secret,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DisabledOut {
    /// New tokens of the calling session (its current tokens keep working too); every other
    /// session was signed out.
    pub token: String,
    #[serde(rename = "refreshToken")]
    pub refresh_token: String,
    pub sessions_revoked: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BackupCodesOut {
    pub backup_codes: Vec<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"enabled": true}))]
pub struct TokenGateIn {
    /// true: auth-token changes made with a session need an OTP (the default).
    pub enabled: bool,
    /// Required to turn the gate off.
    pub password: Option<Secret>,
    /// TOTP or backup code; required to turn the gate off.
    pub otp_code: Option<Secret>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenGateOut {
    pub require_for_tokens: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"code": "123456"}))]
pub struct VerifyIn {
    /// From the login answer (or send it as `Authorization: Bearer`).
    pub temp_token: Option<Secret>,
    /// Six-digit TOTP code or ten-character backup code.
    pub code: Secret,
    pub response_mode: Option<ResponseMode>,
    #[allow(dead_code)]
    pub client: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VerifyOut {
    /// `approved`.
    pub status: &'static str,
    #[serde(flatten)]
    pub session: SessionOut,
}

/// The second step's answer: a session, or an auth intent when the login was in intent mode, or
/// `{status: "approved"}` when it was begun on the device verification page.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum TwoFactorResult {
    Session(Box<VerifyOut>),
    Intent(IntentOut),
    Device(crate::api::auth::device::DeviceStepOut),
}
