//! The firewall's request and answer bodies. Ingress rules name a `source`, egress rules a
//! `destination`; every other field is shared.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::lifecycle::firewall::rules::{Direction, Rule, RuleFields};

/// One body per direction and purpose, each refusing fields it does not know.
macro_rules! rule_body {
    ($(#[$doc:meta])* $name:ident, $peer:ident, $peer_doc:literal, example = $example:tt $(, $extra:ident: $ty:ty, $extra_doc:literal)*) => {
        $(#[$doc])*
        #[derive(Debug, Deserialize, ToSchema)]
        #[serde(deny_unknown_fields)]
        #[schema(example = json!($example))]
        pub struct $name {
            $(#[doc = $extra_doc] pub $extra: $ty,)*
            /// allow | reject | drop
            pub action: Option<String>,
            /// tcp | udp | icmp4
            pub protocol: Option<String>,
            pub description: Option<String>,
            /// A port, a range (`80-90`) or a list (`80,443`); required for tcp/udp, refused for icmp4.
            pub destination_port: Option<String>,
            #[doc = $peer_doc]
            pub $peer: Option<String>,
            pub source_port: Option<String>,
            /// enabled | disabled
            pub state: Option<String>,
            /// ICMP type number (icmp4 only).
            pub icmp_type: Option<String>,
            /// ICMP code number (icmp4 only).
            pub icmp_code: Option<String>,
        }

        impl $name {
            pub fn fields(&self) -> RuleFields {
                let mut f = RuleFields {
                    action: self.action.clone(),
                    protocol: self.protocol.clone(),
                    description: self.description.clone(),
                    destination_port: self.destination_port.clone(),
                    source_port: self.source_port.clone(),
                    state: self.state.clone(),
                    icmp_type: self.icmp_type.clone(),
                    icmp_code: self.icmp_code.clone(),
                    ..Default::default()
                };
                f.$peer = self.$peer.clone();
                f
            }
        }
    };
}

rule_body!(
    /// A new ingress rule.
    FirewallIngressRuleIn, source, "Where the traffic comes from: IPv4 addresses or CIDRs (`0.0.0.0/0`: anywhere).",
    example = {"action": "allow", "protocol": "tcp", "source": "0.0.0.0/0", "destination_port": "80,443", "description": "Web"}
);
rule_body!(
    /// A new egress rule.
    FirewallEgressRuleIn, destination, "Where the traffic goes: IPv4 addresses or CIDRs (`0.0.0.0/0`: anywhere).",
    example = {"action": "allow", "protocol": "tcp", "destination": "0.0.0.0/0", "destination_port": "443", "description": "HTTPS out"}
);
rule_body!(
    /// Which ingress rules to remove: the first matching every field given, or all with `all`.
    FirewallIngressRemoveIn, source, "Source addresses to match.",
    example = {"protocol": "tcp", "source": "0.0.0.0/0", "destination_port": "80,443"},
    all: Option<bool>, "Every matching rule (alone: every ingress rule)."
);
rule_body!(
    /// Which egress rules to remove: the first matching every field given, or all with `all`.
    FirewallEgressRemoveIn, destination, "Destination addresses to match.",
    example = {"protocol": "tcp", "destination": "0.0.0.0/0", "destination_port": "443"},
    all: Option<bool>, "Every matching rule (alone: every egress rule)."
);
rule_body!(
    /// The new state of the first ingress rule matching the other fields given.
    FirewallIngressToggleIn, source, "Source addresses to match.",
    example = {"protocol": "tcp", "source": "0.0.0.0/0", "destination_port": "80,443", "state": "disabled"}
);
rule_body!(
    /// The new state of the first egress rule matching the other fields given.
    FirewallEgressToggleIn, destination, "Destination addresses to match.",
    example = {"protocol": "tcp", "destination": "0.0.0.0/0", "destination_port": "443", "state": "disabled"}
);

#[derive(Debug, Serialize, ToSchema)]
pub struct FirewallDuplicateOf {
    pub direction: Direction,
    pub index: usize,
}

/// The rule added, or the equal one already there (`duplicate: true`).
#[derive(Debug, Serialize, ToSchema)]
pub struct FirewallAddedOut {
    #[serde(flatten)]
    pub rule: Rule,
    pub duplicate: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicate_of: Option<FirewallDuplicateOf>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FirewallListedRule {
    #[serde(flatten)]
    pub rule: Rule,
    pub direction: Direction,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FirewallRulesOut {
    pub ingress: Vec<FirewallListedRule>,
    pub egress: Vec<FirewallListedRule>,
    pub rule_count: usize,
    /// The rules' stored size in bytes.
    pub byte_count: usize,
    pub max_rules: i64,
    pub max_bytes: usize,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FirewallRemovedOut {
    pub direction: Direction,
    pub removed_count: usize,
    pub removed: Vec<Rule>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FirewallToggledOut {
    pub direction: Direction,
    pub new_state: String,
    pub updated: Rule,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FirewallEmptyRules {
    pub ingress: Vec<Rule>,
    pub egress: Vec<Rule>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FirewallResetOut {
    pub rules: FirewallEmptyRules,
}
