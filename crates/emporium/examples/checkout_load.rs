//! Closed-loop checkout load generator for `bench/checkout.py` (compiled,
//! so that the client takes a small share of the CPU it shares with the
//! server and the database).
//!
//! ```text
//! checkout_load PORT SKUS BUYERS WARMUP_SECS DURATION_SECS [SERVER_PID]
//! ```
//!
//! `SKUS` is a comma-separated list. Each of `BUYERS` guests, one keep-alive
//! connection each, repeats: add a random SKU to a new cart, check out with
//! an `Idempotency-Key`, pay with the test card. Requests ending inside the
//! measured window (after the warm-up) count. Prints one JSON object: the
//! latencies of each step in milliseconds, checkouts completed in the window
//! and in all, failures by key with an example answer, and the CPU seconds
//! used in the window by this process, the server (`SERVER_PID`) and the
//! whole machine.

// A benchmark tool: a failed unwrap on bad arguments is a clear enough answer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const CARD: &str = "4242424242424242";

#[derive(Default)]
struct Tally {
    samples: BTreeMap<&'static str, Vec<f64>>,
    done: u64,
    paid_total: u64,
    errors: BTreeMap<String, u64>,
    examples: BTreeMap<String, String>,
}

impl Tally {
    fn fail(&mut self, key: String, detail: String) {
        *self.errors.entry(key.clone()).or_default() += 1;
        self.examples.entry(key).or_insert(detail);
    }
}

/// What a step ended with: the status and JSON answer, or a transport error.
enum Answer {
    Http(u16, Value, reqwest::header::HeaderMap),
    Failed(String),
}

struct Buyer {
    client: reqwest::Client,
    base: String,
    start: Instant,
    end: Instant,
}

impl Buyer {
    async fn step(
        &self,
        tally: &mut Tally,
        name: &'static str,
        path: &str,
        body: &Value,
        headers: &[(&str, &str)],
    ) -> Answer {
        let t0 = Instant::now();
        let mut req = self.client.post(format!("{}{path}", self.base)).json(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let answer = match req.send().await {
            Ok(res) => {
                let status = res.status().as_u16();
                let headers = res.headers().clone();
                match res.bytes().await {
                    Ok(bytes) => Answer::Http(status, serde_json::from_slice(&bytes).unwrap_or(Value::Null), headers),
                    Err(e) => Answer::Failed(format!("{name} {e}")),
                }
            }
            Err(e) => Answer::Failed(format!("{name} {e}")),
        };
        let t1 = Instant::now();
        if t1 >= self.start && t1 <= self.end {
            tally.samples.entry(name).or_default().push((t1 - t0).as_secs_f64() * 1000.0);
        }
        answer
    }

    /// One complete checkout; `Ok(())` when paid.
    async fn buy(&self, tally: &mut Tally, sku: &str, email: &str) -> Result<(), (String, String)> {
        let code = |v: &Value| v["error"]["code"].as_str().unwrap_or("").to_owned();
        let short = |v: &Value| v.to_string().chars().take(300).collect::<String>();
        let token = match self.step(tally, "add", "/api/v1/cart/items", &json!({"sku": sku, "quantity": 1}), &[]).await
        {
            Answer::Http(status @ (200 | 201), cart, headers) => cart["cart_token"]
                .as_str()
                .map(str::to_owned)
                .or_else(|| headers.get("x-cart-token").and_then(|v| v.to_str().ok()).map(str::to_owned))
                .ok_or_else(|| (format!("add {status} no cart token"), short(&cart)))?,
            Answer::Http(status, cart, _) => return Err((format!("add {status} {}", code(&cart)), short(&cart))),
            Answer::Failed(e) => return Err(("add transport".into(), e)),
        };
        let request = json!({
            "email": email,
            "shipping_address": {"full_name": "Bench Buyer", "line1": "1 Main St", "city": "Springfield",
                                 "postal_code": "12345", "country": "US"},
            "payment_provider": "test",
        });
        let key = uuid::Uuid::now_v7().to_string();
        let headers = [("x-cart-token", token.as_str()), ("idempotency-key", key.as_str())];
        let payment = match self.step(tally, "checkout", "/api/v1/checkout", &request, &headers).await {
            Answer::Http(200 | 201, placed, _) if placed["payment"]["id"].is_string() => {
                placed["payment"]["id"].as_str().unwrap_or_default().to_owned()
            }
            Answer::Http(status, placed, _) => {
                return Err((format!("checkout {status} {}", code(&placed)), short(&placed)));
            }
            Answer::Failed(e) => return Err(("checkout transport".into(), e)),
        };
        let path = format!("/api/v1/payments/{payment}/confirm");
        match self.step(tally, "pay", &path, &json!({"card_number": CARD}), &[("x-cart-token", &token)]).await {
            Answer::Http(200, paid, _) if paid["status"] == "succeeded" => Ok(()),
            Answer::Http(status, paid, _) => Err((format!("pay {status} {}", code(&paid)), short(&paid))),
            Answer::Failed(e) => Err(("pay transport".into(), e)),
        }
    }
}

/// utime + stime of a process, in seconds (`self` for this one).
fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> =
        stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0 // USER_HZ is 100 on Linux
}

