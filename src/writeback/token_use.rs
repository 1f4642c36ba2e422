//! `last_used_at` / `last_used_ip` of auth tokens: noted on each use, written in batches (one
//! row per token per flush, the latest use wins), and the addresses each token was used from
//! (`auth_token_ip`), whose new ones its owner is told of.

use std::{
    collections::{BTreeMap, HashMap},
    net::IpAddr,
};

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
    // Each token's latest use, and the latest use from each of its addresses (the new-address
    // signal needs every address; a batch that fails is retried with all of them).
    let mut by_address: BTreeMap<(String, IpAddr), DateTime<Utc>> = BTreeMap::new();
    for u in uses {
        let at = by_address.entry((u.token_id, u.ip)).or_insert(u.at);
        *at = (*at).max(u.at);
    }
    let mut latest: HashMap<&str, (IpAddr, DateTime<Utc>)> = HashMap::new();
    for ((token, ip), at) in &by_address {
        if latest.get(token.as_str()).is_none_or(|(_, seen)| seen <= at) {
            latest.insert(token, (*ip, *at));
        }
    }
    let (mut ids, mut ips, mut ats) = (Vec::new(), Vec::new(), Vec::new());
    for (id, (ip, at)) in &latest {
        ids.push(id.to_string());
        ips.push(ip.to_string());
        ats.push(*at);
    }
    let done = match crate::db::auth_tokens::record_uses(db, &ids, &ips, &ats).await {
        Ok(_) => new_addresses(db, by_address.keys()).await,
        Err(e) => Err(e),
    };
    match done {
        Ok(_) => Flushed::Written,
        Err(e) => {
            let rows = by_address.into_iter().map(|((token_id, ip), at)| TokenUse { token_id, ip, at }).collect();
            super::failed(&UNAVAILABLE, "token_use", e, rows)
        }
    }
}

/// Record the addresses of this batch; a token used from one it had not been used from tells
/// its owner (a security signal).
async fn new_addresses(db: &PgPool, pairs: impl Iterator<Item = &(String, IpAddr)>) -> sqlx::Result<()> {
    let (ids, ips): (Vec<String>, Vec<String>) = pairs.map(|(id, ip)| (id.clone(), ip.to_string())).unzip();
    let mut tx = db.begin().await?;
    for new in crate::db::notifications::token_addresses(&mut tx, &ids, &ips).await? {
        let signal = crate::signals::Signal::NewTokenAddress { alias: &new.alias, ip: &new.ip };
        crate::signals::raise(&mut tx, &new.user_id, signal).await?;
    }
    tx.commit().await
}
