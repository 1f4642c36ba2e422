//! Spawns the app on a random port against a fresh database made from a migrated template.

use std::{
    net::IpAddr,
    path::PathBuf,
    sync::{atomic::AtomicBool, Arc},
    time::Duration,
};

use hoody_api::{config::Config, resolver::StaticResolver, state::AppState};
use reqwest::{header::HeaderMap, Method, StatusCode};
use serde_json::{json, Value};
use sqlx::{postgres::PgConnectOptions, Connection, Executor, PgPool};

pub const PASSWORD: &str = "Correct-Horse-Battery-9";

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub db: PgPool,
    pub data_dir: PathBuf,
    /// The running app's state, for calling library checks directly.
    pub state: AppState,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Resp {
    /// `data` of the envelope.
    pub fn data(&self) -> &Value {
        &self.body["data"]
    }
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }
    /// Asserts the envelope shape and status; returns self for chaining.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Self {
        assert_eq!(self.status.as_u16(), status, "unexpected status; body: {}", self.text);
        assert_eq!(self.body["statusCode"], json!(status), "statusCode differs from HTTP status: {}", self.text);
        assert!(self.body["message"].is_string(), "no message: {}", self.text);
        assert!(self.body.get("data").is_some(), "no data key: {}", self.text);
        if status >= 400 {
            assert!(self.body["data"].is_null(), "error data must be null: {}", self.text);
            assert!(self.body["code"].is_string(), "error without code: {}", self.text);
            assert!(self.body["request_id"].is_string(), "error without request_id: {}", self.text);
        }
        self
    }
}

/// Admin connection options from `DATABASE_URL` (set by scripts/test).
fn admin_options() -> PgConnectOptions {
    let url = std::env::var("DATABASE_URL")
        .expect("DATABASE_URL is not set: run the tests with scripts/test, which starts PostgreSQL");
    url.parse().expect("DATABASE_URL is not a PostgreSQL URL")
}

/// The name of a template database holding the current migrations (hash of their text).
fn template_name() -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    let mut files: Vec<_> = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
        .expect("migrations dir")
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    for f in files {
        h.update(std::fs::read(f).expect("migration file"));
    }
    format!("hoody_tpl_{}", &hex::encode(h.finalize())[..12])
}

/// A URL for a fresh database (for tests that run the binary).
pub async fn fresh_database_url() -> String {
    let opts = fresh_database().await;
    let url = std::env::var("DATABASE_URL").expect("DATABASE_URL");
    let base = url.rsplit_once('/').map(|(b, _)| b).expect("DATABASE_URL has a database name");
    format!("{base}/{}", opts.get_database().expect("database name"))
}

async fn fresh_database() -> PgConnectOptions {
    let admin = admin_options();
    let mut conn = sqlx::PgConnection::connect_with(&admin).await.expect("connect to the test PostgreSQL");
    let tpl = template_name();
    conn.execute("select pg_advisory_lock(7031)").await.expect("lock");
    let exists: bool = sqlx::query_scalar("select exists (select 1 from pg_database where datname = $1)")
        .bind(&tpl)
        .fetch_one(&mut conn)
        .await
        .expect("query");
    if !exists {
        let building = format!("{tpl}_building");
        conn.execute(format!("drop database if exists {building}").as_str()).await.expect("drop");
        conn.execute(format!("create database {building}").as_str()).await.expect("create template");
        let mut t =
            sqlx::PgConnection::connect_with(&admin.clone().database(&building)).await.expect("connect template");
        hoody_api::db::MIGRATOR.run(&mut t).await.expect("migrations");
        t.close().await.ok();
        conn.execute(format!("alter database {building} rename to {tpl}").as_str()).await.expect("rename");
    }
    conn.execute("select pg_advisory_unlock(7031)").await.expect("unlock");
    let name = format!("t_{}", hoody_api::db::new_id());
    conn.execute(format!("create database {name} template {tpl}").as_str()).await.expect("create test database");
    conn.close().await.ok();
    admin.database(&name)
}

