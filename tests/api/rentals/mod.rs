//! Server rental over HTTP on real Postgres (and, for containers on a rented server and the
//! expiry sweeper, the real LXD): the marketplace's filters, renting and extending through the
//! ledger (what the database holds: balances, the rental row, one active rental per server),
//! their refusals, concurrency, and the `/servers` aliases.

mod expiry;
mod market;
mod offers;
mod rent;

use serde_json::{json, Value};

use crate::harness::{Session, TestApp};

pub const MARKET: &str = "/api/v1/servers/available";

/// A listed, rentable server with `extra` columns set (SQL literals by column), and its id.
pub async fn listed_server(
    app: &TestApp,
    name: &str,
    per_day_cents: i64,
    days: &[i32],
    extra: &[(&str, &str)],
) -> String {
    let id = hoody_api::db::new_id();
    sqlx::query(
        "insert into server (server_id, name, region, country, is_free, listed, price_per_day_cents, rental_days, cores, ram_mb) \
         values ($1, $2, 'eu-central', 'DE', false, true, $3, $4, 8, 32768)",
    )
    .bind(&id)
    .bind(name)
    .bind(per_day_cents)
    .bind(days)
    .execute(&app.db)
    .await
    .unwrap();
    for (col, val) in extra {
        sqlx::query(&format!("update server set {col} = {val} where server_id = $1"))
            .bind(&id)
            .execute(&app.db)
            .await
            .unwrap();
    }
    id
}

/// A verified user with `dollars` in their general balance and a default payment method.
pub async fn renter(app: &TestApp, email: &str, dollars: &str) -> Session {
    let u = app.verified_user(email).await;
    if dollars != "0" {
        crate::wallet::fund(app, &u.user_id, dollars).await;
    }
    app.post_auth("/api/v1/wallet/payment-methods/", &u.token, Some(json!({"name": "Invoice account"})))
        .await
        .expect(201);
    u
}

pub async fn rent(app: &TestApp, token: &str, server_id: &str, body: Value) -> crate::harness::Resp {
    app.post_auth(&format!("/api/v1/servers/{server_id}/rent"), token, Some(body)).await
}

pub async fn general_cents(app: &TestApp, user_id: &str) -> i64 {
    crate::wallet::kept(&app.db, user_id).await.0
}
