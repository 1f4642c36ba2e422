//! Rating an image: one rating per user, 0–5 whole stars; rating again replaces yours. The
//! image's sum and count change in the same transaction, under its row lock, so concurrent
//! raters leave them exact.

use axum::extract::State;
use serde_json::Value;

use super::{
    dto::{average_hundredths, RateIn, RateOut},
    image_id, image_not_found,
};
use crate::{
    auth::access::Session,
    db::images,
    envelope::{ApiOk, Envelope},
    error::{ApiError, ErrorBody, Result},
    extract::{Json, Path},
    state::AppState,
};

fn stars(v: &Value) -> Result<i16> {
    let n = v.as_f64().filter(|f| f.fract() == 0.0 && (0.0..=5.0).contains(f));
    n.map(|f| f as i16).ok_or_else(|| ApiError::invalid("rating", "must be a whole number of stars from 0 to 5"))
}

/// Rate image
///
/// Any public image, or one you hold. Your rating replaces your previous one; the answer has the
/// image's new average and count.
#[utoipa::path(post, path = "/images/rate/{id}", tag = "images", security(("bearer" = [])),
    params(("id" = String, Path, description = "Image ID")), request_body = RateIn,
    responses((status = 200, body = Envelope<RateOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-session-only" = json!(true))))]
pub async fn rate_image(
    State(st): State<AppState>,
    me: Session,
    Path(id): Path<String>,
    Json(input): Json<RateIn>,
) -> Result<ApiOk<RateOut>> {
    let id = image_id(&id)?;
    let rating = stars(&input.rating)?;
    let user = &me.user.user_id;
    let mut tx = st.db.begin().await?;
    if !images::rateable_for_update(&mut tx, id, user).await? {
        return Err(image_not_found());
    }
    let (sum, count) = images::rate(&mut tx, id, user, rating).await?;
    tx.commit().await?;
    let out = RateOut { new_rating: rating, average_rating: average_hundredths(sum, count), rating_count: count };
    Ok(ApiOk::new("Image rated", out))
}
