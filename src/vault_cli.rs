//! `hoody-api vault rekey`: after a key rotation, seal every vault value again under the current
//! secret key.

use anyhow::Context;
use clap::Subcommand;
use hoody_api::{auth::crypto::SecretBox, config::Config, secret::Secret, vault};

#[derive(Subcommand)]
pub enum VaultCmd {
    /// Seal every vault value (and kept earlier version) that is not under the current secret key
    /// (`HOODY_SECRET_KEY`) again under it, opening it with the key it was sealed under (one of
    /// `HOODY_SECRET_KEY_PREVIOUS`). In batches, one transaction each; idempotent. Fails (after
    /// doing the rest) when some value opens with no key held, naming them (never their values).
    Rekey {
        /// Rows per transaction.
        #[arg(long, default_value_t = 500)]
        batch_size: i64,
    },
}

pub async fn manage_vault(cfg: Config, action: VaultCmd) -> anyhow::Result<()> {
    let sealer = SecretBox::load(cfg.secret_key.as_ref().map(Secret::as_str), &cfg.data_dir)?
        .with_previous(&cfg.secret_key_previous)?;
    crate::with_database(&cfg, |pool| async move {
        match action {
            VaultCmd::Rekey { batch_size } => {
                anyhow::ensure!(batch_size >= 1, "--batch-size must be at least 1");
                let report = vault::rekey(&pool, &sealer, batch_size).await.context("rekeying the vault")?;
                println!(
                    "re-encrypted {} values and {} earlier versions under key {}",
                    report.values,
                    report.versions,
                    sealer.key_id()
                );
                if !report.unreadable.is_empty() {
                    anyhow::bail!(
                        "{} stored versions open with no key held (left as they are): {}",
                        report.unreadable.len(),
                        report.unreadable.join(", ")
                    );
                }
            }
        }
        anyhow::Ok(())
    })
    .await
}
