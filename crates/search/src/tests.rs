//! Behaviour tests of the whole index.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;

use uuid::Uuid;

use crate::{SearchDoc, SearchIndex, SearchQuery, SearchResults, Sort};

fn uid(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

fn doc(n: u128, title: &str) -> SearchDoc {
    SearchDoc {
        id: uid(n),
        title: title.to_string(),
        description: String::new(),
        tags: vec![],
        seller_id: uid(1_000),
        category_path: vec![],
        options: vec![],
        prices: vec![1_000],
        in_stock: true,
        rating_avg: 0.0,
        rating_count: 0,
        created_at: 1_700_000_000 + n as i64,
        summary_json: format!("{{\"n\":{n}}}"),
    }
}

fn index_with(docs: Vec<SearchDoc>) -> SearchIndex {
    let index = SearchIndex::open_in_ram().unwrap();
    index.apply(docs, &[], Some("fp")).unwrap();
    index
}

fn text(t: &str) -> SearchQuery {
    SearchQuery { text: Some(t.to_string()), ..Default::default() }
}

fn ids(r: &SearchResults) -> Vec<Uuid> {
    r.hits.iter().map(|h| h.id).collect()
}

fn id_set(r: &SearchResults) -> HashSet<Uuid> {
    r.hits.iter().map(|h| h.id).collect()
}

// ---------------------------------------------------------------- text

#[test]
fn typo_tolerance_finds_zephyr_hoodie() {
    let index = index_with(vec![doc(1, "Zephyr Hoodie"), doc(2, "Zenith Jacket"), doc(3, "Hoodie Classic")]);
    let r = index.search(&text("zephir hodie")).unwrap();
    assert_eq!(ids(&r), vec![uid(1)]);
    assert_eq!(r.total, 1);
    assert_eq!(r.hits[0].summary_json, "{\"n\":1}");
}

#[test]
fn every_word_must_match() {
    let index = index_with(vec![doc(1, "Zephyr Hoodie"), doc(2, "Zephyr Jacket")]);
    assert_eq!(ids(&index.search(&text("zephyr jacket")).unwrap()), vec![uid(2)]);
    assert_eq!(index.search(&text("zephyr trousers")).unwrap().total, 0);
}

#[test]
fn exact_matches_score_above_fuzzy_ones() {
    let index = index_with(vec![doc(1, "Zephir Hoodie"), doc(2, "Zephyr Hoodie"), doc(3, "Zephyx Hoodie")]);
    let r = index.search(&text("zephyr")).unwrap();
    assert_eq!(r.total, 3);
    assert_eq!(r.hits[0].id, uid(2));
    assert!(r.hits[0].score > r.hits[1].score);
}

#[test]
fn last_word_matches_as_prefix_other_words_do_not() {
    let index = index_with(vec![doc(1, "Zephyr Hoodie"), doc(2, "Ocean Hoodie")]);
    assert_eq!(ids(&index.search(&text("hoodie zep")).unwrap()), vec![uid(1)]);
    assert_eq!(index.search(&text("zep hoodie")).unwrap().total, 0);
    // One-character prefixes are not expanded.
    assert_eq!(index.search(&text("hoodie z")).unwrap().total, 0);
}

#[test]
fn fuzziness_depends_on_word_length() {
    let index = index_with(vec![doc(1, "cat"), doc(2, "sweater"), doc(3, "waterproof")]);
    // 3 chars: exact only ("cot" is not a prefix of anything either).
    assert_eq!(index.search(&text("cot")).unwrap().total, 0);
    // 4-7 chars: one edit.
    assert_eq!(ids(&index.search(&text("swaeter")).unwrap()), vec![uid(2)]);
    assert_eq!(ids(&index.search(&text("swetter")).unwrap()), vec![uid(2)]);
    assert_eq!(index.search(&text("swettre")).unwrap().total, 0);
    // ≥ 8 chars: two edits.
    assert_eq!(ids(&index.search(&text("watreproff")).unwrap()), vec![uid(3)]);
}

#[test]
fn text_is_folded_and_searched_in_tags_and_description() {
    let mut a = doc(1, "Crème brûlée mug");
    a.tags = vec!["Kitchen".into()];
    let mut b = doc(2, "Plain mug");
    b.description = "Dishwasher-safe stoneware".into();
    let index = index_with(vec![a, b]);
    assert_eq!(ids(&index.search(&text("CREME")).unwrap()), vec![uid(1)]);
    assert_eq!(ids(&index.search(&text("kitchen")).unwrap()), vec![uid(1)]);
    assert_eq!(ids(&index.search(&text("dishwasher")).unwrap()), vec![uid(2)]);
    assert_eq!(index.search(&text("mug")).unwrap().total, 2);
}

#[test]
fn title_outranks_tags_outranks_description() {
    let mut in_desc = doc(1, "Plain shirt");
    in_desc.description = "A linen shirt for summer".into();
    let mut in_tags = doc(2, "Plain shirt");
    in_tags.tags = vec!["linen".into()];
    let in_title = doc(3, "Linen shirt");
    let index = index_with(vec![in_desc, in_tags, in_title]);
    let r = index.search(&text("linen")).unwrap();
    assert_eq!(ids(&r), vec![uid(3), uid(2), uid(1)]);
}

#[test]
fn blank_text_matches_all() {
    let index = index_with(vec![doc(1, "a"), doc(2, "b")]);
    assert_eq!(index.search(&text("  ,, ")).unwrap().total, 2);
    assert_eq!(index.search(&SearchQuery::default()).unwrap().total, 2);
}

// ---------------------------------------------------------------- filters

fn catalog() -> Vec<SearchDoc> {
    // Categories: 10 (root) > 11 > 12 ; 10 > 13 ; 20 (root).
    let mut d1 = doc(1, "Red cotton shirt");
    d1.category_path = vec![uid(10), uid(11), uid(12)];
    d1.options = vec![("Size".into(), "M".into()), ("size".into(), "L".into()), ("Colour".into(), "Red".into())];
    d1.prices = vec![1_500, 2_500];
    d1.seller_id = uid(100);

    let mut d2 = doc(2, "Blue cotton shirt");
    d2.category_path = vec![uid(10), uid(11)];
    d2.options = vec![("size".into(), "S".into()), ("colour".into(), "Blue".into())];
    d2.prices = vec![3_000];
    d2.in_stock = false;
    d2.seller_id = uid(100);

    let mut d3 = doc(3, "Green wool jumper");
    d3.category_path = vec![uid(10), uid(13)];
    d3.options = vec![("size".into(), " m ".into()), ("colour".into(), "green".into())];
    d3.prices = vec![6_000, 8_000];
    d3.seller_id = uid(101);

    let mut d4 = doc(4, "Red mug");
    d4.category_path = vec![uid(20)];
    d4.options = vec![("colour".into(), "RED".into())];
    d4.prices = vec![900];
    d4.seller_id = uid(101);

    let d5 = doc(5, "Uncategorised thing");
    vec![d1, d2, d3, d4, d5]
}

#[test]
fn category_filter_includes_descendants() {
    let index = index_with(catalog());
    let q = |c| SearchQuery { category: Some(uid(c)), ..Default::default() };
    assert_eq!(id_set(&index.search(&q(10)).unwrap()), [uid(1), uid(2), uid(3)].into());
    assert_eq!(id_set(&index.search(&q(11)).unwrap()), [uid(1), uid(2)].into());
    assert_eq!(id_set(&index.search(&q(12)).unwrap()), [uid(1)].into());
    assert_eq!(index.search(&q(99)).unwrap().total, 0);
}

#[test]
fn price_filter_matches_any_variant() {
    let index = index_with(catalog());
    let q = |min, max| SearchQuery { min_price: min, max_price: max, ..Default::default() };
    // d1 has 1500 and 2500: 2000..=2600 matches through its second variant.
    assert_eq!(id_set(&index.search(&q(Some(2_000), Some(2_600))).unwrap()), [uid(1)].into());
    assert_eq!(id_set(&index.search(&q(Some(7_000), None)).unwrap()), [uid(3)].into());
    assert_eq!(id_set(&index.search(&q(None, Some(1_000))).unwrap()), [uid(4), uid(5)].into());
    assert_eq!(index.search(&q(Some(1_001), Some(1_499))).unwrap().total, 0);
}

#[test]
fn option_filters_or_within_and_across() {
    let index = index_with(catalog());
    let q = |opts: Vec<(&str, Vec<&str>)>| SearchQuery {
        options: opts.into_iter().map(|(n, vs)| (n.to_string(), vs.into_iter().map(String::from).collect())).collect(),
        ..Default::default()
    };
    assert_eq!(id_set(&index.search(&q(vec![("SIZE", vec!["m"])])).unwrap()), [uid(1), uid(3)].into());
    assert_eq!(id_set(&index.search(&q(vec![("size", vec!["S", "L"])])).unwrap()), [uid(1), uid(2)].into());
    assert_eq!(
        id_set(&index.search(&q(vec![("size", vec!["M", "S"]), ("colour", vec!["red"])])).unwrap()),
        [uid(1)].into()
    );
    assert_eq!(id_set(&index.search(&q(vec![("colour", vec!["red"])])).unwrap()), [uid(1), uid(4)].into());
    assert_eq!(index.search(&q(vec![("fit", vec!["slim"])])).unwrap().total, 0);
    // An option without values is no filter.
    assert_eq!(index.search(&q(vec![("size", vec![])])).unwrap().total, 5);
}

#[test]
fn stock_seller_and_exclude_filters() {
    let index = index_with(catalog());
    let r = index.search(&SearchQuery { in_stock: Some(true), ..Default::default() }).unwrap();
    assert_eq!(r.total, 4);
    assert!(!id_set(&r).contains(&uid(2)));
    let r = index.search(&SearchQuery { in_stock: Some(false), ..Default::default() }).unwrap();
    assert_eq!(ids(&r), vec![uid(2)]);
    let r = index.search(&SearchQuery { seller: Some(uid(101)), ..Default::default() }).unwrap();
    assert_eq!(id_set(&r), [uid(3), uid(4)].into());
    let r = index.search(&SearchQuery { seller: Some(uid(999)), ..Default::default() }).unwrap();
    assert_eq!(r.total, 0);
    let r = index.search(&SearchQuery { exclude: Some(uid(1)), text: Some("shirt".into()), ..Default::default() });
    assert_eq!(ids(&r.unwrap()), vec![uid(2)]);
}

// ---------------------------------------------------------------- facets

#[test]
fn facets_on_small_catalog() {
    let index = index_with(catalog());
    let q = SearchQuery {
        facets: true,
        price_buckets: vec![1_000, 5_000],
        options: vec![("size".into(), vec!["M".into()])],
        ..Default::default()
    };
    let r = index.search(&q).unwrap();
    assert_eq!(r.total, 2);
    let f = r.facets.unwrap();
    // Size facet ignores its own filter: every product with a size counts.
    let size = &f.options.iter().find(|(n, _)| n == "size").unwrap().1;
    assert_eq!(size, &vec![("M".to_string(), 2), ("L".to_string(), 1), ("S".to_string(), 1)]);
    // Colour facet applies the size filter (d1 red, d3 green); "Red" and "RED" are one value.
    let colour = &f.options.iter().find(|(n, _)| n == "colour").unwrap().1;
    assert_eq!(colour, &vec![("Red".to_string(), 1), ("green".to_string(), 1)]);
    assert_eq!(f.options.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), vec!["colour", "size"]);
    assert_eq!(f.categories, vec![(uid(10), 2), (uid(11), 1), (uid(12), 1), (uid(13), 1)]);
    let prices: Vec<(i64, Option<i64>, u64)> = f.prices.iter().map(|b| (b.min, b.max, b.count)).collect();
    // d1: 1500, 2500 → one bucket; d3: 6000, 8000 → one bucket.
    assert_eq!(prices, vec![(0, Some(1_000), 0), (1_000, Some(5_000), 1), (5_000, None, 1)]);
}

