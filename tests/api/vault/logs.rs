//! The real binary's logs at debug level: a value that does not open is logged (account, realm,
//! key, version), and no value or metadata is ever written to the log.

use std::time::Duration;

use serde_json::{json, Value};

use crate::harness::{decode_qp, fresh_database_url, link_token, Served, PASSWORD};

#[tokio::test]
async fn unreadable_values_are_logged_and_values_never_are() {
    let url = fresh_database_url().await;
    let served = Served::start(&url, "debug", &[], "/readyz").await;
    let client = reqwest::Client::new();
    let api = format!("{}/api/v1", served.base);
    let r = client
        .post(format!("{api}/auth/signup"))
        .json(&json!({"email": "vault-logs@example.com", "password": PASSWORD}));
    assert_eq!(r.send().await.unwrap().status(), 200);
    let mut mail = None;
    for _ in 0..100 {
        if let Some(e) = std::fs::read_dir(served.dir.join("outbox")).ok().and_then(|mut d| d.next()) {
            mail = Some(decode_qp(&std::fs::read_to_string(e.unwrap().path()).unwrap()));
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let token = link_token(&mail.expect("verification mail"), "verify-email");
    let v: Value = client
        .post(format!("{api}/auth/verify-email"))
        .json(&json!({"token": token}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = v["data"]["token"].as_str().unwrap().to_owned();

    let (value, meta) = ("Logged-Value-Narwhal-3", "Logged-Meta-Okapi-4");
    for key in ["first", "second"] {
        let body = json!({"value": format!("{value}-{key}"), "metadata": {"m": meta}});
        let r = client.put(format!("{api}/vault/keys/{key}")).bearer_auth(&access).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    let db = sqlx::PgPool::connect(&url).await.unwrap();
    sqlx::query(
        "update vault_entry t set value_enc = f.value_enc from vault_entry f where f.key = 'first' and t.key = 'second'",
    )
    .execute(&db)
    .await
    .unwrap();
    db.close().await;
    let r = client.get(format!("{api}/vault/keys/second")).bearer_auth(&access).send().await.unwrap();
    assert_eq!(r.status(), 409);
    let r = client.get(format!("{api}/vault/keys/first")).bearer_auth(&access).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let list = client.get(format!("{api}/vault/keys")).bearer_auth(&access).send().await.unwrap();
    assert_eq!(list.status(), 200);

    let (out, err, clean) = served.stop();
    assert!(clean);
    let logged: Vec<Value> = out.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let line = logged
        .iter()
        .find(|v| v["fields"]["message"] == "vault value does not open")
        .unwrap_or_else(|| panic!("not logged:\n{out}"));
    assert_eq!((&line["fields"]["key"], &line["fields"]["version"]), (&json!("second"), &json!(1)), "{line}");
    assert_eq!(line["level"], "WARN");
    let all = format!("{out}{err}");
    for secret in [value, meta] {
        assert!(!all.contains(secret), "{secret} was logged");
    }
}
