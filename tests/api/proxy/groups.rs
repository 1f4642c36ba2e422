//! What is refused, naming the field, with nothing stored: every bad field of a whole document,
//! of each per-type group route, of a program rule, the default and the switch; bad group names
//! in the path; PEM keys (real RSA and EC keys taken, garbage refused); removing a group or a
//! rule that is not there (404).

use reqwest::Method;
use serde_json::{json, Value};

use super::{events, fx, message, names, stored, write_at, Doc, EC_PEM, RSA_PEM};

/// A whole document with one group `g` of `group` and, when given, `rules` for it.
fn with_group(doc: &Doc, group: Value, rules: Value) -> Value {
    doc.whole(json!({"groups": {"g": group}, "permissions": {"g": rules}}))
}

#[tokio::test]
async fn bad_whole_documents_are_refused_naming_the_field() {
    let fx = fx().await;
    let t = &fx.owner.token;
    let doc = fx.cdoc();
    // A document to compare against: nothing below may change it.
    let good = with_group(&doc, json!({"type": "ip", "range": "10.0.0.0/8"}), json!({"http": true}));
    write_at(&fx, Method::PUT, &doc.at(""), t, 0, Some(good)).await.expect(200);
    let before = stored(&fx, &doc).await;
    assert_eq!(before.0, 1);

    let ip = |range: &str| json!({"type": "ip", "range": range});
    let pw = json!({"type": "password", "username": "u", "password": "p", "salt": "s"});
    let jwt = |secret: &str, alg: &str, sources: Value| json!({"type": "jwt", "secret": secret, "algorithm": alg, "sources": sources});
    let long = "a".repeat(51);
    let long_at = format!("groups.{long}");
    let mut pw_no_salt = pw.clone();
    pw_no_salt.as_object_mut().unwrap().remove("salt");
    let mut pw_md5 = pw.clone();
    pw_md5["algorithm"] = json!("md5");
    let mut pw_colon = pw.clone();
    pw_colon["username"] = json!("a:b");
    let mut pw_extra = pw.clone();
    pw_extra["range"] = json!("10.0.0.0/8");
    let hook = |extra: Value| {
        let mut h = json!({"match": {"path": "/x"}, "script": {"path": "/h.js"}});
        for (k, v) in extra.as_object().unwrap() {
            h[k] = v.clone();
        }
        h
    };
    let cases: Vec<(Value, &str)> = vec![
        // Group names.
        (doc.whole(json!({"groups": {"bad name": ip("10.0.0.0/8")}})), "groups.bad name"),
        (doc.whole(json!({"groups": {"a.b": ip("10.0.0.0/8")}})), "groups.a.b"),
        (doc.whole(json!({"groups": {long.clone(): ip("10.0.0.0/8")}})), long_at.as_str()),
        // IP ranges: a bare address, a prefix over 32, IPv6, garbage.
        (with_group(&doc, ip("10.0.0.1"), json!({})), "groups.g.range"),
        (with_group(&doc, ip("10.0.0.0/33"), json!({})), "groups.g.range"),
        (with_group(&doc, ip("fe80::/64"), json!({})), "groups.g.range"),
        (with_group(&doc, ip("300.0.0.0/8"), json!({})), "groups.g.range"),
        (with_group(&doc, ip(""), json!({})), "groups.g.range"),
        // Types.
        (with_group(&doc, json!({"type": "oauth", "range": "10.0.0.0/8"}), json!({})), "groups.g.type"),
        (with_group(&doc, json!({"range": "10.0.0.0/8"}), json!({})), "groups.g.type"),
        // Passwords.
        (with_group(&doc, pw_no_salt, json!({})), "groups.g.salt"),
        (with_group(&doc, pw_md5, json!({})), "groups.g.algorithm"),
        (with_group(&doc, pw_colon, json!({})), "groups.g.username"),
        (with_group(&doc, pw_extra, json!({})), "groups.g.range"),
        // Tokens: exactly one place.
        (
            with_group(&doc, json!({"type": "token", "header": "X-A", "cookie": "c", "value": "v"}), json!({})),
            "groups.g.header",
        ),
        (with_group(&doc, json!({"type": "token", "value": "v"}), json!({})), "groups.g.header"),
        (with_group(&doc, json!({"type": "token", "header": "X A", "value": "v"}), json!({})), "groups.g.header"),
        (with_group(&doc, json!({"type": "token", "param": "k", "value": ""}), json!({})), "groups.g.value"),
        // JWTs.
        (with_group(&doc, jwt("not a pem", "RS256", json!(["header:A"])), json!({})), "groups.g.secret"),
        (with_group(&doc, jwt(RSA_PEM, "ES256", json!(["header:A"])), json!({})), "groups.g.secret"),
        (with_group(&doc, jwt(EC_PEM, "RS256", json!(["header:A"])), json!({})), "groups.g.secret"),
        (with_group(&doc, jwt("k", "HS384", json!(["header:A"])), json!({})), "groups.g.algorithm"),
        (with_group(&doc, jwt("k", "HS256", json!(["query:t"])), json!({})), "groups.g.sources[0]"),
        (with_group(&doc, jwt("k", "HS256", json!(["header:A", "cookie"])), json!({})), "groups.g.sources[1]"),
        (with_group(&doc, jwt("k", "HS256", json!([])), json!({})), "groups.g.sources"),
        // Rules.
        (doc.whole(json!({"permissions": {"ghost": {"http": true}}})), "permissions.ghost"),
        (with_group(&doc, ip("10.0.0.0/8"), json!({"http": 0})), "permissions.g.http"),
        (with_group(&doc, ip("10.0.0.0/8"), json!({"http": 70000})), "permissions.g.http"),
        (with_group(&doc, ip("10.0.0.0/8"), json!({"http": []})), "permissions.g.http"),
        (with_group(&doc, ip("10.0.0.0/8"), json!({"http": [80, 0]})), "permissions.g.http"),
        (with_group(&doc, ip("10.0.0.0/8"), json!({"http": "90-80"})), "permissions.g.http"),
        (with_group(&doc, ip("10.0.0.0/8"), json!({"http": "x"})), "permissions.g.http"),
        (with_group(&doc, ip("10.0.0.0/8"), json!({"http": ""})), "permissions.g.http"),
        (with_group(&doc, ip("10.0.0.0/8"), json!({"http": {"a": 1}})), "permissions.g.http"),
        (with_group(&doc, ip("10.0.0.0/8"), json!({"http": null})), "permissions.g.http"),
        (with_group(&doc, ip("10.0.0.0/8"), json!({"http": 1.5})), "permissions.g.http"),
        (with_group(&doc, ip("10.0.0.0/8"), json!({"files": "*"})), "permissions.g.files"),
        (with_group(&doc, ip("10.0.0.0/8"), json!({"exec": 22})), "permissions.g.exec"),
        (with_group(&doc, ip("10.0.0.0/8"), json!({"services": [80]})), "permissions.g.services"),
        (with_group(&doc, ip("10.0.0.0/8"), json!({"notifications": "*"})), "permissions.g.notifications"),
        (with_group(&doc, ip("10.0.0.0/8"), json!({"HTTP": true})), "permissions.g.HTTP"),
        (with_group(&doc, ip("10.0.0.0/8"), json!({"-x": true})), "permissions.g.-x"),
        // The default.
        (doc.whole(json!({"default": "maybe"})), "default"),
        // Hooks.
        (doc.whole(json!({"hooks": {"logs": [hook(json!({}))]}})), "hooks.logs"),
        (doc.whole(json!({"hooks": {"Bad": [hook(json!({}))]}})), "hooks.Bad"),
        (doc.whole(json!({"hooks": {"http": [hook(json!({"timeout": 0}))]}})), "hooks.http[0].timeout"),
        (
            doc.whole(json!({"hooks": {"http": [hook(json!({})), hook(json!({"timeout": 30001}))]}})),
            "hooks.http[1].timeout",
        ),
        (
            doc.whole(json!({"hooks": {"http": [hook(json!({"applies_to": {"groups": ["nobody"]}}))]}})),
            "hooks.http[0].applies_to.groups",
        ),
        // Ids not the path's; a field the document has not.
        (doc.whole(json!({"project": fx.container})), "project"),
        (doc.whole(json!({"container": fx.project})), "container"),
        (doc.whole(json!({"extra": 1})), "extra"),
    ];
    for (body, field) in cases {
        let r = write_at(&fx, Method::PUT, &doc.at(""), t, 1, Some(body.clone())).await;
        names(&r, field, &body.to_string());
        if field == "groups.g.secret" {
            // Refused for the key, not for its line breaks.
            assert!(message(&r, field).contains("PEM"), "{body}: {}", r.text);
        }
    }
    // Every bad field at once is named.
    let body = doc.whole(json!({
        "groups": {"n": ip("10.0.0.1"), "k": {"type": "token", "value": "v"}},
        "permissions": {"ghost": {"http": true}},
        "default": "never"
    }));
    let r = write_at(&fx, Method::PUT, &doc.at(""), t, 1, Some(body)).await;
    r.expect(422);
    let mut got = super::fields(&r);
    got.sort();
    assert_eq!(got, ["default", "groups.k.header", "groups.n.range", "permissions.ghost"], "{}", r.text);

    assert_eq!(stored(&fx, &doc).await, before, "nothing stored");
    assert_eq!(events(&fx, &doc).await.len(), 1, "no event for a refused write");
}

