//! The proxy permission file written into a container's instance (`proxy::file`): made from
//! the documents as they are when the work runs (so of two pushes racing, the later one writes
//! the newer file), then recorded with the versions it holds.

use std::{
    collections::{HashMap, HashSet},
    sync::{LazyLock, Mutex},
};

use crate::{
    db::{containers::ContainerRow, proxy_file},
    error::ApiError,
    events::Tx,
    lifecycle::{host_of, status, HostOp, Trigger},
    proxy::file::{self, Versions},
    state::AppState,
};

pub struct PushProxyFile {
    c: ContainerRow,
    by: Trigger,
    /// Clear the container from `WANTED` once under its lock.
    take: bool,
}

impl PushProxyFile {
    pub fn new(c: ContainerRow, by: Trigger) -> Self {
        Self { c, by, take: false }
    }

    fn taking_over(mut self) -> Self {
        self.take = true;
        self
    }
}

impl HostOp for PushProxyFile {
    type Out = Versions;

    names!("container.proxy_file", locks: [c.container_id]);

    async fn intent(&mut self, _: &AppState, tx: &mut Tx) -> Result<(), ApiError> {
        if self.take {
            // From here on a new write needs a push of its own (this one may have read the
            // documents before it committed).
            wanted().remove(&self.c.container_id);
        }
        super::settled_now(tx, &self.c.container_id).await.map(|_| ())
    }

    async fn work(&mut self, st: &AppState) -> Result<Versions, ApiError> {
        let (text, versions) = file::current(&st.db, &self.c.project_id, &self.c.container_id).await?;
        let host = host_of(st, self.c.server_id.as_deref()).await?;
        host.call("push_file", |d| d.push_file(&self.c.lxd_name, file::PATH, &text, 0o600)).await?;
        Ok(versions)
    }

    async fn done(&mut self, _: &AppState, tx: &mut Tx, out: &Versions) -> Result<(), ApiError> {
        proxy_file::record(&mut **tx, &self.c.container_id, *out).await?;
        Ok(())
    }
}

/// Containers whose file a write asked for and no worker has taken up yet.
static WANTED: LazyLock<Mutex<HashSet<String>>> = LazyLock::new(|| Mutex::new(HashSet::new()));

/// What a document write reaches: one container, or every container of a project.
pub enum Reach {
    Container(String),
    Project(String),
}

fn wanted() -> std::sync::MutexGuard<'static, HashSet<String>> {
    WANTED.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// After a document write: the file of each container it reaches written again, in the
/// background (a failure is logged; the reconciler writes it at its next pass). Writes that
/// come while a container's push waits share that push: the work reads the documents when it
/// runs, so it carries every write committed before it; one that commits during a running push
/// starts one more.
pub fn push_soon(st: &AppState, reach: Reach, by: Trigger) {
    let st = st.clone();
    tokio::spawn(async move {
        let rows = match &reach {
            Reach::Container(id) => crate::db::containers::by_id(&st.db, id).await.map(|r| r.into_iter().collect()),
            Reach::Project(id) => crate::db::containers::of_project(&st.db, id).await,
        };
        let containers = match rows {
            Ok(rows) => rows,
            Err(e) => return tracing::warn!(error = %e, "proxy files not written now; the reconciler will"),
        };
        for c in containers {
            let settled = [status::RUNNING, status::STOPPED, status::PAUSED].contains(&c.status.as_str());
            if c.server_id.is_none() || !settled || !wanted().insert(c.container_id.clone()) {
                continue;
            }
            let (st, by) = (st.clone(), by.clone());
            tokio::spawn(async move {
                let id = c.container_id.clone();
                let op = PushProxyFile::new(c, by).taking_over();
                if let Err(e) = crate::lifecycle::run(&st, op).await {
                    // Failed before its intent, nothing would take the next write up (after it,
                    // at worst one push more).
                    wanted().remove(&id);
                    tracing::info!(container = %id, error = %e, "proxy file not written now; the reconciler will");
                }
            });
        }
    });
}

/// Files read back from one host's instances per reconcile pass, at most. A file is one host call
/// per instance (LXD has no call that reads a file of many instances), so checking every file
/// on every pass would make a pass cost a call per container; each pass checks the next ones
/// in container id order instead, going round: a host with `n` given files has each checked
/// every `n / FILE_CHECKS_PER_PASS` passes (all of them every pass up to this many). Files whose
/// documents moved on are found in the database and written on the next pass whatever this is.
pub const FILE_CHECKS_PER_PASS: usize = 32;

/// Per server: the last container whose file a pass checked (this process's place in the round).
static CHECKED_UP_TO: LazyLock<Mutex<HashMap<String, String>>> = LazyLock::new(|| Mutex::new(HashMap::new()));

/// The next `n` of `ids` (sorted) after `after`, going round to the start; each at most once.
fn next_round(ids: &[String], after: Option<&str>, n: usize) -> Vec<String> {
    let start = after.map_or(0, |a| ids.partition_point(|id| id.as_str() <= a));
    ids.iter().cycle().skip(start).take(n.min(ids.len())).cloned().collect()
}

/// The reconciler's part: write the file of every container of the server whose documents
/// moved on since (found in the database), or whose running instance lost its file or holds an
/// older one (read back from the host, [`FILE_CHECKS_PER_PASS`] instances per pass).
pub async fn repair(st: &AppState, host: &crate::host::Host, server_id: &str) -> Result<usize, ApiError> {
    let mut stale: Vec<String> = proxy_file::behind(&st.db, server_id).await?.into_iter().map(|r| r.0).collect();
    let mut given = proxy_file::given(&st.db, server_id).await?;
    let behind: HashSet<&String> = stale.iter().collect();
    given.retain(|(id, _, _)| !behind.contains(id));
    given.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let ids: Vec<String> = given.iter().map(|g| g.0.clone()).collect();
    let round = {
        let mut up_to = CHECKED_UP_TO.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let round = next_round(&ids, up_to.get(server_id).map(String::as_str), FILE_CHECKS_PER_PASS);
        if let Some(last) = round.last() {
            up_to.insert(server_id.to_owned(), last.clone());
        }
        round
    };
    let wanted: HashMap<&str, (i64, i64)> = given.iter().map(|(id, a, b)| (id.as_str(), (*a, *b))).collect();
    let rows = |ids: Vec<String>| async move {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        crate::db::containers::rows(&st.db, &ids, None).await
    };
    for c in rows(round).await? {
        let Some(&(a, b)) = wanted.get(c.container_id.as_str()) else { continue };
        let held = host.call("read_file", |d| d.read_file(&c.lxd_name, file::PATH)).await;
        let ok = matches!(&held, Ok(Some(text)) if file::versions_of(text).is_some_and(|v| v.0 >= a && v.1 >= b));
        if !ok && held.is_ok() {
            stale.push(c.container_id);
        }
    }
    let by = Trigger::system("reconciler");
    let mut fixed = 0;
    for c in rows(stale).await? {
        let id = c.container_id.clone();
        match crate::lifecycle::run(st, PushProxyFile::new(c, by.clone())).await {
            Ok(_) => fixed += 1,
            Err(e) => tracing::warn!(container = %id, error = %e, "could not write the proxy file"),
        }
    }
    Ok(fixed)
}
