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
use std::sync::{Arc, Mutex};

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::query::Weight;
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{DocId, DocSet, Score, SegmentOrdinal, SegmentReader, TERMINATED, Term};
use uuid::Uuid;

use crate::bits::{DocBits, TokenSet};
use crate::query::NormQuery;
use crate::schema::id_key;
use crate::table::{Combos, SegmentTable, f32_key};
use crate::types::Sort;
use crate::words::Matches;

/// A segment's decoded table together with the alive documents of the searched index state.
#[derive(Clone)]
pub(crate) struct SegmentView {
    pub table: Arc<SegmentTable>,
    pub alive: Arc<DocBits>,
    /// Facet tallies of all alive documents, per price-bucket layout, made on first use: a result
    /// set holding most documents (a listing page) is counted as these minus the few it lacks.
    pub alive_tallies: Arc<AliveTallies>,
}

/// Price-bucket layout → tally of the alive documents.
type AliveTallies = Mutex<Vec<(Vec<i64>, Arc<Tally>)>>;

impl SegmentView {
    pub fn new(table: Arc<SegmentTable>, alive: DocBits) -> SegmentView {
        SegmentView { table, alive: Arc::new(alive), alive_tallies: Arc::default() }
    }

    fn alive_tally(&self, buckets: &[i64], make: impl FnOnce() -> Tally) -> Arc<Tally> {
        let mut tallies = self.alive_tallies.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, tally)) = tallies.iter().find(|(b, _)| b == buckets) {
            return Arc::clone(tally);
        }
        let tally = Arc::new(make());
        if tallies.len() >= 4 {
            tallies.remove(0);
        }
        tallies.push((buckets.to_vec(), Arc::clone(&tally)));
        tally
    }
}

/// How many documents of a set have each category combination, option combination and
/// price-bucket mask.
pub(crate) struct Tally {
    cats: Vec<u32>,
    opts: Vec<u32>,
    masks: [u32; 256],
}

impl Tally {
    fn of(docs: &DocBits, cats: &Combos, opts: &Combos, masks: Option<&[u8]>) -> Tally {
        let mut tally = Tally { cats: vec![0; cats.len()], opts: vec![0; opts.len()], masks: [0; 256] };
        for d in docs.iter() {
            let d = d as usize;
            tally.cats[cats.of_doc[d] as usize] += 1;
            tally.opts[opts.of_doc[d] as usize] += 1;
            if let Some(masks) = masks {
                tally.masks[usize::from(masks[d])] += 1;
            }
        }
        tally
    }

