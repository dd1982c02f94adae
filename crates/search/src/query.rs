//! Query normalisation (also the result-cache key) and the full-text query of one word.

use std::sync::Arc;

use anyhow::bail;
use tantivy::Term;
use tantivy::query::{
    AutomatonWeight, BooleanQuery, BoostQuery, DfaWrapper, EnableScoring, FuzzyTermQuery, Occur, PhrasePrefixQuery,
    Query, TermQuery, Weight,
};
use tantivy::schema::{Field, IndexRecordOption};
use uuid::Uuid;

use crate::schema::{Fields, norm_name, norm_value, tokenize};
use crate::types::{SearchQuery, Sort};

/// Largest page size served.
pub const MAX_LIMIT: usize = 1_000;
/// Query words beyond this many are ignored.
pub const MAX_WORDS: usize = 10;
/// Most distinct option names a query may filter on.
pub const MAX_OPTION_FILTERS: usize = 62;

/// Constant score of a prefix match, relative to the field boost. BM25 scores of exact matches
/// are typically 1–10 per field, and a document matching a word exactly also matches the prefix
/// and fuzzy clauses, so exact matches always outrank prefix-only and fuzzy-only ones.
const PREFIX_SCORE: f32 = 0.3;
/// Constant score of a fuzzy (typo-tolerant) match, relative to the field boost.
const FUZZY_SCORE: f32 = 0.2;

/// A `SearchQuery` in canonical form: equal results ⇔ equal `NormQuery` (used as the cache key).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct NormQuery {
    /// Analysed query words (lower-cased, folded); empty = match all.
    pub words: Vec<String>,
    pub category: Option<Uuid>,
    pub min_price: Option<i64>,
    pub max_price: Option<i64>,
    /// Normalised names (sorted, unique) → normalised values (sorted, unique, non-empty).
    pub options: Vec<(String, Vec<String>)>,
    pub in_stock: Option<bool>,
    pub seller: Option<Uuid>,
    pub exclude: Option<Uuid>,
    pub sort: Sort,
    pub offset: usize,
    pub limit: usize,
    /// Price-facet boundaries: ascending, unique, positive. Empty unless facets are requested.
    pub buckets: Vec<i64>,
    pub facets: bool,
}

impl NormQuery {
    pub fn new(q: &SearchQuery) -> anyhow::Result<NormQuery> {
        let mut words = q.text.as_deref().map(tokenize).unwrap_or_default();
        words.truncate(MAX_WORDS);

        let mut options: Vec<(String, Vec<String>)> = Vec::new();
        for (name, values) in &q.options {
            let name = norm_name(name);
            let values: Vec<String> = values.iter().map(|v| norm_value(v)).filter(|v| !v.is_empty()).collect();
            if name.is_empty() || values.is_empty() {
                continue;
            }
            match options.iter_mut().find(|(n, _)| *n == name) {
                Some((_, vs)) => vs.extend(values),
                None => options.push((name, values)),
            }
        }
        for (_, vs) in &mut options {
            vs.sort_unstable();
            vs.dedup();
        }
        options.sort_unstable();
        if options.len() > MAX_OPTION_FILTERS {
            bail!("too many option filters ({} > {MAX_OPTION_FILTERS})", options.len());
        }

        let mut buckets: Vec<i64> =
            if q.facets { q.price_buckets.iter().copied().filter(|b| *b > 0).collect() } else { Vec::new() };
        buckets.sort_unstable();
        buckets.dedup();

        Ok(NormQuery {
            words,
            category: q.category,
            min_price: q.min_price,
            max_price: q.max_price,
            options,
            in_stock: q.in_stock,
            seller: q.seller,
            exclude: q.exclude,
            sort: q.sort,
            offset: q.offset,
            limit: q.limit.min(MAX_LIMIT),
            buckets,
            facets: q.facets,
        })
    }

    /// The inclusive price range of the price filter, if one is active.
    pub fn price_range(&self) -> Option<(i64, i64)> {
        match (self.min_price, self.max_price) {
            (None, None) => None,
            (min, max) => Some((min.unwrap_or(i64::MIN), max.unwrap_or(i64::MAX))),
        }
    }

