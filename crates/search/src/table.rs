//! Per-segment "doc tables": the fast-field columns a search needs, decoded once per segment into
//! flat arrays, document sets and sort orders.
//!
//! Segments are immutable (deletes live in a separate alive bitset), so a table is built once when
//! a segment becomes visible (after a commit or a merge) and shared by every search on it. It holds:
//! - sort-key columns (created_at, cheapest price, rating, rating count);
//! - per-document category / option ordinals and prices (CSR layout), and each document's
//!   category-set and option-set number ([`Combos`]), for walks over small result sets;
//! - one document set per category, seller and option value (bitset or posting list, whichever is
//!   smaller), so filters are set intersections and facet counts are `popcount(a & b)`;
//! - the documents pre-sorted by each static sort order, so the top-k of a large result set is
//!   found by walking that order until k members are seen.
//!
//! Memory is ~50 bytes per document plus the option/category sets (at most 4 bytes per value).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use tantivy::SegmentReader;
use tantivy::columnar::{Column, StrColumn};
use uuid::Uuid;

use crate::bits::{DocBits, TokenSet};
use crate::schema::{F_CATS, F_CREATED, F_IN_STOCK, F_OPTS, F_PRICES, F_RATING, F_RATING_COUNT, F_SELLER};
use crate::types::Sort;

/// How many price-bucket layouts each segment remembers.
const BUCKET_CACHE: usize = 4;

/// An option term of one segment's dictionary.
#[derive(Debug, Clone)]
pub(crate) struct OptTerm {
    /// Index into `SegmentTable::opt_names`.
    pub name: u32,
    pub norm: String,
    pub display: String,
}

#[derive(Debug)]
pub(crate) struct SegmentTable {
    pub max_doc: u32,
    pub created_at: Vec<i64>,
    /// Cheapest variant price; `i64::MAX` when the product has no price.
    pub price_min: Vec<i64>,
    pub rating: Vec<f32>,
    pub rating_count: Vec<u32>,
    pub in_stock: DocBits,
    /// CSR: the category ordinals of doc d are `cats[cat_off[d]..cat_off[d+1]]`.
    pub cat_off: Vec<u32>,
    pub cats: Vec<u32>,
    pub opt_off: Vec<u32>,
    pub opts: Vec<u32>,
    /// The distinct category sets and option-value sets of the documents, and each document's
    /// one (see [`Combos`]); `None` when there are too many distinct sets for it to pay.
    pub cat_combos: Option<Combos>,
    pub opt_combos: Option<Combos>,
    /// Distinct prices of each document, ascending.
    pub price_off: Vec<u32>,
    pub prices: Vec<i64>,
    /// Every (price, doc) pair sorted by price, as two columns: a price-range filter is a binary
    /// search plus one bit per pair in range.
    by_price: Vec<i64>,
    by_price_docs: Vec<u32>,
    /// Category ordinal → id, and back; documents per category.
    pub cat_ids: Vec<Uuid>,
    pub cat_ord: HashMap<Uuid, u32>,
    pub cat_sets: Vec<TokenSet>,
    pub seller_ord: HashMap<Uuid, u32>,
    pub seller_sets: Vec<TokenSet>,
    /// Option ordinal → term; documents per option value.
    pub opt_terms: Vec<OptTerm>,
    pub opt_sets: Vec<TokenSet>,
    /// Distinct option names, and the ordinals of each name's values.
    pub opt_names: Vec<String>,
    pub name_ords: Vec<Vec<u32>>,
    /// Documents best-first for `Sort::{Newest, PriceAsc, PriceDesc, Rating}` (score 0).
    orders: [Vec<u32>; 4],
    /// Price-bucket layout → documents per bucket.
    bucket_layouts: Mutex<Vec<(Vec<i64>, Arc<BucketLayout>)>>,
}

