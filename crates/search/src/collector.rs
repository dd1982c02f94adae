//! The one-pass collector: filters, disjunctive facet counts, total and top-k for one query, from a
//! single pass of the text query over each segment (none at all for match-all queries).
//!
//! Per segment, the matched documents (text query ∩ alive, or all alive documents) become a bitset,
//! and everything else is set algebra over the segment's precomputed document sets (see
//! [`SegmentTable`]):
//!
//! - `base` = matched ∩ in-stock ∩ seller − excluded (the filters that always apply);
//! - one set per active facet filter: `F_cat`, `F_price`, `F_opt(name)` for each filtered option;
//! - hits = base ∩ every `F`; `total` = |hits|.
//!
//! Disjunctive facets: the counts of facet X are taken over `base ∩ every F except F_X` (just
//! `hits` when X has no active filter), so the count of value v is exactly the `total` of the same
//! query with X's filter set to v. A count is `|universe ∩ docs(v)|`: a popcount of two bitsets,
//! or a walk over the universe's documents when it is small.
//!
//! Top-k: for the static orders (newest, price, rating — and relevance without text) the segment
//! keeps its documents pre-sorted, so the first k hits are found by walking that order; relevance
//! with text, and small hit sets, use a bounded heap.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::Arc;

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::query::Weight;
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{DocId, DocSet, Score, SegmentOrdinal, SegmentReader, TERMINATED, Term};
use uuid::Uuid;

use crate::bits::{DocBits, TokenSet};
use crate::query::NormQuery;
use crate::schema::id_key;
use crate::table::{SegmentTable, bucket_of};
use crate::types::Sort;
use crate::words::Matches;

/// A segment's decoded table together with the alive documents of the searched index state.
#[derive(Clone)]
pub(crate) struct SegmentView {
    pub table: Arc<SegmentTable>,
    pub alive: Arc<DocBits>,
}

/// Finds the view of a segment.
pub(crate) trait TableSource: Sync + Send {
    fn view(&self, reader: &SegmentReader) -> tantivy::Result<SegmentView>;
}

pub(crate) struct OnePassCollector<'a, T: TableSource> {
    pub q: Arc<NormQuery>,
    pub tables: &'a T,
    pub id_field: Field,
    /// The documents the text matches, with scores (`None` for match-all queries).
    pub text: Option<Arc<Matches>>,
}

/// A ranked hit candidate. Ordered so that `Less` = better (a max-heap's top is the worst kept).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Candidate {
    /// Sort key, larger is better.
    pub key: u128,
    /// `segment_ord << 32 | doc`, smaller wins ties (deterministic order).
    pub addr: u64,
    pub score: f32,
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Candidate {}
impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> Ordering {
        other.key.cmp(&self.key).then(self.addr.cmp(&other.addr))
    }
}

/// One segment's results, already translated from ordinals to ids and strings.
#[derive(Debug, Default)]
pub(crate) struct SegmentFruit {
    pub total: u64,
    pub top: Vec<Candidate>,
    pub cats: Vec<(Uuid, u64)>,
    /// (name, normalised value, display value, count)
    pub opts: Vec<(String, String, String, u64)>,
    pub prices: Vec<u64>,
}

pub(crate) struct OnePassSegment {
    view: SegmentView,
    q: Arc<NormQuery>,
    seg_ord: u32,
    exclude: Vec<DocId>,
    scoring: bool,
    matched: DocBits,
    /// (doc, score) of matched documents, ascending by doc; only when scoring.
    scores: Vec<(DocId, Score)>,
}

impl SegmentCollector for OnePassSegment {
    type Fruit = SegmentFruit;

    #[inline]
    fn collect(&mut self, doc: DocId, score: Score) {
        self.matched.insert(doc);
        if self.scoring {
            self.scores.push((doc, score));
        }
    }

    fn collect_block(&mut self, docs: &[DocId]) {
        for &doc in docs {
            self.matched.insert(doc);
        }
    }

    fn harvest(self) -> SegmentFruit {
        self.evaluate()
    }
}

/// Which facet an active filter belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Group {
    Category,
    Price,
    /// Index into `NormQuery::options`.
    Option(usize),
}

/// Bounded best-k selection.
struct TopK {
    k: usize,
    heap: BinaryHeap<Candidate>,
}

impl TopK {
    fn offer(&mut self, cand: Candidate) {
        if self.heap.len() < self.k {
            self.heap.push(cand);
        } else if let Some(mut worst) = self.heap.peek_mut()
            && cand < *worst
        {
            *worst = cand;
        }
    }
}

