//! The tantivy schema, the text analyzer, and `SearchDoc` → tantivy document conversion.
//!
//! Text fields (title, tags, description) are indexed with term frequencies (no positions: there are
//! no phrase queries). Everything filters and facets read lives in fast fields (columnar):
//! numbers as numeric columns, and ids / option pairs as dictionary-encoded `str` columns whose
//! per-segment term ordinals are what the collector counts. Only `id` and `summary` are stored.

use tantivy::schema::{FAST, Field, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions};
use tantivy::tokenizer::{AsciiFoldingFilter, LowerCaser, RemoveLongFilter, SimpleTokenizer, TextAnalyzer};
use tantivy::{Index, TantivyDocument};
use uuid::Uuid;

use crate::types::SearchDoc;

/// Bump whenever the schema, the analyzer or the meaning of any stored/indexed value changes: an
/// index written with another version is wiped and rebuilt by the caller.
pub const SCHEMA_VERSION: u32 = 1;

/// Name under which the analyzer is registered on every opened index.
pub(crate) const ANALYZER: &str = "emporium";

/// Separator inside an option term: `name SEP lower(value) SEP display value`.
pub(crate) const OPT_SEP: char = '\u{1f}';

pub(crate) const F_CREATED: &str = "created_at";
pub(crate) const F_RATING: &str = "rating_avg";
pub(crate) const F_RATING_COUNT: &str = "rating_count";
pub(crate) const F_IN_STOCK: &str = "in_stock";
pub(crate) const F_PRICES: &str = "prices";
pub(crate) const F_SELLER: &str = "seller";
pub(crate) const F_CATS: &str = "cats";
pub(crate) const F_OPTS: &str = "opts";

/// Field handles.
#[derive(Debug, Clone)]
pub(crate) struct Fields {
    pub id: Field,
    pub title: Field,
    pub tags: Field,
    pub description: Field,
    pub summary: Field,
    pub seller: Field,
    pub cats: Field,
    pub opts: Field,
    pub prices: Field,
    pub in_stock: Field,
    pub rating: Field,
    pub rating_count: Field,
    pub created: Field,
}

/// The text fields searched, with their boosts.
impl Fields {
    pub fn text_fields(&self) -> [(Field, f32); 3] {
        [(self.title, 3.0), (self.tags, 2.0), (self.description, 1.0)]
    }
}

pub(crate) fn build_schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let text = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default().set_tokenizer(ANALYZER).set_index_option(IndexRecordOption::WithFreqs),
    );
    let fast_str = TextOptions::default().set_fast("raw");
    let fields = Fields {
        id: b.add_text_field("id", STRING | STORED),
        title: b.add_text_field("title", text.clone()),
        tags: b.add_text_field("tags", text.clone()),
        description: b.add_text_field("description", text),
        summary: b.add_text_field("summary", STORED),
        seller: b.add_text_field(F_SELLER, fast_str.clone()),
        cats: b.add_text_field(F_CATS, fast_str.clone()),
        opts: b.add_text_field(F_OPTS, fast_str),
        prices: b.add_i64_field(F_PRICES, FAST),
        in_stock: b.add_bool_field(F_IN_STOCK, FAST),
        rating: b.add_f64_field(F_RATING, FAST),
        rating_count: b.add_u64_field(F_RATING_COUNT, FAST),
        created: b.add_i64_field(F_CREATED, FAST),
    };
    // No numeric field is INDEXED: filters run on fast fields inside the collector.
    (b.build(), fields)
}

/// The analyzer used for indexing and for query words: split on non-alphanumerics, lower-case,
/// ASCII-fold, drop absurdly long tokens.
pub(crate) fn analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(48))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .build()
}

pub(crate) fn register_analyzer(index: &Index) {
    index.tokenizers().register(ANALYZER, analyzer());
}

/// The token strings of `text`, as indexed.
pub(crate) fn tokenize(text: &str) -> Vec<String> {
    let mut analyzer = analyzer();
    let mut stream = analyzer.token_stream(text);
    let mut out = Vec::new();
    while let Some(token) = stream.next() {
        out.push(token.text.clone());
    }
    out
}

/// Canonical key form of ids inside the index.
pub(crate) fn id_key(id: &Uuid) -> String {
    id.simple().to_string()
}

/// Normalised option name: trimmed, lower-cased, separator removed.
pub(crate) fn norm_name(name: &str) -> String {
    name.trim().to_lowercase().replace(OPT_SEP, "")
}

/// Display form of an option value: trimmed, separator removed.
pub(crate) fn display_value(value: &str) -> String {
    value.trim().replace(OPT_SEP, "")
}

/// Comparison form of an option value: trimmed, lower-cased, separator removed.
pub(crate) fn norm_value(value: &str) -> String {
    display_value(value).to_lowercase()
}

/// Splits an option term back into (name, normalised value, display value).
pub(crate) fn split_opt_term(term: &str) -> Option<(&str, &str, &str)> {
    let mut parts = term.splitn(3, OPT_SEP);
    Some((parts.next()?, parts.next()?, parts.next()?))
}

pub(crate) fn to_document(f: &Fields, d: &SearchDoc) -> TantivyDocument {
    let mut doc = TantivyDocument::new();
    doc.add_text(f.id, id_key(&d.id));
    doc.add_text(f.title, &d.title);
    doc.add_text(f.description, &d.description);
    for tag in &d.tags {
        doc.add_text(f.tags, tag);
    }
    doc.add_text(f.summary, &d.summary_json);
    doc.add_text(f.seller, id_key(&d.seller_id));
    let mut seen_cats: Vec<&Uuid> = Vec::with_capacity(d.category_path.len());
    for cat in &d.category_path {
        if !seen_cats.contains(&cat) {
            seen_cats.push(cat);
            doc.add_text(f.cats, id_key(cat));
        }
    }
    // One term per (name, value-ignoring-case) per product, so counts never double.
    let mut seen_opts: Vec<(String, String)> = Vec::with_capacity(d.options.len());
    for (name, value) in &d.options {
        let (name, norm, display) = (norm_name(name), norm_value(value), display_value(value));
        if name.is_empty() || norm.is_empty() || seen_opts.iter().any(|(n, v)| *n == name && *v == norm) {
            continue;
        }
        doc.add_text(f.opts, format!("{name}{OPT_SEP}{norm}{OPT_SEP}{display}"));
        seen_opts.push((name, norm));
    }
    let mut prices = d.prices.clone();
    prices.sort_unstable();
    prices.dedup();
    for p in prices {
        doc.add_i64(f.prices, p);
    }
    doc.add_bool(f.in_stock, d.in_stock);
    doc.add_f64(f.rating, if d.rating_avg.is_finite() { d.rating_avg } else { 0.0 });
    doc.add_u64(f.rating_count, u64::from(d.rating_count));
    doc.add_i64(f.created, d.created_at);
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokenizer_lowercases_folds_and_splits() {
        assert_eq!(tokenize("Zéphyr-Hoodie, 2XL!"), vec!["zephyr", "hoodie", "2xl"]);
    }

    #[test]
    fn option_terms_round_trip() {
        let term = format!("size{OPT_SEP}m{OPT_SEP}M");
        assert_eq!(split_opt_term(&term), Some(("size", "m", "M")));
    }
}
