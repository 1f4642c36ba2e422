//! The warm pool (`hoody-api servers update <name> --warm-pool <image>=<n>`): started instances
//! kept per server and image, hidden from everyone, claimed by creates. Checked with what LXD and
//! the database hold: concurrent creates claim each instance once and the rest launch afresh; a
//! claim gives the instance exactly the config a fresh create would; options that need a fresh
//! instance and the caller's own prespawned containers come first; the caller's limits apply; the
//! refill loop refills, trims, replaces instances gone wrong, removes strays and cleans up failed
//! launches, and two replicas never overfill a pool; the CLI refuses bad input.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::{Duration, Instant},
};

use hoody_api::{
    host::{fault::Fault, HostLimits},
    lifecycle::warm_pool,
};
use serde_json::{json, Value};

use super::{ids, seed};
use crate::{
    fixtures::{exists, lxc, lxc_status, pin_through, LxdApp},
    harness::{run_cli, Session},
};

const IMAGE: &str = "hoody-busybox";

/// An app on the real LXD whose pool instances (marked for its server) are removed from LXD when
/// the test ends, however it ends.
struct WarmApp(LxdApp);

impl std::ops::Deref for WarmApp {
    type Target = LxdApp;
    fn deref(&self) -> &LxdApp {
        &self.0
    }
}

impl Drop for WarmApp {
    fn drop(&mut self) {
        for name in on_lxd(&self.0) {
            let _ = std::process::Command::new("lxc").args(["delete", "--force", &name]).output();
        }
    }
}

/// The app, its refill loop every `interval`, the reconciler held off.
async fn spawn(interval: Duration, adjust: impl FnOnce(&mut hoody_api::config::Config)) -> WarmApp {
    WarmApp(
        LxdApp::spawn_with(|c| {
            c.reconcile_interval = Duration::from_secs(3600);
            c.warm_pool_interval = interval;
            adjust(c)
        })
        .await,
    )
}

