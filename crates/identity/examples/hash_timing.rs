//! Prints the time one argon2id hash takes with the production parameters:
//! `cargo run --release -p identity --example hash_timing [N]`.

use identity::{HashParams, PasswordHasher};
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let n: u32 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(20);
    let params = HashParams::default();
    let hasher = PasswordHasher::new(params)?;
    let hash = hasher.hash_blocking("correct horse battery staple")?;
    let start = Instant::now();
    for _ in 0..n {
        std::hint::black_box(hasher.verify_blocking("correct horse battery staple", Some(&hash)));
    }
    let per_hash = start.elapsed() / n;
    println!(
        "argon2id m={} KiB t={} p={}: {:.1} ms per hash (mean of {n}), {:.0} hashes/s per core",
        params.memory_kib,
        params.iterations,
        params.parallelism,
        per_hash.as_secs_f64() * 1e3,
        1.0 / per_hash.as_secs_f64()
    );
    Ok(())
}
