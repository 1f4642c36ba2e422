//! Placement: the server a new container goes on. Named by the caller, it must be enabled, not
//! draining and one the owner may run on ([`check_server`]). Otherwise it is chosen ([`choose`])
//! among the servers the owner may run on (enabled, not draining, free or rented by them or by a
//! pool they joined; in the region asked for): the one with the most room, counted in nominal
//! containers from the host's own figures (LXD's `GET /1.0/resources`, read at most once per
//! [`TTL`] per server and process) and our count of the containers on it (fresh from the
//! database). A server whose figures cannot be read (breaker open, the read failing or slower
//! than [`WAIT`]) is never chosen, nor one without memory or disk for one more container, nor a
//! rented server holding its `max_containers` of the owner's.

use std::{
    collections::HashMap,
    sync::{Mutex, OnceLock},
    time::Duration,
};

use crate::{
    auth::principal::Principal,
    db::{
        quotas,
        servers::{self, Load},
    },
    error::{ApiError, Result},
    host::HostResources,
    servers::ServerRow,
    state::AppState,
};

/// How long one reading of a host's figures serves placements (a failed one too).
pub const TTL: Duration = Duration::from_secs(5);
/// How long a placement waits for a host's figures before counting it unreachable.
pub const WAIT: Duration = Duration::from_secs(2);

/// A nominal container: what each one placed since a host's reading is taken to use.
const NOMINAL_MEM: i64 = 512 << 20;
const NOMINAL_DISK: i64 = 2 << 30;
/// Containers per hardware thread a host is sized for (CPU is shared: it ranks, never refuses).
const PER_CORE: i64 = 4;

/// Room on a host for more nominal containers: the least of free memory, free disk (each less
/// the containers recorded since the reading and the placements under way) and its threads ×
/// [`PER_CORE`] less every container on it. `None`: no memory or disk for one more. A figure
/// the host does not report is left out.
pub fn room(r: &HostResources, load: Load, pending: i64) -> Option<i64> {
    let since = load.newer + pending;
    let free = |total: Option<i64>, used: Option<i64>, each: i64| Some((total? - used?).max(0) / each - since);
    let mem = free(r.mem_total, r.mem_used, NOMINAL_MEM);
    let disk = free(r.storage_total, r.storage_used, NOMINAL_DISK);
    if mem.is_some_and(|m| m < 1) || disk.is_some_and(|d| d < 1) {
        return None;
    }
    let cpu = r.cores.map(|c| c * PER_CORE - load.containers - pending);
    Some([mem, disk, cpu].into_iter().flatten().min().unwrap_or(-(load.containers + pending)))
}

/// Placements this process has chosen and not finished, by server (two at once must not both
/// see the same room).
fn pending() -> &'static Mutex<HashMap<String, i64>> {
    static PENDING: OnceLock<Mutex<HashMap<String, i64>>> = OnceLock::new();
    PENDING.get_or_init(Default::default)
}

/// A placement under way: counted against its server's room until dropped.
pub struct Hold(String);

impl Drop for Hold {
    fn drop(&mut self) {
        let mut p = pending().lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = p.get_mut(&self.0) {
            *n -= 1;
            if *n <= 0 {
                p.remove(&self.0);
            }
        }
    }
}

/// The server a container goes on; keep it until the container's row is recorded.
pub struct Placed {
    pub server: ServerRow,
    _hold: Option<Hold>,
}

/// What a placement may choose from.
#[derive(Debug, Clone, Copy)]
pub struct Ask<'a> {
    /// Whose container (the project's owner): their rentals count.
    pub owner: &'a str,
    pub region: Option<&'a str>,
    /// Free servers only (the free tier).
    pub free_only: bool,
    /// Only this server (where the image lives).
    pub only: Option<&'a str>,
}

