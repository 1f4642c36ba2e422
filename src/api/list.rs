//! Lists. `ListParams<S>` reads `page`, `limit`, `sort_by` (one of `S`'s names) and
//! `sort_order` from the query; [`fetch`] runs one page query (with the total as
//! `count(*) over ()`) and gives a [`Paged`], which renders the contract's shapes:
//! (a) `{<items>, pagination {total, page, limit, totalPages}}` via [`Paged::pagination`],
//! (b) a `data` array with a top-level `metadata {total, page, limit, pages}` via [`MetaList`].
//! (c) events' offset shape, (d) `{aliases, count}` and (e) bare arrays come with their
//! namespaces. The sort column is the one dynamic part of a list's SQL: it comes only from
//! [`SortKey::column`], a fixed whitelist per list.

use std::future::Future;

use axum::{
    extract::FromRequestParts,
    http::{request::Parts, StatusCode},
    response::{IntoResponse, Response},
};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use sqlx::{postgres::PgRow, FromRow, Row};
use utoipa::{
    openapi::{
        path::{Parameter, ParameterBuilder, ParameterIn},
        schema::{ObjectBuilder, SchemaType, Type},
        Required,
    },
    IntoParams, ToSchema,
};

use crate::{
    envelope::json_response,
    error::{ApiError, FieldError, Result},
    extract::parse_query,
};

pub const MAX_LIMIT: i64 = 100;
pub const MAX_PAGE: i64 = 100_000;

#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SortOrder {
    Asc,
    #[default]
    Desc,
}

impl SortOrder {
    pub fn sql(self) -> &'static str {
        match self {
            Self::Asc => "asc",
            Self::Desc => "desc",
        }
    }
}

/// What a list sorts by: each value maps to one fixed column.
pub trait SortKey: DeserializeOwned + Copy + Send + Sync + 'static {
    /// Its values as the query names them (the OpenAPI enum); empty for a list without sorting.
    const NAMES: &'static [&'static str];
    /// The SQL it orders by (a constant: never built from input).
    fn column(self) -> &'static str;
    /// The column when the request names none.
    fn default_column() -> &'static str;
}

/// A list's sort keys: `sort_keys!(ContainerSort { Id = "id" => "c.container_id", … } default "c.created_at")`.
macro_rules! sort_keys {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $wire:literal => $column:literal),* $(,)? } default $default:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
        pub enum $name { $(#[serde(rename = $wire)] $variant),* }

        impl $crate::api::list::SortKey for $name {
            const NAMES: &'static [&'static str] = &[$($wire),*];
            fn column(self) -> &'static str {
                match self { $(Self::$variant => $column),* }
            }
            fn default_column() -> &'static str {
                $default
            }
        }
    };
}
pub(crate) use sort_keys;

/// A list with no `sort_by` (its order is fixed).
#[derive(Debug, Clone, Copy, Deserialize)]
pub enum Unsorted {}

/// A checked page request and its order.
#[derive(Debug, Clone, Copy)]
pub struct ListParams<S> {
    pub page: i64,
    pub limit: i64,
    pub sort: Option<S>,
    pub order: SortOrder,
}

#[derive(Deserialize)]
struct Raw<S> {
    page: Option<i64>,
    limit: Option<i64>,
    sort_by: Option<S>,
    sort_order: Option<SortOrder>,
}

impl<S: SortKey> ListParams<S> {
    /// From `page` and `limit` as given (defaults 1 and 20; out of range → 422 naming them).
    pub fn new(page: Option<i64>, limit: Option<i64>) -> Result<Self> {
        let page = page.unwrap_or(1);
        let limit = limit.unwrap_or(20);
        let mut errors = Vec::new();
        if !(1..=MAX_PAGE).contains(&page) {
            errors.push(FieldError::new("page", format!("must be between 1 and {MAX_PAGE}")));
        }
        if !(1..=MAX_LIMIT).contains(&limit) {
            errors.push(FieldError::new("limit", format!("must be between 1 and {MAX_LIMIT}")));
        }
        if !errors.is_empty() {
            return Err(ApiError::validation(errors));
        }
        Ok(Self { page, limit, sort: None, order: SortOrder::default() })
    }

    pub fn offset(&self) -> i64 {
        (self.page - 1) * self.limit
    }

    /// `<column> <asc|desc>` for the list's `order by` (then a unique column, by the caller).
    pub fn order_by(&self) -> String {
        format!("{} {}", self.sort.map(S::column).unwrap_or_else(S::default_column), self.order.sql())
    }
}

impl SortKey for Unsorted {
    const NAMES: &'static [&'static str] = &[];
    fn column(self) -> &'static str {
        match self {}
    }
    /// Lists without sorting order by their own fixed columns.
    fn default_column() -> &'static str {
        ""
    }
}

