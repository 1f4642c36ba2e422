//! `vault_entry` (each key's current value) and `vault_version` (its earlier versions). Only
//! sealed bytes pass through here; `crate::vault` seals and opens them.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};

use crate::events::Tx;

/// Versions kept per key, the current one included.
pub const KEEP: i64 = 10;

/// One version of a key as stored.
pub struct SealedRow {
    pub key: String,
    pub version: i64,
    pub size_bytes: i64,
    pub key_id: String,
    pub value_enc: Vec<u8>,
    pub metadata_enc: Option<Vec<u8>>,
    /// When the key was first written.
    pub created_at: DateTime<Utc>,
    /// When this version was written.
    pub updated_at: DateTime<Utc>,
}

/// A key as the list shows it: no value.
pub struct ListedRow {
    pub key: String,
    pub version: i64,
    pub size_bytes: i64,
    pub key_id: String,
    pub metadata_enc: Option<Vec<u8>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A version to write.
pub struct NewValue<'a> {
    pub user_id: &'a str,
    pub realm_id: &'a str,
    pub key: &'a str,
    pub version: i64,
    pub size_bytes: i64,
    pub key_id: &'a str,
    pub value_enc: &'a [u8],
    pub metadata_enc: Option<&'a [u8]>,
}

/// Serialise the account's vault writes until the transaction ends (the limit is checked and
/// the versions advanced under it, across replicas).
pub async fn lock(tx: &mut Tx, user_id: &str) -> sqlx::Result<()> {
    super::quotas::lock(tx, "vault", user_id).await
}

pub async fn current(
    db: impl PgExecutor<'_>,
    user_id: &str,
    realm_id: &str,
    key: &str,
) -> sqlx::Result<Option<SealedRow>> {
    sqlx::query_as!(
        SealedRow,
        "select key, version, size_bytes, key_id, value_enc, metadata_enc, created_at, updated_at \
           from vault_entry where user_id = $1 and realm_id = $2 and key = $3",
        user_id,
        realm_id,
        key
    )
    .fetch_optional(db)
    .await
}

/// Version `version` of a key: the current one or a kept earlier one.
pub async fn version(
    db: impl PgExecutor<'_>,
    user_id: &str,
    realm_id: &str,
    key: &str,
    version: i64,
) -> sqlx::Result<Option<SealedRow>> {
    sqlx::query_as!(
        SealedRow,
        r#"select key as "key!", version as "version!", size_bytes as "size_bytes!", key_id as "key_id!",
                  value_enc as "value_enc!", metadata_enc, created_at as "created_at!", updated_at as "updated_at!"
             from (select e.key, e.version, e.size_bytes, e.key_id, e.value_enc, e.metadata_enc, e.created_at,
                          e.updated_at
                     from vault_entry e where e.user_id = $1 and e.realm_id = $2 and e.key = $3 and e.version = $4
                   union all
                   select v.key, v.version, v.size_bytes, v.key_id, v.value_enc, v.metadata_enc, e.created_at,
                          v.written_at
                     from vault_version v join vault_entry e using (user_id, realm_id, key)
                    where v.user_id = $1 and v.realm_id = $2 and v.key = $3 and v.version = $4) found"#,
        user_id,
        realm_id,
        key,
        version
    )
    .fetch_optional(db)
    .await
}

/// The current version and size of a key, if it exists.
pub async fn head(
    db: impl PgExecutor<'_>,
    user_id: &str,
    realm_id: &str,
    key: &str,
) -> sqlx::Result<Option<(i64, i64)>> {
    let row = sqlx::query!(
        "select version, size_bytes from vault_entry where user_id = $1 and realm_id = $2 and key = $3",
        user_id,
        realm_id,
        key
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| (r.version, r.size_bytes)))
}

