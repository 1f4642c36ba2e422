//! The pool writes check the caller's role again inside their transaction (a demotion in flight
//! is waited for and seen), and an account is in at most 500 pools, so its list is whole.

use futures::future::join_all;
use serde_json::json;

use super::{accept, create, during_demotion, invite, join, owned, pool, rows, user, PENDING, POOLS};
use crate::harness::TestApp;

#[tokio::test]
async fn an_invitation_sees_a_demotion_that_raced_it() {
    let app = TestApp::spawn().await;
    let o = user(&app, "rowner9").await;
    let a = user(&app, "radmin9").await;
    let _t = user(&app, "rtarget9").await;
    let id = pool(&app, &o.token, "raced").await;
    join(&app, &o.token, &id, &a, "radmin9", "admin").await;

    let inviting = invite(&app, &a.token, &id, "rtarget9", "user");
    let r = during_demotion(&app, &id, &a.user_id, inviting).await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "pool_access_denied"), "{}", r.text);
    assert_eq!(rows(&app, &id).await.len(), 2, "no invitation was stored");
}

/// `n` more pools owned by `user_id`, written directly (each with its owner's member row).
async fn bulk_pools(app: &TestApp, user_id: &str, n: i32) {
    sqlx::query(
        "with p as (insert into pool (pool_id, owner_id, name) \
                    select substr(md5($1 || g::text || clock_timestamp()::text), 1, 24), $1, 'bulk-' || g \
                      from generate_series(1, $2) g returning pool_id) \
         insert into pool_member (member_id, pool_id, user_id, role, invited_by, joined_at) \
         select substr(md5('m' || pool_id), 1, 24), pool_id, $1, 'owner', $1, now() from p",
    )
    .bind(user_id)
    .bind(n)
    .execute(&app.db)
    .await
    .unwrap();
}

#[tokio::test]
async fn an_account_is_in_at_most_500_pools_and_its_list_shows_them_all() {
    let app = TestApp::spawn().await;
    let u = user(&app, "many").await;
    let o = user(&app, "inviter").await;
    let theirs = pool(&app, &o.token, "theirs").await;
    // The default pool (made by the first list) and 498 more: 499.
    app.get(POOLS, Some(&u.token)).await.expect(200);
    bulk_pools(&app, &u.user_id, 498).await;
    create(&app, &u.token, json!({"name": "five-hundredth"})).await.expect(201);
    let r = create(&app, &u.token, json!({"name": "one-too-many"})).await;
    assert_eq!((r.status.as_u16(), r.code()), (409, "pool_limit_reached"), "{}", r.text);
    assert_eq!(owned(&app, &u.user_id).await, 500);
    let list = app.get(POOLS, Some(&u.token)).await;
    list.expect(200);
    assert_eq!(list.data().as_array().unwrap().len(), 500, "every pool is listed");

    // An invitation cannot be accepted at the limit; it stays pending.
    invite(&app, &o.token, &theirs, "many", "user").await.expect(201);
    let r = accept(&app, &u.token, &theirs).await;
    assert_eq!((r.status.as_u16(), r.code()), (409, "pool_limit_reached"), "{}", r.text);
    let pending = app.get(PENDING, Some(&u.token)).await;
    assert_eq!(pending.data().as_array().unwrap().len(), 1);

    // Three places free, eight creates at once: three land.
    sqlx::query("delete from pool where owner_id = $1 and name in ('bulk-1', 'bulk-2', 'bulk-3')")
        .bind(&u.user_id)
        .execute(&app.db)
        .await
        .unwrap();
    let creates = (0..8).map(|i| create(&app, &u.token, json!({"name": format!("racer-{i}")})));
    let mut got: Vec<u16> = join_all(creates).await.iter().map(|r| r.status.as_u16()).collect();
    got.sort();
    assert_eq!(got, [201, 201, 201, 409, 409, 409, 409, 409]);
    assert_eq!(owned(&app, &u.user_id).await, 500);
    // One freed: the invitation is accepted.
    sqlx::query(
        "delete from pool where pool_id = (select min(pool_id) from pool where owner_id = $1 and name like 'racer-%')",
    )
    .bind(&u.user_id)
    .execute(&app.db)
    .await
    .unwrap();
    accept(&app, &u.token, &theirs).await.expect(200);
    let list = app.get(POOLS, Some(&u.token)).await;
    assert_eq!(list.data().as_array().unwrap().len(), 500);
}
