//! The reference evaluator: what a container's documents decide for one request. The edge
//! proxy applies the same rules; `POST /containers/{id}/proxy/explain` answers with this, and
//! the property tests hold the documents to what they say through it.
//!
//! The effective document is the container's merged over its project's:
//! - the switch: the container's own `enable_proxy` when it sets one, else the project's
//!   (true when neither does). Off denies before any group, rule or default;
//! - groups: both documents' groups, each with its own document's rules. A name in both is two
//!   groups, not one: a project rule never reaches a container group (nor the reverse), so the
//!   project cannot change what a container rule gives, and removing a group (from either
//!   document) only ever takes a way in away;
//! - the default: the container document's when it has one, else the project's, else allow.
//!
//! A request is allowed when some group whose credentials it carries has a rule for the
//! program that takes the requested instance or port; otherwise the default decides.

use std::{collections::BTreeMap, net::Ipv4Addr};

use base64::Engine;
use serde::Serialize;
use serde_json::{Map, Value};
use subtle::ConstantTimeEq;
use utoipa::ToSchema;

use super::{
    doc::{Document, Policy},
    group::{ip_range, password_hash, Group, JwtAlgorithm},
};

/// Which document a group or rule came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    Container,
    Project,
}

/// A group with the document it is from and that document's rules for it.
#[derive(Debug, Clone)]
pub struct Member {
    pub name: String,
    pub group: Group,
    pub origin: Origin,
    pub rules: BTreeMap<String, Value>,
}

/// The two documents merged as the edge applies them: the container's groups first.
#[derive(Debug, Clone)]
pub struct Effective {
    pub enable_proxy: bool,
    pub default: Policy,
    pub groups: Vec<Member>,
}

pub fn merge(container: Option<&Document>, project: Option<&Document>) -> Effective {
    let enable_proxy =
        container.and_then(|c| c.enable_proxy).or_else(|| project.and_then(|p| p.enable_proxy)).unwrap_or(true);
    let default = container.or(project).map_or(Policy::Allow, |d| d.default);
    let mut groups = Vec::new();
    for (doc, origin) in [(container, Origin::Container), (project, Origin::Project)] {
        let Some(doc) = doc else { continue };
        for (name, g) in &doc.groups {
            let rules = doc.permissions.get(name).cloned().unwrap_or_default();
            groups.push(Member { name: name.clone(), group: g.clone(), origin, rules });
        }
    }
    Effective { enable_proxy, default, groups }
}

impl Effective {
    /// Each group's rule for one program, as a debugging view shows it (by name, the
    /// container's over the project's).
    pub fn rules_for(&self, program: &str) -> BTreeMap<String, Value> {
        let mut out = BTreeMap::new();
        for m in self.groups.iter().rev() {
            if let Some(r) = m.rules.get(program) {
                out.insert(m.name.clone(), r.clone());
            }
        }
        out
    }
}