/// The documents of each bucket of one price-bucket layout, as sets and per document.
#[derive(Debug)]
pub(crate) struct BucketLayout {
    /// One set per bucket.
    pub sets: Vec<TokenSet>,
    /// Per document, bit `b` set when one of its prices falls in bucket `b` (layouts of at most
    /// 8 buckets): counting a small result set is then a walk over its documents' masks.
    pub masks: Option<Vec<u8>>,
}

#[inline]
pub(crate) fn f32_key(x: f32) -> u32 {
    let x = if x.is_nan() { 0.0 } else { x };
    let bits = x.to_bits();
    if bits >> 31 == 1 { !bits } else { bits | 0x8000_0000 }
}

#[inline]
fn i64_key(x: i64) -> u64 {
    (x as u64) ^ (1 << 63)
}

impl SegmentTable {
    #[inline]
    pub fn cats_of(&self, doc: u32) -> &[u32] {
        &self.cats[self.cat_off[doc as usize] as usize..self.cat_off[doc as usize + 1] as usize]
    }

    #[inline]
    pub fn opts_of(&self, doc: u32) -> &[u32] {
        &self.opts[self.opt_off[doc as usize] as usize..self.opt_off[doc as usize + 1] as usize]
    }

    #[inline]
    pub fn prices_of(&self, doc: u32) -> &[i64] {
        &self.prices[self.price_off[doc as usize] as usize..self.price_off[doc as usize + 1] as usize]
    }

    /// Sort key of a document: larger is better. Ties are broken by doc address by the caller.
    #[inline]
    pub fn sort_key(&self, sort: Sort, doc: u32, score: f32) -> u128 {
        let d = doc as usize;
        let newest = u128::from(i64_key(self.created_at[d]));
        let primary: u64 = match sort {
            Sort::Relevance => u64::from(f32_key(score)),
            Sort::Newest => return newest << 64,
            // No price (i64::MAX) maps to 0: last.
            Sort::PriceAsc => !i64_key(self.price_min[d]),
            Sort::PriceDesc => {
                if self.price_min[d] == i64::MAX {
                    0
                } else {
                    i64_key(self.price_min[d])
                }
            }
            Sort::Rating => (u64::from(f32_key(self.rating[d])) << 32) | u64::from(self.rating_count[d]),
        };
        (u128::from(primary) << 64) | newest
    }

    /// Adds the documents having a price in `[min, max]` to `into`.
    pub fn docs_with_price_in(&self, min: i64, max: i64, into: &mut DocBits) {
        let start = self.by_price.partition_point(|p| *p < min);
        let end = self.by_price.partition_point(|p| *p <= max);
        for &d in self.by_price_docs.get(start..end.max(start)).unwrap_or_default() {
            into.insert(d);
        }
    }

    /// All documents best-first for a sort that does not depend on the score (`Relevance` without
    /// text ranks by newest).
    pub fn order(&self, sort: Sort) -> &[u32] {
        match sort {
            Sort::Newest | Sort::Relevance => &self.orders[0],
            Sort::PriceAsc => &self.orders[1],
            Sort::PriceDesc => &self.orders[2],
            Sort::Rating => &self.orders[3],
        }
    }

