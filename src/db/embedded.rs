//! With no `DATABASE_URL`, the server runs its own PostgreSQL cluster under
//! `$HOODY_DATA_DIR/postgres`: initialised on first start, reused after, reachable only through a
//! unix socket inside the data dir, and stopped when the server stops. PostgreSQL refuses to run
//! as root, so a root server runs it as the `postgres` user (created if missing).

use std::{
    os::unix::{fs::MetadataExt, fs::PermissionsExt, process::CommandExt},
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use anyhow::{bail, Context};
use sqlx::{postgres::PgConnectOptions, ConnectOptions, Connection};

const DB_NAME: &str = "hoody";
const DB_USER: &str = "hoody";
const PORT: u16 = 5432;

pub struct EmbeddedPostgres {
    bindir: PathBuf,
    cluster: PathBuf,
    socket_dir: PathBuf,
    run_as: Option<(u32, u32)>,
    started_by_us: bool,
}

impl EmbeddedPostgres {
    /// Find the binaries, initialise the cluster when new, start it unless it already runs.
    pub async fn start(data_dir: &Path) -> anyhow::Result<Self> {
        let bindir = find_bindir(std::env::var_os("PATH"), Path::new("/usr/lib/postgresql")).ok_or_else(|| {
            anyhow::anyhow!(
                "no PostgreSQL server binaries found (initdb, pg_ctl): install the `postgresql` package \
                 (apt-get install postgresql) or set DATABASE_URL"
            )
        })?;
        std::fs::create_dir_all(data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
        let root = std::fs::canonicalize(data_dir)?.join("postgres");
        let cluster = root.join("data");
        let socket_dir = socket_dir_for(&root);
        std::fs::create_dir_all(&root)?;
        std::fs::create_dir_all(&socket_dir)?;
        std::fs::set_permissions(&socket_dir, std::fs::Permissions::from_mode(0o700))?;

        let run_as = if std::fs::metadata("/proc/self")?.uid() == 0 { Some(postgres_user()?) } else { None };
        if let Some((uid, gid)) = run_as {
            for dir in [&root, &socket_dir] {
                chown_tree(dir, uid, gid)?;
                open_traversal(dir)?;
            }
        }
        let mut pg = Self { bindir, cluster, socket_dir, run_as, started_by_us: false };
        if !pg.cluster.join("PG_VERSION").exists() {
            tracing::info!(dir = %pg.cluster.display(), "initialising the embedded PostgreSQL cluster");
            pg.run(
                "initdb",
                &["-D", path_str(&pg.cluster)?, "-U", DB_USER, "--auth=trust", "-E", "UTF8", "--locale=C"],
            )?;
        }
        if pg.run("pg_ctl", &["-D", path_str(&pg.cluster)?, "status"]).is_err() {
            let opts = format!(
                "-k {} -c listen_addresses='' -c unix_socket_permissions=0700 -p {PORT}",
                path_str(&pg.socket_dir)?
            );
            let log = root.join("postgres.log");
            pg.run(
                "pg_ctl",
                &["-D", path_str(&pg.cluster)?, "-l", path_str(&log)?, "-w", "-t", "60", "-o", &opts, "start"],
            )?;
            pg.started_by_us = true;
            tracing::info!(socket = %pg.socket_dir.display(), "embedded PostgreSQL started");
        } else {
            tracing::info!("reusing the running embedded PostgreSQL");
        }
        pg.ensure_database().await?;
        Ok(pg)
    }

    /// Options that reach the cluster's `hoody` database through its socket.
    pub fn connect_options(&self) -> PgConnectOptions {
        PgConnectOptions::new().socket(&self.socket_dir).port(PORT).username(DB_USER).database(DB_NAME)
    }

    async fn ensure_database(&self) -> anyhow::Result<()> {
        let mut conn = self.connect_options().database("postgres").connect().await?;
        let exists = sqlx::query_scalar!(
            r#"select exists (select 1 from pg_database where datname = $1) as "exists!""#,
            DB_NAME
        )
        .fetch_one(&mut conn)
        .await?;
        if !exists {
            // Runtime SQL: a database name is an identifier, which cannot be a parameter (and
            // `create database` cannot be prepared to be checked); `DB_NAME` is a constant.
            sqlx::query(&format!("create database {DB_NAME}")).execute(&mut conn).await?;
        }
        conn.close().await?;
        Ok(())
    }

    /// Stop the cluster if this process started it.
    pub fn stop(&self) {
        if !self.started_by_us {
            return;
        }
        match path_str(&self.cluster).and_then(|c| self.run("pg_ctl", &["-D", c, "-m", "fast", "-w", "stop"])) {
            Ok(()) => tracing::info!("embedded PostgreSQL stopped"),
            Err(e) => tracing::warn!(error = %e, "stopping the embedded PostgreSQL failed"),
        }
    }

    fn run(&self, tool: &str, args: &[&str]) -> anyhow::Result<()> {
        let mut cmd = Command::new(self.bindir.join(tool));
        cmd.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        // The postgres user may not be able to enter our working directory.
        cmd.current_dir(self.cluster.parent().unwrap_or(Path::new("/")));
        if let Some((uid, gid)) = self.run_as {
            cmd.uid(uid).gid(gid).env("HOME", self.cluster.parent().unwrap_or(Path::new("/")));
        }
        let out = cmd.output().with_context(|| format!("running {tool}"))?;
        if !out.status.success() {
            bail!("{tool} failed: {}", String::from_utf8_lossy(&out.stderr).trim());
        }
        Ok(())
    }
}

/// A unix socket path is limited to 107 bytes; deep data dirs get a short directory under /tmp.
fn socket_dir_for(root: &Path) -> PathBuf {
    let preferred = root.join("run");
    if preferred.as_os_str().len() + ".s.PGSQL.5432".len() + 1 < 100 {
        return preferred;
    }
    use sha2::Digest;
    let hash = hex::encode(&sha2::Sha256::digest(root.as_os_str().as_encoded_bytes())[..6]);
    PathBuf::from(format!("/tmp/hoody-pg-{hash}"))
}

/// The PostgreSQL server binaries: on `path`, from `pg_config --bindir` (found on `path`), or
/// the newest `<lib_root>/<version>/bin`.
fn find_bindir(path: Option<std::ffi::OsString>, lib_root: &Path) -> Option<PathBuf> {
    let has_tools = |d: &Path| d.join("initdb").is_file() && d.join("pg_ctl").is_file();
    let dirs: Vec<PathBuf> = path.map(|p| std::env::split_paths(&p).collect()).unwrap_or_default();
    for dir in &dirs {
        if has_tools(dir) {
            // Debian links the tools into PATH; resolve to the real bindir so `postgres` is beside them.
            let real = std::fs::canonicalize(dir.join("initdb")).ok()?;
            return real.parent().map(Path::to_path_buf).filter(|d| has_tools(d)).or(Some(dir.clone()));
        }
    }
    if let Some(pg_config) = dirs.iter().map(|d| d.join("pg_config")).find(|p| p.is_file()) {
        if let Ok(out) = Command::new(pg_config).arg("--bindir").output() {
            let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
            if out.status.success() && has_tools(&dir) {
                return Some(dir);
            }
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(lib_root)
        .ok()?
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, d)| has_tools(d))
        .collect();
    versions.sort();
    versions.pop().map(|(_, d)| d)
}

/// uid and gid of the `postgres` user, creating a system user when there is none.
fn postgres_user() -> anyhow::Result<(u32, u32)> {
    if let Some(ids) = lookup_user("postgres")? {
        return Ok(ids);
    }
    let status = Command::new("useradd")
        .args(["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "postgres"])
        .status()
        .context("running useradd")?;
    if !status.success() {
        bail!("could not create the unprivileged `postgres` user to run PostgreSQL");
    }
    lookup_user("postgres")?.ok_or_else(|| anyhow::anyhow!("user `postgres` missing after useradd"))
}

fn lookup_user(name: &str) -> anyhow::Result<Option<(u32, u32)>> {
    let passwd = std::fs::read_to_string("/etc/passwd")?;
    Ok(passwd.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        (f.len() > 3 && f[0] == name).then(|| Some((f[2].parse().ok()?, f[3].parse().ok()?))).flatten()
    }))
}

fn chown_tree(dir: &Path, uid: u32, gid: u32) -> anyhow::Result<()> {
    std::os::unix::fs::chown(dir, Some(uid), Some(gid))?;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let ft = entry.file_type()?;
        if ft.is_dir() {
            chown_tree(&entry.path(), uid, gid)?;
        } else if !ft.is_symlink() {
            std::os::unix::fs::chown(entry.path(), Some(uid), Some(gid))?;
        }
    }
    Ok(())
}

/// The unprivileged user must be able to pass through every parent directory: add the
/// search bit (not read) where it is missing, and say so.
fn open_traversal(dir: &Path) -> anyhow::Result<()> {
    for parent in dir.ancestors().skip(1) {
        let meta = std::fs::metadata(parent)?;
        let mode = meta.permissions().mode();
        if mode & 0o001 == 0 {
            tracing::warn!(dir = %parent.display(), "adding o+x so the postgres user can reach the data dir");
            std::fs::set_permissions(parent, std::fs::Permissions::from_mode(mode | 0o001))?;
        }
    }
    Ok(())
}

fn path_str(p: &Path) -> anyhow::Result<&str> {
    p.to_str().ok_or_else(|| anyhow::anyhow!("path {} is not UTF-8", p.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_bin(dir: &Path) {
        std::fs::create_dir_all(dir).unwrap();
        for tool in ["initdb", "pg_ctl"] {
            std::fs::write(dir.join(tool), "").unwrap();
        }
    }

    #[test]
    fn bindir_from_path_then_the_newest_versioned_dir_else_none() {
        let root = std::env::temp_dir().join(format!("hoody-bindir-{}", crate::db::new_id()));
        let empty = root.join("empty");
        std::fs::create_dir_all(&empty).unwrap();
        let lib = root.join("lib");
        assert_eq!(find_bindir(Some(empty.clone().into_os_string()), &lib), None, "nothing installed");
        fake_bin(&lib.join("13/bin"));
        fake_bin(&lib.join("15/bin"));
        assert_eq!(find_bindir(Some(empty.into_os_string()), &lib), Some(lib.join("15/bin")));
        let on_path = root.join("on-path");
        fake_bin(&on_path);
        let found = find_bindir(Some(on_path.clone().into_os_string()), &lib).unwrap();
        assert_eq!(std::fs::canonicalize(found).unwrap(), std::fs::canonicalize(on_path).unwrap());
        std::fs::remove_dir_all(root).unwrap();
    }
}
