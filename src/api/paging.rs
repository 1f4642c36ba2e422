//! The page/limit pagination the projects and containers lists share:
//! `pagination {total, page, limit, totalPages}`, `limit` ≤ 100.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, Result};

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

#[derive(Debug, Serialize, ToSchema)]
pub struct Pagination {
    pub total: i64,
    pub page: i64,
    pub limit: i64,
    #[serde(rename = "totalPages")]
    pub total_pages: i64,
}

/// A checked page request.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub page: i64,
    pub limit: i64,
}

impl Page {
    pub fn new(page: Option<i64>, limit: Option<i64>) -> Result<Self> {
        let page = page.unwrap_or(1);
        let limit = limit.unwrap_or(20);
        if !(1..=100_000).contains(&page) {
            return Err(ApiError::invalid("page", "must be between 1 and 100000"));
        }
        if !(1..=100).contains(&limit) {
            return Err(ApiError::invalid("limit", "must be between 1 and 100"));
        }
        Ok(Self { page, limit })
    }

    pub fn offset(self) -> i64 {
        (self.page - 1) * self.limit
    }

    /// The total, from the page's first row (`count(*) over ()`); past the last page there is no
    /// row to carry it, so `recount` (lazy: only awaited then) gives it.
    pub async fn total(
        self,
        first_row: Option<i64>,
        recount: impl std::future::Future<Output = sqlx::Result<i64>>,
    ) -> sqlx::Result<i64> {
        match first_row {
            Some(t) => Ok(t),
            None if self.page > 1 => recount.await,
            None => Ok(0),
        }
    }

    pub fn of(self, total: i64) -> Pagination {
        Pagination { total, page: self.page, limit: self.limit, total_pages: (total + self.limit - 1) / self.limit }
    }
}
