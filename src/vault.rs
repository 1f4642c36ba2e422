//! The user vault at rest: every value and its metadata sealed with the server's secret key
//! (XChaCha20-Poly1305, the key that seals TOTP secrets), stored with the id of that key. The
//! associated data binds the sealed bytes to their account, realm, key, version and field, so
//! bytes copied to another row (another account's, another key's, another version's, or from the
//! value to the metadata) do not open: the read fails cleanly (409 `vault_value_unreadable`,
//! logged) instead of showing one value in another's place.
//!
//! Key rotation: `hoody-api vault rekey` ([`rekey`]) seals every value stored under an earlier
//! key (`HOODY_SECRET_KEY_PREVIOUS`) again under the current one, in batches; run again, it finds
//! nothing left to do.

use sqlx::PgPool;

use crate::{auth::crypto::SecretBox, db::vault as store, secret::Secret};

/// Metadata is a JSON object of at most this many bytes (serialised).
pub const METADATA_MAX_BYTES: usize = 256 * 1024;
/// Keys one account may hold across its realms (empty values cost no bytes; this bounds them).
pub const MAX_KEYS: i64 = 10_000;

/// A key name: `^[A-Za-z0-9._-]{1,256}$`.
pub fn valid_key(key: &str) -> bool {
    (1..=256).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Where a sealed version lives: what its associated data binds it to.
#[derive(Debug, Clone, Copy)]
pub struct Place<'a> {
    pub user_id: &'a str,
    /// '' for the global scope.
    pub realm_id: &'a str,
    pub key: &'a str,
    pub version: i64,
}

#[derive(Clone, Copy)]
enum Field {
    Value,
    Metadata,
}

impl Field {
    fn name(self) -> &'static str {
        match self {
            Self::Value => "value",
            Self::Metadata => "metadata",
        }
    }
}

/// The associated data: none of its parts can hold a NUL (ids are hex, keys are checked).
fn aad(at: &Place<'_>, field: Field) -> Vec<u8> {
    format!("hoody-vault/1\0{}\0{}\0{}\0{}\0{}", at.user_id, at.realm_id, at.key, at.version, field.name()).into_bytes()
}

/// A version's plaintext: the value and the metadata as JSON bytes.
pub struct Plain {
    pub value: Secret<String>,
    pub metadata_json: Option<Secret<Vec<u8>>>,
}

impl Plain {
    /// What it counts against the vault limit: the value's bytes plus the metadata's JSON bytes.
    pub fn size_bytes(&self) -> i64 {
        (self.value.len() + self.metadata_json.as_ref().map_or(0, |m| m.len())) as i64
    }

    /// The metadata as JSON (None when there is none).
    pub fn metadata(&self) -> anyhow::Result<Option<serde_json::Value>> {
        self.metadata_json.as_ref().map(|m| serde_json::from_slice(m.expose())).transpose().map_err(Into::into)
    }
}

/// A version's sealed bytes.
pub struct Sealed {
    pub value_enc: Vec<u8>,
    pub metadata_enc: Option<Vec<u8>>,
}

/// Seal `plain` for `at` under the current key (its id: `b.key_id()`).
pub fn seal(b: &SecretBox, at: &Place<'_>, plain: &Plain) -> anyhow::Result<Sealed> {
    Ok(Sealed {
        value_enc: b.seal(&aad(at, Field::Value), plain.value.as_bytes())?,
        metadata_enc: plain
            .metadata_json
            .as_ref()
            .map(|m| b.seal(&aad(at, Field::Metadata), m.expose()))
            .transpose()?,
    })
}

/// Open the metadata of the version at `at`, sealed under the key `key_id`.
pub fn open_metadata(
    b: &SecretBox,
    at: &Place<'_>,
    key_id: &str,
    metadata_enc: Option<&[u8]>,
) -> anyhow::Result<Option<Secret<Vec<u8>>>> {
    metadata_enc.map(|m| b.open_by_id(key_id, &aad(at, Field::Metadata), m).map(Secret::new)).transpose()
}

/// Open the version at `at`, sealed under the key `key_id`. Fails (never returns another
/// row's value) when the bytes were moved, altered, or sealed under a key this server lacks.
pub fn open(
    b: &SecretBox,
    at: &Place<'_>,
    key_id: &str,
    value_enc: &[u8],
    metadata_enc: Option<&[u8]>,
) -> anyhow::Result<Plain> {
    let value = b.open_by_id(key_id, &aad(at, Field::Value), value_enc)?;
    let value = String::from_utf8(value).map_err(|_| anyhow::anyhow!("the opened value is not UTF-8"))?;
    Ok(Plain { value: Secret::new(value), metadata_json: open_metadata(b, at, key_id, metadata_enc)? })
}