    /// Documents per price bucket for boundaries `buckets` (`[0,b0)`, `[b0,b1)`, …, `[bn,∞)`),
    /// computed once per layout.
    pub fn bucket_layout(&self, buckets: &[i64]) -> Arc<BucketLayout> {
        let mut cache = self.bucket_layouts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, layout)) = cache.iter().find(|(b, _)| b == buckets) {
            return Arc::clone(layout);
        }
        let with_masks = buckets.len() < 8;
        let mut masks = Vec::with_capacity(if with_masks { self.max_doc as usize } else { 0 });
        let mut docs: Vec<Vec<u32>> = vec![Vec::new(); buckets.len() + 1];
        for doc in 0..self.max_doc {
            let mut mask = 0u8;
            for &p in self.prices_of(doc) {
                let b = bucket_of(buckets, p);
                if b == usize::MAX {
                    continue;
                }
                if docs[b].last() != Some(&doc) {
                    docs[b].push(doc);
                }
                if with_masks {
                    mask |= 1 << b;
                }
            }
            if with_masks {
                masks.push(mask);
            }
        }
        let sets = docs.into_iter().map(|d| TokenSet::from_sorted(d, self.max_doc)).collect();
        let layout = Arc::new(BucketLayout { sets, masks: with_masks.then_some(masks) });
        if cache.len() >= BUCKET_CACHE {
            cache.remove(0);
        }
        cache.push((buckets.to_vec(), Arc::clone(&layout)));
        layout
    }

    /// Approximate heap size, for logging.
    pub fn heap_bytes(&self) -> usize {
        let sets = |s: &[TokenSet]| s.iter().map(TokenSet::heap_bytes).sum::<usize>();
        self.max_doc as usize * (8 + 8 + 4 + 4 + 12 + 16)
            + (self.cats.capacity() + self.opts.capacity()) * 4
            + self.cat_combos.as_ref().map_or(0, Combos::heap_bytes)
            + self.opt_combos.as_ref().map_or(0, Combos::heap_bytes)
            + self.prices.capacity() * 8
            + self.by_price.capacity() * 12
            + sets(&self.cat_sets)
            + sets(&self.seller_sets)
            + sets(&self.opt_sets)
            + self.opt_terms.iter().map(|t| t.norm.len() + t.display.len() + 56).sum::<usize>()
    }

    // Long because it is one pass over a segment filling every column together;
    // separate passes would read the segment once per column.
    pub fn build(reader: &SegmentReader) -> anyhow::Result<SegmentTable> {
        let ff = reader.fast_fields();
        let max_doc = reader.max_doc();
        let n = max_doc as usize;
        let created: Option<Column<i64>> = ff.column_opt(F_CREATED)?;
        let rating: Option<Column<f64>> = ff.column_opt(F_RATING)?;
        let rating_count: Option<Column<u64>> = ff.column_opt(F_RATING_COUNT)?;
        let in_stock: Option<Column<bool>> = ff.column_opt(F_IN_STOCK)?;
        let prices: Option<Column<i64>> = ff.column_opt(F_PRICES)?;
        let seller = ff.str(F_SELLER)?;
        let cats = ff.str(F_CATS)?;
        let opts = ff.str(F_OPTS)?;

        let first = |col: &Option<Column<i64>>, doc| col.as_ref().and_then(|c| c.first(doc));
        let created_at: Vec<i64> = (0..max_doc).map(|d| first(&created, d).unwrap_or(0)).collect();
        let rating: Vec<f32> =
            (0..max_doc).map(|d| rating.as_ref().and_then(|c| c.first(d)).unwrap_or(0.0) as f32).collect();
        let rating_count: Vec<u32> = (0..max_doc)
            .map(|d| rating_count.as_ref().and_then(|c| c.first(d)).unwrap_or(0).min(u64::from(u32::MAX)) as u32)
            .collect();
        let mut in_stock_bits = DocBits::empty(max_doc);
        for d in 0..max_doc {
            if in_stock.as_ref().and_then(|c| c.first(d)).unwrap_or(false) {
                in_stock_bits.insert(d);
            }
        }

        let (cat_off, cat_vals) = ords_csr(cats.as_ref(), max_doc);
        let (opt_off, opt_vals) = ords_csr(opts.as_ref(), max_doc);
        let (seller_off, seller_vals) = ords_csr(seller.as_ref(), max_doc);
        let (mut price_off, mut price_vals) = (Vec::with_capacity(n + 1), Vec::new());
        let mut price_min = Vec::with_capacity(n);
        price_off.push(0);
        for d in 0..max_doc {
            let start = price_vals.len();
            if let Some(col) = &prices {
                price_vals.extend(col.values_for_doc(d));
                price_vals[start..].sort_unstable();
            }
            price_min.push(price_vals.get(start).copied().unwrap_or(i64::MAX));
            price_off.push(u32::try_from(price_vals.len()).context("too many prices in one segment")?);
        }

        let (cat_ids, cat_ord) = uuid_dictionary(cats.as_ref()).context("category dictionary")?;
        let (_, seller_ord) = uuid_dictionary(seller.as_ref()).context("seller dictionary")?;
        let mut opt_terms = Vec::new();
        let (mut opt_names, mut name_ords): (Vec<String>, Vec<Vec<u32>>) = (Vec::new(), Vec::new());
        if let Some(col) = &opts {
            let mut names: HashMap<String, u32> = HashMap::new();
            let mut buf = String::new();
            for ord in 0..col.num_terms() as u64 {
                col.ord_to_str(ord, &mut buf)?;
                let (name, norm, display) = crate::schema::split_opt_term(&buf).unwrap_or(("", "", ""));
                let name_id = *names.entry(name.to_string()).or_insert_with(|| {
                    opt_names.push(name.to_string());
                    name_ords.push(Vec::new());
                    (opt_names.len() - 1) as u32
                });
                name_ords[name_id as usize].push(ord as u32);
                opt_terms.push(OptTerm { name: name_id, norm: norm.to_string(), display: display.to_string() });
            }
        }

        let mut pairs: Vec<(i64, u32)> = (0..max_doc)
            .flat_map(|d| {
                let range = price_off[d as usize] as usize..price_off[d as usize + 1] as usize;
                price_vals[range].iter().map(move |p| (*p, d))
            })
            .collect();
        pairs.sort_unstable();
        let (by_price, by_price_docs) = pairs.into_iter().unzip();
        let mut table = SegmentTable {
            max_doc,
            cat_combos: Combos::build(&cat_off, &cat_vals),
            opt_combos: Combos::build(&opt_off, &opt_vals),
            by_price,
            by_price_docs,
            cat_sets: token_sets(&cat_off, &cat_vals, cat_ids.len(), max_doc),
            seller_sets: token_sets(&seller_off, &seller_vals, seller_ord.len(), max_doc),
            opt_sets: token_sets(&opt_off, &opt_vals, opt_terms.len(), max_doc),
            created_at,
            price_min,
            rating,
            rating_count,
            in_stock: in_stock_bits,
            cat_off,
            cats: cat_vals,
            opt_off,
            opts: opt_vals,
            price_off,
            prices: price_vals,
            cat_ids,
            cat_ord,
            seller_ord,
            opt_terms,
            opt_names,
            name_ords,
            orders: Default::default(),
            bucket_layouts: Mutex::new(Vec::new()),
        };
        for (i, sort) in [Sort::Newest, Sort::PriceAsc, Sort::PriceDesc, Sort::Rating].into_iter().enumerate() {
            let mut keyed: Vec<(u128, u32)> = (0..max_doc).map(|d| (table.sort_key(sort, d, 0.0), d)).collect();
            keyed.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
            table.orders[i] = keyed.into_iter().map(|(_, d)| d).collect();
        }
        Ok(table)
    }
}

