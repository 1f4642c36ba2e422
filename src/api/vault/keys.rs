//! One key: list, read (also an earlier version), write (an upsert, optionally conditional on
//! the version), delete.

use axum::{
    extract::State,
    http::{header, HeaderValue},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::json;

use super::{
    dto::{KeyOut, ListedOut, SetIn},
    scope::VaultCaller,
};
use crate::{
    db::{self, ts, vault as store},
    envelope::{ApiOk, Envelope},
    error::{ApiError, ErrorBody, FieldError, Result},
    events::{self, Event, EventKind, ResourceType},
    extract::{IfMatch, OpaqueJson, Path, Query},
    secret::Secret,
    state::AppState,
    vault::{self, Place, Plain},
};

fn not_found() -> ApiError {
    ApiError::not_found("vault_key_not_found", "Vault key not found")
}

/// The stored bytes of a version do not open: moved or altered in the database, or sealed under
/// a key this server does not hold. Logged (never with the value); the client is told plainly.
fn unreadable(at: &Place<'_>, key_id: &str, e: &anyhow::Error) -> ApiError {
    log_unreadable(at, key_id, e);
    ApiError::conflict(
        "vault_value_unreadable",
        "This vault value cannot be decrypted (its stored bytes were moved or altered, or sealed under a key \
         this server does not hold); write it again or delete it",
    )
}

fn log_unreadable(at: &Place<'_>, key_id: &str, e: &anyhow::Error) {
    tracing::warn!(user_id = %at.user_id, realm_id = %at.realm_id, key = %at.key, version = at.version,
        key_id = %key_id, error = %e, "vault value does not open");
}

/// The key from the path: `^[A-Za-z0-9._-]{1,256}$`, else 400 naming `key`.
fn checked_key(key: &str) -> Result<&str> {
    if vault::valid_key(key) {
        return Ok(key);
    }
    Err(ApiError::BadRequest {
        code: "invalid_key",
        message: "key must be 1–256 characters of A–Z, a–z, 0–9, '.', '_' and '-'".into(),
        fields: vec![FieldError::new("key", "must match ^[A-Za-z0-9._-]{1,256}$")],
    })
}

fn with_etag(version: i64, out: ApiOk<KeyOut>) -> Response {
    let mut res = out.into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", db::documents::etag(version))) {
        res.headers_mut().insert(header::ETAG, v);
    }
    res
}

fn event(kind: EventKind, user_id: &str, realm_id: &str, key: &str, version: i64) -> Event {
    let data = json!({"key": key, "realm_id": realm_id, "version": version});
    let e = Event::new(kind, ResourceType::Vault, key, user_id, data);
    if realm_id.is_empty() {
        e
    } else {
        e.in_realms(&[realm_id.to_owned()])
    }
}

/// List vault keys
///
/// The keys of the request's realm (`?realm_id` or the realm host; else the global scope), by
/// name, with their metadata, sizes and times; never their values.
#[utoipa::path(get, path = "/vault/keys", tag = "vault", security(("bearer" = ["vault_access"])),
    params(("realm_id" = Option<String>, Query, description = "Target a specific realm (24 hex, either case); omitted: the global scope")),
    responses((status = 200, body = Envelope<Vec<ListedOut>>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("resources.vault"))))]
pub async fn list_vault_keys(State(st): State<AppState>, v: VaultCaller) -> Result<ApiOk<Vec<ListedOut>>> {
    let rows = store::list(&st.db, v.user_id(), &v.realm_id).await?;
    let out = rows
        .into_iter()
        .map(|r| {
            let at = Place { user_id: v.user_id(), realm_id: &v.realm_id, key: &r.key, version: r.version };
            let opened = vault::open_metadata(&st.sealer, &at, &r.key_id, r.metadata_enc.as_deref())
                .and_then(|m| m.map(|m| serde_json::from_slice(m.expose())).transpose().map_err(anyhow::Error::from));
            let metadata = match opened {
                Ok(m) => Some(m),
                Err(e) => {
                    // Listed all the same, without metadata: the key can still be deleted.
                    log_unreadable(&at, &r.key_id, &e);
                    None
                }
            };
            ListedOut {
                key: r.key,
                realm_id: v.realm_id.clone(),
                metadata,
                size_bytes: r.size_bytes,
                created_at: ts(r.created_at),
                updated_at: ts(r.updated_at),
            }
        })
        .collect();
    Ok(ApiOk::new("Vault keys", out))
}

