//! Long-lived auth tokens: the secret's format, its row, and the rules checked on every use
//! (enabled, expiry, IP whitelist). The secret is `hdy_` + 64 hex (256 CSPRNG bits) + 8 hex of
//! checksum (the first 4 bytes of SHA-256 of the random part), so a scanner can recognise a
//! leaked token without asking us. Only SHA-256 of the whole secret is stored.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use ipnet::IpNet;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use sqlx::{postgres::PgRow, FromRow, Row};
use utoipa::ToSchema;

use super::{permissions::PermSet, secrets};
use crate::{db::users::UserRow, error::ApiError};

pub const PREFIX: &str = "hdy_";
const BODY_HEX: usize = 64;
const CHECK_HEX: usize = 8;
pub const SECRET_LEN: usize = PREFIX.len() + BODY_HEX + CHECK_HEX;
/// How much of the secret the API shows again: the prefix and 8 characters.
const SHOWN: usize = PREFIX.len() + 8;

fn checksum(body: &str) -> String {
    hex::encode(&Sha256::digest(body.as_bytes())[..CHECK_HEX / 2])
}

/// A new secret and the part of it that may be shown again.
pub fn new_secret() -> (String, String) {
    let body = secrets::random_token();
    let secret = format!("{PREFIX}{body}{}", checksum(&body));
    let shown = secret[..SHOWN].to_owned();
    (secret, shown)
}

/// Shaped like one of our secrets, checksum included (no database read otherwise).
pub fn looks_like_secret(s: &str) -> bool {
    let Some(rest) = s.strip_prefix(PREFIX) else { return false };
    if rest.len() != BODY_HEX + CHECK_HEX || !rest.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return false;
    }
    let (body, check) = rest.split_at(BODY_HEX);
    secrets::same_secret(&checksum(body), check)
}

/// A token as stored, read together with its owner in one query on every use.
#[derive(Debug, Clone)]
pub struct TokenRow {
    pub token_id: String,
    pub user_id: String,
    pub alias: String,
    pub secret_hash: crate::secret::Secret<Vec<u8>>,
    pub prefix: String,
    pub public_key: Option<String>,
    pub public_storage: Option<serde_json::Value>,
    pub ip_whitelist: Vec<String>,
    pub realm_ids: Vec<String>,
    pub allow_no_realm: bool,
    /// The leaves it holds (stored as their dotted paths).
    pub perms: PermSet,
    pub vault_access: bool,
    pub event_access: bool,
    pub deny_reauthorization: bool,
    pub expires_at: Option<DateTime<Utc>>,
    pub is_enabled: bool,
    pub created_by_token_id: Option<String>,
    pub delegation_depth: i32,
    pub last_used_at: Option<DateTime<Utc>>,
    pub last_used_ip: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Column list for `TokenRow`, each aliased `tok_*` so it can sit beside the user's columns.
pub const COLUMNS: &str = "t.token_id as tok_token_id, t.user_id as tok_user_id, t.alias as tok_alias, \
    t.secret_hash as tok_secret_hash, t.prefix as tok_prefix, t.public_key as tok_public_key, \
    t.public_storage as tok_public_storage, t.ip_whitelist as tok_ip_whitelist, t.realm_ids as tok_realm_ids, \
    t.allow_no_realm as tok_allow_no_realm, t.permissions as tok_permissions, t.vault_access as tok_vault_access, \
    t.event_access as tok_event_access, t.deny_reauthorization as tok_deny_reauthorization, \
    t.expires_at as tok_expires_at, t.is_enabled as tok_is_enabled, t.created_by_token_id as tok_created_by_token_id, \
    t.delegation_depth as tok_delegation_depth, t.last_used_at as tok_last_used_at, \
    t.last_used_ip as tok_last_used_ip, t.created_at as tok_created_at, t.updated_at as tok_updated_at";

impl<'r> FromRow<'r, PgRow> for TokenRow {
    fn from_row(r: &'r PgRow) -> sqlx::Result<Self> {
        let leaves: Vec<String> = r.try_get("tok_permissions")?;
        Ok(Self {
            token_id: r.try_get("tok_token_id")?,
            user_id: r.try_get("tok_user_id")?,
            alias: r.try_get("tok_alias")?,
            secret_hash: crate::secret::Secret::new(r.try_get("tok_secret_hash")?),
            prefix: r.try_get("tok_prefix")?,
            public_key: r.try_get("tok_public_key")?,
            public_storage: r.try_get("tok_public_storage")?,
            ip_whitelist: r.try_get("tok_ip_whitelist")?,
            realm_ids: r.try_get("tok_realm_ids")?,
            allow_no_realm: r.try_get("tok_allow_no_realm")?,
            perms: PermSet::from_leaves(leaves.iter().map(String::as_str)),
            vault_access: r.try_get("tok_vault_access")?,
            event_access: r.try_get("tok_event_access")?,
            deny_reauthorization: r.try_get("tok_deny_reauthorization")?,
            expires_at: r.try_get("tok_expires_at")?,
            is_enabled: r.try_get("tok_is_enabled")?,
            created_by_token_id: r.try_get("tok_created_by_token_id")?,
            delegation_depth: r.try_get("tok_delegation_depth")?,
            last_used_at: r.try_get("tok_last_used_at")?,
            last_used_ip: r.try_get("tok_last_used_ip")?,
            created_at: r.try_get("tok_created_at")?,
            updated_at: r.try_get("tok_updated_at")?,
        })
    }
}

impl TokenRow {
    pub fn perms(&self) -> PermSet {
        self.perms
    }