/// The server with the most room among those `ask` allows: 409 `no_server_available` when none
/// is allowed, 503 `no_server_available` when none of them is reachable with room.
pub async fn choose(st: &AppState, ask: &Ask<'_>) -> Result<Placed> {
    let mut ids = servers::placeable(&st.db, ask.owner, ask.region, ask.free_only).await?;
    if let Some(only) = ask.only {
        ids.retain(|id| id == only);
    }
    if ids.is_empty() {
        let r#where = ask.region.map(|r| format!(" in region {r}")).unwrap_or_default();
        let why = match ask.only {
            Some(_) => "the server its image lives on takes no new containers of this project's owner",
            None if ask.free_only => "no free server is enabled and not draining",
            None => "no server that is enabled, not draining, and free or rented by the project's owner",
        };
        return Err(ApiError::conflict("no_server_available", format!("No server{where} takes it: {why}")));
    }
    let rows = servers::by_ids(&st.db, &ids).await?;
    // Every host at once; one that cannot even be built counts as unreachable.
    let mut reads = tokio::task::JoinSet::new();
    for (i, row) in rows.iter().enumerate() {
        if let Ok(host) = st.hosts.for_server(row, &st.sealer) {
            reads.spawn(async move { (i, host.resources_cached(TTL, WAIT).await) });
        }
    }
    let mut figures: Vec<Option<(chrono::DateTime<chrono::Utc>, HostResources)>> = vec![None; rows.len()];
    while let Some(done) = reads.join_next().await {
        if let Ok((i, reading)) = done {
            figures[i] = reading.resources.ok().map(|r| (reading.taken, r));
        }
    }
    let read: Vec<usize> = (0..rows.len()).filter(|i| figures[*i].is_some()).collect();
    let unreachable = rows.len() - read.len();
    let ids: Vec<String> = read.iter().map(|i| rows[*i].server_id.clone()).collect();
    let since: Vec<_> = read.iter().filter_map(|i| figures[*i].as_ref().map(|f| f.0)).collect();
    let loads: HashMap<String, Load> = servers::loads(&st.db, &ids, &since).await?.into_iter().collect();
    // A rented server takes at most its `max_containers` of the owner's (`quota::server_room`).
    let mut rented_full = Vec::new();
    for i in &read {
        let s = &rows[*i];
        if !s.is_free && quotas::on_server(&st.db, &s.server_id, ask.owner).await? >= i64::from(s.max_containers) {
            rented_full.push(*i);
        }
    }
    let chosen = {
        let mut p = pending().lock().unwrap_or_else(|e| e.into_inner());
        let best = read
            .iter()
            .filter(|i| !rented_full.contains(i))
            .filter_map(|i| {
                let (s, (_, r)) = (&rows[*i], figures[*i].as_ref()?);
                let load = loads.get(&s.server_id).copied().unwrap_or_default();
                let room = room(r, load, p.get(&s.server_id).copied().unwrap_or(0))?;
                Some((room, -load.containers, std::cmp::Reverse(*i)))
            })
            .max();
        best.map(|(_, _, std::cmp::Reverse(i))| {
            *p.entry(rows[i].server_id.clone()).or_default() += 1;
            i
        })
    };
    let Some(i) = chosen else {
        let full = read.len();
        return Err(ApiError::unavailable(
            "no_server_available",
            format!(
                "None of the {} servers that could take it has room now: {unreachable} unreachable, {full} full",
                rows.len()
            ),
            TTL.as_secs(),
        ));
    };
    let hold = Hold(rows[i].server_id.clone());
    let server = rows.into_iter().nth(i).ok_or_else(|| anyhow::anyhow!("chosen server vanished"))?;
    tracing::debug!(server = %server.name, "placed");
    Ok(Placed { server, _hold: Some(hold) })
}

/// The server for a new container of `owner`'s: the one the caller named ([`check_server`];
/// in `region` when both are given), or else the one [`choose`] finds, in `region` when given
/// and on the server the image lives on when it is one of the caller's published images.
pub async fn for_create(
    st: &AppState,
    me: &Principal,
    owner: &str,
    server_id: Option<&str>,
    region: Option<&str>,
    image: &str,
) -> Result<Placed> {
    if let Some(r) = region {
        if r.is_empty() || r.len() > 64 || r.chars().any(char::is_control) {
            return Err(ApiError::invalid("region", "a region is 1–64 characters"));
        }
        if !servers::region_known(&st.db, r).await? {
            return Err(ApiError::invalid("region", "no server is registered in this region"));
        }
    }
    if let Some(id) = server_id {
        let server = check_server(st, me, owner, id).await?;
        if let Some(r) = region.filter(|r| *r != server.region) {
            let msg = format!("the server is in region {}, not {r}", server.region);
            return Err(ApiError::invalid("region", msg));
        }
        return Ok(Placed { server, _hold: None });
    }
    let launch = if crate::db::is_id(image) {
        crate::db::images::launch_of_held(&st.db, &me.user.user_id, image).await?
    } else {
        None
    };
    let only = launch.as_ref().and_then(|l| l.server_id.as_deref());
    choose(st, &Ask { owner, region, free_only: false, only }).await
}

