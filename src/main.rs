//! The `hoody-api` command: `serve` (default), `migrate`, `openapi`, `servers …`, `invites …`, `users …`,
//! `images …`, `wallet credit`, `ledger verify`, `notifications …`, `vault rekey`.

use std::{
    process::ExitCode,
    sync::{atomic::AtomicBool, Arc},
};

use anyhow::Context;
use clap::{Parser, Subcommand};
use hoody_api::{
    accounts, auth::crypto::SecretBox, config::Config, db, invites, lifecycle::warm_pool::admin as warm_admin,
    rentals_admin, servers, state::AppState, telemetry,
};

mod images_cli;
mod money_cli;
mod notifications_cli;
mod vault_cli;

#[derive(Parser)]
#[command(name = "hoody-api", version, about = "The Hoody platform control plane")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

// Parsed once per process: the size of a variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Print the OpenAPI document.
    Openapi,
    /// Manage the servers registry (the container hosts).
    Servers {
        #[command(subcommand)]
        action: ServersCmd,
    },
    /// Invite codes for the free tier's invite gate (`HOODY_FREE_TIER_INVITES=on`).
    Invites {
        #[command(subcommand)]
        action: InvitesCmd,
    },
    /// Administer accounts: list, ban, unban, grant admin.
    Users {
        #[command(subcommand)]
        action: UsersCmd,
    },
    /// The public image catalogue: publish an image from a container or a snapshot, unpublish.
    Images {
        #[command(subcommand)]
        action: images_cli::ImagesCmd,
    },
    /// The wallet: credit a user (a promotion or a refund).
    Wallet {
        #[command(subcommand)]
        action: money_cli::WalletCmd,
    },
    /// The money ledger: verify its invariants.
    Ledger {
        #[command(subcommand)]
        action: money_cli::LedgerCmd,
    },
    /// Machines to order (`GET /offers`): add, list, withdraw.
    Offers {
        #[command(subcommand)]
        action: OffersCmd,
    },
    /// Notices for the account inbox: publish, list, remove.
    Notifications {
        #[command(subcommand)]
        action: notifications_cli::NotificationsCmd,
    },
    /// The user vault: re-encrypt it under the current secret key (`rekey`).
    Vault {
        #[command(subcommand)]
        action: vault_cli::VaultCmd,
    },
}

#[derive(Subcommand)]
enum OffersCmd {
    /// Add an offer: `--json '{"country":"DE","price_per_day_cents":300,"rental_days":[30],"delivery_hours":48,…}'`
    /// (also region, city, datacenter, cpu_model, cpu_cores, cpu_threads, ram_gb, disks, bandwidth_mbps,
    /// traffic_tb, traffic_unlimited, ipv4_count, hold_days, setup_fee_cents, setup_time_minutes, stock).
    Add {
        name: String,
        #[arg(long)]
        json: String,
    },
    /// Every offer, withdrawn ones too, as JSON.
    List,
    /// Withdraw an offer (its reservations keep it).
    Remove { name: String },
    /// The reservations waiting for delivery, oldest first, as JSON (deliver one with
    /// `servers add <name> … --reservation <id>`).
    Pending,
    /// Refund a pending reservation: what it paid back to the buyer.
    Refund {
        reservation: String,
        /// Why (shown in the buyer's transactions).
        #[arg(long)]
        reason: String,
        /// Put its unit back in the offer's stock (the machine exists after all).
        #[arg(long)]
        restock: bool,
    },
}

#[derive(Subcommand)]
enum InvitesCmd {
    /// Make invite codes and print them, one per line (they are shown only now; stored hashed).
    Create {
        /// How many codes (1–1000).
        #[arg(long, default_value_t = 1)]
        count: u32,
        /// How many accounts each code serves (1–1000000).
        #[arg(long, default_value_t = 1)]
        uses: u32,
    },
}

