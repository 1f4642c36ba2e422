//! The public catalogue: the list with its filters, one image, an image's icon.

use axum::{
    body::Body,
    extract::State,
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};

use super::{
    dto::{PublicImageOut, PublicListOut, PublicQuery, PublicSort},
    image_id, image_not_found,
};
use crate::{
    api::list::{self, ListParams},
    auth::principal::Principal,
    db::images::{self, PublicFilter},
    envelope::{ApiOk, Envelope},
    error::{ApiError, ErrorBody, FieldError, Result},
    extract::{Path, Query},
    images::hundredths,
    state::AppState,
};

/// The filters, checked: every bad one is named (422), nothing is looked up.
fn filter_of(q: PublicQuery) -> Result<PublicFilter> {
    let mut errors = Vec::new();
    let mut text = |field: &str, v: Option<String>, max: usize| -> Option<String> {
        let v = v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())?;
        if v.chars().count() > max || v.contains('\0') {
            errors.push(FieldError::new(field, format!("at most {max} characters")));
            return None;
        }
        Some(v)
    };
    let os = text("os", q.os, 50);
    let architecture = text("architecture", q.architecture, 20);
    let search = text("search", q.search, 200);
    let mut amount = |field: &str, v: Option<String>, max: Option<i64>| -> Option<i64> {
        let v = v?;
        match hundredths(v.trim()) {
            Some(n) if max.is_none_or(|m| n <= m) => Some(n),
            _ => {
                let range = if max.is_some() { "between 0 and 5" } else { "0 or more" };
                errors.push(FieldError::new(field, format!("must be a decimal number {range}, at most two decimals")));
                None
            }
        }
    };
    let min_price = amount("min_price", q.min_price, None);
    let max_price = amount("max_price", q.max_price, None);
    let min_rating = amount("min_rating", q.min_rating, Some(500));
    let max_rating = amount("max_rating", q.max_rating, Some(500));
    if let (Some(lo), Some(hi)) = (min_price, max_price) {
        if lo > hi {
            errors.push(FieldError::new("max_price", "must not be below min_price"));
        }
    }
    if let (Some(lo), Some(hi)) = (min_rating, max_rating) {
        if lo > hi {
            errors.push(FieldError::new("max_rating", "must not be below min_rating"));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    Ok(PublicFilter { os, architecture, min_price, max_price, min_rating, max_rating, search })
}

/// List public images
///
/// The images the operator published, filtered by `os`, `architecture`, price (decimals in
/// currency units; `min_price=0` includes free images), average rating (0–5) and `search` (name,
/// description or tags, case-insensitive). Any signed-in caller or auth token may read it.
#[utoipa::path(get, path = "/images/public", tag = "images", security(("bearer" = [])),
    params(PublicQuery, ListParams<PublicSort>),
    responses((status = 200, body = Envelope<PublicListOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn list_public_images(
    State(st): State<AppState>,
    _me: Principal,
    p: ListParams<PublicSort>,
    Query(q): Query<PublicQuery>,
) -> Result<ApiOk<PublicListOut>> {
    let f = filter_of(q)?;
    let order = p.order_by();
    let page = list::fetch(&p, |limit, offset| images::public_page(&st.db, &f, &order, limit, offset)).await?;
    let pagination = page.pagination();
    let images = page.items.into_iter().map(PublicImageOut::from).collect();
    Ok(ApiOk::new("Public images", PublicListOut { images, pagination }))
}

/// Get public image details
#[utoipa::path(get, path = "/images/public/{id}", tag = "images", security(("bearer" = [])),
    params(("id" = String, Path, description = "Image ID")),
    responses((status = 200, body = Envelope<PublicImageOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn get_public_image(
    State(st): State<AppState>,
    _me: Principal,
    Path(id): Path<String>,
) -> Result<ApiOk<PublicImageOut>> {
    let row = images::public_by_id(&st.db, image_id(&id)?).await?.ok_or_else(image_not_found)?;
    Ok(ApiOk::new("Image", PublicImageOut::from(row)))
}

/// Get image icon
///
/// The icon's bytes with their `Content-Type`, an `ETag` (a hash of the bytes) and caching
/// headers; `If-None-Match` with the current ETag answers 304. Needs no credentials for a public
/// image (an `<img>` can load it); an unpublished image's icon only for those who hold it.
#[utoipa::path(get, path = "/images/{id}/icon", tag = "images",
    params(("id" = String, Path, description = "Image ID")),
    responses((status = 200, description = "The icon", content_type = "image/*"), (status = 304, description = "Not modified"),
        (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn get_image_icon(
    State(st): State<AppState>,
    me: Option<Principal>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response> {
    let id = image_id(&id)?;
    let user = me.as_ref().map(|m| m.user.user_id.as_str());
    let icon = images::icon(&st.db, id, user).await?.ok_or_else(image_not_found)?;
    let public = images::public_by_id(&st.db, id).await?.is_some();
    let cache = if public { "public, max-age=3600" } else { "private, max-age=3600" };
    let etag = HeaderValue::from_str(&icon.etag).map_err(|e| anyhow::anyhow!("stored etag: {e}"))?;
    let matches =
        headers.get_all(header::IF_NONE_MATCH).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(
            |t| t.trim() == icon.etag || t.trim() == "*" || t.trim().strip_prefix("W/") == Some(icon.etag.as_str()),
        );
    let mut res = if matches {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        let ct = HeaderValue::from_str(&icon.content_type).map_err(|e| anyhow::anyhow!("stored type: {e}"))?;
        let mut r = icon.bytes.into_response();
        r.headers_mut().insert(header::CONTENT_TYPE, ct);
        r
    };
    res.headers_mut().insert(header::ETAG, etag);
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    res.headers_mut().insert(header::VARY, HeaderValue::from_static("Authorization"));
    Ok(res)
}
