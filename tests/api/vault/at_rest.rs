//! Encryption at rest, against the ground truth: a `pg_dump` of the database holds no value or
//! metadata; a ciphertext moved to another row does not open; `hoody-api vault rekey` seals
//! everything again under a new key.

use hoody_api::{auth::crypto::SecretBox, vault};
use serde_json::json;

use super::{get, put, KEYS};
use crate::harness::TestApp;

/// `pg_dump --data-only` of the app's database.
fn dump(app: &TestApp) -> String {
    let out = std::process::Command::new("/usr/bin/pg_dump")
        .args(["--data-only", "--no-owner", "--dbname", &app.database_url()])
        .output()
        .expect("run pg_dump");
    assert!(out.status.success(), "pg_dump: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn a_database_dump_shows_no_value_or_metadata() {
    let app = TestApp::spawn().await;
    let s = app.verified_user("vault-dump@example.com").await;
    let realm = hoody_api::db::new_id();
    let (value, earlier, meta) = ("PLAINTEXT-VALUE-7d1f", "EARLIER-VERSION-93ab", "METADATA-SECRET-c4e2");
    put(&app, &s.token, "dumped-key", None, json!({"value": earlier, "metadata": {"metakey_5b7e": meta}}))
        .await
        .expect(200);
    put(&app, &s.token, "dumped-key", None, json!({"value": value, "metadata": {"metakey_5b7e": meta}}))
        .await
        .expect(200);
    put(&app, &s.token, "realm-key", Some(&realm), json!({"value": value, "metadata": {"metakey_5b7e": meta}}))
        .await
        .expect(200);

    let text = dump(&app);
    // The rows are in the dump (their names are not secret), the values and metadata are not.
    assert!(text.contains("dumped-key") && text.contains("realm-key"), "the vault rows are not in the dump");
    for secret in [value, earlier, meta, "metakey_5b7e"] {
        assert!(!text.contains(secret), "{secret} is in the dump");
        let hex = hex::encode(secret);
        assert!(!text.contains(&hex), "{secret} is in the dump as hex");
    }
    // And the API still reads them.
    assert_eq!(get(&app, &s.token, "dumped-key", None).await.data()["value"], value);
}

#[tokio::test]
async fn a_ciphertext_moved_to_another_row_does_not_open() {
    let app = TestApp::spawn().await;
    let a = app.verified_user("vault-move-a@example.com").await;
    let b = app.verified_user("vault-move-b@example.com").await;
    for (token, key, value) in [(&a.token, "source", "source-value"), (&a.token, "target", "target-value")] {
        put(&app, token, key, None, json!({"value": value, "metadata": {"m": value}})).await.expect(200);
    }
    put(&app, &b.token, "source", None, json!({"value": "b-value"})).await.expect(200);
    let copy = |from_user: &str, to_user: &str, to_key: &str, columns: &str| {
        let sql = format!(
            "update vault_entry t set {columns} from vault_entry f \
             where f.user_id = $1 and f.key = 'source' and t.user_id = $2 and t.key = $3"
        );
        let (db, from_user, to_user, to_key) =
            (app.db.clone(), from_user.to_owned(), to_user.to_owned(), to_key.to_owned());
        async move {
            let n = sqlx::query(&sql).bind(from_user).bind(to_user).bind(to_key).execute(&db).await.unwrap();
            assert_eq!(n.rows_affected(), 1);
        }
    };

    // Another key's value bytes: the read fails cleanly (409, no 5xx), the source still reads.
    copy(&a.user_id, &a.user_id, "target", "value_enc = f.value_enc").await;
    let r = get(&app, &a.token, "target", None).await;
    r.expect(409);
    assert_eq!(r.code(), "vault_value_unreadable");
    assert!(!r.text.contains("source-value"), "{}", r.text);
    assert_eq!(get(&app, &a.token, "source", None).await.data()["value"], "source-value");
    // The list still names it (its metadata is intact); a write repairs it.
    let list = app.get(KEYS, Some(&a.token)).await;
    list.expect(200);
    assert_eq!(list.data()[1]["metadata"], json!({"m": "target-value"}));
    put(&app, &a.token, "target", None, json!({"value": "new"})).await.expect(200);
    assert_eq!(get(&app, &a.token, "target", None).await.data()["value"], "new");

    // Metadata bytes moved: the read fails, the list leaves that metadata out.
    copy(&a.user_id, &a.user_id, "target", "metadata_enc = f.metadata_enc").await;
    get(&app, &a.token, "target", None).await.expect(409);
    let list = app.get(KEYS, Some(&a.token)).await;
    list.expect(200);
    assert!(list.data()[1].get("metadata").is_none(), "{}", list.text);
    assert_eq!(list.data()[1]["key"], "target");

    // Another account's row (same key name) with the whole sealed row: does not open either.
    copy(&a.user_id, &b.user_id, "source", "value_enc = f.value_enc, metadata_enc = f.metadata_enc, key_id = f.key_id")
        .await;
    let r = get(&app, &b.token, "source", None).await;
    r.expect(409);
    assert!(!r.text.contains("source-value"));
    // Deleting the unreadable keys works.
    app.request(reqwest::Method::DELETE, &super::key_path("source", None), Some(&b.token), None).await.expect(200);
}

/// A stored version: realm, key, version, key id, sealed value, sealed metadata.
type StoredRow = (String, String, i64, String, Vec<u8>, Option<Vec<u8>>);

/// `hoody-api vault rekey` with these secret keys: (success, stdout, stderr).
fn rekey(app: &TestApp, key: &str, previous: Option<&str>, batch: &str) -> (bool, String, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_hoody-api"));
    cmd.args(["vault", "rekey", "--batch-size", batch])
        .env("DATABASE_URL", app.database_url())
        .env("HOODY_DATA_DIR", &app.data_dir)
        .env("HOODY_SECRET_KEY", key)
        .env("RUST_LOG", "warn");
    if let Some(p) = previous {
        cmd.env("HOODY_SECRET_KEY_PREVIOUS", p);
    }
    let out = cmd.output().expect("run hoody-api");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

#[tokio::test]
async fn rekey_seals_everything_again_under_the_new_key() {
    let app = TestApp::spawn().await;
    let s = app.verified_user("vault-rekey@example.com").await;
    let realm = hoody_api::db::new_id();
    // Five keys (one with metadata, one in a realm), and three earlier versions.
    for i in 0..5 {
        let realm = (i == 4).then_some(realm.as_str());
        put(&app, &s.token, &format!("key-{i}"), realm, json!({"value": format!("value-{i}"), "metadata": {"i": i}}))
            .await
            .expect(200);
    }
    for n in 2..=4 {
        put(&app, &s.token, "key-0", None, json!({"value": format!("value-0-v{n}")})).await.expect(200);
    }
    let old_hex = std::fs::read_to_string(app.data_dir.join("secret-key")).unwrap().trim().to_owned();
    let new_hex = hoody_api::db::new_id().repeat(3)[..64].to_owned();
    let dir = std::env::temp_dir();
    let old = SecretBox::load(Some(&old_hex), &dir).unwrap();
    let new = SecretBox::load(Some(&new_hex), &dir).unwrap();
    let key_ids = |table: &'static str| {
        let db = app.db.clone();
        async move {
            sqlx::query_scalar::<_, String>(&format!("select distinct key_id from {table}"))
                .fetch_all(&db)
                .await
                .unwrap()
        }
    };
    assert_eq!(key_ids("vault_entry").await, vec![old.key_id().to_owned()]);

    // Without the old key, nothing opens: it fails, naming the rows (not their values), changes nothing.
    let (ok, _, err) = rekey(&app, &new_hex, None, "2");
    assert!(!ok);
    assert!(err.contains("8 stored versions open with no key held"), "{err}");
    assert!(!err.contains("value-"), "{err}");
    assert_eq!(key_ids("vault_entry").await, vec![old.key_id().to_owned()]);

    // With it: every row, in batches of two.
    let (ok, out, err) = rekey(&app, &new_hex, Some(&old_hex), "2");
    assert!(ok, "{err}");
    assert!(out.contains("re-encrypted 5 values and 3 earlier versions"), "{out}");
    assert_eq!(key_ids("vault_entry").await, vec![new.key_id().to_owned()]);
    assert_eq!(key_ids("vault_version").await, vec![new.key_id().to_owned()]);
    // Idempotent.
    let (ok, out, _) = rekey(&app, &new_hex, Some(&old_hex), "2");
    assert!(ok);
    assert!(out.contains("re-encrypted 0 values and 0 earlier versions"), "{out}");

    // Ground truth: each row opens with the new key alone, to what was written.
    let rows: Vec<StoredRow> = sqlx::query_as(
        "select realm_id, key, version, key_id, value_enc, metadata_enc from vault_entry \
         union all select realm_id, key, version, key_id, value_enc, metadata_enc from vault_version",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(rows.len(), 8);
    let only_new = SecretBox::load(Some(&new_hex), &dir).unwrap();
    for (realm_id, key, version, key_id, value_enc, metadata_enc) in &rows {
        let at = vault::Place { user_id: &s.user_id, realm_id, key, version: *version };
        let plain = vault::open(&only_new, &at, key_id, value_enc, metadata_enc.as_deref()).unwrap();
        let want = match (key.as_str(), version) {
            ("key-0", 1) => "value-0".to_owned(),
            ("key-0", n) => format!("value-0-v{n}"),
            (k, _) => format!("value-{}", &k[4..]),
        };
        assert_eq!(plain.value.as_str(), want);
        assert!(vault::open(&old, &at, key_id, value_enc, None).is_err());
    }

    // The server, still on the old key alone, cannot read them: a clean 409, not a 5xx.
    let r = get(&app, &s.token, "key-1", None).await;
    r.expect(409);
    assert_eq!(r.code(), "vault_value_unreadable");
}
