//! Mail an address asked for without signing in (forgot-password, resend-verification): the request
//! only records the ask, through the same statements whether or not the address has an account, and
//! answers; the mail worker then finds the account, makes the link and queues the mail. So neither
//! the answer nor its timing tells a known address from an unknown one.

use super::signup::{mail_allowed, new_email_token};
use crate::{
    db::{email_tokens, mail, users},
    error::Result,
    mail::templates,
    state::AppState,
};

/// How long a password reset link lives.
pub const RESET_TTL: chrono::Duration = chrono::Duration::minutes(30);
/// Requests taken per worker pass.
pub const BATCH: i64 = 20;

#[derive(Clone, Copy)]
pub enum Kind {
    Reset,
    Verify,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Reset => "reset",
            Kind::Verify => "verify",
        }
    }
}

/// Record the ask (within the address's mail allowance) and wake the worker. `email` is normalised.
pub async fn submit(st: &AppState, kind: Kind, email: &str) -> Result<()> {
    let mut conn = st.db.acquire().await?;
    if mail_allowed(&mut conn, email, st.cfg.limits.mail_per_address).await? {
        mail::insert_request(&mut *conn, kind.as_str(), email).await?;
        st.mailer.wake();
    }
    Ok(())
}

/// Worker side: take up to [`BATCH`] asks and queue the mails they call for (a reset link for any
/// account, a new verification link for an unverified one; nothing for an unknown address), in one
/// transaction. Returns how many asks were taken.
pub async fn process(st: &AppState) -> anyhow::Result<usize> {
    let mut tx = st.db.begin().await?;
    let mut asks = mail::take_requests(&mut *tx, BATCH).await?;
    asks.sort();
    for (_, kind, email) in &asks {
        let account = users::lock_by_email(&mut *tx, email).await?;
        let m = match (kind.as_str(), account) {
            ("reset", Some((user_id, _))) => {
                email_tokens::cancel(&mut *tx, &user_id, email_tokens::RESET).await?;
                let token = new_email_token(&mut tx, &user_id, email_tokens::RESET, RESET_TTL).await?;
                templates::reset_password(&st.cfg.public_url, &token)
            }
            ("verify", Some((user_id, false))) => {
                email_tokens::cancel(&mut *tx, &user_id, email_tokens::VERIFY).await?;
                let token = new_email_token(&mut tx, &user_id, email_tokens::VERIFY, super::signup::VERIFY_TTL).await?;
                templates::verify_email(&st.cfg.public_url, &token, false)
            }
            _ => continue,
        };
        st.mailer.enqueue(&mut *tx, email, m.subject, &m.body).await?;
    }
    tx.commit().await?;
    Ok(asks.len())
}