/// Host names the test app resolves (these machines have no DNS): one per range the address rule
/// refuses, and public ones it accepts. Any other name does not resolve.
pub fn resolver() -> StaticResolver {
    let ip = |s: &str| s.parse::<IpAddr>().expect("address");
    StaticResolver::new([
        ("proxy.example.com", vec![ip("203.0.113.10")]),
        ("public.example.net", vec![ip("198.51.100.7"), ip("2001:db8::7")]),
        // The two names: public names that resolve to loopback.
        ("localtest.me", vec![ip("127.0.0.1")]),
        ("127.0.0.1.nip.io", vec![ip("127.0.0.1")]),
        ("loopback6.example.net", vec![ip("::1")]),
        ("private.example.net", vec![ip("10.1.2.3")]),
        ("private172.example.net", vec![ip("172.16.5.4")]),
        ("private192.example.net", vec![ip("192.168.1.20")]),
        ("cgnat.example.net", vec![ip("100.64.1.1")]),
        ("linklocal.example.net", vec![ip("169.254.10.20")]),
        ("metadata.example.net", vec![ip("169.254.169.254")]),
        ("metadata6.example.net", vec![ip("fd00:ec2::254")]),
        ("ula.example.net", vec![ip("fd12:3456::1")]),
        ("mapped.example.net", vec![ip("::ffff:192.168.1.1")]),
        ("unspecified.example.net", vec![ip("0.0.0.0")]),
        ("multicast.example.net", vec![ip("239.1.2.3")]),
        // One public address and one private: refused (the client may get either).
        ("mixed.example.net", vec![ip("198.51.100.8"), ip("10.0.0.8")]),
    ])
}

impl TestApp {
    /// After a change made straight in the database (as the CLI or an operator would): this
    /// replica forgets the principals it cached. Its notification does that within milliseconds;
    /// a test's next request can come sooner. (`replicas.rs` tests the notification itself.)
    pub fn forget_cached(&self) {
        self.state.principals.invalidate_all();
    }

    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// Start the app with settings adjusted by `adjust`.
    pub async fn spawn_with(adjust: impl FnOnce(&mut Config)) -> Self {
        Self::start(fresh_database().await, None, adjust).await
    }

    /// A second replica of this app: another server (its own state, caches and listeners) on the
    /// same database, with the same keys.
    pub async fn replica(&self) -> Self {
        self.replica_with(|_| {}).await
    }

    /// The same, with settings adjusted by `adjust`.
    pub async fn replica_with(&self, adjust: impl FnOnce(&mut Config)) -> Self {
        let opts = self.db.connect_options().as_ref().clone();
        Self::start(opts, Some(&self.data_dir), adjust).await
    }

    async fn start(
        opts: PgConnectOptions,
        keys_from: Option<&std::path::Path>,
        adjust: impl FnOnce(&mut Config),
    ) -> Self {
        hoody_api::telemetry::init(std::env::var("HOODY_LOG_FORMAT").is_ok_and(|v| v == "json"));
        let data_dir = std::env::temp_dir().join(format!("hoody-test-{}", hoody_api::db::new_id()));
        std::fs::create_dir_all(&data_dir).expect("data dir");
        if let Some(from) = keys_from {
            for key in ["jwt-secret", "secret-key", "signing-key"] {
                let _ = std::fs::copy(from.join(key), data_dir.join(key));
            }
        }
        let mut cfg = Config::with_data_dir(data_dir.clone());
        cfg.db_max_connections = 8;
        cfg.writeback_interval = Duration::from_millis(100);
        // No automatic `local` server unless a test asks for it.
        cfg.lxd_socket = data_dir.join("no-lxd.socket");
        // No free-tier containers unless a test asks for them (they would outlive the test).
        cfg.free_tier = false;
        // Account-wide limits out of the way unless a test is about them.
        let roomy = hoody_api::quota::AccountLimits {
            projects: 1000,
            containers: 1000,
            snapshots: 1000,
            tokens: 500,
            firewall_rules: 10_000,
            aliases: 500,
            shares: 1000,
        };
        cfg.quotas = hoody_api::config::Quotas { standard: roomy, free: roomy };
        adjust(&mut cfg);
        let db = hoody_api::db::pool(&cfg, opts);
        let state = AppState::with_resolver(db.clone(), cfg, Arc::new(AtomicBool::new(true)), Arc::new(resolver()))
            .expect("state");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(hoody_api::run(listener, state.clone(), async move {
            let _ = rx.await;
        }));
        let client = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().expect("client");
        Self { base: format!("http://{addr}"), client, db, data_dir, state, stop: Some(tx), server: Some(server) }
    }