/// What a rekey did.
#[derive(Debug, Default)]
pub struct RekeyReport {
    /// Current versions sealed again under the current key.
    pub values: u64,
    /// Earlier versions sealed again.
    pub versions: u64,
    /// Versions that did not open with any key held (`user/realm/key vN`; no values).
    pub unreadable: Vec<String>,
}

/// Seal every stored version that is not under the current key again under it, `batch` rows per
/// transaction. Idempotent: a second run finds nothing (but the unreadable ones, again).
pub async fn rekey(db: &PgPool, b: &SecretBox, batch: i64) -> anyhow::Result<RekeyReport> {
    let batch = batch.clamp(1, 10_000);
    let mut report = RekeyReport::default();
    for history in [false, true] {
        let mut after = (String::new(), String::new(), String::new(), 0_i64);
        loop {
            let rows = store::stale(db, history, b.key_id(), (&after.0, &after.1, &after.2, after.3), batch).await?;
            let Some(last) = rows.last() else { break };
            after = (last.user_id.clone(), last.realm_id.clone(), last.key.clone(), last.version);
            let mut tx = db.begin().await?;
            for row in &rows {
                let at = Place { user_id: &row.user_id, realm_id: &row.realm_id, key: &row.key, version: row.version };
                let plain = match open(b, &at, &row.key_id, &row.value_enc, row.metadata_enc.as_deref()) {
                    Ok(p) => p,
                    Err(e) => {
                        tracing::warn!(user_id = %row.user_id, realm_id = %row.realm_id, key = %row.key,
                            version = row.version, key_id = %row.key_id, error = %e, "vault value does not open; left as it is");
                        report
                            .unreadable
                            .push(format!("{}/{}/{} v{}", row.user_id, row.realm_id, row.key, row.version));
                        continue;
                    }
                };
                let sealed = seal(b, &at, &plain)?;
                if store::reseal(&mut *tx, history, row, b.key_id(), &sealed.value_enc, sealed.metadata_enc.as_deref())
                    .await?
                {
                    if history {
                        report.versions += 1;
                    } else {
                        report.values += 1;
                    }
                }
            }
            tx.commit().await?;
            if (rows.len() as i64) < batch {
                break;
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_pattern() {
        for good in ["a", "A.b_c-9", &"x".repeat(256)] {
            assert!(valid_key(good), "{good}");
        }
        for bad in ["", "a b", "a/b", "ä", &"x".repeat(257), "a\0"] {
            assert!(!valid_key(bad), "{bad}");
        }
    }

    #[test]
    fn a_sealed_version_opens_only_in_its_place() {
        let dir = std::env::temp_dir().join(format!("hoody-vault-{}", crate::db::new_id()));
        let b = SecretBox::load(Some(&"33".repeat(32)), &dir).unwrap();
        let at = Place { user_id: "u1", realm_id: "", key: "k", version: 2 };
        let plain =
            Plain { value: Secret::new("the value".into()), metadata_json: Some(Secret::new(br#"{"a":1}"#.to_vec())) };
        assert_eq!(plain.size_bytes(), 9 + 7);
        let s = seal(&b, &at, &plain).unwrap();
        let m = s.metadata_enc.as_deref();
        let opened = open(&b, &at, b.key_id(), &s.value_enc, m).unwrap();
        assert_eq!(opened.value.as_str(), "the value");
        assert_eq!(opened.metadata().unwrap(), Some(serde_json::json!({"a": 1})));
        for other in [
            Place { user_id: "u2", ..at },
            Place { realm_id: "0123456789abcdef01234567", ..at },
            Place { key: "k2", ..at },
            Place { version: 1, ..at },
        ] {
            assert!(open(&b, &other, b.key_id(), &s.value_enc, None).is_err(), "{other:?}");
        }
        // The value's bytes in the metadata's place.
        assert!(open(&b, &at, b.key_id(), &s.value_enc, Some(&s.value_enc)).is_err());
        assert!(open(&b, &at, "0000000000000000", &s.value_enc, m).is_err(), "an unknown key id");
    }
}
