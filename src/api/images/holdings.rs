//! The images you hold: the list, importing a free one, buying a paid one.

use axum::{extract::State, http::HeaderMap};

use super::{
    dto::{ImportOut, PurchaseOut, UserImageOut, UserListOut, UserSort},
    image_id, image_not_found,
};
use crate::{
    api::list::{self, ListParams},
    auth::{
        access::Require,
        permissions::{leaf, perm},
        principal::Principal,
    },
    db::{self, images},
    envelope::{ApiOk, Envelope},
    error::{ApiError, ErrorBody, Result},
    extract::Path,
    ledger::{self, Account, Key, Movement, Paid},
    state::AppState,
};

fn already_held() -> ApiError {
    ApiError::conflict("image_already_owned", "This image is already in your images")
}

/// List user images
///
/// Only the images you imported or bought, with your own rating; newest first unless
/// `sort_order=asc`. Pass an id as `container_image` when creating a container.
#[utoipa::path(get, path = "/images/user", tag = "images", security(("bearer" = [])),
    params(ListParams<UserSort>),
    responses((status = 200, body = Envelope<UserListOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("containers.read"))))]
pub async fn list_user_images(
    State(st): State<AppState>,
    me: Require<perm::ContainersRead>,
    p: ListParams<UserSort>,
) -> Result<ApiOk<UserListOut>> {
    let order = p.order_by();
    let user = &me.user.user_id;
    let page = list::fetch(&p, |limit, offset| images::held_page(&st.db, user, &order, limit, offset)).await?;
    let pagination = page.pagination();
    let images = page.items.into_iter().map(UserImageOut::from).collect();
    Ok(ApiOk::new("Your images", UserListOut { images, pagination }))
}

/// Import free image
///
/// Adds a free public image to your images (409 if it is there already; 422 for a paid one:
/// purchase it).
#[utoipa::path(post, path = "/images/import/{id}", tag = "images", security(("bearer" = [])),
    params(("id" = String, Path, description = "Image ID")),
    responses((status = 200, body = Envelope<ImportOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("containers.create"))))]
pub async fn import_image(
    State(st): State<AppState>,
    me: Require<perm::ContainersCreate>,
    Path(id): Path<String>,
) -> Result<ApiOk<ImportOut>> {
    let id = image_id(&id)?;
    let mut tx = st.db.begin().await?;
    let price = images::public_price_for_update(&mut tx, id).await?.ok_or_else(image_not_found)?;
    if price > 0 {
        return Err(ApiError::invalid("id", "this image has a price: purchase it"));
    }
    if !images::hold(&mut *tx, &me.user.user_id, id, "import", 0).await? {
        return Err(already_held());
    }
    tx.commit().await?;
    Ok(ApiOk::new("Image imported", ImportOut {}))
}

/// Purchase image
///
/// Buys a paid public image into your images, paid from your general balance through the
/// ledger (402 `insufficient_funds` when it does not cover the price; nothing changes). A free
/// image is imported, not bought (422); one you hold already is 409. With an `Idempotency-Key`,
/// a repeat gets the first answer and pays nothing.
#[utoipa::path(post, path = "/images/purchase/{id}", tag = "images", security(("bearer" = [])),
    params(("id" = String, Path, description = "Image ID"), crate::idempotency::LedgerKeyHeader),
    responses((status = 200, body = Envelope<PurchaseOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("financial.wallet.transfer"))))]
pub async fn purchase_image(
    State(st): State<AppState>,
    me: Principal,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<ApiOk<PurchaseOut>> {
    me.require(leaf::FINANCIAL_WALLET_TRANSFER)?;
    let id = image_id(&id)?;
    let user = &me.user.user_id;
    let key = ledger::key_of(&headers, None)?.map(|k| Key::client(k, &format!("image_purchase\n{id}")));
    // A retry of a purchase that was made gets its answer (its key is held and looked up before
    // anything else), even if the image left the catalogue.
    let key = &key;
    let (out, replayed) = ledger::once(&st.db, user, key.as_ref(), |mut owned| async move {
        let tx = &mut owned;
        let price = images::public_price_for_update(tx, id).await?.ok_or_else(image_not_found)?;
        if price == 0 {
            return Err(ApiError::invalid("id", "this image is free: import it"));
        }
        if images::holds(&mut **tx, user, id).await? {
            return Err(already_held());
        }
        let m = Movement {
            user_id: user.clone(),
            kind: "image_purchase",
            amount_cents: price,
            reason: id.to_owned(),
            key: key.clone(),
            postings: vec![(Account::General, -price), (Account::Platform(db::ledger::REVENUE), price)],
            meta: serde_json::json!({"image_id": id}),
        };
        let txn_id = ledger::record(tx, &m).await?.new_id()?;
        // Bought meanwhile by a concurrent request: this one pays nothing (rolled back).
        if !images::hold(&mut **tx, user, id, "purchase", price).await? {
            return Err(already_held());
        }
        let (remaining, _) = db::ledger::kept(&mut **tx, user).await?;
        let out = PurchaseOut { price_paid: price, remaining_balance: remaining };
        Ok((owned, Paid { txn_id, meta: m.meta, out, events: Vec::new() }))
    })
    .await?;
    Ok(ApiOk::new(if replayed { "Image purchased (replayed)" } else { "Image purchased" }, out))
}
