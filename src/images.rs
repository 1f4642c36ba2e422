//! Container images, the operator's side: `hoody-api images publish|unpublish|list`. Publishing
//! makes an LXD image on the container's host from the container (through a temporary snapshot
//! when it runs: LXD does not export a running instance) or from one of its snapshots, under a
//! random alias only holders reach, and puts it in the public catalogue.

use std::{collections::BTreeMap, path::Path};

use anyhow::Context;
use sha2::{Digest, Sha256};
use sqlx::PgPool;

pub use crate::db::image_publish::{Changes, IconData, Listed};
use crate::{
    auth::crypto::SecretBox,
    db::{self, containers, image_publish, image_publish::NewImage},
    host::{registry::Hosts, HostLimits},
};

/// The largest icon we keep.
pub const MAX_ICON_BYTES: usize = 1 << 20;

pub use crate::money::hundredths;

/// The catalogue's word for the host's architecture.
pub fn architecture_of(host: &str) -> String {
    match host {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "armv7l" => "armhf",
        "i686" => "i386",
        other => other,
    }
    .to_owned()
}

/// An icon file: its type from its first bytes (PNG, JPEG, GIF, WebP, or SVG by name), ETag the
/// SHA-256 of the bytes.
pub fn read_icon(path: &Path) -> anyhow::Result<IconData> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    anyhow::ensure!(!bytes.is_empty() && bytes.len() <= MAX_ICON_BYTES, "an icon is 1 byte to 1 MiB");
    let svg = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("svg"));
    let content_type = if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        "image/png"
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        "image/jpeg"
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        "image/gif"
    } else if bytes.len() > 12 && bytes.starts_with(b"RIFF") && &bytes[8..12] == b"WEBP" {
        "image/webp"
    } else if svg && bytes.trim_ascii_start().starts_with(b"<") {
        "image/svg+xml"
    } else {
        anyhow::bail!("the icon must be a PNG, JPEG, GIF, WebP or SVG file");
    };
    let etag = format!("\"{}\"", hex::encode(&Sha256::digest(&bytes)[..16]));
    Ok(IconData { bytes, content_type: content_type.into(), etag })
}

/// Where a new image comes from and what the catalogue says about it.
#[derive(Debug, Clone, Default)]
pub struct Source {
    pub container_id: String,
    pub snapshot: Option<String>,
}

fn check_changes(c: &Changes) -> anyhow::Result<()> {
    let len = |v: &Option<String>, what: &str, min: usize, max: usize| -> anyhow::Result<()> {
        if let Some(v) = v {
            let n = v.chars().count();
            anyhow::ensure!((min..=max).contains(&n), "{what} must be {min}–{max} characters");
        }
        Ok(())
    };
    len(&c.alias, "--alias", 1, 100)?;
    len(&c.description, "--description", 0, 2000)?;
    len(&c.os, "--os", 1, 50)?;
    len(&c.release, "--release", 0, 50)?;
    len(&c.architecture, "--architecture", 1, 20)?;
    len(&c.variant, "--variant", 0, 50)?;
    anyhow::ensure!(c.price_cents.is_none_or(|p| p >= 0), "the price cannot be negative");
    Ok(())
}

/// Publish a new image from a container (or one of its snapshots); its id.
pub async fn publish_new(db: &PgPool, sealer: &SecretBox, src: &Source, c: Changes) -> anyhow::Result<String> {
    check_changes(&c)?;
    let alias = c.alias.clone().context("--alias is required for a new image")?;
    let os = c.os.clone().context("--os is required for a new image")?;
    let row = containers::by_id(db, &src.container_id)
        .await?
        .filter(|r| r.status != "deleted")
        .with_context(|| format!("no container {}", src.container_id))?;
    let server_id = row.server_id.clone().context("the container's server is no longer registered")?;
    let server = crate::servers::by_id(db, &server_id).await?.context("the container's server is gone")?;
    let limits = HostLimits { call_timeout: std::time::Duration::from_secs(600), ..HostLimits::default() };
    let host = Hosts::new(limits).for_server(&server, sealer).map_err(|e| anyhow::anyhow!("{e}"))?;
    let name = row.lxd_name.clone();

    // The source: the snapshot asked for; the instance when stopped; else a temporary snapshot.
    let mut temporary = None;
    let source = match &src.snapshot {
        Some(s) => format!("{name}/{s}"),
        None => {
            let state = host.call("state", |d| d.state(&name)).await?;
            if state.status.eq_ignore_ascii_case("stopped") {
                name.clone()
            } else {
                let snap = format!("publish-{}", db::new_id());
                host.call("snapshot", |d| d.snapshot(&name, &snap, None)).await?;
                temporary = Some(snap.clone());
                format!("{name}/{snap}")
            }
        }
    };
    let mut properties = BTreeMap::from([("os".to_owned(), os.clone()), ("description".to_owned(), alias.clone())]);
    if let Some(r) = &c.release {
        properties.insert("release".into(), r.clone());
    }
    let lxd_alias = format!("hoody-image-{}", db::new_id());
    let published = host.call("publish_image", |d| d.publish_image(&source, &lxd_alias, &properties)).await;
    if let Some(snap) = &temporary {
        if let Err(e) = host.call("delete_snapshot", |d| d.delete_snapshot(&name, snap)).await {
            tracing::warn!(error = %e, snapshot = %snap, "could not remove the temporary snapshot");
        }
    }
    let info = published?;
    let n = NewImage {
        image_id: db::new_id(),
        alias,
        description: c.description.unwrap_or_default(),
        os,
        release: c.release.unwrap_or_default(),
        architecture: c.architecture.unwrap_or_else(|| architecture_of(&info.architecture)),
        variant: c.variant,
        serial: chrono::Utc::now().format("%Y%m%d_%H%M").to_string(),
        tags: c.tags.unwrap_or_default(),
        size_bytes: info.size_bytes,
        price_cents: c.price_cents.unwrap_or(0),
        prespawn: c.prespawn.unwrap_or(false),
        server_id,
        lxd_alias,
        fingerprint: info.fingerprint.clone(),
        source_container: row.container_id.clone(),
        source_snapshot: src.snapshot.clone(),
    };
    if let Err(e) = image_publish::insert(db, &n, c.icon.as_ref()).await {
        // Not recorded: the host keeps no image nobody can reach.
        let _ = host.call("delete_image", |d| d.delete_image(&info.fingerprint)).await;
        return Err(e.into());
    }
    Ok(n.image_id)
}

/// Put an existing image back in the catalogue, with `c` applied.
pub async fn publish(db: &PgPool, image_id: &str, c: Changes) -> anyhow::Result<()> {
    check_changes(&c)?;
    anyhow::ensure!(image_publish::publish(db, image_id, &c).await?, "no image {image_id}");
    Ok(())
}

pub async fn unpublish(db: &PgPool, image_id: &str) -> anyhow::Result<()> {
    anyhow::ensure!(image_publish::unpublish(db, image_id).await?, "no image {image_id}");
    Ok(())
}

pub async fn list(db: &PgPool) -> anyhow::Result<Vec<Listed>> {
    Ok(image_publish::list(db).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_strict_decimals() {
        for (s, v) in [("0", 0), ("4", 400), ("4.9", 490), ("4.99", 499), ("10.00", 1000), ("007", 700)] {
            assert_eq!(hundredths(s), Some(v), "{s}");
        }
        for s in ["", "-1", "+1", "1e2", "1.", ".5", "1.999", "1,5", " 1", "abc", "1.2.3", "99999999999999"] {
            assert_eq!(hundredths(s), None, "{s}");
        }
    }
}
