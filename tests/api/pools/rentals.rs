//! Servers rented for a pool: only a pool its renter owns or administers; the pool's accepted
//! members may use the server (the renter's check everywhere: commands, containers, one
//! capacity) until they leave or the pool goes; an order made for a pool delivers a rental for it.

use std::time::Duration;

use serde_json::json;

use super::{accept, during_demotion, invite, join, pool, remove, user, POOLS};
use crate::{
    fixtures::{lxc_status, LxdApp},
    harness::{Session, TestApp},
    rentals::{general_cents, listed_server, rent},
};

/// A user named `tag` with `dollars` and a default payment method.
async fn payer(app: &TestApp, tag: &str, dollars: &str) -> Session {
    let u = user(app, tag).await;
    crate::wallet::fund(app, &u.user_id, dollars).await;
    app.post_auth("/api/v1/wallet/payment-methods/", &u.token, Some(json!({"name": "Invoice account"})))
        .await
        .expect(201);
    u
}

async fn commands(app: &TestApp, token: &str, server: &str) -> crate::harness::Resp {
    app.get(&format!("/api/v1/servers/{server}/available-commands"), Some(token)).await
}

async fn rental_pool(app: &TestApp, server: &str) -> Option<String> {
    sqlx::query_scalar("select pool_id from rental where server_id = $1 and status = 'active'")
        .bind(server)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_server_rented_for_a_pool_is_its_members_until_they_leave_or_it_goes() {
    let app = TestApp::spawn().await;
    let o = payer(&app, "rowner", "100").await;
    let m = user(&app, "rmember").await;
    let m2 = user(&app, "rmember2").await;
    let _pending = user(&app, "rpending").await;
    let s = user(&app, "rstranger").await;
    let id = pool(&app, &o.token, "renters").await;
    join(&app, &o.token, &id, &m, "rmember", "user").await;
    join(&app, &o.token, &id, &m2, "rmember2", "user").await;
    invite(&app, &o.token, &id, "rpending", "user").await.expect(201);
    let server = listed_server(&app, "pooled", 100, &[7], &[]).await;

    // Refusals, nothing charged: a malformed pool id (named), another's pool (404), a pool
    // where the renter is only a user (403).
    let r = rent(&app, &o.token, &server, json!({"rental_days": 7, "pool_id": "nope"})).await;
    r.expect(422);
    assert_eq!(r.body["details"]["fields"][0]["path"], "pool_id");
    let theirs = pool(&app, &s.token, "not-yours").await;
    let r = rent(&app, &o.token, &server, json!({"rental_days": 7, "pool_id": theirs})).await;
    r.expect(404);
    assert_eq!(r.code(), "pool_not_found");
    let member_payer = payer(&app, "rpayer", "100").await;
    join(&app, &o.token, &id, &member_payer, "rpayer", "user").await;
    let r = rent(&app, &member_payer.token, &server, json!({"rental_days": 7, "pool_id": id})).await;
    r.expect(403);
    assert_eq!(r.code(), "pool_access_denied");
    assert_eq!(general_cents(&app, &o.user_id).await, 10_000);
    assert_eq!(general_cents(&app, &member_payer.user_id).await, 10_000);
    let none: i64 = sqlx::query_scalar("select count(*) from rental").fetch_one(&app.db).await.unwrap();
    assert_eq!(none, 0);

    // Before: members may not use it.
    let r = commands(&app, &m.token, &server).await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "server_not_rented"));
    // Rented for the pool: stored on the rental; shown on the pool and the renter's rentals.
    rent(&app, &o.token, &server, json!({"rental_days": 7, "pool_id": id})).await.expect(200);
    assert_eq!(rental_pool(&app, &server).await.as_deref(), Some(id.as_str()));
    let list = app.get("/api/v1/rentals", Some(&o.token)).await;
    assert_eq!(list.data()[0]["pool_id"], id.as_str());
    let g = app.get(&format!("{POOLS}/{id}"), Some(&m.token)).await;
    g.expect(200);
    assert_eq!(
        g.data()["servers"],
        json!([{"id": server, "name": "pooled", "rental_status": "active", "is_ready": true}])
    );
    let l = app.get(POOLS, Some(&m.token)).await;
    let mine = l.data().as_array().unwrap().iter().find(|p| p["id"] == id.as_str()).unwrap().clone();
    assert_eq!(mine["server_count"], 1);

    // The renter and every accepted member may use it; an invitee and a stranger may not.
    for who in [&o, &m, &m2] {
        let r = commands(&app, &who.token, &server).await;
        r.expect(200);
        assert_eq!(r.data()["server_info"]["rental_status"], "active");
    }
    let pending = app.login("rpending@example.com", crate::harness::PASSWORD).await;
    for t in [&pending.token, &s.token] {
        let r = commands(&app, t, &server).await;
        assert_eq!((r.status.as_u16(), r.code()), (403, "server_not_rented"));
    }
    // A removed member loses it at once.
    remove(&app, &o.token, &id, &m.user_id).await.expect(200);
    let r = commands(&app, &m.token, &server).await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "server_not_rented"));
    commands(&app, &m2.token, &server).await.expect(200);
    // A deleted pool: its members lose it; the rental stays its renter's.
    app.request(reqwest::Method::DELETE, &format!("{POOLS}/{id}"), Some(&o.token), None).await.expect(200);
    assert_eq!(rental_pool(&app, &server).await, None);
    let r = commands(&app, &m2.token, &server).await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "server_not_rented"));
    commands(&app, &o.token, &server).await.expect(200);

    // An admin of a pool may rent for it.
    let other_pool = pool(&app, &s.token, "admins-rent").await;
    join(&app, &s.token, &other_pool, &member_payer, "rpayer", "admin").await;
    let second = listed_server(&app, "pooled-2", 100, &[7], &[]).await;
    rent(&app, &member_payer.token, &second, json!({"rental_days": 7, "pool_id": other_pool})).await.expect(200);
    commands(&app, &s.token, &second).await.expect(200);

    // A `user` member runs the low-risk commands of a pool's server, not the high-risk ones
    // (nothing is stored for the refused one); the pool's owner gets the confirmation step.
    let ru = user(&app, "ruser").await;
    join(&app, &s.token, &other_pool, &ru, "ruser", "user").await;
    commands(&app, &ru.token, &second).await.expect(200);
    let restart = json!({"command_slug": "restart-service", "parameters": {"service": "hoody-no-such.service"}});
    let path = format!("/api/v1/servers/{second}/execute-command");
    let r = app.post_auth(&path, &ru.token, Some(restart.clone())).await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "pool_access_denied"), "{}", r.text);
    let stored: i64 = sqlx::query_scalar(
        "select (select count(*) from server_command_log) + (select count(*) from server_command_confirmation)",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(stored, 0);
    let r = app.post_auth(&path, &s.token, Some(restart)).await;
    r.expect(200);
    assert_eq!(r.data()["status"], "awaiting_confirmation");

    // The renter leaves the pool: the server is theirs alone, its other members stop using it
    // (recorded for the sweeper, which stops what they run there).
    remove(&app, &member_payer.token, &other_pool, &member_payer.user_id).await.expect(200);
    assert_eq!(rental_pool(&app, &second).await, None);
    for who in [&s, &ru] {
        let r = commands(&app, &who.token, &second).await;
        assert_eq!((r.status.as_u16(), r.code()), (403, "server_not_rented"));
    }
    commands(&app, &member_payer.token, &second).await.expect(200);
    let mut ended: Vec<String> =
        sqlx::query_scalar("select user_id from pool_use_ended where server_id = $1 order by user_id")
            .bind(&second)
            .fetch_all(&app.db)
            .await
            .unwrap();
    let mut want = vec![s.user_id.clone(), ru.user_id.clone()];
    want.sort();
    ended.sort();
    assert_eq!(ended, want);
}