impl<St: Send + Sync, S: SortKey> FromRequestParts<St> for ListParams<S> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &St) -> Result<Self> {
        let raw: Raw<S> = parse_query(parts.uri.query().unwrap_or(""))?;
        let mut p = Self::new(raw.page, raw.limit)?;
        p.sort = raw.sort_by;
        p.order = raw.sort_order.unwrap_or_default();
        Ok(p)
    }
}

fn query_param(name: &str, description: &str, schema: ObjectBuilder) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Query)
        .required(Required::False)
        .description(Some(description))
        .schema(Some(schema))
        .build()
}

impl<S: SortKey> IntoParams for ListParams<S> {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let int = || ObjectBuilder::new().schema_type(SchemaType::Type(Type::Integer)).format(None);
        let mut out = vec![
            query_param("page", "Page number (from 1; default 1)", int().minimum(Some(1)).maximum(Some(MAX_PAGE))),
            query_param(
                "limit",
                "Results per page (1–100; default 20)",
                int().minimum(Some(1)).maximum(Some(MAX_LIMIT)),
            ),
        ];
        if !S::NAMES.is_empty() {
            let text = || ObjectBuilder::new().schema_type(SchemaType::Type(Type::String));
            out.push(query_param("sort_by", "What to sort by", text().enum_values(Some(S::NAMES.iter().copied()))));
            out.push(query_param(
                "sort_order",
                "asc or desc (default desc)",
                text().enum_values(Some(["asc", "desc"])),
            ));
        }
        out
    }
}

/// `pagination` of the page/limit shape (a).
#[derive(Debug, Serialize, ToSchema)]
pub struct Pagination {
    pub total: i64,
    pub page: i64,
    pub limit: i64,
    #[serde(rename = "totalPages")]
    pub total_pages: i64,
}

/// `metadata` of the array shape (b).
#[derive(Debug, Serialize, ToSchema)]
pub struct PageMeta {
    pub total: i64,
    pub page: i64,
    pub limit: i64,
    pub pages: i64,
}

/// A row with the list's total beside it (`count(*) over () as total`).
pub struct Counted<T> {
    pub total: i64,
    pub row: T,
}

impl<'r, T: FromRow<'r, PgRow>> FromRow<'r, PgRow> for Counted<T> {
    fn from_row(row: &'r PgRow) -> sqlx::Result<Self> {
        Ok(Self { total: row.try_get("total")?, row: T::from_row(row)? })
    }
}

/// One page and the total it is part of.
#[derive(Debug)]
pub struct Paged<T> {
    pub items: Vec<T>,
    pub total: i64,
    pub page: i64,
    pub limit: i64,
}

impl<T> Paged<T> {
    pub fn pagination(&self) -> Pagination {
        Pagination { total: self.total, page: self.page, limit: self.limit, total_pages: self.pages() }
    }

    pub fn metadata(&self) -> PageMeta {
        PageMeta { total: self.total, page: self.page, limit: self.limit, pages: self.pages() }
    }

    fn pages(&self) -> i64 {
        (self.total + self.limit - 1) / self.limit
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Paged<U> {
        Paged { items: self.items.into_iter().map(f).collect(), total: self.total, page: self.page, limit: self.limit }
    }
}

/// Run a list's page query `page(limit, offset)`, whose rows carry the total. Past the last page
/// no row carries it: the first page's first row (one row) gives it.
pub async fn fetch<S, T, F, Fut>(p: &ListParams<S>, page: F) -> Result<Paged<T>>
where
    S: SortKey,
    F: Fn(i64, i64) -> Fut,
    Fut: Future<Output = sqlx::Result<Vec<Counted<T>>>>,
{
    let rows = page(p.limit, p.offset()).await?;
    let total = match rows.first() {
        Some(r) => r.total,
        None if p.page > 1 => page(1, 0).await?.first().map(|r| r.total).unwrap_or(0),
        None => 0,
    };
    Ok(Paged { items: rows.into_iter().map(|r| r.row).collect(), total, page: p.page, limit: p.limit })
}

/// Shape (b): `{statusCode, message, data: [...], metadata {total, page, limit, pages}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct MetaList<T> {
    #[serde(rename = "statusCode")]
    pub status_code: u16,
    pub message: String,
    pub data: Vec<T>,
    pub metadata: PageMeta,
}

impl<T: Serialize> MetaList<T> {
    pub fn new(message: impl Into<String>, page: Paged<T>) -> Self {
        let metadata = page.metadata();
        Self { status_code: 200, message: message.into(), data: page.items, metadata }
    }
}

impl<T: Serialize> IntoResponse for MetaList<T> {
    fn into_response(self) -> Response {
        json_response(StatusCode::OK, &self)
    }
}

/// `pagination` of the offset shape (c): the event history's.
#[derive(Debug, Serialize, ToSchema)]
pub struct OffsetPagination {
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
    pub has_more: bool,
}

impl OffsetPagination {
    pub fn new(total: i64, limit: i64, offset: i64, shown: usize) -> Self {
        Self { total, limit, offset, has_more: offset + (shown as i64) < total }
    }
}
