//! Search benchmark: 100,000 synthetic products, 1,000 queries of each kind (uncached, then cached),
//! then single-product `apply` latency and reopen time.
//!
//! `cargo run --release -p search --example search_bench [-- --docs N --queries N --dir PATH --only NAME]`
//!
//! By default the index lives in a temporary directory (like production: mmap'ed files).
//! `BENCH_MORE=1` adds breakdown runs (match-all without facets or prices, text without facets).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use search::{SearchDoc, SearchIndex, SearchQuery, Sort};
use uuid::Uuid;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    /// Skewed pick: small indices are much more frequent (roughly Zipf-like).
    fn skewed(&mut self, n: usize) -> usize {
        let a = self.below(n);
        let b = self.below(n);
        a.min(b).min(self.below(n))
    }
}

fn vocabulary(rng: &mut Rng, n: usize) -> Vec<String> {
    const ONSETS: &[&str] =
        &["b", "c", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "st", "tr", "pl", "br"];
    const VOWELS: &[&str] = &["a", "e", "i", "o", "u", "ai", "ou", "ee"];
    let mut words = std::collections::BTreeSet::new();
    while words.len() < n {
        let syllables = 2 + rng.below(3);
        let w: String = (0..syllables)
            .map(|_| format!("{}{}", ONSETS[rng.below(ONSETS.len())], VOWELS[rng.below(VOWELS.len())]))
            .collect();
        words.insert(w);
    }
    let mut words: Vec<String> = words.into_iter().collect();
    // Shuffle so that frequency (skewed by index) is unrelated to alphabetical order.
    for i in (1..words.len()).rev() {
        let j = rng.below(i + 1);
        words.swap(i, j);
    }
    words
}

/// 3 roots × 3 children × 2 grandchildren = 30 categories; returns the paths of children and grandchildren.
fn category_paths() -> Vec<Vec<Uuid>> {
    let mut paths = Vec::new();
    let mut next = 1u128;
    let mut id = || {
        next += 1;
        Uuid::from_u128(0xC000_0000 + next)
    };
    let mut total = 0;
    for _ in 0..3 {
        let root = id();
        total += 1;
        for _ in 0..3 {
            let child = id();
            total += 1;
            paths.push(vec![root, child]);
            for _ in 0..2 {
                paths.push(vec![root, child, id()]);
                total += 1;
            }
        }
    }
    assert_eq!(total, 30);
    paths
}

fn make_docs(n: usize, vocab: &[String], seed: u64) -> impl Iterator<Item = SearchDoc> + '_ {
    let mut rng = Rng(seed);
    let paths = category_paths();
    let sizes = ["XS", "S", "M", "L", "XL", "XXL"];
    let colours = ["Red", "Blue", "Green", "Black", "White", "Grey", "Navy", "Pink"];
    let sellers: Vec<Uuid> = (0..200).map(|i| Uuid::from_u128(0x5E11_0000 + i)).collect();
    (0..n).map(move |i| {
        let mut words =
            |k: usize| (0..k).map(|_| vocab[rng.skewed(vocab.len())].as_str()).collect::<Vec<_>>().join(" ");
        let title = words(3 + i % 4);
        let description = words(20 + i % 20);
        let tags = (0..2 + i % 3).map(|_| vocab[rng.skewed(vocab.len())].clone()).collect();
        let path = paths[rng.below(paths.len())].clone();
        let mut options = Vec::new();
        for _ in 0..1 + rng.below(3) {
            options.push(("size".to_string(), sizes[rng.below(sizes.len())].to_string()));
        }
        for _ in 0..1 + rng.below(2) {
            options.push(("colour".to_string(), colours[rng.below(colours.len())].to_string()));
        }
        let base = 500 + rng.below(300) as i64 * 100;
        let prices = (0..1 + rng.below(3)).map(|k| base + k as i64 * 500).collect();
        SearchDoc {
            id: Uuid::from_u128(i as u128 + 1),
            title,
            description,
            tags,
            seller_id: sellers[rng.below(sellers.len())],
            category_path: path,
            options,
            prices,
            in_stock: rng.below(10) != 0,
            rating_avg: rng.below(51) as f64 / 10.0,
            rating_count: rng.below(500) as u32,
            created_at: 1_600_000_000 + rng.below(100_000_000) as i64,
            summary_json: format!(
                "{{\"id\":{i},\"title\":\"product {i}\",\"price\":{base},\"image\":\"/media/{i}.webp\"}}"
            ),
        }
    })
}

/// One edit (substitution, deletion or transposition) in the middle of the word.
fn typo(rng: &mut Rng, w: &str) -> String {
    let mut c: Vec<char> = w.chars().collect();
    let i = 1 + rng.below(c.len() - 2);
    match rng.below(3) {
        0 => c[i] = if c[i] == 'x' { 'y' } else { 'x' },
        1 => {
            c.remove(i);
        }
        _ => c.swap(i, i + 1),
    }
    c.into_iter().collect()
}

fn report(name: &str, mut times: Vec<Duration>, totals: u64) {
    times.sort_unstable();
    let n = times.len();
    let mean = times.iter().sum::<Duration>() / n as u32;
    let pct = |p: f64| times[((n as f64 * p).ceil() as usize).clamp(1, n) - 1];
    println!(
        "{name:<34} n={n:<5} mean={:>8.3} ms  p50={:>8.3} ms  p99={:>8.3} ms  max={:>8.3} ms  (avg total {})",
        mean.as_secs_f64() * 1e3,
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        times[n - 1].as_secs_f64() * 1e3,
        totals / n as u64
    );
}