#[derive(Subcommand)]
enum UsersCmd {
    /// List accounts, oldest first.
    List {
        /// Only accounts whose e-mail or username contains this (case-insensitive).
        #[arg(long)]
        search: Option<String>,
        #[arg(long)]
        banned: bool,
        #[arg(long)]
        admins: bool,
        #[arg(long, default_value_t = 1000)]
        limit: i64,
        /// One JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Ban an account (user id, e-mail or username): its sessions are revoked at once and its auth
    /// tokens refused while the ban holds.
    Ban {
        user: String,
        /// Also disable every auth token of the account (an unban does not bring them back).
        #[arg(long)]
        disable_tokens: bool,
    },
    /// Lift a ban (the user signs in again; auth tokens not disabled work again).
    Unban { user: String },
    /// Make an account an administrator (`--revoke` takes it back).
    MakeAdmin {
        user: String,
        #[arg(long)]
        revoke: bool,
    },
}

#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum ServersCmd {
    /// Register a host.
    Add {
        name: String,
        #[command(flatten)]
        fields: ServerArgs,
        /// Deliver this pending reservation on the new server: its buyer's rental starts now.
        #[arg(long)]
        reservation: Option<String>,
    },
    /// List the registered hosts.
    List {
        /// One JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Change a registered host.
    Update {
        name: String,
        #[command(flatten)]
        fields: ServerArgs,
        /// Keep this many started instances of an image ready for creates to claim:
        /// `<image>=<n>`, repeatable; `<image>=0` removes the pool and its idle instances.
        #[arg(long = "warm-pool", value_name = "IMAGE=N")]
        warm_pool: Vec<String>,
    },
    /// Forget a host.
    Remove { name: String },
    /// Stop new placements on a host (creates, copies, the free tier); print what still runs there.
    Drain {
        name: String,
        /// One JSON object (`server`, `containers`) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Let a drained host take new containers again.
    Undrain { name: String },
}

#[derive(clap::Args)]
struct ServerArgs {
    #[arg(long)]
    region: Option<String>,
    #[arg(long)]
    country: Option<String>,
    #[arg(long)]
    city: Option<String>,
    #[arg(long)]
    datacenter: Option<String>,
    #[arg(long)]
    cores: Option<i32>,
    #[arg(long)]
    ram_mb: Option<i64>,
    #[arg(long)]
    disk_gb: Option<i64>,
    /// `unix:///var/lib/lxd/unix.socket` or `https://host:8443`.
    #[arg(long)]
    endpoint: Option<String>,
    /// PEM file of our client certificate (HTTPS hosts).
    #[arg(long)]
    client_cert: Option<std::path::PathBuf>,
    /// PEM file of its private key (stored encrypted).
    #[arg(long)]
    client_key: Option<std::path::PathBuf>,
    /// PEM file of the host's own certificate (HTTPS hosts): the only one trusted for it.
    #[arg(long)]
    server_cert: Option<std::path::PathBuf>,
    /// SHA-256 of the host's certificate, 64 hex (checked on every reply).
    #[arg(long)]
    fingerprint: Option<String>,
    /// Part of the shared free tier.
    #[arg(long)]
    free: Option<bool>,
    #[arg(long)]
    enabled: Option<bool>,
    /// Rental price per day, in cents.
    #[arg(long)]
    price_per_day_cents: Option<i64>,
    /// Allowed rental durations in days, comma-separated.
    #[arg(long, value_delimiter = ',')]
    rental_days: Option<Vec<i32>>,
    /// Marketplace fields as a JSON object: `{"listed": true, "category": "compute",
    /// "cpu_model": "…", "disks": [{"count": 2, "capacity_gb": 960, "type": "NVMe"}], …}`
    /// (listed, model, is_vm, category, featured, popularity_rank, setup_time_minutes,
    /// setup_fee_cents, hold_days, cpu_model, cpu_threads, cpu_score, cpu_score_type, ram_type,
    /// ram_speed_mhz, disks, bandwidth_mbps, traffic_tb, traffic_unlimited, ipv4_count,
    /// ipv6_enabled, max_containers).
    #[arg(long)]
    listing: Option<String>,
}

impl ServerArgs {
    fn into_fields(self) -> anyhow::Result<servers::ServerFields> {
        let read = |p: Option<std::path::PathBuf>| {
            p.map(|p| std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))).transpose()
        };
        Ok(servers::ServerFields {
            region: self.region,
            country: self.country,
            city: self.city,
            datacenter: self.datacenter,
            is_enabled: self.enabled,
            is_free: self.free,
            cores: self.cores,
            ram_mb: self.ram_mb,
            disk_gb: self.disk_gb,
            lxd_endpoint: self.endpoint,
            client_cert: read(self.client_cert)?,
            client_key: read(self.client_key)?,
            server_cert: read(self.server_cert)?,
            server_fingerprint: self.fingerprint,
            price_per_day_cents: self.price_per_day_cents,
            rental_days: self.rental_days,
        })
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Openapi) = cli.command {
        print!("{}", hoody_api::openapi::document_json());
        return ExitCode::SUCCESS;
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line that says what is wrong (and, for a missing PostgreSQL, what to install).
            eprintln!("hoody-api: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let cfg = Config::from_env()?;
    telemetry::init(cfg.log_json);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async move {
        match cli.command {
            Some(Command::Migrate) => migrate(cfg).await,
            Some(Command::Servers { action }) => manage_servers(cfg, action).await,
            Some(Command::Invites { action }) => manage_invites(cfg, action).await,
            Some(Command::Users { action }) => manage_users(cfg, action).await,
            Some(Command::Images { action }) => images_cli::manage_images(cfg, action).await,
            Some(Command::Wallet { action }) => money_cli::manage_wallet(cfg, action).await,
            Some(Command::Ledger { action }) => money_cli::manage_ledger(cfg, action).await,
            Some(Command::Offers { action }) => manage_offers(cfg, action).await,
            Some(Command::Notifications { action }) => notifications_cli::manage_notifications(cfg, action).await,
            Some(Command::Vault { action }) => vault_cli::manage_vault(cfg, action).await,
            _ => serve(cfg).await,
        }
    })
}

/// The database: `DATABASE_URL`, or the embedded cluster (returned so it can be stopped).
async fn database(cfg: &Config) -> anyhow::Result<(sqlx::PgPool, Option<db::embedded::EmbeddedPostgres>)> {
    match &cfg.database_url {
        Some(url) => {
            let opts = url.as_str().parse().context("DATABASE_URL is not a PostgreSQL URL")?;
            Ok((db::pool(cfg, opts), None))
        }
        None => {
            let pg = db::embedded::EmbeddedPostgres::start(&cfg.data_dir).await?;
            Ok((db::pool(cfg, pg.connect_options()), Some(pg)))
        }
    }
}

/// Run `work` on the database (migrated first), then close it (and the embedded cluster, if one
/// was started), whatever `work` answered.
pub(crate) async fn with_database<F, Fut>(cfg: &Config, work: F) -> anyhow::Result<()>
where
    F: FnOnce(sqlx::PgPool) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let (pool, pg) = database(cfg).await?;
    let result = async {
        db::MIGRATOR.run(&pool).await.context("applying migrations")?;
        work(pool.clone()).await
    }
    .await;
    pool.close().await;
    if let Some(pg) = pg {
        pg.stop();
    }
    result
}

