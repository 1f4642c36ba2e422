//! The free tier's invite gate (`HOODY_FREE_TIER_INVITES=on`): codes made by
//! `hoody-api invites create`, each good for a number of accounts, stored as SHA-256. With the
//! gate on, only accounts that redeemed one get the free tier's default container.

use rand::Rng;
use sqlx::{PgConnection, PgPool};

use crate::{
    auth::secrets,
    db::{self, new_id},
    error::Result,
    state::AppState,
};

/// No look-alikes (0/O, 1/I): 32 symbols, 12 of them per code (60 bits), shown `XXXX-XXXX-XXXX`.
const ALPHABET: &[u8] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
const LEN: usize = 12;

fn new_code() -> String {
    let mut rng = rand::rngs::OsRng;
    let raw: String = (0..LEN).map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char).collect();
    format!("{}-{}-{}", &raw[..4], &raw[4..8], &raw[8..])
}

/// A code as typed (any case, dashes or spaces) → its canonical form; `None` if it cannot be one.
pub fn normalize(input: &str) -> Option<String> {
    let code: String =
        input.chars().filter(|c| *c != '-' && !c.is_whitespace()).map(|c| c.to_ascii_uppercase()).collect();
    (code.len() == LEN && code.bytes().all(|b| ALPHABET.contains(&b))).then_some(code)
}

/// Make `count` codes good for `uses` accounts each; the codes are returned once, never stored.
pub async fn create(pool: &PgPool, count: u32, uses: u32) -> anyhow::Result<Vec<String>> {
    anyhow::ensure!((1..=1000).contains(&count), "--count must be between 1 and 1000");
    anyhow::ensure!((1..=1_000_000).contains(&uses), "--uses must be between 1 and 1000000");
    let mut tx = pool.begin().await?;
    let mut codes = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let code = new_code();
        let canonical = normalize(&code).ok_or_else(|| anyhow::anyhow!("generated an invalid code"))?;
        db::invites::insert(&mut *tx, &new_id(), &secrets::sha256(&canonical), uses as i32).await?;
        codes.push(code);
    }
    tx.commit().await?;
    Ok(codes)
}

/// Spend one use of `code` for `user_id`, inside the caller's transaction; false when the code is
/// unknown or used up. One account redeems a given code once.
pub async fn redeem(tx: &mut PgConnection, code: &str, user_id: &str) -> sqlx::Result<bool> {
    let Some(canonical) = normalize(code) else { return Ok(false) };
    db::invites::redeem(tx, &secrets::sha256(&canonical), user_id).await
}

/// May the free tier be set up for this user? Always with the gate off; with it on, only once
/// they redeemed an invite (`free_tier_unlocked`).
pub async fn may_claim(st: &AppState, user_id: &str) -> Result<bool> {
    if !st.cfg.free_tier_invites {
        return Ok(true);
    }
    Ok(db::users::free_tier_unlocked(&st.db, user_id).await?.unwrap_or(false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_normalise_and_avoid_look_alikes() {
        for _ in 0..100 {
            let c = new_code();
            assert_eq!(c.len(), 14);
            let n = normalize(&c.to_lowercase()).unwrap();
            assert_eq!(n, c.replace('-', ""));
            assert!(!n.contains(['0', 'O', '1', 'I']));
        }
        assert!(normalize("ABCD-EFGH-JKL").is_none());
        assert!(normalize("ABCD-EFGH-JKL0").is_none());
        assert_eq!(normalize(" abcd efgh jklm ").as_deref(), Some("ABCDEFGHJKLM"));
    }
}
