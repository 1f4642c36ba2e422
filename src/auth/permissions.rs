//! The permission tree an auth token carries, its five templates, and the set arithmetic that
//! attenuation needs. A JWT session holds every leaf; a token holds exactly the leaves set true.
//! Any leaf missing from a request is false (deny).

use std::sync::LazyLock;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

macro_rules! tree {
    ($( $(#[$doc:meta])* $name:ident { $($leaf:ident),* $(,)? } )*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
        #[serde(default, deny_unknown_fields)]
        pub struct $name { $(pub $leaf: bool,)* }
    )*};
}

tree! {
    ContainerActions { start, stop, restart, exec, logs }
    ContainerFeatures { ai, hoody_kit, snapshots, networking, kvm }
    ProjectMembers { invite, remove, change_roles }
    WalletPerms { read, transfer, withdraw }
    BillingPerms { read, manage_payment_methods, download_invoices }
    RentalPerms { view_marketplace, rent_servers, extend_rentals, terminate_rentals }
    ResourcePerms { vault, events, ssh_keys, storage_shares, proxy_aliases, firewalls, realms,
        auth_token_public_profile, create_tokens, read_account }
    /// Admin leaves exist in the tree, but admin endpoints refuse auth tokens whatever they hold.
    AdminPerms { users, servers, system, billing, monitoring }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ContainerPerms {
    pub create: bool,
    pub read: bool,
    pub update: bool,
    pub delete: bool,
    pub actions: ContainerActions,
    pub features: ContainerFeatures,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ProjectPerms {
    pub create: bool,
    pub read: bool,
    pub update: bool,
    pub delete: bool,
    pub members: ProjectMembers,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct FinancialPerms {
    pub wallet: WalletPerms,
    pub billing: BillingPerms,
    pub server_rental: RentalPerms,
}

/// What an auth token may do. Every leaf is a boolean; a missing one is false.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Permissions {
    pub containers: ContainerPerms,
    pub projects: ProjectPerms,
    pub financial: FinancialPerms,
    pub resources: ResourcePerms,
    pub admin: AdminPerms,
}

/// Every leaf's dotted path (`containers.actions.start`), sorted: a leaf's index is its bit.
pub static LEAVES: LazyLock<Vec<String>> = LazyLock::new(|| {
    let tree = serde_json::to_value(Permissions::default()).unwrap_or_default();
    let mut out = Vec::new();
    flatten("", &tree, &mut out);
    out.sort();
    out
});

fn flatten(prefix: &str, v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, child) in map {
                let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                flatten(&path, child, out);
            }
        }
        _ => out.push(prefix.to_owned()),
    }
}

/// A set of leaves, one bit each (the tree has fewer than 64).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PermSet(u64);

impl PermSet {
    pub fn all() -> Self {
        Self(if LEAVES.len() >= 64 { u64::MAX } else { (1u64 << LEAVES.len()) - 1 })
    }

    fn bit(leaf: &str) -> Option<u64> {
        LEAVES.binary_search_by(|l| l.as_str().cmp(leaf)).ok().map(|i| 1u64 << i)
    }

    pub fn holds(self, leaf: Leaf) -> bool {
        self.has(leaf.path())
    }

    pub fn has(self, leaf: &str) -> bool {
        Self::bit(leaf).is_some_and(|b| self.0 & b != 0)
    }