/// Bucket index of price `p`: the number of boundaries `<= p`; `usize::MAX` for negative prices.
#[inline]
fn bucket_of(buckets: &[i64], p: i64) -> usize {
    if p < 0 { usize::MAX } else { buckets.iter().filter(|b| **b <= p).count() }
}

/// Per-document term ordinals of a `str` column, as CSR (offsets has `max_doc + 1` entries).
fn ords_csr(col: Option<&StrColumn>, max_doc: u32) -> (Vec<u32>, Vec<u32>) {
    let mut off = Vec::with_capacity(max_doc as usize + 1);
    let mut vals = Vec::new();
    off.push(0);
    for d in 0..max_doc {
        if let Some(col) = col {
            vals.extend(col.term_ords(d).map(|o| o as u32));
        }
        off.push(vals.len() as u32);
    }
    vals.shrink_to_fit();
    (off, vals)
}

/// The distinct value sets ("combinations") of a multi-valued column, and which one each document
/// has. Products share few combinations (a category path; a few sizes and colours), so counting the
/// facet values of a result set is one increment per document into a small array, indexed by a
/// column read in document order, and then one pass over the combinations met.
#[derive(Debug)]
pub(crate) struct Combos {
    /// The combination of each document.
    pub of_doc: Vec<u32>,
    /// CSR: the ordinals of combination c are `ords[off[c]..off[c+1]]`.
    off: Vec<u32>,
    ords: Vec<u32>,
}

