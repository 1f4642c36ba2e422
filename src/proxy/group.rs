//! Authentication groups: who a request is. A password (sha256 of salt + password), a token in
//! one header, cookie or query parameter, a JWT (HS256, RS256 or ES256) found in headers or
//! cookies, or a client IPv4 range.

use std::{collections::BTreeMap, fmt};

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::error::FieldError;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum JwtAlgorithm {
    HS256,
    RS256,
    ES256,
}

/// A group as stored (`type` tells which). Its `Debug` leaves the secrets out.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Group {
    Password {
        username: String,
        /// sha256(salt + password), lowercase hex.
        password: String,
        algorithm: String,
        salt: String,
    },
    Token {
        #[serde(skip_serializing_if = "Option::is_none")]
        header: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        cookie: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        param: Option<String>,
        value: String,
    },
    Jwt {
        secret: String,
        algorithm: JwtAlgorithm,
        sources: Vec<String>,
        #[serde(default)]
        claims: BTreeMap<String, Value>,
    },
    Ip {
        range: String,
    },
}

impl fmt::Debug for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Password { username, .. } => write!(f, "Password({username}, <hidden>)"),
            Self::Token { header, cookie, param, .. } => {
                write!(f, "Token({header:?}, {cookie:?}, {param:?}, <hidden>)")
            }
            Self::Jwt { algorithm, sources, .. } => write!(f, "Jwt({algorithm:?}, {sources:?}, <hidden>)"),
            Self::Ip { range } => write!(f, "Ip({range})"),
        }
    }
}

impl Group {
    /// As a caller without edit rights sees it: the password hash, the token value and the JWT
    /// key left out.
    pub fn redacted(&self) -> Value {
        let mut v = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Some(o) = v.as_object_mut() {
            for secret in ["password", "value", "secret"] {
                o.remove(secret);
            }
        }
        v
    }
}

/// sha256(salt + password) as lowercase hex: what a password group stores and the edge checks.
pub fn password_hash(salt: &str, password: &str) -> String {
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    h.update(password.as_bytes());
    hex::encode(h.finalize())
}

fn is_hash(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `a.b.c.d/n` with n in 0–32, the host bits zero or not (the range is what counts).
pub fn ip_range(s: &str) -> Option<Ipv4Net> {
    if !s.contains('/') {
        return None;
    }
    s.parse::<Ipv4Net>().ok()
}

/// Field errors collected under a prefix (`groups.admins.`, or none for a route's own body).
struct Check<'a> {
    at: &'a str,
    errors: Vec<FieldError>,
}

impl Check<'_> {
    fn fail(&mut self, field: &str, message: impl Into<String>) {
        let path = if self.at.is_empty() { field.to_owned() } else { format!("{}.{field}", self.at) };
        self.errors.push(FieldError::new(path, message));
    }

    fn text(&mut self, field: &str, v: Option<String>, max: usize) -> String {
        self.text_lines(field, v, max, false)
    }

    /// `text`, line breaks allowed when `lines` (a PEM key has them).
    fn text_lines(&mut self, field: &str, v: Option<String>, max: usize, lines: bool) -> String {
        match v {
            None => {
                self.fail(field, "is required");
                String::new()
            }
            Some(s) if s.is_empty() || s.chars().count() > max => {
                self.fail(field, format!("must be 1-{max} characters"));
                s
            }
            Some(s) if s.chars().any(|c| c.is_control() && !(lines && matches!(c, '\n' | '\r'))) => {
                self.fail(field, "must not contain control characters");
                s
            }
            Some(s) => s,
        }
    }

    fn absent(&mut self, field: &str, present: bool, kind: &str) {
        if present {
            self.fail(field, format!("does not belong to a {kind} group"));
        }
    }

    fn done(self, g: Group) -> Result<Group, Vec<FieldError>> {
        if self.errors.is_empty() {
            Ok(g)
        } else {
            Err(self.errors)
        }
    }
}