    pub fn match_all(&self) -> bool {
        self.words.is_empty()
    }

    /// How many best hits each segment must keep.
    pub fn top_k(&self) -> usize {
        if self.limit == 0 { 0 } else { self.offset.saturating_add(self.limit) }
    }
}

/// Edit distance allowed for a query word of `chars` characters.
fn fuzzy_distance(chars: usize) -> u8 {
    match chars {
        0..=3 => 0,
        4..=7 => 1,
        _ => 2,
    }
}

/// Matches the terms of one field accepted by a Levenshtein automaton that is built once per
/// query word and shared by the three text fields (building it is the costly part).
#[derive(Clone)]
struct SharedFuzzyQuery {
    field: Field,
    dfa: Arc<DfaWrapper>,
}

impl std::fmt::Debug for SharedFuzzyQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedFuzzyQuery").field("field", &self.field).finish_non_exhaustive()
    }
}

impl Query for SharedFuzzyQuery {
    fn weight(&self, _scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(AutomatonWeight::<DfaWrapper>::new(self.field, Arc::clone(&self.dfa))))
    }
}

/// The query for one word of the full-text query: the word matches exactly, as a prefix (`last`
/// word only, ≥ 2 chars) or within the fuzzy distance, in title (boost 3), tags (2) or description
/// (1). Exact matches are BM25-scored; prefix and fuzzy matches add a small constant. A document
/// matches the whole text when it matches every word; its score is the sum of the words' scores.
pub(crate) fn word_query(fields: &Fields, word: &str, last: bool) -> anyhow::Result<Box<dyn Query>> {
    let chars = word.chars().count();
    let distance = fuzzy_distance(chars);
    let dfa = if distance > 0 {
        let probe = Term::from_field_text(fields.title, word);
        Some(Arc::new(FuzzyTermQuery::new(probe, distance, true).automaton()?))
    } else {
        None
    };
    let mut shoulds: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    for (field, boost) in fields.text_fields() {
        let term = Term::from_field_text(field, word);
        let exact = TermQuery::new(term.clone(), IndexRecordOption::WithFreqs);
        shoulds.push((Occur::Should, Box::new(BoostQuery::new(Box::new(exact), boost))));
        if last && chars >= 2 {
            // A single-term phrase prefix is a term-range scan: every term starting with `word`.
            let mut prefix = PhrasePrefixQuery::new(vec![term]);
            prefix.set_max_expansions(u32::MAX);
            shoulds.push((Occur::Should, Box::new(BoostQuery::new(Box::new(prefix), boost * PREFIX_SCORE))));
        }
        if let Some(dfa) = &dfa {
            let fuzzy = SharedFuzzyQuery { field, dfa: Arc::clone(dfa) };
            shoulds.push((Occur::Should, Box::new(BoostQuery::new(Box::new(fuzzy), boost * FUZZY_SCORE))));
        }
    }
    Ok(Box::new(BooleanQuery::new(shoulds)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_is_canonical() {
        let a = SearchQuery {
            text: Some("  Zephyr   HOODIE ".into()),
            options: vec![("Size".into(), vec!["l".into(), " M ".into()]), ("colour".into(), vec!["Red".into()])],
            price_buckets: vec![5000, 2500, 2500, 0],
            facets: true,
            ..Default::default()
        };
        let b = SearchQuery {
            text: Some("zephyr hoodie".into()),
            options: vec![("colour".into(), vec!["red".into()]), ("size".into(), vec!["M".into(), "L".into()])],
            price_buckets: vec![2500, 5000],
            facets: true,
            ..Default::default()
        };
        let (na, nb) = (NormQuery::new(&a).unwrap(), NormQuery::new(&b).unwrap());
        assert_eq!(na, nb);
        assert_eq!(na.words, vec!["zephyr", "hoodie"]);
        assert_eq!(na.buckets, vec![2500, 5000]);
    }

    #[test]
    fn fuzzy_distances() {
        assert_eq!(fuzzy_distance(3), 0);
        assert_eq!(fuzzy_distance(4), 1);
        assert_eq!(fuzzy_distance(7), 1);
        assert_eq!(fuzzy_distance(8), 2);
    }
}
