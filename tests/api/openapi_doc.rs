use serde_json::Value;

use crate::harness::TestApp;

/// The committed document must be what the code generates: regenerate with
/// `cargo run -- openapi > openapi/openapi.json`.
#[test]
fn committed_openapi_document_is_current() {
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json"))
        .expect("openapi/openapi.json is committed");
    let generated = hoody_api::openapi::document_json();
    assert!(committed == generated, "openapi/openapi.json is stale: run `cargo run -- openapi > openapi/openapi.json`");
}

#[test]
fn every_operation_is_documented_with_the_error_envelope() {
    let doc: Value = serde_json::from_str(&hoody_api::openapi::document_json()).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    let mut ids = std::collections::HashSet::new();
    let mut count = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            count += 1;
            let where_ = format!("{method} {path}");
            assert!(op["summary"].as_str().is_some_and(|s| !s.is_empty()), "{where_}: no summary");
            assert!(op["tags"].as_array().is_some_and(|t| !t.is_empty()), "{where_}: no tag");
            assert!(ids.insert(op["operationId"].as_str().unwrap().to_owned()), "{where_}: duplicate operationId");
            for range in ["4XX", "5XX"] {
                assert_eq!(
                    op["responses"][range]["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/ErrorBody",
                    "{where_}: {range} is not the error envelope"
                );
            }
        }
    }
    assert!(count >= 14, "only {count} operations documented");
}

/// Routes that need a session say so in the document.
#[test]
fn authenticated_operations_declare_bearer_security() {
    let doc: Value = serde_json::from_str(&hoody_api::openapi::document_json()).unwrap();
    for (path, method) in [
        ("/api/v1/users/auth/me", "get"),
        ("/api/v1/users/auth/logout", "post"),
        ("/api/v1/users/auth/refresh", "post"),
    ] {
        assert!(doc["paths"][path][method]["security"][0]["bearer"].is_array(), "{method} {path}");
    }
}

#[tokio::test]
async fn served_document_and_docs_page_match() {
    let app = TestApp::spawn().await;
    let res = app.client.get(format!("{}/openapi.json", app.base)).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), hoody_api::openapi::document_json());
    let res = app.client.get(format!("{}/docs", app.base)).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert_eq!(res.headers()["content-security-policy"], hoody_api::docs::CSP);
    assert_eq!(res.headers()["cache-control"], "no-cache");
    let page = res.text().await.unwrap();
    assert!(!page.contains("https://") && !page.contains("http://"), "the page loads nothing from elsewhere");

    // Every asset the page names is served, typed, and cacheable for good under its digest.
    let tag = hoody_api::docs::asset_tag();
    let assets: Vec<&str> = page.split("/docs/assets/").skip(1).map(|s| s.split('"').next().unwrap()).collect();
    assert_eq!(assets.len(), 4, "{page}");
    for asset in &assets {
        let res = app.client.get(format!("{}/docs/assets/{asset}", app.base)).send().await.unwrap();
        assert_eq!(res.status(), 200, "{asset}");
        let h = res.headers().clone();
        assert_eq!(h["cache-control"], "public, max-age=31536000, immutable", "{asset}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{asset}");
        let kind = if asset.ends_with(".js") { "text/javascript" } else { "text/css" };
        assert!(h["content-type"].to_str().unwrap().starts_with(kind), "{asset}: {:?}", h["content-type"]);
        assert!(res.bytes().await.unwrap().len() > 100, "{asset}");
        assert!(asset.starts_with(&format!("{tag}/")), "{asset}");
    }
    // Another build's digest, or a file that is not an asset: 404 in the envelope.
    for wrong in ["0000000000000000/docs.js", &format!("{tag}/index.html"), &format!("{tag}/../Cargo.toml")] {
        let r = app.get(&format!("/docs/assets/{wrong}"), None).await;
        r.expect(404);
    }
}

/// The document offers `Idempotency-Key` on exactly the routes the layer honours it on (the layer
/// reads them from the document) and the money routes whose keys the ledger keeps
/// (their header's description says so), and on the creating POSTs.
#[test]
fn idempotency_key_is_documented_where_it_is_honoured() {
    let doc: Value = serde_json::from_str(&hoody_api::openapi::document_json()).unwrap();
    let mut documented: Vec<String> = Vec::new();
    let mut ledger: Vec<String> = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            if params.iter().any(|p| p["name"] == "Idempotency-Key" && p["in"] == "header") {
                assert_eq!(method, "post", "{path}");
                let header = params.iter().find(|p| p["name"] == "Idempotency-Key").unwrap();
                if header["description"].as_str().unwrap_or_default().contains(hoody_api::idempotency::LEDGER_MARK) {
                    ledger.push(path.clone());
                } else {
                    documented.push(path.clone());
                }
            }
        }
    }
    documented.sort();
    ledger.sort();
    let honoured = hoody_api::idempotency::keyed_routes(&hoody_api::openapi::document());
    assert_eq!(documented, honoured);
    assert_eq!(
        ledger,
        [
            "/api/v1/images/purchase/{id}",
            "/api/v1/offers/{id}/reserve",
            "/api/v1/rentals/{id}/extend",
            "/api/v1/servers/{id}/rent",
            "/api/v1/wallet/payments/",
            "/api/v1/wallet/payments/crypto/invoice",
            "/api/v1/wallet/payments/stripe/checkout",
            "/api/v1/wallet/transfers"
        ]
    );
    for creating in [
        "/api/v1/projects/",
        "/api/v1/projects/{id}/containers",
        "/api/v1/containers/{id}/snapshots",
        "/api/v1/containers/{id}/copy",
    ] {
        assert!(honoured.iter().any(|r| r == creating), "{creating} takes Idempotency-Key");
    }
}

