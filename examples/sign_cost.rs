//! How long one response signature takes (Ed25519 over a typical body), on this machine.
//! `cargo run --release --example sign_cost`

use std::time::Instant;

fn main() {
    let signer = hoody_api::auth::signing::Signer::from_seed(&[7; 32]);
    let body = vec![b'x'; 600];
    let n = 20_000;
    let start = Instant::now();
    for _ in 0..n {
        std::hint::black_box(signer.response_header("GET", 200, "/api/v1/users/auth/me", &body));
    }
    println!("{:.1} µs per signed response (600-byte body)", start.elapsed().as_secs_f64() * 1e6 / n as f64);
}
