//! The policy layer, generated from the route table: every operation of the OpenAPI document
//! that needs a permission leaf (`x-hoody-permission`) refuses a token lacking exactly that leaf
//! and lets one holding it through; every session-only operation (`x-hoody-session-only`)
//! refuses auth tokens; every other authenticated operation lets a token with no permissions
//! through. An operation that also needs a token flag (named as the bearer requirement's role,
//! `security: [{bearer: ["vault_access"]}]`) gets tokens with it set, and refuses one holding the
//! leaf without the flag. An
//! extractor the document does not declare, or a declaration without its extractor, fails here.

use reqwest::Method;
use serde_json::{json, Map, Value};

use crate::harness::TestApp;

/// The permission tree with exactly `held` set.
pub fn tree(held: &[&str]) -> Value {
    let mut root = Map::new();
    for leaf in hoody_api::auth::permissions::LEAVES.iter() {
        let mut node = &mut root;
        let parts: Vec<&str> = leaf.split('.').collect();
        for (i, part) in parts.iter().enumerate() {
            if i + 1 == parts.len() {
                node.insert((*part).to_owned(), json!(held.contains(&leaf.as_str())));
            } else {
                node = node.entry((*part).to_owned()).or_insert_with(|| json!({})).as_object_mut().unwrap();
            }
        }
    }
    Value::Object(root)
}

struct Op {
    method: Method,
    path: String,
    leaf: Option<String>,
    /// A token flag the operation needs besides its leaf (`vault_access`).
    flag: Option<String>,
    session_only: bool,
}

fn operations() -> Vec<Op> {
    let doc: Value = serde_json::from_str(&hoody_api::openapi::document_json()).unwrap();
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let secured = op["security"].as_array().is_some_and(|s| s.iter().any(|r| r.get("bearer").is_some()));
            if !secured {
                continue;
            }
            let concrete = path
                .split('/')
                .map(|seg| match seg {
                    "{public_key}" => "ab".repeat(32),
                    s if s.starts_with('{') => hoody_api::db::new_id(),
                    s => s.to_owned(),
                })
                .collect::<Vec<_>>()
                .join("/");
            ops.push(Op {
                method: method.to_uppercase().parse().unwrap(),
                path: concrete,
                leaf: op["x-hoody-permission"].as_str().map(str::to_owned),
                flag: op["security"]
                    .as_array()
                    .and_then(|s| s.iter().find_map(|r| r["bearer"].as_array()?.first()?.as_str().map(str::to_owned))),
                session_only: op["x-hoody-session-only"] == json!(true),
            });
        }
    }
    ops
}

#[tokio::test]
async fn every_route_enforces_the_leaf_it_declares() {
    let app = TestApp::spawn().await;
    let s = app.verified_user("routes@example.com").await;
    let everything: Vec<&str> = hoody_api::auth::permissions::LEAVES.iter().map(String::as_str).collect();
    let (full, _) = app.new_token(&s.token, json!({"permissions": tree(&everything)})).await;
    let (none, _) = app.new_token(&s.token, json!({})).await;
    let ops = operations();
    assert!(ops.iter().filter(|o| o.leaf.is_some()).count() >= 15, "the document declares the leaves");
    let mut checked = 0;
    for op in &ops {
        let body = matches!(op.method, Method::POST | Method::PUT | Method::PATCH).then(|| json!({}));
        let call = |token: String| {
            let (app, op, body) = (&app, op, body.clone());
            async move { app.request(op.method.clone(), &op.path, Some(&token), body).await }
        };
        if op.session_only {
            let r = call(full.clone()).await;
            assert_eq!(r.status, 403, "{} {}: a token must be refused: {}", op.method, op.path, r.text);
            assert_eq!(r.code(), "session_required", "{} {}", op.method, op.path);
        } else if let Some(leaf) = &op.leaf {
            let without: Vec<&str> = everything.iter().copied().filter(|l| l != leaf).collect();
            let token_body = |held: &[&str]| {
                let mut body = json!({"permissions": tree(held)});
                if let Some(flag) = &op.flag {
                    body[flag.as_str()] = json!(true);
                }
                body
            };
            let (lacking, _) = app.new_token(&s.token, token_body(&without)).await;
            let r = call(lacking).await;
            assert_eq!(r.status, 403, "{} {} without {leaf}: {}", op.method, op.path, r.text);
            assert_eq!(r.code(), "insufficient_permissions");
            assert!(r.body["message"].as_str().unwrap().contains(leaf.as_str()));
            let (holding, _) = app.new_token(&s.token, token_body(&[leaf.as_str()])).await;
            let r = call(holding).await;
            assert_ne!(r.status, 403, "{} {} with only {leaf}: {}", op.method, op.path, r.text);
            if let Some(flag) = &op.flag {
                let body = json!({"permissions": tree(&everything), flag.as_str(): false});
                let (unflagged, _) = app.new_token(&s.token, body).await;
                let r = call(unflagged).await;
                assert_eq!(r.status, 403, "{} {} without {flag}: {}", op.method, op.path, r.text);
                assert!(r.body["message"].as_str().unwrap().contains(flag.as_str()), "{}", r.text);
            }
        } else {
            let r = call(none.clone()).await;
            assert_ne!(r.status, 403, "{} {} needs no leaf but refused: {}", op.method, op.path, r.text);
        }
        checked += 1;
    }
    assert!(checked >= 25, "only {checked} operations checked");
}

#[tokio::test]
async fn auth_tokens_are_refused_on_admin_only_actions() {
    let app = TestApp::spawn().await;
    let admin = app.verified_user("root@example.com").await;
    sqlx::query("update app_user set is_admin = true where user_id = $1")
        .bind(&admin.user_id)
        .execute(&app.db)
        .await
        .unwrap();
    app.forget_cached();
    let user = app.verified_user("someone@example.com").await;
    let (admin_token, _) =
        app.new_token(&admin.token, json!({"permissions": tree(&["resources.read_account", "admin.users"])})).await;
    // The admin's session reads another user; the admin's token cannot.
    app.get(&format!("/api/v1/users/{}", user.user_id), Some(&admin.token)).await.expect(200);
    app.get(&format!("/api/v1/users/{}", user.user_id), Some(&admin_token)).await.expect(404);
    let r = app
        .request(
            Method::PUT,
            &format!("/api/v1/users/{}", user.user_id),
            Some(&admin_token),
            Some(json!({"is_banned": true})),
        )
        .await;
    r.expect(403);
    let banned: bool = sqlx::query_scalar("select is_banned from app_user where user_id = $1")
        .bind(&user.user_id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(!banned);
}

#[test]
fn the_readme_template_table_is_the_code_table() {
    use hoody_api::auth::permissions::{template, TEMPLATES};
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let header = readme.lines().find(|l| l.starts_with("| Leaf |")).expect("template table");
    let names: Vec<&str> = header.split('|').map(str::trim).filter(|c| !c.is_empty()).skip(1).collect();
    assert_eq!(names, TEMPLATES.iter().map(|(n, _)| *n).collect::<Vec<_>>());
    let rows: Vec<&str> =
        readme.lines().skip_while(|l| *l != header).skip(2).take_while(|l| l.starts_with("| `")).collect();
    assert_eq!(rows.len(), hoody_api::auth::permissions::LEAVES.len(), "one row per leaf");
    for row in rows {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let leaf = cells[1].trim_matches('`');
        for (i, name) in names.iter().enumerate() {
            let ticked = cells[i + 2] == "✓";
            assert_eq!(ticked, template(name).unwrap().has(leaf), "{name} / {leaf}");
        }
    }
}
