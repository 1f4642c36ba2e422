//! `GET /servers/available`: every filter of the seed narrows the list as the database says,
//! bad filters are named, and a rented server leaves the marketplace.

use serde_json::json;

use super::{listed_server, rent, renter, MARKET};
use crate::harness::TestApp;

fn names(r: &crate::harness::Resp) -> Vec<String> {
    let mut v: Vec<String> =
        r.data().as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap().to_owned()).collect();
    v.sort();
    v
}

#[tokio::test]
async fn every_filter_narrows_and_bad_ones_are_named() {
    let app = TestApp::spawn().await;
    let u = renter(&app, "market@example.com", "100").await;
    let big = listed_server(
        &app,
        "big",
        500,
        &[7, 30],
        &[
            ("cpu_model", "'EPYC 7502P'"),
            ("cores", "32"),
            ("cpu_threads", "64"),
            ("cpu_score", "40000"),
            ("cpu_score_type", "'passmark'"),
            ("ram_mb", "262144"),
            ("ram_type", "'ECC DDR4'"),
            ("disks", r#"'[{"count": 2, "capacity_gb": 1920, "type": "NVMe"}]'"#),
            ("bandwidth_mbps", "1000"),
            ("traffic_unlimited", "true"),
            ("category", "'compute'"),
            ("featured", "true"),
            ("setup_fee_cents", "2500"),
        ],
    )
    .await;
    listed_server(
        &app,
        "small",
        100,
        &[30],
        &[
            ("country", "'US'"),
            ("region", "'us-east'"),
            ("cores", "4"),
            ("cpu_score", "9000"),
            ("cpu_score_type", "'geekbench_single'"),
            ("ram_mb", "16384"),
            ("ram_type", "'DDR4'"),
            ("disks", r#"'[{"count": 1, "capacity_gb": 4000, "type": "HDD"}]'"#),
            ("bandwidth_mbps", "100"),
            ("traffic_tb", "20"),
            ("category", "'storage'"),
        ],
    )
    .await;
    // Not in the marketplace: unlisted, free, disabled.
    listed_server(&app, "hidden", 100, &[30], &[("listed", "false")]).await;
    listed_server(&app, "free-one", 100, &[30], &[("is_free", "true")]).await;
    listed_server(&app, "off", 100, &[30], &[("is_enabled", "false")]).await;
    listed_server(&app, "no-price", 0, &[30], &[]).await;

    let all = app.get(MARKET, Some(&u.token)).await;
    all.expect(200);
    assert_eq!(names(&all), ["big", "small"]);
    // Featured first; the shape of one entry.
    let b = &all.data()[0];
    assert_eq!(b["id"], big.as_str());
    assert_eq!(b["delivery_hours"], 0);
    assert_eq!(b["pricing"]["prices"], json!({"7": "35.00", "30": "150.00"}));
    assert_eq!(
        (b["pricing"]["setup_fee"].as_str(), b["pricing"]["setup_fee_cents"].as_i64()),
        (Some("25.00"), Some(2500))
    );
    assert_eq!(
        b["specs"]["cpu"],
        json!({"model": "EPYC 7502P", "cores": 32, "threads": 64, "score": 40000, "score_type": "passmark"})
    );
    assert_eq!(b["specs"]["ram"], json!({"capacity_gb": 256.0, "type": "ECC DDR4", "speed_mhz": null}));
    assert_eq!(b["specs"]["disks"]["total_gb"], 3840);
    assert_eq!(b["specs"]["network"]["bandwidth_formatted"], "1 Gbps");
    assert_eq!(b["category"], "compute");

    for (q, want) in [
        ("country=us", vec!["small"]),
        ("region=eu-central", vec!["big"]),
        ("max_price_per_day=1.00", vec!["small"]),
        ("max_price_per_day=5", vec!["big", "small"]),
        ("available_durations=7", vec!["big"]),
        ("available_durations=7&available_durations=30", vec!["big"]),
        ("available_durations=30", vec!["big", "small"]),
        ("min_cpu_cores=8", vec!["big"]),
        ("min_cpu_score=10000", vec!["big"]),
        ("min_cpu_score=5000&cpu_score_type=geekbench_single", vec!["small"]),
        ("min_ram_gb=64", vec!["big"]),
        ("ram_types=DDR4", vec!["small"]),
        ("ram_types=DDR4,ECC%20DDR4", vec!["big", "small"]),
        ("min_total_storage_gb=3900", vec!["small"]),
        ("disk_types=NVMe", vec!["big"]),
        ("disk_types=SSD", vec![]),
        ("min_bandwidth_mbps=500", vec!["big"]),
        ("min_traffic_tb=10", vec!["big", "small"]),
        ("min_traffic_tb=30", vec!["big"]),
        ("unlimited_traffic_only=true", vec!["big"]),
        ("category=storage", vec!["small"]),
        ("featured_only=true", vec!["big"]),
        ("featured_only=false&country=DE", vec!["big"]),
    ] {
        let r = app.get(&format!("{MARKET}?{q}"), Some(&u.token)).await;
        r.expect(200);
        assert_eq!(names(&r), want, "{q}");
    }
    for (q, field) in [
        ("max_price_per_day=abc", "max_price_per_day"),
        ("max_price_per_day=-1", "max_price_per_day"),
        ("available_durations=0", "available_durations"),
        ("min_cpu_cores=-2", "min_cpu_cores"),
        ("cpu_score_type=cinebench", "cpu_score_type"),
        ("ram_types=DDR9", "ram_types"),
        ("disk_types=tape", "disk_types"),
        ("category=toaster", "category"),
        ("featured_only=maybe", "featured_only"),
    ] {
        let r = app.get(&format!("{MARKET}?{q}"), Some(&u.token)).await;
        r.expect(422);
        assert_eq!(r.body["details"]["fields"][0]["path"], field, "{q}");
    }

    // Rented: out of the marketplace.
    rent(&app, &u.token, &big, json!({"rental_days": 7, "max_charge_cents": 6000})).await.expect(200);
    assert_eq!(names(&app.get(MARKET, Some(&u.token)).await), ["small"]);

    // An auth token without the marketplace leaf: 403.
    let (t, _) = app.new_token(&u.token, json!({"permissions": {"financial": {"wallet": {"read": true}}}})).await;
    app.get(MARKET, Some(&t)).await.expect(403);
}
