//! Pool members: invitations by username, role changes, removals; each refusal named and
//! nothing stored; the permission matrix (owner / admin / user / stranger; tokens).

use serde_json::json;

use super::{accept, events, invite, join, pool, remove, rows, set_role, token, user, POOLS};
use crate::harness::TestApp;

#[tokio::test]
async fn invite_change_role_and_remove() {
    let app = TestApp::spawn().await;
    let o = user(&app, "iowner").await;
    let m = user(&app, "imember").await;
    let id = pool(&app, &o.token, "crew").await;

    let r = invite(&app, &o.token, &id, "imember", "user").await;
    r.expect(201);
    let d = r.data().clone();
    assert_eq!(d["id"].as_str().unwrap().len(), 24);
    assert_eq!((d["role"].as_str(), d["is_authorized"].as_bool()), (Some("user"), Some(false)));
    assert!(d["invited_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(events(&app, &m.user_id, "pool.invited", &id).await, 1, "the invitee is told");
    assert_eq!(events(&app, &o.user_id, "pool.invited", &id).await, 1);
    // Invited, not a member yet: the pool shows the invitation; the invitee does not see the pool.
    let g = app.get(&format!("{POOLS}/{id}"), Some(&o.token)).await;
    let inv =
        g.data()["members"].as_array().unwrap().iter().find(|x| x["user"]["id"] == m.user_id.as_str()).unwrap().clone();
    assert_eq!((inv["is_authorized"].as_bool(), inv["joined_at"].clone()), (Some(false), json!(null)));
    app.get(&format!("{POOLS}/{id}"), Some(&m.token)).await.expect(404);
    // The owner may change an invitee's role too.
    set_role(&app, &o.token, &id, &m.user_id, "admin").await.expect(200);
    accept(&app, &m.token, &id).await.expect(200);
    let mut want = vec![(o.user_id.clone(), "owner".to_owned(), true), (m.user_id.clone(), "admin".to_owned(), true)];
    want.sort();
    assert_eq!(rows(&app, &id).await, want);

    // Role changes: to user and back; the same role again changes nothing.
    let r = set_role(&app, &o.token, &id, &m.user_id, "user").await;
    r.expect(200);
    assert_eq!(r.data(), &json!({"success": true}));
    set_role(&app, &o.token, &id, &m.user_id, "user").await.expect(200);
    assert_eq!(events(&app, &m.user_id, "pool.member.role_changed", &id).await, 2, "two changes, not three");
    let g = app.get(&format!("{POOLS}/{id}"), Some(&m.token)).await;
    let me =
        g.data()["members"].as_array().unwrap().iter().find(|x| x["user"]["id"] == m.user_id.as_str()).unwrap().clone();
    assert_eq!((me["role"].as_str(), me["is_authorized"].as_bool()), (Some("user"), Some(true)));

    // Remove: gone, and told.
    let r = remove(&app, &o.token, &id, &m.user_id).await;
    r.expect(200);
    assert_eq!(r.data(), &json!({"success": true}));
    assert_eq!(rows(&app, &id).await, [(o.user_id.clone(), "owner".to_owned(), true)]);
    assert_eq!(events(&app, &m.user_id, "pool.member.left", &id).await, 1);
    app.get(&format!("{POOLS}/{id}"), Some(&m.token)).await.expect(404);
    remove(&app, &o.token, &id, &m.user_id).await.expect(404);
    // Withdrawing an invitation: the invitee is told.
    invite(&app, &o.token, &id, "imember", "user").await.expect(201);
    remove(&app, &o.token, &id, &m.user_id).await.expect(200);
    assert_eq!(events(&app, &m.user_id, "pool.invitation_revoked", &id).await, 1);
    let p = app.get(super::PENDING, Some(&m.token)).await;
    assert_eq!(p.data(), &json!([]));
}

#[tokio::test]
async fn bad_invitations_are_named_and_nothing_is_stored() {
    let app = TestApp::spawn().await;
    let o = user(&app, "bowner").await;
    let m = user(&app, "bmember").await;
    let _p = user(&app, "bpending").await;
    let id = pool(&app, &o.token, "strict").await;
    join(&app, &o.token, &id, &m, "bmember", "user").await;
    invite(&app, &o.token, &id, "bpending", "user").await.expect(201);
    let before = rows(&app, &id).await;
    for (username, role, code) in [
        ("bowner", "user", "cannot_invite_self"),
        ("nobody-here", "user", "user_not_found"),
        ("bmember", "admin", "already_member"),
        ("bpending", "user", "already_invited"),
    ] {
        let r = invite(&app, &o.token, &id, username, role).await;
        r.expect(422);
        assert_eq!(r.code(), code, "{username}");
        assert_eq!(r.body["details"]["fields"][0]["path"], "username", "{username}");
    }
    for (body, field) in [
        (json!({"username": "", "role": "user"}), "username"),
        (json!({"username": "  ", "role": "user"}), "username"),
        (json!({"username": "x".repeat(101), "role": "user"}), "username"),
        (json!({"username": "bpending", "role": "owner"}), "role"),
        (json!({"username": "bpending", "role": "root"}), "role"),
        (json!({"username": "bpending"}), "role"),
        (json!({"role": "user"}), "username"),
        (json!({"username": 7, "role": "user"}), "username"),
    ] {
        let r = app.post_auth(&format!("{POOLS}/{id}/members"), &o.token, Some(body.clone())).await;
        assert!(r.status == 422 || r.status == 400, "{body}: {}", r.text);
        assert_eq!(r.body["details"]["fields"][0]["path"], field, "{body}: {}", r.text);
    }
    // Role changes: a bad role is named; the owner's own role is fixed; unknown users 404.
    for role in ["owner", "boss"] {
        let r = set_role(&app, &o.token, &id, &m.user_id, role).await;
        assert!(r.status == 422 || r.status == 400, "{role}: {}", r.text);
        assert_eq!(r.body["details"]["fields"][0]["path"], "role");
    }
    let r = set_role(&app, &o.token, &id, &o.user_id, "user").await;
    r.expect(422);
    assert_eq!((r.code(), r.body["details"]["fields"][0]["path"].as_str()), ("owner_role_fixed", Some("userId")));
    let r = remove(&app, &o.token, &id, &o.user_id).await;
    r.expect(422);
    assert_eq!((r.code(), r.body["details"]["fields"][0]["path"].as_str()), ("owner_not_removable", Some("userId")));
    for who in ["0123456789abcdef01234567", "nope"] {
        set_role(&app, &o.token, &id, who, "user").await.expect(404);
        remove(&app, &o.token, &id, who).await.expect(404);
    }
    assert_eq!(rows(&app, &id).await, before, "nothing changed");
    // Concurrent invitations of one user: one invitation.
    let q = user(&app, "bracer").await;
    let (a, b) =
        tokio::join!(invite(&app, &o.token, &id, "bracer", "user"), invite(&app, &o.token, &id, "bracer", "user"));
    let mut got = [a.status.as_u16(), b.status.as_u16()];
    got.sort();
    assert_eq!(got, [201, 422], "{} / {}", a.text, b.text);
    assert_eq!(rows(&app, &id).await.iter().filter(|r| r.0 == q.user_id).count(), 1);
}

#[tokio::test]
async fn owner_admin_user_stranger_and_tokens() {
    let app = TestApp::spawn().await;
    let o = user(&app, "powner2").await;
    let a = user(&app, "padmin").await;
    let a2 = user(&app, "padmin2").await;
    let u = user(&app, "puser").await;
    let s = user(&app, "pstranger").await;
    let t1 = user(&app, "ptarget1").await;
    let _t2 = user(&app, "ptarget2").await;
    let id = pool(&app, &o.token, "matrix").await;
    join(&app, &o.token, &id, &a, "padmin", "admin").await;
    join(&app, &o.token, &id, &a2, "padmin2", "admin").await;
    join(&app, &o.token, &id, &u, "puser", "user").await;

    // Invite: admin or higher (an admin invites users, not admins); user 403; stranger 404.
    let r = invite(&app, &u.token, &id, "ptarget1", "user").await;
    r.expect(403);
    assert_eq!(r.code(), "pool_access_denied");
    let r = invite(&app, &s.token, &id, "ptarget1", "user").await;
    r.expect(404);
    assert_eq!(r.code(), "pool_not_found");
    invite(&app, &a.token, &id, "ptarget1", "admin").await.expect(403);
    invite(&app, &a.token, &id, "ptarget1", "user").await.expect(201);
    invite(&app, &o.token, &id, "ptarget2", "admin").await.expect(201);
    accept(&app, &t1.token, &id).await.expect(200);

    // Role changes: the owner only.
    for (t, status) in [(&a.token, 403), (&u.token, 403), (&s.token, 404)] {
        set_role(&app, t, &id, &t1.user_id, "admin").await.expect(status);
    }
    // Remove: admin or higher; an admin removes users (and themself), not another admin; user
    // 403; stranger 404.
    remove(&app, &u.token, &id, &t1.user_id).await.expect(403);
    remove(&app, &s.token, &id, &t1.user_id).await.expect(404);
    remove(&app, &a.token, &id, &a2.user_id).await.expect(403);
    let before = rows(&app, &id).await;
    assert_eq!(before.len(), 6);
    remove(&app, &a.token, &id, &t1.user_id).await.expect(200);
    remove(&app, &a.token, &id, &a.user_id).await.expect(200);
    assert_eq!(rows(&app, &id).await.len(), 4);
    remove(&app, &o.token, &id, &a2.user_id).await.expect(200);

    // Tokens: each route its leaf (the owner's tokens).
    let invite_only = token(&app, &o, &["projects.members.invite"]).await;
    let wrong = token(&app, &o, &["projects.read", "projects.update"]).await;
    let r = invite(&app, &wrong, &id, "pstranger", "user").await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "insufficient_permissions"));
    invite(&app, &invite_only, &id, "pstranger", "user").await.expect(201);
    let r = set_role(&app, &wrong, &id, &s.user_id, "admin").await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "insufficient_permissions"));
    let roles = token(&app, &o, &["projects.members.change_roles"]).await;
    set_role(&app, &roles, &id, &s.user_id, "admin").await.expect(200);
    let r = remove(&app, &wrong, &id, &s.user_id).await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "insufficient_permissions"));
    let remover = token(&app, &o, &["projects.members.remove"]).await;
    remove(&app, &remover, &id, &s.user_id).await.expect(200);
}
