//! Mail goes through the durable `mail_outbox` table: written in the request's transaction,
//! delivered by a background worker with retries (SMTP with lettre, or `.eml` files in
//! `$HOODY_DATA_DIR/outbox/` when no SMTP server is configured). A request never waits on SMTP.
//!
//! A mail that cannot be delivered is dead-lettered (`failed_at` set, never tried again): at once
//! when the relay refuses it for good (a 5xx, a recipient it cannot parse), otherwise after
//! `HOODY_MAIL_MAX_ATTEMPTS` attempts. Once a mail is delivered or dead its body, which may hold a
//! one-time link, is emptied; the row stays as the record (recipient, subject, attempts, error).

pub mod templates;

use std::{
    future::Future,
    path::PathBuf,
    sync::{
        atomic::{AtomicI64, AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use anyhow::Context;
use lettre::{message::header::ContentType, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use sqlx::{PgExecutor, PgPool};
use tokio::sync::Notify;

use crate::{
    config::Config,
    db::mail::{self as outbox, Pending},
};

const BATCH: i64 = 10;
const POLL: Duration = Duration::from_secs(2);

enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Files(PathBuf),
}

pub struct Mailer {
    transport: Transport,
    from: lettre::message::Mailbox,
    wake: Arc<Notify>,
    retry: Duration,
    max_attempts: i32,
    /// Counted by this process, shown in `/metrics`.
    pub delivered: AtomicU64,
    pub failed_attempts: AtomicU64,
    pub dead_letters: AtomicU64,
    /// The outbox as the worker last read it: mail pending, and the unix time the oldest of it
    /// was written (0: none pending).
    pub pending: AtomicI64,
    pub oldest_pending_unix: AtomicI64,
}

impl Mailer {
    pub fn new(cfg: &Config) -> anyhow::Result<Self> {
        let transport = match &cfg.smtp_url {
            Some(url) => Transport::Smtp(smtp_transport(url.expose())?),
            None => Transport::Files(cfg.data_dir.join("outbox")),
        };
        let from =
            cfg.mail_from.parse().with_context(|| format!("HOODY_MAIL_FROM={:?} is not an address", cfg.mail_from))?;
        Ok(Self {
            transport,
            from,
            wake: Arc::new(Notify::new()),
            retry: cfg.mail_retry,
            max_attempts: cfg.mail_max_attempts.max(1),
            delivered: AtomicU64::new(0),
            failed_attempts: AtomicU64::new(0),
            dead_letters: AtomicU64::new(0),
            pending: AtomicI64::new(0),
            oldest_pending_unix: AtomicI64::new(0),
        })
    }

    /// Record a mail for delivery; call inside the transaction that makes it true.
    pub async fn enqueue(&self, db: impl PgExecutor<'_>, to: &str, subject: &str, body: &str) -> sqlx::Result<()> {
        outbox::enqueue(db, to, subject, body).await
    }

    /// Tell the worker there is mail (after the enqueuing transaction committed).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Deliver until `stop` resolves. Several replicas can run this: rows are leased with
    /// `for update skip locked` and a pushed-back `next_attempt_at`. Before each batch, `prepare`
    /// turns pending asks into outbox rows (forgot-password, resend); it returns how many it took,
    /// and a full batch (`prepare_batch`) means there may be more.
    pub async fn run_worker<F, Fut>(&self, db: PgPool, stop: crate::shutdown::Stop, prepare_batch: usize, prepare: F)
    where
        F: Fn() -> Fut,
        Fut: Future<Output = anyhow::Result<usize>>,
    {
        let mut last_warning: Option<tokio::time::Instant> = None;
        let mut last_backlog: Option<tokio::time::Instant> = None;
        loop {
            let mut warn = |e: anyhow::Error| {
                // While the database is away this fails every poll: say so once per 30 s.
                if last_warning.is_none_or(|t| t.elapsed() >= Duration::from_secs(30)) {
                    tracing::warn!(error = %e, "mail outbox unavailable");
                    last_warning = Some(tokio::time::Instant::now());
                }
            };
            let prepared = prepare().await.unwrap_or_else(|e| {
                warn(e);
                0
            });
            let delivered = self.deliver_batch(&db).await.unwrap_or_else(|e| {
                warn(e);
                0
            });
            // What is left, for `/metrics`: read at most once per poll period.
            if last_backlog.is_none_or(|t| t.elapsed() >= POLL) {
                last_backlog = Some(tokio::time::Instant::now());
                if let Err(e) = self.read_backlog(&db).await {
                    warn(e.into());
                }
            }
            if delivered as i64 == BATCH || prepared == prepare_batch {
                continue;
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(POLL) => {}
                _ = stop.wait() => return,
            }
        }
    }

    async fn read_backlog(&self, db: &PgPool) -> sqlx::Result<()> {
        let (pending, oldest) = outbox::backlog(db).await?;
        self.pending.store(pending, Ordering::Relaxed);
        self.oldest_pending_unix.store(oldest.map_or(0, |t| t.timestamp()), Ordering::Relaxed);
        Ok(())
    }

    async fn deliver_batch(&self, db: &PgPool) -> anyhow::Result<usize> {
        let batch = outbox::take_due(db, BATCH).await?;
        let n = batch.len();
        for mail in batch {
            self.deliver_one(db, mail).await?;
        }
        Ok(n)
    }

    async fn deliver_one(&self, db: &PgPool, mail: Pending) -> anyhow::Result<()> {
        let to = match mail.recipient.parse() {
            Ok(to) => to,
            Err(e) => {
                tracing::error!(mail_id = mail.mail_id, error = %e, "undeliverable recipient");
                return self.dead(db, &mail, "invalid recipient address").await;
            }
        };
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject.as_str())
            .header(ContentType::TEXT_PLAIN)
            .body(mail.body_text.clone())
            .context("building a message")?;
        let sent = match &self.transport {
            Transport::Smtp(smtp) => smtp.send(message).await.map(drop).map_err(|e| (e.is_permanent(), e.to_string())),
            Transport::Files(dir) => {
                write_eml(dir, mail.mail_id, &message.formatted()).await.map_err(|e| (false, e.to_string()))
            }
        };
        match sent {
            Ok(()) => {
                // The body may hold a one-time link: do not keep it once delivered.
                outbox::mark_sent(db, mail.mail_id).await?;
                self.delivered.fetch_add(1, Ordering::Relaxed);
                tracing::info!(mail_id = mail.mail_id, "mail delivered");
            }
            Err((permanent, e)) if permanent || mail.attempts >= self.max_attempts => {
                self.failed_attempts.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(mail_id = mail.mail_id, attempts = mail.attempts, permanent, error = %e, "mail undeliverable; dead-lettered");
                self.dead(db, &mail, &e).await?;
            }
            Err((_, e)) => {
                self.failed_attempts.fetch_add(1, Ordering::Relaxed);
                let backoff =
                    (self.retry * 2u32.pow(mail.attempts.clamp(1, 10) as u32 - 1)).min(Duration::from_secs(3600));
                tracing::warn!(mail_id = mail.mail_id, attempts = mail.attempts, error = %e, "mail delivery failed; will retry");
                let error: String = e.chars().take(500).collect();
                outbox::retry_later(db, mail.mail_id, backoff, &error).await?;
            }
        }
        Ok(())
    }

    /// Never try this mail again, and drop its body (a link in it is of no use to anyone now).
    async fn dead(&self, db: &PgPool, mail: &Pending, error: &str) -> anyhow::Result<()> {
        let error: String = error.chars().take(500).collect();
        outbox::mark_dead(db, mail.mail_id, &error).await?;
        self.dead_letters.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// `smtp://[user:password@]host[:port]`, plain SMTP (a local relay or mail catcher).
fn smtp_transport(url: &str) -> anyhow::Result<AsyncSmtpTransport<Tokio1Executor>> {
    let rest = url.strip_prefix("smtp://").context("HOODY_SMTP_URL must start with smtp://")?;
    let rest = rest.trim_end_matches('/');
    let (userinfo, hostport) = match rest.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, rest),
    };
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (h, p.parse::<u16>().context("HOODY_SMTP_URL has a bad port")?),
        None => (hostport, 25),
    };
    anyhow::ensure!(!host.is_empty(), "HOODY_SMTP_URL has no host");
    let mut builder =
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host).port(port).timeout(Some(Duration::from_secs(20)));
    if let Some((user, pass)) = userinfo.and_then(|u| u.split_once(':')) {
        builder =
            builder.credentials(lettre::transport::smtp::authentication::Credentials::new(user.into(), pass.into()));
    }
    Ok(builder.build())
}

async fn write_eml(dir: &std::path::Path, id: i64, bytes: &[u8]) -> std::io::Result<()> {
    tokio::fs::create_dir_all(dir).await?;
    // Write then rename, so a reader never sees half a message.
    let tmp = dir.join(format!(".{id}.eml.tmp"));
    tokio::fs::write(&tmp, bytes).await?;
    tokio::fs::rename(&tmp, dir.join(format!("{id:010}.eml"))).await
}
