//! Issue 12, items 11 and 12. Addresses spelt with invisible or look-alike characters reach the one
//! account their plain spelling names (signup, login, resend, forgot-password, OAuth linking), and
//! what the mail relay cannot take is 422 naming `email`. The outbox stops retrying an undeliverable
//! mail (dead letter) and empties its body. Forgot-password and resend run the same statements for
//! a known and an unknown address before they answer.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use serde_json::{json, Value};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::TcpListener,
};

use crate::harness::{fresh_database_url, Served, TestApp, PASSWORD};

const SIGNUP: &str = "/api/v1/auth/signup";
const LOGIN: &str = "/api/v1/users/auth/login";
const FORGOT: &str = "/api/v1/auth/forgot-password";
const RESEND: &str = "/api/v1/auth/resend-verification";

async fn accounts_like(app: &TestApp, pattern: &str) -> Vec<String> {
    sqlx::query_scalar("select email from app_user where email ilike $1 order by email")
        .bind(pattern)
        .fetch_all(&app.db)
        .await
        .unwrap()
}

async fn wait_mails_to(app: &TestApp, email: &str, n: usize) -> Vec<String> {
    for _ in 0..100 {
        let mails = app.mails_to(email);
        if mails.len() >= n {
            return mails;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("expected {n} mails to {email}, have {}", app.mails_to(email).len());
}

#[tokio::test]
async fn invisible_and_look_alike_spellings_reach_one_account() {
    let app = TestApp::spawn_with(|c| c.limits.signup_per_hour = 100).await;
    let s = app.verified_user("alice@example.com").await;

    // Signing up again under other spellings makes no second account.
    for spelling in ["ali\u{200b}ce@example.com", "ａｌｉｃｅ@example.com", "\u{feff}Alice@EXAMPLE.com\u{2060}"] {
        app.post(SIGNUP, json!({"email": spelling, "password": PASSWORD})).await.expect(200);
    }
    assert_eq!(accounts_like(&app, "%lice%").await, vec!["alice@example.com"]);
    let n: i64 = sqlx::query_scalar("select count(*) from app_user").fetch_one(&app.db).await.unwrap();
    assert_eq!(n, 1);

    // Login under another spelling reaches it.
    let r = app.post(LOGIN, json!({"email": "ALI\u{200b}CE@ｅｘａｍｐｌｅ.com", "password": PASSWORD})).await;
    r.expect(200);
    assert_eq!(r.data()["user"]["id"], s.user_id.as_str());

    // Forgot-password under another spelling mails the account's own address.
    app.post(FORGOT, json!({"email": "ａｌｉｃｅ\u{200b}@example.com"})).await.expect(200);
    let mails = wait_mails_to(&app, "alice@example.com", 2).await;
    assert!(mails[1].contains("/reset-password?token="), "{}", mails[1]);
    assert!(app.mails().iter().all(|m| !m.contains('\u{200b}')));

    // Resend under another spelling reaches an unverified account.
    app.signup("bob@example.com", PASSWORD).await;
    app.post(RESEND, json!({"email": "ｂｏｂ\u{00ad}@example.com"})).await.expect(200);
    let mails = wait_mails_to(&app, "bob@example.com", 2).await;
    assert!(mails[1].contains("/verify-email?token="), "{}", mails[1]);
    assert_eq!(accounts_like(&app, "%bob%").await, vec!["bob@example.com"]);
}

#[tokio::test]
async fn addresses_the_relay_cannot_take_are_422_naming_email() {
    let app = TestApp::spawn().await;
    // A Cyrillic `е` in the domain, a Cyrillic `а` in the local part, an IDN domain, non-ASCII local part.
    for email in ["alice@\u{0435}xample.com", "\u{0430}lice@example.com", "bob@bücher.de", "алиса@example.com"] {
        for (path, body) in [
            (SIGNUP, json!({"email": email, "password": PASSWORD})),
            (FORGOT, json!({"email": email})),
            (RESEND, json!({"email": email})),
        ] {
            let r = app.post(path, body).await;
            r.expect(422);
            assert_eq!(r.body["details"]["fields"][0]["path"], "email", "{path} {email}: {}", r.text);
        }
    }
    // The same domain in its ASCII form is fine.
    app.post(SIGNUP, json!({"email": "bob@xn--bcher-kva.de", "password": PASSWORD})).await.expect(200);
    let n: i64 = sqlx::query_scalar("select count(*) from app_user").fetch_one(&app.db).await.unwrap();
    assert_eq!(n, 1, "nothing stored for a refused address");
    let asks: i64 = sqlx::query_scalar("select count(*) from mail_request").fetch_one(&app.db).await.unwrap();
    assert_eq!(asks, 0);
}

/// An SMTP server that accepts the session but refuses every recipient, temporarily (451) or for
/// good (550), counting the attempts.
async fn refusing_smtp(permanent: bool) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let rcpts = Arc::new(AtomicUsize::new(0));
    let count = rcpts.clone();
    tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            let count = count.clone();
            tokio::spawn(async move {
                let (rd, mut wr) = conn.into_split();
                let mut lines = BufReader::new(rd).lines();
                let _ = wr.write_all(b"220 refusing ESMTP\r\n").await;
                while let Ok(Some(line)) = lines.next_line().await {
                    let verb = line.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
                    let reply: &[u8] = match verb.as_str() {
                        "EHLO" | "HELO" => b"250 refusing\r\n",
                        "RCPT" => {
                            count.fetch_add(1, Ordering::SeqCst);
                            if permanent {
                                b"550 5.1.1 no such mailbox\r\n"
                            } else {
                                b"451 4.3.0 try again later\r\n"
                            }
                        }
                        "QUIT" => {
                            let _ = wr.write_all(b"221 bye\r\n").await;
                            return;
                        }
                        _ => b"250 ok\r\n",
                    };
                    if wr.write_all(reply).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (port, rcpts)
}

async fn outbox_row(app: &TestApp) -> (i32, bool, String, Option<String>) {
    sqlx::query_as("select attempts, failed_at is not null, body_text, last_error from mail_outbox")
        .fetch_one(&app.db)
        .await
        .unwrap()
}

async fn metric(app: &TestApp, outcome: &str) -> Option<u64> {
    let text = app.client.get(format!("{}/metrics", app.base)).send().await.unwrap().text().await.unwrap();
    let prefix = format!("hoody_mail_total{{outcome=\"{outcome}\"}} ");
    text.lines().find_map(|l| l.strip_prefix(&prefix)).and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn an_undeliverable_mail_is_dead_lettered_after_the_retry_limit_and_loses_its_body() {
    let (port, rcpts) = refusing_smtp(false).await;
    let app = TestApp::spawn_with(|c| {
        c.smtp_url = Some(format!("smtp://127.0.0.1:{port}").into());
        c.mail_retry = Duration::ZERO;
        c.mail_max_attempts = 3;
    })
    .await;
    app.post(SIGNUP, json!({"email": "nowhere@example.com", "password": PASSWORD})).await.expect(200);
    let mut row = outbox_row(&app).await;
    for _ in 0..150 {
        row = outbox_row(&app).await;
        if row.1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (attempts, dead, body, error) = row;
    assert!(dead, "dead-lettered after the limit (attempts {attempts})");
    assert_eq!(attempts, 3);
    assert_eq!(body, "", "the body with its verification link is gone");
    assert!(error.unwrap_or_default().contains("451"));
    // It stays dead: no more attempts.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(outbox_row(&app).await.0, 3);
    assert_eq!(rcpts.load(Ordering::SeqCst), 3);
    assert_eq!(metric(&app, "dead_letter").await, Some(1));
    assert_eq!(metric(&app, "failed_attempt").await, Some(3));
}

#[tokio::test]
async fn a_recipient_refused_for_good_is_dead_lettered_at_once() {
    let (port, rcpts) = refusing_smtp(true).await;
    let app = TestApp::spawn_with(|c| {
        c.smtp_url = Some(format!("smtp://127.0.0.1:{port}").into());
        c.mail_retry = Duration::ZERO;
    })
    .await;
    app.post(SIGNUP, json!({"email": "gone@example.com", "password": PASSWORD})).await.expect(200);
    for _ in 0..100 {
        if outbox_row(&app).await.1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (attempts, dead, body, _) = outbox_row(&app).await;
    assert!(dead && attempts == 1 && body.is_empty(), "{attempts} {dead} {body:?}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(rcpts.load(Ordering::SeqCst), 1);
}

/// The SQL each request ran, from the server's own statement log (sqlx logs every statement at
/// debug under `sqlx::query`; the JSON log names the request's id), in order.
fn statements_by_request(log: &str) -> HashMap<String, Vec<String>> {
    let mut by: HashMap<String, Vec<String>> = HashMap::new();
    for line in log.lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else { continue };
        if v["target"] != "sqlx::query" {
            continue;
        }
        let Some(rid) = v["span"]["request_id"].as_str() else { continue };
        let f = &v["fields"];
        let sql = format!("{} {}", f["summary"].as_str().unwrap_or(""), f["db.statement"].as_str().unwrap_or(""));
        by.entry(rid.to_owned()).or_default().push(sql.trim().to_owned());
    }
    by
}

#[tokio::test]
async fn forgot_and_resend_run_the_same_statements_for_known_and_unknown_addresses() {
    let url = fresh_database_url().await;
    let db = sqlx::PgPool::connect(&url).await.unwrap();
    let hash = hoody_api::auth::password::hash_now(PASSWORD).unwrap();
    for (id, name, email, verified) in [
        (hoody_api::db::new_id(), "known", "known@example.com", true),
        (hoody_api::db::new_id(), "pending", "pending@example.com", false),
    ] {
        sqlx::query("insert into app_user (user_id, username, email, password_hash, email_verified) values ($1, $2, $3, $4, $5)")
            .bind(id)
            .bind(name)
            .bind(email)
            .bind(&hash)
            .bind(verified)
            .execute(&db)
            .await
            .unwrap();
    }
    let served = Served::start(&url, "info,sqlx::query=debug", &[], "/readyz").await;
    let client = reqwest::Client::new();
    let base = served.base.clone();
    let cases = [
        ("forgot-known", FORGOT, "known@example.com"),
        ("forgot-unknown", FORGOT, "ghost@example.com"),
        ("resend-unverified", RESEND, "pending@example.com"),
        ("resend-verified", RESEND, "known@example.com"),
        ("resend-unknown", RESEND, "nobody@example.com"),
    ];
    for (rid, path, email) in cases {
        let r = client.post(format!("{base}{path}")).header("x-request-id", rid).json(&json!({"email": email}));
        assert_eq!(r.send().await.unwrap().status(), 200, "{rid}");
    }
    // The mail work happens after the answers: both known addresses get theirs.
    let mut mails = 0;
    for _ in 0..100 {
        mails = std::fs::read_dir(served.dir.join("outbox")).map(|d| d.count()).unwrap_or(0);
        if mails >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(mails, 2, "a reset mail for known@, a verification mail for pending@");

    let (out, err, _) = served.stop();

    let by = statements_by_request(&out);
    let of = |rid: &str| by.get(rid).cloned().unwrap_or_else(|| panic!("no statements logged for {rid}:\n{err}"));
    assert!(!of("forgot-known").is_empty());
    assert_eq!(of("forgot-known"), of("forgot-unknown"), "forgot-password: known vs unknown address");
    assert_eq!(of("resend-unverified"), of("resend-unknown"), "resend: unverified account vs unknown address");
    assert_eq!(of("resend-verified"), of("resend-unknown"), "resend: verified account vs unknown address");
}