    pub fn expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|e| e <= now)
    }

    /// Realm-restricted: usable only inside its realms.
    pub fn restricted(&self) -> bool {
        !self.realm_ids.is_empty()
    }

    pub fn ip_allowed(&self, ip: IpAddr) -> bool {
        self.ip_whitelist.is_empty()
            || self.ip_whitelist.iter().filter_map(|n| n.parse::<IpNet>().ok()).any(|n| n.contains(&ip))
    }
}

/// A token and its owner: what `HotConnections` reads for a presented secret.
#[derive(Clone)]
pub struct TokenWithUser {
    pub token: TokenRow,
    pub user: UserRow,
}

impl<'r> FromRow<'r, PgRow> for TokenWithUser {
    fn from_row(r: &'r PgRow) -> sqlx::Result<Self> {
        Ok(Self { token: TokenRow::from_row(r)?, user: UserRow::from_row(r)? })
    }
}

/// A token and its owner by the secret's hash: one indexed read.
static BY_SECRET: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let user_columns: Vec<String> = crate::db::users::COLUMNS.split(", ").map(|c| format!("u.{}", c.trim())).collect();
    format!(
        "select {COLUMNS}, {} from auth_token t join app_user u on u.user_id = t.user_id where t.secret_hash = $1",
        user_columns.join(", ")
    )
});

pub async fn by_secret(db: impl sqlx::PgExecutor<'_>, secret: &str) -> sqlx::Result<Option<TokenWithUser>> {
    let hash = secrets::sha256(secret);
    let rows: Vec<TokenWithUser> = sqlx::query_as(BY_SECRET.as_str()).bind(&hash).fetch_all(db).await?;
    // The index found it by hash; compare once more without a timing signal.
    Ok(rows.into_iter().find(|r| {
        use subtle::ConstantTimeEq;
        r.token.secret_hash.len() == hash.len() && bool::from(r.token.secret_hash.ct_eq(&hash))
    }))
}

/// `ip_whitelist` as the API takes it: an array, a comma-separated string, or `"*"`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum IpWhitelistIn {
    List(Vec<String>),
    Text(String),
}

/// `expires_at` as the API takes it: an ISO 8601 string, Unix seconds, `"today"` or `"tomorrow"`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum ExpiryIn {
    Unix(i64),
    Text(String),
}

/// IPv4 addresses and CIDRs only; the result is canonical (`10.0.0.0/8`, `1.2.3.4/32`) and
/// empty for "everywhere".
pub fn parse_ip_whitelist(v: &IpWhitelistIn) -> Result<Vec<String>, ApiError> {
    let items: Vec<String> = match v {
        IpWhitelistIn::Text(s) => s.split(',').map(|p| p.trim().to_owned()).filter(|p| !p.is_empty()).collect(),
        IpWhitelistIn::List(a) => a.iter().map(|s| s.trim().to_owned()).collect(),
    };
    if items.iter().any(|i| i == "*") {
        return Ok(Vec::new());
    }
    if items.len() > 100 {
        return Err(ApiError::invalid("ip_whitelist", "at most 100 entries"));
    }
    let mut out = Vec::new();
    for item in items {
        let net = match item.parse::<ipnet::Ipv4Net>() {
            Ok(n) => n.trunc(),
            Err(_) => match item.parse::<std::net::Ipv4Addr>() {
                Ok(ip) => ipnet::Ipv4Net::from(ip),
                Err(_) => {
                    return Err(ApiError::invalid("ip_whitelist", format!("{item:?} is not an IPv4 address or CIDR")))
                }
            },
        };
        let s = net.to_string();
        if !out.contains(&s) {
            out.push(s);
        }
    }
    Ok(out)
}