/// Deterministic xorshift generator for synthetic data.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn synthetic(n: u128, seed: u64) -> Vec<SearchDoc> {
    let mut rng = Rng(seed);
    let words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"];
    let sizes = ["XS", "S", "M", "L", "XL"];
    let colours = ["red", "Red", "blue", "green", "black"];
    (0..n)
        .map(|i| {
            let mut d = doc(i + 1, &format!("{} {}", words[rng.below(6) as usize], words[rng.below(6) as usize]));
            let root = 10 + rng.below(3) as u128;
            d.category_path = match rng.below(3) {
                0 => vec![],
                1 => vec![uid(root)],
                _ => vec![uid(root), uid(root * 10 + rng.below(3) as u128)],
            };
            for _ in 0..rng.below(3) {
                d.options.push(("size".into(), sizes[rng.below(5) as usize].into()));
            }
            for _ in 0..rng.below(3) {
                d.options.push(("colour".into(), colours[rng.below(5) as usize].into()));
            }
            if rng.below(4) == 0 {
                d.options.push(("fit".into(), "slim".into()));
            }
            d.prices = (0..1 + rng.below(3)).map(|_| 500 + rng.below(100) as i64 * 100).collect();
            d.in_stock = rng.below(5) != 0;
            d.seller_id = uid(1_000 + rng.below(3) as u128);
            d.rating_avg = rng.below(50) as f64 / 10.0;
            d.rating_count = rng.below(10) as u32;
            d.created_at = 1_700_000_000 + rng.below(1_000) as i64;
            d
        })
        .collect()
}