/// The free tier's server for a new user's default container: the free server with the most
/// room in `region`, else among all free servers; when no free server can be read, the first
/// free one as before placement (its create fails and `retry-setup` tries again). `None`: no
/// free server takes containers.
pub async fn for_free_tier(st: &AppState, user_id: &str, region: Option<&str>) -> Result<Option<Placed>> {
    let ask = Ask { owner: user_id, region, free_only: true, only: None };
    if region.is_some() {
        if let Ok(p) = choose(st, &ask).await {
            return Ok(Some(p));
        }
    }
    match choose(st, &Ask { region: None, ..ask }).await {
        Ok(p) => Ok(Some(p)),
        Err(e) => {
            tracing::warn!(error = %e, "no free server could be read; the free tier takes the first one");
            Ok(crate::servers::free(&st.db, region).await?.map(|server| Placed { server, _hold: None }))
        }
    }
}

/// The server a new container of `owner`'s goes on when the caller names it: registered,
/// enabled, not draining, and one [`may_run_on`] allows.
pub async fn check_server(st: &AppState, me: &Principal, owner: &str, server_id: &str) -> Result<ServerRow> {
    let missing = || ApiError::not_found("server_not_found", "Server not found");
    let s = crate::servers::by_id(&st.db, server_id).await?.ok_or_else(missing)?;
    if !s.is_enabled {
        return Err(ApiError::conflict("server_disabled", "This server does not take new containers"));
    }
    if s.draining_since.is_some() {
        return Err(ApiError::conflict("server_draining", "This server is being drained: it takes no new containers"));
    }
    may_run_on(st, me, owner, &s).await?;
    Ok(s)
}

/// Whether `owner`'s containers may be made or started on `s`: a free server, one `owner` rents
/// (an active, unexpired rental, theirs or a pool's they joined), or any when an administrator's
/// session asks (not a token). Placement by [`choose`] gives administrators no more servers.
pub async fn may_run_on(st: &AppState, me: &Principal, owner: &str, s: &ServerRow) -> Result<()> {
    if s.is_free || (me.user.is_admin && me.token().is_none()) {
        return Ok(());
    }
    if crate::db::rentals::rents(&st.db, owner, &s.server_id).await? {
        return Ok(());
    }
    Err(ApiError::forbidden("server_not_rented", "Containers run on free servers or servers you rent"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: i64 = 1 << 30;

    fn host(cores: i64, mem_free_gib: i64, disk_free_gib: i64) -> HostResources {
        HostResources {
            cores: Some(cores),
            mem_total: Some(64 * GIB),
            mem_used: Some(64 * GIB - mem_free_gib * GIB),
            storage_total: Some(1000 * GIB),
            storage_used: Some(1000 * GIB - disk_free_gib * GIB),
        }
    }

    #[test]
    fn room_is_the_scarcest_resource_less_what_came_since() {
        // 8 threads × 4 = 32; 16 GiB = 32 nominal; 100 GiB = 50.
        assert_eq!(room(&host(8, 16, 100), Load::default(), 0), Some(32));
        // Memory scarcer: 2 GiB = 4 containers, less 1 recorded since the reading and 1 under way.
        assert_eq!(room(&host(8, 2, 100), Load { containers: 5, newer: 1 }, 1), Some(2));
        // Containers fill the CPU share first; overcommitted CPU ranks, it does not refuse.
        assert_eq!(room(&host(1, 16, 100), Load { containers: 6, newer: 0 }, 0), Some(-2));
        // No memory or disk for one more: full.
        assert_eq!(room(&host(8, 0, 100), Load::default(), 0), None);
        assert_eq!(room(&host(8, 16, 1), Load::default(), 0), None);
        assert_eq!(room(&host(8, 1, 100), Load { containers: 2, newer: 1 }, 0), Some(1));
        assert_eq!(room(&host(8, 1, 100), Load { containers: 2, newer: 1 }, 1), None);
        // Figures the host does not give are left out; with none, fewer containers rank higher.
        let bare = HostResources::default();
        assert_eq!(room(&bare, Load { containers: 3, newer: 0 }, 1), Some(-4));
    }
}
