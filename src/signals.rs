//! Security signals: what the account should know about its own security, written to its inbox
//! (a notification targeted at it) and published as `notification.created`, in the transaction
//! of the change that raises it. A sign-in or a token use from a new address, 2FA turned off,
//! few backup codes left, a password changed or reset. A signal is shown for [`SIGNAL_DAYS`].

use serde_json::json;

use crate::{
    db::{notifications, security_events},
    events::{self, Event, EventKind, ResourceType, Tx},
};

/// A backup code used with this many (or fewer) left raises [`Signal::BackupCodesLow`].
pub const BACKUP_CODES_LOW: i64 = 3;

pub enum Signal<'a> {
    NewLoginAddress { ip: &'a str },
    NewTokenAddress { alias: &'a str, ip: &'a str },
    TwoFactorDisabled,
    BackupCodesLow { left: i64 },
    PasswordChanged,
}

impl Signal<'_> {
    fn kind(&self) -> &'static str {
        match self {
            Self::NewLoginAddress { .. } => "login.new_ip",
            Self::NewTokenAddress { .. } => "token.new_ip",
            Self::TwoFactorDisabled => "2fa.disabled",
            Self::BackupCodesLow { .. } => "2fa.backup_codes_low",
            Self::PasswordChanged => "password.changed",
        }
    }

    /// Title, message and severity.
    fn text(&self) -> (&'static str, String, &'static str) {
        const NOT_YOU: &str = "If this was not you, change your password and sign out your other sessions.";
        match self {
            Self::NewLoginAddress { ip } => (
                "Sign-in from a new address",
                format!("Your account signed in from {ip}, an address it had not signed in from before. {NOT_YOU}"),
                "WARNING",
            ),
            Self::NewTokenAddress { alias, ip } => (
                "Auth token used from a new address",
                format!(
                    "Your auth token \"{alias}\" was used from {ip}, an address it had not been used from before. \
                     If this was not you, disable or delete the token."
                ),
                "WARNING",
            ),
            Self::TwoFactorDisabled => (
                "Two-factor authentication turned off",
                format!("Two-factor authentication was turned off for your account. {NOT_YOU}"),
                "WARNING",
            ),
            Self::BackupCodesLow { left } => (
                "Few backup codes left",
                format!(
                    "{left} unused two-factor backup code{} left. Generate new ones in your security settings.",
                    if *left == 1 { " is" } else { "s are" }
                ),
                if *left == 0 { "ERROR" } else { "WARNING" },
            ),
            Self::PasswordChanged => (
                "Password changed",
                format!("The password of your account was changed and its sessions were signed out. {NOT_YOU}"),
                "INFO",
            ),
        }
    }
}

/// A signal stays in the inbox this long.
pub const SIGNAL_DAYS: i64 = 90;

/// Write `signal` to `user_id`'s inbox, with its event, inside `tx`.
pub async fn raise(tx: &mut Tx, user_id: &str, signal: Signal<'_>) -> sqlx::Result<()> {
    let (title, message, severity) = signal.text();
    let targets = [user_id.to_owned()];
    let n = notifications::NewNotification {
        title,
        message: &message,
        r#type: "STATUS_UPDATE",
        severity,
        is_public: false,
        target_user_ids: Some(&targets),
        signal: Some(signal.kind()),
        expires_at: Some(chrono::Utc::now() + chrono::Duration::days(SIGNAL_DAYS)),
    };
    let id = notifications::insert(&mut **tx, &n).await?;
    let data = json!({"notification_id": id, "signal": signal.kind(), "title": title, "severity": severity});
    events::publish(tx, Event::new(EventKind::NotificationCreated, ResourceType::Notification, &id, user_id, data))
        .await
}

/// Record a sign-in; one from an address the account never signed in from tells the account.
pub async fn record_login(
    tx: &mut Tx,
    user_id: &str,
    ip: &str,
    user_agent: Option<&str>,
    client: Option<&str>,
) -> sqlx::Result<()> {
    if security_events::record_login(&mut **tx, user_id, ip, user_agent, client).await? {
        raise(tx, user_id, Signal::NewLoginAddress { ip }).await?;
    }
    Ok(())
}

/// Record a security event (`security_event.kind`); those the account should hear of
/// (`2fa.disabled`, `password.changed`, `password.reset`) raise their signal.
pub async fn record(tx: &mut Tx, user_id: &str, kind: &str, ip: Option<&str>) -> sqlx::Result<()> {
    security_events::record(&mut **tx, user_id, kind, ip, None).await?;
    let signal = match kind {
        "2fa.disabled" => Signal::TwoFactorDisabled,
        "password.changed" | "password.reset" => Signal::PasswordChanged,
        _ => return Ok(()),
    };
    raise(tx, user_id, signal).await
}