/// For every facet value shown, setting that facet's filter to exactly that value gives a total
/// equal to the count shown.
fn check_disjunctive(index: &SearchIndex, q: &SearchQuery) {
    let r = index.search(q).unwrap();
    let f = r.facets.as_ref().unwrap();
    let mut checked = 0;
    for (cat, count) in &f.categories {
        let q2 = SearchQuery { category: Some(*cat), facets: false, ..q.clone() };
        assert_eq!(index.search(&q2).unwrap().total, *count, "category {cat} in {q:?}");
        checked += 1;
    }
    for bucket in &f.prices {
        let q2 = SearchQuery {
            min_price: Some(bucket.min),
            max_price: bucket.max.map(|m| m - 1),
            facets: false,
            ..q.clone()
        };
        assert_eq!(index.search(&q2).unwrap().total, bucket.count, "bucket {bucket:?} in {q:?}");
        checked += 1;
    }
    for (name, values) in &f.options {
        for (value, count) in values {
            let mut q2 = SearchQuery { facets: false, ..q.clone() };
            q2.options.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
            q2.options.push((name.clone(), vec![value.clone()]));
            assert_eq!(index.search(&q2).unwrap().total, *count, "option {name}={value} in {q:?}");
            checked += 1;
        }
    }
    assert!(checked > 0);
}

