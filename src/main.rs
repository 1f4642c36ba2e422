//! The `hoody-api` command: `serve` (default), `migrate`, `openapi`.

use std::{
    process::ExitCode,
    sync::{atomic::AtomicBool, Arc},
};

use anyhow::Context;
use clap::{Parser, Subcommand};
use hoody_api::{config::Config, db, state::AppState, telemetry};

#[derive(Parser)]
#[command(name = "hoody-api", version, about = "The Hoody platform control plane")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Print the OpenAPI document.
    Openapi,
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
            _ => serve(cfg).await,
        }
    })
}

/// The database: `DATABASE_URL`, or the embedded cluster (returned so it can be stopped).
async fn database(cfg: &Config) -> anyhow::Result<(sqlx::PgPool, Option<db::embedded::EmbeddedPostgres>)> {
    match &cfg.database_url {
        Some(url) => {
            let opts = url.parse().context("DATABASE_URL is not a PostgreSQL URL")?;
            Ok((db::pool(cfg, opts), None))
        }
        None => {
            let pg = db::embedded::EmbeddedPostgres::start(&cfg.data_dir).await?;
            Ok((db::pool(cfg, pg.connect_options()), Some(pg)))
        }
    }
}

async fn migrate(cfg: Config) -> anyhow::Result<()> {
    let (pool, pg) = database(&cfg).await?;
    let result = db::MIGRATOR.run(&pool).await.context("applying migrations");
    pool.close().await;
    if let Some(pg) = pg {
        pg.stop();
    }
    result?;
    tracing::info!("migrations applied");
    Ok(())
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
