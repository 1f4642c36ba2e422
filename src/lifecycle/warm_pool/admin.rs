//! The operator's side of the warm pools: `hoody-api servers update <name> --warm-pool
//! <image>=<n>` (repeatable; `n` = 0 removes the pool, and the refill loop removes its idle
//! instances) and the pools `hoody-api servers list` shows.

use std::time::Duration;

use anyhow::Context;
use sqlx::PgPool;

use super::MAX_SIZE;
pub use crate::db::warm_pool::PoolFill;
use crate::{auth::crypto::SecretBox, db::warm_pool, servers::ServerRow};

/// How long the host may take to say whether it has an image.
const CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// One `--warm-pool` argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    pub image: String,
    pub size: i32,
}

/// `<image>=<n>`: an image alias as a create names it, and 0 to [`MAX_SIZE`].
pub fn parse(arg: &str) -> anyhow::Result<Spec> {
    let usage = || format!("--warm-pool takes <image>=<n>, e.g. hoody-busybox=10 (got {arg:?})");
    let (image, n) = arg.rsplit_once('=').ok_or_else(|| anyhow::anyhow!(usage()))?;
    let image = image.trim();
    let alias_ok = (1..=128).contains(&image.len())
        && image.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && image.bytes().all(|b| b.is_ascii_alphanumeric() || b"._/-".contains(&b));
    anyhow::ensure!(alias_ok, "{}: the image must be an alias of letters, digits and . _ / -", usage());
    let size: i64 = n.trim().parse().map_err(|_| anyhow::anyhow!(usage()))?;
    anyhow::ensure!(
        (0..=i64::from(MAX_SIZE)).contains(&size),
        "the size of the warm pool of {image} must be 0 (no pool) to {MAX_SIZE} (got {size})"
    );
    Ok(Spec { image: image.to_owned(), size: size as i32 })
}

/// Every `--warm-pool` argument; one image twice is refused.
pub fn parse_all(args: &[String]) -> anyhow::Result<Vec<Spec>> {
    let specs = args.iter().map(|a| parse(a)).collect::<anyhow::Result<Vec<_>>>()?;
    for (i, s) in specs.iter().enumerate() {
        anyhow::ensure!(!specs[..i].iter().any(|o| o.image == s.image), "--warm-pool names {} twice", s.image);
    }
    Ok(specs)
}

/// The server named `name`, once its host confirmed it has every image a pool is asked for (a
/// pool removed needs no image).
pub async fn check(db: &PgPool, sealer: &SecretBox, name: &str, specs: &[Spec]) -> anyhow::Result<ServerRow> {
    let id =
        crate::db::servers::id_named(db, name).await?.ok_or_else(|| anyhow::anyhow!("no server named {name:?}"))?;
    let row = crate::servers::by_id(db, &id).await?.ok_or_else(|| anyhow::anyhow!("no server named {name:?}"))?;
    let wanted: Vec<&Spec> = specs.iter().filter(|s| s.size > 0).collect();
    if wanted.is_empty() {
        return Ok(row);
    }
    let driver = crate::servers::driver(&row, sealer, CHECK_TIMEOUT)
        .with_context(|| format!("reaching server {name} to check its images"))?;
    for s in wanted {
        let asked = crate::host::HostDriver::image_exists(&driver, &s.image);
        let found = tokio::time::timeout(CHECK_TIMEOUT, asked)
            .await
            .map_err(|_| anyhow::anyhow!("server {name} did not answer in time"))
            .and_then(|r| r.map_err(anyhow::Error::from))
            .with_context(|| format!("could not check image {} on server {name}", s.image))?;
        anyhow::ensure!(found, "server {name} has no image {} (no such alias on its LXD)", s.image);
    }
    Ok(row)
}

/// Set each pool's size; one line per pool for the operator.
pub async fn apply(db: &PgPool, row: &ServerRow, specs: &[Spec]) -> anyhow::Result<Vec<String>> {
    let mut lines = Vec::new();
    for s in specs {
        warm_pool::set_size(db, &row.server_id, &s.image, s.size).await?;
        lines.push(if s.size == 0 {
            format!(
                "warm pool of {} on {}: removed (its idle instances go with the next refill pass)",
                s.image, row.name
            )
        } else {
            format!("warm pool of {} on {}: {} instances", s.image, row.name, s.size)
        });
    }
    Ok(lines)
}

/// Every pool with its fill, and servers and images with instances still being cleared.
pub async fn fills(db: &PgPool) -> sqlx::Result<Vec<PoolFill>> {
    warm_pool::fills(db).await
}

/// `servers list --json`: each server as before, with its pools under `warm_pools`.
pub async fn with_pools(db: &PgPool, rows: &[ServerRow]) -> anyhow::Result<serde_json::Value> {
    let fills = fills(db).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let mut v = serde_json::to_value(r)?;
        let pools: Vec<&PoolFill> = fills.iter().filter(|f| f.server_id == r.server_id).collect();
        if let Some(o) = v.as_object_mut() {
            o.insert("warm_pools".into(), serde_json::to_value(pools)?);
        }
        out.push(v);
    }
    Ok(serde_json::Value::Array(out))
}

/// `servers list`: the pools' table, after the servers' (nothing when there is no pool).
pub fn table(fills: &[PoolFill]) -> String {
    if fills.is_empty() {
        return String::new();
    }
    let mut t = format!(
        "\n{:<16} {:<32} {:>5} {:>6} {:>10} {:>9}\n",
        "WARM POOL ON", "IMAGE", "SIZE", "READY", "LAUNCHING", "REMOVING"
    );
    for f in fills {
        t.push_str(&format!(
            "{:<16} {:<32} {:>5} {:>6} {:>10} {:>9}{}\n",
            f.server_name,
            f.image,
            f.size,
            f.ready,
            f.launching,
            f.removing,
            if f.failures > 0 { format!("  ({} failed launches in a row)", f.failures) } else { String::new() }
        ));
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_refuse() {
        assert_eq!(parse("hoody-busybox=10").unwrap(), Spec { image: "hoody-busybox".into(), size: 10 });
        assert_eq!(parse("debian/12=0").unwrap(), Spec { image: "debian/12".into(), size: 0 });
        for bad in ["foo", "=3", "foo=", "foo=-1", "foo=x", "foo=1001", "-foo=1", "fo o=1", "foo=1.5"] {
            assert!(parse(bad).is_err(), "{bad} was taken");
        }
        assert!(parse_all(&["a=1".into(), "a=2".into()]).is_err());
        assert_eq!(parse_all(&["a=1".into(), "b=0".into()]).unwrap().len(), 2);
    }
}