impl Combos {
    /// `None` when the documents have more than a quarter as many distinct sets as there are
    /// documents (a walk over their values is then as good).
    fn build(doc_off: &[u32], vals: &[u32]) -> Option<Combos> {
        let max_doc = doc_off.len().saturating_sub(1);
        let limit = max_doc / 4 + 64;
        let mut ids: HashMap<&[u32], u32> = HashMap::new();
        let (mut off, mut ords) = (vec![0u32], Vec::new());
        let mut of_doc = Vec::with_capacity(max_doc);
        for d in 0..max_doc {
            let set = &vals[doc_off[d] as usize..doc_off[d + 1] as usize];
            let next = ids.len() as u32;
            let id = *ids.entry(set).or_insert_with(|| {
                ords.extend_from_slice(set);
                off.push(ords.len() as u32);
                next
            });
            if ids.len() > limit {
                return None;
            }
            of_doc.push(id);
        }
        Some(Combos { of_doc, off, ords })
    }

    pub fn len(&self) -> usize {
        self.off.len() - 1
    }

    #[inline]
    pub fn ords(&self, combo: usize) -> &[u32] {
        &self.ords[self.off[combo] as usize..self.off[combo + 1] as usize]
    }

    /// Counts per ordinal (`ords` of them) from counts per combination.
    pub fn expand(&self, per_combo: &[u32], ords: usize) -> Vec<u64> {
        let mut counts = vec![0u64; ords];
        for (combo, &n) in per_combo.iter().enumerate().filter(|(_, n)| **n > 0) {
            for &o in self.ords(combo) {
                counts[o as usize] += u64::from(n);
            }
        }
        counts
    }

    fn heap_bytes(&self) -> usize {
        (self.of_doc.capacity() + self.off.capacity() + self.ords.capacity()) * 4
    }
}

/// Inverts a CSR of ordinals into one document set per ordinal.
fn token_sets(off: &[u32], vals: &[u32], num_terms: usize, max_doc: u32) -> Vec<TokenSet> {
    let mut docs: Vec<Vec<u32>> = vec![Vec::new(); num_terms];
    for d in 0..max_doc {
        for &o in &vals[off[d as usize] as usize..off[d as usize + 1] as usize] {
            if let Some(list) = docs.get_mut(o as usize)
                && list.last() != Some(&d)
            {
                list.push(d);
            }
        }
    }
    docs.into_iter().map(|d| TokenSet::from_sorted(d, max_doc)).collect()
}

type UuidDict = (Vec<Uuid>, HashMap<Uuid, u32>);

/// Decodes a dictionary of simple-form uuids: ordinal → id and id → ordinal.
fn uuid_dictionary(col: Option<&StrColumn>) -> anyhow::Result<UuidDict> {
    let (mut ids, mut ords) = (Vec::new(), HashMap::new());
    if let Some(col) = col {
        let mut buf = String::new();
        for ord in 0..col.num_terms() as u64 {
            col.ord_to_str(ord, &mut buf)?;
            let id = Uuid::parse_str(&buf).with_context(|| format!("bad id {buf:?} in index"))?;
            ids.push(id);
            ords.insert(id, ord as u32);
        }
    }
    Ok((ids, ords))
}
