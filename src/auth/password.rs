//! Passwords: the policy, and argon2id (m=19456, t=2, p=1) on a bounded blocking pool so hashing
//! never runs on the async workers.

use std::{
    collections::HashSet,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, LazyLock, Mutex, PoisonError,
    },
};

use anyhow::Context;
use argon2::{
    password_hash::{rand_core::OsRng, Output, PasswordHash, PasswordHasher, SaltString},
    Algorithm, Argon2, Block, Params, Version,
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
        let permit = self.permits.clone().acquire_owned().await.context("hasher closed")?;
        // The permit goes with the work: a caller that hangs up does not free it while the hash
        // still runs.
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            f()
        })
        .await
        .context("hashing task failed")
    }
}

pub fn hash_now(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("argon2 hash failed: {e}"))
}

/// Verify on this thread (the Hasher runs it on the blocking pool; public for the benchmark).
pub fn verify_now(password: &str, hash: &str) -> Verified {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return Verified { ok: false, needs_rehash: false };
    };
    let ok = matches(password.as_bytes(), &parsed);
    let current = parsed.algorithm.as_str() == "argon2id"
        && Params::try_from(&parsed)
            .is_ok_and(|p| p.m_cost() == M_COST && p.t_cost() == T_COST && p.p_cost() == P_COST);
    Verified { ok, needs_rehash: ok && !current }
}

/// What argon2's own `verify_password` does (the stored algorithm, version, parameters and salt;
/// a constant-time comparison of the output), with its working memory reused.
fn matches(password: &[u8], parsed: &PasswordHash) -> bool {
    let (Some(expected), Some(salt)) = (parsed.hash, parsed.salt) else {
        return false;
    };
    let (Ok(algorithm), Ok(version), Ok(params)) = (
        Algorithm::try_from(parsed.algorithm),
        parsed.version.map(Version::try_from).transpose(),
        Params::try_from(parsed),
    ) else {
        return false;
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let argon2 = Argon2::new(algorithm, version.unwrap_or_default(), params);
    let mut out = [0u8; Output::MAX_LENGTH];
    let out = &mut out[..expected.len()];
    with_memory(argon2.params().block_count(), |blocks| {
        argon2.hash_password_into_with_memory(password, salt, out, blocks)
    })
    .is_ok()
        && Output::new(out).is_ok_and(|o| o == expected)
}

/// argon2's working memory (19 MiB for our parameters), kept between verifications instead of
/// allocated, zeroed and returned to the kernel each time. One buffer is out per hash running
/// (the Hasher's permits bound those, each held until its hash ends); a few are kept. Every
/// block is written before it is read, so what a buffer held before does not matter.
static MEMORY: Mutex<Vec<Vec<Block>>> = Mutex::new(Vec::new());
const MEMORY_KEPT: usize = 4;

fn with_memory<T>(blocks: usize, f: impl FnOnce(&mut [Block]) -> T) -> T {
    let mut memory = MEMORY.lock().unwrap_or_else(PoisonError::into_inner).pop().unwrap_or_default();
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    let out = f(&mut memory);
    let mut kept = MEMORY.lock().unwrap_or_else(PoisonError::into_inner);
    // Only our own parameters' size is kept: an odd stored hash's larger memory goes back.
    if kept.len() < MEMORY_KEPT && memory.len() <= M_COST as usize {
        kept.push(memory);
    }
    out
}

/// Which character classes a password must contain.
#[derive(Clone, Copy)]
pub enum Classes {
    /// Upper, lower, digit and special (signup, reset).
    All,
    /// Any three of the four (profile password change).
    ThreeOfFour,
}

/// The 10,000 most common passwords, lowercase (origin and licence in the file's header).
static COMMON: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("common-passwords.txt").lines().filter(|l| !l.is_empty() && !l.starts_with('#')).collect()
});

/// One of the 10,000 most common passwords, compared case-insensitively.
pub fn is_common(pw: &str) -> bool {
    COMMON.contains(pw.to_lowercase().as_str())
}