#[test]
fn facet_counts_equal_totals_of_the_refined_query() {
    let index = SearchIndex::open_in_ram().unwrap();
    // Several commits → several segments, plus deletions.
    let docs = synthetic(600, 42);
    for chunk in docs.chunks(150) {
        index.apply(chunk.to_vec(), &[], None).unwrap();
    }
    index.apply(vec![], &(1..=40).map(uid).collect::<Vec<_>>(), None).unwrap();
    index.set_cache_capacity(0);
    let base = SearchQuery { facets: true, price_buckets: vec![2_500, 5_000, 7_500], ..Default::default() };
    let opt = |n: &str, vs: &[&str]| (n.to_string(), vs.iter().map(|v| v.to_string()).collect::<Vec<_>>());
    let queries = vec![
        base.clone(),
        SearchQuery { text: Some("alpha".into()), ..base.clone() },
        SearchQuery { category: Some(uid(11)), ..base.clone() },
        SearchQuery { category: Some(uid(110)), in_stock: Some(true), ..base.clone() },
        SearchQuery { min_price: Some(2_000), max_price: Some(6_000), ..base.clone() },
        SearchQuery { options: vec![opt("size", &["M", "L"])], ..base.clone() },
        SearchQuery { options: vec![opt("size", &["m"]), opt("Colour", &["RED", "blue"])], ..base.clone() },
        SearchQuery {
            text: Some("bravo".into()),
            category: Some(uid(12)),
            min_price: Some(3_000),
            options: vec![opt("colour", &["red"]), opt("fit", &["slim"])],
            seller: Some(uid(1_001)),
            exclude: Some(uid(100)),
            ..base.clone()
        },
    ];
    for q in &queries {
        check_disjunctive(&index, q);
    }
}

#[test]
fn every_way_of_counting_facets_gives_the_same_counts() {
    use crate::collector::{Counting, FORCE_COUNTING};
    let index = SearchIndex::open_in_ram().unwrap();
    let docs = synthetic(3_000, 9);
    index.rebuild(docs.clone().into_iter(), "one segment", &mut |_| {}).unwrap();
    // A second segment and deletions, so alive sets and several tables take part.
    index
        .apply(
            synthetic(200, 10)
                .into_iter()
                .map(|mut d| {
                    d.id = uid(10_000 + d.id.as_u128());
                    d
                })
                .collect(),
            &(1..=30).map(uid).collect::<Vec<_>>(),
            None,
        )
        .unwrap();
    index.set_cache_capacity(0);
    let base = SearchQuery { facets: true, price_buckets: vec![2_000, 4_000, 8_000], ..Default::default() };
    let opt = |n: &str, vs: &[&str]| (n.to_string(), vs.iter().map(|v| v.to_string()).collect::<Vec<_>>());
    let queries = vec![
        base.clone(),
        SearchQuery { text: Some("alpha".into()), ..base.clone() },
        SearchQuery { text: Some("delta echo".into()), in_stock: Some(true), ..base.clone() },
        SearchQuery { text: Some("bravo".into()), category: Some(uid(11)), ..base.clone() },
        SearchQuery { text: Some("charlie".into()), options: vec![opt("size", &["M", "xl"])], ..base.clone() },
        SearchQuery { min_price: Some(2_000), max_price: Some(6_000), ..base.clone() },
        SearchQuery { price_buckets: (1..=70).map(|b| b * 100).collect(), ..base.clone() },
    ];
    for q in &queries {
        let mut answers = Vec::new();
        for how in [None, Some(Counting::Sets), Some(Counting::Walk)] {
            FORCE_COUNTING.with(|f| f.set(how));
            answers.push(index.search(q).unwrap());
        }
        FORCE_COUNTING.with(|f| f.set(None));
        assert!(answers[0].total > 0, "{q:?}");
        assert_eq!(answers[0].facets, answers[1].facets, "chosen vs sets: {q:?}");
        assert_eq!(answers[1].facets, answers[2].facets, "sets vs walk: {q:?}");
        check_disjunctive(&index, q);
    }
}

