//! `include_proxy_domains=true` on the container reads: the kit URLs in the seed's form and the
//! container's aliases with their URLs; `has_proxy_domains`/`proxy_domains_count` count aliases.

use serde_json::{json, Value};

use super::{fx, SERVER};

const DOMAIN: &str = "containers.test.example";

fn kit_programs() -> Vec<String> {
    let data: Value = serde_json::from_str(include_str!("../../../catalogue/programs.json")).unwrap();
    data["programs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["kit"] == true)
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_container_lists_its_kit_urls_and_aliases() {
    let fx = fx().await;
    let t = &fx.owner.token;
    let a = fx.alias(json!({"alias": "front", "program": "http", "port": 3000, "target_path": "/ui"})).await;
    let b = fx.alias(json!({"alias": "back", "enabled": false})).await;
    let base = format!("/api/v1/containers/{}", fx.container);

    // Without the flag: no list, but the counts.
    let r = fx.get(&base, Some(t)).await;
    r.expect(200);
    assert!(r.data().get("proxy_domains").is_none());
    assert_eq!(r.data()["has_proxy_domains"], true);
    assert_eq!(r.data()["proxy_domains_count"], 2);

    let r = fx.get(&format!("{base}?include_proxy_domains=true"), Some(t)).await;
    r.expect(200);
    let domains = r.data()["proxy_domains"].as_array().unwrap().clone();
    let kits = kit_programs();
    assert!(kits.len() >= 5 && kits.contains(&"terminal".to_owned()));
    assert_eq!(domains.len(), kits.len() + 2);
    for (d, kit) in domains.iter().zip(&kits) {
        let label = format!("{}-{}-{kit}-1", fx.project, fx.container);
        assert_eq!(d["url"], format!("https://{label}.{SERVER}.{DOMAIN}"));
        assert_eq!(d["id"], label.as_str());
        assert_eq!(
            (d["program"].as_str(), d["index"].as_i64(), d["enabled"].as_bool()),
            (Some(kit.as_str()), Some(1), Some(true))
        );
        assert!(d.get("alias").is_none(), "a kit URL has no alias: {d}");
    }
    let aliases = &domains[kits.len()..];
    assert_eq!(aliases[0]["id"], a.as_str());
    assert_eq!(aliases[0]["alias"], "front");
    assert_eq!(aliases[0]["program"], "http");
    assert_eq!(aliases[0]["index"], 3000);
    assert_eq!(aliases[0]["target_path"], "/ui");
    assert_eq!(aliases[0]["url"], format!("https://front.{SERVER}.{DOMAIN}/"));
    assert!(aliases[0]["created_at"].is_string());
    assert_eq!(aliases[1]["id"], b.as_str());
    assert_eq!(aliases[1]["enabled"], false);

    // The lists carry the same; a container without the kit lists only its aliases.
    let bare = fx.seed(&fx.project, "bare", "running", |n| n.hoody_kit = false).await;
    fx.create_on(t, &bare, json!({"alias": "bare-one"})).await.expect(201);
    let r = fx.get(&format!("/api/v1/projects/{}/containers?include_proxy_domains=true", fx.project), Some(t)).await;
    r.expect(200);
    let listed = r.data()["containers"].as_array().unwrap();
    let of = |id: &str| listed.iter().find(|c| c["id"] == id).unwrap().clone();
    assert_eq!(of(&fx.container)["proxy_domains"].as_array().unwrap().len(), kits.len() + 2);
    let bare_out = of(&bare);
    assert_eq!(bare_out["proxy_domains_count"], 1);
    let urls: Vec<&str> =
        bare_out["proxy_domains"].as_array().unwrap().iter().map(|d| d["url"].as_str().unwrap()).collect();
    assert_eq!(urls, [format!("https://bare-one.{SERVER}.{DOMAIN}/")]);

    // Deleting an alias drops it from the list and the counts.
    fx.call(reqwest::Method::DELETE, &super::at(&a), t, None).await.expect(200);
    let r = fx.get(&format!("{base}?include_proxy_domains=true"), Some(t)).await;
    assert_eq!(r.data()["proxy_domains_count"], 1);
    assert_eq!(r.data()["proxy_domains"].as_array().unwrap().len(), kits.len() + 1);
    let empty = fx.seed(&fx.project, "empty", "running", |_| {}).await;
    let r = fx.get(&format!("/api/v1/containers/{empty}"), Some(t)).await;
    assert_eq!(
        (r.data()["has_proxy_domains"].as_bool(), r.data()["proxy_domains_count"].as_i64()),
        (Some(false), Some(0))
    );
}

#[tokio::test]
async fn a_container_update_answers_the_same_counts_as_a_read() {
    let fx = fx().await;
    let t = &fx.owner.token;
    fx.alias(json!({"alias": "counted-one"})).await;
    fx.alias(json!({"alias": "counted-two", "enabled": false})).await;
    let base = format!("/api/v1/containers/{}", fx.container);
    let r = fx.request(reqwest::Method::PUT, &base, Some(t), Some(json!({"comment": "counted"}))).await;
    r.expect(200);
    assert_eq!(
        (r.data()["has_proxy_domains"].as_bool(), r.data()["proxy_domains_count"].as_i64()),
        (Some(true), Some(2)),
        "{}",
        r.text
    );
    let read = fx.get(&base, Some(t)).await;
    assert_eq!(read.data()["proxy_domains_count"], r.data()["proxy_domains_count"]);
}
