//! Bodies, queries and answers of the `storageShares` tag, and the checks of their fields.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::{
    db::{
        storage_shares::{OverrideRow, ShareRow},
        ts,
    },
    error::{ApiError, Result},
};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "source_path": "/srv/data",
    "mode": "readonly",
    "target_container_id": "65f1c0a2b3d4e5f6a7b8c9d0",
    "alias": "data",
    "label": "datasets"
}))]
pub struct ShareIn {
    /// The directory to share inside the source container: `a-z A-Z 0-9 / - _ .` only,
    /// absolute, no `..`, not a system path (`/proc`, `/sys`, `/dev`, `/boot`, `/run`,
    /// `/var/run` and below), no symbolic link anywhere along it.
    pub source_path: String,
    /// One container to share with (or `target_project_id`, not both).
    pub target_container_id: Option<String>,
    /// Every current and future container of this project.
    pub target_project_id: Option<String>,
    /// `readonly` or `readwrite`.
    pub mode: String,
    /// Lowercase letters, digits, `-` and `_` (≤ 63; not 24 hex characters, which is how share
    /// ids look): the target mount path is `/mnt/shares/<alias>` (else, or when an older share on
    /// that target took the alias, `/mnt/shares/<share id>`).
    pub alias: Option<String>,
    pub label: Option<String>,
    pub description: Option<String>,
    /// Default true; a disabled share is kept but not mounted.
    pub enabled: Option<bool>,
    /// Unix seconds, in the future; unmounted then.
    pub expires_at: Option<i64>,
}

/// A field that may be sent as `null` (clear it) or left out (keep it).
fn some<'de, T: Deserialize<'de>, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"mode": "readwrite", "enabled": true}))]
pub struct SharePatch {
    pub mode: Option<String>,
    #[serde(default, deserialize_with = "some")]
    #[schema(value_type = Option<String>)]
    pub alias: Option<Option<String>>,
    #[serde(default, deserialize_with = "some")]
    #[schema(value_type = Option<String>)]
    pub label: Option<Option<String>>,
    #[serde(default, deserialize_with = "some")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    pub enabled: Option<bool>,
    /// Unix seconds; null: never expires.
    #[serde(default, deserialize_with = "some")]
    #[schema(value_type = Option<i64>)]
    pub expires_at: Option<Option<i64>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"mount": true}))]
pub struct MountIn {
    /// true: accept and mount the share; false: refuse (unmount) it.
    pub mount: bool,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// `container` or `project`.
    pub target_type: Option<String>,
    /// Only shares with exactly this label.
    pub label: Option<String>,
    /// `active` or `failed`.
    pub status: Option<String>,
    /// "true" or "false".
    pub enabled: Option<String>,
    /// "true" or "false" (default false).
    pub include_expired: Option<String>,
    /// Only shares in this realm (24 hex); read by the realm layer with the host label.
    #[allow(dead_code)]
    pub realm_id: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RealmQuery {
    /// Only this realm's (24 hex); read by the realm layer with the host label.
    #[allow(dead_code)]
    pub realm_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ShareOut {
    pub id: String,
    pub source_container_id: String,
    pub source_path: String,
    pub target_container_id: Option<String>,
    pub target_project_id: Option<String>,
    /// `container` or `project`.
    pub target_type: &'static str,
    pub mode: String,
    pub alias: Option<String>,
    pub label: Option<String>,
    pub description: Option<String>,
    pub enabled: bool,
    /// `active`, or `failed` when a mount was refused (see `status_message`).
    pub status: String,
    pub status_message: Option<String>,
    /// Unix seconds.
    pub expires_at: Option<i64>,
    pub expiry_notified: bool,
    pub created_by: String,
    pub realm_ids: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
}

fn target_type(s: &ShareRow) -> &'static str {
    if s.target_container_id.is_some() {
        "container"
    } else {
        "project"
    }
}

impl From<ShareRow> for ShareOut {
    fn from(s: ShareRow) -> Self {
        Self {
            target_type: target_type(&s),
            id: s.share_id,
            source_container_id: s.source_container_id,
            source_path: s.source_path,
            target_container_id: s.target_container_id,
            target_project_id: s.target_project_id,
            mode: s.mode,
            alias: s.alias,
            label: s.label,
            description: s.description,
            enabled: s.enabled,
            status: s.status,
            status_message: s.status_message,
            expires_at: s.expires_at.map(|t| t.timestamp()),
            expiry_notified: s.expiry_notified,
            created_by: s.created_by,
            realm_ids: s.realm_ids,
            created_at: ts(s.created_at),
            updated_at: ts(s.updated_at),
        }
    }
}

/// A share aimed at a container, as its receiver sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct IncomingOut {
    pub id: String,
    /// The receiving container.
    pub container_id: String,
    pub source_container_id: String,
    pub source_path: String,
    pub target_container_id: Option<String>,
    pub target_project_id: Option<String>,
    pub target_type: &'static str,
    pub mode: String,
    pub enabled: bool,
    pub status: String,
    pub status_message: Option<String>,
    pub expires_at: Option<i64>,
    /// The receiver's choice (default true).
    pub mount: bool,
    /// Mounted on this container now (its device is there).
    pub mounted: bool,
    pub created_by: String,
    pub created_at: String,
    pub updated_at: String,
}

