//! A rented server on the real LXD: only its renter's containers may go on it, and when the
//! rental ends the sweeper stops them (LXD says STOPPED; the rows stay), writes
//! `server.rental_expired`, and the server takes no new container of theirs.

use std::time::Duration;

use serde_json::json;

use super::{rent, renter};
use crate::fixtures::{lxc_status, LxdApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renters_containers_run_on_it_and_stop_when_the_rental_ends() {
    let app = LxdApp::spawn_with(|c| c.rental_sweep_interval = Duration::from_millis(200)).await;
    // The local LXD as a server for rent.
    sqlx::query(
        "update server set is_free = false, listed = true, price_per_day_cents = 100, rental_days = '{7}' where server_id = $1",
    )
    .bind(&app.server_id)
    .execute(&app.db)
    .await
    .unwrap();
    let u = renter(&app, "lxdrent@example.com", "50").await;
    let other = renter(&app, "lxdother@example.com", "50").await;
    let p = app.project(&u.token, "rented").await;
    // Not rented yet: 403, nothing made on the host.
    let r = app.create(&u.token, &p, json!({"name": "before"})).await;
    r.expect(403);
    assert_eq!(r.code(), "server_not_rented");
    let rented = rent(&app, &u.token, &app.server_id, json!({"rental_days": 7})).await;
    rented.expect(200);
    let rental = rented.data()["rental"]["id"].as_str().unwrap().to_owned();

    // Its runtime: what LXD itself reports of the machine, cached for polling.
    let runtime = format!("/api/v1/rentals/{rental}/runtime");
    let r = app.get(&runtime, Some(&u.token)).await;
    r.expect(200);
    let d = r.data().clone();
    let resources: serde_json::Value =
        serde_json::from_str(&crate::fixtures::lxc(&["query", "/1.0/resources"])).unwrap();
    // The pool the instances go on: the default profile's root disk's.
    let profile: serde_json::Value =
        serde_json::from_str(&crate::fixtures::lxc(&["query", "/1.0/profiles/default"])).unwrap();
    let pool = profile["devices"]["root"]["pool"].as_str().unwrap();
    let pool: serde_json::Value =
        serde_json::from_str(&crate::fixtures::lxc(&["query", &format!("/1.0/storage-pools/{pool}/resources")]))
            .unwrap();
    assert_eq!((d["scope"].as_str(), d["stale"].as_bool()), (Some("server"), Some(false)));
    assert_eq!(d["cores"], resources["cpu"]["total"]);
    assert_eq!(d["mem"]["total_bytes"], resources["memory"]["total"]);
    assert_eq!(d["storage"]["total_bytes"], pool["space"]["total"]);
    assert!(d["mem"]["pct"].as_f64().is_some_and(|p| p > 0.0 && p <= 100.0), "{d}");
    assert_eq!(d["load"]["1"], serde_json::Value::Null);
    let again = app.get(&format!("/api/v1/servers/{rental}/runtime"), Some(&u.token)).await;
    again.expect(200);
    assert_eq!(again.data()["ts"], d["ts"], "served from the cache");
    let (t, _) = app
        .new_token(&u.token, json!({"permissions": {"financial": {"server_rental": {"view_marketplace": true}}}}))
        .await;
    let r = app.get(&runtime, Some(&t)).await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "session_required"));
    app.get(&runtime, Some(&other.token)).await.expect(404);
    let id = app.running(&u.token, &p, json!({"name": "on-rented"})).await;
    let lxd_name = format!("c-{id}");
    assert_eq!(lxc_status(&lxd_name), "RUNNING");
    // Someone else's container still may not go on it.
    let q = app.project(&other.token, "not-theirs").await;
    app.create(&other.token, &q, json!({"name": "intruder"})).await.expect(403);
    // The capacity the rental shows counts it.
    let list = app.get("/api/v1/rentals", Some(&u.token)).await;
    assert_eq!(list.data()[0]["server"]["container_capacity"]["used"], 1);
    // Its capacity holds: with room for one more, two creates at once make exactly one (the
    // other is 409 `server_full`, recorded nowhere and made nothing on the host). What an
    // earlier renter left there (a stopped container of someone else's) takes none of it.
    sqlx::query("update server set max_containers = 2 where server_id = $1")
        .bind(&app.server_id)
        .execute(&app.db)
        .await
        .unwrap();
    let left_by_another = hoody_api::db::new_id();
    sqlx::query(
        "insert into container (container_id, project_id, server_id, lxd_name, name, color, container_image, status) \
         values ($1, $2, $3, 'c-' || $1, 'earlier', 'blue', 'hoody-busybox', 'stopped')",
    )
    .bind(&left_by_another)
    .bind(&q)
    .bind(&app.server_id)
    .execute(&app.db)
    .await
    .unwrap();
    app.forget_cached();
    let (a, b) = tokio::join!(
        app.create(&u.token, &p, json!({"name": "room-a"})),
        app.create(&u.token, &p, json!({"name": "room-b"}))
    );
    let mut got = [(a.status.as_u16(), a.code().to_owned()), (b.status.as_u16(), b.code().to_owned())];
    got.sort();
    assert_eq!(got[0].0, 201, "{got:?}");
    assert_eq!(got[1], (409, "server_full".to_owned()));
    // Every row the two creates left (any status): the one made; each is running in LXD (an
    // instance is named after its row, so the refused one has none).
    let on_it: Vec<String> =
        sqlx::query_scalar("select 'c-' || container_id from container where server_id = $1 order by 1")
            .bind(&app.server_id)
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert_eq!(on_it.len(), 3, "{on_it:?}");
    let on_it: Vec<String> = on_it.into_iter().filter(|n| *n != format!("c-{left_by_another}")).collect();
    for name in &on_it {
        assert_eq!(lxc_status(name), "RUNNING");
    }
    let list = app.get("/api/v1/rentals", Some(&u.token)).await;
    assert_eq!(list.data()[0]["server"]["container_capacity"], json!({"used": 2, "max": 2}));
    sqlx::query("delete from container where container_id = $1").bind(&left_by_another).execute(&app.db).await.unwrap();

    // The rental's time is up: the sweeper ends it and stops the container.
    sqlx::query("update rental set rental_start = now() - interval '8 days 1 second', rental_end = now() - interval '1 second' where server_id = $1")
        .bind(&app.server_id)
        .execute(&app.db)
        .await
        .unwrap();
    let (mut status, mut row) = (String::new(), String::new());
    for _ in 0..150 {
        status = lxc_status(&lxd_name);
        row = sqlx::query_scalar("select status from container where container_id = $1")
            .bind(&id)
            .fetch_one(&app.db)
            .await
            .unwrap();
        if status == "STOPPED" && row == "stopped" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, "STOPPED", "LXD still has it {status}");
    assert_eq!(row, "stopped", "stopped, not deleted");
    let (rental_status, events): (String, i64) = sqlx::query_as(
        "select r.status, (select count(*) from event e where e.event_type = 'server.rental_expired' and e.user_id = r.user_id) \
         from rental r where r.server_id = $1",
    )
    .bind(&app.server_id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!((rental_status.as_str(), events), ("expired", 1));
    let got = app.get("/api/v1/rentals", Some(&u.token)).await;
    assert_eq!(
        (got.data()[0]["status"].as_str(), got.data()[0]["remaining_days"].as_i64()),
        (Some("expired"), Some(0))
    );
    assert_eq!(got.data()[0]["usage_days"], 8);
    // Ended: no new container there, and the stopped one may not start again.
    app.create(&u.token, &p, json!({"name": "after"})).await.expect(403);
    let r = app.post_auth(&format!("/api/v1/containers/{id}/start"), &u.token, None).await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "server_not_rented"));
    assert_eq!(lxc_status(&lxd_name), "STOPPED");
    let r = app.get(&runtime, Some(&u.token)).await;
    assert_eq!((r.status.as_u16(), r.code()), (409, "rental_not_active"));
    // Back in the marketplace.
    let m = app.get(super::MARKET, Some(&u.token)).await;
    assert_eq!(m.data().as_array().unwrap().len(), 1);

    // Rented again: both rentals show the server; the container starts, and the sweeper (every
    // 200 ms) leaves it running.
    rent(&app, &u.token, &app.server_id, json!({"rental_days": 7})).await.expect(200);
    let list = app.get("/api/v1/rentals", Some(&u.token)).await;
    let servers: Vec<&serde_json::Value> = list.data().as_array().unwrap().iter().map(|r| &r["server"]["id"]).collect();
    assert_eq!(servers, [&json!(app.server_id), &json!(app.server_id)]);
    app.post_auth(&format!("/api/v1/containers/{id}/start"), &u.token, None).await.expect(200);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(lxc_status(&lxd_name), "RUNNING");
}
