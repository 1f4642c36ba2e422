//! Every route of either scope, one after the other: the never-written document (open access at
//! version 0), a whole document, each fine-grained change, a delete (open again, the version
//! going on), a fine-grained write on the deleted document (an empty one that denies), kept
//! versions by `?version=N`, and the events each write published.

use reqwest::Method;
use serde_json::{json, Value};

use super::{events, fx, hash, kept, names, stored, write_at, Doc, Fx, RSA_PEM};
use crate::harness::Resp;

/// The answer's document and its version; checks the etag goes with it.
#[track_caller]
fn at_version(r: &Resp, v: i64) -> Value {
    r.expect(200);
    assert_eq!(r.data()["file_version"], v, "{}", r.text);
    assert_eq!(r.data()["etag"], format!("file:v{v}"), "{}", r.text);
    r.data().clone()
}

/// One write at version `*v`: 200 at the next version, stored, and what a read then answers.
async fn step(fx: &Fx, doc: &Doc, v: &mut i64, method: Method, suffix: &str, body: Option<Value>) -> Value {
    let t = &fx.owner.token;
    let r = write_at(fx, method.clone(), &doc.at(suffix), t, *v, body).await;
    assert_eq!(r.status, 200, "{method} {suffix}: {}", r.text);
    *v += 1;
    let d = at_version(&r, *v);
    assert_eq!(stored(fx, doc).await.0, *v);
    let g = fx.get(&doc.at(""), Some(t)).await;
    assert_eq!(at_version(&g, *v), d, "{method} {suffix}: a read answers what the write did");
    d
}

