//! Long-lived auth tokens: the secret's format, its row, and the rules checked on every use
//! (enabled, expiry, IP whitelist). The secret is `hdy_` + 64 hex (256 CSPRNG bits) + 8 hex of
//! checksum (the first 4 bytes of SHA-256 of the random part), so a scanner can recognise a
//! leaked token without asking us. Only SHA-256 of the whole secret is stored.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use ipnet::IpNet;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::{permissions::PermSet, secrets};
use crate::error::ApiError;

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

/// Stored in `db::auth_tokens` (read with its owner in one query on every use).
pub use crate::db::auth_tokens::{TokenRow, TokenWithUser};

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

/// A token and its owner by the secret's hash: one indexed read.
pub async fn by_secret(db: impl sqlx::PgExecutor<'_>, secret: &str) -> sqlx::Result<Option<TokenWithUser>> {
    let hash = secrets::sha256(secret);
    let rows = crate::db::auth_tokens::by_secret_hash(db, &hash).await?;
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