/// The seed's password rules plus the common-password list; an empty list means acceptable.
/// No trimming, no case folding (except for the list lookup, so that `Qwerty123456` is refused
/// like `qwerty123456`).
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
    // Checked on its own: a list entry can pass the length and class rules (`Qwerty123456`).
    if is_common(pw) {
        errs.push(FieldError::new(path, "Password is one of the most common passwords; choose another"));
    }
    errs
}

#[cfg(test)]
mod tests {
    use argon2::PasswordVerifier;

    use super::*;

    #[test]
    fn the_reused_memory_verify_agrees_with_argon2s_own() {
        let current = hash_now("Right-Password-1").unwrap();
        let old_params = Params::new(1024, 1, 1, None).unwrap();
        let salt = SaltString::generate(&mut OsRng);
        let older = Argon2::new(Algorithm::Argon2i, Version::V0x13, old_params)
            .hash_password(b"Right-Password-1", &salt)
            .unwrap()
            .to_string();
        for hash in [&current, &older] {
            let parsed = PasswordHash::new(hash).unwrap();
            for pw in ["Right-Password-1", "Wrong-Password-1", ""] {
                let theirs = Argon2::default().verify_password(pw.as_bytes(), &parsed).is_ok();
                assert_eq!(verify_now(pw, hash).ok, theirs, "{pw} against {hash}");
                // Twice: the second runs on the kept (dirty) memory.
                assert_eq!(verify_now(pw, hash).ok, theirs, "{pw} against {hash}, memory reused");
            }
        }
        assert!(verify_now("Right-Password-1", &current).ok && !verify_now("Right-Password-1", &current).needs_rehash);
        assert!(verify_now("Right-Password-1", &older).needs_rehash, "older parameters are rehashed");
        // A damaged hash (output cut short, salt removed, not a hash) matches nothing.
        let cut = &current[..current.len() - 4];
        let no_salt = current.rsplitn(3, '$').last().unwrap().to_owned() + "$" + current.rsplit('$').next().unwrap();
        for bad in [cut, no_salt.as_str(), "nonsense", ""] {
            assert!(!verify_now("Right-Password-1", bad).ok, "{bad}");
        }
    }

    fn messages(pw: &str, classes: Classes) -> Vec<String> {
        policy("password", pw, classes).into_iter().map(|e| e.message).collect()
    }

    #[test]
    fn the_list_holds_ten_thousand_lowercase_entries() {
        assert_eq!(COMMON.len(), 10_000);
        assert!(COMMON.iter().all(|p| *p == p.to_lowercase() && !p.trim().is_empty()));
        for p in ["123456", "password", "qwerty123456", "1qaz2wsx3edc"] {
            assert!(is_common(p), "{p}");
        }
    }

    #[test]
    fn a_common_password_is_refused_even_when_it_passes_the_other_rules() {
        // 12 characters, upper + lower + digit: only the list refuses it.
        for pw in ["Qwerty123456", "1QAZ2wsx3edc", "Q1w2E3r4T5y6"] {
            let m = messages(pw, Classes::ThreeOfFour);
            assert_eq!(m.len(), 1, "{pw}: {m:?}");
            assert!(m[0].contains("most common"), "{pw}: {m:?}");
        }
        // Under the all-classes rule it is reported next to the missing class.
        let m = messages("Qwerty123456", Classes::All);
        assert!(m.iter().any(|m| m.contains("special")) && m.iter().any(|m| m.contains("most common")), "{m:?}");
    }

    #[test]
    fn ordinary_strong_passwords_pass() {
        for pw in ["Correct-Horse-Battery-9", "Schemathesis-Pass-1", "Brand-new-passphrase-77"] {
            assert!(policy("password", pw, Classes::All).is_empty(), "{pw}");
        }
    }

    #[test]
    fn over_long_passwords_stop_before_the_lookup() {
        let huge = format!("Aa1!{}", "x".repeat(MAX_BYTES));
        assert_eq!(messages(&huge, Classes::All).len(), 1);
    }
}
