//! What the packets do: a listener on the host side of the container's bridge, connections
//! from inside the container (busybox `nc`).

use std::net::Ipv4Addr;

use reqwest::Method;
use serde_json::json;

use super::{acl, address, connect, devices, listen, net_name, network};
use crate::fixtures::LxdApp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kernel_obeys_the_rules_as_they_change() {
    let app = LxdApp::spawn().await;
    let s = app.verified_user("fw-packets@example.com").await;
    let project = app.project(&s.token, "Walls").await;
    let id = app.running(&s.token, &project, json!({})).await;
    let lxd = format!("c-{id}");
    let name = net_name(&id);
    let egress = format!("/api/v1/containers/{id}/firewall/egress");
    let before = address(&lxd).await.expect("an address on the shared bridge");

    // The first rule puts the container on a bridge of its own, ACL attached, defaults allow.
    let r = app
        .call(
            Method::POST,
            &egress,
            &s.token,
            Some(json!({"action": "allow", "protocol": "udp", "destination_port": "9", "description": "unrelated"})),
        )
        .await;
    r.expect(200);
    assert_eq!(r.data()["duplicate"], false);
    let net = network(&name).expect("the container's bridge exists");
    let cfg = &net["config"];
    assert_eq!(cfg["security.acls"], name.as_str());
    assert_eq!(cfg["security.acls.default.egress.action"], "allow");
    assert_eq!(cfg["security.acls.default.ingress.action"], "allow");
    assert_eq!(devices(&lxd)["eth0"]["network"], name.as_str());
    let gw_cidr = cfg["ipv4.address"].as_str().unwrap().to_owned();
    let gw: Ipv4Addr = gw_cidr.split('/').next().unwrap().parse().unwrap();
    let subnet: ipnet::Ipv4Net = gw_cidr.parse::<ipnet::Ipv4Net>().unwrap().trunc();
    assert!("10.250.0.0/16".parse::<ipnet::Ipv4Net>().unwrap().contains(&subnet), "{subnet}");
    // Its address came back, on the new bridge.
    let now: Ipv4Addr = address(&lxd).await.expect("an address after the move").parse().unwrap();
    assert!(subnet.contains(&now), "{now} not in {subnet} (was {before})");
    let stored: (String, String) =
        sqlx::query_as("select network, subnet from container_firewall where container_id = $1")
            .bind(&id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(stored, (name.clone(), gw_cidr.clone()));

    let port = listen(gw);
    let gw = gw.to_string();
    assert_eq!(connect(&lxd, &gw, port), "hi", "nothing blocks it yet");

    // reject: refused at once.
    let rule = json!({"action": "reject", "protocol": "tcp", "destination_port": port.to_string(), "destination": gw, "description": "no"});
    app.call(Method::POST, &egress, &s.token, Some(rule)).await.expect(200);
    let held = acl(&name).expect("the ACL");
    assert_eq!(held["egress"][1]["action"], "reject");
    assert_eq!(held["egress"][1]["destination_port"], port.to_string());
    assert_eq!(held["egress"][1]["destination"], gw.as_str());
    assert_eq!(held["egress"][1]["state"], "enabled");
    let out = connect(&lxd, &gw, port);
    assert!(out.contains("refused"), "{out}");

    // drop: no answer at all, the client times out.
    let r = app
        .call(
            Method::DELETE,
            &egress,
            &s.token,
            Some(json!({"action": "reject", "destination_port": port.to_string()})),
        )
        .await;
    r.expect(200);
    assert_eq!(r.data()["removed_count"], 1);
    let rule =
        json!({"action": "drop", "protocol": "tcp", "destination_port": port.to_string(), "description": "quiet"});
    app.call(Method::POST, &egress, &s.token, Some(rule)).await.expect(200);
    let out = connect(&lxd, &gw, port);
    assert!(out.contains("timed out"), "{out}");

    // disabled: kept, on the host too, and no longer applied.
    let r = app
        .call(
            Method::PATCH,
            &egress,
            &s.token,
            Some(json!({"state": "disabled", "destination_port": port.to_string()})),
        )
        .await;
    r.expect(200);
    assert_eq!(r.data()["new_state"], "disabled");
    assert_eq!(r.data()["updated"]["action"], "drop");
    assert_eq!(acl(&name).unwrap()["egress"][1]["state"], "disabled");
    assert_eq!(connect(&lxd, &gw, port), "hi");
    // enabled again: dropped again.
    app.call(Method::PATCH, &egress, &s.token, Some(json!({"state": "enabled", "action": "drop"}))).await.expect(200);
    assert!(connect(&lxd, &gw, port).contains("timed out"));

    // Removing every rule keeps the ACL attached, empty.
    let r = app.call(Method::DELETE, &egress, &s.token, Some(json!({"all": true}))).await;
    r.expect(200);
    assert_eq!(r.data()["removed_count"], 2);
    let held = acl(&name).expect("the ACL stays");
    assert_eq!(held["egress"], json!([]));
    assert_eq!(network(&name).unwrap()["config"]["security.acls"], name.as_str());
    assert_eq!(connect(&lxd, &gw, port), "hi");

    // Reset: no bridge, no ACL, back on the shared network with an address.
    let r = app.call(Method::POST, &format!("/api/v1/containers/{id}/firewall/reset"), &s.token, None).await;
    r.expect(200);
    assert_eq!(r.data(), &json!({"rules": {"ingress": [], "egress": []}}));
    assert!(network(&name).is_none(), "the bridge is gone");
    assert!(acl(&name).is_none(), "the ACL is gone");
    assert!(devices(&lxd).get("eth0").is_none(), "eth0 is the profile's again");
    let back: Ipv4Addr = address(&lxd).await.expect("an address after the reset").parse().unwrap();
    assert!(!subnet.contains(&back), "{back}");
    let rows: i64 = sqlx::query_scalar("select count(*) from container_firewall where container_id = $1")
        .bind(&id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(rows, 0);
    let events: Vec<String> = sqlx::query_scalar(
        "select event_type from event where resource_type = 'firewall' and container_id = $1 order by id",
    )
    .bind(&id)
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(
        events,
        [
            "firewall.rule.added",
            "firewall.rule.added",
            "firewall.rule.removed",
            "firewall.rule.added",
            "firewall.rule.disabled",
            "firewall.rule.enabled",
            "firewall.rule.removed",
            "firewall.rule.removed",
        ]
    );
}