/// Disjunctive facet counts computed naively from the documents.
fn brute_force_facets(docs: &[SearchDoc], q: &SearchQuery) -> crate::Facets {
    use std::collections::{BTreeMap, BTreeSet};
    let norm = |s: &str| s.trim().to_lowercase();
    let filters: Vec<(String, Vec<String>)> =
        q.options.iter().map(|(n, vs)| (norm(n), vs.iter().map(|v| norm(v)).collect())).collect();
    let base = |d: &SearchDoc| {
        q.in_stock.is_none_or(|s| d.in_stock == s)
            && q.seller.is_none_or(|s| d.seller_id == s)
            && q.exclude != Some(d.id)
    };
    let cat_ok = |d: &SearchDoc| q.category.is_none_or(|c| d.category_path.contains(&c));
    let price_ok = |d: &SearchDoc| {
        (q.min_price.is_none() && q.max_price.is_none())
            || d.prices.iter().any(|p| *p >= q.min_price.unwrap_or(i64::MIN) && *p <= q.max_price.unwrap_or(i64::MAX))
    };
    let opt_ok = |d: &SearchDoc, skip: Option<&str>| {
        filters
            .iter()
            .filter(|(n, _)| Some(n.as_str()) != skip)
            .all(|(n, vs)| d.options.iter().any(|(dn, dv)| norm(dn) == *n && vs.contains(&norm(dv))))
    };
    let mut cats: BTreeMap<Uuid, u64> = BTreeMap::new();
    let mut opts: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    let mut prices = vec![0u64; q.price_buckets.len() + 1];
    for d in docs.iter().filter(|d| base(d)) {
        if price_ok(d) && opt_ok(d, None) {
            for c in d.category_path.iter().collect::<BTreeSet<_>>() {
                *cats.entry(*c).or_default() += 1;
            }
        }
        if cat_ok(d) && opt_ok(d, None) {
            let buckets: BTreeSet<usize> =
                d.prices.iter().map(|p| q.price_buckets.iter().filter(|b| **b <= *p).count()).collect();
            for b in buckets {
                prices[b] += 1;
            }
        }
        let pairs: BTreeSet<(String, String)> = d.options.iter().map(|(n, v)| (norm(n), norm(v))).collect();
        for (n, v) in pairs {
            if cat_ok(d) && price_ok(d) && opt_ok(d, Some(&n)) {
                *opts.entry(n).or_default().entry(v).or_default() += 1;
            }
        }
    }
    let mut categories: Vec<(Uuid, u64)> = cats.into_iter().collect();
    categories.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    crate::Facets {
        categories,
        options: opts.into_iter().map(|(n, vs)| (n, vs.into_iter().collect())).collect(),
        prices: prices
            .into_iter()
            .enumerate()
            .map(|(i, count)| crate::PriceBucket {
                min: if i == 0 { 0 } else { q.price_buckets[i - 1] },
                max: q.price_buckets.get(i).copied(),
                count,
            })
            .collect(),
    }
}

#[test]
fn facets_match_brute_force() {
    let docs = synthetic(900, 5);
    let index = SearchIndex::open_in_ram().unwrap();
    for chunk in docs.chunks(400) {
        index.apply(chunk.to_vec(), &[], None).unwrap();
    }
    let opt = |n: &str, vs: &[&str]| (n.to_string(), vs.iter().map(|v| v.to_string()).collect::<Vec<_>>());
    let base = SearchQuery { facets: true, price_buckets: vec![2_000, 4_000, 8_000], ..Default::default() };
    let queries = vec![
        base.clone(),
        SearchQuery { in_stock: Some(false), ..base.clone() },
        SearchQuery { category: Some(uid(12)), ..base.clone() },
        SearchQuery { category: Some(uid(111)), seller: Some(uid(1_002)), ..base.clone() },
        SearchQuery { min_price: Some(3_000), max_price: Some(3_900), ..base.clone() },
        SearchQuery { options: vec![opt("colour", &["red"]), opt("size", &["XS", "xl"])], ..base.clone() },
        SearchQuery {
            category: Some(uid(10)),
            min_price: Some(1_000),
            options: vec![opt("fit", &["slim"]), opt("size", &["m"])],
            exclude: Some(uid(7)),
            ..base.clone()
        },
    ];
    for q in &queries {
        let mut got = index.search(q).unwrap().facets.unwrap();
        for (_, values) in &mut got.options {
            for (v, _) in values.iter_mut() {
                *v = v.to_lowercase();
            }
            values.sort();
        }
        let mut expected = brute_force_facets(&docs, q);
        for (_, values) in &mut expected.options {
            values.sort();
        }
        assert_eq!(got, expected, "{q:?}");
    }
}

