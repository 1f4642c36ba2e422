//! Invoices: one per transaction (idempotent, also under concurrency), numbers without gaps,
//! the list's filter, and the PDF as poppler reads it.

use futures::future::join_all;
use serde_json::json;

use super::fund;
use crate::harness::TestApp;

const INVOICES: &str = "/api/v1/wallet/invoices/";

fn pdftotext(pdf: &[u8]) -> String {
    let dir = std::env::temp_dir().join(format!("hoody-invoice-{}", hoody_api::db::new_id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("invoice.pdf");
    std::fs::write(&file, pdf).unwrap();
    let out = std::process::Command::new("pdftotext").arg(&file).arg("-").output().expect("pdftotext (poppler-utils)");
    assert!(out.status.success(), "pdftotext: {}", String::from_utf8_lossy(&out.stderr));
    // And it renders: one page as an image.
    let png = std::process::Command::new("pdftoppm")
        .args(["-png", "-r", "30", "-singlefile"])
        .arg(&file)
        .arg(dir.join("page"))
        .output()
        .unwrap();
    assert!(
        png.status.success() && dir.join("page.png").exists(),
        "pdftoppm: {}",
        String::from_utf8_lossy(&png.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invoice_per_transaction_and_its_pdf() {
    let app = TestApp::spawn().await;
    let u = app.verified_user("invoice@example.com").await;
    let empty = app.get(INVOICES, Some(&u.token)).await;
    empty.expect(200);
    assert_eq!(
        empty.data(),
        &json!({"invoices": [], "pagination": {"total": 0, "page": 1, "limit": 20, "totalPages": 0}})
    );
    let credit = fund(&app, &u.user_id, "40").await;
    let t = app.post_auth("/api/v1/wallet/transfers", &u.token, Some(json!({"amount": "12.34"}))).await;
    t.expect(200);
    let transfer = t.data()["transaction_id"].as_str().unwrap().to_owned();
    // Made once: 201, then the same invoice (200); ten at once for the credit give one.
    let g = app.post_auth(&format!("/api/v1/wallet/invoices/generate/{transfer}"), &u.token, None).await;
    g.expect(201);
    let number = g.data()["invoice_number"].as_str().unwrap().to_owned();
    let year = chrono::Utc::now().format("%Y").to_string();
    assert_eq!(number, format!("INV-{year}-000001"));
    let again = app.post_auth(&format!("/api/v1/wallet/invoices/generate/{transfer}"), &u.token, None).await;
    again.expect(200);
    assert_eq!(again.data(), g.data());
    let many = join_all((0..10).map(|_| {
        let app = &app;
        let (token, path) = (u.token.clone(), format!("/api/v1/wallet/invoices/generate/{credit}"));
        async move {
            let r = app.post_auth(&path, &token, None).await;
            (r.status.as_u16(), r.data()["invoice_number"].as_str().unwrap_or_default().to_owned())
        }
    }))
    .await;
    assert_eq!(many.iter().filter(|m| m.0 == 201).count(), 1, "{many:?}");
    assert!(many.iter().all(|m| m.1 == format!("INV-{year}-000002")), "{many:?}");
    // No gaps: the numbers in the database are 1..=2.
    let numbers: Vec<String> = sqlx::query_scalar("select invoice_number from invoice order by invoice_number")
        .fetch_all(&app.db)
        .await
        .unwrap();
    assert_eq!(numbers, vec![format!("INV-{year}-000001"), format!("INV-{year}-000002")]);
    // Read one, with details.
    let id = g.data()["invoice_id"].as_str().unwrap().to_owned();
    let one = app.get(&format!("/api/v1/wallet/invoices/{id}"), Some(&u.token)).await;
    one.expect(200);
    let d = one.data();
    assert_eq!(
        (&d["amount"], &d["status"], &d["transaction"]["transaction_type"]),
        (&json!(12.34), &json!("paid"), &json!("transfer"))
    );
    assert_eq!(d["billing_details"]["fee_amount"], json!(0.61));
    assert_eq!(d["items"][0]["description"], "Transfer to AI credits");
    // The list: filters, sorting, bad filters.
    let by = |f: &str| format!("{INVOICES}?filter={}", urlencoding(f));
    let l = app.get(&by(r#"{"amount":{"gte":20}}"#), Some(&u.token)).await;
    l.expect(200);
    assert_eq!(l.data()["invoices"].as_array().unwrap().len(), 1);
    assert_eq!(l.data()["invoices"][0]["amount"], json!(40.0));
    let l = app
        .get(
            &by(&format!(r#"{{"invoice_number":{{"in":["INV-{year}-000001","nope"]}},"status":"paid"}}"#)),
            Some(&u.token),
        )
        .await;
    assert_eq!(l.data()["invoices"].as_array().unwrap().len(), 1);
    let l = app.get(&format!("{INVOICES}?sort_by=amount&sort_order=asc"), Some(&u.token)).await;
    assert_eq!(l.data()["invoices"][0]["amount"], json!(12.34));
    let l = app.get(&format!("{INVOICES}?sort_by=whatever"), Some(&u.token)).await;
    l.expect(200);
    for bad in [
        r#"{"bogus":1}"#,
        r#"{"amount":{"between":1}}"#,
        r#"[1]"#,
        r#"{"amount":"ten"}"#,
        r#"{"status":{"in":[]}}"#,
        r#"{"amount":{"like":"1%"}}"#,
        r#"{"status":{"like":"paid\\"}}"#,
        "not json",
    ] {
        let r = app.get(&by(bad), Some(&u.token)).await;
        r.expect(400);
        assert_eq!(r.code(), "invalid_filter", "{bad}");
    }
    // The PDF, as poppler reads it.
    let pdf = app
        .client
        .get(format!("{}/api/v1/wallet/invoices/{id}/pdf", app.base))
        .bearer_auth(&u.token)
        .send()
        .await
        .unwrap();
    assert_eq!(pdf.status(), 200);
    assert_eq!(pdf.headers()["content-type"], "application/pdf");
    assert!(pdf.headers()["content-disposition"].to_str().unwrap().contains(&format!("{number}.pdf")));
    let text = pdftotext(&pdf.bytes().await.unwrap());
    assert!(text.contains(&number) && text.contains("12.34") && text.contains("invoice@example.com"), "{text}");
    // Another user: 404 everywhere; token leaves.
    let v = app.verified_user("invoice-other@example.com").await;
    app.get(&format!("/api/v1/wallet/invoices/{id}"), Some(&v.token)).await.expect(404);
    app.get(&format!("/api/v1/wallet/invoices/{id}/pdf"), Some(&v.token)).await.expect(404);
    app.post_auth(&format!("/api/v1/wallet/invoices/generate/{transfer}"), &v.token, None).await.expect(404);
    let (read, _) = app.new_token(&u.token, json!({"permissions": {"financial": {"billing": {"read": true}}}})).await;
    app.get(&format!("/api/v1/wallet/invoices/{id}"), Some(&read)).await.expect(200);
    app.get(&format!("/api/v1/wallet/invoices/{id}/pdf"), Some(&read)).await.expect(403);
    let (dl, _) =
        app.new_token(&u.token, json!({"permissions": {"financial": {"billing": {"download_invoices": true}}}})).await;
    let pdf =
        app.client.get(format!("{}/api/v1/wallet/invoices/{id}/pdf", app.base)).bearer_auth(&dl).send().await.unwrap();
    assert_eq!(pdf.status(), 200);
}

fn urlencoding(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}
