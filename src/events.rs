//! Events: one row per change, written by [`publish`] inside the transaction of the change it
//! describes, so an event exists exactly when its change committed.
//!
//! Order: a row's `id` is taken at insert, which is not commit order (a transaction that
//! inserted first may commit last). Rows are numbered (`seq`) after they commit, by one numbering
//! transaction at a time ([`number_pending`], run by [`run_numberer`] on every replica and
//! serialised by an advisory lock), in the order they became visible. A reader that has seen
//! `seq = s` will only ever see later rows with `seq > s`: `?after=<seq>` and the socket stream
//! read one ordered stream with no gaps, across replicas. Publishing notifies `event_written`
//! (delivered at commit); numbering notifies `events` with the highest number given.

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use sqlx::{postgres::PgListener, PgPool, Postgres, Transaction};
use utoipa::ToSchema;

pub use crate::db::events::EventRow;
use crate::{db::events, shutdown::Stop};

/// The transaction an event is published in.
pub type Tx = Transaction<'static, Postgres>;

/// The channel numbered events are announced on (payload: the highest `seq` given).
pub const CHANNEL: &str = "events";
/// The channel that wakes the numberer (sent by every publish, delivered at commit).
const WRITTEN: &str = "event_written";

macro_rules! kinds {
    ($( $(#[$doc:meta])* $variant:ident = $wire:literal, )*) => {
        /// An event's type, as the contract's clients know it (`container.running`, …).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
        pub enum EventKind {
            $( $(#[$doc])* #[serde(rename = $wire)] $variant, )*
        }

        impl EventKind {
            pub const ALL: &'static [EventKind] = &[$(Self::$variant),*];

            /// The wire string.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $wire,)* }
            }

            pub fn parse(s: &str) -> Option<Self> {
                match s { $($wire => Some(Self::$variant),)* _ => None }
            }
        }
    };
}

kinds! {
    ContainerCreating = "container.creating",
    ContainerRunning = "container.running",
    ContainerStopped = "container.stopped",
    ContainerFailed = "container.failed",
    ContainerDeleting = "container.deleting",
    ContainerDeleted = "container.deleted",
    ContainerAutostartEnabled = "container.autostart_enabled",
    ContainerAutostartDisabled = "container.autostart_disabled",
    ContainerRenamed = "container.renamed",
    ContainerResourceUpdated = "container.resource_updated",
    ContainerSshKeyAdded = "container.ssh_key.added",
    ContainerSshKeyRemoved = "container.ssh_key.removed",
    ContainerSnapshotCreated = "container.snapshot.created",
    ContainerSnapshotDeleted = "container.snapshot.deleted",
    ContainerSnapshotRestored = "container.snapshot.restored",
    ContainerSnapshotRenamed = "container.snapshot.renamed",
    ContainerDisplayEnabled = "container.display.enabled",
    StorageShareCreated = "storage.share.created",
    StorageShareUpdated = "storage.share.updated",
    StorageShareDeleted = "storage.share.deleted",
    StorageShareEnabled = "storage.share.enabled",
    StorageShareDisabled = "storage.share.disabled",
    StorageShareExpiringSoon = "storage.share.expiring_soon",
    StorageShareExpired = "storage.share.expired",
    StorageShareMountChanged = "storage.share.mount_changed",
    NotificationCreated = "notification.created",
    NotificationRead = "notification.read",
    NotificationDeleted = "notification.deleted",
    ProjectCreated = "project.created",
    ProjectUpdated = "project.updated",
    ProjectDeleted = "project.deleted",
    ServerCreated = "server.created",
    ServerUpdated = "server.updated",
    ServerEnabled = "server.enabled",
    ServerDisabled = "server.disabled",
    ServerHealthChanged = "server.health_changed",
    ServerRentalExpiring = "server.rental_expiring",
    FirewallRuleAdded = "firewall.rule.added",
    FirewallRuleRemoved = "firewall.rule.removed",
    FirewallRuleUpdated = "firewall.rule.updated",
    FirewallRuleEnabled = "firewall.rule.enabled",
    FirewallRuleDisabled = "firewall.rule.disabled",
    ProxyAliasCreated = "proxy.alias.created",
    ProxyAliasUpdated = "proxy.alias.updated",
    ProxyAliasDeleted = "proxy.alias.deleted",
    ProxyAliasEnabled = "proxy.alias.enabled",
    ProxyAliasDisabled = "proxy.alias.disabled",
    ProxyAliasExpiringSoon = "proxy.alias.expiring_soon",
    ProxyAliasExpired = "proxy.alias.expired",
    ProxyPermissionsUpdated = "proxy.permissions.updated",
    ProxyPermissionsDefaultChanged = "proxy.permissions.default_changed",
    ProxyPermissionsGroupAdded = "proxy.permissions.group_added",
    ProxyPermissionsGroupUpdated = "proxy.permissions.group_updated",
    ProxyPermissionsGroupRemoved = "proxy.permissions.group_removed",
    AuthTokenCreated = "auth.token.created",
    AuthTokenUpdated = "auth.token.updated",
    AuthTokenDeleted = "auth.token.deleted",
    AuthTokenEnabled = "auth.token.enabled",
    AuthTokenDisabled = "auth.token.disabled",
    PoolMemberJoined = "pool.member.joined",
    PoolMemberLeft = "pool.member.left",
    PoolMemberRoleChanged = "pool.member.role_changed",
    PoolInvited = "pool.invited",
    PoolInvitationRevoked = "pool.invitation_revoked",
    UserCreated = "user.created",
    UserBanned = "user.banned",
    UserUnbanned = "user.unbanned",
    UserRoleChanged = "user.role_changed",
    ActivityLogged = "activity.logged",
    // Beyond the contract's list: statuses and changes it has no word for.
    /// A container was frozen (`pause`).
    ContainerPaused = "container.paused",
    /// A container is being copied into (a copy, or a sync from its source).
    ContainerCopying = "container.copying",
    /// A prespawned container is being taken over by a create.
    ContainerClaiming = "container.claiming",
    ContainerNetworkUpdated = "container.network.updated",
    ContainerNetworkStarted = "container.network.started",
    ContainerNetworkStopped = "container.network.stopped",
    ContainerNetworkRemoved = "container.network.removed",
    ContainerEnvUpdated = "container.env.updated",
    ProjectPermissionGranted = "project.permission.granted",
    ProjectPermissionUpdated = "project.permission.updated",
    ProjectPermissionRevoked = "project.permission.revoked",
    /// A server was rented (its renter's).
    ServerRented = "server.rented",
    ServerRentalExtended = "server.rental_extended",
    /// A rental ended: its containers on the server were stopped.
    ServerRentalExpired = "server.rental_expired",
    /// A vault key was written (its data: key, realm and version; never the value).
    VaultKeySet = "vault.key.set",
    VaultKeyDeleted = "vault.key.deleted",
    /// Every key of one realm's vault (or the global scope's) was deleted.
    VaultCleared = "vault.cleared",
    /// A money movement of the user's (written by the ledger's trigger, in the movement's
    /// transaction): `{transaction_id, kind, status, amount_cents, reason}`.
    WalletTransaction = "wallet.transaction",
    /// A pool was made (its owner's).
    PoolCreated = "pool.created",
    /// A pool's description or settings changed (its members').
    PoolUpdated = "pool.updated",
    /// A pool was deleted (its members'; its invitees get `pool.invitation_revoked`).
    PoolDeleted = "pool.deleted",
    /// An invitee turned an invitation down (theirs and the pool's managers').
    PoolInvitationRejected = "pool.invitation_rejected",
}

// By hand: the derive does not see the wire names through the macro (it listed the variants'
// Rust names, which schemathesis rightly refused).
impl utoipa::PartialSchema for EventKind {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
        ObjectBuilder::new()
            .schema_type(SchemaType::Type(Type::String))
            .description(Some("An event's type: the contract's names, and a few additions"))
            .enum_values(Some(Self::ALL.iter().map(|k| k.as_str())))
            .into()
    }
}

impl ToSchema for EventKind {}

impl EventKind {
    /// The event of a container reaching a status.
    pub fn container_status(status: &str) -> Self {
        match status {
            "creating" => Self::ContainerCreating,
            "running" => Self::ContainerRunning,
            "stopped" => Self::ContainerStopped,
            "deleting" => Self::ContainerDeleting,
            "deleted" => Self::ContainerDeleted,
            "paused" => Self::ContainerPaused,
            "copying" => Self::ContainerCopying,
            "claiming" => Self::ContainerClaiming,
            _ => Self::ContainerFailed,
        }
    }
}

/// What an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResourceType {
    Container,
    StorageShare,
    Notification,
    Project,
    Server,
    Firewall,
    ProxyAlias,
    ProxyPermissions,
    AuthToken,
    Pool,
    User,
    ActivityLog,
    Vault,
    /// The account's wallet (a movement's event; its id the transaction's).
    Wallet,
}

impl ResourceType {
    pub const ALL: &'static [ResourceType] = &[
        Self::Container,
        Self::StorageShare,
        Self::Notification,
        Self::Project,
        Self::Server,
        Self::Firewall,
        Self::ProxyAlias,
        Self::ProxyPermissions,
        Self::AuthToken,
        Self::Pool,
        Self::User,
        Self::ActivityLog,
        Self::Vault,
        Self::Wallet,
    ];

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|r| r.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Container => "container",
            Self::StorageShare => "storage_share",
            Self::Notification => "notification",
            Self::Project => "project",
            Self::Server => "server",
            Self::Firewall => "firewall",
            Self::ProxyAlias => "proxy_alias",
            Self::ProxyPermissions => "proxy_permissions",
            Self::AuthToken => "auth_token",
            Self::Pool => "pool",
            Self::User => "user",
            Self::ActivityLog => "activity_log",
            Self::Vault => "vault",
            Self::Wallet => "wallet",
        }
    }
}