impl OnePassSegment {
    fn evaluate(mut self) -> SegmentFruit {
        let mut base = std::mem::replace(&mut self.matched, DocBits::empty(0));
        let t = &*self.view.table;
        let q = &*self.q;
        match q.in_stock {
            Some(true) => base.and_with(&t.in_stock),
            Some(false) => base.and_not_with(&t.in_stock),
            None => {}
        }
        if let Some(seller) = q.seller {
            match t.seller_ord.get(&seller) {
                Some(&o) => t.seller_sets[o as usize].and_into(&mut base),
                None => base.clear(),
            }
        }
        for &d in &self.exclude {
            base.remove(d);
        }

        let filters = facet_filters(t, q);
        let hits: Cow<'_, DocBits> = if filters.is_empty() {
            Cow::Borrowed(&base)
        } else {
            let mut hits = base.clone();
            for (_, f) in &filters {
                hits.and_with(f);
            }
            Cow::Owned(hits)
        };
        let total = hits.count();
        let top = self.top_k(&hits, total);

        let mut fruit = SegmentFruit { total, top, ..Default::default() };
        if q.facets {
            // The documents facet `group` counts over: every filter applies except the group's own.
            let universe = |group: Group| -> Cow<'_, DocBits> {
                match filters.iter().position(|(g, _)| *g == group) {
                    None => Cow::Borrowed(&*hits),
                    Some(own) => {
                        let mut u = base.clone();
                        for (i, (_, f)) in filters.iter().enumerate() {
                            if i != own {
                                u.and_with(f);
                            }
                        }
                        Cow::Owned(u)
                    }
                }
            };
            let u = universe(Group::Category);
            let counts = count_tokens(t, &u, 0..t.cat_ids.len() as u32, &t.cat_sets, |d| t.cats_of(d), t.cats.len());
            fruit.cats = counts.into_iter().map(|(o, n)| (t.cat_ids[o as usize], n)).collect();

            if !q.buckets.is_empty() {
                fruit.prices = count_prices(t, &universe(Group::Price), &q.buckets);
            }

            // Filtered option names count over their own universe; all others together over `hits`.
            let per_doc = |d: u32| t.opts_of(d);
            let mut unfiltered: Vec<u32> = Vec::new();
            let mut counts: Vec<(u32, u64)> = Vec::new();
            for (name_id, name) in t.opt_names.iter().enumerate() {
                let ords = t.name_ords[name_id].iter().copied();
                match q.options.iter().position(|(n, _)| n == name) {
                    Some(fi) => {
                        let u = universe(Group::Option(fi));
                        counts.extend(count_tokens(t, &u, ords, &t.opt_sets, per_doc, t.opts.len()));
                    }
                    None => unfiltered.extend(ords),
                }
            }
            let ords = unfiltered.iter().copied();
            counts.extend(count_tokens(t, &hits, ords, &t.opt_sets, per_doc, t.opts.len()));
            fruit.opts = counts
                .into_iter()
                .map(|(o, n)| {
                    let term = &t.opt_terms[o as usize];
                    (t.opt_names[term.name as usize].clone(), term.norm.clone(), term.display.clone(), n)
                })
                .collect();
        }
        fruit
    }

    fn score_of(&self, doc: DocId) -> Score {
        match self.scores.binary_search_by_key(&doc, |(d, _)| *d) {
            Ok(i) => self.scores[i].1,
            Err(_) => 0.0,
        }
    }

    fn candidate(&self, doc: DocId, score: Score) -> Candidate {
        Candidate {
            key: self.view.table.sort_key(self.q.sort, doc, score),
            addr: (u64::from(self.seg_ord) << 32) | u64::from(doc),
            score,
        }
    }

    fn top_k(&self, hits: &DocBits, total: u64) -> Vec<Candidate> {
        let k = self.q.top_k();
        if k == 0 || total == 0 {
            return Vec::new();
        }
        let t = &*self.view.table;
        let mut top = TopK { k, heap: BinaryHeap::with_capacity(k.min(total as usize)) };
        if self.scoring && self.q.sort == Sort::Relevance {
            for &(d, score) in &self.scores {
                if hits.contains(d) {
                    top.offer(self.candidate(d, score));
                }
            }
        } else if total.saturating_mul(8) < u64::from(t.max_doc) {
            // Few hits: rank them directly.
            for d in hits.iter() {
                top.offer(self.candidate(d, self.score_of(d)));
            }
        } else {
            // Many hits: the first k in the precomputed order are the best k.
            let mut found = Vec::with_capacity(k);
            for &d in t.order(self.q.sort) {
                if hits.contains(d) {
                    found.push(self.candidate(d, self.score_of(d)));
                    if found.len() == k {
                        break;
                    }
                }
            }
            return found;
        }
        top.heap.into_vec()
    }
}