#[derive(Debug, Deserialize)]
pub struct ReadQuery {
    /// An earlier version (the last 10 are kept); omitted: the current one.
    version: Option<i64>,
}

/// Get vault key
///
/// The value, metadata, size and times of a key of yours in the request's realm; `?version=N`
/// reads an earlier version (the last 10 versions are kept). The `ETag` header names the
/// version (`"file:v<N>"`), which `if-match` on a write takes back. Missing (or another
/// account's): 404. A value whose stored bytes do not decrypt: 409 `vault_value_unreadable`.
#[utoipa::path(get, path = "/vault/keys/{key}", tag = "vault", security(("bearer" = ["vault_access"])),
    params(("key" = String, Path, description = "Vault key name: ^[A-Za-z0-9._-]{1,256}$"),
        ("realm_id" = Option<String>, Query, description = "Target a specific realm (24 hex, either case); omitted: the global scope"),
        ("version" = Option<i64>, Query, description = "An earlier version (1…; the last 10 are kept)")),
    responses((status = 200, body = Envelope<KeyOut>, headers(("ETag" = String, description = "\"file:v<N>\": the version read"))),
        (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("resources.vault"))))]
pub async fn get_vault_key(
    State(st): State<AppState>,
    v: VaultCaller,
    Path(key): Path<String>,
    Query(q): Query<ReadQuery>,
) -> Result<Response> {
    let key = checked_key(&key)?;
    let row = match q.version {
        None => store::current(&st.db, v.user_id(), &v.realm_id, key).await?.ok_or_else(not_found)?,
        Some(n) if n < 1 => {
            return Err(ApiError::BadRequest {
                code: "invalid_query",
                message: "version: must be 1 or more".into(),
                fields: vec![FieldError::new("version", "must be 1 or more")],
            })
        }
        Some(n) => match store::version(&st.db, v.user_id(), &v.realm_id, key, n).await? {
            Some(row) => row,
            None if store::head(&st.db, v.user_id(), &v.realm_id, key).await?.is_some() => {
                return Err(ApiError::not_found(
                    "vault_version_not_found",
                    "No such version of this key (the last 10 are kept)",
                ))
            }
            None => return Err(not_found()),
        },
    };
    let at = Place { user_id: v.user_id(), realm_id: &v.realm_id, key, version: row.version };
    let plain = vault::open(&st.sealer, &at, &row.key_id, &row.value_enc, row.metadata_enc.as_deref())
        .map_err(|e| unreadable(&at, &row.key_id, &e))?;
    let metadata = plain.metadata().map_err(|e| unreadable(&at, &row.key_id, &e))?;
    let out = KeyOut {
        key: row.key,
        realm_id: v.realm_id.clone(),
        value: plain.value.into_inner(),
        metadata,
        size_bytes: row.size_bytes,
        created_at: ts(row.created_at),
        updated_at: ts(row.updated_at),
    };
    Ok(with_etag(row.version, ApiOk::new("Vault key", out)))
}

/// Set vault key
///
/// Creates the key or overwrites it (an upsert) in the request's realm. `value` is any UTF-8
/// string, stored as given; `metadata` a JSON object of at most 256 KB, or null. Both are
/// encrypted at rest. Each write is a new version (from 1; the last 10 are kept), named in the
/// `ETag` header; `if-match: file:v<N>` makes the write conditional (`file:v0`: only if the
/// key does not exist): 412 with the current version when it is stale. Past the account's
/// vault limit (over every realm): 422 `vault_limit_exceeded`, nothing stored.
#[utoipa::path(put, path = "/vault/keys/{key}", tag = "vault", security(("bearer" = ["vault_access"])),
    params(("key" = String, Path, description = "Vault key name: ^[A-Za-z0-9._-]{1,256}$"),
        ("realm_id" = Option<String>, Query, description = "Target a specific realm (24 hex, either case); omitted: the global scope"),
        ("if-match" = Option<String>, Header, description = "file:v<N>: write only if the key is at version N (0: absent)")),
    request_body = SetIn,
    responses((status = 200, body = Envelope<KeyOut>, headers(("ETag" = String, description = "\"file:v<N>\": the version written"))),
        (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("resources.vault"))))]