impl IncomingOut {
    pub fn new(s: ShareRow, container_id: String, mount: bool, mounted: bool) -> Self {
        Self {
            target_type: target_type(&s),
            mounted,
            id: s.share_id,
            container_id,
            source_container_id: s.source_container_id,
            source_path: s.source_path,
            target_container_id: s.target_container_id,
            target_project_id: s.target_project_id,
            mode: s.mode,
            enabled: s.enabled,
            status: s.status,
            status_message: s.status_message,
            expires_at: s.expires_at.map(|t| t.timestamp()),
            mount,
            created_by: s.created_by,
            created_at: ts(s.created_at),
            updated_at: ts(s.updated_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OverrideOut {
    pub id: String,
    pub share_id: String,
    pub container_id: String,
    pub mount: bool,
    pub created_at: String,
    pub updated_at: String,
}

impl From<OverrideRow> for OverrideOut {
    fn from(o: OverrideRow) -> Self {
        Self {
            id: o.override_id,
            share_id: o.share_id,
            container_id: o.container_id,
            mount: o.mount,
            created_at: ts(o.created_at),
            updated_at: ts(o.updated_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MountOut {
    pub share: ShareOut,
    #[serde(rename = "override")]
    pub override_: OverrideOut,
}

const SYSTEM: [&str; 7] = ["/proc", "/sys", "/dev", "/boot", "/run", "/var/run", "/mnt/shares"];

/// The source path, normalised (`//` and `.` dropped, no trailing `/`), or why not.
pub fn source_path(raw: &str) -> Result<String> {
    let bad = |m: &str| ApiError::invalid("source_path", m.to_owned());
    if raw.is_empty() || raw.len() > 1024 {
        return Err(bad("must be 1–1024 characters"));
    }
    if !raw.bytes().all(|b| b.is_ascii_alphanumeric() || b"/-_.".contains(&b)) {
        return Err(bad("may hold only a-z A-Z 0-9 / - _ ."));
    }
    if !raw.starts_with('/') {
        return Err(bad("must be an absolute path"));
    }
    let mut parts = Vec::new();
    for p in raw.split('/').filter(|p| !p.is_empty() && *p != ".") {
        if p == ".." {
            return Err(bad("must not contain .."));
        }
        if p.chars().all(|c| c == '.') {
            return Err(bad("must not contain a component made only of dots"));
        }
        parts.push(p);
    }
    if parts.is_empty() {
        return Err(bad("cannot be the root directory"));
    }
    if parts.len() > 32 {
        return Err(bad("may have at most 32 components"));
    }
    let path = format!("/{}", parts.join("/"));
    // Above the directory received shares are mounted in: they would be mounted inside this
    // share's volume, where its targets could see and replace them.
    if crate::lifecycle::shares::MOUNT_ROOT.starts_with(&format!("{path}/")) {
        return Err(bad("holds /mnt/shares, where the container's incoming shares are mounted"));
    }
    if SYSTEM.iter().any(|s| path == *s || path.starts_with(&format!("{s}/"))) {
        return Err(bad(
            "is a system path (/proc, /sys, /dev, /boot, /run, /var/run, /mnt/shares and below are refused)",
        ));
    }
    Ok(path)
}

pub fn mode(path: &str, m: &str) -> Result<String> {
    match m {
        "readonly" | "readwrite" => Ok(m.to_owned()),
        _ => Err(ApiError::invalid(path, "must be readonly or readwrite")),
    }
}

pub fn alias(a: &str) -> Result<String> {
    let ok = (1..=63).contains(&a.len())
        && a.bytes().next().is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && a.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if !ok {
        return Err(ApiError::invalid(
            "alias",
            "must be 1–63 lowercase letters, digits, - or _, starting alphanumeric",
        ));
    }
    // A share id names the mount of a share without an alias: an alias must never look like one.
    if a.len() == 24 && a.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::invalid("alias", "must not be 24 hexadecimal characters (that is how share ids look)"));
    }
    Ok(a.to_owned())
}

pub fn text(path: &str, t: &str, max: usize) -> Result<String> {
    let t = t.trim();
    if t.is_empty() || t.chars().count() > max || t.chars().any(|c| c.is_control() && c != '\n') {
        return Err(ApiError::invalid(path, format!("must be 1–{max} characters without control characters")));
    }
    Ok(t.to_owned())
}

/// Unix seconds in the future (before the year 10000).
pub fn expires_at(secs: i64) -> Result<DateTime<Utc>> {
    let at = DateTime::from_timestamp(secs, 0)
        .filter(|_| (0..=253_402_300_799).contains(&secs))
        .ok_or_else(|| ApiError::invalid("expires_at", "must be unix seconds"))?;
    if at <= Utc::now() {
        return Err(ApiError::invalid("expires_at", "must be in the future"));
    }
    Ok(at)
}

/// "true" / "false".
pub fn flag(path: &str, v: Option<&str>) -> Result<Option<bool>> {
    match v {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(_) => Err(ApiError::invalid(path, "must be true or false")),
    }
}

/// A share id in a path: 24 lowercase hex, else the same 404 as a missing share.
pub fn share_id(raw: &str) -> Result<String> {
    if raw.len() == 24 && raw.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        Ok(raw.to_owned())
    } else {
        Err(share_not_found())
    }
}

pub fn share_not_found() -> ApiError {
    ApiError::not_found("share_not_found", "Storage share not found")
}