#[tokio::test]
async fn the_container_document_through_every_route() {
    let fx = fx().await;
    let t = &fx.owner.token;
    let doc = fx.cdoc();
    let (p, c) = (fx.project.clone(), fx.container.clone());

    // Never written: open access at version 0, no switch of its own.
    let r = fx.get(&doc.at(""), Some(t)).await;
    r.expect(200);
    assert_eq!(
        r.data(),
        &json!({
            "project": p, "container": c, "groups": {}, "permissions": {}, "default": "allow", "hooks": {},
            "schema_version": 1, "file_version": 0, "etag": "file:v0"
        })
    );
    assert_eq!(stored(&fx, &doc).await, (0, None), "a read writes nothing");

    // The whole document: a group of each type, their rules, a hook; the switch left out.
    let body = doc.whole(json!({
        "groups": {
            "admins": {"type": "password", "username": "admin", "password": "s3cret-plain", "salt": "pepper"},
            "api": {"type": "token", "header": "X-Api-Key", "value": "tok-value-123"},
            "sso": {"type": "jwt", "secret": "hs-secret-xyz", "algorithm": "HS256",
                    "sources": ["header:Authorization", "cookie:session"], "claims": {"role": "admin"}},
            "office": {"type": "ip", "range": "10.1.0.0/16"}
        },
        "permissions": {
            "admins": {"http": true, "ssh": 22, "files": true},
            "api": {"http": [80, 8080]},
            "sso": {"http": "80,8000-8100"},
            "office": {"terminal": "*"}
        },
        "default": "deny",
        "hooks": {"http": [{"match": {"path": "/api"}, "script": {"path": "/h.js"}, "timeout": 500,
                            "applies_to": {"groups": ["admins", "sso"]}}]}
    }));
    let r = write_at(&fx, Method::PUT, &doc.at(""), t, 0, Some(body)).await;
    let d1 = at_version(&r, 1);
    let admin_hash = hash("pepper", "s3cret-plain");
    assert_eq!(
        d1["groups"],
        json!({
            "admins": {"type": "password", "username": "admin", "password": admin_hash, "algorithm": "sha256", "salt": "pepper"},
            "api": {"type": "token", "header": "X-Api-Key", "value": "tok-value-123"},
            "sso": {"type": "jwt", "secret": "hs-secret-xyz", "algorithm": "HS256",
                    "sources": ["header:Authorization", "cookie:session"], "claims": {"role": "admin"}},
            "office": {"type": "ip", "range": "10.1.0.0/16"}
        })
    );
    assert_eq!(d1["permissions"]["api"]["http"], json!([80, 8080]));
    assert_eq!(d1["permissions"]["sso"]["http"], "80,8000-8100");
    assert_eq!(d1["default"], "deny");
    assert_eq!(d1["enable_proxy"], true, "an omitted switch is stored as on");
    assert_eq!(d1["project"], p.as_str());
    assert_eq!(d1["container"], c.as_str());
    let hook = &d1["hooks"]["http"][0];
    assert_eq!(hook["position"], 0);
    assert_eq!(hook["timeout"], 500);
    assert_eq!(hook["applies_to"], json!({"groups": ["admins", "sso"]}));
    let hook_id = hook["id"].as_str().unwrap().to_owned();
    assert_eq!(hook_id.len(), 26, "a ULID: {hook_id}");
    // Stored: the hash, never the plain password.
    let (v, body) = stored(&fx, &doc).await;
    assert_eq!(v, 1);
    let body = body.unwrap();
    assert_eq!(body["groups"]["admins"]["password"], admin_hash.as_str());
    assert!(!body.to_string().contains("s3cret-plain"), "plaintext stored: {body}");
    assert_eq!(kept(&fx, &doc).await, [1]);

    // The owner reads what was written, secrets included.
    let r = fx.get(&doc.at(""), Some(t)).await;
    assert_eq!(at_version(&r, 1), d1);

    let mut v = 1;
    // A password group replaced: an already hashed password is kept (lowercased).
    let given = "AB".repeat(32);
    let d = step(
        &fx,
        &doc,
        &mut v,
        Method::PUT,
        "/groups/admins/password",
        Some(json!({"username": "root", "password": given, "salt": "s2", "algorithm": "sha256"})),
    )
    .await;
    assert_eq!(
        d["groups"]["admins"],
        json!({"type": "password", "username": "root", "password": "ab".repeat(32), "algorithm": "sha256", "salt": "s2"})
    );
    assert_eq!(d["permissions"]["admins"], json!({"http": true, "ssh": 22, "files": true}), "its rules stay");

    let d = step(
        &fx,
        &doc,
        &mut v,
        Method::PUT,
        "/groups/ci/token",
        Some(json!({"cookie": "ci_token", "value": "ci-secret"})),
    )
    .await;
    assert_eq!(d["groups"]["ci"], json!({"type": "token", "cookie": "ci_token", "value": "ci-secret"}));

    let d = step(&fx, &doc, &mut v, Method::PUT,
        "/groups/partner/jwt",
        Some(json!({"secret": RSA_PEM, "algorithm": "RS256", "sources": ["header:X-Jwt"], "claims": {"aud": "p", "n": 3}})),
    )
    .await;
    assert_eq!(
        d["groups"]["partner"],
        json!({"type": "jwt", "secret": RSA_PEM, "algorithm": "RS256", "sources": ["header:X-Jwt"], "claims": {"aud": "p", "n": 3}})
    );

    let d = step(&fx, &doc, &mut v, Method::PUT, "/groups/vpn/ip", Some(json!({"range": "192.168.0.0/24"}))).await;
    assert_eq!(d["groups"]["vpn"], json!({"type": "ip", "range": "192.168.0.0/24"}));
    assert_eq!(d["groups"].as_object().unwrap().len(), 7);

    let d =
        step(&fx, &doc, &mut v, Method::PUT, "/permissions/ci", Some(json!({"program": "http", "access": 8080}))).await;
    assert_eq!(d["permissions"]["ci"], json!({"http": 8080}));
    let d =
        step(&fx, &doc, &mut v, Method::PUT, "/permissions/ci", Some(json!({"program": "exec", "access": true}))).await;
    assert_eq!(d["permissions"]["ci"], json!({"http": 8080, "exec": true}));
    // Replacing one rule.
    let d = step(
        &fx,
        &doc,
        &mut v,
        Method::PUT,
        "/permissions/ci",
        Some(json!({"program": "http", "access": "8000-8100"})),
    )
    .await;
    assert_eq!(d["permissions"]["ci"], json!({"http": "8000-8100", "exec": true}));

    // One rule removed; then all of a group's rules (the group stays).
    let d = step(&fx, &doc, &mut v, Method::DELETE, "/permissions/ci/http", None).await;
    assert_eq!(d["permissions"]["ci"], json!({"exec": true}));
    let d = step(&fx, &doc, &mut v, Method::DELETE, "/permissions/api", None).await;
    assert!(d["permissions"].get("api").is_none(), "{d}");
    assert!(d["groups"].get("api").is_some(), "the group stays: {d}");

    // A group removed takes its rules and its name in hooks with it.
    let d = step(&fx, &doc, &mut v, Method::DELETE, "/groups/admins", None).await;
    assert!(d["groups"].get("admins").is_none(), "{d}");
    assert!(d["permissions"].get("admins").is_none(), "its rules went with it: {d}");
    assert_eq!(d["hooks"]["http"][0]["applies_to"], json!({"groups": ["sso"]}));
    assert_eq!(d["hooks"]["http"][0]["id"], hook_id.as_str());

    let d = step(&fx, &doc, &mut v, Method::PATCH, "/default", Some(json!({"default": "allow"}))).await;
    assert_eq!(d["default"], "allow");
    let d = step(&fx, &doc, &mut v, Method::PATCH, "/state", Some(json!({"enable_proxy": false}))).await;
    assert_eq!(d["enable_proxy"], false);
    let before_delete = d;

    // Deleted: open access again, the version goes on.
    let d = step(&fx, &doc, &mut v, Method::DELETE, "", None).await;
    assert_eq!(v, 14);
    assert_eq!(
        d,
        json!({
            "project": p, "container": c, "groups": {}, "permissions": {}, "default": "allow", "hooks": {},
            "schema_version": 1, "file_version": 14, "etag": "file:v14"
        })
    );
    assert_eq!(stored(&fx, &doc).await, (14, None));

    // Kept versions read back as they were.
    let r = fx.get(&doc.at("?version=1"), Some(t)).await;
    assert_eq!(at_version(&r, 1), d1);
    let r = fx.get(&doc.at("?version=13"), Some(t)).await;
    assert_eq!(at_version(&r, 13), before_delete);
    let r = fx.get(&doc.at("?version=14"), Some(t)).await;
    assert_eq!(at_version(&r, 14), d);
    for missing in [15, 999] {
        let r = fx.get(&doc.at(&format!("?version={missing}")), Some(t)).await;
        r.expect(404);
        assert_eq!(r.code(), "document_version_not_found");
    }
    let r = fx.get(&doc.at("?version=0"), Some(t)).await;
    names(&r, "version", "?version=0");
    assert_eq!(kept(&fx, &doc).await, (1..=14).collect::<Vec<i64>>());

    // A fine-grained write on the deleted document starts from an empty one that denies.
    let d = step(&fx, &doc, &mut v, Method::PUT, "/groups/vpn/ip", Some(json!({"range": "172.16.0.0/12"}))).await;
    assert_eq!(d["groups"], json!({"vpn": {"type": "ip", "range": "172.16.0.0/12"}}));
    assert_eq!(d["permissions"], json!({}));
    assert_eq!(d["default"], "deny");
    assert!(d.get("enable_proxy").is_none(), "the switch stays unset: {d}");

    // One event per write, of the kind the change was.
    let got: Vec<(String, Value)> = events(&fx, &doc).await;
    let kinds: Vec<&str> = got.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "proxy.permissions.updated",
            "proxy.permissions.group_updated",
            "proxy.permissions.group_added",
            "proxy.permissions.group_added",
            "proxy.permissions.group_added",
            "proxy.permissions.updated",
            "proxy.permissions.updated",
            "proxy.permissions.updated",
            "proxy.permissions.updated",
            "proxy.permissions.updated",
            "proxy.permissions.group_removed",
            "proxy.permissions.default_changed",
            "proxy.permissions.updated",
            "proxy.permissions.updated",
            "proxy.permissions.group_added",
        ]
    );
    for (i, (_, data)) in got.iter().enumerate() {
        assert_eq!(data["file_version"], i as i64 + 1, "{data}");
        assert_eq!(data["project_id"], p.as_str(), "{data}");
        assert_eq!(data["container_id"], c.as_str(), "{data}");
    }
    assert_eq!(got[1].1["group"], "admins");
    assert_eq!(got[11].1["default"], "allow");
    let rows: Vec<(String, Option<String>, Option<String>)> = sqlx::query_as(
        "select user_id, project_id, container_id from event where resource_type = 'proxy_permissions' \
         and resource_id = $1",
    )
    .bind(&c)
    .fetch_all(&fx.db)
    .await
    .unwrap();
    assert!(rows.iter().all(|r| r == &(fx.owner.user_id.clone(), Some(p.clone()), Some(c.clone()))), "{rows:?}");
}

