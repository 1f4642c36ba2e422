//! The rule lists: what is refused (and then neither stored nor applied), which rules a remove
//! or a toggle selects, who may change them, concurrent changes, copies, deletes and repairs.

use hoody_api::host::fault::Fault;
use reqwest::Method;
use serde_json::{json, Value};

use super::{acl, net_name, network};
use crate::{
    fixtures::{lxc, pin_faulty, LxdApp},
    permissions::tree,
};

async fn stored(app: &LxdApp, id: &str) -> Option<(Value, Value)> {
    sqlx::query_as("select ingress, egress from container_firewall where container_id = $1")
        .bind(id)
        .fetch_optional(&app.db)
        .await
        .unwrap()
}

fn tcp(port: &str) -> Value {
    json!({"action": "reject", "protocol": "tcp", "destination_port": port, "description": format!("port {port}")})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_rules_are_refused_naming_the_field_and_nothing_is_applied() {
    let app = LxdApp::spawn().await;
    let s = app.verified_user("fw-bad@example.com").await;
    let project = app.project(&s.token, "Bad").await;
    let id = app.running(&s.token, &project, json!({})).await;
    let egress = format!("/api/v1/containers/{id}/firewall/egress");
    let ingress = format!("/api/v1/containers/{id}/firewall/ingress");
    let base = json!({"action": "reject", "protocol": "tcp", "destination_port": "80", "description": "d"});
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        if v.is_null() {
            b.as_object_mut().unwrap().remove(k);
        } else {
            b[k] = v;
        }
        b
    };
    let cases = [
        (&egress, with("action", json!("permit")), "action"),
        (&egress, with("protocol", json!("sctp")), "protocol"),
        (&egress, with("description", Value::Null), "description"),
        (&egress, with("destination_port", Value::Null), "destination_port"),
        (&egress, with("destination_port", json!("90-80")), "destination_port"),
        (&egress, with("destination_port", json!("70000")), "destination_port"),
        (&egress, with("destination_port", json!("80,,443")), "destination_port"),
        (&egress, with("source_port", json!("0")), "source_port"),
        (&egress, with("destination", json!("10.0.0.0/33")), "destination"),
        (&egress, with("destination", json!("not-an-address")), "destination"),
        (&egress, with("state", json!("on")), "state"),
        (&egress, with("icmp_type", json!("8")), "icmp_type"),
        (
            &egress,
            json!({"action": "drop", "protocol": "icmp4", "destination_port": "80", "description": "d"}),
            "destination_port",
        ),
        (&egress, json!({"action": "drop", "protocol": "icmp4", "icmp_type": "300", "description": "d"}), "icmp_type"),
        (&egress, with("source", json!("1.2.3.4")), "source"),
        (&ingress, with("destination", json!("1.2.3.4")), "destination"),
        (&ingress, with("source", json!("1.2.3")), "source"),
    ];
    for (path, body, field) in cases {
        let r = app.call(Method::POST, path, &s.token, Some(body.clone())).await;
        assert_eq!(r.status, 422, "{body}: {}", r.text);
        assert_eq!(r.code(), "validation_failed", "{body}: {}", r.text);
        let fields = r.body["details"]["fields"].as_array().cloned().unwrap_or_default();
        assert!(fields.iter().any(|f| f["path"] == field), "{body} should name {field}: {}", r.text);
    }
    // Removes and toggles are checked the same way.
    let r = app.call(Method::DELETE, &egress, &s.token, Some(json!({"destination": "300.0.0.1"}))).await;
    r.expect(422);
    let r = app.call(Method::DELETE, &egress, &s.token, Some(json!({}))).await;
    r.expect(422);
    let r = app.call(Method::PATCH, &egress, &s.token, Some(json!({"action": "drop"}))).await;
    r.expect(422);
    assert_eq!(r.body["details"]["fields"][0]["path"], "state");

    assert!(stored(&app, &id).await.is_none(), "nothing stored");
    assert!(acl(&net_name(&id)).is_none(), "no ACL on the host");
    assert!(network(&net_name(&id)).is_none(), "no bridge on the host");
    let r = app.get(&format!("/api/v1/containers/{id}/firewall/rules"), Some(&s.token)).await;
    r.expect(200);
    assert_eq!(r.data()["rule_count"], 0);
    assert_eq!(r.data()["max_rules"], 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removes_and_toggles_select_rules_by_their_fields() {
    let app = LxdApp::spawn().await;
    let s = app.verified_user("fw-select@example.com").await;
    let project = app.project(&s.token, "Select").await;
    let id = app.running(&s.token, &project, json!({})).await;
    let name = net_name(&id);
    let egress = format!("/api/v1/containers/{id}/firewall/egress");
    let ingress = format!("/api/v1/containers/{id}/firewall/ingress");
    for port in ["80", "443", "8000-8080"] {
        app.call(Method::POST, &egress, &s.token, Some(tcp(port))).await.expect(200);
    }
    let icmp = json!({"action": "drop", "protocol": "ICMP4", "icmp_type": "8", "source": "10.0.0.0/8", "description": "ping", "state": "disabled"});
    let r = app.call(Method::POST, &ingress, &s.token, Some(icmp)).await;
    r.expect(200);
    assert_eq!(r.data()["protocol"], "icmp4");
    assert_eq!(r.data()["state"], "disabled");
    assert!(r.data().get("destination_port").is_none(), "absent fields are omitted: {}", r.text);

    // The same traffic again is not added twice.
    let mut again = tcp("443");
    again["description"] = json!("another word for it");
    let r = app.call(Method::POST, &egress, &s.token, Some(again)).await;
    r.expect(200);
    assert_eq!(r.data()["duplicate"], true);
    assert_eq!(r.data()["duplicate_of"], json!({"direction": "egress", "index": 1}));

    let r = app.get(&format!("/api/v1/containers/{id}/firewall/rules"), Some(&s.token)).await;
    r.expect(200);
    let d = r.data();
    assert_eq!(d["rule_count"], 4);
    assert_eq!(d["egress"].as_array().unwrap().len(), 3);
    assert_eq!(d["egress"][2]["destination_port"], "8000-8080");
    assert_eq!(d["egress"][0]["direction"], "egress");
    assert_eq!(d["ingress"][0]["direction"], "ingress");
    assert!(d["byte_count"].as_u64().unwrap() > 100);
    // The host holds exactly the stored lists.
    let held = acl(&name).unwrap();
    assert_eq!(held["egress"].as_array().unwrap().len(), 3);
    assert_eq!(held["ingress"][0]["icmp_type"], "8");
    assert_eq!(held["ingress"][0]["state"], "disabled");

    // First match only.
    let r = app.call(Method::DELETE, &egress, &s.token, Some(json!({"protocol": "tcp"}))).await;
    r.expect(200);
    assert_eq!(r.data()["removed_count"], 1);
    assert_eq!(r.data()["removed"][0]["destination_port"], "80");
    // No match: 404, nothing changes.
    let r = app.call(Method::DELETE, &egress, &s.token, Some(json!({"destination_port": "22"}))).await;
    r.expect(404);
    assert_eq!(r.code(), "firewall_rule_not_found");
    let r =
        app.call(Method::PATCH, &egress, &s.token, Some(json!({"state": "disabled", "destination_port": "22"}))).await;
    r.expect(404);
    // Every match.
    let r = app.call(Method::DELETE, &egress, &s.token, Some(json!({"all": true, "action": "reject"}))).await;
    r.expect(200);
    assert_eq!(r.data()["removed_count"], 2);
    assert_eq!(acl(&name).unwrap()["egress"], json!([]));
    // The other direction was not touched.
    let (ing, eg) = stored(&app, &id).await.unwrap();
    assert_eq!(ing.as_array().unwrap().len(), 1);
    assert_eq!(eg, json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_those_allowed_change_a_firewall() {
    let app = LxdApp::spawn().await;
    let s = app.verified_user("fw-owner@example.com").await;
    let project = app.project(&s.token, "Mine").await;
    let id = app.running(&s.token, &project, json!({})).await;
    let rules = format!("/api/v1/containers/{id}/firewall/rules");
    let egress = format!("/api/v1/containers/{id}/firewall/egress");

    // A token without the firewall leaf.
    let (reader, _) =
        app.new_token(&s.token, json!({"permissions": tree(&["containers.read", "containers.update"])})).await;
    for (m, path, body) in [(Method::GET, &rules, None), (Method::POST, &egress, Some(tcp("80")))] {
        let r = app.call(m, path, &reader, body).await;
        r.expect(403);
        assert_eq!(r.code(), "insufficient_permissions");
    }
    let (fw, _) = app.new_token(&s.token, json!({"permissions": tree(&["resources.firewalls"])})).await;
    app.call(Method::POST, &egress, &fw, Some(tcp("80"))).await.expect(200);

    // Another user: as if it did not exist.
    let other = app.verified_user("fw-other@example.com").await;
    for (m, path, body) in [
        (Method::GET, rules.clone(), None),
        (Method::POST, egress.clone(), Some(tcp("81"))),
        (Method::POST, format!("/api/v1/containers/{id}/firewall/reset"), None),
    ] {
        let r = app.call(m, &path, &other.token, body).await;
        r.expect(404);
    }
    // A read-only grantee sees the rules, cannot change them.
    let perms = format!("/api/v1/projects/{project}/permissions");
    app.post_auth(&perms, &s.token, Some(json!({"user_id": other.user_id, "permission_level": "read"})))
        .await
        .expect(201);
    let r = app.get(&rules, Some(&other.token)).await;
    r.expect(200);
    assert_eq!(r.data()["rule_count"], 1);
    for (m, path, body) in [
        (Method::POST, egress.clone(), Some(tcp("81"))),
        (Method::DELETE, egress.clone(), Some(json!({"all": true}))),
        (Method::PATCH, egress.clone(), Some(json!({"state": "disabled", "destination_port": "80"}))),
        (Method::POST, format!("/api/v1/containers/{id}/firewall/reset"), None),
    ] {
        let r = app.call(m, &path, &other.token, body).await;
        r.expect(403);
        assert_eq!(r.code(), "project_access_denied");
    }
    let (_, eg) = stored(&app, &id).await.unwrap();
    assert_eq!(eg.as_array().unwrap().len(), 1);
    assert_eq!(acl(&net_name(&id)).unwrap()["egress"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_adds_lose_nothing_and_never_pass_the_account_limit() {
    let app = LxdApp::spawn_with(|c| c.quotas.free.firewall_rules = 3).await;
    let s = app.verified_user("fw-race@example.com").await;
    let project = app.project(&s.token, "Race").await;
    let id = app.running(&s.token, &project, json!({})).await;
    let egress = format!("/api/v1/containers/{id}/firewall/egress");
    let adds = (0..5).map(|i| {
        let port = (1000 + i).to_string();
        let (app, token, egress) = (&app, s.token.clone(), egress.clone());
        async move { app.call(Method::POST, &egress, &token, Some(tcp(&port))).await }
    });
    let results = futures::future::join_all(adds).await;
    let ok = results.iter().filter(|r| r.status.as_u16() == 200).count();
    let refused: Vec<_> = results.iter().filter(|r| r.status.as_u16() == 422).collect();
    assert_eq!(ok, 3, "{:?}", results.iter().map(|r| &r.text).collect::<Vec<_>>());
    assert_eq!(refused.len(), 2);
    assert!(refused.iter().all(|r| r.body["details"]["fields"][0]["path"] == "limits.firewall_rules"));
    // Every acknowledged rule is stored and on the host.
    let (_, eg) = stored(&app, &id).await.unwrap();
    let stored_ports: Vec<&str> =
        eg.as_array().unwrap().iter().map(|r| r["destination_port"].as_str().unwrap()).collect();
    let held = acl(&net_name(&id)).unwrap();
    let held_ports: Vec<&str> =
        held["egress"].as_array().unwrap().iter().map(|r| r["destination_port"].as_str().unwrap()).collect();
    assert_eq!(stored_ports.len(), 3);
    assert_eq!(stored_ports, held_ports);
    for r in results.iter().filter(|r| r.status.as_u16() == 200) {
        assert!(stored_ports.contains(&r.data()["destination_port"].as_str().unwrap()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_take_the_rules_and_deletes_take_the_bridge() {
    let app = LxdApp::spawn().await;
    let s = app.verified_user("fw-copy@example.com").await;
    let project = app.project(&s.token, "Copy").await;
    let id = app.running(&s.token, &project, json!({})).await;
    let egress = format!("/api/v1/containers/{id}/firewall/egress");
    app.call(Method::POST, &egress, &s.token, Some(tcp("80"))).await.expect(200);
    app.call(Method::PATCH, &egress, &s.token, Some(json!({"state": "disabled", "destination_port": "80"})))
        .await
        .expect(200);

    let copy_path = format!("/api/v1/containers/{id}/copy");
    let copy = |name: &'static str, rules: bool| {
        let body = json!({"target_project_id": project, "name": name, "copy_firewall_rules": rules});
        app.post_auth(&copy_path, &s.token, Some(body))
    };
    let r = copy("with-rules", true).await;
    r.expect(201);
    let with = r.data()["id"].as_str().unwrap().to_owned();
    app.track(&with);
    let r = copy("without-rules", false).await;
    r.expect(201);
    let without = r.data()["id"].as_str().unwrap().to_owned();
    app.track(&without);

    // The copy holds the rules on a bridge of its own, not its source's.
    let held = acl(&net_name(&with)).expect("the copy's ACL");
    assert_eq!(held["egress"][0]["destination_port"], "80");
    assert_eq!(held["egress"][0]["state"], "disabled");
    assert_eq!(super::devices(&format!("c-{with}"))["eth0"]["network"], net_name(&with).as_str());
    // A copy without them is on the shared network.
    assert!(super::devices(&format!("c-{without}")).get("eth0").is_none());
    assert!(stored(&app, &without).await.is_none());

    // Deleting the source removes its bridge and ACL, not the copy's.
    let r = app.call(Method::DELETE, &format!("/api/v1/containers/{id}"), &s.token, None).await;
    assert!(r.status.as_u16() < 300, "{}", r.text);
    assert!(network(&net_name(&id)).is_none());
    assert!(acl(&net_name(&id)).is_none());
    assert!(acl(&net_name(&with)).is_some());
    assert!(stored(&app, &id).await.is_none(), "the rules went with their container");
    let r = app.call(Method::DELETE, &format!("/api/v1/containers/{with}"), &s.token, None).await;
    assert!(r.status.as_u16() < 300, "{}", r.text);
    assert!(network(&net_name(&with)).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_host_keeps_the_old_rules_and_the_reconciler_repairs_a_lost_acl() {
    let app = LxdApp::spawn().await;
    let s = app.verified_user("fw-repair@example.com").await;
    let project = app.project(&s.token, "Repair").await;
    let id = app.running(&s.token, &project, json!({})).await;
    let name = net_name(&id);
    let egress = format!("/api/v1/containers/{id}/firewall/egress");
    app.call(Method::POST, &egress, &s.token, Some(tcp("80"))).await.expect(200);

    // The host fails: an error, and the stored rules are the old ones.
    let f = pin_faulty(&app);
    f.set(Fault::Fail);
    let r = app.call(Method::POST, &egress, &s.token, Some(tcp("81"))).await;
    assert!(r.status.as_u16() >= 500, "{}", r.text);
    let (_, eg) = stored(&app, &id).await.unwrap();
    assert_eq!(eg.as_array().unwrap().len(), 1);
    app.state.hosts.unpin(&app.server_id);

    // The host loses the rules behind our back; a pass puts them back.
    lxc(&["query", "-X", "PUT", &format!("/1.0/network-acls/{name}"), "-d", r#"{"ingress":[],"egress":[]}"#]);
    assert_eq!(acl(&name).unwrap()["egress"], json!([]));
    hoody_api::lifecycle::reconciler::pass(&app.state).await.unwrap();
    let held = acl(&name).unwrap();
    assert_eq!(held["egress"].as_array().unwrap().len(), 1);
    assert_eq!(held["egress"][0]["destination_port"], "80");
    // Nothing out of step: a pass changes nothing.
    assert_eq!(hoody_api::lifecycle::reconciler::pass(&app.state).await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_remove_makes_nothing_and_a_restore_keeps_the_firewall() {
    let app = LxdApp::spawn().await;
    let s = app.verified_user("fw-restore@example.com").await;
    let project = app.project(&s.token, "Restore").await;
    let id = app.running(&s.token, &project, json!({})).await;
    let lxd = format!("c-{id}");
    let name = net_name(&id);
    let base = format!("/api/v1/containers/{id}");
    let egress = format!("{base}/firewall/egress");

    // `all` on a container with no firewall: nothing removed, nothing made, no event.
    let r = app.call(Method::DELETE, &egress, &s.token, Some(json!({"all": true}))).await;
    r.expect(200);
    assert_eq!(r.data()["removed_count"], 0);
    assert!(stored(&app, &id).await.is_none());
    assert!(network(&name).is_none() && acl(&name).is_none());
    // A reset of nothing: no event either.
    app.call(Method::POST, &format!("{base}/firewall/reset"), &s.token, None).await.expect(200);
    let events: i64 =
        sqlx::query_scalar("select count(*) from event where resource_type = 'firewall' and container_id = $1")
            .bind(&id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(events, 0);

    // A snapshot from before the firewall, restored after it: the container stays behind it.
    let r = app.call(Method::POST, &format!("{base}/snapshots"), &s.token, Some(json!({}))).await;
    r.expect(201);
    let snap = r.data()["snapshot"]["name"].as_str().unwrap().to_owned();
    app.call(Method::POST, &egress, &s.token, Some(tcp("80"))).await.expect(200);
    assert_eq!(super::devices(&lxd)["eth0"]["network"], name.as_str());
    app.call(Method::PUT, &format!("{base}/snapshots/{snap}"), &s.token, None).await.expect(200);
    assert_eq!(super::devices(&lxd)["eth0"]["network"], name.as_str(), "the restore kept eth0 on the firewall bridge");
    assert_eq!(acl(&name).unwrap()["egress"][0]["destination_port"], "80");
}