/// A rent for a pool checks the renter's role again inside its transaction: a demotion that
/// was in flight when the request began (its row write not committed) is waited for and seen,
/// and nothing is charged or rented.
#[tokio::test]
async fn a_rent_for_a_pool_sees_a_demotion_that_raced_it() {
    let app = TestApp::spawn().await;
    let o = user(&app, "downer").await;
    let a = payer(&app, "dadmin", "100").await;
    let id = pool(&app, &o.token, "racing").await;
    join(&app, &o.token, &id, &a, "dadmin", "admin").await;
    let server = listed_server(&app, "raced", 100, &[7], &[]).await;

    let renting = rent(&app, &a.token, &server, json!({"rental_days": 7, "pool_id": id}));
    let r = during_demotion(&app, &id, &a.user_id, renting).await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "pool_access_denied"), "{}", r.text);
    assert_eq!(general_cents(&app, &a.user_id).await, 10_000);
    let rentals: i64 = sqlx::query_scalar("select count(*) from rental").fetch_one(&app.db).await.unwrap();
    assert_eq!(rentals, 0);
}

#[tokio::test]
async fn an_order_for_a_pool_delivers_a_rental_for_it() {
    let app = TestApp::spawn().await;
    let o = payer(&app, "oowner", "200").await;
    let m = user(&app, "omember").await;
    let id = pool(&app, &o.token, "ordered").await;
    join(&app, &o.token, &id, &m, "omember", "user").await;
    let spec = json!({"country": "DE", "price_per_day_cents": 100, "rental_days": [30], "delivery_hours": 24});
    hoody_api::rentals_admin::add_offer(&app.db, "boxy", &spec.to_string()).await.unwrap();
    let offers = app.get("/api/v1/offers", Some(&o.token)).await;
    let offer = offers.data()[0]["id"].as_str().unwrap().to_owned();
    let reserve = format!("/api/v1/offers/{offer}/reserve");
    // A member with role user may not order for it.
    let r = app.post_auth(&reserve, &m.token, Some(json!({"days": 30, "idempotency_key": "m1", "pool_id": id}))).await;
    r.expect(403);
    let r = app.post_auth(&reserve, &o.token, Some(json!({"days": 30, "idempotency_key": "o1", "pool_id": id}))).await;
    r.expect(200);
    let res = r.data()["reservation"]["id"].as_str().unwrap().to_owned();
    let stored: Option<String> = sqlx::query_scalar("select pool_id from reservation where reservation_id = $1")
        .bind(&res)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(stored.as_deref(), Some(id.as_str()));
    // Delivered: the rental is the pool's; its member may use the server.
    let server = listed_server(&app, "boxy-1", 100, &[30], &[("listed", "false")]).await;
    hoody_api::rentals_admin::deliver(&app.db, &server, &res).await.unwrap();
    assert_eq!(rental_pool(&app, &server).await.as_deref(), Some(id.as_str()));
    commands(&app, &m.token, &server).await.expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_containers_run_on_the_pools_server_and_stop_when_they_leave() {
    let app = LxdApp::spawn_with(|c| c.rental_sweep_interval = Duration::from_millis(200)).await;
    sqlx::query(
        "update server set is_free = false, listed = true, price_per_day_cents = 100, rental_days = '{7}' where server_id = $1",
    )
    .bind(&app.server_id)
    .execute(&app.db)
    .await
    .unwrap();
    let o = payer(&app, "lowner", "50").await;
    let m = user(&app, "lmember").await;
    let s = user(&app, "lstranger").await;
    let id = pool(&app, &o.token, "lxd").await;
    invite(&app, &o.token, &id, "lmember", "user").await.expect(201);
    let p = app.project(&m.token, "on-pool").await;
    // Invited, not accepted: not theirs to use.
    let r = app.create(&m.token, &p, json!({"name": "early"})).await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "server_not_rented"));
    rent(&app, &o.token, &app.server_id, json!({"rental_days": 7, "pool_id": id})).await.expect(200);
    let r = app.create(&m.token, &p, json!({"name": "early"})).await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "server_not_rented"));
    accept(&app, &m.token, &id).await.expect(200);

    // A member's container runs on it; a stranger's may not go on it.
    let c = app.running(&m.token, &p, json!({"name": "member-box"})).await;
    let lxd_name = format!("c-{c}");
    assert_eq!(lxc_status(&lxd_name), "RUNNING");
    let q = app.project(&s.token, "outside").await;
    let r = app.create(&s.token, &q, json!({"name": "intruder"})).await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "server_not_rented"));
    // One capacity for the pool: with room for one, the member's container fills it for the
    // renter too.
    sqlx::query("update server set max_containers = 1 where server_id = $1")
        .bind(&app.server_id)
        .execute(&app.db)
        .await
        .unwrap();
    let op = app.project(&o.token, "renters-own").await;
    let r = app.create(&o.token, &op, json!({"name": "owners"})).await;
    assert_eq!((r.status.as_u16(), r.code()), (409, "server_full"));
    // Several sweeps pass: it keeps running while they are a member.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(lxc_status(&lxd_name), "RUNNING");
    // An administrator places a container of their own on the rented server: never the sweeper's.
    sqlx::query("update server set max_containers = 10 where server_id = $1")
        .bind(&app.server_id)
        .execute(&app.db)
        .await
        .unwrap();
    sqlx::query("update app_user set is_admin = true where user_id = $1")
        .bind(&s.user_id)
        .execute(&app.db)
        .await
        .unwrap();
    app.forget_cached();
    let admins = app.running(&s.token, &q, json!({"name": "admins-box"})).await;

    // Removed: the sweeper stops their container; no new one goes on it.
    remove(&app, &o.token, &id, &m.user_id).await.expect(200);
    let mut status = String::new();
    for _ in 0..200 {
        status = lxc_status(&lxd_name);
        if status == "STOPPED" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, "STOPPED", "LXD still has it {status}");
    let r = app.create(&m.token, &p, json!({"name": "after"})).await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "server_not_rented"));
    // The administrator's container outlives more sweeps (only uses that ended are stopped).
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(lxc_status(&format!("c-{admins}")), "RUNNING");
}