    /// `self − other`, where `other` tallies a subset of `self`'s documents.
    fn minus(&self, other: &Tally) -> Tally {
        let sub = |a: &[u32], b: &[u32]| a.iter().zip(b).map(|(x, y)| x.saturating_sub(*y)).collect::<Vec<_>>();
        let mut masks = [0u32; 256];
        for (m, (x, y)) in masks.iter_mut().zip(self.masks.iter().zip(&other.masks)) {
            *m = x.saturating_sub(*y);
        }
        Tally { cats: sub(&self.cats, &other.cats), opts: sub(&self.opts, &other.opts), masks }
    }
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
    // Long because it is the search's one hot loop (match, filter, facet counts,
    // top-k) kept in one body so each document is visited once.
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
            let opt_strings = |(o, n): (u32, u64)| {
                let term = &t.opt_terms[o as usize];
                (t.opt_names[term.name as usize].clone(), term.norm.clone(), term.display.clone(), n)
            };
            if filters.is_empty()
                && let Some((cats, opts, prices)) = count_all(&self.view, &hits, total, &q.buckets)
            {
                let nonzero =
                    |c: Vec<u64>| c.into_iter().enumerate().filter(|(_, n)| *n > 0).map(|(o, n)| (o as u32, n));
                fruit.cats = nonzero(cats).map(|(o, n)| (t.cat_ids[o as usize], n)).collect();
                fruit.opts = nonzero(opts).map(opt_strings).collect();
                fruit.prices = prices;
            } else {
                let u = universe(Group::Category);
                let counts =
                    count_tokens(&u, 0..t.cat_ids.len() as u32, &t.cat_sets, t.cat_combos.as_ref(), |d| t.cats_of(d));
                fruit.cats = counts.into_iter().map(|(o, n)| (t.cat_ids[o as usize], n)).collect();

                // Filtered option names count over their own universe; all others together over `hits`.
                let per_doc = |d: u32| t.opts_of(d);
                let mut unfiltered: Vec<u32> = Vec::new();
                let mut counts: Vec<(u32, u64)> = Vec::new();
                for (name_id, name) in t.opt_names.iter().enumerate() {
                    let ords = t.name_ords[name_id].iter().copied();
                    match q.options.iter().position(|(n, _)| n == name) {
                        Some(fi) => {
                            let u = universe(Group::Option(fi));
                            counts.extend(count_tokens(&u, ords, &t.opt_sets, t.opt_combos.as_ref(), per_doc));
                        }
                        None => unfiltered.extend(ords),
                    }
                }
                let ords = unfiltered.iter().copied();
                counts.extend(count_tokens(&hits, ords, &t.opt_sets, t.opt_combos.as_ref(), per_doc));
                fruit.opts = counts.into_iter().map(opt_strings).collect();
                if !q.buckets.is_empty() {
                    fruit.prices = count_prices(t, &universe(Group::Price), &q.buckets);
                }
            }
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
            // Once k are kept, a score below the worst kept one cannot enter: skip it before
            // building its key (the key's primary part is the score).
            let mut floor = 0u64;
            for &(d, score) in &self.scores {
                if !hits.contains(d) || u64::from(f32_key(score)) < floor {
                    continue;
                }
                top.offer(self.candidate(d, score));
                if top.heap.len() == k
                    && let Some(worst) = top.heap.peek()
                {
                    floor = (worst.key >> 64) as u64;
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
/// counts. Intersects the universe with each ordinal's document set, or, when cheaper, walks the
/// universe's documents: counting their value combinations (`combos`) and expanding those, or
/// without combinations their values (`per_doc`).
fn count_tokens<'t>(
    universe: &DocBits,
    ords: impl Iterator<Item = u32> + Clone,
    sets: &[TokenSet],
    combos: Option<&Combos>,
    per_doc: impl Fn(u32) -> &'t [u32],
) -> Vec<(u32, u64)> {
    let set_cost: usize = ords.clone().map(|o| sets[o as usize].cost()).sum();
    if set_cost == 0 {
        return Vec::new();
    }
    let members = universe.count() as usize;
    if members == 0 {
        return Vec::new();
    }
    let counts = match combos {
        Some(c) if counting(members.saturating_mul(WALK_COST).saturating_add(c.len()) < set_cost) == Counting::Walk => {
            let mut per_combo = vec![0u32; c.len()];
            for d in universe.iter() {
                per_combo[c.of_doc[d as usize] as usize] += 1;
            }
            c.expand(&per_combo, sets.len())
        }
        None if counting(members.saturating_mul(8 * WALK_COST) < set_cost) == Counting::Walk => {
            let mut counts = vec![0u64; sets.len()];
            for d in universe.iter() {
                for &o in per_doc(d) {
                    counts[o as usize] += 1;
                }
            }
            counts
        }
        _ => return ords.map(|o| (o, sets[o as usize].count_in(universe))).filter(|(_, n)| *n > 0).collect(),
    };
    ords.map(|o| (o, counts[o as usize])).filter(|(_, n)| *n > 0).collect()
}

/// What visiting one document of a walk costs, in units of one 64-bit word of a set intersection
/// (measured: a walk of 96k documents takes about four times as long as intersecting sets of that
/// many words).
const WALK_COST: usize = 4;

/// How facet values are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Counting {
    /// Intersect the result set with each value's document set.
    Sets,
    /// Walk the result set's documents.
    Walk,
}

#[cfg(test)]
thread_local! {
    /// Tests force one way of counting to compare it with the other.
    pub(crate) static FORCE_COUNTING: std::cell::Cell<Option<Counting>> = const { std::cell::Cell::new(None) };
}

/// The way to count: walking when `walk_is_cheaper` (tests may force either).
#[inline]
fn counting(walk_is_cheaper: bool) -> Counting {
    #[cfg(test)]
    if let Some(forced) = FORCE_COUNTING.with(std::cell::Cell::get) {
        return forced;
    }
    if walk_is_cheaper { Counting::Walk } else { Counting::Sets }
}

/// Documents of `universe` per price bucket (a document counts once per bucket holding any of its prices).
fn count_prices(t: &SegmentTable, universe: &DocBits, buckets: &[i64]) -> Vec<u64> {
    let layout = t.bucket_layout(buckets);
    let members = universe.count();
    match &layout.masks {
        Some(masks) if counting(members.saturating_mul(4) < u64::from(t.max_doc)) == Counting::Walk => {
            let mut per_mask = [0u32; 256];
            for d in universe.iter() {
                per_mask[usize::from(masks[d as usize])] += 1;
            }
            expand_masks(&per_mask, buckets.len() + 1)
        }
        _ => layout.sets.iter().map(|set| set.count_in(universe)).collect(),
    }
}

/// Per-bucket counts from the number of documents with each bucket mask.
fn expand_masks(per_mask: &[u32; 256], buckets: usize) -> Vec<u64> {
    let mut counts = vec![0u64; buckets];
    for (mask, &n) in per_mask.iter().enumerate().filter(|(_, n)| **n > 0) {
        for (b, count) in counts.iter_mut().enumerate() {
            if mask & (1 << b) != 0 {
                *count += u64::from(n);
            }
        }
    }
    counts
}

/// Category, option-value and price-bucket counts over `universe` (`members` alive documents of
/// `view`) from one walk over its documents (their category and option combinations and price
/// masks) — or, when it holds most of the alive documents, over the ones it lacks, subtracted from
/// the alive documents' tally. `None` when the segment has no combinations or intersecting the
/// sets is cheaper.
fn count_all(
    view: &SegmentView,
    universe: &DocBits,
    members: u64,
    buckets: &[i64],
) -> Option<(Vec<u64>, Vec<u64>, Vec<u64>)> {
    let t = &*view.table;
    let (cc, oc) = (t.cat_combos.as_ref()?, t.opt_combos.as_ref()?);
    let set_cost: usize = t.cat_sets.iter().chain(&t.opt_sets).map(TokenSet::cost).sum();
    let outside = view.alive.count().saturating_sub(members);
    let walk = members.min(outside) as usize;
    let cheaper = walk.saturating_mul(WALK_COST) + cc.len() + oc.len() < set_cost;
    if counting(cheaper) == Counting::Sets {
        return None;
    }
    let layout = (!buckets.is_empty()).then(|| t.bucket_layout(buckets));
    let masks = match &layout {
        Some(layout) => Some(layout.masks.as_deref()?),
        None => None,
    };
    let tally = if members <= outside {
        Tally::of(universe, cc, oc, masks)
    } else {
        let alive = view.alive_tally(buckets, || Tally::of(&view.alive, cc, oc, masks));
        let mut lacking = (*view.alive).clone();
        lacking.and_not_with(universe);
        alive.minus(&Tally::of(&lacking, cc, oc, masks))
    };
    let prices = if masks.is_some() { expand_masks(&tally.masks, buckets.len() + 1) } else { Vec::new() };
    Some((cc.expand(&tally.cats, t.cat_ids.len()), oc.expand(&tally.opts, t.opt_terms.len()), prices))
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
            let docs = docs.map(Vec::as_slice).unwrap_or_default();
            seg.scores.reserve_exact(docs.len());
            for &(doc, score) in docs {
                if alive.contains(doc) {
                    seg.matched.insert(doc);
                    seg.scores.push((doc, score));
                }
            }
        }
        Ok(seg.harvest())
    }
}
