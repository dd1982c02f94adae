//! Times one query against an existing index directory (the server must be stopped), with the
//! result cache off: `cargo run --release -p search --example query_probe -- DIR WORDS [N]`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use search::{SearchIndex, SearchQuery, Sort};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let index = SearchIndex::open(std::path::Path::new(&args[1])).unwrap();
    index.set_cache_capacity(0);
    let n: usize = args.get(3).map_or(2_000, |v| v.parse().unwrap());
    let q = SearchQuery {
        text: Some(args[2].clone()).filter(|t| !t.is_empty()),
        sort: if args[2].is_empty() { Sort::Newest } else { Sort::Relevance },
        limit: 24,
        facets: true,
        price_buckets: vec![2_500, 5_000, 10_000, 25_000],
        ..Default::default()
    };
    let first = index.search(&q).unwrap();
    let started = Instant::now();
    for _ in 0..n {
        std::hint::black_box(index.search_shared(&q).unwrap());
    }
    let per = started.elapsed().as_secs_f64() * 1e6 / n as f64;
    println!("{} docs, total {}: {per:.1} µs per search", index.num_docs(), first.total);
}