/// The account's keys, and the bytes its vault holds over all realms: current values and the
/// earlier versions kept (they are stored too, so they count against the limit).
pub async fn usage(db: impl PgExecutor<'_>, user_id: &str) -> sqlx::Result<(i64, i64)> {
    let r = sqlx::query!(
        r#"select (select count(*) from vault_entry where user_id = $1) as "keys!",
                  ((select coalesce(sum(size_bytes), 0) from vault_entry where user_id = $1)
                   + (select coalesce(sum(size_bytes), 0) from vault_version where user_id = $1))::bigint as "bytes!""#,
        user_id
    )
    .fetch_one(db)
    .await?;
    Ok((r.keys, r.bytes))
}

/// The account's keys and bytes in one realm ('' the global scope).
pub async fn realm_usage(db: impl PgExecutor<'_>, user_id: &str, realm_id: &str) -> sqlx::Result<(i64, i64)> {
    let r = sqlx::query!(
        r#"select count(*) as "keys!", coalesce(sum(size_bytes), 0)::bigint as "bytes!"
             from vault_entry where user_id = $1 and realm_id = $2"#,
        user_id,
        realm_id
    )
    .fetch_one(db)
    .await?;
    Ok((r.keys, r.bytes))
}

/// The keys of one realm, by name.
pub async fn list(db: impl PgExecutor<'_>, user_id: &str, realm_id: &str) -> sqlx::Result<Vec<ListedRow>> {
    sqlx::query_as!(
        ListedRow,
        "select key, version, size_bytes, key_id, metadata_enc, created_at, updated_at \
           from vault_entry where user_id = $1 and realm_id = $2 order by key",
        user_id,
        realm_id
    )
    .fetch_all(db)
    .await
}

/// Write version 1 of a new key; its `created_at`.
pub async fn insert(conn: &mut PgConnection, v: &NewValue<'_>) -> sqlx::Result<(DateTime<Utc>, DateTime<Utc>)> {
    let r = sqlx::query!(
        "insert into vault_entry (user_id, realm_id, key, version, size_bytes, key_id, value_enc, metadata_enc) \
         values ($1, $2, $3, $4, $5, $6, $7, $8) returning created_at, updated_at",
        v.user_id,
        v.realm_id,
        v.key,
        v.version,
        v.size_bytes,
        v.key_id,
        v.value_enc,
        v.metadata_enc
    )
    .fetch_one(conn)
    .await?;
    Ok((r.created_at, r.updated_at))
}

/// The bytes of a key's earlier versions a write of `version` prunes (those at or below
/// `version - KEEP`).
pub async fn pruned_by(
    db: impl PgExecutor<'_>,
    user_id: &str,
    realm_id: &str,
    key: &str,
    version: i64,
) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        r#"select coalesce(sum(size_bytes), 0)::bigint as "bytes!" from vault_version
            where user_id = $1 and realm_id = $2 and key = $3 and version <= $4"#,
        user_id,
        realm_id,
        key,
        version - KEEP
    )
    .fetch_one(db)
    .await
}

/// Replace a key's current version with `v` (the next one), keeping the one it replaces as an
/// earlier version and pruning those past the last [`KEEP`].
pub async fn replace(conn: &mut PgConnection, v: &NewValue<'_>) -> sqlx::Result<(DateTime<Utc>, DateTime<Utc>)> {
    sqlx::query!(
        "insert into vault_version (user_id, realm_id, key, version, size_bytes, key_id, value_enc, metadata_enc, \
                                    written_at) \
         select user_id, realm_id, key, version, size_bytes, key_id, value_enc, metadata_enc, updated_at \
           from vault_entry where user_id = $1 and realm_id = $2 and key = $3",
        v.user_id,
        v.realm_id,
        v.key
    )
    .execute(&mut *conn)
    .await?;
    let r = sqlx::query!(
        "update vault_entry set version = $4, size_bytes = $5, key_id = $6, value_enc = $7, metadata_enc = $8, \
                updated_at = now() \
          where user_id = $1 and realm_id = $2 and key = $3 returning created_at, updated_at",
        v.user_id,
        v.realm_id,
        v.key,
        v.version,
        v.size_bytes,
        v.key_id,
        v.value_enc,
        v.metadata_enc
    )
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query!(
        "delete from vault_version where user_id = $1 and realm_id = $2 and key = $3 and version <= $4",
        v.user_id,
        v.realm_id,
        v.key,
        v.version - KEEP
    )
    .execute(&mut *conn)
    .await?;
    Ok((r.created_at, r.updated_at))
}

