//! The free tier: a newly verified user gets a default project and a default container on the
//! free server of their region with the most room (of any region when theirs has none that can
//! take it; `crate::placement`). The database part
//! is done at once; the container is created on its host in the background, and a failure
//! there never fails the login: `POST /users/me/retry-setup` tries again, and is idempotent.

use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use super::{born, ops, run, status, Trigger};
use crate::{
    db::{
        containers::{self, NewContainer},
        free_tier, new_id, projects, status_log,
    },
    error::ApiError,
    events::{publish, Event, EventKind, ResourceType},
    state::AppState,
};

#[derive(Debug, Serialize, ToSchema)]
pub struct ServerRef {
    pub id: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub country: Option<String>,
    pub region: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub city: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub datacenter: Option<String>,
    pub is_ready: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectRef {
    pub id: String,
    pub alias: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ContainerRef {
    pub id: String,
    pub name: String,
}

/// The free-tier objects a session response shows (null until set up).
#[derive(Default)]
pub struct Refs {
    pub server: Option<ServerRef>,
    pub project: Option<ProjectRef>,
    pub container: Option<ContainerRef>,
}

/// What the user has now: their default project, its default container and its server, in
/// one read (every login and verification asks).
pub async fn refs(st: &AppState, user_id: &str) -> Result<Refs, ApiError> {
    let row = free_tier::refs(&st.db, user_id).await?;
    let Some(r) = row else { return Ok(Refs::default()) };
    let container = r.container_id.zip(r.container_name).map(|(id, name)| ContainerRef { id, name });
    let server = r.server_id.zip(r.server_name).map(|(id, name)| ServerRef {
        id,
        name,
        country: r.country,
        region: r.region.unwrap_or_default(),
        city: r.city,
        datacenter: r.datacenter,
        is_ready: r.ready.unwrap_or(false),
    });
    Ok(Refs { server, project: Some(ProjectRef { id: r.project_id, alias: r.alias }), container })
}

/// What the database half found to do.
enum Prepared {
    /// A new default container row, to create on its host.
    Provision(String),
    /// The default container is there (or on its way).
    InPlace,
    /// The default container failed after it had run: its data may matter, so it is not
    /// replaced automatically.
    Blocked,
}

/// The database half: the default project (made if missing) and a default container row in
/// `creating` when there is none (or the last attempt failed before it ever ran).
async fn prepare(st: &AppState, user_id: &str, region: Option<&str>) -> Result<Prepared, ApiError> {
    // Held until the row is recorded, so setups at once spread over the free servers.
    let placed = crate::placement::for_free_tier(st, user_id, region).await?.ok_or_else(|| {
        ApiError::precondition("no_free_server", "No free server takes containers; an operator must add one")
    })?;
    let server = &placed.server;
    let mut tx = st.db.begin().await?;
    // One setup per user at a time.
    free_tier::lock_user(&mut tx, user_id).await?;
    let project_id = match projects::default_of(&mut *tx, user_id).await? {
        Some(p) => p,
        None => {
            let id = new_id();
            let taken = projects::alias_used(&mut *tx, user_id, "Default").await?;
            let alias = if taken { format!("Default-{}", &id[..4]) } else { "Default".to_owned() };
            projects::insert_default(&mut *tx, &id, user_id, &alias, &containers::random_color()).await?;
            let e = Event::new(EventKind::ProjectCreated, ResourceType::Project, &id, user_id, json!({"alias": alias}))
                .in_project(&id);
            publish(&mut tx, e).await?;
            id
        }
    };
    let existing = containers::default_of(&mut *tx, &project_id).await?;
    if let Some((id, s)) = &existing {
        if s != status::FAILED {
            tx.commit().await?;
            return Ok(Prepared::InPlace);
        }
        if status_log::ever_ran(&mut *tx, id).await? {
            tx.commit().await?;
            return Ok(Prepared::Blocked);
        }
        // The last attempt failed: its row makes way for a new one (the instance is removed below).
        containers::retire_default(&mut *tx, id, &new_id()).await?;
    }
    // `default`, unless the user named another container so.
    let taken = containers::name_used(&mut *tx, &project_id, "default").await?;
    let name = if taken { format!("default-{}", &new_id()[..6]) } else { "default".to_owned() };
    let mut n = NewContainer::new(&project_id, &server.server_id, name, st.cfg.default_image.clone());
    n.is_default = true;
    containers::insert(&mut *tx, &n).await?;
    let row = containers::by_id(&mut *tx, &n.container_id).await?.ok_or_else(|| anyhow::anyhow!("row vanished"))?;
    born(&mut tx, &row, &Trigger::system("free_tier")).await?;
    free_tier::set_pending(&mut *tx, user_id).await?;
    tx.commit().await?;
    if let Some((old, _)) = existing {
        if let Some(c) = containers::by_id(&st.db, &old).await? {
            let _ = run(st, ops::Delete::new(c, Trigger::system("free_tier"))).await;
        }
    }
    Ok(Prepared::Provision(n.container_id))
}

async fn finish(st: &AppState, user_id: &str, outcome: &Result<(), ApiError>) {
    let (state, err) = match outcome {
        Ok(()) => ("done", None),
        Err(e) => ("failed", Some(e.to_string())),
    };
    let _ = free_tier::set_state(&st.db, user_id, state, err.as_deref()).await;
}

/// Why setup cannot go on by itself.
pub const ADMIN_RECOVERY: &str = "admin_recovery_required";

/// Set up (or finish setting up) the free tier, waiting for the host. `Ok(Some(reason))`: it is
/// blocked and needs an operator.
pub async fn setup(st: &AppState, user_id: &str, region: Option<&str>) -> Result<Option<&'static str>, ApiError> {
    if !st.cfg.free_tier {
        return Err(ApiError::precondition("free_tier_disabled", "The free tier is switched off on this server"));
    }
    // The invite gate (HOODY_FREE_TIER_INVITES=on): only accounts that redeemed an invite.
    if !crate::invites::may_claim(st, user_id).await? {
        return Err(ApiError::precondition(
            "invite_required",
            "Redeem an invite code first (POST /users/me/redeem-invite)",
        ));
    }
    let outcome = async {
        match prepare(st, user_id, region).await? {
            Prepared::Provision(id) => {
                let c = containers::by_id(&st.db, &id).await?.ok_or_else(|| anyhow::anyhow!("row vanished"))?;
                run(st, ops::Create::recorded(c, Trigger::system("free_tier"))).await?;
                Ok(None)
            }
            Prepared::InPlace => Ok(None),
            Prepared::Blocked => Ok(Some(ADMIN_RECOVERY)),
        }
    }
    .await;
    // Done only once the default container runs (an earlier attempt may still be creating it).
    let running = containers::default_running(&st.db, user_id).await.unwrap_or(false);
    match &outcome {
        Ok(_) if running => finish(st, user_id, &Ok(())).await,
        Ok(_) => {}
        Err(e) => finish(st, user_id, &Err(anyhow::anyhow!("{e}").into())).await,
    }
    outcome
}

/// On first verification: the database half now (so the response can show it), the host in
/// the background. Never fails the caller.
pub async fn begin(st: &AppState, user_id: &str, region: Option<&str>) {
    if !st.cfg.free_tier {
        return;
    }
    // The invite gate (HOODY_FREE_TIER_INVITES=on): nothing for accounts that have not redeemed
    // an invite; redeeming one (POST /users/me/redeem-invite) calls this again.
    if !crate::invites::may_claim(st, user_id).await.unwrap_or(false) {
        return;
    }
    match prepare(st, user_id, region).await {
        Ok(Prepared::Provision(id)) => {
            let (st, user_id) = (st.clone(), user_id.to_owned());
            tokio::spawn(async move {
                let outcome = async {
                    let c = containers::by_id(&st.db, &id).await?.ok_or_else(|| anyhow::anyhow!("row vanished"))?;
                    run(&st, ops::Create::recorded(c, Trigger::system("free_tier"))).await
                }
                .await;
                finish(&st, &user_id, &outcome).await;
            });
        }
        Ok(Prepared::InPlace | Prepared::Blocked) => {}
        Err(e) => {
            tracing::warn!(error = %e, "free tier setup could not start; retry-setup will try again");
            finish(st, user_id, &Err(e)).await;
        }
    }
}