async fn migrate(cfg: Config) -> anyhow::Result<()> {
    with_database(&cfg, |_| async { Ok(()) }).await?;
    tracing::info!("migrations applied");
    Ok(())
}

async fn manage_servers(cfg: Config, action: ServersCmd) -> anyhow::Result<()> {
    let sealer = SecretBox::load(cfg.secret_key.as_ref().map(hoody_api::secret::Secret::as_str), &cfg.data_dir)?;
    with_database(&cfg, |pool| async move {
        match action {
            ServersCmd::Add { name, fields, reservation } => {
                let listing = fields.listing.clone();
                if let Some(r) = &reservation {
                    rentals_admin::check_pending(&pool, r).await?;
                }
                let row = servers::add(&pool, &sealer, &name, &fields.into_fields()?).await?;
                // Delivered before it is listed (never rentable by someone else first); a
                // delivery that fails (another operator delivered it meanwhile) takes the
                // server back out.
                if let Some(r) = &reservation {
                    match rentals_admin::deliver(&pool, &row.server_id, r).await {
                        Ok(rental) => println!("delivered reservation {r}: rental {rental}"),
                        Err(e) => {
                            servers::remove(&pool, &name).await?;
                            return Err(e.context(format!("{name} was not registered")));
                        }
                    }
                }
                if let Some(l) = listing {
                    rentals_admin::set_listing(&pool, &row.server_id, &l).await?;
                }
                println!("added {} ({}) in {}", row.name, row.server_id, row.region);
            }
            ServersCmd::Update { name, fields, warm_pool } => {
                let warm = warm_admin::parse_all(&warm_pool)?;
                if !warm.is_empty() {
                    warm_admin::check(&pool, &sealer, &name, &warm).await?;
                }
                let listing = fields.listing.clone();
                let row = servers::update(&pool, &sealer, &name, &fields.into_fields()?).await?;
                if let Some(l) = listing {
                    rentals_admin::set_listing(&pool, &row.server_id, &l).await?;
                }
                println!("updated {} ({})", row.name, row.server_id);
                for line in warm_admin::apply(&pool, &row, &warm).await? {
                    println!("{line}");
                }
            }
            ServersCmd::Remove { name } => {
                servers::remove(&pool, &name).await?;
                println!("removed {name}");
            }
            ServersCmd::List { json } => {
                let rows = servers::list(&pool).await?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&warm_admin::with_pools(&pool, &rows).await?)?);
                } else {
                    let head = ("ID", "NAME", "REGION", "FREE", "ENABLED", "DRAINING");
                    println!(
                        "{:<24}  {:<16} {:<12} {:<5} {:<7} {:<8} ENDPOINT",
                        head.0, head.1, head.2, head.3, head.4, head.5
                    );
                    for r in rows {
                        println!(
                            "{:<24}  {:<16} {:<12} {:<5} {:<7} {:<8} {}",
                            r.server_id,
                            r.name,
                            r.region,
                            r.is_free,
                            r.is_enabled,
                            r.draining_since.is_some(),
                            r.lxd_endpoint
                        );
                    }
                    print!("{}", warm_admin::table(&warm_admin::fills(&pool).await?));
                }
            }
            ServersCmd::Drain { name, json } => {
                let d = servers::drain(&pool, &name, true).await?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&d)?);
                } else {
                    print_drained(&d);
                }
            }
            ServersCmd::Undrain { name } => {
                let d = servers::drain(&pool, &name, false).await?;
                println!("{} ({}) takes new containers again", d.server.name, d.server.server_id);
            }
        }
        anyhow::Ok(())
    })
    .await
}