/// The active facet filters, as document sets.
fn facet_filters(t: &SegmentTable, q: &NormQuery) -> Vec<(Group, DocBits)> {
    let mut filters = Vec::new();
    if let Some(cat) = q.category {
        let mut f = DocBits::empty(t.max_doc);
        if let Some(&o) = t.cat_ord.get(&cat) {
            t.cat_sets[o as usize].or_into(&mut f);
        }
        filters.push((Group::Category, f));
    }
    if let Some((min, max)) = q.price_range() {
        let mut f = DocBits::empty(t.max_doc);
        t.docs_with_price_in(min, max, &mut f);
        filters.push((Group::Price, f));
    }
    for (fi, (name, values)) in q.options.iter().enumerate() {
        let mut f = DocBits::empty(t.max_doc);
        if let Some(name_id) = t.opt_names.iter().position(|n| n == name) {
            for &o in &t.name_ords[name_id] {
                if values.binary_search(&t.opt_terms[o as usize].norm).is_ok() {
                    t.opt_sets[o as usize].or_into(&mut f);
                }
            }
        }
        filters.push((Group::Option(fi), f));
    }
    filters
}

/// Counts, for each ordinal in `ords`, the documents of `universe` having it; returns the non-zero
/// counts. Uses the per-ordinal document sets, or walks the universe's documents (`per_doc` gives a
/// document's ordinals, `total_vals` is the number of values of all documents) when that is cheaper.
fn count_tokens<'t>(
    t: &SegmentTable,
    universe: &DocBits,
    ords: impl Iterator<Item = u32> + Clone,
    sets: &[TokenSet],
    per_doc: impl Fn(u32) -> &'t [u32],
    total_vals: usize,
) -> Vec<(u32, u64)> {
    let set_cost: usize = ords.clone().map(|o| sets[o as usize].cost()).sum();
    if set_cost == 0 {
        return Vec::new();
    }
    let members = universe.count();
    if members == 0 {
        return Vec::new();
    }
    let vals_per_doc = total_vals / (t.max_doc as usize).max(1) + 1;
    if (members as usize).saturating_mul(vals_per_doc) * 2 < set_cost {
        // Count every ordinal the universe's documents have; report only the wanted ones.
        let mut counts = vec![0u32; sets.len()];
        for d in universe.iter() {
            for &o in per_doc(d) {
                counts[o as usize] += 1;
            }
        }
        ords.map(|o| (o, u64::from(counts[o as usize]))).filter(|(_, n)| *n > 0).collect()
    } else {
        ords.map(|o| (o, sets[o as usize].count_in(universe))).filter(|(_, n)| *n > 0).collect()
    }
}

/// Documents of `universe` per price bucket (a document counts once per bucket holding any of its prices).
fn count_prices(t: &SegmentTable, universe: &DocBits, buckets: &[i64]) -> Vec<u64> {
    let members = universe.count();
    if members.saturating_mul(4) < u64::from(t.max_doc) {
        let mut counts = vec![0u64; buckets.len() + 1];
        for d in universe.iter() {
            let mut last = usize::MAX;
            for &p in t.prices_of(d) {
                let b = bucket_of(buckets, p);
                if b != usize::MAX && b != last {
                    counts[b] += 1;
                    last = b;
                }
            }
        }
        counts
    } else {
        t.bucket_sets(buckets).iter().map(|set| set.count_in(universe)).collect()
    }
}

impl<T: TableSource> Collector for OnePassCollector<'_, T> {
    type Fruit = Vec<SegmentFruit>;
    type Child = OnePassSegment;

    fn for_segment(&self, seg_ord: SegmentOrdinal, reader: &SegmentReader) -> tantivy::Result<OnePassSegment> {
        let view = self.tables.view(reader)?;
        let mut exclude = Vec::new();
        if let Some(id) = self.q.exclude {
            let term = Term::from_field_text(self.id_field, &id_key(&id));
            if let Some(mut postings) =
                reader.inverted_index(self.id_field)?.read_postings(&term, IndexRecordOption::Basic)?
            {
                while postings.doc() != TERMINATED {
                    exclude.push(postings.doc());
                    postings.advance();
                }
            }
        }
        Ok(OnePassSegment {
            matched: DocBits::empty(reader.max_doc()),
            view,
            q: Arc::clone(&self.q),
            seg_ord,
            exclude,
            scoring: self.text.is_some(),
            scores: Vec::new(),
        })
    }

    fn requires_scoring(&self) -> bool {
        // Text scores come with `text`; the query the collector runs under is match-all.
        false
    }

    fn merge_fruits(&self, fruits: Vec<SegmentFruit>) -> tantivy::Result<Vec<SegmentFruit>> {
        Ok(fruits)
    }

    fn collect_segment(
        &self,
        _weight: &dyn Weight,
        seg_ord: u32,
        reader: &SegmentReader,
    ) -> tantivy::Result<SegmentFruit> {
        let mut seg = self.for_segment(seg_ord, reader)?;
        if self.q.match_all() {
            // Match-all: every alive document, no scorer needed.
            seg.matched = (*seg.view.alive).clone();
        } else {
            let alive = &*seg.view.alive;
            let docs = self.text.as_ref().and_then(|t| t.per_segment.get(&reader.segment_id()));
            for &(doc, score) in docs.map(Vec::as_slice).unwrap_or_default() {
                if alive.contains(doc) {
                    seg.matched.insert(doc);
                    seg.scores.push((doc, score));
                }
            }
        }
        Ok(seg.harvest())
    }
}