/// Every network of `inner` lies inside some network of `outer` (empty = everywhere).
pub fn whitelist_within(inner: &[String], outer: &[String]) -> bool {
    if outer.is_empty() {
        return true;
    }
    let outer: Vec<IpNet> = outer.iter().filter_map(|n| n.parse().ok()).collect();
    !inner.is_empty() && inner.iter().all(|n| n.parse::<IpNet>().is_ok_and(|n| outer.iter().any(|o| o.contains(&n))))
}

const EXPIRY_FORMS: &str = "must be an ISO 8601 date-time, Unix seconds, \"today\" or \"tomorrow\"";

/// `"today"` and `"tomorrow"` are the end of that UTC day. A time not in the future → 422.
pub fn parse_expiry(v: &ExpiryIn, now: DateTime<Utc>) -> Result<DateTime<Utc>, ApiError> {
    let end_of = |days: u64| {
        (now.date_naive() + chrono::Days::new(days + 1))
            .and_hms_opt(0, 0, 0)
            .map(|d| d.and_utc() - chrono::Duration::milliseconds(1))
    };
    let at = match v {
        ExpiryIn::Text(s) if s == "today" => end_of(0),
        ExpiryIn::Text(s) if s == "tomorrow" => end_of(1),
        ExpiryIn::Text(s) => DateTime::parse_from_rfc3339(s.trim()).ok().map(|d| d.with_timezone(&Utc)),
        ExpiryIn::Unix(secs) if *secs >= 0 => DateTime::from_timestamp(*secs, 0),
        ExpiryIn::Unix(_) => None,
    };
    let at = at.ok_or_else(|| ApiError::invalid("expires_at", EXPIRY_FORMS))?;
    if at <= now {
        return Err(ApiError::invalid("expires_at", "must be in the future"));
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_have_the_prefix_and_a_checksum() {
        let (s, shown) = new_secret();
        assert_eq!(s.len(), SECRET_LEN);
        assert!(s.starts_with(&shown) && shown.starts_with("hdy_") && shown.len() == 12);
        assert!(looks_like_secret(&s));
        let mut flipped = s.clone().into_bytes();
        flipped[10] = if flipped[10] == b'a' { b'b' } else { b'a' };
        assert!(!looks_like_secret(&String::from_utf8(flipped).unwrap()));
        assert!(!looks_like_secret("hdy_short"));
        assert_ne!(new_secret().0, s);
    }

    #[test]
    fn whitelists_parse_in_every_form() {
        let list = |v: &[&str]| IpWhitelistIn::List(v.iter().map(|s| s.to_string()).collect());
        assert!(parse_ip_whitelist(&IpWhitelistIn::Text("*".into())).unwrap().is_empty());
        assert!(parse_ip_whitelist(&list(&["1.2.3.4", "*"])).unwrap().is_empty());
        let csv = parse_ip_whitelist(&IpWhitelistIn::Text("10.1.2.3/8, 1.2.3.4".into())).unwrap();
        assert_eq!(csv, vec!["10.0.0.0/8", "1.2.3.4/32"]);
        assert!(parse_ip_whitelist(&list(&["::1"])).is_err());
        assert!(parse_ip_whitelist(&list(&["1.2.3.4/33"])).is_err());
        assert!(whitelist_within(&["10.1.0.0/16".into()], &csv));
        assert!(!whitelist_within(&["11.0.0.0/16".into()], &csv));
        assert!(!whitelist_within(&[], &csv));
        assert!(whitelist_within(&[], &[]));
    }

    #[test]
    fn expiry_forms() {
        let now = DateTime::parse_from_rfc3339("2026-11-27T10:00:00Z").unwrap().with_timezone(&Utc);
        let text = |s: &str| ExpiryIn::Text(s.into());
        let today = parse_expiry(&text("today"), now).unwrap();
        assert_eq!(today.to_rfc3339(), "2026-11-27T23:59:59.999+00:00");
        let tomorrow = parse_expiry(&text("tomorrow"), now).unwrap();
        assert_eq!(tomorrow.to_rfc3339(), "2026-11-28T23:59:59.999+00:00");
        assert!(parse_expiry(&ExpiryIn::Unix(now.timestamp() + 60), now).is_ok());
        assert!(parse_expiry(&text("2027-01-01T00:00:00Z"), now).is_ok());
        assert!(parse_expiry(&text("2020-01-01T00:00:00Z"), now).is_err());
        assert!(parse_expiry(&ExpiryIn::Unix(1), now).is_err());
        assert!(parse_expiry(&ExpiryIn::Unix(-5), now).is_err());
        assert!(parse_expiry(&text("soon"), now).is_err());
    }
}