#[tokio::test]
async fn bad_fine_grained_writes_are_refused_naming_the_field() {
    let fx = fx().await;
    let t = &fx.owner.token;
    let doc = fx.cdoc();
    let good = with_group(&doc, json!({"type": "ip", "range": "10.0.0.0/8"}), json!({"http": true}));
    write_at(&fx, Method::PUT, &doc.at(""), t, 0, Some(good)).await.expect(200);
    let before = stored(&fx, &doc).await;

    let long = "a".repeat(51);
    let cases: Vec<(Method, String, Value, &str)> = vec![
        // IP groups.
        (Method::PUT, "/groups/n/ip".into(), json!({"range": "10.0.0.1"}), "range"),
        (Method::PUT, "/groups/n/ip".into(), json!({"range": "10.0.0.0/33"}), "range"),
        (Method::PUT, "/groups/n/ip".into(), json!({"range": "10.0.0.0/-1"}), "range"),
        (Method::PUT, "/groups/n/ip".into(), json!({"range": "fe80::/64"}), "range"),
        (Method::PUT, "/groups/n/ip".into(), json!({"range": "10.0.0/8"}), "range"),
        // The per-type routes take no type (nor another type's fields).
        (Method::PUT, "/groups/n/ip".into(), json!({"type": "ip", "range": "10.0.0.0/8"}), "type"),
        (Method::PUT, "/groups/n/ip".into(), json!({"range": "10.0.0.0/8", "value": "x"}), "value"),
        // Tokens.
        (Method::PUT, "/groups/n/token".into(), json!({"header": "X-A", "cookie": "c", "value": "v"}), "header"),
        (Method::PUT, "/groups/n/token".into(), json!({"header": "X-A", "param": "p", "value": "v"}), "header"),
        (Method::PUT, "/groups/n/token".into(), json!({"value": "v"}), "header"),
        (Method::PUT, "/groups/n/token".into(), json!({"header": "X A", "value": "v"}), "header"),
        (Method::PUT, "/groups/n/token".into(), json!({"cookie": "", "value": "v"}), "cookie"),
        (Method::PUT, "/groups/n/token".into(), json!({"header": "X-A", "value": ""}), "value"),
        // JWTs.
        (
            Method::PUT,
            "/groups/n/jwt".into(),
            json!({"secret": "garbage", "algorithm": "RS256", "sources": ["header:A"]}),
            "secret",
        ),
        (
            Method::PUT,
            "/groups/n/jwt".into(),
            json!({"secret": "-----BEGIN PUBLIC KEY-----\naGVsbG8gd29ybGQ=\n-----END PUBLIC KEY-----\n",
                   "algorithm": "RS256", "sources": ["header:A"]}),
            "secret",
        ),
        (
            Method::PUT,
            "/groups/n/jwt".into(),
            json!({"secret": "garbage", "algorithm": "ES256", "sources": ["header:A"]}),
            "secret",
        ),
        (
            Method::PUT,
            "/groups/n/jwt".into(),
            json!({"secret": RSA_PEM, "algorithm": "ES256", "sources": ["header:A"]}),
            "secret",
        ),
        (
            Method::PUT,
            "/groups/n/jwt".into(),
            json!({"secret": "", "algorithm": "HS256", "sources": ["header:A"]}),
            "secret",
        ),
        (
            Method::PUT,
            "/groups/n/jwt".into(),
            json!({"secret": "k", "algorithm": "none", "sources": ["header:A"]}),
            "algorithm",
        ),
        (
            Method::PUT,
            "/groups/n/jwt".into(),
            json!({"secret": "k", "algorithm": "HS256", "sources": ["query:t"]}),
            "sources[0]",
        ),
        (Method::PUT, "/groups/n/jwt".into(), json!({"secret": "k", "algorithm": "HS256", "sources": []}), "sources"),
        (
            Method::PUT,
            "/groups/n/jwt".into(),
            json!({"secret": "k", "algorithm": "HS256", "sources": ["header:A"], "claims": {"x": [1]}}),
            "claims.x",
        ),
        // Passwords.
        (
            Method::PUT,
            "/groups/n/password".into(),
            json!({"username": "a:b", "password": "p", "salt": "s"}),
            "username",
        ),
        (Method::PUT, "/groups/n/password".into(), json!({"username": "", "password": "p", "salt": "s"}), "username"),
        (Method::PUT, "/groups/n/password".into(), json!({"username": "u", "password": "", "salt": "s"}), "password"),
        (Method::PUT, "/groups/n/password".into(), json!({"username": "u", "password": "p", "salt": ""}), "salt"),
        (
            Method::PUT,
            "/groups/n/password".into(),
            json!({"username": "u", "password": "p", "salt": "s", "algorithm": "md5"}),
            "algorithm",
        ),
        // Group names in the path.
        (Method::PUT, "/groups/bad.name/ip".into(), json!({"range": "10.0.0.0/8"}), "groupName"),
        (Method::PUT, format!("/groups/{long}/ip"), json!({"range": "10.0.0.0/8"}), "groupName"),
        (Method::PUT, "/groups/a%20b/token".into(), json!({"header": "X", "value": "v"}), "groupName"),
        (Method::DELETE, "/groups/bad.name".into(), Value::Null, "groupName"),
        (Method::PUT, "/permissions/bad.name".into(), json!({"program": "http", "access": true}), "groupName"),
        (Method::DELETE, "/permissions/bad.name".into(), Value::Null, "groupName"),
        (Method::DELETE, "/permissions/bad.name/http".into(), Value::Null, "groupName"),
        // Rules.
        (Method::PUT, "/permissions/ghost".into(), json!({"program": "http", "access": true}), "groupName"),
        (Method::PUT, "/permissions/g".into(), json!({"program": "http", "access": 0}), "access"),
        (Method::PUT, "/permissions/g".into(), json!({"program": "http", "access": 65536}), "access"),
        (Method::PUT, "/permissions/g".into(), json!({"program": "http", "access": []}), "access"),
        (Method::PUT, "/permissions/g".into(), json!({"program": "http", "access": "80,,90"}), "access"),
        (Method::PUT, "/permissions/g".into(), json!({"program": "http", "access": null}), "access"),
        (Method::PUT, "/permissions/g".into(), json!({"program": "files", "access": "*"}), "access"),
        (Method::PUT, "/permissions/g".into(), json!({"program": "services", "access": 80}), "access"),
        (Method::PUT, "/permissions/g".into(), json!({"program": "notifications", "access": [1]}), "access"),
        (Method::PUT, "/permissions/g".into(), json!({"program": "exec", "access": "22"}), "access"),
        (Method::PUT, "/permissions/g".into(), json!({"program": "Http", "access": true}), "program"),
        (Method::PUT, "/permissions/g".into(), json!({"program": "_x", "access": true}), "program"),
        (Method::PUT, "/permissions/g".into(), json!({"program": "", "access": true}), "program"),
        (Method::PUT, "/permissions/g".into(), json!({"program": "a".repeat(51), "access": true}), "program"),
        // The default.
        (Method::PATCH, "/default".into(), json!({"default": "maybe"}), "default"),
        (Method::PATCH, "/default".into(), json!({"default": "Allow"}), "default"),
        (Method::PATCH, "/default".into(), json!({"default": "allow", "x": 1}), "x"),
        (Method::PATCH, "/state".into(), json!({"enable_proxy": true, "default": "allow"}), "default"),
    ];
    for (method, suffix, body, field) in cases {
        let body = (!body.is_null()).then_some(body);
        let r = write_at(&fx, method.clone(), &doc.at(&suffix), t, 1, body.clone()).await;
        names(&r, field, &format!("{method} {suffix} {body:?}"));
        let pem_case = field == "secret" && body.as_ref().is_some_and(|b| b["algorithm"] != "HS256");
        if pem_case {
            assert!(message(&r, field).contains("PEM"), "{body:?}: {}", r.text);
        }
    }
    // Wrong JSON types: 400 naming the field.
    for (suffix, body, field) in [
        ("/state", json!({"enable_proxy": "yes"}), "enable_proxy"),
        ("/default", json!({"default": true}), "default"),
        ("/groups/n/ip", json!({"range": 8}), "range"),
        ("/groups/n/ip", json!({}), "range"),
    ] {
        let method = if suffix.starts_with("/groups") { Method::PUT } else { Method::PATCH };
        let r = write_at(&fx, method, &doc.at(suffix), t, 1, Some(body.clone())).await;
        r.expect(400);
        assert!(super::fields(&r).iter().any(|f| f == field), "{body}: {}", r.text);
    }
    assert_eq!(stored(&fx, &doc).await, before, "nothing stored");
    assert_eq!(events(&fx, &doc).await.len(), 1, "no event for a refused write");

    // Removing what is not there: 404, nothing written.
    for (suffix, code) in [
        ("/groups/ghost", "proxy_group_not_found"),
        ("/permissions/ghost", "proxy_permission_not_found"),
        ("/permissions/ghost/http", "proxy_permission_not_found"),
        ("/permissions/g/ssh", "proxy_permission_not_found"),
    ] {
        let r = write_at(&fx, Method::DELETE, &doc.at(suffix), t, 1, None).await;
        r.expect(404);
        assert_eq!(r.code(), code, "{suffix}: {}", r.text);
    }
    assert_eq!(stored(&fx, &doc).await, before, "nothing stored");
    // A group with no rules has none to remove.
    write_at(&fx, Method::DELETE, &doc.at("/permissions/g"), t, 1, None).await.expect(200);
    let r = write_at(&fx, Method::DELETE, &doc.at("/permissions/g"), t, 2, None).await;
    r.expect(404);
    assert_eq!(r.code(), "proxy_permission_not_found");
    assert_eq!(stored(&fx, &doc).await.0, 2);

    // On a document never written, a refused write makes none; removals find nothing.
    let p = fx.pdoc();
    let r = write_at(&fx, Method::PUT, &p.at("/groups/n/ip"), t, 0, Some(json!({"range": "10.0.0.1"}))).await;
    names(&r, "range", "a bare address on a new document");
    let r = write_at(&fx, Method::PUT, &p.at("/permissions/g"), t, 0, Some(json!({"program": "http", "access": true})))
        .await;
    names(&r, "groupName", "a rule on a new document");
    let r = write_at(&fx, Method::DELETE, &p.at("/groups/g"), t, 0, None).await;
    r.expect(404);
    assert_eq!(r.code(), "proxy_group_not_found");
    let r = write_at(&fx, Method::DELETE, &p.at("/permissions/g/http"), t, 0, None).await;
    r.expect(404);
    assert_eq!(r.code(), "proxy_permission_not_found");
    assert_eq!(stored(&fx, &p).await, (0, None), "no document made");
    assert!(super::kept(&fx, &p).await.is_empty());
}