    pub fn from_leaves<'a>(leaves: impl IntoIterator<Item = &'a str>) -> Self {
        Self(leaves.into_iter().filter_map(Self::bit).fold(0, |acc, b| acc | b))
    }

    pub fn is_subset_of(self, other: Self) -> bool {
        self.0 & !other.0 == 0
    }

    /// The leaves in `self` that `other` lacks.
    pub fn beyond(self, other: Self) -> Vec<&'static str> {
        Self(self.0 & !other.0).leaves()
    }

    /// Whether the leaf at `index` of [`LEAVES`] is in the set.
    fn at(self, index: usize) -> bool {
        index < 64 && self.0 & (1u64 << index) != 0
    }

    /// The leaves held, as dotted paths (how the database keeps them).
    pub fn leaves(self) -> Vec<&'static str> {
        LEAVES.iter().enumerate().filter(|(i, _)| self.at(*i)).map(|(_, l)| l.as_str()).collect()
    }

    /// The whole tree as JSON, every leaf present (built the slow way, to check `PermTree`).
    #[cfg(test)]
    pub fn to_value(self) -> serde_json::Value {
        let mut root = serde_json::Map::new();
        for leaf in LEAVES.iter() {
            let mut node = &mut root;
            let mut parts = leaf.split('.').peekable();
            while let Some(part) = parts.next() {
                if parts.peek().is_none() {
                    node.insert(part.to_owned(), serde_json::Value::Bool(self.has(leaf)));
                } else {
                    let child = node.entry(part.to_owned()).or_insert_with(|| serde_json::json!({}));
                    let serde_json::Value::Object(map) = child else { break };
                    node = map;
                }
            }
        }
        serde_json::Value::Object(root)
    }

    pub fn from_tree(p: &Permissions) -> Self {
        Self::from_value(&serde_json::to_value(p).unwrap_or_default())
    }

    /// The leaves set true in a stored tree (anything missing or not `true` is false).
    pub fn from_value(tree: &serde_json::Value) -> Self {
        Self(LEAVES.iter().enumerate().filter(|(_, l)| lookup(tree, l)).fold(0, |acc, (i, _)| acc | (1u64 << i)))
    }
}

/// Serialises a set as the whole nested tree, straight from the sorted leaf list (no JSON
/// values built on the way).
#[derive(Debug, Clone, Copy)]
pub struct PermTree(pub PermSet);

impl Serialize for PermTree {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Node { set: self.0, prefix: "", range: 0..LEAVES.len() }.serialize(s)
    }
}

/// The subtree under `prefix` (`""` or `"containers."`). Sorted leaves keep each subtree together.
struct Node<'a> {
    set: PermSet,
    prefix: &'a str,
    /// The leaves under `prefix`: a run of [`LEAVES`], whose indexes are their bits.
    range: std::ops::Range<usize>,
}

impl Serialize for Node<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(None)?;
        let mut last: Option<&str> = None;
        let mut i = self.range.start;
        while i < self.range.end {
            let leaf = &LEAVES[i];
            let rest = &leaf[self.prefix.len()..];
            let key = rest.split('.').next().unwrap_or(rest);
            if last == Some(key) {
                i += 1;
                continue;
            }
            last = Some(key);
            if key.len() == rest.len() {
                map.serialize_entry(key, &self.set.at(i))?;
                i += 1;
            } else {
                let prefix = &leaf[..self.prefix.len() + key.len() + 1];
                let end = i + LEAVES[i..self.range.end].iter().take_while(|l| l.starts_with(prefix)).count();
                map.serialize_entry(key, &Node { set: self.set, prefix, range: i..end })?;
                i = end;
            }
        }
        map.end()
    }
}

fn lookup(v: &serde_json::Value, path: &str) -> bool {
    path.split('.').try_fold(v, |node, part| node.get(part)).and_then(serde_json::Value::as_bool).unwrap_or(false)
}

/// The templates, leaf by leaf. A prefix ending in `.` stands for every leaf under it.
/// The README's template table mirrors this one.
pub const TEMPLATES: &[(&str, &[&str])] = &[
    ("full_access", &["containers.", "projects.", "financial.", "resources."]),
    (
        "external_customer",
        &[
            "containers.read",
            "containers.actions.start",
            "containers.actions.stop",
            "containers.actions.restart",
            "containers.actions.logs",
            "projects.read",
            "resources.events",
        ],
    ),
    (
        "dev_team",
        &[
            "containers.",
            "projects.create",
            "projects.read",
            "projects.update",
            "resources.events",
            "resources.ssh_keys",
            "resources.storage_shares",
            "resources.proxy_aliases",
            "resources.firewalls",
            "resources.read_account",
        ],
    ),
    ("finance_team", &["financial.", "projects.read", "containers.read", "resources.read_account"]),
    (
        "read_only",
        &[
            "containers.read",
            "containers.actions.logs",
            "projects.read",
            "financial.wallet.read",
            "financial.billing.read",
            "financial.server_rental.view_marketplace",
            "resources.events",
            "resources.realms",
            "resources.read_account",
        ],
    ),
];

