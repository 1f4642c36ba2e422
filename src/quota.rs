//! What an account and a project may hold. Every check runs inside the transaction that adds the
//! row, after taking the owner's lock for that kind of row, so simultaneous creates cannot
//! overshoot. Account-wide limits come from settings in two tiers (`free`, the default for every
//! account, and `standard`); administrators are not limited. Rows that hold nothing (containers
//! that failed, or are being deleted) do not count.

use crate::{
    config::Config,
    db::{containers::NewContainer, quotas},
    error::ApiError,
    events::Tx,
};

/// One tier's account-wide limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountLimits {
    pub projects: i64,
    pub containers: i64,
    pub snapshots: i64,
    pub tokens: i64,
    /// Firewall rules over all the account's containers, both directions.
    pub firewall_rules: i64,
    pub aliases: i64,
    pub shares: i64,
}

/// What a count is of: the lock it takes and how its limit is read.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Projects,
    Containers,
    Snapshots,
    Tokens,
    FirewallRules,
    Aliases,
    Shares,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Self::Projects => "projects",
            Self::Containers => "containers",
            Self::Snapshots => "snapshots",
            Self::Tokens => "tokens",
            Self::FirewallRules => "firewall_rules",
            Self::Aliases => "aliases",
            Self::Shares => "shares",
        }
    }

    fn of(self, l: &AccountLimits) -> i64 {
        match self {
            Self::Projects => l.projects,
            Self::Containers => l.containers,
            Self::Snapshots => l.snapshots,
            Self::Tokens => l.tokens,
            Self::FirewallRules => l.firewall_rules,
            Self::Aliases => l.aliases,
            Self::Shares => l.shares,
        }
    }
}

/// Take `owner_id`'s lock for `kind` (until `tx` ends).
async fn lock(tx: &mut Tx, owner_id: &str, kind: Kind) -> Result<(), ApiError> {
    Ok(quotas::lock(tx, kind.name(), owner_id).await?)
}

/// `owner_id`'s limit for `kind`, or `None` for an administrator.
async fn limit(tx: &mut Tx, cfg: &Config, owner_id: &str, kind: Kind) -> Result<Option<(i64, &'static str)>, ApiError> {
    Ok(match quotas::tier(&mut **tx, owner_id).await? {
        Some((_, true)) => None,
        Some((tier, false)) if tier == "standard" => Some((kind.of(&cfg.quotas.standard), "standard")),
        _ => Some((kind.of(&cfg.quotas.free), "free")),
    })
}

/// How many `kind` rows `owner_id` holds now (what counts against the limit).
async fn held(tx: &mut Tx, owner_id: &str, kind: Kind) -> Result<i64, ApiError> {
    Ok(match kind {
        Kind::Projects => quotas::projects(&mut **tx, owner_id).await?,
        Kind::Containers => quotas::containers(&mut **tx, owner_id).await?,
        Kind::Snapshots => quotas::snapshots(&mut **tx, owner_id).await?,
        Kind::Tokens => quotas::tokens(&mut **tx, owner_id).await?,
        Kind::FirewallRules => quotas::firewall_rules(&mut **tx, owner_id).await?,
        Kind::Aliases => quotas::aliases(&mut **tx, owner_id).await?,
        Kind::Shares => crate::db::storage_shares::count_of_owner(&mut **tx, owner_id).await?,
    })
}

/// Room for one more `kind` row of `owner_id`'s: 422 naming `limits.<kind>` when the account
/// holds its tier's maximum. Call inside the transaction that adds it.
pub async fn check_account(tx: &mut Tx, cfg: &Config, owner_id: &str, kind: Kind) -> Result<(), ApiError> {
    check_account_for(tx, cfg, owner_id, kind, 1).await
}

/// Room for `more` new `kind` rows of `owner_id`'s (as [`check_account`]).
pub async fn check_account_for(
    tx: &mut Tx,
    cfg: &Config,
    owner_id: &str,
    kind: Kind,
    more: i64,
) -> Result<(), ApiError> {
    lock(tx, owner_id, kind).await?;
    let Some((max, tier)) = limit(tx, cfg, owner_id, kind).await? else { return Ok(()) };
    if held(tx, owner_id, kind).await? + more > max {
        return Err(ApiError::invalid(
            &format!("limits.{}", kind.name()),
            format!("this account ({tier} tier) holds at most {max} {}", kind.name().replace('_', " ")),
        ));
    }
    Ok(())
}

/// A new container `n` of `owner_id`'s: the account's limit, and the project's `max_containers`
/// (or, for a prespawned container, the server's prespawn cap, which the account limit skips).
pub async fn check(
    tx: &mut Tx,
    cfg: &Config,
    owner_id: &str,
    n: &NewContainer,
    prespawn_cap: i32,
) -> Result<(), ApiError> {
    lock(tx, owner_id, Kind::Containers).await?;
    if n.prespawn {
        let held = quotas::prespawned(&mut **tx, owner_id, &n.server_id).await?;
        if held >= i64::from(prespawn_cap) {
            return Err(ApiError::invalid(
                "prespawn",
                format!("this server keeps at most {prespawn_cap} prespawned containers"),
            ));
        }
        return Ok(());
    }
    if let Some((max, tier)) = limit(tx, cfg, owner_id, Kind::Containers).await? {
        if held(tx, owner_id, Kind::Containers).await? >= max {
            return Err(ApiError::invalid(
                "limits.containers",
                format!("this account ({tier} tier) holds at most {max} containers"),
            ));
        }
    }
    let max = quotas::project_max(&mut **tx, &n.project_id).await?;
    let max = max.ok_or_else(|| ApiError::not_found("project_not_found", "Project not found"))?;
    if let Some(max) = max {
        let held = quotas::in_project(&mut **tx, &n.project_id).await?;
        if held >= i64::from(max) {
            return Err(ApiError::invalid(
                "max_containers",
                format!("the project holds its maximum of {max} containers"),
            ));
        }
    }
    Ok(())
}

/// A new container of `owner_id`'s on a server that is not free: at most the server's
/// `max_containers` of theirs (the `container_capacity.max` their rental shows), counted under
/// the server's row lock so parallel creates never pass it; 409 `server_full` past it.
pub async fn server_room(tx: &mut Tx, server_id: &str, owner_id: &str) -> Result<(), ApiError> {
    let Some(max) = quotas::rented_capacity(tx, server_id).await? else { return Ok(()) };
    if quotas::on_server(&mut **tx, server_id, owner_id).await? >= i64::from(max) {
        return Err(ApiError::conflict(
            "server_full",
            format!("This server holds its maximum of {max} containers (its container_capacity)"),
        ));
    }
    Ok(())
}
