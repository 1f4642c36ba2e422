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
    let done = crate::db::auth_tokens::record_uses(db, &ids, &ips, &ats).await;
    match done {
        Ok(_) => Flushed::Written,
        Err(e) => {
            let rows = latest.into_iter().map(|(token_id, (ip, at))| TokenUse { token_id, ip, at }).collect();
            super::failed(&UNAVAILABLE, "token_use", e, rows)
        }
    }
}