pub async fn set_vault_key(
    State(st): State<AppState>,
    v: VaultCaller,
    Path(key): Path<String>,
    if_match: Option<IfMatch>,
    OpaqueJson(input): OpaqueJson<SetIn>,
) -> Result<Response> {
    let key = checked_key(&key)?;
    let metadata = input.metadata.map(Secret::into_inner);
    if let Some(m) = &metadata {
        crate::api::fields::json_object("metadata", m, vault::METADATA_MAX_BYTES)?;
    }
    let plain = Plain {
        value: input.value,
        metadata_json: metadata
            .as_ref()
            .map(serde_json::to_vec)
            .transpose()
            .map_err(anyhow::Error::from)?
            .map(Secret::new),
    };
    let size = plain.size_bytes();
    let limit = i64::from(st.cfg.vault_limit_mb) * super::MIB;
    let user_id = v.user_id();

    let mut tx = st.db.begin().await?;
    store::lock(&mut tx, user_id).await?;
    let head = store::head(&mut *tx, user_id, &v.realm_id, key).await?;
    let (current, _) = head.unwrap_or((0, 0));
    if let Some(IfMatch(expected)) = if_match {
        if expected != current {
            return Err(ApiError::StaleVersion { current });
        }
    }
    let (keys, used) = store::usage(&mut *tx, user_id).await?;
    if head.is_none() && keys >= vault::MAX_KEYS {
        return Err(ApiError::unprocessable(
            "vault_limit_exceeded",
            "key",
            format!("the vault holds at most {} keys over all realms", vault::MAX_KEYS),
        ));
    }
    // What the vault holds after this write: the new value on top (the one it replaces stays,
    // as an earlier version), less the earlier versions it prunes. Over the limit and growing:
    // refused; a write that does not grow the total always passes.
    let version = current + 1;
    let pruned = if head.is_some() { store::pruned_by(&mut *tx, user_id, &v.realm_id, key, version).await? } else { 0 };
    let after = used + size - pruned;
    if after > used && after > limit {
        return Err(ApiError::unprocessable(
            "vault_limit_exceeded",
            "value",
            format!(
                "this write would take the vault past its limit of {} MiB over all realms ({} bytes used, {} more needed)",
                st.cfg.vault_limit_mb,
                used,
                after - used
            ),
        ));
    }
    let at = Place { user_id, realm_id: &v.realm_id, key, version };
    let sealed = vault::seal(&st.sealer, &at, &plain)?;
    let new = store::NewValue {
        user_id,
        realm_id: &v.realm_id,
        key,
        version,
        size_bytes: size,
        key_id: st.sealer.key_id(),
        value_enc: &sealed.value_enc,
        metadata_enc: sealed.metadata_enc.as_deref(),
    };
    let (created_at, updated_at) =
        if head.is_some() { store::replace(&mut tx, &new).await? } else { store::insert(&mut tx, &new).await? };
    events::publish(&mut tx, event(EventKind::VaultKeySet, user_id, &v.realm_id, key, version)).await?;
    tx.commit().await?;
    let out = KeyOut {
        key: key.to_owned(),
        realm_id: v.realm_id.clone(),
        value: plain.value.into_inner(),
        metadata,
        size_bytes: size,
        created_at: ts(created_at),
        updated_at: ts(updated_at),
    };
    Ok(with_etag(version, ApiOk::new("Vault key saved", out)))
}

/// Delete vault key
///
/// Deletes a key of yours in the request's realm with all its versions, permanently. Missing
/// (or another account's): 404.
#[utoipa::path(delete, path = "/vault/keys/{key}", tag = "vault", security(("bearer" = ["vault_access"])),
    params(("key" = String, Path, description = "Vault key name: ^[A-Za-z0-9._-]{1,256}$"),
        ("realm_id" = Option<String>, Query, description = "Target a specific realm (24 hex, either case); omitted: the global scope")),
    responses((status = 200, body = Envelope<Option<String>>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("resources.vault"))))]
pub async fn delete_vault_key(
    State(st): State<AppState>,
    v: VaultCaller,
    Path(key): Path<String>,
) -> Result<ApiOk<Option<String>>> {
    let key = checked_key(&key)?;
    let user_id = v.user_id();
    let mut tx = st.db.begin().await?;
    store::lock(&mut tx, user_id).await?;
    let version = store::delete(&mut *tx, user_id, &v.realm_id, key).await?.ok_or_else(not_found)?;
    events::publish(&mut tx, event(EventKind::VaultKeyDeleted, user_id, &v.realm_id, key, version)).await?;
    tx.commit().await?;
    Ok(ApiOk::new("Vault key deleted", None))
}
