//! What the `images` routes send and take. Prices and averages are JSON numbers as the contract
//! types them (`price: 4.99`); inside they are integer cents and an exact sum and count, turned
//! into a number only here.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use crate::{
    api::list::{sort_keys, Pagination},
    db::{images::ImageRow, ts},
};

/// The average of `count` ratings summing to `sum`, in hundredths rounded half up.
pub fn average_hundredths(sum: i64, count: i64) -> i64 {
    if count == 0 {
        0
    } else {
        (sum * 200 + count) / (2 * count)
    }
}

/// An image as every list and read shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImageOut {
    pub id: String,
    /// The catalogue name.
    pub alias: String,
    pub description: String,
    /// `os/release`.
    pub image_name: String,
    pub architecture: String,
    pub os: String,
    pub release: String,
    pub variant: Option<String>,
    /// Bytes.
    pub size: i64,
    /// In currency units (`4.99`); 0 for a free image.
    #[serde(serialize_with = "crate::money::as_number")]
    #[schema(value_type = f64)]
    pub price: i64,
    /// 0–5, two decimals; 0 while unrated.
    #[serde(serialize_with = "crate::money::as_number")]
    #[schema(value_type = f64)]
    pub average_rating: i64,
    pub rating_count: i64,
    /// `/api/v1/images/{id}/icon`, or null without an icon.
    pub icon_url: Option<String>,
    pub prespawn: bool,
}

impl From<&ImageRow> for ImageOut {
    fn from(r: &ImageRow) -> Self {
        let image_name = if r.release.is_empty() { r.os.clone() } else { format!("{}/{}", r.os, r.release) };
        Self {
            id: r.image_id.clone(),
            alias: r.alias.clone(),
            description: r.description.clone(),
            image_name,
            architecture: r.architecture.clone(),
            os: r.os.clone(),
            release: r.release.clone(),
            variant: r.variant.clone(),
            size: r.size_bytes,
            price: r.price_cents,
            average_rating: average_hundredths(r.rating_sum, r.rating_count),
            rating_count: r.rating_count,
            icon_url: r.has_icon.then(|| format!("/api/v1/images/{}/icon", r.image_id)),
            prespawn: r.prespawn,
        }
    }
}

/// A catalogue image: when it was added, and its build serial.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublicImageOut {
    #[serde(flatten)]
    pub image: ImageOut,
    pub serial: String,
    pub added_date: String,
}

impl From<ImageRow> for PublicImageOut {
    fn from(r: ImageRow) -> Self {
        let added = r.added_at.unwrap_or(r.created_at);
        Self { image: ImageOut::from(&r), serial: r.serial, added_date: ts(added) }
    }
}

/// An image you hold, with your rating.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserImageOut {
    #[serde(flatten)]
    pub image: ImageOut,
    pub user_rating: Option<i16>,
    pub has_rated: bool,
}

impl From<ImageRow> for UserImageOut {
    fn from(r: ImageRow) -> Self {
        Self { image: ImageOut::from(&r), user_rating: r.user_rating, has_rated: r.user_rating.is_some() }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PublicListOut {
    pub images: Vec<PublicImageOut>,
    pub pagination: Pagination,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserListOut {
    pub images: Vec<UserImageOut>,
    pub pagination: Pagination,
}

sort_keys!(
    /// The public list's orders.
    PublicSort {
        Alias = "alias" => "i.alias",
        AddedDate = "added_date" => "i.added_at",
        Price = "price" => "i.price_cents",
        Rating = "rating" => "coalesce(i.rating_sum::numeric / nullif(i.rating_count, 0), 0)",
    } default "i.added_at"
);

sort_keys!(
    /// Your images' order: when you got each.
    UserSort {
        CreatedAt = "created_at" => "ui.created_at",
    } default "ui.created_at"
);

/// The public list's filters (taken as text and checked strictly: 422 names the field).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PublicQuery {
    /// Operating system, e.g. `debian` (exact, case-insensitive).
    pub os: Option<String>,
    /// CPU architecture, e.g. `amd64` (exact, case-insensitive).
    pub architecture: Option<String>,
    /// Lowest price, a decimal (`0` includes free images).
    pub min_price: Option<String>,
    /// Highest price, a decimal.
    pub max_price: Option<String>,
    /// Lowest average rating, 0–5.
    pub min_rating: Option<String>,
    /// Highest average rating, 0–5.
    pub max_rating: Option<String>,
    /// Words in the name, description or tags (case-insensitive).
    pub search: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"rating": 5}))]
pub struct RateIn {
    /// Whole stars, 0 to 5.
    #[schema(value_type = i32, minimum = 0, maximum = 5)]
    pub rating: Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RateOut {
    pub new_rating: i16,
    #[serde(serialize_with = "crate::money::as_number")]
    #[schema(value_type = f64)]
    pub average_rating: i64,
    pub rating_count: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ImportOut {}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PurchaseOut {
    /// Dollars.
    #[serde(serialize_with = "crate::money::as_number", deserialize_with = "crate::money::from_number")]
    #[schema(value_type = f64)]
    pub price_paid: i64,
    /// Your general balance after the purchase, in dollars.
    #[serde(serialize_with = "crate::money::as_number", deserialize_with = "crate::money::from_number")]
    #[schema(value_type = f64)]
    pub remaining_balance: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn averages_round_half_up_in_hundredths() {
        assert_eq!(average_hundredths(0, 0), 0);
        assert_eq!(average_hundredths(9, 2), 450);
        assert_eq!(average_hundredths(10, 3), 333);
        assert_eq!(average_hundredths(11, 3), 367);
        assert_eq!(average_hundredths(5, 1), 500);
        assert_eq!(
            serde_json::to_string(&RateOut { new_rating: 4, average_rating: 499, rating_count: 1 }).unwrap(),
            r#"{"new_rating":4,"average_rating":4.99,"rating_count":1}"#
        );
    }
}