#[test]
fn totals_match_brute_force() {
    let docs = synthetic(300, 7);
    let index = index_with(docs.clone());
    let q = SearchQuery {
        category: Some(uid(10)),
        min_price: Some(1_000),
        max_price: Some(5_000),
        options: vec![("size".into(), vec!["M".into(), "XL".into()])],
        in_stock: Some(true),
        ..Default::default()
    };
    let expected = docs
        .iter()
        .filter(|d| {
            d.category_path.contains(&uid(10))
                && d.prices.iter().any(|p| (1_000..=5_000).contains(p))
                && d.options.iter().any(|(n, v)| n == "size" && (v == "M" || v == "XL"))
                && d.in_stock
        })
        .count();
    assert_eq!(index.search(&q).unwrap().total, expected as u64);
}

// ---------------------------------------------------------------- sorting & paging

#[test]
fn sorting_modes() {
    let mk = |n: u128, price: Vec<i64>, rating: f64, count: u32, created: i64| {
        let mut d = doc(n, "Widget");
        d.prices = price;
        d.rating_avg = rating;
        d.rating_count = count;
        d.created_at = created;
        d
    };
    let index = index_with(vec![
        mk(1, vec![3_000, 500], 4.5, 10, 100),
        mk(2, vec![1_000], 4.5, 20, 300),
        mk(3, vec![2_000, 9_000], 3.0, 50, 200),
        mk(4, vec![], 5.0, 1, 400),
    ]);
    let sorted = |sort| ids(&index.search(&SearchQuery { sort, ..Default::default() }).unwrap());
    assert_eq!(sorted(Sort::PriceAsc), vec![uid(1), uid(2), uid(3), uid(4)]);
    assert_eq!(sorted(Sort::PriceDesc), vec![uid(3), uid(2), uid(1), uid(4)]);
    assert_eq!(sorted(Sort::Newest), vec![uid(4), uid(2), uid(3), uid(1)]);
    assert_eq!(sorted(Sort::Rating), vec![uid(4), uid(2), uid(1), uid(3)]);
    // Without text every score ties: newest first.
    assert_eq!(sorted(Sort::Relevance), vec![uid(4), uid(2), uid(3), uid(1)]);
}

#[test]
fn sorted_pages_match_brute_force() {
    let docs = synthetic(800, 99);
    let index = SearchIndex::open_in_ram().unwrap();
    for chunk in docs.chunks(300) {
        index.apply(chunk.to_vec(), &[], None).unwrap();
    }
    let by_id: std::collections::HashMap<Uuid, &SearchDoc> = docs.iter().map(|d| (d.id, d)).collect();
    let min_price = |d: &SearchDoc| d.prices.iter().min().copied().unwrap_or(i64::MAX);
    // The value each sort orders by, as a comparable tuple (larger first).
    let value = |sort: Sort, d: &SearchDoc| -> (i64, i64, i64) {
        match sort {
            Sort::Newest | Sort::Relevance => (d.created_at, 0, 0),
            Sort::PriceAsc => (-min_price(d), d.created_at, 0),
            Sort::PriceDesc => (min_price(d), d.created_at, 0),
            Sort::Rating => ((d.rating_avg * 10.0).round() as i64, i64::from(d.rating_count), d.created_at),
        }
    };
    for sort in [Sort::Relevance, Sort::Newest, Sort::PriceAsc, Sort::PriceDesc, Sort::Rating] {
        for (in_stock, category) in [(None, None), (Some(true), Some(uid(10))), (None, Some(uid(120)))] {
            let q = SearchQuery { sort, in_stock, category, limit: 40, ..Default::default() };
            let mut expected: Vec<(i64, i64, i64)> = docs
                .iter()
                .filter(|d| in_stock.is_none_or(|s| d.in_stock == s))
                .filter(|d| category.is_none_or(|c| d.category_path.contains(&c)))
                .map(|d| value(sort, d))
                .collect();
            expected.sort_unstable_by(|a, b| b.cmp(a));
            expected.truncate(40);
            let r = index.search(&q).unwrap();
            let got: Vec<(i64, i64, i64)> = r.hits.iter().map(|h| value(sort, by_id[&h.id])).collect();
            assert_eq!(got, expected, "{sort:?} {in_stock:?} {category:?}");
            // Pages tile the full ranking.
            let page2 = index.search(&SearchQuery { offset: 20, limit: 20, ..q.clone() }).unwrap();
            assert_eq!(ids(&page2), ids(&r)[20..].to_vec());
        }
    }
}

#[test]
fn relevance_ties_break_by_newest() {
    let mut a = doc(1, "Widget");
    a.created_at = 10;
    let mut b = doc(2, "Widget");
    b.created_at = 20;
    let index = index_with(vec![a, b]);
    assert_eq!(ids(&index.search(&text("widget")).unwrap()), vec![uid(2), uid(1)]);
}