/// `servers drain`: the server's state, then what still runs there, by status.
fn print_drained(d: &servers::Drained) {
    let since = d.server.draining_since.map(db::ts).unwrap_or_default();
    println!("{} ({}) is draining since {since}: no new containers go there", d.server.name, d.server.server_id);
    if d.containers.is_empty() {
        println!("no containers are left on it");
        return;
    }
    match d.containers.len() {
        1 => println!("1 container is still on it:"),
        n => println!("{n} containers are still on it:"),
    }
    for group in d.containers.chunk_by(|a, b| a.status == b.status) {
        println!("{} ({}):", group[0].status, group.len());
        for c in group {
            let prespawned = if c.prespawn { "  prespawned" } else { "" };
            println!("  {}  {}  project {}{prespawned}", c.container_id, c.name, c.project_id);
        }
    }
}

async fn manage_offers(cfg: Config, action: OffersCmd) -> anyhow::Result<()> {
    with_database(&cfg, |pool| async move {
        match action {
            OffersCmd::Add { name, json } => {
                let id = rentals_admin::add_offer(&pool, &name, &json).await?;
                println!("added offer {name} ({id})");
            }
            OffersCmd::List => {
                println!("{}", serde_json::to_string_pretty(&db::rentals::offers(&pool, true).await?)?);
            }
            OffersCmd::Remove { name } => {
                anyhow::ensure!(db::rentals::deactivate_offer(&pool, &name).await?, "no offer named {name:?}");
                println!("withdrew offer {name}");
            }
            OffersCmd::Pending => {
                let rows: Vec<serde_json::Value> = db::rentals::pending(&pool)
                    .await?
                    .into_iter()
                    .map(|r| {
                        serde_json::json!({"id": r.reservation_id, "user_id": r.user_id, "offer_id": r.offer_id,
                            "days": r.days, "ready_by": db::ts(r.ready_by), "total_paid_cents": r.total_paid_cents})
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
            }
            OffersCmd::Refund { reservation, reason, restock } => {
                let reason = reason.trim();
                anyhow::ensure!(
                    !reason.is_empty() && reason.chars().count() <= 200,
                    "--reason must be 1-200 characters"
                );
                let txn = rentals_admin::refund(&pool, &reservation, reason, restock).await?;
                println!("refunded reservation {reservation}: transaction {txn}");
            }
        }
        anyhow::Ok(())
    })
    .await
}

async fn manage_invites(cfg: Config, action: InvitesCmd) -> anyhow::Result<()> {
    with_database(&cfg, |pool| async move {
        match action {
            InvitesCmd::Create { count, uses } => {
                for code in invites::create(&pool, count, uses).await? {
                    println!("{code}");
                }
            }
        }
        anyhow::Ok(())
    })
    .await
}

async fn manage_users(cfg: Config, action: UsersCmd) -> anyhow::Result<()> {
    with_database(&cfg, |pool| async move {
        let say = |what: &str, r: &accounts::AccountRow| {
            println!("{what} {} ({}, {}): admin={} banned={}", r.username, r.user_id, r.email, r.is_admin, r.is_banned)
        };
        match action {
            UsersCmd::List { search, banned, admins, limit, json } => {
                let filter = accounts::ListFilter { search, banned_only: banned, admins_only: admins, limit };
                let rows = accounts::list(&pool, &filter).await?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&rows)?);
                } else {
                    println!(
                        "{:<24}  {:<24} {:<32} {:<5} {:<6} {:<8} CREATED",
                        "ID", "USERNAME", "EMAIL", "ADMIN", "BANNED", "VERIFIED"
                    );
                    for r in rows {
                        println!(
                            "{:<24}  {:<24} {:<32} {:<5} {:<6} {:<8} {}",
                            r.user_id, r.username, r.email, r.is_admin, r.is_banned, r.email_verified, r.created
                        );
                    }
                }
            }
            UsersCmd::Ban { user, disable_tokens } => {
                say("banned", &accounts::ban(&pool, &user, disable_tokens).await?)
            }
            UsersCmd::Unban { user } => say("unbanned", &accounts::unban(&pool, &user).await?),
            UsersCmd::MakeAdmin { user, revoke } => {
                let r = accounts::make_admin(&pool, &user, revoke).await?;
                say(if revoke { "no longer admin:" } else { "now admin:" }, &r)
            }
        }
        anyhow::Ok(())
    })
    .await
}

async fn serve(cfg: Config) -> anyhow::Result<()> {
    let listener =
        tokio::net::TcpListener::bind(cfg.listen).await.with_context(|| format!("binding {}", cfg.listen))?;
    let (pool, pg) = database(&cfg).await?;
    let state = AppState::new(pool.clone(), cfg, Arc::new(AtomicBool::new(false)))?;
    hoody_api::spawn_migrations(&state);
    tracing::info!(addr = %listener.local_addr()?, "hoody-api listening");
    let result = hoody_api::run(listener, state, hoody_api::shutdown::signal()).await;
    pool.close().await;
    if let Some(pg) = pg {
        pg.stop();
    }
    result
}