/// CPU seconds the whole machine spent not idle (all cores together).
fn machine_busy_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let values: Vec<f64> =
        stat.lines().next().unwrap_or("").split_whitespace().skip(1).filter_map(|v| v.parse().ok()).collect();
    let idle = values.get(3).copied().unwrap_or(0.0) + values.get(4).copied().unwrap_or(0.0);
    (values.iter().take(8).sum::<f64>() - idle) / 100.0
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 6 {
        eprintln!("usage: checkout_load PORT SKUS BUYERS WARMUP_SECS DURATION_SECS [SERVER_PID]");
        std::process::exit(2);
    }
    let port: u16 = args[1].parse().expect("PORT");
    let skus: Vec<String> = args[2].split(',').map(str::to_owned).collect();
    let buyers: usize = args[3].parse().expect("BUYERS");
    let warmup = Duration::from_secs_f64(args[4].parse().expect("WARMUP_SECS"));
    let duration = Duration::from_secs_f64(args[5].parse().expect("DURATION_SECS"));
    let server_pid = args.get(6).cloned();
    media::install_tls_provider(); // reqwest is built without a default one (plain HTTP here)
    // One thread: the client should cost as little CPU as it can.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let out = runtime.block_on(async move {
        let begin = Instant::now();
        let (start, end) = (begin + warmup, begin + warmup + duration);
        let mut tasks = Vec::new();
        for n in 0..buyers {
            let skus = skus.clone();
            let buyer = Buyer {
                client: reqwest::Client::builder()
                    .pool_max_idle_per_host(1)
                    .timeout(Duration::from_secs(10))
                    .build()
                    .expect("client"),
                base: format!("http://127.0.0.1:{port}"),
                start,
                end,
            };
            tasks.push(tokio::spawn(async move {
                let mut tally = Tally::default();
                let mut i = 0u64;
                while Instant::now() < end {
                    i += 1;
                    let sku = &skus[(n + i as usize * 7) % skus.len()];
                    match buyer.buy(&mut tally, sku, &format!("buyer{n}-{i}@example.com")).await {
                        Ok(()) => {
                            tally.paid_total += 1;
                            let now = Instant::now();
                            if now >= start && now <= end {
                                tally.done += 1;
                            }
                        }
                        Err((key, detail)) => {
                            let transport = key.ends_with("transport");
                            tally.fail(key, detail);
                            if transport {
                                tokio::time::sleep(Duration::from_millis(50)).await; // do not spin
                            }
                        }
                    }
                }
                tally
            }));
        }
        let me = std::process::id().to_string();
        tokio::time::sleep_until(start.into()).await;
        let (own0, server0, busy0) =
            (cpu_seconds(&me), server_pid.as_deref().map(cpu_seconds).unwrap_or(0.0), machine_busy_seconds());
        tokio::time::sleep_until(end.into()).await;
        let (own1, server1, busy1) =
            (cpu_seconds(&me), server_pid.as_deref().map(cpu_seconds).unwrap_or(0.0), machine_busy_seconds());
        let mut all = Tally::default();
        for task in tasks {
            let t = task.await.expect("buyer task");
            for (k, v) in t.samples {
                all.samples.entry(k).or_default().extend(v);
            }
            all.done += t.done;
            all.paid_total += t.paid_total;
            for (k, v) in t.errors {
                *all.errors.entry(k).or_default() += v;
            }
            for (k, v) in t.examples {
                all.examples.entry(k).or_insert(v);
            }
        }
        json!({
            "samples": all.samples,
            "done": all.done,
            "paid_total": all.paid_total,
            "errors": all.errors,
            "examples": all.examples,
            "cpu": {"client": own1 - own0, "server": server1 - server0, "busy": busy1 - busy0},
        })
    });
    println!("{out}");
}
