//! `last_used_at` / `last_used_ip` of auth tokens: noted on each use, written in batches (one
//! row per token per flush, the latest use wins).

use std::{collections::HashMap, net::IpAddr};

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::{Flushed, Queue};

pub struct TokenUse {
    token_id: String,
    ip: IpAddr,
    at: DateTime<Utc>,
}

pub type TokenUseQueue = Queue<TokenUse>;

impl Queue<TokenUse> {
    pub fn note(&self, token_id: &str, ip: IpAddr) {
        self.push(TokenUse { token_id: token_id.to_owned(), ip, at: Utc::now() });
    }
}

static UNAVAILABLE: crate::telemetry::Throttle = crate::telemetry::Throttle::new(std::time::Duration::from_secs(10));

pub async fn flush(db: &PgPool, uses: Vec<TokenUse>) -> Flushed<TokenUse> {
    let mut latest: HashMap<String, (IpAddr, DateTime<Utc>)> = HashMap::new();
    for u in uses {
        latest.insert(u.token_id, (u.ip, u.at));
    }
    let (mut ids, mut ips, mut ats) = (Vec::new(), Vec::new(), Vec::new());
    for (id, (ip, at)) in &latest {
        ids.push(id.clone());
        ips.push(ip.to_string());
        ats.push(*at);
    }
    // Rows another transaction holds (a token being changed or deleted) are skipped, not waited
    // for: last use is best effort, and waiting could deadlock with that transaction.
    let done = sqlx::query(
        "with u as (select * from unnest($1::text[], $2::text[], $3::timestamptz[]) as u(id, ip, at)), \
         free as (select t.token_id from auth_token t join u on t.token_id = u.id \
                  order by t.token_id for update of t skip locked) \
         update auth_token t set last_used_at = u.at, last_used_ip = u.ip from u \
         where t.token_id = u.id and t.token_id in (select token_id from free) \
         and (t.last_used_at is null or t.last_used_at < u.at)",
    )
    .bind(&ids)
    .bind(&ips)
    .bind(&ats)
    .execute(db)
    .await;
    match done {
        Ok(_) => Flushed::Written,
        Err(e) => {
            let rows = latest.into_iter().map(|(token_id, (ip, at))| TokenUse { token_id, ip, at }).collect();
            super::failed(&UNAVAILABLE, "token_use", e, rows)
        }
    }
}
