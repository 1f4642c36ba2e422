//! The `storageShares` tag: an LXD custom volume mounted at a directory of one container and on
//! another container, or on every container of a project (`crate::lifecycle::shares` does the
//! host side). Shares are
//! created, listed, changed and deleted by those who may edit the source container; receivers
//! list what is aimed at their containers and accept or refuse each share. Token leaf:
//! `resources.storage_shares` everywhere.

mod change;
mod create;
pub(crate) mod dto;
mod read;

use utoipa_axum::{router::OpenApiRouter, routes};

use self::dto::share_not_found;
use crate::{
    db::storage_shares::{self as shares, ShareRow},
    error::Result,
    lifecycle::{
        shares::{sync_targets, SyncErrors},
        Trigger,
    },
    state::AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create::create_share, read::list_shares))
        .routes(routes!(read::get_share, change::update_share))
        .routes(routes!(change::delete_share))
        .routes(routes!(read::list_all_shares))
        .routes(routes!(read::list_incoming))
        .routes(routes!(read::list_all_incoming))
        .routes(routes!(change::set_incoming_mount))
}

/// The share `raw` whose source is `container_id`; 404 otherwise.
async fn of_source(st: &AppState, container_id: &str, raw: &str) -> Result<ShareRow> {
    let id = dto::share_id(raw)?;
    shares::by_id(&st.db, &id).await?.filter(|s| s.source_container_id == container_id).ok_or_else(share_not_found)
}

/// Bring the source and every target of `share_id` in line with the database; the host calls
/// that failed.
async fn resync(st: &AppState, share_id: &str, excluding: bool, by: &Trigger) -> Result<SyncErrors> {
    let targets = shares::targets_of(&st.db, share_id).await?;
    Ok(sync_targets(st, &targets, excluding.then_some(share_id), by).await)
}