#[test]
fn pagination() {
    let index = index_with((1..=25).map(|n| doc(n, "Widget")).collect());
    let page =
        |offset, limit| index.search(&SearchQuery { sort: Sort::Newest, offset, limit, ..Default::default() }).unwrap();
    let all = ids(&page(0, 100));
    assert_eq!(all, (1..=25).rev().map(uid).collect::<Vec<_>>());
    let p2 = page(10, 10);
    assert_eq!(p2.total, 25);
    assert_eq!(ids(&p2), all[10..20].to_vec());
    assert_eq!(ids(&page(20, 10)), all[20..].to_vec());
    assert!(page(30, 10).hits.is_empty());
    let none = page(0, 0);
    assert_eq!((none.total, none.hits.len()), (25, 0));
}

// ---------------------------------------------------------------- writes

#[test]
fn apply_upserts_and_deletes_are_visible_immediately() {
    let index = index_with(vec![doc(1, "Zephyr Hoodie"), doc(2, "Ocean Jacket")]);
    assert_eq!(index.num_docs(), 2);
    // Warm the cache, then change the index: the cache must not serve stale results.
    assert_eq!(index.search(&text("hoodie")).unwrap().total, 1);
    index.apply(vec![doc(1, "Zephyr Sweater"), doc(3, "Storm Hoodie")], &[uid(2)], Some("v2")).unwrap();
    assert_eq!(index.num_docs(), 2);
    assert_eq!(ids(&index.search(&text("hoodie")).unwrap()), vec![uid(3)]);
    assert_eq!(ids(&index.search(&text("sweater")).unwrap()), vec![uid(1)]);
    assert_eq!(index.search(&text("jacket")).unwrap().total, 0);
    assert_eq!(index.fingerprint().as_deref(), Some("v2"));
    index.apply(vec![], &[uid(1)], None).unwrap();
    assert_eq!(index.num_docs(), 1);
    assert_eq!(index.fingerprint(), None);
}

#[test]
fn rebuild_replaces_everything() {
    let index = index_with(vec![doc(1, "Old product"), doc(2, "Old thing")]);
    let mut seen = vec![];
    index.rebuild((10..2_510).map(|n| doc(n, "New product")), "rebuilt", &mut |n| seen.push(n)).unwrap();
    assert_eq!(index.num_docs(), 2_500);
    assert_eq!(index.search(&text("old")).unwrap().total, 0);
    assert_eq!(index.search(&text("new")).unwrap().total, 2_500);
    assert_eq!(index.fingerprint().as_deref(), Some("rebuilt"));
    assert_eq!(seen.last(), Some(&2_500));
    assert!(seen.contains(&1_000));
    // The writer is usable again afterwards.
    index.apply(vec![doc(1, "Old product")], &[], Some("after")).unwrap();
    assert_eq!(index.num_docs(), 2_501);
}

#[test]
fn cache_returns_same_results_and_can_be_disabled() {
    let index = index_with(catalog());
    let q = SearchQuery { facets: true, price_buckets: vec![2_000], ..text("shirt") };
    let a = index.search_shared(&q).unwrap();
    let b = index.search_shared(&q).unwrap();
    assert!(std::sync::Arc::ptr_eq(&a, &b));
    index.set_cache_capacity(0);
    let c = index.search_shared(&q).unwrap();
    assert!(!std::sync::Arc::ptr_eq(&a, &c));
    assert_eq!(*a, *c);
}

#[test]
fn concurrent_searches_while_applying() {
    let index = index_with(synthetic(500, 3));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let searchers: Vec<_> = (0..4)
        .map(|t| {
            let (index, stop) = (index.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut n = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) || n < 20 {
                    let q =
                        SearchQuery { facets: true, text: (t % 2 == 0).then(|| "alpha".into()), ..Default::default() };
                    let r = index.search(&q).unwrap();
                    assert!(r.total >= 1);
                    n += 1;
                }
                n
            })
        })
        .collect();
    for round in 0..10u128 {
        let docs = synthetic(20, 100 + round as u64).into_iter().map(|mut d| {
            d.id = uid(10_000 + round * 100 + d.id.as_u128());
            d
        });
        index.apply(docs.collect(), &[uid(round + 1)], Some(&format!("r{round}"))).unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for s in searchers {
        assert!(s.join().unwrap() >= 20);
    }
    assert_eq!(index.num_docs(), 500 + 200 - 10);
}

// ---------------------------------------------------------------- on disk

#[test]
fn fingerprint_and_docs_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let index = SearchIndex::open(dir.path()).unwrap();
        assert_eq!(index.fingerprint(), None);
        assert_eq!(index.num_docs(), 0);
        index.apply(catalog(), &[], Some("catalog@42")).unwrap();
    }
    let index = SearchIndex::open(dir.path()).unwrap();
    assert_eq!(index.fingerprint().as_deref(), Some("catalog@42"));
    assert_eq!(index.num_docs(), 5);
    assert_eq!(ids(&index.search(&text("jumper")).unwrap()), vec![uid(3)]);
}