/// Delete a key with its earlier versions; the version it was at, if it existed.
pub async fn delete(db: impl PgExecutor<'_>, user_id: &str, realm_id: &str, key: &str) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar!(
        "delete from vault_entry where user_id = $1 and realm_id = $2 and key = $3 returning version",
        user_id,
        realm_id,
        key
    )
    .fetch_optional(db)
    .await
}

/// Delete every key of one realm ('' the global scope); how many.
pub async fn clear(db: impl PgExecutor<'_>, user_id: &str, realm_id: &str) -> sqlx::Result<i64> {
    let r = sqlx::query!("delete from vault_entry where user_id = $1 and realm_id = $2", user_id, realm_id)
        .execute(db)
        .await?;
    Ok(r.rows_affected() as i64)
}

/// A stored version sealed under a key other than the current one (for `vault rekey`).
pub struct StaleRow {
    pub user_id: String,
    pub realm_id: String,
    pub key: String,
    pub version: i64,
    pub key_id: String,
    pub value_enc: Vec<u8>,
    pub metadata_enc: Option<Vec<u8>>,
}

/// Up to `limit` rows of `vault_entry` (`history`: of `vault_version`) not sealed under
/// `key_id`, after the position `after` (user, realm, key, version), in that order.
pub async fn stale(
    db: impl PgExecutor<'_>,
    history: bool,
    key_id: &str,
    after: (&str, &str, &str, i64),
    limit: i64,
) -> sqlx::Result<Vec<StaleRow>> {
    let (u, r, k, v) = after;
    if history {
        sqlx::query_as!(
            StaleRow,
            "select user_id, realm_id, key, version, key_id, value_enc, metadata_enc from vault_version \
              where key_id <> $1 and (user_id, realm_id, key, version) > ($2, $3, $4, $5) \
              order by user_id, realm_id, key, version limit $6",
            key_id,
            u,
            r,
            k,
            v,
            limit
        )
        .fetch_all(db)
        .await
    } else {
        sqlx::query_as!(
            StaleRow,
            "select user_id, realm_id, key, version, key_id, value_enc, metadata_enc from vault_entry \
              where key_id <> $1 and (user_id, realm_id, key, version) > ($2, $3, $4, $5) \
              order by user_id, realm_id, key limit $6",
            key_id,
            u,
            r,
            k,
            v,
            limit
        )
        .fetch_all(db)
        .await
    }
}

/// Store `row` sealed again under `key_id`, if it is still the very bytes that were read (a write
/// meanwhile, or a delete and a new write of the same version, leaves it alone). True when stored.
pub async fn reseal(
    db: impl PgExecutor<'_>,
    history: bool,
    row: &StaleRow,
    key_id: &str,
    value_enc: &[u8],
    metadata_enc: Option<&[u8]>,
) -> sqlx::Result<bool> {
    let r = if history {
        sqlx::query!(
            "update vault_version set key_id = $6, value_enc = $7, metadata_enc = $8 \
              where user_id = $1 and realm_id = $2 and key = $3 and version = $4 and key_id = $5 \
                and value_enc = $9",
            row.user_id,
            row.realm_id,
            row.key,
            row.version,
            row.key_id,
            key_id,
            value_enc,
            metadata_enc,
            &row.value_enc[..]
        )
        .execute(db)
        .await?
    } else {
        sqlx::query!(
            "update vault_entry set key_id = $6, value_enc = $7, metadata_enc = $8 \
              where user_id = $1 and realm_id = $2 and key = $3 and version = $4 and key_id = $5 \
                and value_enc = $9",
            row.user_id,
            row.realm_id,
            row.key,
            row.version,
            row.key_id,
            key_id,
            value_enc,
            metadata_enc,
            &row.value_enc[..]
        )
        .execute(db)
        .await?
    };
    Ok(r.rows_affected() == 1)
}