/// One request as the edge sees it. Header and cookie names are matched without case for
/// headers, exactly for cookies and query parameters. Its `Debug` shows no header, cookie or
/// query value (they carry credentials).
#[derive(Clone, Default)]
pub struct Request {
    pub program: String,
    /// The program's instance or port (`None`: the program has none).
    pub instance: Option<u32>,
    pub client_ip: Option<Ipv4Addr>,
    pub headers: BTreeMap<String, String>,
    pub cookies: BTreeMap<String, String>,
    pub query: BTreeMap<String, String>,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("program", &self.program)
            .field("instance", &self.instance)
            .field("client_ip", &self.client_ip)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("cookies", &self.cookies.keys().collect::<Vec<_>>())
            .field("query", &self.query.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The switch is off: nothing else is looked at.
    ProxyDisabled,
    /// A group the request belongs to has a rule taking it.
    Rule,
    /// No group's rule took it: the default decided.
    Default,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Decision {
    /// `allow` or `deny`.
    pub decision: Policy,
    pub reason: Reason,
    /// The group whose rule allowed the request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// That rule, and the document it is from.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<serde_json::Value>)]
    pub rule: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
    /// Every group whose credentials the request carries.
    pub matched_groups: Vec<String>,
    pub enable_proxy: bool,
    pub default: Policy,
}

/// Equal, in time that depends on neither value nor on either length (their digests are
/// compared).
fn same(a: &[u8], b: &[u8]) -> bool {
    use sha2::{Digest, Sha256};
    let (a, b): ([u8; 32], [u8; 32]) = (Sha256::digest(a).into(), Sha256::digest(b).into());
    bool::from(a.ct_eq(&b))
}

fn basic(req: &Request) -> Option<(String, String)> {
    let v = req.header("authorization")?;
    let (scheme, rest) = v.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD.decode(rest.trim()).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (u, p) = text.split_once(':')?;
    Some((u.to_owned(), p.to_owned()))
}

fn jwt_ok(
    req: &Request,
    secret: &str,
    algorithm: JwtAlgorithm,
    sources: &[String],
    claims: &BTreeMap<String, Value>,
) -> bool {
    use jsonwebtoken::{decode, Algorithm, DecodingKey, Validation};
    let (alg, key) = match algorithm {
        JwtAlgorithm::HS256 => (Algorithm::HS256, Ok(DecodingKey::from_secret(secret.as_bytes()))),
        JwtAlgorithm::RS256 => (Algorithm::RS256, DecodingKey::from_rsa_pem(secret.as_bytes())),
        JwtAlgorithm::ES256 => (Algorithm::ES256, DecodingKey::from_ec_pem(secret.as_bytes())),
    };
    let Ok(key) = key else { return false };
    // The algorithm is the group's, whatever the token's header says; `exp` is required and
    // checked (no leeway).
    let mut v = Validation::new(alg);
    v.leeway = 0;
    v.validate_nbf = true;
    v.validate_aud = false;
    let tokens = sources.iter().filter_map(|s| {
        let (place, name) = s.split_once(':')?;
        let raw = match place {
            "header" => req.header(name)?,
            "cookie" => req.cookies.get(name)?.as_str(),
            _ => return None,
        };
        let raw = raw.trim();
        Some(raw.strip_prefix("Bearer ").or_else(|| raw.strip_prefix("bearer ")).unwrap_or(raw).to_owned())
    });
    for token in tokens {
        let Ok(data) = decode::<Map<String, Value>>(&token, &key, &v) else { continue };
        if claims.iter().all(|(k, want)| data.claims.get(k) == Some(want)) {
            return true;
        }
    }
    false
}

/// The request carries the group's credentials.
pub fn member(g: &Group, req: &Request) -> bool {
    match g {
        Group::Password { username, password, salt, .. } => basic(req).is_some_and(|(u, p)| {
            let hash = password_hash(salt, &p);
            same(u.as_bytes(), username.as_bytes()) & same(hash.as_bytes(), password.as_bytes())
        }),
        Group::Token { header, cookie, param, value } => {
            let given = if let Some(h) = header {
                req.header(h)
            } else if let Some(c) = cookie {
                req.cookies.get(c).map(String::as_str)
            } else {
                param.as_ref().and_then(|p| req.query.get(p)).map(String::as_str)
            };
            given.is_some_and(|v| same(v.as_bytes(), value.as_bytes()))
        }
        Group::Jwt { secret, algorithm, sources, claims } => jwt_ok(req, secret, *algorithm, sources, claims),
        Group::Ip { range } => match (ip_range(range), req.client_ip) {
            (Some(net), Some(ip)) => net.contains(&ip),
            _ => false,
        },
    }
}

fn in_list(s: &str, n: u32) -> bool {
    s.split(',').any(|part| match part.trim().split_once('-') {
        None => part.trim().parse::<u32>().ok() == Some(n),
        Some((a, b)) => matches!((a.parse::<u32>(), b.parse::<u32>()), (Ok(a), Ok(b)) if a <= n && n <= b),
    })
}

/// A rule takes the instance: `true` and `"*"` every one, `false` none, numbers and lists
/// the ones they name (a request with no instance only by `true`/`"*"`).
pub fn takes(rule: &Value, instance: Option<u32>) -> bool {
    match (rule, instance) {
        (Value::Bool(b), _) => *b,
        (Value::String(s), _) if s == "*" => true,
        (_, None) => false,
        (Value::Number(n), Some(i)) => n.as_u64() == Some(u64::from(i)),
        (Value::Array(a), Some(i)) => a.iter().any(|n| n.as_u64() == Some(u64::from(i))),
        (Value::String(s), Some(i)) => in_list(s, i),
        _ => false,
    }
}

pub fn evaluate(e: &Effective, req: &Request) -> Decision {
    let base = |decision, reason| Decision {
        decision,
        reason,
        group: None,
        rule: None,
        origin: None,
        matched_groups: vec![],
        enable_proxy: e.enable_proxy,
        default: e.default,
    };
    if !e.enable_proxy {
        return base(Policy::Deny, Reason::ProxyDisabled);
    }
    let matched: Vec<&Member> = e.groups.iter().filter(|m| member(&m.group, req)).collect();
    let mut d = base(e.default, Reason::Default);
    d.matched_groups = matched.iter().map(|m| m.name.clone()).collect();
    for m in matched {
        if let Some(rule) = m.rules.get(&req.program) {
            if takes(rule, req.instance) {
                d.decision = Policy::Allow;
                d.reason = Reason::Rule;
                d.group = Some(m.name.clone());
                d.rule = Some(rule.clone());
                d.origin = Some(m.origin);
                return d;
            }
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    const PROGRAMS: [&str; 3] = ["http", "ssh", "files"];

    fn rule() -> impl Strategy<Value = Value> {
        prop_oneof![
            any::<bool>().prop_map(Value::from),
            (1u32..6).prop_map(|n| json!(n)),
            prop::collection::vec(1u32..6, 1..3).prop_map(|v| json!(v)),
            Just(json!("*")),
            (1u32..4, 3u32..6).prop_map(|(a, b)| json!(format!("{a}-{b}"))),
        ]
    }

    fn group() -> impl Strategy<Value = Group> {
        prop_oneof![
            (0u8..4, 30u8..=32).prop_map(|(b, len)| Group::Ip { range: format!("10.0.0.{b}/{len}") }),
            (0u8..3).prop_map(|v| Group::Token {
                header: Some("x-t".into()),
                cookie: None,
                param: None,
                value: format!("t{v}")
            }),
        ]
    }

    fn doc() -> impl Strategy<Value = Document> {
        (
            prop::collection::btree_map(0usize..4, group(), 0..4),
            prop::collection::btree_map(0usize..4, prop::collection::btree_map(0usize..3, rule(), 0..3), 0..4),
            any::<bool>(),
            prop::option::of(any::<bool>()),
        )
            .prop_map(|(groups, rules, allow, enable_proxy)| {
                let mut d = Document::empty();
                d.groups = groups.into_iter().map(|(k, g)| (format!("g{k}"), g)).collect();
                d.permissions = rules
                    .into_iter()
                    .map(|(k, p)| (format!("g{k}"), p.into_iter().map(|(i, r)| (PROGRAMS[i].to_owned(), r)).collect()))
                    .filter(|(k, p): &(String, BTreeMap<String, Value>)| d.groups.contains_key(k) && !p.is_empty())
                    .collect();
                d.default = if allow { Policy::Allow } else { Policy::Deny };
                d.enable_proxy = enable_proxy;
                d
            })
    }

    fn request() -> impl Strategy<Value = Request> {
        (0usize..3, prop::option::of(1u32..6), 0u8..5, prop::option::of(0u8..4)).prop_map(|(p, instance, ip, token)| {
            Request {
                program: PROGRAMS[p].to_owned(),
                instance,
                client_ip: Some(Ipv4Addr::new(10, 0, 0, ip)),
                headers: token.map(|t| ("X-T".to_owned(), format!("t{t}"))).into_iter().collect(),
                ..Request::default()
            }
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn deny_with_no_matching_group_denies(mut d in doc(), req in request()) {
            d.default = Policy::Deny;
            d.enable_proxy = Some(true);
            // The groups the request belongs to, worked out apart from the evaluator.
            let members = d.groups.values().filter(|g| match g {
                Group::Ip { range } => ip_range(range).is_some_and(|n| req.client_ip.is_some_and(|ip| n.contains(&ip))),
                Group::Token { value, .. } => req.headers.get("X-T") == Some(value),
                _ => false,
            }).count();
            let out = evaluate(&merge(Some(&d), None), &req);
            if members == 0 {
                prop_assert_eq!(out.decision, Policy::Deny);
                prop_assert_eq!(out.reason, Reason::Default);
            }
            prop_assert_eq!(out.matched_groups.len(), members);
        }

        #[test]
        fn removing_a_group_never_widens_access(d in doc(), p in prop::option::of(doc()), req in request(), pick in 0usize..4) {
            let before = evaluate(&merge(Some(&d), p.as_ref()), &req);
            let mut less = d.clone();
            less.remove_group(&format!("g{pick}"));
            let after = evaluate(&merge(Some(&less), p.as_ref()), &req);
            if after.decision == Policy::Allow {
                prop_assert_eq!(before.decision, Policy::Allow, "{:?} widened to {:?}", before, after);
            }
        }

        #[test]
        fn the_project_never_overrides_a_container_rule(c in doc(), p in doc(), other in doc(), req in request()) {
            // Whatever the project document says (its groups, rules, even ones of the same
            // names as the container's, and its default), what the container's own rules allow
            // stays allowed, and the container's default is the one that applies.
            let mut changed = other;
            changed.enable_proxy = p.enable_proxy;
            let before = evaluate(&merge(Some(&c), Some(&p)), &req);
            let after = evaluate(&merge(Some(&c), Some(&changed)), &req);
            prop_assert_eq!(before.default, c.default);
            prop_assert_eq!(after.default, c.default);
            if before.decision == Policy::Allow && before.origin == Some(Origin::Container) {
                prop_assert_eq!(after.decision, Policy::Allow, "{:?} then {:?}", before, after);
                prop_assert_eq!(after.origin, Some(Origin::Container));
            }
        }

        #[test]
        fn removing_a_project_group_never_widens_access(c in prop::option::of(doc()), p in doc(), req in request(), pick in 0usize..4) {
            let before = evaluate(&merge(c.as_ref(), Some(&p)), &req);
            let mut less = p.clone();
            less.remove_group(&format!("g{pick}"));
            let after = evaluate(&merge(c.as_ref(), Some(&less)), &req);
            if after.decision == Policy::Allow {
                prop_assert_eq!(before.decision, Policy::Allow, "{:?} widened to {:?}", before, after);
            }
        }

        #[test]
        fn a_disabled_project_cuts_containers_that_leave_the_switch_unset(mut c in doc(), mut p in doc(), req in request()) {
            p.enable_proxy = Some(false);
            c.enable_proxy = None;
            prop_assert_eq!(evaluate(&merge(Some(&c), Some(&p)), &req).reason, Reason::ProxyDisabled);
            prop_assert_eq!(evaluate(&merge(None, Some(&p)), &req).decision, Policy::Deny);
            // A container that sets it on stays reachable as if the project were on.
            c.enable_proxy = Some(true);
            let on = evaluate(&merge(Some(&c), Some(&p)), &req);
            p.enable_proxy = Some(true);
            prop_assert_eq!(on, evaluate(&merge(Some(&c), Some(&p)), &req));
        }
    }

    fn hs256(claims: Value, secret: &str) -> String {
        use jsonwebtoken::{encode, EncodingKey, Header};
        encode(&Header::default(), &claims, &EncodingKey::from_secret(secret.as_bytes())).unwrap()
    }

    #[test]
    fn credentials_are_checked_as_the_edge_checks_them() {
        let pw = Group::Password {
            username: "ann".into(),
            password: password_hash("s", "pw"),
            algorithm: "sha256".into(),
            salt: "s".into(),
        };
        let basic = |u: &str, p: &str| Request {
            headers: [(
                "Authorization".to_owned(),
                format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))),
            )]
            .into(),
            ..Request::default()
        };
        assert!(member(&pw, &basic("ann", "pw")));
        assert!(!member(&pw, &basic("ann", "pW")));
        assert!(!member(&pw, &basic("bob", "pw")));
        let exp = chrono::Utc::now().timestamp() + 600;
        let jwt = Group::Jwt {
            secret: "k".into(),
            algorithm: JwtAlgorithm::HS256,
            sources: vec!["header:Authorization".into(), "cookie:session".into()],
            claims: [("role".to_owned(), json!("admin"))].into(),
        };
        let with = |t: String| Request { cookies: [("session".to_owned(), t)].into(), ..Request::default() };
        assert!(member(&jwt, &with(hs256(json!({"role": "admin", "exp": exp}), "k"))));
        assert!(!member(&jwt, &with(hs256(json!({"role": "user", "exp": exp}), "k"))), "claims match exactly");
        assert!(!member(&jwt, &with(hs256(json!({"role": "admin", "exp": exp}), "other"))), "signature");
        assert!(!member(&jwt, &with(hs256(json!({"role": "admin", "exp": exp - 1200}), "k"))), "expired");
        assert!(!member(&jwt, &with(hs256(json!({"role": "admin"}), "k"))), "no expiry");
        let bearer = Request {
            headers: [(
                "authorization".to_owned(),
                format!("Bearer {}", hs256(json!({"role": "admin", "exp": exp}), "k")),
            )]
            .into(),
            ..Request::default()
        };
        assert!(member(&jwt, &bearer));
        let tok = Group::Token { header: None, cookie: None, param: Some("key".into()), value: "v1".into() };
        assert!(member(&tok, &Request { query: [("key".to_owned(), "v1".to_owned())].into(), ..Request::default() }));
        assert!(!member(&tok, &Request { query: [("key".to_owned(), "v12".to_owned())].into(), ..Request::default() }));
    }

    #[test]
    fn rules_take_the_instances_they_name() {
        assert!(takes(&json!("80,8000-8100"), Some(8050)));
        assert!(!takes(&json!("80,8000-8100"), Some(81)));
        assert!(takes(&json!([3, 4]), Some(4)));
        assert!(!takes(&json!(3), None));
        assert!(takes(&json!("*"), None));
        assert!(!takes(&json!(false), Some(1)));
    }
}
