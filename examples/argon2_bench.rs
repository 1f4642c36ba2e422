//! Raw argon2id verifies per second with the server's parameters, on N threads:
//! `cargo run --release --example argon2_bench -- <threads> <seconds> [ours]`. The baseline for
//! login/s: argon2's own `verify_password`, or with `ours` the server's verify (the same
//! computation on reused working memory).

use std::{
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use argon2::{password_hash::PasswordHash, Argon2, PasswordVerifier};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let threads: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);
    let secs: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);
    let ours = args.next().is_some_and(|a| a == "ours");
    let password = "Bench-Password-123";
    let hash = hoody_api::auth::password::hash_now(password)?;
    let done = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (done, count, hash) = (done.clone(), count.clone(), hash.clone());
            std::thread::spawn(move || {
                let parsed = PasswordHash::new(&hash).expect("hash");
                while !done.load(Ordering::Relaxed) {
                    if ours {
                        assert!(hoody_api::auth::password::verify_now(password, &hash).ok);
                    } else {
                        assert!(Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok());
                    }
                    count.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(secs));
    done.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.join();
    }
    let rate = count.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
    println!("{rate:.1}");
    Ok(())
}