/// Every `$ref` in the document names a schema the document holds (a dangling one makes
/// generators and schemathesis skip that part).
#[test]
fn every_schema_reference_resolves() {
    let text = hoody_api::openapi::document_json();
    let doc: Value = serde_json::from_str(&text).unwrap();
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let prefix = "\"#/components/schemas/";
    let dangling: Vec<&str> = text
        .match_indices(prefix)
        .map(|(i, _)| {
            let rest = &text[i + prefix.len()..];
            &rest[..rest.find('"').unwrap()]
        })
        .filter(|name| !schemas.contains_key(*name))
        .collect();
    assert!(dangling.is_empty(), "unresolvable references: {dangling:?}");
}

/// The schema name of every type deriving `ToSchema` under `src/`: its own name, or the
/// `#[schema(as = …)]` it is given (`a::B` becomes `a.B`, as utoipa names it). utoipa keeps one
/// schema per name, so two types with one name make every route of the one reference the other.
fn schema_names() -> Vec<(String, String)> {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let root = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src"));
    let mut files = Vec::new();
    walk(root, &mut files);
    let mut names = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let mut attr = String::new();
        let (mut derives, mut alias) = (false, None::<String>);
        for (i, line) in text.lines().enumerate() {
            let l = line.trim();
            // Gather one attribute, which may span lines, then look at it whole.
            if !attr.is_empty() || l.starts_with("#[") {
                attr.push_str(l);
                if attr.matches('[').count() > attr.matches(']').count() {
                    continue;
                }
                let a = std::mem::take(&mut attr);
                if a.starts_with("#[derive(") && a.contains("ToSchema") {
                    derives = true;
                } else if let Some(rest) = a.strip_prefix("#[schema(") {
                    if let Some(at) = rest.find("as =").or_else(|| rest.find("as=")) {
                        let v = rest[at + 3..].trim_start_matches(['=', ' ']);
                        let end = v.find([',', ')']).unwrap_or(v.len());
                        alias = Some(v[..end].trim().replace("::", "."));
                    }
                }
                continue;
            }
            if l.starts_with("///") || l.starts_with("//") || l.is_empty() {
                continue;
            }
            if derives {
                let words: Vec<&str> = l.split(|c: char| !(c.is_alphanumeric() || c == '_')).collect();
                if let Some(k) = words.iter().position(|w| *w == "struct" || *w == "enum") {
                    let ident = words[k + 1].to_owned();
                    // `pub struct $name` inside a macro definition: not a type of its own.
                    if ident.is_empty() {
                        derives = false;
                        alias = None;
                        continue;
                    }
                    let at = format!("{}:{}", f.strip_prefix(root).unwrap().display(), i + 1);
                    names.push((alias.take().unwrap_or(ident), at));
                }
            }
            derives = false;
            alias = None;
        }
    }
    names
}

#[test]
fn no_two_rust_types_share_a_schema_name() {
    let names = schema_names();
    assert!(names.len() > 50, "the scan found only {} schemas: {names:?}", names.len());
    let mut by_name: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    for (name, at) in &names {
        by_name.entry(name).or_default().push(at);
    }
    let shared: Vec<_> = by_name.iter().filter(|(_, at)| at.len() > 1).collect();
    assert!(shared.is_empty(), "schema names given to more than one type (use #[schema(as = …)]): {shared:?}");
}

/// The token routes reference the token bodies, not the containers' (they shared `CreateIn`,
/// `UpdateIn` and `CopyIn` once).
#[test]
fn token_routes_reference_the_token_bodies() {
    let doc: Value = serde_json::from_str(&hoody_api::openapi::document_json()).unwrap();
    let body_ref = |path: &str, method: &str| {
        let r = &doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]["$ref"];
        r.as_str().unwrap_or_else(|| panic!("{method} {path} has no body reference")).to_owned()
    };
    for (path, method, schema, field) in [
        ("/api/v1/auth/tokens", "post", "TokenCreateIn", "permission_template"),
        ("/api/v1/auth/tokens/{id}", "put", "TokenUpdateIn", "is_enabled"),
        ("/api/v1/auth/tokens/{id}/copy", "post", "TokenCopyIn", "otp_code"),
    ] {
        assert_eq!(body_ref(path, method), format!("#/components/schemas/{schema}"), "{method} {path}");
        assert!(doc["components"]["schemas"][schema]["properties"][field].is_object(), "{schema} lacks {field}");
    }
    // And the containers keep theirs.
    let create = body_ref("/api/v1/projects/{id}/containers", "post");
    let name = create.rsplit('/').next().unwrap();
    assert!(
        doc["components"]["schemas"][name]["properties"]["container_image"].is_object(),
        "{name} is not the container body"
    );
}
