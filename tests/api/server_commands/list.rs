//! The catalogue as renters see it: the seeded commands in the contract's shape, the filters,
//! and who may read it (renters, administrators' sessions; tokens with the leaf).

use serde_json::json;

use super::{fields, make_admin, rent, spawn, user};
use crate::permissions::tree;

fn slugs(r: &crate::harness::Resp) -> Vec<String> {
    r.data()["commands"].as_array().unwrap().iter().map(|c| c["slug"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renters_list_the_catalogue_filtered_by_category_and_highest_risk() {
    let app = spawn().await;
    let t = app.renter.token.clone();
    let r = app.get(&app.list_path(), Some(&t)).await;
    r.expect(200);
    let mut all = slugs(&r);
    all.sort();
    assert_eq!(all, ["disk-usage", "memory", "restart-service", "uptime"], "{}", r.text);
    let info = &r.data()["server_info"];
    assert_eq!(info, &json!({"id": app.server_id, "name": "local", "is_ready": true, "rental_status": "active"}));
    let disk = r.data()["commands"].as_array().unwrap().iter().find(|c| c["slug"] == "disk-usage").unwrap().clone();
    let id = disk["id"].as_str().unwrap();
    assert!(id.len() == 24 && id.bytes().all(|b| b.is_ascii_hexdigit()), "{disk}");
    assert_eq!(disk["mode"], "argv");
    assert_eq!(disk["command"], "df -k -P {path}");
    assert_eq!(disk["risk_level"], "low");
    assert_eq!(disk["requires_confirmation"], false);
    assert_eq!(disk["parameter_schema"]["path"]["type"], "string");
    assert_eq!(disk["parameter_schema"]["path"]["default"], "/host");
    assert_eq!(disk["example_parameters"], json!({"path": "/host"}));
    assert_eq!(disk["default_timeout"], 10);
    assert_eq!(disk["max_timeout"], 60);
    assert_eq!(disk["execution_count"], 0);
    // `T | null` fields are there as null.
    for key in ["working_directory", "cooldown_seconds", "rate_limit_per_hour", "rate_limit_per_day", "created_by"] {
        assert_eq!(disk.get(key), Some(&json!(null)), "{key}: {disk}");
    }
    let restart = r.data()["commands"].as_array().unwrap().iter().find(|c| c["slug"] == "restart-service").unwrap();
    assert_eq!(restart["risk_level"], "high");
    assert_eq!(restart["requires_confirmation"], true);
    assert_eq!(restart["parameter_schema"]["service"]["required"], true);

    // The most risk accepted: at or below it.
    let r = app.get(&format!("{}?risk_level=low", app.list_path()), Some(&t)).await;
    r.expect(200);
    let mut low = slugs(&r);
    low.sort();
    assert_eq!(low, ["disk-usage", "memory", "uptime"]);
    let r = app.get(&format!("{}?risk_level=medium", app.list_path()), Some(&t)).await;
    assert_eq!(slugs(&r).len(), 3);
    let r = app.get(&format!("{}?risk_level=high", app.list_path()), Some(&t)).await;
    assert_eq!(slugs(&r).len(), 4);
    let r = app.get(&format!("{}?risk_level=critical", app.list_path()), Some(&t)).await;
    assert_eq!(slugs(&r).len(), 4);
    // The category, case-insensitive, with the risk filter too.
    let r = app.get(&format!("{}?category=STORAGE", app.list_path()), Some(&t)).await;
    r.expect(200);
    assert_eq!(slugs(&r), ["disk-usage"]);
    let r = app.get(&format!("{}?category=services&risk_level=medium", app.list_path()), Some(&t)).await;
    r.expect(200);
    assert!(slugs(&r).is_empty());
    let r = app.get(&format!("{}?category=nothing-here", app.list_path()), Some(&t)).await;
    r.expect(200);
    assert!(slugs(&r).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_unknown_servers_bad_filters_and_tokens_are_refused() {
    let app = spawn().await;
    let t = app.renter.token.clone();

    let r = app.get(&format!("{}?risk_level=extreme", app.list_path()), Some(&t)).await;
    r.expect(422);
    assert_eq!(fields(&r), ["risk_level"]);
    let r = app.get(&format!("{}?category={}", app.list_path(), "x".repeat(51)), Some(&t)).await;
    r.expect(422);
    assert_eq!(fields(&r), ["category"]);

    // A server nobody registered, and a malformed id: the same 404.
    let unknown = hoody_api::db::new_id();
    let r = app.get(&format!("/api/v1/servers/{unknown}/available-commands"), Some(&t)).await;
    r.expect(404);
    assert_eq!(r.code(), "server_not_found");
    let r = app.get("/api/v1/servers/not-an-id/available-commands", Some(&t)).await;
    r.expect(404);
    assert_eq!(r.code(), "server_not_found");
    app.get(&app.list_path(), None).await.expect(401);

    // Someone who does not rent it, and someone whose rental ended.
    let stranger = user(&app, "stranger").await;
    let r = app.get(&app.list_path(), Some(&stranger.token)).await;
    r.expect(403);
    assert_eq!(r.code(), "server_not_rented");
    let former = user(&app, "former").await;
    rent(&app, &former.user_id, &app.server_id, "-1 day").await;
    let r = app.get(&app.list_path(), Some(&former.token)).await;
    r.expect(403);
    assert_eq!(r.code(), "server_not_rented");

    // Tokens: the leaf that reads rentals, and nothing more is needed.
    let (without, _) = app.new_token(&t, json!({"permissions": tree(&["containers.actions.exec"])})).await;
    let r = app.get(&app.list_path(), Some(&without)).await;
    r.expect(403);
    assert_eq!(r.code(), "insufficient_permissions");
    let (with, _) =
        app.new_token(&t, json!({"permissions": tree(&["financial.server_rental.view_marketplace"])})).await;
    app.get(&app.list_path(), Some(&with)).await.expect(200);

    // An administrator's session may look at any server; their tokens may not.
    let admin = user(&app, "admin").await;
    make_admin(&app, &admin).await;
    let r = app.get(&app.list_path(), Some(&admin.token)).await;
    r.expect(200);
    assert_eq!(r.data()["server_info"]["rental_status"], "none");
    let (admin_token, _) =
        app.new_token(&admin.token, json!({"permissions": tree(&["financial.server_rental.view_marketplace"])})).await;
    let r = app.get(&app.list_path(), Some(&admin_token)).await;
    r.expect(403);
    assert_eq!(r.code(), "server_not_rented");
    // Listing ran nothing on the host.
    assert!(!app.helper_exists());
}