/// One event: what happened, to what, whose it is (the user who sees it), where (project,
/// container, realms) and what goes with it.
#[derive(Debug, Clone)]
pub struct Event {
    pub kind: EventKind,
    pub resource: ResourceType,
    pub resource_id: String,
    /// The owner: who may see it (and those the project is shared with).
    pub user_id: String,
    pub project_id: Option<String>,
    pub container_id: Option<String>,
    pub realm_ids: Vec<String>,
    pub data: Value,
}

impl Event {
    pub fn new(kind: EventKind, resource: ResourceType, resource_id: &str, user_id: &str, data: Value) -> Self {
        Self {
            kind,
            resource,
            resource_id: resource_id.to_owned(),
            user_id: user_id.to_owned(),
            project_id: None,
            container_id: None,
            realm_ids: Vec::new(),
            data,
        }
    }

    pub fn in_project(mut self, project_id: &str) -> Self {
        self.project_id = Some(project_id.to_owned());
        self
    }

    pub fn in_container(mut self, container_id: &str) -> Self {
        self.container_id = Some(container_id.to_owned());
        self
    }

    pub fn in_realms(mut self, realm_ids: &[String]) -> Self {
        self.realm_ids = realm_ids.to_vec();
        self
    }
}

/// Write `e` inside `tx`: it exists if and only if `tx` commits.
pub async fn publish(tx: &mut Tx, e: Event) -> sqlx::Result<()> {
    let row = events::NewEvent {
        user_id: &e.user_id,
        event_type: e.kind.as_str(),
        resource_type: e.resource.as_str(),
        resource_id: &e.resource_id,
        project_id: e.project_id.as_deref(),
        container_id: e.container_id.as_deref(),
        realm_ids: &e.realm_ids,
        data: &e.data,
    };
    events::insert(&mut **tx, &row).await?;
    // Delivered when (and only if) the transaction commits; one per transaction is enough.
    events::notify(&mut **tx, WRITTEN, "").await
}

