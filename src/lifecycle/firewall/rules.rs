//! Firewall rules as the API takes and shows them, checked field by field (422 naming the
//! field), and as the host's network ACL holds them.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{error::FieldError, host::AclRule};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = FirewallDirection)]
pub enum Direction {
    Ingress,
    Egress,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ingress => "ingress",
            Self::Egress => "egress",
        }
    }

    /// The address field a rule of this direction names: where traffic comes from (ingress)
    /// or goes to (egress).
    pub fn peer_field(self) -> &'static str {
        match self {
            Self::Ingress => "source",
            Self::Egress => "destination",
        }
    }
}

/// One rule as stored and shown. `source` only on ingress rules, `destination` only on egress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = FirewallRule)]
pub struct Rule {
    /// allow | reject | drop
    pub action: String,
    /// tcp | udp | icmp4
    pub protocol: String,
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination_port: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_port: Option<String>,
    /// enabled | disabled
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icmp_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icmp_code: Option<String>,
}

/// The fields a request may give for a rule (a new one, or a filter that selects rules).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RuleFields {
    pub action: Option<String>,
    pub protocol: Option<String>,
    pub description: Option<String>,
    pub destination_port: Option<String>,
    pub source: Option<String>,
    pub destination: Option<String>,
    pub source_port: Option<String>,
    pub state: Option<String>,
    pub icmp_type: Option<String>,
    pub icmp_code: Option<String>,
}

const ACTIONS: [&str; 3] = ["allow", "reject", "drop"];
const PROTOCOLS: [&str; 3] = ["tcp", "udp", "icmp4"];
const STATES: [&str; 2] = ["enabled", "disabled"];
/// Items in one port or address list.
const MAX_ITEMS: usize = 16;
const MAX_DESCRIPTION: usize = 255;

fn one_of(errors: &mut Vec<FieldError>, field: &str, v: &str, allowed: &[&str]) -> String {
    let v = v.trim().to_ascii_lowercase();
    if !allowed.contains(&v.as_str()) {
        errors.push(FieldError::new(field, format!("must be one of {}", allowed.join(", "))));
    }
    v
}

/// `80`, `80-90`, `80,443,8000-8080`: ascending ranges within 1–65535, normalised (no spaces).
pub fn ports(field: &str, v: &str) -> Result<String, FieldError> {
    let bad = |m: &str| FieldError::new(field, m.to_owned());
    let items: Vec<&str> = v.split(',').map(str::trim).collect();
    if items.is_empty() || items.len() > MAX_ITEMS {
        return Err(bad(&format!("give 1 to {MAX_ITEMS} ports or ranges")));
    }
    let port = |s: &str| -> Result<u16, FieldError> {
        match s.parse::<u32>() {
            Ok(p) if (1..=65535).contains(&p) && s.bytes().all(|b| b.is_ascii_digit()) => Ok(p as u16),
            _ => Err(bad("ports are numbers from 1 to 65535, as `80`, `80-90` or `80,443`")),
        }
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        match item.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (port(a.trim())?, port(b.trim())?);
                if a >= b {
                    return Err(bad("a range goes from the lower port to the higher, as `80-90`"));
                }
                out.push(format!("{a}-{b}"));
            }
            None => out.push(port(item)?.to_string()),
        }
    }
    Ok(out.join(","))
}

/// IPv4 addresses or CIDRs, comma separated, normalised (`10.0.0.1`, `10.0.0.0/24`).
pub fn addresses(field: &str, v: &str) -> Result<String, FieldError> {
    let bad = || FieldError::new(field, "must be IPv4 addresses or CIDR ranges (`10.0.0.0/24`), comma separated");
    let items: Vec<&str> = v.split(',').map(str::trim).collect();
    if items.is_empty() || items.len() > MAX_ITEMS {
        return Err(bad());
    }
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        match item.split_once('/') {
            Some((addr, len)) => {
                let addr: Ipv4Addr = addr.parse().map_err(|_| bad())?;
                let len: u8 =
                    len.parse().ok().filter(|l| *l <= 32 && len.bytes().all(|b| b.is_ascii_digit())).ok_or_else(bad)?;
                out.push(format!("{addr}/{len}"));
            }
            None => out.push(item.parse::<Ipv4Addr>().map_err(|_| bad())?.to_string()),
        }
    }
    Ok(out.join(","))
}