/// The leaves of a named template, or `None` for an unknown name.
pub fn template(name: &str) -> Option<PermSet> {
    let (_, entries) = TEMPLATES.iter().find(|(n, _)| *n == name)?;
    let leaves = LEAVES.iter().filter(|leaf| {
        entries.iter().any(|e| if e.ends_with('.') { leaf.starts_with(e) } else { leaf.as_str() == *e })
    });
    Some(PermSet::from_leaves(leaves.map(String::as_str)))
}

/// One leaf of the permission tree (`containers.actions.start`), as a value: the only way code
/// names a leaf (`leaf::CONTAINERS_READ`), so a misspelt one does not compile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Leaf(&'static str);

impl Leaf {
    /// Its dotted path.
    pub const fn path(self) -> &'static str {
        self.0
    }
}

impl std::fmt::Display for Leaf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

macro_rules! leaves {
    ($($name:ident = $path:literal;)*) => {
        /// Every leaf of the tree.
        pub mod leaf {
            use super::Leaf;
            $(pub const $name: Leaf = Leaf($path);)*
            /// All of them (a test checks this is the tree).
            pub const ALL: &[Leaf] = &[$($name),*];
        }
    };
}

leaves! {
    CONTAINERS_CREATE = "containers.create";
    CONTAINERS_READ = "containers.read";
    CONTAINERS_UPDATE = "containers.update";
    CONTAINERS_DELETE = "containers.delete";
    CONTAINERS_ACTIONS_START = "containers.actions.start";
    CONTAINERS_ACTIONS_STOP = "containers.actions.stop";
    CONTAINERS_ACTIONS_RESTART = "containers.actions.restart";
    CONTAINERS_ACTIONS_EXEC = "containers.actions.exec";
    CONTAINERS_ACTIONS_LOGS = "containers.actions.logs";
    CONTAINERS_FEATURES_AI = "containers.features.ai";
    CONTAINERS_FEATURES_HOODY_KIT = "containers.features.hoody_kit";
    CONTAINERS_FEATURES_SNAPSHOTS = "containers.features.snapshots";
    CONTAINERS_FEATURES_NETWORKING = "containers.features.networking";
    CONTAINERS_FEATURES_KVM = "containers.features.kvm";
    PROJECTS_CREATE = "projects.create";
    PROJECTS_READ = "projects.read";
    PROJECTS_UPDATE = "projects.update";
    PROJECTS_DELETE = "projects.delete";
    PROJECTS_MEMBERS_INVITE = "projects.members.invite";
    PROJECTS_MEMBERS_REMOVE = "projects.members.remove";
    PROJECTS_MEMBERS_CHANGE_ROLES = "projects.members.change_roles";
    FINANCIAL_WALLET_READ = "financial.wallet.read";
    FINANCIAL_WALLET_TRANSFER = "financial.wallet.transfer";
    FINANCIAL_WALLET_WITHDRAW = "financial.wallet.withdraw";
    FINANCIAL_BILLING_READ = "financial.billing.read";
    FINANCIAL_BILLING_MANAGE_PAYMENT_METHODS = "financial.billing.manage_payment_methods";
    FINANCIAL_BILLING_DOWNLOAD_INVOICES = "financial.billing.download_invoices";
    FINANCIAL_SERVER_RENTAL_VIEW_MARKETPLACE = "financial.server_rental.view_marketplace";
    FINANCIAL_SERVER_RENTAL_RENT_SERVERS = "financial.server_rental.rent_servers";
    FINANCIAL_SERVER_RENTAL_EXTEND_RENTALS = "financial.server_rental.extend_rentals";
    FINANCIAL_SERVER_RENTAL_TERMINATE_RENTALS = "financial.server_rental.terminate_rentals";
    RESOURCES_VAULT = "resources.vault";
    RESOURCES_EVENTS = "resources.events";
    RESOURCES_SSH_KEYS = "resources.ssh_keys";
    RESOURCES_STORAGE_SHARES = "resources.storage_shares";
    RESOURCES_PROXY_ALIASES = "resources.proxy_aliases";
    RESOURCES_FIREWALLS = "resources.firewalls";
    RESOURCES_REALMS = "resources.realms";
    RESOURCES_AUTH_TOKEN_PUBLIC_PROFILE = "resources.auth_token_public_profile";
    RESOURCES_CREATE_TOKENS = "resources.create_tokens";
    RESOURCES_READ_ACCOUNT = "resources.read_account";
    ADMIN_USERS = "admin.users";
    ADMIN_SERVERS = "admin.servers";
    ADMIN_SYSTEM = "admin.system";
    ADMIN_BILLING = "admin.billing";
    ADMIN_MONITORING = "admin.monitoring";
}