/// Write `all` inside `tx` in one statement (in their order): they exist if and only if `tx`
/// commits. Nothing is written for none.
pub async fn publish_all(tx: &mut Tx, all: &[Event]) -> sqlx::Result<()> {
    if all.is_empty() {
        return Ok(());
    }
    let rows: Vec<events::NewEvent<'_>> = all
        .iter()
        .map(|e| events::NewEvent {
            user_id: &e.user_id,
            event_type: e.kind.as_str(),
            resource_type: e.resource.as_str(),
            resource_id: &e.resource_id,
            project_id: e.project_id.as_deref(),
            container_id: e.container_id.as_deref(),
            realm_ids: &e.realm_ids,
            data: &e.data,
        })
        .collect();
    events::insert_all(&mut **tx, &rows).await?;
    events::notify(&mut **tx, WRITTEN, "").await
}

/// Number the events that committed since the last numbering, in the order they became
/// visible, one numbering transaction at a time across every replica. Returns the highest
/// number given, if any.
pub async fn number_pending(db: &PgPool) -> sqlx::Result<Option<i64>> {
    let mut tx = db.begin().await?;
    events::lock_numbering(&mut tx).await?;
    let last = events::number(&mut tx).await?;
    if let Some(last) = last {
        events::notify(&mut *tx, CHANNEL, &last.to_string()).await?;
    }
    tx.commit().await?;
    Ok(last)
}