/// `hoody-api servers <args>` against the app's database.
/// `env` run in the instance: what a process started there now sees. A loaded LXD may refuse
/// an exec for a moment: tried for up to 10 s.
fn exec_env(lxd_name: &str) -> String {
    let mut last = String::new();
    for _ in 0..50 {
        let out = std::process::Command::new("lxc").args(["exec", lxd_name, "--", "env"]).output().expect("lxc");
        if out.status.success() {
            return String::from_utf8_lossy(&out.stdout).into_owned();
        }
        last = String::from_utf8_lossy(&out.stderr).into_owned();
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("lxc exec {lxd_name} env kept failing: {last}");
}

fn cli(app: &LxdApp, args: &[&str]) -> (bool, String, String) {
    run_cli("servers", &app.database_url(), &app.data_dir, args)
}

fn set_pool(app: &LxdApp, n: i32) {
    let (ok, out, err) = cli(app, &["update", "local", "--warm-pool", &format!("{IMAGE}={n}")]);
    assert!(ok, "{err}");
    assert!(out.contains(&format!("warm pool of {IMAGE} on local")), "{out}");
}

/// The pool's rows: id → state.
async fn rows(app: &LxdApp) -> BTreeMap<String, String> {
    sqlx::query_as::<_, (String, String)>("select instance_id, state from warm_instance where server_id = $1")
        .bind(&app.server_id)
        .fetch_all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .collect()
}

/// The instances LXD holds marked for this app's server's pool.
fn on_lxd(app: &LxdApp) -> BTreeSet<String> {
    let out = lxc(&["list", &format!("{}={}", warm_pool::WARM_KEY, app.server_id), "-c", "n", "--format", "csv"]);
    out.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect()
}

/// Wait (60 s at most) until the pool holds exactly `n` instances, all ready; their ids.
async fn wait_ready(app: &LxdApp, n: usize) -> BTreeSet<String> {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let r = rows(app).await;
        if r.len() == n && r.values().all(|s| s == "ready") {
            return r.into_keys().collect();
        }
        assert!(Instant::now() < deadline, "the pool did not settle at {n} ready: {r:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Remove the pool and wait until its rows and its instances are gone.
async fn drain(app: &LxdApp) {
    set_pool(app, 0);
    wait_ready(app, 0).await;
    assert!(on_lxd(app).is_empty(), "idle pool instances left on LXD: {:?}", on_lxd(app));
}

/// Hold the refill off (as its backoff would) or let it go.
async fn hold_refill(app: &LxdApp, hold: bool) {
    sqlx::query(
        "update warm_pool set retry_at = case when $2 then now() + interval '1 hour' else null end \
         where server_id = $1",
    )
    .bind(&app.server_id)
    .bind(hold)
    .execute(&app.db)
    .await
    .unwrap();
}

/// The containers whose creation was a claim from the pool (their status log says so).
async fn claimed(app: &LxdApp) -> BTreeSet<String> {
    sqlx::query_scalar::<_, String>(
        "select container_id from container_status_log where to_status = 'running' and metadata->>'source' = 'warm_pool'",
    )
    .fetch_all(&app.db)
    .await
    .unwrap()
    .into_iter()
    .collect()
}

/// Every instance LXD holds, by name: its config and status.
fn lxd_instances() -> BTreeMap<String, (BTreeMap<String, String>, String)> {
    let all: Value = serde_json::from_str(&lxc(&["list", "--format", "json"])).unwrap();
    all.as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let config = i["config"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect();
            (i["name"].as_str().unwrap().to_owned(), (config, i["status"].as_str().unwrap().to_owned()))
        })
        .collect()
}

/// The instance config a container's row gives it (environment, boot, our labels).
fn ours(config: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    config
        .iter()
        .filter(|(k, _)| k.starts_with("environment.") || k.starts_with("user.") || k.starts_with("boot."))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn key(i: usize) -> String {
    format!("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIW{i:0>42} warm{i}@host")
}

async fn user(app: &LxdApp, tag: &str) -> (Session, String) {
    let s = app.verified_user(&format!("{tag}@example.com")).await;
    let p = app.project(&s.token, tag).await;
    (s, p)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_concurrent_creates_claim_a_pool_of_ten_once_each_and_launch_ten() {
    let app = spawn(Duration::from_millis(200), |_| {}).await;
    set_pool(&app, 10);
    let pool = wait_ready(&app, 10).await;
    assert_eq!(on_lxd(&app), pool.iter().map(|id| format!("c-{id}")).collect(), "LXD holds the ten");
    // No refill while the creates run: exactly the ten ready now can be claimed.
    hold_refill(&app, true).await;

    let mut callers = Vec::new();
    for u in 0..4 {
        callers.push(user(&app, &format!("warm-{u}")).await);
    }
    let mut wanted = Vec::new();
    for i in 0..20 {
        let (s, p) = &callers[i % 4];
        let body = json!({"server_id": app.server_id, "name": format!("w-{i}"), "bypass_prespawn": false,
            "environment_vars": {"WHO": format!("caller-{i}")}, "ssh_public_key": key(i)});
        wanted.push((i, s.user_id.clone(), p.clone(), s.token.clone(), body));
    }
    let a = &app;
    let answers = futures::future::join_all(wanted.iter().map(|(_, _, p, token, body)| async move {
        a.post_auth(&format!("/api/v1/projects/{p}/containers"), token, Some(body.clone())).await
    }))
    .await;

    let mut made = BTreeMap::new();
    for ((i, owner, project, _, _), r) in wanted.iter().zip(&answers) {
        if let Some(id) = r.data()["id"].as_str() {
            app.track(id);
        }
        r.expect(201);
        assert_eq!(r.data()["status"], "running", "{}", r.text);
        made.insert(r.data()["id"].as_str().unwrap().to_owned(), (*i, owner.clone(), project.clone()));
    }
    assert_eq!(made.len(), 20, "twenty distinct containers");

    // Exactly the ten pool instances were claimed, each once; the other ten were launched.
    let from_pool = claimed(&app).await;
    assert_eq!(from_pool, pool, "the claims are exactly the ten ready instances");
    let fresh: Vec<&String> = made.keys().filter(|id| !pool.contains(*id)).collect();
    assert_eq!(fresh.len(), 10);
    assert!(rows(&app).await.is_empty(), "no pool row left: {:?}", rows(&app).await);

    // What LXD holds: twenty running instances, each with its caller's environment and labels and
    // none still marked for the pool; the rows hold each caller's key and project.
    let lxd = lxd_instances();
    for (id, (i, owner, project)) in &made {
        let (config, status) = lxd.get(&format!("c-{id}")).unwrap_or_else(|| panic!("c-{id} is not on LXD"));
        assert_eq!(status, "Running", "c-{id}");
        assert_eq!(config.get("environment.WHO").map(String::as_str), Some(format!("caller-{i}").as_str()));
        assert_eq!(config.get("user.hoody.container_id"), Some(id));
        assert_eq!(config.get("user.hoody.project_id"), Some(project));
        assert_eq!(config.get("user.hoody.server_id"), Some(&app.server_id));
        assert!(!config.contains_key(warm_pool::WARM_KEY), "c-{id} is still marked for the pool");
        let row: (String, Option<String>, String) = sqlx::query_as(
            "select p.user_id, c.ssh_public_key, c.status from container c join project p using (project_id) \
             where c.container_id = $1",
        )
        .bind(id)
        .fetch_one(&app.db)
        .await
        .unwrap();
        assert_eq!(row, (owner.clone(), Some(key(*i)), "running".to_owned()));
    }
    assert!(on_lxd(&app).is_empty(), "no instance marked for the pool while it is held");

    // Let the refill go: ten new instances, none of the twenty.
    hold_refill(&app, false).await;
    let again = wait_ready(&app, 10).await;
    assert!(again.iter().all(|id| !made.contains_key(id)), "an instance never returns to the pool");
    assert_eq!(on_lxd(&app).len(), 10);
    drain(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_gives_the_instance_what_a_fresh_create_would() {
    let app = spawn(Duration::from_millis(200), |_| {}).await;
    let (s, p) = user(&app, "settings").await;
    set_pool(&app, 1);
    let pool = wait_ready(&app, 1).await;
    hold_refill(&app, true).await;
    let body = |name: &str, key: String| {
        json!({"server_id": app.server_id, "name": name, "environment_vars": {"A": "1", "B": "two words"},
            "ssh_public_key": key, "autostart": false, "ai": false, "hoody_kit": false, "comment": "from the pool?",
            "color": "#ABCDEF"})
    };
    let mut warm_body = body("warm", key(1));
    warm_body["bypass_prespawn"] = json!(false);
    let r = app.post_auth(&format!("/api/v1/projects/{p}/containers"), &s.token, Some(warm_body)).await;
    r.expect(201);
    let warm = r.data()["id"].as_str().unwrap().to_owned();
    app.track(&warm);
    assert!(pool.contains(&warm), "the create claimed the pool instance: {}", r.text);
    let d = r.data();
    assert_eq!(
        (d["status"].as_str(), d["name"].as_str(), d["project_id"].as_str()),
        (Some("running"), Some("warm"), Some(p.as_str()))
    );
    assert_eq!(d["environment_vars"], json!({"A": "1", "B": "two words"}));
    assert_eq!(
        (d["ai"].as_bool(), d["hoody_kit"].as_bool(), d["autostart"].as_bool()),
        (Some(false), Some(false), Some(false))
    );
    assert_eq!(d["ssh_public_key"], key(1).as_str());
    // The same body, made fresh.
    let mut fresh_body = body("fresh", key(2));
    fresh_body["bypass_prespawn"] = json!(true);
    let r = app.post_auth(&format!("/api/v1/projects/{p}/containers"), &s.token, Some(fresh_body)).await;
    r.expect(201);
    let fresh = r.data()["id"].as_str().unwrap().to_owned();
    app.track(&fresh);
    assert!(!pool.contains(&fresh));

    // LXD: the claimed instance's environment, boot and labels are the fresh one's, ids aside;
    // nothing of the pool is left on it.
    let lxd = lxd_instances();
    let (w, f) = (&lxd[&format!("c-{warm}")], &lxd[&format!("c-{fresh}")]);
    assert_eq!((w.1.as_str(), f.1.as_str()), ("Running", "Running"));
    let strip = |c: &BTreeMap<String, String>| {
        let mut c = ours(c);
        c.remove("user.hoody.container_id");
        c
    };
    assert_eq!(strip(&w.0), strip(&f.0), "claimed vs fresh config");
    assert_eq!(w.0.get("user.hoody.container_id"), Some(&warm));
    assert_eq!(w.0.get("boot.autostart").map(String::as_str), Some("false"));
    // A process started in it now sees the environment.
    let env = exec_env(&format!("c-{warm}"));
    assert!(env.lines().any(|l| l == "A=1") && env.lines().any(|l| l == "B=two words"), "{env}");
    let snaps: Value = serde_json::from_str(&lxc(&["query", &format!("/1.0/instances/c-{warm}/snapshots")])).unwrap();
    assert_eq!(snaps, json!([]), "no snapshot");

    // Never anyone's before: its history starts with this create, and its events are a fresh
    // create's.
    let log: Vec<(Option<String>, String)> = sqlx::query_as(
        "select from_status, to_status from container_status_log where container_id = $1 order by transition_time",
    )
    .bind(&warm)
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(log, [(None, "creating".to_owned()), (Some("creating".to_owned()), "running".to_owned())]);
    let events = |id: String| {
        let db = app.db.clone();
        async move {
            sqlx::query_scalar::<_, String>(
                "select event_type from event where resource_id = $1 order by created_at, event_type",
            )
            .bind(id)
            .fetch_all(&db)
            .await
            .unwrap()
        }
    };
    assert_eq!(events(warm.clone()).await, events(fresh.clone()).await);
    assert!(!events(warm.clone()).await.is_empty());
    hold_refill(&app, false).await;
    drain(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_instances_are_hidden_and_claims_obey_the_callers_limits_and_options() {
    let app = spawn(Duration::from_millis(200), |c| {
        c.quotas.free.containers = 2;
        c.quotas.standard.containers = 2;
    })
    .await;
    let (s, p) = user(&app, "limited").await;
    set_pool(&app, 2);
    let pool = wait_ready(&app, 2).await;
    hold_refill(&app, true).await;
    let pool_ids: Vec<String> = pool.iter().cloned().collect();

    // Nobody sees them: no container row, list, status log or event.
    let r = app.get("/api/v1/containers/?include_prespawn=true", Some(&s.token)).await;
    r.expect(200);
    assert_eq!(r.data()["pagination"]["total"], 0, "{}", r.text);
    let traces: i64 = sqlx::query_scalar(
        "select (select count(*) from container where container_id = any($1)) \
         + (select count(*) from container_status_log where container_id = any($1)) \
         + (select count(*) from event where resource_id = any($1) or container_id = any($1))",
    )
    .bind(&pool_ids)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(traces, 0);

    // The caller's own prespawned container first, then the pool.
    let r = app.create(&s.token, &p, json!({"prespawn": true, "name": "spare"})).await;
    r.expect(201);
    let spare = r.data()["id"].as_str().unwrap().to_owned();
    assert_eq!(rows(&app).await.len(), 2, "a prespawn is made afresh, not taken from the pool");
    let r = app.create(&s.token, &p, json!({"bypass_prespawn": false, "name": "one"})).await;
    r.expect(201);
    assert_eq!(r.data()["id"], spare.as_str(), "the caller's prespawned container comes first");
    let r = app.create(&s.token, &p, json!({"bypass_prespawn": false, "name": "two"})).await;
    r.expect(201);
    let two = r.data()["id"].as_str().unwrap().to_owned();
    assert!(pool.contains(&two), "then the pool");
    let left = rows(&app).await;
    assert_eq!(left.len(), 1);

    // The account holds its two: a claim is refused as a fresh create would be, and the pool
    // instance stays ready for someone else.
    let r = app.create(&s.token, &p, json!({"bypass_prespawn": false, "name": "three"})).await;
    r.expect(422);
    assert_eq!(r.body["details"]["fields"][0]["path"], "limits.containers", "{}", r.text);
    assert_eq!(rows(&app).await, left);

    // Options that need a fresh instance leave the pool alone (an administrator: no limits; kvm
    // only off the free tier).
    let admin = app.verified_user("warm-admin@example.com").await;
    sqlx::query("update app_user set is_admin = true where user_id = $1")
        .bind(&admin.user_id)
        .execute(&app.db)
        .await
        .unwrap();
    app.forget_cached();
    let q = app.project(&admin.token, "Fresh").await;
    sqlx::query("update server set is_free = false where server_id = $1")
        .bind(&app.server_id)
        .execute(&app.db)
        .await
        .unwrap();
    for (what, extra) in [
        ("bypass_prespawn", json!({"bypass_prespawn": true})),
        ("kvm", json!({"bypass_prespawn": false, "kvm": true})),
        ("cache_image", json!({"bypass_prespawn": false, "cache_image": true})),
    ] {
        let r = app.create(&admin.token, &q, extra).await;
        r.expect(201);
        assert!(!pool.contains(r.data()["id"].as_str().unwrap()), "{what} took a pool instance");
        assert_eq!(rows(&app).await, left, "{what} touched the pool");
    }
    sqlx::query("update server set is_free = true where server_id = $1")
        .bind(&app.server_id)
        .execute(&app.db)
        .await
        .unwrap();
    // And the last one goes to the next create that may take it.
    let r = app.create(&admin.token, &q, json!({"bypass_prespawn": false})).await;
    r.expect(201);
    assert!(left.contains_key(r.data()["id"].as_str().unwrap()));
    let r = app.get("/api/v1/containers/?include_prespawn=true", Some(&s.token)).await;
    assert_eq!(ids(&r).len(), 2, "the caller sees their two, nothing of the pool: {}", r.text);
    hold_refill(&app, false).await;
    drain(&app).await;
}

/// One pass of each replica at once.
async fn both(a: &hoody_api::state::AppState, b: &hoody_api::state::AppState) {
    let (x, y) = tokio::join!(warm_pool::pass(a), warm_pool::pass(b));
    x.unwrap();
    y.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_refill_loop_keeps_the_pool_whole_across_replicas_and_failures() {
    // Passes are driven by the test (the loops' own come after an hour).
    let app = spawn(Duration::from_secs(3600), |_| {}).await;
    let replica = app.replica().await;
    set_pool(&app, 3);
    // A pool another replica is refilling (its lock held) is left alone.
    let mut other = app.db.begin().await.unwrap();
    assert!(hoody_api::db::warm_pool::try_lock_group(&mut other, &app.server_id, IMAGE).await.unwrap());
    let p = warm_pool::pass(&app.state).await.unwrap();
    assert_eq!((p.launched, rows(&app).await.len()), (0, 0), "refilled under another's lock");
    other.rollback().await.unwrap();
    // Two replicas refilling at once never overfill it.
    for _ in 0..4 {
        both(&app.state, &replica.state).await;
        let r = rows(&app).await;
        assert!(r.len() <= 3, "overfilled: {r:?}");
        assert!(on_lxd(&app).len() <= 3, "overfilled on LXD: {:?}", on_lxd(&app));
    }
    let first = wait_ready(&app, 3).await;
    assert_eq!(on_lxd(&app).len(), 3);
    replica.shutdown().await;

    // A stray marked for this server is removed; one a container owns is not.
    let stray = hoody_api::db::new_id();
    let owned = seed(
        &app,
        &app.project(&app.verified_user("owner@example.com").await.token, "Own").await,
        "own",
        "creating",
        |_| {},
    )
    .await;
    app.track(&owned);
    for id in [&stray, &owned] {
        let mark = format!("{}={}", warm_pool::WARM_KEY, app.server_id);
        lxc(&["launch", IMAGE, &format!("c-{id}"), "-c", &mark]);
        assert!(exists(&format!("c-{id}")));
    }
    warm_pool::pass(&app.state).await.unwrap();
    assert!(!exists(&format!("c-{stray}")), "the stray is gone");
    assert!(exists(&format!("c-{owned}")), "a container's instance is never removed");
    lxc(&["delete", "--force", &format!("c-{owned}")]);

    // A launch whose process died (its row `launching` for longer than the runner's lease) is
    // given up: its instance removed, its row gone, the pool as it was.
    let dead = hoody_api::db::new_id();
    sqlx::query(
        "insert into warm_instance (instance_id, server_id, image, state, state_changed_at) \
         values ($1, $2, $3, 'launching', now() - interval '1 hour')",
    )
    .bind(&dead)
    .bind(&app.server_id)
    .bind(IMAGE)
    .execute(&app.db)
    .await
    .unwrap();
    lxc(&["launch", IMAGE, &format!("c-{dead}"), "-c", &format!("{}={}", warm_pool::WARM_KEY, app.server_id)]);
    warm_pool::pass(&app.state).await.unwrap();
    assert!(!exists(&format!("c-{dead}")), "the dead launch's instance is gone");
    assert_eq!(wait_ready(&app, 3).await, first);

    // A ready instance deleted behind the pool's back is replaced.
    let victim = first.iter().next().unwrap().clone();
    lxc(&["delete", "--force", &format!("c-{victim}")]);
    warm_pool::pass(&app.state).await.unwrap();
    let now = wait_ready(&app, 3).await;
    assert!(!now.contains(&victim));
    assert_eq!(on_lxd(&app), now.iter().map(|id| format!("c-{id}")).collect());

    // A launch whose replies are lost (the host did the work): nothing counts as ready that is
    // not, what was made is removed, and the pool backs off before trying again.
    // (Generous call timeouts: a launch slower than a deadline on a busy machine is another case.)
    let faulty = pin_through(&app, HostLimits { call_timeout: Duration::from_secs(60), ..HostLimits::default() });
    faulty.set(Fault::LoseReply);
    let victim = now.iter().next().unwrap().clone();
    lxc(&["delete", "--force", &format!("c-{victim}")]);
    let p = warm_pool::pass(&app.state).await.unwrap();
    assert_eq!(p.launch_failed, 1, "{p:?}");
    let r = rows(&app).await;
    let ready: BTreeSet<String> = r.iter().filter(|(_, s)| *s == "ready").map(|(id, _)| id.clone()).collect();
    assert_eq!(ready.len(), 2, "{r:?}");
    assert_eq!(on_lxd(&app), ready.iter().map(|id| format!("c-{id}")).collect(), "only the ready ones on LXD");
    let failures: i32 = sqlx::query_scalar("select failures from warm_pool where server_id = $1")
        .bind(&app.server_id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(failures, 1);
    faulty.set(Fault::None);
    let deadline = Instant::now() + Duration::from_secs(60);
    while rows(&app).await.values().filter(|s| *s == "ready").count() < 3 {
        assert!(Instant::now() < deadline, "no refill after the backoff: {:?}", rows(&app).await);
        warm_pool::pass(&app.state).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let now = wait_ready(&app, 3).await;
    assert_eq!(on_lxd(&app), now.iter().map(|id| format!("c-{id}")).collect());
    let failures: i32 = sqlx::query_scalar("select failures from warm_pool where server_id = $1")
        .bind(&app.server_id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(failures, 0, "a launch that worked ends the backoff");

    // Smaller, then removed: the idle instances leave LXD.
    set_pool(&app, 1);
    warm_pool::pass(&app.state).await.unwrap();
    let one = wait_ready(&app, 1).await;
    assert_eq!(on_lxd(&app), one.iter().map(|id| format!("c-{id}")).collect());
    set_pool(&app, 0);
    warm_pool::pass(&app.state).await.unwrap();
    assert!(rows(&app).await.is_empty());
    assert!(on_lxd(&app).is_empty(), "{:?}", on_lxd(&app));
    assert!(lxc_status(&format!("c-{}", one.iter().next().unwrap())).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_sets_lists_and_refuses_warm_pools() {
    let app = spawn(Duration::from_millis(200), |_| {}).await;
    for (args, says) in [
        (vec!["--warm-pool", "foo"], "<image>=<n>"),
        (vec!["--warm-pool", "hoody-busybox=-1"], "0 (no pool) to 1000"),
        (vec!["--warm-pool", "hoody-busybox=lots"], "<image>=<n>"),
        (vec!["--warm-pool", "hoody-busybox=1001"], "0 (no pool) to 1000"),
        (vec!["--warm-pool", "bad image=1"], "alias of letters"),
        (vec!["--warm-pool", "no-such-image=2"], "has no image no-such-image"),
        (vec!["--warm-pool", "hoody-busybox=1", "--warm-pool", "hoody-busybox=2"], "twice"),
    ] {
        let mut all = vec!["update", "local"];
        all.extend(args.iter());
        let (ok, _, err) = cli(&app, &all);
        assert!(!ok, "{args:?} was taken");
        assert!(err.contains(says), "{args:?}: {err}");
    }
    let (ok, _, err) = cli(&app, &["update", "nowhere", "--warm-pool", "hoody-busybox=1"]);
    assert!(!ok && err.contains("no server named"), "{err}");
    let count: i64 = sqlx::query_scalar("select count(*) from warm_pool").fetch_one(&app.db).await.unwrap();
    assert_eq!(count, 0, "a refusal sets nothing");

    set_pool(&app, 2);
    wait_ready(&app, 2).await;
    let (ok, out, err) = cli(&app, &["list", "--json"]);
    assert!(ok, "{err}");
    let list: Value = serde_json::from_str(&out).unwrap();
    let local = list.as_array().unwrap().iter().find(|s| s["name"] == "local").unwrap();
    let pools = local["warm_pools"].as_array().unwrap();
    assert_eq!(pools.len(), 1, "{local}");
    assert_eq!(
        (
            pools[0]["image"].as_str(),
            pools[0]["size"].as_i64(),
            pools[0]["ready"].as_i64(),
            pools[0]["launching"].as_i64()
        ),
        (Some(IMAGE), Some(2), Some(2), Some(0))
    );
    let (ok, out, _) = cli(&app, &["list"]);
    assert!(ok);
    let line = out.lines().find(|l| l.starts_with("local ") && l.contains(IMAGE)).unwrap_or_else(|| panic!("{out}"));
    let cols: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(cols, ["local", IMAGE, "2", "2", "0", "0"], "{out}");
    // The pool's instances hold room on the server for placement, as containers do.
    let local_id: String =
        sqlx::query_scalar("select server_id from server where name = 'local'").fetch_one(&app.db).await.unwrap();
    let epoch = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
    let loads = hoody_api::db::servers::loads(&app.db, std::slice::from_ref(&local_id), &[epoch]).await.unwrap();
    assert_eq!(loads.iter().map(|(id, l)| (id.as_str(), l.containers)).collect::<Vec<_>>(), [(local_id.as_str(), 2)]);
    // A server with a pool is not removed (its instances would be left on the host).
    let (ok, _, err) = cli(&app, &["remove", "local"]);
    assert!(!ok && err.contains("warm pools"), "{err}");
    let servers: i64 = sqlx::query_scalar("select count(*) from server").fetch_one(&app.db).await.unwrap();
    assert_eq!(servers, 1);
    drain(&app).await;
    let (_, out, _) = cli(&app, &["list", "--json"]);
    let list: Value = serde_json::from_str(&out).unwrap();
    assert!(list.as_array().unwrap().iter().all(|s| s["warm_pools"].as_array().is_some_and(Vec::is_empty)));
}