fn icmp_number(field: &str, v: &str) -> Result<String, FieldError> {
    match v.trim().parse::<u8>() {
        Ok(n) if v.trim().bytes().all(|b| b.is_ascii_digit()) => Ok(n.to_string()),
        _ => Err(FieldError::new(field, "must be a number from 0 to 255")),
    }
}

/// What the given fields say, each checked and normalised; `None` where not given. The field of
/// the other direction (`destination` on ingress, `source` on egress) is refused.
pub fn normalise(dir: Direction, f: &RuleFields) -> Result<RuleFields, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut out = RuleFields::default();
    let other = match dir {
        Direction::Ingress => ("destination", &f.destination),
        Direction::Egress => ("source", &f.source),
    };
    if other.1.is_some() {
        errors.push(FieldError::new(
            other.0,
            format!("{} rules name `{}`, not `{}`", dir.as_str(), dir.peer_field(), other.0),
        ));
    }
    out.action = f.action.as_deref().map(|v| one_of(&mut errors, "action", v, &ACTIONS));
    out.protocol = f.protocol.as_deref().map(|v| one_of(&mut errors, "protocol", v, &PROTOCOLS));
    out.state = f.state.as_deref().map(|v| one_of(&mut errors, "state", v, &STATES));
    if let Some(d) = &f.description {
        if d.chars().count() > MAX_DESCRIPTION || d.chars().any(char::is_control) {
            errors.push(FieldError::new(
                "description",
                format!("at most {MAX_DESCRIPTION} characters, no control characters"),
            ));
        }
        out.description = Some(d.trim().to_owned());
    }
    let mut take = |field: &str, v: &Option<String>, check: fn(&str, &str) -> Result<String, FieldError>| {
        v.as_deref().and_then(|v| check(field, v).map_err(|e| errors.push(e)).ok())
    };
    out.destination_port = take("destination_port", &f.destination_port, ports);
    out.source_port = take("source_port", &f.source_port, ports);
    out.source = if dir == Direction::Ingress { take("source", &f.source, addresses) } else { None };
    out.destination = if dir == Direction::Egress { take("destination", &f.destination, addresses) } else { None };
    out.icmp_type = take("icmp_type", &f.icmp_type, icmp_number);
    out.icmp_code = take("icmp_code", &f.icmp_code, icmp_number);
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// A new rule: `action`, `protocol` and `description` required; ports required for tcp/udp
/// and refused for icmp4, icmp type/code only for icmp4.
pub fn new_rule(dir: Direction, f: &RuleFields) -> Result<Rule, Vec<FieldError>> {
    let n = normalise(dir, f)?;
    let mut errors = Vec::new();
    for (field, v) in [("action", &n.action), ("protocol", &n.protocol), ("description", &n.description)] {
        if v.is_none() {
            errors.push(FieldError::new(field, "is required"));
        }
    }
    match n.protocol.as_deref() {
        Some("icmp4") => {
            for (field, v) in [("destination_port", &n.destination_port), ("source_port", &n.source_port)] {
                if v.is_some() {
                    errors.push(FieldError::new(field, "icmp4 rules have no ports"));
                }
            }
            if n.icmp_code.is_some() && n.icmp_type.is_none() {
                errors.push(FieldError::new("icmp_code", "needs icmp_type"));
            }
        }
        Some(_) => {
            if n.destination_port.is_none() {
                errors.push(FieldError::new("destination_port", "is required for tcp and udp rules"));
            }
            for (field, v) in [("icmp_type", &n.icmp_type), ("icmp_code", &n.icmp_code)] {
                if v.is_some() {
                    errors.push(FieldError::new(field, "only icmp4 rules have an icmp type or code"));
                }
            }
        }
        None => {}
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Rule {
        action: n.action.unwrap_or_default(),
        protocol: n.protocol.unwrap_or_default(),
        description: n.description.unwrap_or_default(),
        destination_port: n.destination_port,
        source: n.source,
        destination: n.destination,
        source_port: n.source_port,
        state: n.state.unwrap_or_else(|| "enabled".into()),
        icmp_type: n.icmp_type,
        icmp_code: n.icmp_code,
    })
}

