//! Regions, as the servers registry (`server`) offers them at signup.

use sqlx::PgExecutor;

/// Whether an enabled server is in `region`.
pub async fn exists(db: impl PgExecutor<'_>, region: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar!(r#"select exists (select 1 from server where region = $1 and is_enabled) as "exists!""#, region)
        .fetch_one(db)
        .await
}

pub struct Region {
    pub region: String,
    pub country: Option<String>,
    pub city: Option<String>,
    /// Some server of the region is enabled.
    pub available: bool,
}

/// Every region with a server, by name.
pub async fn all(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<Region>> {
    sqlx::query_as!(
        Region,
        r#"select region, min(country) as country, min(city) as city, bool_or(is_enabled) as "available!"
           from server group by region order by region"#
    )
    .fetch_all(db)
    .await
}