    /// A URL of this app's database, for running the binary against it.
    pub fn database_url(&self) -> String {
        let o = self.db.connect_options();
        let url = std::env::var("DATABASE_URL").expect("DATABASE_URL");
        let base = url.rsplit_once('/').map(|(b, _)| b).expect("DATABASE_URL has a database name");
        format!("{base}/{}", o.get_database().expect("database name"))
    }

    /// Stop the server gracefully and wait for it.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.server.take() {
            h.await.expect("server task").expect("server result");
        }
    }

    pub async fn request(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Resp {
        let mut req = self.client.request(method, format!("{}{}", self.base, path));
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        Self::read(req.send().await.expect("request")).await
    }

    /// A request with extra headers (Host, X-Forwarded-For…); `token` goes in as `Bearer`.
    pub async fn request_with(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> Resp {
        let mut req = self.client.request(method, format!("{}{}", self.base, path));
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        Self::read(req.send().await.expect("request")).await
    }

    /// Create an auth token with `body` as `bearer`; returns (secret, id).
    pub async fn new_token(&self, bearer: &str, body: Value) -> (String, String) {
        let r = self.post_auth("/api/v1/auth/tokens", bearer, Some(body)).await;
        r.expect(201);
        (r.data()["token"].as_str().expect("token").to_owned(), r.data()["id"].as_str().expect("id").to_owned())
    }

    pub async fn read(res: reqwest::Response) -> Resp {
        let status = res.status();
        let headers = res.headers().clone();
        let text = res.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp { status, headers, body, text }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Resp {
        self.request(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.request(Method::POST, path, None, Some(body)).await
    }

    pub async fn post_auth(&self, path: &str, token: &str, body: Option<Value>) -> Resp {
        self.request(Method::POST, path, Some(token), body).await
    }

    /// Send raw bytes with a content type.
    pub async fn post_raw(&self, path: &str, content_type: &str, body: Vec<u8>) -> Resp {
        let res = self
            .client
            .post(format!("{}{}", self.base, path))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("request");
        Self::read(res).await
    }

    /// Every mail delivered to the file outbox so far, oldest first.
    pub fn mails(&self) -> Vec<String> {
        let dir = self.data_dir.join("outbox");
        let mut files: Vec<_> = match std::fs::read_dir(&dir) {
            Ok(d) => d.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "eml")).collect(),
            Err(_) => Vec::new(),
        };
        files.sort();
        files.iter().map(|f| decode_qp(&std::fs::read_to_string(f).expect("read mail"))).collect()
    }

    /// Wait until at least `n` mails were delivered (the outbox worker runs in the background).
    pub async fn wait_mails(&self, n: usize) -> Vec<String> {
        for _ in 0..100 {
            let mails = self.mails();
            if mails.len() >= n {
                return mails;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("expected {n} mails, have {}", self.mails().len());
    }

    /// Wait until the mail worker took every forgot-password / resend ask (it queues their mail in
    /// the same transaction, so the outbox is complete afterwards).
    pub async fn settle_mail_requests(&self) {
        for _ in 0..200 {
            let left: i64 =
                sqlx::query_scalar("select count(*) from mail_request").fetch_one(&self.db).await.expect("count");
            if left == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the mail worker did not take the pending mail requests");
    }

    /// Mails addressed to `email`.
    pub fn mails_to(&self, email: &str) -> Vec<String> {
        self.mails().into_iter().filter(|m| m.contains(&format!("To: {email}"))).collect()
    }

    /// Sign up over HTTP and return the token of the verification link.
    pub async fn signup(&self, email: &str, password: &str) -> String {
        let before = self.mails_to(email).len();
        self.post("/api/v1/auth/signup", json!({"email": email, "password": password})).await.expect(200);
        for _ in 0..100 {
            let mails = self.mails_to(email);
            if mails.len() > before {
                return link_token(mails.last().expect("mail"), "verify-email");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no verification mail for {email}");
    }

    /// Sign up and verify over HTTP; returns (access token, refresh token, user id).
    pub async fn verified_user(&self, email: &str) -> Session {
        let token = self.signup(email, PASSWORD).await;
        let r = self.post("/api/v1/auth/verify-email", json!({"token": token})).await;
        r.expect(200);
        Session::from(r.data())
    }

    /// Insert a verified user directly (bypasses the signup rate limit); returns the user id.
    pub async fn seed_user(&self, email: &str, username: &str, password: &str) -> String {
        let id = hoody_api::db::new_id();
        let hash = hoody_api::auth::password::hash_now(password).expect("hash");
        sqlx::query(
            "insert into app_user (user_id, username, email, password_hash, email_verified) values ($1, $2, $3, $4, true)",
        )
        .bind(&id)
        .bind(username)
        .bind(email)
        .bind(hash)
        .execute(&self.db)
        .await
        .expect("seed user");
        id
    }

    pub async fn login(&self, email: &str, password: &str) -> Session {
        let r = self.post("/api/v1/users/auth/login", json!({"email": email, "password": password})).await;
        r.expect(200);
        Session::from(r.data())
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

pub struct Session {
    pub token: String,
    pub refresh: String,
    pub user_id: String,
}

impl From<&Value> for Session {
    fn from(d: &Value) -> Self {
        Self {
            token: d["token"].as_str().expect("token").to_owned(),
            refresh: d["refreshToken"].as_str().expect("refreshToken").to_owned(),
            user_id: d["user"]["id"].as_str().expect("user.id").to_owned(),
        }
    }
}

/// The `token=` value of the link under `/<page>?` in a mail.
pub fn link_token(mail: &str, page: &str) -> String {
    let marker = format!("/{page}?token=");
    let start = mail.find(&marker).unwrap_or_else(|| panic!("no {page} link in mail:\n{mail}")) + marker.len();
    mail[start..].chars().take_while(|c| c.is_ascii_hexdigit()).collect()
}

/// Undo quoted-printable soft breaks and escapes (long lines in a mail arrive encoded).
pub fn decode_qp(raw: &str) -> String {
    let joined = raw.replace("=\r\n", "").replace("=\n", "");
    let mut out = Vec::with_capacity(joined.len());
    let b = joined.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'=' && i + 2 < b.len() && b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit() {
            out.push(u8::from_str_radix(&joined[i + 1..i + 3], 16).expect("hex"));
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The real binary serving on a free port with JSON logs, its output captured: for tests of what
/// the process itself logs or does at its edges.
pub struct Served {
    child: std::process::Child,
    pub base: String,
    pub dir: std::path::PathBuf,
}

impl Served {
    /// `hoody-api` on `database_url` with `RUST_LOG=rust_log`, the free tier off and `env` on
    /// top; returns once `ready` (a path such as `/readyz`) answers 200, or after 30 s.
    pub async fn start(database_url: &str, rust_log: &str, env: &[(&str, &str)], ready: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("hoody-served-{}", hoody_api::db::new_id()));
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_hoody-api"))
            .env("DATABASE_URL", database_url)
            .env("HOODY_DATA_DIR", &dir)
            .env("HOODY_LISTEN", format!("127.0.0.1:{port}"))
            .env("HOODY_LOG_FORMAT", "json")
            // No free-tier container on the local LXD (it would outlive the test).
            .env("HOODY_FREE_TIER", "off")
            .env("RUST_LOG", rust_log)
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        for _ in 0..300 {
            if client.get(format!("{base}{ready}")).send().await.is_ok_and(|r| r.status() == 200) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        Self { child, base, dir }
    }

    /// Kill it at once (SIGKILL: no shutdown, requests cut where they are).
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }

    /// Stop it with SIGTERM: its stdout, its stderr, and whether it exited cleanly.
    pub fn stop(mut self) -> (String, String, bool) {
        use std::io::Read;
        std::process::Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        let (mut out, mut err) = (String::new(), String::new());
        self.child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
        self.child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
        let clean = self.child.wait().unwrap().success();
        let _ = std::fs::remove_dir_all(&self.dir);
        (out, err, clean)
    }
}

/// Run the real binary's `hoody-api <command> <args>` against `database_url` (data in `dir`);
/// (success, stdout, stderr).
pub fn run_cli(command: &str, database_url: &str, dir: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hoody-api"))
        .arg(command)
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("HOODY_DATA_DIR", dir)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run the hoody-api binary");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}