fn rss() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .filter(|l| l.starts_with("VmRSS") || l.starts_with("VmHWM"))
        .collect::<Vec<_>>()
        .join(", ")
        .replace('\t', " ")
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let docs: usize = arg("--docs").map_or(100_000, |v| v.parse().unwrap());
    let queries: usize = arg("--queries").map_or(1_000, |v| v.parse().unwrap());
    let only = arg("--only");
    let tmp = tempfile::tempdir().unwrap();
    let dir = arg("--dir").map_or_else(|| tmp.path().to_path_buf(), std::path::PathBuf::from);

    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let vocab = vocabulary(&mut rng, 2_000);
    let index = SearchIndex::open(&dir).unwrap();
    let started = Instant::now();
    let mut last = 0;
    index.rebuild(make_docs(docs, &vocab, 7), "bench", &mut |n| last = n).unwrap();
    println!("rebuild: {last} docs in {:.2} s ({})", started.elapsed().as_secs_f64(), rss());
    assert_eq!(index.num_docs(), docs as u64);

    let buckets = vec![2_500, 5_000, 10_000, 25_000];
    let facet_query = |text: Option<String>, sort| SearchQuery {
        text,
        sort,
        limit: 24,
        facets: true,
        price_buckets: buckets.clone(),
        ..Default::default()
    };
    let long_words: Vec<&String> = vocab.iter().filter(|w| w.len() >= 5).collect();

    for cached in [false, true] {
        index.set_cache_capacity(if cached { 1_024 } else { 0 });
        let suffix = if cached { " (cached)" } else { "" };
        let run = |name: &str, make: &mut dyn FnMut(usize) -> SearchQuery| {
            if only.as_deref().is_some_and(|o| !name.contains(o)) {
                return;
            }
            let (mut times, mut totals) = (Vec::with_capacity(queries), 0);
            for i in 0..queries {
                let q = make(i);
                let t = Instant::now();
                let r = index.search_shared(&q).unwrap();
                times.push(t.elapsed());
                totals += r.total;
            }
            report(&format!("{name}{suffix}"), times, totals);
        };
        run("match-all, facets, newest", &mut |_| facet_query(None, Sort::Newest));
        if std::env::var_os("BENCH_MORE").is_some() {
            run("match-all, no facets, newest", &mut |_| SearchQuery {
                facets: false,
                ..facet_query(None, Sort::Newest)
            });
            run("match-all, facets w/o prices, newest", &mut |_| SearchQuery {
                price_buckets: vec![],
                ..facet_query(None, Sort::Newest)
            });
            run("match-all, facets, limit 0", &mut |_| SearchQuery { limit: 0, ..facet_query(None, Sort::Newest) });
        }
        let mut qrng = Rng(11);
        run("one word, facets, relevance", &mut |_| {
            facet_query(Some(vocab[qrng.skewed(vocab.len())].clone()), Sort::Relevance)
        });
        if std::env::var_os("BENCH_MORE").is_some() {
            let mut qrng = Rng(11);
            run("one word, no facets, limit 0", &mut |_| SearchQuery {
                facets: false,
                limit: 0,
                ..facet_query(Some(vocab[qrng.skewed(vocab.len())].clone()), Sort::Relevance)
            });
            let mut qrng = Rng(11);
            run("one word, no facets", &mut |_| SearchQuery {
                facets: false,
                ..facet_query(Some(vocab[qrng.skewed(vocab.len())].clone()), Sort::Relevance)
            });
        }
        let mut qrng = Rng(13);
        run("two-word typo, facets, relevance", &mut |_| {
            let a = long_words[qrng.skewed(long_words.len())];
            let b = long_words[qrng.skewed(long_words.len())];
            let text = format!("{} {}", typo(&mut qrng, a), typo(&mut qrng, b));
            facet_query(Some(text), Sort::Relevance)
        });
        let paths = category_paths();
        let mut qrng = Rng(17);
        run("category+size+price filter, facets", &mut |_| SearchQuery {
            category: Some(paths[qrng.below(paths.len())][0]),
            options: vec![("size".into(), vec!["M".into(), "L".into()])],
            min_price: Some(2_000),
            max_price: Some(15_000),
            sort: Sort::PriceAsc,
            ..facet_query(None, Sort::PriceAsc)
        });
    }
    println!("after queries: {}", rss());

    // Incremental updates: one product upserted per commit, visible to the next search.
    let mut updates = make_docs(20, &vocab, 99).collect::<Vec<_>>();
    let started = Instant::now();
    for (i, doc) in updates.drain(..).enumerate() {
        let mut doc = doc;
        doc.id = Uuid::from_u128(1 + i as u128 * 997);
        index.apply(vec![doc], &[], Some("bench+1")).unwrap();
    }
    println!("apply: 20 single-product commits, mean {:.1} ms each", started.elapsed().as_secs_f64() * 1e3 / 20.0);

    // Reopen from disk (what a server restart costs).
    drop(index);
    let started = Instant::now();
    let index = SearchIndex::open(&dir).unwrap();
    println!("reopen: {} docs in {:.0} ms ({})", index.num_docs(), started.elapsed().as_secs_f64() * 1e3, rss());
}
