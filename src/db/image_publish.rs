//! The operator's side of the `image` table (`hoody-api images …`): recording a published image,
//! changing its catalogue fields, putting it in or out of the public catalogue.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgExecutor;

/// A new image as the host made it, with its catalogue fields.
#[derive(Debug, Clone, Default)]
pub struct NewImage {
    pub image_id: String,
    pub alias: String,
    pub description: String,
    pub os: String,
    pub release: String,
    pub architecture: String,
    pub variant: Option<String>,
    pub serial: String,
    pub tags: Vec<String>,
    pub size_bytes: i64,
    pub price_cents: i64,
    pub prespawn: bool,
    pub server_id: String,
    pub lxd_alias: String,
    pub fingerprint: String,
    pub source_container: String,
    pub source_snapshot: Option<String>,
}

/// An icon as stored: bytes, content type and ETag.
#[derive(Debug, Clone)]
pub struct IconData {
    pub bytes: Vec<u8>,
    pub content_type: String,
    pub etag: String,
}

/// Insert a published image, in the public catalogue from now.
pub async fn insert(db: impl PgExecutor<'_>, n: &NewImage, icon: Option<&IconData>) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into image (image_id, alias, description, os, release, architecture, variant, serial, tags, \
             size_bytes, price_cents, prespawn, is_public, server_id, lxd_alias, fingerprint, source_container, \
             source_snapshot, icon, icon_content_type, icon_etag, added_at) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, true, $13, $14, $15, $16, $17, $18, $19, $20, now())",
        n.image_id,
        n.alias,
        n.description,
        n.os,
        n.release,
        n.architecture,
        n.variant,
        n.serial,
        &n.tags,
        n.size_bytes,
        n.price_cents,
        n.prespawn,
        n.server_id,
        n.lxd_alias,
        n.fingerprint,
        n.source_container,
        n.source_snapshot,
        icon.map(|i| i.bytes.as_slice()),
        icon.map(|i| i.content_type.as_str()),
        icon.map(|i| i.etag.as_str()),
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Catalogue fields `publish <id>` may change; `None` leaves one alone.
#[derive(Debug, Clone, Default)]
pub struct Changes {
    pub alias: Option<String>,
    pub description: Option<String>,
    pub os: Option<String>,
    pub release: Option<String>,
    pub architecture: Option<String>,
    pub variant: Option<String>,
    pub tags: Option<Vec<String>>,
    pub price_cents: Option<i64>,
    pub prespawn: Option<bool>,
    pub icon: Option<IconData>,
}

/// Put an image (back) in the public catalogue with `c` applied; false when there is no such image.
pub async fn publish(db: impl PgExecutor<'_>, image_id: &str, c: &Changes) -> sqlx::Result<bool> {
    let icon = c.icon.as_ref();
    let done = sqlx::query!(
        "update image set is_public = true, added_at = case when is_public then added_at else now() end, \
             alias = coalesce($2, alias), description = coalesce($3, description), os = coalesce($4, os), \
             release = coalesce($5, release), architecture = coalesce($6, architecture), \
             variant = coalesce($7, variant), tags = coalesce($8, tags), price_cents = coalesce($9, price_cents), \
             prespawn = coalesce($10, prespawn), icon = coalesce($11, icon), \
             icon_content_type = coalesce($12, icon_content_type), icon_etag = coalesce($13, icon_etag) \
         where image_id = $1",
        image_id,
        c.alias,
        c.description,
        c.os,
        c.release,
        c.architecture,
        c.variant,
        c.tags.as_deref(),
        c.price_cents,
        c.prespawn,
        icon.map(|i| i.bytes.as_slice()),
        icon.map(|i| i.content_type.as_str()),
        icon.map(|i| i.etag.as_str()),
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Take an image out of the public catalogue (those who hold it keep it); false when there is none.
pub async fn unpublish(db: impl PgExecutor<'_>, image_id: &str) -> sqlx::Result<bool> {
    let done = sqlx::query!("update image set is_public = false where image_id = $1", image_id).execute(db).await?;
    Ok(done.rows_affected() == 1)
}

/// An image as the operator lists it.
#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    pub image_id: String,
    pub alias: String,
    pub os: String,
    pub release: String,
    pub architecture: String,
    pub price_cents: i64,
    pub is_public: bool,
    pub server_id: Option<String>,
    pub lxd_alias: String,
    pub fingerprint: String,
    pub holders: i64,
    pub rating_sum: i64,
    pub rating_count: i64,
    pub created_at: DateTime<Utc>,
}

pub async fn list(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<Listed>> {
    sqlx::query_as!(
        Listed,
        r#"select i.image_id, i.alias, i.os, i.release, i.architecture, i.price_cents, i.is_public, i.server_id,
                  i.lxd_alias, i.fingerprint, i.rating_sum, i.rating_count, i.created_at,
                  (select count(*) from user_image u where u.image_id = i.image_id) as "holders!"
           from image i order by i.created_at, i.image_id"#
    )
    .fetch_all(db)
    .await
}
