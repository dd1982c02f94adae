//! What checking one access token costs, side by side in one run: the HS256
//! check the shop made before its tokens were EdDSA, the Ed25519 check
//! (`verify_signed`), and a token the verifier has already checked
//! (`verify`, the path of a client sending the same token again), plus
//! signing: `cargo run --release -p identity --example token_timing [N]`.

use identity::keys::{PublicKeys, Signer, SigningKeyRecord};
use identity::{KeySource, Role, TokenVerifier};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Fixed(PublicKeys);

#[async_trait::async_trait]
impl KeySource for Fixed {
    fn describe(&self) -> String {
        "fixed".into()
    }
    async fn fetch(&self) -> anyhow::Result<PublicKeys> {
        Ok(self.0.clone())
    }
}

/// Mean time of `f` over `n` calls, in microseconds.
fn mean_us(n: u32, mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    for _ in 0..n {
        f();
    }
    start.elapsed().as_secs_f64() * 1e6 / f64::from(n)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let n: u32 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let now = time::OffsetDateTime::now_utc();
    let record = SigningKeyRecord::generate(now)?;
    let signer = Signer::current(std::slice::from_ref(&record))?.ok_or_else(|| anyhow::anyhow!("no key"))?;
    let verifier = TokenVerifier::new(Arc::new(Fixed(PublicKeys::of_records(&[record])?)));
    let (user, family) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    let ttl = time::Duration::minutes(15);
    let token = identity::tokens::sign(&signer, user, Role::Customer, family, now, ttl)?;
    verifier.verify(&token).await.map_err(|e| anyhow::anyhow!("{e}"))?;

    // The HS256 token of before, same claims, 64-byte secret.
    let secret = [7u8; 64];
    let claims = verifier.verify_signed(&token).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let hs = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(&secret))?;
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_issuer(&["emporium"]);
    let hs_key = DecodingKey::from_secret(&secret);

    let mut rows = Vec::new();
    for round in 0..3 {
        let hs256 = mean_us(n, || {
            std::hint::black_box(jsonwebtoken::decode::<identity::Claims>(&hs, &hs_key, &validation).ok());
        });
        let mut eddsa_total = Duration::ZERO;
        let mut cached_total = Duration::ZERO;
        for _ in 0..n {
            let t = Instant::now();
            std::hint::black_box(verifier.verify_signed(&token).await.ok());
            eddsa_total += t.elapsed();
            let t = Instant::now();
            std::hint::black_box(verifier.verify(&token).await.ok());
            cached_total += t.elapsed();
        }
        let sign = mean_us(n / 4, || {
            std::hint::black_box(identity::tokens::sign(&signer, user, Role::Customer, family, now, ttl).ok());
        });
        let per = |d: Duration| d.as_secs_f64() * 1e6 / f64::from(n);
        rows.push((round, hs256, per(eddsa_total), per(cached_total), sign));
    }
    println!("| round | HS256 check (before) | EdDSA check | EdDSA, token seen before | EdDSA sign |");
    println!("|---:|---:|---:|---:|---:|");
    for (round, hs256, eddsa, cached, sign) in rows {
        println!("| {} | {hs256:.2} µs | {eddsa:.2} µs | {cached:.2} µs | {sign:.2} µs |", round + 1);
    }
    println!("({n} checks a round, one core, interleaved EdDSA/seen-before)");
    Ok(())
}
