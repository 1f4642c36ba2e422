//! Invitations as their invitee sees them: pending, accept (once, also when two race), reject;
//! nobody else may answer them.

use futures::future::join_all;
use serde_json::json;

use super::{accept, events, invite, pool, rows, token, user, PENDING, POOLS};
use crate::harness::TestApp;

#[tokio::test]
async fn pending_accept_and_reject() {
    let app = TestApp::spawn().await;
    let o = user(&app, "vowner").await;
    let i = user(&app, "vinvitee").await;
    let s = user(&app, "vstranger").await;
    let a = pool(&app, &o.token, "alpha").await;
    let b = pool(&app, &o.token, "beta").await;
    app.request(reqwest::Method::PUT, &format!("{POOLS}/{a}"), Some(&o.token), Some(json!({"description": "first"})))
        .await
        .expect(200);
    invite(&app, &o.token, &a, "vinvitee", "admin").await.expect(201);
    invite(&app, &o.token, &b, "vinvitee", "user").await.expect(201);

    // Pending: the invitee's own, newest first, in the contract's shape.
    let r = app.get(PENDING, Some(&i.token)).await;
    r.expect(200);
    let list = r.data().as_array().unwrap().clone();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["pool_id"], b.as_str());
    let one = &list[1];
    assert_eq!(one["id"].as_str().unwrap().len(), 24);
    assert_eq!((one["pool_name"].as_str(), one["pool_description"].as_str()), (Some("alpha"), Some("first")));
    assert_eq!(one["role"], "admin");
    assert_eq!(one["invited_by"]["id"], o.user_id.as_str());
    assert_eq!(one["invited_by"]["username"], "vowner");
    assert_eq!(one["invited_by"]["alias"], json!(null), "`alias: string | null`: sent as null");
    assert!(one["invited_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(list[0]["pool_description"], json!(null));
    // Nobody else sees them, nor may answer them.
    for t in [&o.token, &s.token] {
        let r = app.get(PENDING, Some(t)).await;
        assert_eq!(r.data(), &json!([]));
    }
    let r = accept(&app, &s.token, &a).await;
    r.expect(404);
    assert_eq!(r.code(), "invitation_not_found");
    app.post_auth(&format!("{POOLS}/{a}/reject"), &s.token, None).await.expect(404);
    // The owner is a member already.
    accept(&app, &o.token, &a).await.expect(409);
    app.post_auth(&format!("{POOLS}/nope/accept"), &i.token, None).await.expect(404);

    // Accept: a member with the invitation's role; the pool's members are told.
    let r = accept(&app, &i.token, &a).await;
    r.expect(200);
    assert_eq!(r.data(), &json!({"success": true}));
    assert!(rows(&app, &a).await.contains(&(i.user_id.clone(), "admin".into(), true)));
    assert_eq!(events(&app, &o.user_id, "pool.member.joined", &a).await, 1);
    assert_eq!(events(&app, &i.user_id, "pool.member.joined", &a).await, 1);
    app.get(&format!("{POOLS}/{a}"), Some(&i.token)).await.expect(200);
    // A second accept: 409; a reject now: 409 (a member, not an invitee).
    let r = accept(&app, &i.token, &a).await;
    r.expect(409);
    assert_eq!(r.code(), "already_member");
    app.post_auth(&format!("{POOLS}/{a}/reject"), &i.token, None).await.expect(409);

    // Reject: the invitation is gone; the owner is told; accepting after is 404.
    let r = app.post_auth(&format!("{POOLS}/{b}/reject"), &i.token, None).await;
    r.expect(200);
    assert_eq!(r.data(), &json!({"success": true}));
    assert!(rows(&app, &b).await.iter().all(|r| r.0 != i.user_id));
    assert_eq!(events(&app, &o.user_id, "pool.invitation_rejected", &b).await, 1);
    accept(&app, &i.token, &b).await.expect(404);
    let r = app.get(PENDING, Some(&i.token)).await;
    assert_eq!(r.data(), &json!([]));

    // Tokens: reading wants projects.read; answering wants projects.update.
    invite(&app, &o.token, &b, "vinvitee", "user").await.expect(201);
    let read = token(&app, &i, &["projects.read"]).await;
    app.get(PENDING, Some(&read)).await.expect(200);
    let r = accept(&app, &read, &b).await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "insufficient_permissions"));
    let nothing = token(&app, &i, &[]).await;
    app.get(PENDING, Some(&nothing)).await.expect(403);
    let answer = token(&app, &i, &["projects.update"]).await;
    accept(&app, &answer, &b).await.expect(200);
}

#[tokio::test]
async fn accepts_at_once_make_one_member() {
    let app = TestApp::spawn().await;
    let o = user(&app, "cowner").await;
    let i = user(&app, "cinvitee").await;
    for round in 0..3 {
        let id = pool(&app, &o.token, &format!("race-{round}")).await;
        invite(&app, &o.token, &id, "cinvitee", "user").await.expect(201);
        let all = join_all((0..4).map(|_| accept(&app, &i.token, &id))).await;
        let ok = all.iter().filter(|r| r.status == 200).count();
        assert_eq!(ok, 1, "{:?}", all.iter().map(|r| &r.text).collect::<Vec<_>>());
        assert!(all.iter().all(|r| r.status == 200 || r.status == 409), "the others: 409");
        let mine: Vec<_> = rows(&app, &id).await.into_iter().filter(|r| r.0 == i.user_id).collect();
        assert_eq!(mine, [(i.user_id.clone(), "user".to_owned(), true)]);
        assert_eq!(events(&app, &o.user_id, "pool.member.joined", &id).await, 1);
    }
}