/// An HTTP header or cookie name: RFC 7230 token characters.
fn token_name_ok(s: &str) -> bool {
    (1..=128).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// A group as a body gives it: every field any type takes (the whole-document PUT's `groups`
/// values), or one type's fields (the per-type routes fill the rest with `None`).
#[derive(Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ProxyGroupIn)]
pub struct GroupIn {
    /// `password`, `token`, `jwt` or `ip`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub username: Option<String>,
    /// Plain text (hashed before it is stored) or sha256(salt + password) as 64 hex.
    pub password: Option<String>,
    pub salt: Option<String>,
    /// `sha256` for a password group; `HS256`, `RS256` or `ES256` for a JWT group.
    pub algorithm: Option<String>,
    pub header: Option<String>,
    pub cookie: Option<String>,
    pub param: Option<String>,
    pub value: Option<String>,
    /// HS256: the shared secret; RS256/ES256: the PEM public key.
    pub secret: Option<String>,
    /// `header:Name` or `cookie:Name`.
    pub sources: Option<Vec<String>>,
    /// Claims the token must carry with exactly these values (string, number or bool).
    #[schema(value_type = Option<Object>)]
    pub claims: Option<BTreeMap<String, Value>>,
    /// IPv4 CIDR, `a.b.c.d/n` with n in 0–32.
    pub range: Option<String>,
}

impl GroupIn {
    /// Validate into the stored group, naming each bad field under `at`.
    pub fn into_group(self, at: &str) -> Result<Group, Vec<FieldError>> {
        let mut c = Check { at, errors: vec![] };
        let kind = self.kind.clone().unwrap_or_default();
        match kind.as_str() {
            "password" => self.password(c),
            "token" => self.token(c),
            "jwt" => self.jwt(c),
            "ip" => self.ip(c),
            _ => {
                c.fail("type", "must be password, token, jwt or ip");
                Err(c.errors)
            }
        }
    }

    /// Name each field given that a `kind` group does not take.
    fn only(&self, c: &mut Check<'_>, kind: &str) {
        let takes: &[&str] = match kind {
            "password" => &["username", "password", "salt", "algorithm"],
            "token" => &["header", "cookie", "param", "value"],
            "jwt" => &["secret", "algorithm", "sources", "claims"],
            _ => &["range"],
        };
        let given = [
            ("username", self.username.is_some()),
            ("password", self.password.is_some()),
            ("salt", self.salt.is_some()),
            ("algorithm", self.algorithm.is_some()),
            ("header", self.header.is_some()),
            ("cookie", self.cookie.is_some()),
            ("param", self.param.is_some()),
            ("value", self.value.is_some()),
            ("secret", self.secret.is_some()),
            ("sources", self.sources.is_some()),
            ("claims", self.claims.is_some()),
            ("range", self.range.is_some()),
        ];
        for (field, present) in given {
            c.absent(field, present && !takes.contains(&field), kind);
        }
    }

    fn password(self, mut c: Check<'_>) -> Result<Group, Vec<FieldError>> {
        self.only(&mut c, "password");
        let username = c.text("username", self.username, 128);
        if username.contains(':') {
            c.fail("username", "must not contain ':'");
        }
        let salt = c.text("salt", self.salt, 256);
        let password = c.text("password", self.password, 1024);
        if self.algorithm.as_deref().is_some_and(|a| a != "sha256") {
            c.fail("algorithm", "must be sha256");
        }
        let password = if is_hash(&password) { password.to_ascii_lowercase() } else { password_hash(&salt, &password) };
        c.done(Group::Password { username, password, algorithm: "sha256".into(), salt })
    }

    fn token(self, mut c: Check<'_>) -> Result<Group, Vec<FieldError>> {
        self.only(&mut c, "token");
        let places = [("header", &self.header), ("cookie", &self.cookie), ("param", &self.param)];
        let given: Vec<_> = places.iter().filter(|(_, v)| v.is_some()).collect();
        if given.len() != 1 {
            c.fail("header", "give exactly one of header, cookie or param");
        }
        for (f, v) in given {
            if !v.as_deref().is_some_and(token_name_ok) {
                c.fail(f, "must be 1-128 characters of a header or cookie name");
            }
        }
        let value = c.text("value", self.value, 4096);
        c.done(Group::Token { header: self.header, cookie: self.cookie, param: self.param, value })
    }

    fn jwt(self, mut c: Check<'_>) -> Result<Group, Vec<FieldError>> {
        self.only(&mut c, "jwt");
        let algorithm = match self.algorithm.as_deref() {
            Some("HS256") => Some(JwtAlgorithm::HS256),
            Some("RS256") => Some(JwtAlgorithm::RS256),
            Some("ES256") => Some(JwtAlgorithm::ES256),
            Some(_) => {
                c.fail("algorithm", "must be HS256, RS256 or ES256");
                None
            }
            None => {
                c.fail("algorithm", "is required");
                None
            }
        };
        let secret = c.text_lines("secret", self.secret, 16 * 1024, true);
        if !secret.is_empty() {
            let key = match algorithm {
                Some(JwtAlgorithm::RS256) => jsonwebtoken::DecodingKey::from_rsa_pem(secret.as_bytes()).err(),
                Some(JwtAlgorithm::ES256) => jsonwebtoken::DecodingKey::from_ec_pem(secret.as_bytes()).err(),
                _ => None,
            };
            if key.is_some() {
                c.fail("secret", "must be the PEM public key of the algorithm");
            }
        }
        let sources = self.sources.unwrap_or_default();
        if sources.is_empty() || sources.len() > 8 {
            c.fail("sources", "give 1-8 of header:Name or cookie:Name");
        }
        for (i, s) in sources.iter().enumerate() {
            let ok = s
                .split_once(':')
                .is_some_and(|(place, name)| matches!(place, "header" | "cookie") && token_name_ok(name));
            if !ok {
                c.fail(&format!("sources[{i}]"), "must be header:Name or cookie:Name");
            }
        }
        let claims = self.claims.unwrap_or_default();
        if claims.len() > 32 {
            c.fail("claims", "at most 32 claims");
        }
        for (k, v) in &claims {
            if k.is_empty() || k.len() > 128 {
                c.fail("claims", "claim names are 1-128 characters");
            }
            if !matches!(v, Value::String(_) | Value::Number(_) | Value::Bool(_)) {
                c.fail(&format!("claims.{k}"), "must be a string, a number or a bool");
            }
        }
        let algorithm = algorithm.unwrap_or(JwtAlgorithm::HS256);
        c.done(Group::Jwt { secret, algorithm, sources, claims })
    }

    fn ip(self, mut c: Check<'_>) -> Result<Group, Vec<FieldError>> {
        self.only(&mut c, "ip");
        let range = c.text("range", self.range, 18);
        if !range.is_empty() && ip_range(&range).is_none() {
            c.fail("range", "must be an IPv4 CIDR a.b.c.d/n with n in 0-32");
        }
        c.done(Group::Ip { range })
    }
}

/// Validate a per-type route's body (its fields at the top level).
pub fn of_kind(kind: &str, g: GroupIn) -> Result<Group, Vec<FieldError>> {
    let c = Check { at: "", errors: vec![] };
    match kind {
        "password" => g.password(c),
        "token" => g.token(c),
        "jwt" => g.jwt(c),
        _ => g.ip(c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(v: Value) -> GroupIn {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn a_plain_password_is_hashed_and_a_hash_is_kept() {
        let g = flat(serde_json::json!({"type": "password", "username": "u", "password": "pw", "salt": "s"}))
            .into_group("groups.a")
            .unwrap();
        let Group::Password { password, .. } = &g else { panic!() };
        assert_eq!(password, &password_hash("s", "pw"));
        assert!(!format!("{g:?}").contains(password.as_str()), "Debug hides the hash");
        let hash = "AB".repeat(32);
        let g = flat(serde_json::json!({"type": "password", "username": "u", "password": hash, "salt": "s"}))
            .into_group("")
            .unwrap();
        assert_eq!(
            g,
            Group::Password {
                username: "u".into(),
                password: "ab".repeat(32),
                algorithm: "sha256".into(),
                salt: "s".into()
            }
        );
        assert!(g.redacted().get("password").is_none());
    }

    #[test]
    fn bad_fields_are_named_under_the_prefix() {
        let e = flat(serde_json::json!({"type": "ip", "range": "10.0.0.0/33"})).into_group("groups.x").unwrap_err();
        assert_eq!(e[0].path, "groups.x.range");
        let e = flat(serde_json::json!({"type": "token", "header": "X-A", "cookie": "c", "value": "v"}))
            .into_group("")
            .unwrap_err();
        assert_eq!(e[0].path, "header");
        let e = flat(
            serde_json::json!({"type": "jwt", "secret": "not a pem", "algorithm": "RS256", "sources": ["query:t"]}),
        )
        .into_group("")
        .unwrap_err();
        let paths: Vec<_> = e.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["secret", "sources[0]"]);
        assert!(ip_range("10.0.0.1").is_none());
        assert!(ip_range("0.0.0.0/0").is_some());
    }
}
