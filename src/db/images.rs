//! Container images: the catalogue rows (`image`), the images each user holds (`user_image`) and
//! their ratings (`image_rating`). Prices are integer cents; a rating average is kept as an exact
//! sum and count.

use chrono::{DateTime, Utc};
use sqlx::{PgExecutor, Postgres, Transaction};

use crate::api::list::Counted;

pub type Tx = Transaction<'static, Postgres>;

/// An image as the API shows it, with the caller's rating where there is a caller.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ImageRow {
    pub image_id: String,
    pub alias: String,
    pub description: String,
    pub os: String,
    pub release: String,
    pub architecture: String,
    pub variant: Option<String>,
    pub serial: String,
    pub size_bytes: i64,
    pub price_cents: i64,
    pub prespawn: bool,
    pub is_public: bool,
    pub has_icon: bool,
    pub rating_sum: i64,
    pub rating_count: i64,
    pub added_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// The caller's own rating (lists of the caller's images only).
    pub user_rating: Option<i16>,
}

/// What the public list filters by; prices in cents, ratings in hundredths of a star.
#[derive(Debug, Default)]
pub struct PublicFilter {
    pub os: Option<String>,
    pub architecture: Option<String>,
    pub min_price: Option<i64>,
    pub max_price: Option<i64>,
    pub min_rating: Option<i64>,
    pub max_rating: Option<i64>,
    /// Matched case-insensitively against the alias, the description and the tags.
    pub search: Option<String>,
}

/// One page of the public catalogue, in `order` (a whitelisted column and direction).
pub async fn public_page(
    db: impl PgExecutor<'_>,
    f: &PublicFilter,
    order: &str,
    limit: i64,
    offset: i64,
) -> sqlx::Result<Vec<Counted<ImageRow>>> {
    let sql = format!(
        "select i.image_id, i.alias, i.description, i.os, i.release, i.architecture, i.variant, i.serial, \
                i.size_bytes, i.price_cents, i.prespawn, i.is_public, i.icon is not null as has_icon, \
                i.rating_sum, i.rating_count, i.added_at, i.created_at, null::smallint as user_rating, \
                count(*) over () as total \
         from image i \
         where i.is_public \
           and ($1::text is null or lower(i.os) = lower($1)) \
           and ($2::text is null or lower(i.architecture) = lower($2)) \
           and ($3::bigint is null or i.price_cents >= $3) \
           and ($4::bigint is null or i.price_cents <= $4) \
           and ($5::bigint is null or $5 <= 0 or (i.rating_count > 0 and i.rating_sum * 100 >= $5 * i.rating_count)) \
           and ($6::bigint is null or i.rating_sum * 100 <= $6 * i.rating_count) \
           and ($7::text is null or strpos(lower(i.alias), lower($7)) > 0 \
                or strpos(lower(i.description), lower($7)) > 0 \
                or exists (select 1 from unnest(i.tags) t where strpos(lower(t), lower($7)) > 0)) \
         order by {order}, i.image_id limit $8 offset $9"
    );
    sqlx::query_as(&sql)
        .bind(f.os.as_deref())
        .bind(f.architecture.as_deref())
        .bind(f.min_price)
        .bind(f.max_price)
        .bind(f.min_rating)
        .bind(f.max_rating)
        .bind(f.search.as_deref())
        .bind(limit)
        .bind(offset)
        .fetch_all(db)
        .await
}

/// One page of the images `user_id` holds, with their own ratings.
pub async fn held_page(
    db: impl PgExecutor<'_>,
    user_id: &str,
    order: &str,
    limit: i64,
    offset: i64,
) -> sqlx::Result<Vec<Counted<ImageRow>>> {
    let sql = format!(
        "select i.image_id, i.alias, i.description, i.os, i.release, i.architecture, i.variant, i.serial, \
                i.size_bytes, i.price_cents, i.prespawn, i.is_public, i.icon is not null as has_icon, \
                i.rating_sum, i.rating_count, i.added_at, i.created_at, r.rating as user_rating, \
                count(*) over () as total \
         from user_image ui join image i on i.image_id = ui.image_id \
         left join image_rating r on r.image_id = i.image_id and r.user_id = ui.user_id \
         where ui.user_id = $1 \
         order by {order}, i.image_id limit $2 offset $3"
    );
    sqlx::query_as(&sql).bind(user_id).bind(limit).bind(offset).fetch_all(db).await
}

/// A public image.
pub async fn public_by_id(db: impl PgExecutor<'_>, image_id: &str) -> sqlx::Result<Option<ImageRow>> {
    sqlx::query_as!(
        ImageRow,
        r#"select image_id, alias, description, os, release, architecture, variant, serial, size_bytes,
                  price_cents, prespawn, is_public, icon is not null as "has_icon!", rating_sum, rating_count,
                  added_at, created_at, null::smallint as user_rating
           from image where image_id = $1 and is_public"#,
        image_id
    )
    .fetch_optional(db)
    .await
}

