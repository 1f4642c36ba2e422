//! `hoody-api notifications publish|list|remove`: operators' notices for the account inbox.

use clap::Subcommand;
use hoody_api::{config::Config, db, notices};

#[derive(Subcommand)]
pub enum NotificationsCmd {
    /// Publish a notice: for every account, or for the `--user`s given; `--public` also shows it
    /// without signing in (`GET /notifications/public`). Prints its id.
    Publish {
        #[arg(long)]
        title: String,
        #[arg(long)]
        message: String,
        /// MAINTENANCE, ANNOUNCEMENT or STATUS_UPDATE.
        #[arg(long = "type", default_value = "ANNOUNCEMENT")]
        kind: String,
        /// INFO, WARNING, ERROR or SUCCESS.
        #[arg(long, default_value = "INFO")]
        severity: String,
        #[arg(long)]
        public: bool,
        /// An account (id, e-mail or username) it is for; repeat for several. None: every account.
        #[arg(long = "user")]
        users: Vec<String>,
        /// When it stops being shown (RFC 3339).
        #[arg(long)]
        expires_at: Option<String>,
    },
    /// The published notices, newest first, as JSON (the security signals are not listed).
    List {
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Remove a published notice (from every inbox).
    Remove { id: String },
}

pub async fn manage_notifications(cfg: Config, action: NotificationsCmd) -> anyhow::Result<()> {
    crate::with_database(&cfg, |pool| async move {
        match action {
            NotificationsCmd::Publish { title, message, kind, severity, public, users, expires_at } => {
                let notice = notices::Notice { title, message, r#type: kind, severity, public, users, expires_at };
                let id = notices::publish(&pool, notice).await?;
                println!("{id}");
            }
            NotificationsCmd::List { limit } => {
                let rows: Vec<serde_json::Value> = db::notifications::published(&pool, limit.clamp(1, 1000))
                    .await?
                    .into_iter()
                    .map(|n| {
                        serde_json::json!({"id": n.notification_id, "title": n.title, "type": n.r#type,
                            "severity": n.severity, "is_public": n.is_public, "is_global": n.is_global,
                            "target_user_ids": n.target_user_ids, "expires_at": n.expires_at.map(db::ts),
                            "created_at": db::ts(n.created_at)})
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
            }
            NotificationsCmd::Remove { id } => {
                anyhow::ensure!(notices::remove(&pool, id.trim()).await?, "no published notice {id:?}");
                println!("removed notice {id}");
            }
        }
        anyhow::Ok(())
    })
    .await
}
