//! Passwords: the policy, and argon2id (m=19456, t=2, p=1) on a bounded blocking pool so hashing
//! never runs on the async workers.

use std::sync::{
    atomic::{AtomicU64, Ordering},
    Arc,
};

use anyhow::Context;
use argon2::{
    password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
    Algorithm, Argon2, Params, Version,
};
use tokio::sync::Semaphore;

use crate::error::FieldError;

pub const MIN_CHARS: usize = 12;
pub const MAX_BYTES: usize = 1024;
const M_COST: u32 = 19456;
const T_COST: u32 = 2;
const P_COST: u32 = 1;

fn argon2() -> Argon2<'static> {
    // The parameters are constants inside argon2's valid ranges.
    let params = Params::new(M_COST, T_COST, P_COST, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

pub struct Verified {
    pub ok: bool,
    /// The stored hash uses older parameters: store a new one.
    pub needs_rehash: bool,
}

pub struct Hasher {
    permits: Arc<Semaphore>,
    /// Verified against for unknown users so that they take as long as known ones.
    dummy: String,
    /// argon2 verifications run since start (a test and `/metrics` read it).
    verifications: AtomicU64,
}

impl Hasher {
    pub fn new(threads: usize) -> anyhow::Result<Self> {
        let dummy = hash_now("dummy password for unknown users")?;
        Ok(Self { permits: Arc::new(Semaphore::new(threads.max(1))), dummy, verifications: AtomicU64::new(0) })
    }

    pub async fn hash(&self, password: String) -> anyhow::Result<String> {
        self.blocking(move || hash_now(&password)).await?
    }

    /// Verify against `hash`, or against the dummy hash when there is no user (same cost).
    pub async fn verify(&self, password: String, hash: Option<String>) -> anyhow::Result<Verified> {
        let real = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.dummy.clone());
        self.verifications.fetch_add(1, Ordering::Relaxed);
        let v = self.blocking(move || verify_now(&password, &hash)).await?;
        Ok(Verified { ok: real && v.ok, needs_rehash: real && v.needs_rehash })
    }

    /// How many argon2 verifications this process has run.
    pub fn verifications(&self) -> u64 {
        self.verifications.load(Ordering::Relaxed)
    }

    async fn blocking<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> anyhow::Result<T> {
        let _permit = self.permits.clone().acquire_owned().await.context("hasher closed")?;
        tokio::task::spawn_blocking(f).await.context("hashing task failed")
    }
}

pub fn hash_now(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("argon2 hash failed: {e}"))
}

fn verify_now(password: &str, hash: &str) -> Verified {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return Verified { ok: false, needs_rehash: false };
    };
    let ok = Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok();
    let current = parsed.algorithm.as_str() == "argon2id"
        && Params::try_from(&parsed)
            .is_ok_and(|p| p.m_cost() == M_COST && p.t_cost() == T_COST && p.p_cost() == P_COST);
    Verified { ok, needs_rehash: ok && !current }
}

/// Which character classes a password must contain.
#[derive(Clone, Copy)]
pub enum Classes {
    /// Upper, lower, digit and special (signup, reset).
    All,
    /// Any three of the four (profile password change).
    ThreeOfFour,
}

/// The seed's password rules; an empty list means acceptable. No trimming, no case folding.
pub fn policy(path: &str, pw: &str, classes: Classes) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if pw.len() > MAX_BYTES {
        errs.push(FieldError::new(path, format!("Password must be at most {MAX_BYTES} bytes")));
        return errs;
    }
    if pw.chars().count() < MIN_CHARS {
        errs.push(FieldError::new(path, format!("Password must be at least {MIN_CHARS} characters")));
    }
    let upper = pw.chars().any(char::is_uppercase);
    let lower = pw.chars().any(char::is_lowercase);
    let digit = pw.chars().any(|c| c.is_numeric());
    let special = pw.chars().any(|c| !c.is_alphanumeric());
    match classes {
        Classes::All => {
            for (present, what) in [
                (upper, "an uppercase letter"),
                (lower, "a lowercase letter"),
                (digit, "a number"),
                (special, "a special character"),
            ] {
                if !present {
                    errs.push(FieldError::new(path, format!("Password must contain {what}")));
                }
            }
        }
        Classes::ThreeOfFour => {
            if [upper, lower, digit, special].iter().filter(|b| **b).count() < 3 {
                errs.push(FieldError::new(
                    path,
                    "Password must contain three of: uppercase, lowercase, number, special character",
                ));
            }
        }
    }
    errs
}
