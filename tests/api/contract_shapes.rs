//! The contract's three kinds of field, on the wire and in the document: `x?: T` is omitted when
//! there is no value (never `null`), `x: T | null` is always there (`null` when absent), `x: T` is
//! always there and never `null`. A client doing `if (x.city !== undefined) x.city.trim()` must
//! not crash.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::{
    fixtures::LxdApp,
    harness::{TestApp, PASSWORD},
    tfa::Authenticator,
};

/// `key` is not in `obj` at all (not even as `null`).
#[track_caller]
fn absent(obj: &Value, key: &str, what: &str) {
    assert!(obj.is_object(), "{what}: not an object: {obj}");
    assert!(obj.get(key).is_none(), "{what}: `{key}` must be omitted when there is no value, got {obj}");
}

/// `key` is in `obj` with a value that is not `null`.
#[track_caller]
fn present<'a>(obj: &'a Value, key: &str, what: &str) -> &'a Value {
    let v = obj.get(key).unwrap_or_else(|| panic!("{what}: `{key}` is missing from {obj}"));
    assert!(!v.is_null(), "{what}: `{key}` is null in {obj}");
    v
}

/// `key` is in `obj` as `null`.
#[track_caller]
fn null(obj: &Value, key: &str, what: &str) {
    assert_eq!(obj.get(key), Some(&Value::Null), "{what}: `{key}` must be present as null in {obj}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ip_omits_the_referer_and_user_agent_it_did_not_get() {
    let app = TestApp::spawn().await;
    // reqwest sends no User-Agent unless told.
    let r = app.get("/api/v1/ip", None).await;
    r.expect(200);
    absent(r.data(), "referer", "GET /ip");
    absent(r.data(), "user_agent", "GET /ip");
    null(r.data(), "ip_info", "GET /ip");

    let r = app
        .request_with(
            Method::GET,
            "/api/v1/ip",
            None,
            &[("referer", "https://ref.example/"), ("user-agent", "probe/2")],
            None,
        )
        .await;
    r.expect(200);
    assert_eq!(present(r.data(), "referer", "GET /ip"), "https://ref.example/");
    assert_eq!(present(r.data(), "user_agent", "GET /ip"), "probe/2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tfa_status_omits_enabled_at_until_it_is_on() {
    let app = TestApp::spawn().await;
    let s = app.verified_user("off@example.com").await;
    let r = app.get("/api/v1/users/auth/2fa/status", Some(&s.token)).await;
    r.expect(200);
    assert_eq!(r.data()["enabled"], false);
    absent(r.data(), "enabled_at", "2FA status, off");

    let e = crate::tfa::enrolled(&app, "on@example.com").await;
    let r = app.get("/api/v1/users/auth/2fa/status", Some(&e.session.token)).await;
    r.expect(200);
    assert_eq!(r.data()["enabled"], true);
    assert!(present(r.data(), "enabled_at", "2FA status, on").as_str().unwrap().ends_with('Z'));
}

/// Poll the activity log until it holds `n` records.
async fn activity(app: &TestApp, token: &str, n: usize) -> Vec<Value> {
    for _ in 0..100 {
        let r = app.get("/api/v1/users/auth/activity", Some(token)).await;
        r.expect(200);
        let rows = r.data().as_array().unwrap().clone();
        if rows.len() >= n {
            return rows;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("fewer than {n} activity records");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activity_omits_the_realm_and_user_agent_a_request_did_not_have() {
    let app = TestApp::spawn().await;
    let s = app.verified_user("act-shape@example.com").await;
    // Nothing logged yet: no oldest or newest record.
    let stats = app.get("/api/v1/users/auth/activity/stats", Some(&s.token)).await;
    stats.expect(200);
    assert_eq!(stats.data()["total_records"], 0, "{}", stats.text);
    absent(stats.data(), "oldest_record", "activity stats, empty");
    absent(stats.data(), "newest_record", "activity stats, empty");

    let realm = hoody_api::db::new_id();
    app.request_with(
        Method::GET,
        &format!("/api/v1/users/auth/me?realm_id={realm}"),
        Some(&s.token),
        &[("user-agent", "probe/3")],
        None,
    )
    .await
    .expect(200);
    let rows = activity(&app, &s.token, 2).await;
    let plain = rows.iter().find(|r| r["path"] == "/api/v1/users/auth/activity/stats").expect("the stats request");
    absent(plain, "realm_id", "activity record without a realm");
    absent(plain, "user_agent", "activity record without a User-Agent");
    let scoped = rows.iter().find(|r| r["path"] == "/api/v1/users/auth/me").expect("the realm-scoped request");
    assert_eq!(present(scoped, "realm_id", "realm-scoped activity record"), realm.as_str());
    assert_eq!(present(scoped, "user_agent", "activity record with a User-Agent"), "probe/3");

    let stats = app.get("/api/v1/users/auth/activity/stats", Some(&s.token)).await;
    stats.expect(200);
    present(stats.data(), "oldest_record", "activity stats");
    present(stats.data(), "newest_record", "activity stats");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grantee_without_an_alias_has_no_alias_key() {
    let app = TestApp::spawn().await;
    let owner = app.verified_user("owner-shape@example.com").await;
    let guest = app.verified_user("guest-shape@example.com").await;
    let r = app.post_auth("/api/v1/projects/", &owner.token, Some(json!({"alias": "shapes"}))).await;
    r.expect(201);
    let project = r.data()["id"].as_str().unwrap().to_owned();
    let base = format!("/api/v1/projects/{project}");
    let r = app
        .post_auth(
            &format!("{base}/permissions"),
            &owner.token,
            Some(json!({"user_id": guest.user_id, "permission_level": "read"})),
        )
        .await;
    r.expect(201);
    absent(&r.data()["user"], "alias", "POST permissions");
    let grant = r.data()["id"].as_str().unwrap().to_owned();
    let r = app.get(&format!("{base}/permissions"), Some(&owner.token)).await;
    r.expect(200);
    absent(&r.data()["permissions"][0]["user"], "alias", "GET permissions");
    let r = app.get(&format!("{base}?include_permissions=true"), Some(&owner.token)).await;
    r.expect(200);
    absent(&r.data()["permissions"][0]["user"], "alias", "GET project with permissions");
    let r = app.get(&base, Some(&owner.token)).await;
    absent(r.data(), "permissions", "GET project without include_permissions");
    let r = app
        .request(
            Method::PUT,
            &format!("{base}/permissions/{grant}"),
            Some(&owner.token),
            Some(json!({"permission_level": "edit"})),
        )
        .await;
    r.expect(200);
    absent(&r.data()["user"], "alias", "PUT permission");

    // Once the grantee has an alias, it shows.
    let me = app.get("/api/v1/users/auth/me", Some(&guest.token)).await;
    absent(me.data(), "alias", "GET /users/auth/me without an alias");
    absent(me.data(), "public_key", "GET /users/auth/me without a public key");
    absent(me.data(), "auth_token", "GET /users/auth/me with a session");
    app.request(
        Method::PUT,
        &format!("/api/v1/users/{}", guest.user_id),
        Some(&guest.token),
        Some(json!({"alias": "Gus"})),
    )
    .await
    .expect(200);
    let r = app.get(&format!("{base}/permissions"), Some(&owner.token)).await;
    assert_eq!(present(&r.data()["permissions"][0]["user"], "alias", "GET permissions"), "Gus");
    let r = app.request(Method::DELETE, &base, Some(&owner.token), None).await;
    r.expect(200);
    absent(r.data(), "deleted_items", "DELETE project without include_deleted_items");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nullable_fields_are_always_sent() {
    let app = TestApp::spawn().await;
    let r = app.get("/api/v1/meta/social-stats", None).await;
    r.expect(200);
    for key in ["github", "telegram", "discord", "discord_online", "x", "linkedin", "fetchedAt"] {
        null(r.data(), key, "social stats without settings");
    }

    let s = app.verified_user("nullable@example.com").await;
    let key = "ab".repeat(32);
    let (token, _) = app.new_token(&s.token, json!({"permission_template": "read_only", "public_key": key})).await;
    let r = app.get("/api/v1/auth/tokens/me", Some(&token)).await;
    r.expect(200);
    null(&r.data()["restrictions"], "active_realm_id", "GET /auth/tokens/me");
    let r = app.get("/api/v1/users/auth/me", Some(&token)).await;
    r.expect(200);
    null(&r.data()["auth_token"]["restrictions"], "active_realm_id", "GET /users/auth/me with a token");
    let r = app.get(&format!("/api/v1/auth/tokens/public-profiles/{key}"), None).await;
    r.expect(200);
    null(r.data(), "public_storage", "a public profile without storage");

    let r = app.get("/api/v1/realms/", Some(&s.token)).await;
    r.expect(200);
    absent(r.data(), "usage", "GET /realms/ without include_usage");
}

/// Poll until the container's status reads `want`.
async fn wait_status(app: &LxdApp, id: &str, want: &str) {
    for _ in 0..300 {
        let s: Option<String> = sqlx::query_scalar("select status from container where container_id = $1")
            .bind(id)
            .fetch_optional(&app.db)
            .await
            .unwrap();
        if s.as_deref() == Some(want) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("container {id} never reached {want}");
}

/// `server` of a session answer or a container: no key for what the registry does not know.
#[track_caller]
fn server_without_location(server: &Value, what: &str) {
    assert_eq!(server["name"], "local", "{what}: {server}");
    for key in ["country", "city", "datacenter"] {
        absent(server, key, what);
    }
}

#[track_caller]
fn server_with_location(server: &Value, what: &str) {
    assert_eq!(present(server, "country", what), "DE");
    assert_eq!(present(server, "city", what), "Berlin");
    assert_eq!(present(server, "datacenter", what), "fra1");
}

/// When the registry has no country, city or data centre for the free server `local`, every answer
/// that shows it (verification, login, the 2FA step, regions, containers) leaves those keys out, and
/// shows them once they are set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_a_location_has_no_location_keys() {
    let app = LxdApp::spawn_with(|c| c.free_tier = true).await;
    sqlx::query("update server set country = null, city = null, datacenter = null where name = 'local'")
        .execute(&app.db)
        .await
        .unwrap();
    let email = "where@example.com";
    let token = app.signup(email, PASSWORD).await;
    let r = app.post("/api/v1/auth/verify-email", json!({"token": token})).await;
    r.expect(200);
    let id = r.data()["container"]["id"].as_str().unwrap().to_owned();
    app.track(&id);
    server_without_location(&r.data()["server"], "verify-email");
    absent(&r.data()["user"], "alias", "verify-email user");
    assert!(r.data()["user"]["signup_method"].is_string(), "{}", r.text);
    wait_status(&app, &id, "running").await;

    let r = app.post("/api/v1/users/auth/login", json!({"email": email, "password": PASSWORD})).await;
    r.expect(200);
    server_without_location(&r.data()["server"], "login");
    let session = r.data()["token"].as_str().unwrap().to_owned();

    let r = app.get("/api/v1/auth/available-regions", None).await;
    r.expect(200);
    let local = r.data()["regions"].as_array().unwrap().iter().find(|x| x["region"] == "local").unwrap().clone();
    absent(&local, "country", "available regions");
    absent(&local, "city", "available regions");

    let r = app.get(&format!("/api/v1/containers/{id}"), Some(&session)).await;
    r.expect(200);
    server_without_location(&r.data()["server"], "GET container");
    let r = app.get("/api/v1/containers/", Some(&session)).await;
    r.expect(200);
    server_without_location(&r.data()["containers"][0]["server"], "container list");
    let r = app.get(&format!("/api/v1/containers/{id}/network"), Some(&session)).await;
    r.expect(200);
    assert_eq!(r.data()["configured"], false);
    for key in ["type", "proxy", "country", "city", "region", "comment", "status", "configured_at", "last_status_check"]
    {
        absent(r.data(), key, "an unconfigured network");
    }

    // The 2FA step answers with the same session shape.
    let setup = app.post_auth("/api/v1/users/auth/2fa/setup", &session, Some(json!({"password": PASSWORD}))).await;
    setup.expect(200);
    let mut auth = Authenticator::from_key(setup.data()["manual_entry_key"].as_str().unwrap());
    app.post_auth("/api/v1/users/auth/2fa/verify-setup", &session, Some(json!({"code": auth.next().await})))
        .await
        .expect(200);
    let r = app.post("/api/v1/users/auth/login", json!({"email": email, "password": PASSWORD})).await;
    r.expect(200);
    let temp = r.data()["temp_token"].as_str().unwrap().to_owned();
    let r = app.post("/api/v1/users/auth/2fa/verify", json!({"temp_token": temp, "code": auth.next().await})).await;
    r.expect(200);
    assert_eq!(r.data()["status"], "approved");
    server_without_location(&r.data()["server"], "2FA verify");

    // Once the registry knows where the server is, every answer says so.
    sqlx::query("update server set country = 'DE', city = 'Berlin', datacenter = 'fra1' where name = 'local'")
        .execute(&app.db)
        .await
        .unwrap();
    let r = app.get(&format!("/api/v1/containers/{id}"), Some(&session)).await;
    r.expect(200);
    server_with_location(&r.data()["server"], "GET container");
    let r = app.get("/api/v1/auth/available-regions", None).await;
    let local = r.data()["regions"].as_array().unwrap().iter().find(|x| x["region"] == "local").unwrap().clone();
    assert_eq!(present(&local, "country", "available regions"), "DE");
    assert_eq!(present(&local, "city", "available regions"), "Berlin");
    let r = app.post("/api/v1/users/auth/login", json!({"email": email, "password": PASSWORD})).await;
    let temp = r.data()["temp_token"].as_str().unwrap().to_owned();
    let r = app.post("/api/v1/users/auth/2fa/verify", json!({"temp_token": temp, "code": auth.next().await})).await;
    r.expect(200);
    server_with_location(&r.data()["server"], "2FA verify");
}

/// How the contract types a field, and so how the document must mark it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    /// `x?: T`: not in `required`, not nullable.
    Optional,
    /// `x: T | null`: in `required`, nullable.
    Nullable,
    /// Sent every time, never null (`x: T`, or `x?: T` that we always have).
    Always,
}

/// Follow `$ref`s to the schema itself.
fn deref<'a>(doc: &'a Value, mut s: &'a Value) -> &'a Value {
    while let Some(r) = s.get("$ref").and_then(Value::as_str) {
        s = &doc["components"]["schemas"][r.rsplit('/').next().unwrap()];
    }
    s
}

fn is_nullable(doc: &Value, s: &Value) -> bool {
    let s = deref(doc, s);
    let by_type = match &s["type"] {
        Value::String(t) => t == "null",
        Value::Array(ts) => ts.iter().any(|t| t == "null"),
        _ => false,
    };
    by_type || s["oneOf"].as_array().is_some_and(|alts| alts.iter().any(|a| is_nullable(doc, a)))
}

/// Property `name` of an object schema (through `allOf` parts and `oneOf` alternatives) and
/// whether the object requires it.
fn property<'a>(doc: &'a Value, s: &'a Value, name: &str) -> Option<(&'a Value, bool)> {
    let s = deref(doc, s);
    if let Some(p) = s["properties"].get(name) {
        return Some((p, s["required"].as_array().is_some_and(|r| r.iter().any(|x| x == name))));
    }
    if let Some(parts) = s["allOf"].as_array() {
        let (mut found, mut required) = (None, false);
        for part in parts {
            if let Some((p, r)) = property(doc, part, name) {
                found.get_or_insert(p);
                required |= r;
            }
        }
        return found.map(|p| (p, required));
    }
    s["oneOf"].as_array()?.iter().find_map(|alt| property(doc, alt, name))
}

/// The item schema of an array schema (or of the array alternative of a `oneOf`).
fn items<'a>(doc: &'a Value, s: &'a Value) -> Option<&'a Value> {
    let s = deref(doc, s);
    s.get("items").or_else(|| s["oneOf"].as_array()?.iter().find_map(|alt| items(doc, alt)))
}

/// The documented success body of `method path`, walked down `field` (`data.server.country`,
/// `data.regions[].city`): the field's schema and whether its object requires it.
fn field<'a>(doc: &'a Value, method: &str, path: &str, field: &str) -> (&'a Value, bool) {
    let op = &doc["paths"][path][method];
    let responses = op["responses"].as_object().unwrap_or_else(|| panic!("{method} {path} is not documented"));
    let ok = responses.iter().find(|(status, _)| status.starts_with('2')).expect("a success response").1;
    let mut s = &ok["content"]["application/json"]["schema"];
    let mut required = true;
    for seg in field.split('.') {
        let (name, array) = seg.strip_suffix("[]").map_or((seg, false), |n| (n, true));
        let (p, r) = property(doc, s, name).unwrap_or_else(|| panic!("{method} {path}: no `{field}` ({name})"));
        (s, required) = (p, r);
        if array {
            s = items(doc, s).unwrap_or_else(|| panic!("{method} {path}: `{name}` is not an array"));
        }
    }
    (s, required)
}

/// The document marks each field the way the contract types it, so that schemathesis's response
/// conformance check holds the server to it on every operation.
#[test]
fn the_document_marks_fields_as_the_contract_types_them() {
    use Kind::*;
    let doc: Value = serde_json::from_str(&hoody_api::openapi::document_json()).unwrap();
    let server =
        |p: &str| -> Vec<String> { ["country", "city", "datacenter"].iter().map(|k| format!("{p}.{k}")).collect() };
    let mut cases: Vec<(&str, &str, String, Kind)> = Vec::new();
    let mut add = |method: &'static str, path: &'static str, fields: Vec<String>, kind: Kind| {
        cases.extend(fields.into_iter().map(|f| (method, path, f, kind)));
    };
    let s = |xs: &[&str]| -> Vec<String> { xs.iter().map(|x| x.to_string()).collect() };
    // Session answers: the free-tier server's location, the user's optional texts.
    for (m, p) in [
        ("post", "/api/v1/auth/verify-email"),
        ("post", "/api/v1/users/auth/login"),
        ("post", "/api/v1/users/auth/2fa/verify"),
        ("post", "/api/v1/auth/device/token"),
    ] {
        add(m, p, server("data.server"), Optional);
    }
    for (m, p) in [("post", "/api/v1/auth/verify-email"), ("post", "/api/v1/auth/device/token")] {
        add(m, p, s(&["data.user.alias"]), Optional);
        add(m, p, s(&["data.user.signup_method"]), Always);
    }
    add("post", "/api/v1/users/auth/login", s(&["data.user.alias", "data.user.public_key"]), Optional);
    for p in ["/api/v1/users/auth/me", "/api/v1/users/me"] {
        add("get", p, s(&["data.alias", "data.public_key", "data.auth_token"]), Optional);
        add("get", p, s(&["data.auth_token.restrictions.active_realm_id"]), Nullable);
    }
    for m in ["get", "put"] {
        add(m, "/api/v1/users/{id}", s(&["data.alias", "data.public_key"]), Optional);
    }
    add("get", "/api/v1/auth/available-regions", s(&["data.regions[].country", "data.regions[].city"]), Optional);
    add("post", "/api/v1/auth/device/login", s(&["data.status", "data.requires_2fa", "data.temp_token"]), Optional);
    add("post", "/api/v1/auth/device/deny", s(&["data.status"]), Optional);
    // Containers: the server's location; the proxy domains only when asked for.
    let mut located = server("data.server");
    located.push("data.server.region".into());
    for (m, p) in [
        ("get", "/api/v1/containers/{id}"),
        ("put", "/api/v1/containers/{id}"),
        ("post", "/api/v1/containers/{id}/copy"),
    ] {
        add(m, p, located.clone(), Optional);
    }
    add("post", "/api/v1/containers/{id}/copy", s(&["data.source_container_id"]), Always);
    add("get", "/api/v1/containers/{id}", s(&["data.proxy_domains"]), Optional);
    add("get", "/api/v1/containers/", server("data.containers[].server"), Optional);
    add(
        "get",
        "/api/v1/containers/",
        s(&["data.containers[].proxy_domains", "data.containers[].server.region"]),
        Optional,
    );
    add("get", "/api/v1/projects/{id}/containers", s(&["data.containers[].proxy_domains"]), Optional);
    let network = ["type", "proxy", "country", "city", "region", "comment", "status", "configured_at"];
    for m in ["get", "put"] {
        add(m, "/api/v1/containers/{id}/network", network.iter().map(|k| format!("data.{k}")).collect(), Optional);
    }
    add("get", "/api/v1/containers/{id}/network", s(&["data.last_status_check"]), Optional);
    add("get", "/api/v1/containers/{id}/snapshots", s(&["data.snapshots[].created_at"]), Optional);
    add("post", "/api/v1/containers/{id}/snapshots", s(&["data.snapshot.created_at"]), Optional);
    add("put", "/api/v1/containers/{id}/snapshots/{name}/alias", s(&["data.snapshot.created_at"]), Optional);
    // Projects.
    add("get", "/api/v1/projects/{id}", s(&["data.permissions", "data.permissions[].user.alias"]), Optional);
    add("delete", "/api/v1/projects/{id}", s(&["data.deleted_items"]), Optional);
    add("get", "/api/v1/projects/{id}/permissions", s(&["data.permissions[].user.alias"]), Optional);
    add("post", "/api/v1/projects/{id}/permissions", s(&["data.user.alias"]), Optional);
    add("put", "/api/v1/projects/{id}/permissions/{permissionId}", s(&["data.user.alias"]), Optional);
    // The rest.
    add("get", "/api/v1/ip", s(&["data.referer", "data.user_agent"]), Optional);
    add("get", "/api/v1/realms/", s(&["data.usage"]), Optional);
    add("get", "/api/v1/users/auth/2fa/status", s(&["data.enabled_at"]), Optional);
    add("get", "/api/v1/users/auth/activity", s(&["data[].realm_id", "data[].user_agent"]), Optional);
    add("get", "/api/v1/users/auth/activity/stats", s(&["data.oldest_record", "data.newest_record"]), Optional);
    add("get", "/api/v1/users/me/security-history", s(&["data[].ip_address"]), Optional);
    add("get", "/api/v1/auth/tokens/me", s(&["data.restrictions.active_realm_id"]), Nullable);
    add("get", "/api/v1/auth/tokens/public-profiles/{public_key}", s(&["data.public_storage"]), Nullable);
    let social = ["github", "telegram", "discord", "discord_online", "x", "linkedin", "fetchedAt"];
    add("get", "/api/v1/meta/social-stats", social.iter().map(|k| format!("data.{k}")).collect(), Nullable);

    let mut wrong = Vec::new();
    for (method, path, name, kind) in &cases {
        let (schema, required) = field(&doc, method, path, name);
        let nullable = is_nullable(&doc, schema);
        let ok = match kind {
            Optional => !required && !nullable,
            Nullable => required && nullable,
            Always => required && !nullable,
        };
        if !ok {
            wrong.push(format!(
                "{method} {path} {name}: want {kind:?}, documented required={required} nullable={nullable}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{} fields documented unlike the contract:\n{}", wrong.len(), wrong.join("\n"));
}