impl RuleFields {
    /// Nothing to match on (every field absent; `state` aside when `with_state` is false).
    pub fn is_empty(&self, with_state: bool) -> bool {
        [
            &self.action,
            &self.protocol,
            &self.description,
            &self.destination_port,
            &self.source,
            &self.destination,
            &self.source_port,
            &self.icmp_type,
            &self.icmp_code,
        ]
        .iter()
        .all(|v| v.is_none())
            && (!with_state || self.state.is_none())
    }

    /// `rule` has every field given here (normalised values compared); `state` only when
    /// `with_state`.
    pub fn matches(&self, rule: &Rule, with_state: bool) -> bool {
        let eq = |want: &Option<String>, have: &Option<String>| want.is_none() || want == have;
        let eq1 = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        eq1(&self.action, &rule.action)
            && eq1(&self.protocol, &rule.protocol)
            && eq1(&self.description, &rule.description)
            && eq(&self.destination_port, &rule.destination_port)
            && eq(&self.source, &rule.source)
            && eq(&self.destination, &rule.destination)
            && eq(&self.source_port, &rule.source_port)
            && eq(&self.icmp_type, &rule.icmp_type)
            && eq(&self.icmp_code, &rule.icmp_code)
            && (!with_state || eq1(&self.state, &rule.state))
    }
}

impl Rule {
    /// The same traffic and verdict (description and state aside): adding it again changes nothing.
    pub fn same_as(&self, other: &Rule) -> bool {
        self.action == other.action
            && self.protocol == other.protocol
            && self.destination_port == other.destination_port
            && self.source == other.source
            && self.destination == other.destination
            && self.source_port == other.source_port
            && self.icmp_type == other.icmp_type
            && self.icmp_code == other.icmp_code
    }

    /// The rule in the host ACL's own fields.
    pub fn to_acl(&self) -> AclRule {
        let mut r = AclRule::new();
        r.insert("action".into(), self.action.clone());
        r.insert("protocol".into(), self.protocol.clone());
        r.insert("state".into(), self.state.clone());
        if !self.description.is_empty() {
            r.insert("description".into(), self.description.clone());
        }
        for (k, v) in [
            ("destination_port", &self.destination_port),
            ("source", &self.source),
            ("destination", &self.destination),
            ("source_port", &self.source_port),
            ("icmp_type", &self.icmp_type),
            ("icmp_code", &self.icmp_code),
        ] {
            if let Some(v) = v {
                r.insert(k.into(), v.clone());
            }
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_normalised_and_bounded() {
        assert_eq!(ports("p", "80").unwrap(), "80");
        assert_eq!(ports("p", " 80 , 443,8000-8080").unwrap(), "80,443,8000-8080");
        for bad in ["", "0", "65536", "90-80", "80-80", "a", "80,", "-1", "+80", "1e3", "80-90-100"] {
            assert!(ports("p", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn addresses_are_ipv4_and_cidr() {
        assert_eq!(addresses("a", "10.0.0.0/24, 1.2.3.4").unwrap(), "10.0.0.0/24,1.2.3.4");
        for bad in ["", "10.0.0.0/33", "300.1.1.1", "::1", "10.0.0.0/", "10.0.0.0/+8", "host"] {
            assert!(addresses("a", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_new_rule_needs_ports_for_tcp_and_none_for_icmp() {
        let f = |p: &str, port: Option<&str>| RuleFields {
            action: Some("reject".into()),
            protocol: Some(p.into()),
            description: Some("d".into()),
            destination_port: port.map(Into::into),
            ..Default::default()
        };
        assert!(new_rule(Direction::Egress, &f("tcp", Some("80"))).is_ok());
        assert_eq!(new_rule(Direction::Egress, &f("tcp", None)).unwrap_err()[0].path, "destination_port");
        assert_eq!(new_rule(Direction::Egress, &f("icmp4", Some("80"))).unwrap_err()[0].path, "destination_port");
        assert_eq!(new_rule(Direction::Egress, &f("sctp", Some("80"))).unwrap_err()[0].path, "protocol");
        let rule = new_rule(Direction::Egress, &f("TCP", Some("80"))).unwrap();
        assert_eq!((rule.protocol.as_str(), rule.state.as_str()), ("tcp", "enabled"));
    }
}
