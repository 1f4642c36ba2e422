//! Mail an address asked for without signing in (forgot-password, resend-verification): the request
//! only records the ask, through the same statements whether or not the address has an account, and
//! answers; the mail worker then finds the account, makes the link and queues the mail. So neither
//! the answer nor its timing tells a known address from an unknown one.

use super::{queries, signup::mail_allowed};
use crate::{error::Result, mail::templates, state::AppState};

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
        sqlx::query("insert into mail_request (kind, email) values ($1, $2)")
            .bind(kind.as_str())
            .bind(email)
            .execute(&mut *conn)
            .await?;
        st.mailer.wake();
    }
    Ok(())
}

/// Worker side: take up to [`BATCH`] asks and queue the mails they call for (a reset link for any
/// account, a new verification link for an unverified one; nothing for an unknown address), in one
/// transaction. Returns how many asks were taken.
pub async fn process(st: &AppState) -> anyhow::Result<usize> {
    let mut tx = st.db.begin().await?;
    let mut asks: Vec<(i64, String, String)> = sqlx::query_as(
        "delete from mail_request where request_id in \
         (select request_id from mail_request order by request_id limit $1 for update skip locked) \
         returning request_id, kind, email",
    )
    .bind(BATCH)
    .fetch_all(&mut *tx)
    .await?;
    asks.sort();
    for (_, kind, email) in &asks {
        let account = queries::user_for_update(&mut *tx, email).await?;
        let m = match (kind.as_str(), account) {
            ("reset", Some((user_id, _))) => {
                queries::cancel_email_tokens(&mut *tx, &user_id, queries::RESET).await?;
                let token = queries::insert_email_token(&mut *tx, &user_id, queries::RESET, RESET_TTL).await?;
                templates::reset_password(&st.cfg.public_url, &token)
            }
            ("verify", Some((user_id, false))) => {
                queries::cancel_email_tokens(&mut *tx, &user_id, queries::VERIFY).await?;
                let token =
                    queries::insert_email_token(&mut *tx, &user_id, queries::VERIFY, super::signup::VERIFY_TTL).await?;
                templates::verify_email(&st.cfg.public_url, &token, false)
            }
            _ => continue,
        };
        st.mailer.enqueue(&mut *tx, email, m.subject, &m.body).await?;
    }
    tx.commit().await?;
    Ok(asks.len())
}