/// A leaf a handler requires, as a type: `Require<perm::CreateTokens>`.
pub trait RequiredLeaf {
    const LEAF: Leaf;
}

macro_rules! leaf_types {
    ($($name:ident = $leaf:ident;)*) => {
        pub mod perm {
            $(pub struct $name; impl super::RequiredLeaf for $name { const LEAF: super::Leaf = super::leaf::$leaf; })*
        }
    };
}

leaf_types! {
    CreateTokens = RESOURCES_CREATE_TOKENS;
    TokenPublicProfile = RESOURCES_AUTH_TOKEN_PUBLIC_PROFILE;
    ReadAccount = RESOURCES_READ_ACCOUNT;
    Realms = RESOURCES_REALMS;
    ProjectsCreate = PROJECTS_CREATE;
    ProjectsRead = PROJECTS_READ;
    ProjectsUpdate = PROJECTS_UPDATE;
    ContainersRead = CONTAINERS_READ;
    ContainersCreate = CONTAINERS_CREATE;
    ProxyAliases = RESOURCES_PROXY_ALIASES;
    StorageShares = RESOURCES_STORAGE_SHARES;
    WalletRead = FINANCIAL_WALLET_READ;
    WalletTransfer = FINANCIAL_WALLET_TRANSFER;
    BillingRead = FINANCIAL_BILLING_READ;
    PaymentMethods = FINANCIAL_BILLING_MANAGE_PAYMENT_METHODS;
    DownloadInvoices = FINANCIAL_BILLING_DOWNLOAD_INVOICES;
    ViewMarketplace = FINANCIAL_SERVER_RENTAL_VIEW_MARKETPLACE;
    RentServers = FINANCIAL_SERVER_RENTAL_RENT_SERVERS;
    ExtendRentals = FINANCIAL_SERVER_RENTAL_EXTEND_RENTALS;
    Events = RESOURCES_EVENTS;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tree_has_the_contracts_leaves() {
        assert_eq!(LEAVES.len(), 46);
        let mut typed: Vec<&str> = leaf::ALL.iter().map(|l| l.path()).collect();
        typed.sort();
        assert_eq!(typed, LEAVES.iter().map(String::as_str).collect::<Vec<_>>(), "leaf::ALL is the tree");
    }

    #[test]
    fn tree_and_set_round_trip() {
        let mut p = Permissions::default();
        p.containers.actions.exec = true;
        p.admin.monitoring = true;
        let set = PermSet::from_tree(&p);
        assert!(set.has("containers.actions.exec") && set.has("admin.monitoring"));
        assert!(!set.has("containers.read"));
        assert_eq!(serde_json::from_value::<Permissions>(set.to_value()).unwrap(), p);
        assert_eq!(PermSet::from_value(&PermSet::all().to_value()), PermSet::all());
        assert_eq!(PermSet::from_leaves(set.leaves()), set);
        assert_eq!(serde_json::to_value(PermTree(set)).unwrap(), set.to_value());
        assert_eq!(serde_json::to_value(PermTree(PermSet::all())).unwrap(), PermSet::all().to_value());
    }

    #[test]
    fn templates_resolve_and_never_grant_admin() {
        for (name, _) in TEMPLATES {
            let set = template(name).unwrap();
            assert!(!set.has("admin.users"), "{name}");
            assert_ne!(set, PermSet::default(), "{name}");
        }
        let full = template("full_access").unwrap();
        assert!(full.has("financial.wallet.withdraw") && full.has("resources.vault"));
        assert!(template("read_only").unwrap().is_subset_of(full));
        assert!(!template("read_only").unwrap().has("containers.create"));
        assert!(template("nope").is_none());
    }

    #[test]
    fn subset_and_beyond() {
        let a = PermSet::from_leaves(["projects.read"]);
        let b = PermSet::from_leaves(["projects.read", "projects.update"]);
        assert!(a.is_subset_of(b) && !b.is_subset_of(a));
        assert_eq!(b.beyond(a), vec!["projects.update"]);
    }
}