/// What a step's answer must hold.
type Check = Box<dyn Fn(&Value)>;

#[tokio::test]
async fn the_project_document_through_every_route() {
    let fx = fx().await;
    let t = &fx.owner.token;
    let doc = fx.pdoc();
    let p = fx.project.clone();

    // Never written: open, the switch on, no container or hooks.
    let r = fx.get(&doc.at(""), Some(t)).await;
    r.expect(200);
    assert_eq!(
        r.data(),
        &json!({
            "project": p, "groups": {}, "permissions": {}, "default": "allow", "enable_proxy": true,
            "schema_version": 1, "file_version": 0, "etag": "file:v0"
        })
    );

    // A project body takes no container nor hooks; the ids must be the path's.
    let mut with_container = doc.whole(json!({}));
    with_container["container"] = json!(fx.container);
    let r = write_at(&fx, Method::PUT, &doc.at(""), t, 0, Some(with_container)).await;
    names(&r, "container", "a project body with a container");
    let r = write_at(&fx, Method::PUT, &doc.at(""), t, 0, Some(doc.whole(json!({"hooks": {}})))).await;
    names(&r, "hooks", "a project body with hooks");
    let r = write_at(&fx, Method::PUT, &doc.at(""), t, 0, Some(doc.whole(json!({"project": fx.container})))).await;
    names(&r, "project", "another project's id");
    assert_eq!(stored(&fx, &doc).await, (0, None), "nothing stored");

    let steps: Vec<(Method, &str, Option<Value>, Check)> = vec![
        (
            Method::PUT,
            "",
            Some(doc.whole(json!({
                "groups": {"team": {"type": "password", "username": "t", "password": "pw-plain", "salt": "na"}},
                "permissions": {"team": {"http": true}},
                "enable_proxy": false
            }))),
            Box::new(|d| {
                assert_eq!(d["groups"]["team"]["password"], hash("na", "pw-plain"));
                assert_eq!(d["default"], "deny", "an omitted default denies");
                assert_eq!(d["enable_proxy"], false);
            }),
        ),
        (
            Method::PUT,
            "/groups/bots/token",
            Some(json!({"param": "key", "value": "bot-value"})),
            Box::new(|d| {
                assert_eq!(d["groups"]["bots"], json!({"type": "token", "param": "key", "value": "bot-value"}))
            }),
        ),
        (
            Method::PUT,
            "/groups/sso/jwt",
            Some(json!({"secret": "shh", "algorithm": "HS256", "sources": ["cookie:jwt"]})),
            Box::new(|d| assert_eq!(d["groups"]["sso"]["sources"], json!(["cookie:jwt"]))),
        ),
        (
            Method::PUT,
            "/groups/lan/ip",
            Some(json!({"range": "10.0.0.0/8"})),
            Box::new(|d| assert_eq!(d["groups"]["lan"], json!({"type": "ip", "range": "10.0.0.0/8"}))),
        ),
        (
            Method::PUT,
            "/groups/team/password",
            Some(json!({"username": "t2", "password": "other-plain", "salt": "x"})),
            Box::new(|d| assert_eq!(d["groups"]["team"]["password"], hash("x", "other-plain"))),
        ),
        (
            Method::PUT,
            "/permissions/lan",
            Some(json!({"program": "ssh", "access": [22, 2222]})),
            Box::new(|d| assert_eq!(d["permissions"]["lan"], json!({"ssh": [22, 2222]}))),
        ),
        (
            Method::PUT,
            "/permissions/lan",
            Some(json!({"program": "notifications", "access": false})),
            Box::new(|d| assert_eq!(d["permissions"]["lan"], json!({"ssh": [22, 2222], "notifications": false}))),
        ),
        (
            Method::DELETE,
            "/permissions/lan/ssh",
            None,
            Box::new(|d| assert_eq!(d["permissions"]["lan"], json!({"notifications": false}))),
        ),
        (
            Method::DELETE,
            "/permissions/lan",
            None,
            Box::new(|d| assert_eq!(d["permissions"], json!({"team": {"http": true}}))),
        ),
        (
            Method::DELETE,
            "/groups/team",
            None,
            Box::new(|d| {
                assert!(d["groups"].get("team").is_none());
                assert_eq!(d["permissions"], json!({}));
            }),
        ),
        (Method::PATCH, "/default", Some(json!({"default": "allow"})), Box::new(|d| assert_eq!(d["default"], "allow"))),
        (
            Method::PATCH,
            "/state",
            Some(json!({"enable_proxy": true})),
            Box::new(|d| assert_eq!(d["enable_proxy"], true)),
        ),
        (
            Method::DELETE,
            "",
            None,
            Box::new(|d| {
                assert_eq!(d["groups"], json!({}));
                assert_eq!(d["default"], "allow");
                assert_eq!(d["enable_proxy"], true);
            }),
        ),
        (
            Method::PATCH,
            "/state",
            Some(json!({"enable_proxy": false})),
            Box::new(|d| {
                // The switch alone on a deleted document starts from the open access no
                // document means: turning the proxy off and on again does not close it.
                assert_eq!(d["default"], "allow", "a switch write on a deleted document keeps it open");
                assert_eq!(d["enable_proxy"], false);
            }),
        ),
    ];
    for (i, (method, suffix, body, check)) in steps.into_iter().enumerate() {
        let v = i as i64;
        let r = write_at(&fx, method.clone(), &doc.at(suffix), t, v, body).await;
        assert_eq!(r.status, 200, "{method} {suffix}: {}", r.text);
        let d = at_version(&r, v + 1);
        assert_eq!(d["project"], p.as_str());
        assert!(d.get("container").is_none() && d.get("hooks").is_none(), "{d}");
        check(&d);
        let g = fx.get(&doc.at(""), Some(t)).await;
        assert_eq!(at_version(&g, v + 1), d, "{method} {suffix}");
        assert_eq!(stored(&fx, &doc).await.0, v + 1);
    }
    let r = fx.get(&doc.at("?version=1"), Some(t)).await;
    assert_eq!(at_version(&r, 1)["groups"]["team"]["username"], "t");
    let r = fx.get(&doc.at("?version=15"), Some(t)).await;
    r.expect(404);
    assert_eq!(r.code(), "document_version_not_found");
    let got = events(&fx, &doc).await;
    assert_eq!(got.len(), 14);
    assert!(got.iter().all(|(_, d)| d["project_id"] == p.as_str() && d.get("container_id").is_none()), "{got:?}");

    // The two scopes are separate documents.
    let c = Doc::container(&fx.project, &fx.container);
    assert_eq!(stored(&fx, &c).await, (0, None));
    let r = fx.get(&c.at(""), Some(t)).await;
    assert_eq!(at_version(&r, 0)["groups"], json!({}));
}