/// Numbered events after `after`, in order (at most `limit`).
pub async fn after(db: &PgPool, after: i64, limit: i64) -> sqlx::Result<Vec<EventRow>> {
    events::after(db, after, limit).await
}

/// A one-connection pool for LISTEN: a listener keeps its connection for good, so it must not
/// take one from the pool requests use.
pub fn listen_pool(db: &PgPool) -> PgPool {
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(5))
        .connect_lazy_with(db.connect_options().as_ref().clone())
}

/// A wake-up on a channel: [`Wake::wait`] returns when a notification comes, after a second
/// (in case one was missed while the listener reconnected), or `false` when stopping.
pub struct Wake {
    pool: PgPool,
    channel: &'static str,
    listener: Option<PgListener>,
}

impl Wake {
    pub fn new(db: &PgPool, channel: &'static str) -> Self {
        Self { pool: listen_pool(db), channel, listener: None }
    }

    pub async fn wait(&mut self, stop: &Stop) -> bool {
        if self.listener.is_none() {
            self.listener = match PgListener::connect_with(&self.pool).await {
                Ok(mut l) => l.listen(self.channel).await.ok().map(|()| l),
                Err(_) => None,
            };
        }
        let woken = async {
            match self.listener.as_mut() {
                Some(l) => l.try_recv().await.map(|_| ()).map_err(|_| ()),
                None => Err(()),
            }
        };
        let heard = tokio::select! {
            r = woken => Some(r.is_ok()),
            _ = tokio::time::sleep(Duration::from_secs(1)) => None,
            _ = stop.wait() => return false,
        };
        if heard == Some(false) {
            self.listener = None;
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        true
    }
}

/// Number events as they commit: woken by `event_written`, and every second in case a wake-up
/// was missed (a listener reconnecting). Runs on every replica; numberings take turns.
pub async fn run_numberer(db: PgPool, stop: Stop) {
    let mut wake = Wake::new(&db, WRITTEN);
    while wake.wait(&stop).await {
        if let Err(e) = number_pending(&db).await {
            tracing::debug!(error = %e, "event numbering skipped");
        }
    }
}
