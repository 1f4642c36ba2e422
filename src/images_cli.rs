//! `hoody-api images publish|unpublish|list`: the operator's side of the public image catalogue.

use anyhow::Context;
use clap::Subcommand;
use hoody_api::{auth::crypto::SecretBox, config::Config, images};

// Parsed once per process: the size of a variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
pub enum ImagesCmd {
    /// Publish a new image from `--container` (and `--snapshot`), or put image `ID` back in the
    /// public catalogue; the options set its catalogue fields. Prints the image id.
    Publish {
        /// An existing image (leave out with --container).
        id: Option<String>,
        /// The container to publish (a running one is published through a temporary snapshot).
        #[arg(long, conflicts_with = "id")]
        container: Option<String>,
        /// One of the container's snapshots to publish instead of its current state.
        #[arg(long, requires = "container")]
        snapshot: Option<String>,
        #[command(flatten)]
        fields: ImageArgs,
    },
    /// Take an image out of the public catalogue (those who hold it keep it).
    Unpublish { id: String },
    /// List every image, published or not.
    List {
        /// One JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::Args)]
pub struct ImageArgs {
    /// The catalogue name (required for a new image).
    #[arg(long)]
    alias: Option<String>,
    #[arg(long)]
    description: Option<String>,
    /// Operating system, e.g. debian (required for a new image).
    #[arg(long)]
    os: Option<String>,
    #[arg(long)]
    release: Option<String>,
    /// e.g. amd64 (default: the host's, as amd64/arm64/armhf).
    #[arg(long)]
    architecture: Option<String>,
    #[arg(long)]
    variant: Option<String>,
    /// Search tags, comma-separated.
    #[arg(long, value_delimiter = ',')]
    tags: Option<Vec<String>>,
    /// Price as a decimal in currency units (`4.99`; 0 = free).
    #[arg(long)]
    price: Option<String>,
    #[arg(long)]
    prespawn: Option<bool>,
    /// PNG, JPEG, GIF, WebP or SVG file.
    #[arg(long)]
    icon: Option<std::path::PathBuf>,
}

impl ImageArgs {
    fn into_changes(self) -> anyhow::Result<images::Changes> {
        let price_cents = match self.price {
            Some(p) => Some(images::hundredths(&p).context("--price is a decimal like 4.99 (no sign)")?),
            None => None,
        };
        Ok(images::Changes {
            alias: self.alias,
            description: self.description,
            os: self.os,
            release: self.release,
            architecture: self.architecture,
            variant: self.variant,
            tags: self.tags,
            price_cents,
            prespawn: self.prespawn,
            icon: self.icon.as_deref().map(images::read_icon).transpose()?,
        })
    }
}

pub async fn manage_images(cfg: Config, action: ImagesCmd) -> anyhow::Result<()> {
    let sealer = SecretBox::load(cfg.secret_key.as_ref().map(hoody_api::secret::Secret::as_str), &cfg.data_dir)?;
    crate::with_database(&cfg, |pool| async move {
        match action {
            ImagesCmd::Publish { id, container, snapshot, fields } => {
                let changes = fields.into_changes()?;
                match (id, container) {
                    (Some(id), None) => {
                        images::publish(&pool, &id, changes).await?;
                        println!("{id}");
                    }
                    (None, Some(container_id)) => {
                        let src = images::Source { container_id, snapshot };
                        println!("{}", images::publish_new(&pool, &sealer, &src, changes).await?);
                    }
                    _ => anyhow::bail!("give an image id, or --container to publish a new image"),
                }
            }
            ImagesCmd::Unpublish { id } => {
                images::unpublish(&pool, &id).await?;
                println!("unpublished {id}");
            }
            ImagesCmd::List { json } => {
                let rows = images::list(&pool).await?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&rows)?);
                } else {
                    println!(
                        "{:<24}  {:<24} {:<16} {:<8} {:<6} {:<7} FINGERPRINT",
                        "ID", "ALIAS", "OS", "ARCH", "PUBLIC", "HOLDERS"
                    );
                    for r in rows {
                        let os = format!("{}/{}", r.os, r.release);
                        println!(
                            "{:<24}  {:<24} {:<16} {:<8} {:<6} {:<7} {}",
                            r.image_id,
                            r.alias,
                            os,
                            r.architecture,
                            r.is_public,
                            r.holders,
                            &r.fingerprint[..r.fingerprint.len().min(12)]
                        );
                    }
                }
            }
        }
        anyhow::Ok(())
    })
    .await
}
