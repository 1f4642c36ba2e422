//! Which servers a placement may choose from: the region asked for, and only servers the
//! project's owner may run on (free ones, and those they or a pool they joined rent); bad input
//! is refused naming the field, never a 500.

use serde_json::json;

use super::{anywhere, machine, Two};
use crate::server_commands::rent;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_region_filters_and_an_unknown_region_is_refused() {
    let two = Two::spawn().await;
    let u = two.verified_user("regional@example.com").await;
    let p = two.project(&u.token, "regional").await;
    two.set(&two.remote, "region = 'far'").await;
    // The local server is far bigger: only the region keeps the container off it.
    two.pin(&two.local, Some(machine(64, 256, 1000))).await;
    two.pin(&two.remote, Some(machine(2, 4, 50))).await;
    let mut body = anywhere("in-far");
    body["region"] = json!("far");
    assert_eq!(two.placed(&u.token, &p, body).await, two.remote);
    assert_eq!(two.placed(&u.token, &p, json!({"name": "in-local", "region": "local"})).await, two.local);

    let before = two.containers().await;
    for (region, why) in [
        (json!("mars"), "no server is registered in this region"),
        (json!(""), "1–64"),
        (json!("x".repeat(65)), "1–64"),
        (json!("lo\u{7}cal"), "1–64"),
    ] {
        let r = two.create(&u.token, &p, json!({"name": "bad-region", "region": region})).await;
        r.expect(422);
        assert_eq!(r.body["details"]["fields"][0]["path"], "region", "{}", r.text);
        assert!(r.text.contains(why), "{}", r.text);
    }
    // With a server: it must be in the region given.
    let r = two.create(&u.token, &p, json!({"name": "mismatch", "server_id": two.local, "region": "far"})).await;
    r.expect(422);
    assert!(r.text.contains("the server is in region local"), "{}", r.text);
    // Wrong types and unknown fields: refused, never a 500.
    for body in [
        json!({"name": "t1", "region": 7}),
        json!({"name": "t0", "region": "lo\u{0}cal"}),
        json!({"name": "t2", "server_id": "nope"}),
        json!({"name": "t3", "server_id": 12}),
        json!({"name": "t4", "zone": "local"}),
    ] {
        let r = two.create(&u.token, &p, body).await;
        assert!(matches!(r.status.as_u16(), 400 | 422), "{}", r.text);
    }
    // A region whose servers take nothing: 409 naming why.
    hoody_api::servers::drain(&two.db, "remote", true).await.unwrap();
    let r = two.create(&u.token, &p, json!({"name": "far-drained", "region": "far"})).await;
    r.expect(409);
    assert_eq!(r.code(), "no_server_available");
    assert!(r.text.contains("in region far"), "{}", r.text);
    assert_eq!(two.containers().await, before, "nothing recorded for refused creates");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_servers_the_owner_may_run_on_are_chosen() {
    let two = Two::spawn().await;
    // The remote is a rented server, and the bigger one.
    two.set(&two.remote, "is_free = false, price_per_day_cents = 100, rental_days = '{7}'").await;
    two.pin(&two.local, Some(machine(2, 4, 50))).await;
    two.pin(&two.remote, Some(machine(64, 256, 1000))).await;
    let renter = two.verified_user("renter@example.com").await;
    let member = two.verified_user("member@example.com").await;
    let invited = two.verified_user("invited@example.com").await;
    let stranger = two.verified_user("stranger@example.com").await;

    // Not rented by anyone: never chosen.
    let sp = two.project(&stranger.token, "s").await;
    assert_eq!(two.placed(&stranger.token, &sp, anywhere("s-1")).await, two.local);
    // Rented for a pool: its renter and its joined member get it, an invitee does not.
    let pool = hoody_api::db::new_id();
    sqlx::query("insert into pool (pool_id, owner_id, name) values ($1, $2, 'crew')")
        .bind(&pool)
        .bind(&renter.user_id)
        .execute(&two.db)
        .await
        .unwrap();
    for (user, role, joined) in [(&renter, "owner", true), (&member, "user", true), (&invited, "user", false)] {
        sqlx::query(
            "insert into pool_member (member_id, pool_id, user_id, role, joined_at) \
             values ($1, $2, $3, $4, case when $5 then now() end)",
        )
        .bind(hoody_api::db::new_id())
        .bind(&pool)
        .bind(&user.user_id)
        .bind(role)
        .bind(joined)
        .execute(&two.db)
        .await
        .unwrap();
    }
    rent(&two, &renter.user_id, &two.remote, "7 days").await;
    sqlx::query("update rental set pool_id = $1 where server_id = $2")
        .bind(&pool)
        .bind(&two.remote)
        .execute(&two.db)
        .await
        .unwrap();
    for (who, tag, want) in [(&renter, "r", &two.remote), (&member, "m", &two.remote), (&invited, "i", &two.local)] {
        let p = two.project(&who.token, tag).await;
        assert_eq!(two.placed(&who.token, &p, anywhere(&format!("{tag}-1"))).await, *want, "{tag}");
    }
    assert_eq!(two.placed(&stranger.token, &sp, anywhere("s-2")).await, two.local, "still not theirs");

    // The rental's room (its max_containers, shared by the pool) is full: the free server.
    two.set(&two.remote, "max_containers = 2").await;
    let p = two.project(&renter.token, "r2").await;
    assert_eq!(two.placed(&renter.token, &p, anywhere("r-2")).await, two.local);

    // With the free server off, a stranger has nowhere to go: 409 naming why, nothing made.
    two.set(&two.local, "is_enabled = false").await;
    let before = two.containers().await;
    let r = two.create(&stranger.token, &sp, anywhere("s-3")).await;
    r.expect(409);
    assert_eq!(r.code(), "no_server_available");
    assert!(r.text.contains("free or rented by the project's owner"), "{}", r.text);
    assert_eq!(two.containers().await, before);
}
