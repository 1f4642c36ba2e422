//! `hoody-api wallet credit` and `hoody-api ledger verify`: the operator's side of the ledger.

use clap::Subcommand;
use hoody_api::{accounts, config::Config, db, ledger, money};

#[derive(Subcommand)]
pub enum WalletCmd {
    /// Credit a user's general balance (a promotion or a refund), through the ledger.
    Credit {
        /// The user's id, e-mail or username.
        user: String,
        /// Dollars, a strict decimal (`25` or `25.00`).
        amount: String,
        /// Why (shown in the user's transactions).
        #[arg(long)]
        reason: String,
    },
}

#[derive(Subcommand)]
pub enum LedgerCmd {
    /// Check the ledger: every kept balance equals the sum of its postings, every transaction
    /// balances, no balance is negative. Exits non-zero on any mismatch.
    Verify,
}

pub async fn manage_wallet(cfg: Config, action: WalletCmd) -> anyhow::Result<()> {
    let WalletCmd::Credit { user, amount, reason } = action;
    let cents = money::amount("amount", amount.trim()).map_err(|e| anyhow::anyhow!("{}: {}", e.path, e.message))?;
    let reason = reason.trim().to_owned();
    anyhow::ensure!(!reason.is_empty() && reason.chars().count() <= 200, "--reason must be 1-200 characters");
    crate::with_database(&cfg, |pool| async move {
        let account = accounts::find(&pool, &user).await?;
        let txn = ledger::credit(&pool, &account.user_id, cents, &reason)
            .await
            .map_err(|e| anyhow::anyhow!("the credit failed: {e}"))?;
        let (general, _) = db::ledger::kept(&pool, &account.user_id).await?;
        println!(
            "credited {} to {} ({}): transaction {txn}, general balance {}",
            money::dollars(cents),
            account.email,
            account.user_id,
            money::dollars(general)
        );
        Ok(())
    })
    .await
}

pub async fn manage_ledger(cfg: Config, action: LedgerCmd) -> anyhow::Result<()> {
    let LedgerCmd::Verify = action;
    crate::with_database(&cfg, |pool| async move {
        let mismatches = db::ledger::verify(&pool).await?;
        let (accounts, txns, postings) = db::ledger::counts(&pool).await?;
        for m in &mismatches {
            println!("MISMATCH {}: kept {} summed {}", m.what, money::dollars(m.kept), money::dollars(m.summed));
        }
        anyhow::ensure!(mismatches.is_empty(), "the ledger does not verify: {} mismatches", mismatches.len());
        println!("ledger ok: {accounts} accounts, {txns} transactions, {postings} postings; every balance equals its postings");
        Ok(())
    })
    .await
}
