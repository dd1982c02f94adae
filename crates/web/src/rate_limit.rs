//! A per-client token bucket. In-process, which is right for the embedded
//! mode and for one node; a shared Redis limiter replaces it when several
//! nodes serve the same shop.

use axum::extract::{ConnectInfo, Request};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct RateLimiter {
    /// Bucket size, and refills per minute. 0 disables the limiter.
    per_minute: u32,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Entries are swept once the map holds this many clients.
const SWEEP_AT: usize = 10_000;

impl RateLimiter {
    pub fn per_minute(per_minute: u32) -> Self {
        RateLimiter { per_minute, buckets: Mutex::new(HashMap::new()) }
    }

    /// Takes one token for `client`, or says how long until one is free.
    pub fn check(&self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let capacity = f64::from(self.per_minute);
        let per_sec = capacity / 60.0;
        let Ok(mut buckets) = self.buckets.lock() else {
            return Ok(());
        };
        if buckets.len() >= SWEEP_AT {
            // A bucket that has refilled completely carries no information.
            buckets.retain(|_, b| now.duration_since(b.updated).as_secs_f64() * per_sec < capacity);
        }
        let bucket = buckets.entry(client).or_insert(Bucket { tokens: capacity, updated: now });
        let elapsed = now.duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * per_sec).min(capacity);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / per_sec))
        }
    }
}

/// Where the client's address is read from.
#[derive(Debug, Clone, Default)]
pub struct ClientAddress {
    /// Read `X-Forwarded-For` (only behind a proxy you run).
    pub trust_forwarded_for: bool,
    /// The proxies in front of the shop (`EMPORIUM_TRUSTED_PROXIES`). Empty:
    /// the socket peer is the one proxy.
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

impl ClientAddress {
    fn is_proxy(&self, ip: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|net| net.contains(&ip))
    }

    /// The client's address: the socket peer, or, behind trusted proxies,
    /// the right-most `X-Forwarded-For` hop that is not one of them. Each
    /// proxy appends the address it saw, so the hops a client writes itself
    /// are always to the left of those; the first (left-most) hop is the
    /// client's to forge and is never taken while a later one is known.
    /// Addresses are canonical: an IPv4 peer of a dual-stack socket
    /// (`::ffff:10.0.0.1`) is `10.0.0.1`, so it matches an IPv4 range and
    /// counts as the same client either way.
    pub fn of(&self, request: &Request) -> Option<IpAddr> {
        let peer =
            request.extensions().get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(addr)| addr.ip().to_canonical());
        if !self.trust_forwarded_for || peer.is_some_and(|p| !self.trusted_proxies.is_empty() && !self.is_proxy(p)) {
            return peer;
        }
        let hops: Vec<&str> = request
            .headers()
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        let mut last_parsed = None;
        for hop in hops.iter().rev() {
            // A hop that does not parse ends the walk: whatever is to its
            // left was written by someone we cannot vouch for.
            let Ok(ip) = hop.parse::<IpAddr>().map(|ip| ip.to_canonical()) else { break };
            last_parsed = Some(ip);
            if !self.is_proxy(ip) {
                return Some(ip);
            }
        }
        last_parsed.or(peer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_empties_and_refills() {
        let limiter = RateLimiter::per_minute(3);
        let ip: IpAddr = [127, 0, 0, 1].into();
        let other: IpAddr = [127, 0, 0, 2].into();
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check(ip, t0).is_ok());
        }
        let wait = limiter.check(ip, t0).expect_err("limited");
        assert!(wait <= Duration::from_secs(20) && wait > Duration::from_secs(19));
        assert!(limiter.check(other, t0).is_ok(), "clients are limited separately");
        assert!(limiter.check(ip, t0 + Duration::from_secs(20)).is_ok(), "one token back after 20 s");
        assert!(limiter.check(ip, t0 + Duration::from_secs(20)).is_err());
    }

    fn request(peer: [u8; 4], forwarded: &[&str]) -> Request {
        let mut builder = axum::http::Request::builder().uri("/");
        for value in forwarded {
            builder = builder.header("x-forwarded-for", *value);
        }
        let mut request = builder.body(axum::body::Body::empty()).expect("request");
        request.extensions_mut().insert(ConnectInfo(SocketAddr::from((peer, 40000))));
        request
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn the_right_most_untrusted_hop_is_the_client() {
        let behind = |proxies: &[&str]| ClientAddress {
            trust_forwarded_for: true,
            trusted_proxies: proxies.iter().map(|p| p.parse().expect("cidr")).collect(),
        };
        // One proxy (the peer): what it appended is the client, whatever the client wrote first.
        let one = behind(&[]);
        assert_eq!(one.of(&request([127, 0, 0, 1], &["6.6.6.6, 203.0.113.9"])), Some(ip("203.0.113.9")));
        // Two proxies: skip the configured ones from the right.
        let two = behind(&["10.0.0.0/8", "127.0.0.1/32"]);
        let r = request([127, 0, 0, 1], &["6.6.6.6, 198.51.100.7", "10.1.2.3"]);
        assert_eq!(two.of(&r), Some(ip("198.51.100.7")), "several headers are one list");
        // A peer that is not a trusted proxy is the client; its header is not believed.
        assert_eq!(two.of(&request([192, 0, 2, 1], &["6.6.6.6"])), Some(ip("192.0.2.1")));
        // Garbage stops the walk; no header means the peer.
        assert_eq!(two.of(&request([10, 0, 0, 1], &["junk, 10.0.0.2"])), Some(ip("10.0.0.2")));
        assert_eq!(two.of(&request([10, 0, 0, 1], &[])), Some(ip("10.0.0.1")));
        // Not trusted at all: the peer, always.
        let off = ClientAddress::default();
        assert_eq!(off.of(&request([127, 0, 0, 1], &["203.0.113.9"])), Some(ip("127.0.0.1")));
    }

    #[test]
    fn an_ipv4_mapped_address_is_the_ipv4_address() {
        let behind =
            ClientAddress { trust_forwarded_for: true, trusted_proxies: vec!["10.0.0.0/8".parse().expect("cidr")] };
        let mut r = request([0, 0, 0, 0], &["::ffff:203.0.113.9"]);
        // A dual-stack socket reports an IPv4 proxy as `::ffff:10.0.0.1`.
        let mapped: IpAddr = ip("::ffff:10.0.0.1");
        r.extensions_mut().insert(ConnectInfo(SocketAddr::new(mapped, 40000)));
        assert_eq!(
            behind.of(&r),
            Some(ip("203.0.113.9")),
            "the mapped peer is the trusted proxy, the mapped hop the client"
        );
        assert_eq!(ClientAddress::default().of(&r), Some(ip("10.0.0.1")));
    }

    #[test]
    fn zero_disables() {
        let limiter = RateLimiter::per_minute(0);
        let ip: IpAddr = [127, 0, 0, 1].into();
        let t0 = Instant::now();
        assert!((0..1000).all(|_| limiter.check(ip, t0).is_ok()));
    }
}
