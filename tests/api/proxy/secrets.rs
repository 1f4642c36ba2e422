//! Group secrets stay out of events: after password, token and JWT groups were written (by the
//! per-type routes and in whole documents, in either scope), no `event` row holds the plain
//! password, its hash, the token value or the HS256 secret; the stored document holds the hash
//! and never the plain password.

use reqwest::Method;
use serde_json::json;

use super::{events, fx, hash, stored, write_at, RSA_PEM};

#[tokio::test]
async fn no_event_holds_a_secret() {
    let fx = fx().await;
    let t = &fx.owner.token;
    let (pw, token, hs) = ("plain-password-5f1e", "token-value-9c2d", "hs256-secret-77ab");
    let (pw2, token2, hs2) = ("second-password-03aa", "second-token-b4f0", "second-secret-e19c");
    for doc in [fx.cdoc(), fx.pdoc()] {
        let steps = [
            (Method::PUT, "/groups/pw/password", json!({"username": "alice", "password": pw, "salt": "salt-1"})),
            (Method::PUT, "/groups/tk/token", json!({"header": "X-Api-Key", "value": token})),
            (Method::PUT, "/groups/jw/jwt", json!({"secret": hs, "algorithm": "HS256", "sources": ["cookie:jwt"]})),
            (Method::PUT, "/groups/rs/jwt", json!({"secret": RSA_PEM, "algorithm": "RS256", "sources": ["header:X"]})),
            // Updated in place (group_updated events).
            (Method::PUT, "/groups/tk/token", json!({"param": "key", "value": token})),
            (Method::PUT, "/permissions/pw", json!({"program": "http", "access": true})),
        ];
        for (i, (method, suffix, body)) in steps.into_iter().enumerate() {
            write_at(&fx, method, &doc.at(suffix), t, i as i64, Some(body)).await.expect(200);
        }
        let whole = doc.whole(json!({
            "groups": {
                "pw": {"type": "password", "username": "bob", "password": pw2, "salt": "salt-2"},
                "tk": {"type": "token", "cookie": "c", "value": token2},
                "jw": {"type": "jwt", "secret": hs2, "algorithm": "HS256", "sources": ["header:Authorization"]}
            },
            "permissions": {"pw": {"http": true}}
        }));
        write_at(&fx, Method::PUT, &doc.at(""), t, 6, Some(whole)).await.expect(200);
        write_at(&fx, Method::DELETE, &doc.at("/groups/jw"), t, 7, None).await.expect(200);
        write_at(&fx, Method::DELETE, &doc.at(""), t, 8, None).await.expect(200);

        let got = events(&fx, &doc).await;
        assert_eq!(got.len(), 9, "{got:?}");
        let kinds: Vec<&str> = got.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "proxy.permissions.group_added",
                "proxy.permissions.group_added",
                "proxy.permissions.group_added",
                "proxy.permissions.group_added",
                "proxy.permissions.group_updated",
                "proxy.permissions.updated",
                "proxy.permissions.updated",
                "proxy.permissions.group_removed",
                "proxy.permissions.updated",
            ]
        );
        assert_eq!(got[0].1["group"], "pw");
        assert_eq!(got[4].1["group"], "tk");
        assert_eq!(got[7].1["group"], "jw");
        // Version 7 was stored with the second password's hash, never the plain text.
        let r = fx.get(&doc.at("?version=7"), Some(t)).await;
        r.expect(200);
        assert_eq!(r.data()["groups"]["pw"]["password"], hash("salt-2", pw2));
        let body: Option<serde_json::Value> =
            sqlx::query_scalar("select body from document_version where kind = $1 and owner_key = $2 and version = 7")
                .bind(doc.kind)
                .bind(&doc.key)
                .fetch_one(&fx.db)
                .await
                .unwrap();
        let text = body.unwrap().to_string();
        assert!(text.contains(&hash("salt-2", pw2)) && !text.contains(pw2), "{text}");
        assert_eq!(stored(&fx, &doc).await, (9, None));
    }

    // Nothing in any event row, whatever column, holds a secret.
    let rows: Vec<String> = sqlx::query_scalar("select e::text from event e").fetch_all(&fx.db).await.unwrap();
    assert!(rows.len() >= 18);
    let secrets = [
        pw.to_owned(),
        pw2.to_owned(),
        hash("salt-1", pw),
        hash("salt-2", pw2),
        token.to_owned(),
        token2.to_owned(),
        hs.to_owned(),
        hs2.to_owned(),
        "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A".to_owned(),
    ];
    for row in &rows {
        for s in &secrets {
            assert!(!row.contains(s.as_str()), "an event holds {s}: {row}");
        }
    }
    // No stored version holds a plain password either.
    let bodies: Vec<String> =
        sqlx::query_scalar("select coalesce(body::text, '') from document_version").fetch_all(&fx.db).await.unwrap();
    assert!(bodies.iter().all(|b| !b.contains(pw) && !b.contains(pw2)), "{bodies:?}");
}
