//! `container_image` on container create: an image id you hold launches from that image's LXD
//! alias on its server. Anything else is left as it came (an LXD alias), so an image you do not
//! hold fails as every other unknown image does. The published images' own aliases
//! (`hoody-image-…`) are reached only through an image you hold.

use crate::{
    auth::principal::Principal,
    db::{containers::NewContainer, images},
    error::{ApiError, Result},
    state::AppState,
};

/// The prefix of the LXD aliases of published images.
pub const ALIAS_PREFIX: &str = "hoody-image-";

pub async fn resolve(st: &AppState, me: &Principal, mut n: NewContainer) -> Result<NewContainer> {
    let user = &me.user.user_id;
    if crate::db::is_id(&n.container_image) {
        if let Some(l) = images::launch_of_held(&st.db, user, &n.container_image).await? {
            if l.server_id.as_deref() != Some(n.server_id.as_str()) {
                let on = l.server_id.unwrap_or_else(|| "a server no longer registered".into());
                return Err(ApiError::invalid("container_image", format!("this image lives on server {on}")));
            }
            n.container_image = l.lxd_alias;
        }
    } else if n.container_image.starts_with(ALIAS_PREFIX)
        && !images::holds_alias(&st.db, user, &n.container_image).await?
    {
        return Err(ApiError::invalid("container_image", "no such image among yours"));
    }
    Ok(n)
}