/// An image's icon: bytes, content type, ETag; only of a public image or one `user_id` holds.
pub struct Icon {
    pub bytes: Vec<u8>,
    pub content_type: String,
    pub etag: String,
}

pub async fn icon(db: impl PgExecutor<'_>, image_id: &str, user_id: Option<&str>) -> sqlx::Result<Option<Icon>> {
    sqlx::query_as!(
        Icon,
        r#"select icon as "bytes!", icon_content_type as "content_type!", icon_etag as "etag!"
           from image i
           where image_id = $1 and icon is not null
             and (is_public or exists (select 1 from user_image u where u.image_id = i.image_id and u.user_id = $2))"#,
        image_id,
        user_id
    )
    .fetch_optional(db)
    .await
}

/// A public image locked for a change of who holds it; its price.
pub async fn public_price_for_update(tx: &mut Tx, image_id: &str) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar!("select price_cents from image where image_id = $1 and is_public for share", image_id)
        .fetch_optional(&mut **tx)
        .await
}

/// Record that `user_id` holds the image; false when they already did.
pub async fn hold(
    db: impl PgExecutor<'_>,
    user_id: &str,
    image_id: &str,
    how: &str,
    price_paid_cents: i64,
) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "insert into user_image (user_id, image_id, acquired_by, price_paid_cents) values ($1, $2, $3, $4) \
         on conflict (user_id, image_id) do nothing",
        user_id,
        image_id,
        how,
        price_paid_cents
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn holds(db: impl PgExecutor<'_>, user_id: &str, image_id: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"select exists (select 1 from user_image where user_id = $1 and image_id = $2) as "held!""#,
        user_id,
        image_id
    )
    .fetch_one(db)
    .await
}

/// Where an image a user holds is launched from: its server and LXD alias.
pub struct Launch {
    pub server_id: Option<String>,
    pub lxd_alias: String,
}

pub async fn launch_of_held(db: impl PgExecutor<'_>, user_id: &str, image_id: &str) -> sqlx::Result<Option<Launch>> {
    sqlx::query_as!(
        Launch,
        "select i.server_id, i.lxd_alias from image i join user_image u on u.image_id = i.image_id \
         where u.user_id = $1 and i.image_id = $2",
        user_id,
        image_id
    )
    .fetch_optional(db)
    .await
}

/// Whether `user_id` may rate the image: it is public or they hold it. Locks the image row so
/// concurrent raters update its sum and count one at a time.
pub async fn rateable_for_update(tx: &mut Tx, image_id: &str, user_id: &str) -> sqlx::Result<bool> {
    Ok(sqlx::query_scalar!(
        r#"select 1 as "one!" from image i where image_id = $1
             and (is_public or exists (select 1 from user_image u where u.image_id = i.image_id and u.user_id = $2))
           for update"#,
        image_id,
        user_id
    )
    .fetch_optional(&mut **tx)
    .await?
    .is_some())
}

/// Set `user_id`'s rating (replacing theirs) and the image's sum and count with it; the new
/// sum and count. The image row must be locked by `tx` ([`rateable_for_update`]).
pub async fn rate(tx: &mut Tx, image_id: &str, user_id: &str, rating: i16) -> sqlx::Result<(i64, i64)> {
    let old =
        sqlx::query_scalar!("select rating from image_rating where image_id = $1 and user_id = $2", image_id, user_id)
            .fetch_optional(&mut **tx)
            .await?;
    sqlx::query!(
        "insert into image_rating (image_id, user_id, rating) values ($1, $2, $3) \
         on conflict (image_id, user_id) do update set rating = excluded.rating",
        image_id,
        user_id,
        rating
    )
    .execute(&mut **tx)
    .await?;
    let (sum_delta, count_delta) = match old {
        Some(o) => (i64::from(rating) - i64::from(o), 0),
        None => (i64::from(rating), 1),
    };
    let row = sqlx::query!(
        "update image set rating_sum = rating_sum + $2, rating_count = rating_count + $3 where image_id = $1 \
         returning rating_sum, rating_count",
        image_id,
        sum_delta,
        count_delta
    )
    .fetch_one(&mut **tx)
    .await?;
    Ok((row.rating_sum, row.rating_count))
}

/// Whether `user_id` holds the image with this LXD alias.
pub async fn holds_alias(db: impl PgExecutor<'_>, user_id: &str, lxd_alias: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"select exists (select 1 from user_image u join image i on i.image_id = u.image_id
                          where u.user_id = $1 and i.lxd_alias = $2) as "held!""#,
        user_id,
        lxd_alias
    )
    .fetch_one(db)
    .await
}