#[tokio::test]
async fn public_keys_are_taken_for_their_algorithm() {
    let fx = fx().await;
    let t = &fx.owner.token;
    let doc = fx.pdoc();
    let mut v = 0;
    for (name, secret, alg) in
        [("rsa", RSA_PEM, "RS256"), ("ec", EC_PEM, "ES256"), ("hs", "any shared secret", "HS256")]
    {
        let body = json!({"secret": secret, "algorithm": alg, "sources": ["header:Authorization"]});
        let r = write_at(&fx, Method::PUT, &doc.at(&format!("/groups/{name}/jwt")), t, v, Some(body)).await;
        r.expect(200);
        v += 1;
        assert_eq!(r.data()["groups"][name]["secret"], secret);
        assert_eq!(r.data()["groups"][name]["algorithm"], alg);
    }
    // The same keys in a whole document; a key of the other algorithm refused.
    let jwt =
        |secret: &str, alg: &str| json!({"type": "jwt", "secret": secret, "algorithm": alg, "sources": ["cookie:t"]});
    let body = doc.whole(json!({"groups": {"r": jwt(RSA_PEM, "RS256"), "e": jwt(EC_PEM, "ES256")}}));
    write_at(&fx, Method::PUT, &doc.at(""), t, v, Some(body)).await.expect(200);
    v += 1;
    let body = doc.whole(json!({"groups": {"r": jwt(EC_PEM, "RS256"), "e": jwt(RSA_PEM, "ES256")}}));
    let r = write_at(&fx, Method::PUT, &doc.at(""), t, v, Some(body)).await;
    names(&r, "groups.r.secret", "an EC key for RS256");
    names(&r, "groups.e.secret", "an RSA key for ES256");
    assert!(message(&r, "groups.r.secret").contains("PEM"), "{}", r.text);
    assert!(message(&r, "groups.e.secret").contains("PEM"), "{}", r.text);
    let (stored_v, body) = stored(&fx, &doc).await;
    assert_eq!(stored_v, v);
    assert_eq!(body.unwrap()["groups"]["r"]["secret"], RSA_PEM);
}
