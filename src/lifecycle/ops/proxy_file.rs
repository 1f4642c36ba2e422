//! The proxy permission file written into a container's instance (`proxy::file`): made from
//! the documents as they are when the work runs (so of two pushes racing, the later one writes
//! the newer file), then recorded with the versions it holds.

use std::{
    collections::HashSet,
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

/// The reconciler's part: write the file of every container of the server whose documents
/// moved on since, or whose running instance lost its file or holds an older one.
pub async fn repair(st: &AppState, host: &crate::host::Host, server_id: &str) -> Result<usize, ApiError> {
    let mut stale: Vec<String> = proxy_file::behind(&st.db, server_id).await?.into_iter().map(|r| r.0).collect();
    for (id, a, b) in proxy_file::given(&st.db, server_id).await? {
        if stale.contains(&id) {
            continue;
        }
        let Some(c) = crate::db::containers::by_id(&st.db, &id).await? else { continue };
        let held = host.call("read_file", |d| d.read_file(&c.lxd_name, file::PATH)).await;
        let ok = matches!(&held, Ok(Some(text)) if file::versions_of(text).is_some_and(|v| v.0 >= a && v.1 >= b));
        if !ok && held.is_ok() {
            stale.push(id);
        }
    }
    let by = Trigger::system("reconciler");
    let mut fixed = 0;
    for id in stale {
        let Some(c) = crate::db::containers::by_id(&st.db, &id).await? else { continue };
        match crate::lifecycle::run(st, PushProxyFile::new(c, by.clone())).await {
            Ok(_) => fixed += 1,
            Err(e) => tracing::warn!(container = %id, error = %e, "could not write the proxy file"),
        }
    }
    Ok(fixed)
}
