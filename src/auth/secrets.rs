//! One-time secrets: random, shown once, stored only as SHA-256.

use rand::RngCore;
use sha2::{Digest, Sha256};

/// 32 CSPRNG bytes as 64 lowercase hex characters (256 bits).
pub fn random_token() -> String {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

/// 16 CSPRNG bytes as hex: identifiers that are not secrets by themselves (JWT ids).
pub fn random_id() -> String {
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

pub fn sha256(s: &str) -> Vec<u8> {
    Sha256::digest(s.as_bytes()).to_vec()
}

/// Constant-time equality for secrets presented twice (body and header).
pub fn same_secret(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}
