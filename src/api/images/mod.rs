//! The `images` tag: the public catalogue of container images the operator publishes
//! (`hoody-api images publish`), the images each user holds (imported free or bought) and their
//! ratings. Containers are created from a held image by passing its id as `container_image`.
//!
//! Access: catalogue reads need any signed-in caller (a token with no leaf will do: the
//! catalogue is the same for everyone); the icon needs none (an `<img>` can load it); your
//! images need `containers.read`, importing `containers.create`, buying
//! `financial.wallet.transfer`; rating needs a session (a person's opinion, not a token's).

mod catalogue;
pub(crate) mod dto;
mod holdings;
pub(crate) mod launch;
mod rate;

use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{error::ApiError, state::AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(catalogue::list_public_images))
        .routes(routes!(catalogue::get_public_image))
        .routes(routes!(catalogue::get_image_icon))
        .routes(routes!(holdings::list_user_images))
        .routes(routes!(holdings::import_image))
        .routes(routes!(holdings::purchase_image))
        .routes(routes!(rate::rate_image))
}

pub fn image_not_found() -> ApiError {
    ApiError::not_found("image_not_found", "Image not found")
}

fn image_id(raw: &str) -> Result<&str, ApiError> {
    crate::api::fields::path_id(raw, image_not_found)
}