#[test]
fn second_open_of_a_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _first = SearchIndex::open(dir.path()).unwrap();
    let err = SearchIndex::open(dir.path()).unwrap_err().to_string();
    assert!(err.contains("another process"), "{err}");
    assert!(err.contains("running server"), "{err}");
}

#[test]
fn directory_with_garbage_is_recreated() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("meta.json"), b"{ not json").unwrap();
    std::fs::write(dir.path().join("random.bin"), [0u8, 1, 2, 3]).unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let index = SearchIndex::open(dir.path()).unwrap();
    assert_eq!(index.num_docs(), 0);
    assert_eq!(index.fingerprint(), None);
    assert!(!dir.path().join("random.bin").exists());
    index.apply(vec![doc(1, "Zephyr Hoodie")], &[], Some("fresh")).unwrap();
    drop(index);
    let index = SearchIndex::open(dir.path()).unwrap();
    assert_eq!(index.fingerprint().as_deref(), Some("fresh"));
    assert_eq!(index.num_docs(), 1);
}

#[test]
fn other_schema_version_is_recreated() {
    let dir = tempfile::tempdir().unwrap();
    {
        let index = SearchIndex::open(dir.path()).unwrap();
        index.apply(catalog(), &[], Some("old")).unwrap();
    }
    // Pretend an older build wrote the index.
    let meta_path = dir.path().join("meta.json");
    let mut meta: serde_json::Value = serde_json::from_slice(&std::fs::read(&meta_path).unwrap()).unwrap();
    let payload = meta["payload"].as_str().unwrap().replace(
        &format!("\"schema_version\":{}", crate::SCHEMA_VERSION),
        &format!("\"schema_version\":{}", crate::SCHEMA_VERSION + 100),
    );
    meta["payload"] = serde_json::Value::String(payload);
    std::fs::write(&meta_path, serde_json::to_vec(&meta).unwrap()).unwrap();
    let index = SearchIndex::open(dir.path()).unwrap();
    assert_eq!(index.num_docs(), 0);
    assert_eq!(index.fingerprint(), None);
}

#[test]
fn corrupt_segment_is_recreated() {
    let dir = tempfile::tempdir().unwrap();
    {
        let index = SearchIndex::open(dir.path()).unwrap();
        index.apply(catalog(), &[], Some("x")).unwrap();
    }
    let mut corrupted = 0;
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "idx" || e == "store" || e == "fast") {
            let mut bytes = std::fs::read(&path).unwrap();
            let mid = bytes.len() / 2;
            bytes[mid] ^= 0xff;
            std::fs::write(&path, bytes).unwrap();
            corrupted += 1;
        }
    }
    assert!(corrupted > 0);
    let index = SearchIndex::open(dir.path()).unwrap();
    assert_eq!(index.num_docs(), 0);
    assert_eq!(index.fingerprint(), None);
}

// ---------------------------------------------------------------- concurrency

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uncached_searches_wait_for_a_free_core_and_cached_ones_do_not() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Barrier};
    use std::time::Duration;
    let index = index_with(vec![doc(1, "Zephyr Hoodie"), doc(2, "Ocean Hoodie")]);
    let warm = index.search_async(text("ocean")).await.unwrap();
    // Every search thread busy until the barrier lets them go.
    let cores = index.search_threads();
    assert!(cores >= 1);
    let barrier = Arc::new(Barrier::new(cores + 1));
    let started = Arc::new(AtomicUsize::new(0));
    let busy: Vec<_> = (0..cores)
        .map(|_| {
            let (index, barrier, started) = (index.clone(), Arc::clone(&barrier), Arc::clone(&started));
            tokio::spawn(async move {
                index
                    .on_search_threads(move || {
                        started.fetch_add(1, Ordering::SeqCst);
                        barrier.wait();
                    })
                    .await
            })
        })
        .collect();
    while started.load(Ordering::SeqCst) < cores {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    // A cached answer still comes at once…
    let again = tokio::time::timeout(Duration::from_secs(10), index.search_async(text("ocean"))).await;
    assert!(Arc::ptr_eq(&warm, &again.expect("a cached answer waited for a search thread").unwrap()));
    // …and a query that must run waits for its turn.
    let waiting = tokio::spawn({
        let index = index.clone();
        async move { index.search_async(text("zephyr")).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "a search ran although every search thread was busy");
    tokio::task::spawn_blocking(move || barrier.wait()).await.unwrap();
    for b in busy {
        b.await.unwrap().unwrap();
    }
    assert_eq!(ids(&waiting.await.unwrap().unwrap()), vec![uid(1)]);
}
