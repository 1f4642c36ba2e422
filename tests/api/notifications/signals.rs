//! Security signals: written to the account's inbox (and as events) by the change that raises them.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use super::{inbox, signals_of};
use crate::{
    harness::{TestApp, PASSWORD},
    tfa::{challenge, enrolled},
};

const LOGIN: &str = "/api/v1/users/auth/login";

/// An app that takes the client address from `X-Forwarded-For` (the test client is its proxy).
async fn behind_proxy() -> TestApp {
    TestApp::spawn_with(|c| c.trusted_proxies = hoody_api::config::parse_cidrs("127.0.0.1/32").unwrap()).await
}

async fn login_from(app: &TestApp, email: &str, ip: &str) {
    app.request_with(
        Method::POST,
        LOGIN,
        None,
        &[("x-forwarded-for", ip)],
        Some(json!({"email": email, "password": PASSWORD})),
    )
    .await
    .expect(200);
}

fn kinds(signals: &[(String, String)]) -> Vec<&str> {
    signals.iter().map(|(k, _)| k.as_str()).collect()
}

#[tokio::test]
async fn a_sign_in_from_a_new_address_and_a_password_change_are_told_to_the_account() {
    let app = behind_proxy().await;
    let s = app.verified_user("signals@example.com").await;
    login_from(&app, "signals@example.com", "203.0.113.5").await;
    let before = signals_of(&app, &s.user_id).await.len();
    // The same address again: nothing new.
    login_from(&app, "signals@example.com", "203.0.113.5").await;
    assert_eq!(signals_of(&app, &s.user_id).await.len(), before);
    // Another address: told, once.
    login_from(&app, "signals@example.com", "198.51.100.9").await;
    let after = signals_of(&app, &s.user_id).await;
    assert_eq!(after.len(), before + 1);
    let (kind, message) = after.last().unwrap();
    assert_eq!(kind, "login.new_ip");
    assert!(message.contains("198.51.100.9"), "{message}");
    login_from(&app, "signals@example.com", "198.51.100.9").await;
    assert_eq!(signals_of(&app, &s.user_id).await.len(), before + 1);

    // A password change: told (the sessions are signed out, so read the inbox after signing in).
    let session = app.login("signals@example.com", PASSWORD).await;
    let new = "Another-passphrase-42";
    app.request(
        Method::PUT,
        &format!("/api/v1/users/{}", s.user_id),
        Some(&session.token),
        Some(json!({"password": new, "current_password": PASSWORD})),
    )
    .await
    .expect(200);
    let fresh = app.login("signals@example.com", new).await;
    let list = inbox(&app, &fresh.token).await;
    let changed = list.iter().find(|n| n["title"] == "Password changed").expect("a password signal in the inbox");
    assert_eq!(
        (&changed["type"], &changed["is_global"], &changed["is_read"]),
        (&json!("STATUS_UPDATE"), &json!(false), &json!(false))
    );
    assert_eq!(changed["target_user_ids"], json!([s.user_id]));
    // Each signal has its event, for this account.
    let events: i64 =
        sqlx::query_scalar("select count(*) from event where event_type = 'notification.created' and user_id = $1")
            .bind(&s.user_id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(events as usize, signals_of(&app, &s.user_id).await.len());
    // Nobody else hears of it.
    let other = app.verified_user("bystander@example.com").await;
    assert!(inbox(&app, &other.token).await.is_empty());
}

#[tokio::test]
async fn few_backup_codes_left_and_two_factor_off_are_told() {
    let app = TestApp::spawn().await;
    let e = enrolled(&app, "codes@example.com").await;
    // Seven of the ten codes used: the seventh leaves three, which is told.
    for code in &e.backup_codes[..7] {
        let temp = challenge(&app, "codes@example.com").await;
        app.post("/api/v1/users/auth/2fa/verify", json!({"temp_token": temp, "code": code})).await.expect(200);
    }
    let low: Vec<String> = signals_of(&app, &e.session.user_id)
        .await
        .into_iter()
        .filter(|(k, _)| k == "2fa.backup_codes_low")
        .map(|(_, m)| m)
        .collect();
    assert_eq!(low.len(), 1, "{low:?}");
    assert!(low[0].starts_with("3 unused"), "{}", low[0]);

    let mut auth = e.auth;
    let r = app
        .request(
            Method::DELETE,
            "/api/v1/users/auth/2fa",
            Some(&e.session.token),
            Some(json!({"password": PASSWORD, "code": auth.next().await})),
        )
        .await;
    r.expect(200);
    let signals = signals_of(&app, &e.session.user_id).await;
    assert_eq!(kinds(&signals).last(), Some(&"2fa.disabled"));
}

#[tokio::test]
async fn a_token_used_from_a_new_address_is_told_once() {
    let app = behind_proxy().await;
    let s = app.verified_user("token-ip@example.com").await;
    let (token, token_id) = app.new_token(&s.token, json!({"permission_template": "read_only"})).await;
    let use_from = |ip: &'static str| {
        let (app, token) = (&app, token.clone());
        async move {
            app.request_with(Method::GET, "/api/v1/projects/", Some(&token), &[("x-forwarded-for", ip)], None)
                .await
                .expect(200);
        }
    };
    let addresses = || async {
        let rows: Vec<String> = sqlx::query_scalar("select ip from auth_token_ip where token_id = $1 order by ip")
            .bind(&token_id)
            .fetch_all(&app.db)
            .await
            .unwrap();
        rows
    };
    let wait_for = |want: usize| async move {
        for _ in 0..100 {
            if addresses().await.len() == want {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the token's addresses never reached {want}: {:?}", addresses().await);
    };
    // Its first address is no news.
    use_from("192.0.2.10").await;
    wait_for(1).await;
    assert!(kinds(&signals_of(&app, &s.user_id).await).iter().all(|k| *k != "token.new_ip"));
    // A second one is.
    use_from("192.0.2.20").await;
    wait_for(2).await;
    let told: Vec<(String, String)> =
        signals_of(&app, &s.user_id).await.into_iter().filter(|(k, _)| k == "token.new_ip").collect();
    assert_eq!(told.len(), 1, "{told:?}");
    assert!(told[0].1.contains("192.0.2.20"), "{}", told[0].1);
    // Back to the first: known, nothing new. Then a third address: the batches are written in
    // order, so once the third is told, the use from the first was written before it.
    use_from("192.0.2.10").await;
    use_from("192.0.2.30").await;
    wait_for(3).await;
    let mut told = Vec::new();
    for _ in 0..100 {
        told = signals_of(&app, &s.user_id).await.into_iter().filter(|(k, _)| k == "token.new_ip").collect();
        if told.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(told.len(), 2, "{told:?}");
    assert!(told[1].1.contains("192.0.2.30"), "{}", told[1].1);
}
