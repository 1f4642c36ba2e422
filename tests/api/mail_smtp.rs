//! Mail over real SMTP: aiosmtpd (from PyPI, installed by scripts/deps) stores what it receives
//! in a Maildir.

use std::{path::Path, process::Stdio, time::Duration};

use serde_json::json;

use crate::harness::{decode_qp, link_token, TestApp, PASSWORD};

struct SmtpServer {
    child: std::process::Child,
    port: u16,
}

impl SmtpServer {
    fn start(maildir: &Path, port: u16) -> Self {
        std::fs::create_dir_all(maildir.parent().unwrap()).unwrap();
        let mut child = std::process::Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}"), "-c", "aiosmtpd.handlers.Mailbox"])
            .arg(maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 -m aiosmtpd (scripts/deps installs it)");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Self { child, port };
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("aiosmtpd did not start on port {port}");
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn wait_maildir(maildir: &Path, n: usize, secs: u64) -> Vec<String> {
    for _ in 0..secs * 10 {
        if let Ok(entries) = std::fs::read_dir(maildir.join("new")) {
            let mails: Vec<String> =
                entries.flatten().map(|e| decode_qp(&std::fs::read_to_string(e.path()).unwrap())).collect();
            if mails.len() >= n {
                return mails;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no mail arrived in {}", maildir.display());
}

#[tokio::test]
async fn verification_mail_travels_over_smtp_and_its_link_works() {
    let dir = std::env::temp_dir().join(format!("hoody-smtp-{}", hoody_api::db::new_id()));
    let maildir = dir.join("maildir");
    let smtp = SmtpServer::start(&maildir, free_port());
    let port = smtp.port;
    let app = TestApp::spawn_with(|c| c.smtp_url = Some(format!("smtp://127.0.0.1:{port}").into())).await;
    app.post("/api/v1/auth/signup", json!({"email": "smtp@example.com", "password": PASSWORD})).await.expect(200);
    let mails = wait_maildir(&maildir, 1, 20).await;
    assert!(mails[0].contains("X-RcptTo: smtp@example.com"), "{}", mails[0]);
    assert!(mails[0].contains("From: Hoody <no-reply@hoody.local>"));
    assert!(mails[0].contains("Subject: Verify your Hoody email address"));
    let token = link_token(&mails[0], "verify-email");
    app.post("/api/v1/auth/verify-email", json!({"token": token})).await.expect(200);
    // Nothing went to the file outbox, and the delivered body was scrubbed from the table.
    assert!(app.mails().is_empty());
    let (sent, body): (bool, String) =
        sqlx::query_as("select sent_at is not null, body_text from mail_outbox").fetch_one(&app.db).await.unwrap();
    assert!(sent && body.is_empty());
    drop(smtp);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn mail_waits_in_the_outbox_while_smtp_is_down_and_is_delivered_later() {
    let dir = std::env::temp_dir().join(format!("hoody-smtp-{}", hoody_api::db::new_id()));
    let maildir = dir.join("maildir");
    let port = free_port();
    let app = TestApp::spawn_with(|c| {
        c.smtp_url = Some(format!("smtp://127.0.0.1:{port}").into());
        c.mail_retry = Duration::from_secs(1);
    })
    .await;
    app.post("/api/v1/auth/signup", json!({"email": "later@example.com", "password": PASSWORD})).await.expect(200);
    // The request did not wait for SMTP; the first delivery attempt fails and is recorded.
    let mut failed = false;
    for _ in 0..100 {
        let (attempts, err): (i32, Option<String>) =
            sqlx::query_as("select attempts, last_error from mail_outbox").fetch_one(&app.db).await.unwrap();
        if attempts >= 1 && err.is_some() {
            failed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(failed, "the first delivery should have failed");
    let smtp = SmtpServer::start(&maildir, port);
    let mails = wait_maildir(&maildir, 1, 30).await;
    assert!(mails[0].contains("verify-email?token="));
    drop(smtp);
    let _ = std::fs::remove_dir_all(dir);
}
