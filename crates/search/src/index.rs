//! `SearchIndex`: opening (with lock, version check and self-repair), writing, searching.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use crate::threads::SearchThreads;

use anyhow::{Context, anyhow};
use serde::{Deserialize, Serialize};
use tantivy::directory::MmapDirectory;
use tantivy::index::SegmentId;
use tantivy::indexer::{IndexWriterOptions, NoMergePolicy};
use tantivy::query::{AllQuery, EnableScoring, Query as _};
use tantivy::schema::Value;
use tantivy::{
    DocAddress, Index, IndexReader, IndexSettings, IndexWriter, ReloadPolicy, Searcher, SegmentReader, TantivyDocument,
    TantivyError, Term,
};
use tracing::{info, warn};
use uuid::Uuid;

use crate::bits::DocBits;
use crate::cache::ResultCache;
use crate::collector::{Candidate, OnePassCollector, SegmentFruit, SegmentView, TableSource};
use crate::query::{NormQuery, word_query};
use crate::schema::{Fields, SCHEMA_VERSION, build_schema, id_key, register_analyzer, to_document};
use crate::table::SegmentTable;
use crate::types::{Facets, Hit, PriceBucket, SearchDoc, SearchQuery, SearchResults};
use crate::words::{Matches, WordCache};

/// Default number of cached result sets.
pub const DEFAULT_CACHE_CAPACITY: usize = 1_024;
/// Indexing heap of the long-lived writer used by `apply` (one indexing thread).
const APPLY_WRITER_HEAP: usize = 32_000_000;
/// Indexing heap per thread (two threads) of the temporary writer used by `rebuild`.
const REBUILD_WRITER_HEAP_PER_THREAD: usize = 60_000_000;
/// Held (OS advisory lock) for the lifetime of a `SearchIndex` opened on a directory.
const PROCESS_LOCK_FILE: &str = ".emporium-search.lock";

/// What the index keeps in each commit's payload.
#[derive(Debug, Serialize, Deserialize)]
struct Payload {
    schema_version: u32,
    fingerprint: Option<String>,
}

/// The embedded product-search index. Cheap to clone; all clones share one index.
#[derive(Clone)]
pub struct SearchIndex {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchIndex").field("dir", &self.inner.dir).field("num_docs", &self.num_docs()).finish()
    }
}

struct Inner {
    index: Index,
    fields: Fields,
    reader: IndexReader,
    /// `None` only transiently (rebuild swaps in a bigger writer) or if re-creating it failed.
    writer: Mutex<Option<IndexWriter>>,
    state: RwLock<Arc<State>>,
    cache_capacity: AtomicUsize,
    /// Where [`SearchIndex::search_async`] runs searches: a thread per core.
    searching: SearchThreads,
    dir: Option<PathBuf>,
    /// Keeps other processes out of the directory; released on drop.
    _process_lock: Option<fs::File>,
}

/// One committed, searchable version of the index. Searches take an `Arc` of the current state, so
/// a concurrent commit never changes what a running search sees; the cache dies with its state.
struct State {
    searcher: Searcher,
    views: HashMap<SegmentId, SegmentView>,
    fingerprint: Option<String>,
    cache: ResultCache,
    words: WordCache,
}

impl TableSource for State {
    fn view(&self, reader: &SegmentReader) -> tantivy::Result<SegmentView> {
        match self.views.get(&reader.segment_id()) {
            Some(v) => Ok(v.clone()),
            // Not expected: every state builds the views of its searcher's segments.
            None => segment_view(reader, None).map_err(|e| TantivyError::InternalError(format!("{e:#}"))),
        }
    }
}

/// The view of a segment in the current state: its table (reused from `old` when possible) and
/// its alive documents.
fn segment_view(seg: &SegmentReader, old: Option<&SegmentView>) -> anyhow::Result<SegmentView> {
    let table = match old {
        Some(v) => Arc::clone(&v.table),
        None => Arc::new(SegmentTable::build(seg).with_context(|| format!("reading segment {:?}", seg.segment_id()))?),
    };
    let alive = match seg.alive_bitset() {
        None => DocBits::full(seg.max_doc()),
        Some(bits) => {
            let mut alive = DocBits::empty(seg.max_doc());
            (0..seg.max_doc()).filter(|d| bits.is_alive(*d)).for_each(|d| alive.insert(d));
            alive
        }
    };
    Ok(SegmentView::new(table, alive))
}

/// Why an existing index could not be opened.
enum OpenError {
    /// Another writer holds the directory: never wipe.
    Locked(anyhow::Error),
    /// Unreadable, corrupt or incompatible: wipe and recreate.
    Unusable(anyhow::Error),
    /// The process could not start its search threads: never wipe.
    NoThreads(anyhow::Error),
}

fn unusable<E: Into<anyhow::Error>>(e: E) -> OpenError {
    OpenError::Unusable(e.into())
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn locked_error(dir: &Path) -> anyhow::Error {
    anyhow!(
        "the search index at {} is locked by another process (probably a running server); stop it or use another \
         directory",
        dir.display()
    )
}

/// Doc-store block size: each hit on a page decompresses one block, so keep them small.
const DOCSTORE_BLOCK: usize = 4_096;

fn index_settings() -> IndexSettings {
    IndexSettings {
        docstore_compression: tantivy::store::Compressor::Lz4,
        docstore_blocksize: DOCSTORE_BLOCK,
        ..Default::default()
    }
}

fn apply_writer(index: &Index) -> tantivy::Result<IndexWriter> {
    let options = IndexWriterOptions::builder()
        .num_worker_threads(1)
        .memory_budget_per_thread(APPLY_WRITER_HEAP)
        .num_merge_threads(1)
        .build();
    open_writer(index, options)
}

/// How long a writer lock that was just released may still look busy.
const WRITER_LOCK_PATIENCE: std::time::Duration = std::time::Duration::from_secs(2);

/// Opens a writer, waiting out a transient lock failure.
///
/// `rebuild` swaps writers: it drops the long-lived one and opens its own, then the reverse. The
/// writer lock is an `flock` on a file, which is released only when every copy of its descriptor is
/// closed — and a process spawned by another thread at that moment (a `fork` before its `exec`)
/// briefly holds a copy. Other processes are kept out by `PROCESS_LOCK_FILE`, so a busy lock here is
/// either that brief copy (worth a short wait) or a second `SearchIndex` in this process on the same
/// directory, which `open` refuses anyway.
fn open_writer(index: &Index, options: IndexWriterOptions) -> tantivy::Result<IndexWriter> {
    let deadline = std::time::Instant::now() + WRITER_LOCK_PATIENCE;
    loop {
        match index.writer_with_options(options.clone()) {
            Err(TantivyError::LockFailure(..)) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            other => return other,
        }
    }
}

fn commit(writer: &mut IndexWriter, fingerprint: Option<&str>) -> anyhow::Result<()> {
    let payload = serde_json::to_string(&Payload {
        schema_version: SCHEMA_VERSION,
        fingerprint: fingerprint.map(str::to_owned),
    })?;
    let mut prepared = writer.prepare_commit()?;
    prepared.set_payload(&payload);
    prepared.commit()?;
    Ok(())
}

/// Removes everything in `dir` except the process lock file.
fn wipe_dir(dir: &Path) -> anyhow::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_name() == PROCESS_LOCK_FILE {
            continue;
        }
        let path = entry.path();
        if entry.file_type()?.is_dir() { fs::remove_dir_all(&path) } else { fs::remove_file(&path) }
            .with_context(|| format!("removing {}", path.display()))?;
    }
    Ok(())
}

fn acquire_process_lock(dir: &Path) -> anyhow::Result<fs::File> {
    let path = dir.join(PROCESS_LOCK_FILE);
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => Err(locked_error(dir)),
        Err(fs::TryLockError::Error(e)) => Err(anyhow::Error::new(e).context(format!("locking {}", path.display()))),
    }
}

impl Inner {
    /// Sets up writer, reader and first state around an opened or created index.
    fn new(index: Index, fingerprint: Option<String>, dir: Option<PathBuf>) -> Result<Inner, OpenError> {
        register_analyzer(&index);
        let (_, fields) = build_schema();
        let writer = apply_writer(&index).map_err(|e| match e {
            TantivyError::LockFailure(..) => {
                OpenError::Locked(dir.as_deref().map_or_else(|| anyhow!(e.to_string()), locked_error))
            }
            other => OpenError::Unusable(other.into()),
        })?;
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into().map_err(unusable)?;
        let state = new_state(&reader, None, fingerprint).map_err(unusable)?;
        Ok(Inner {
            index,
            fields,
            reader,
            writer: Mutex::new(Some(writer)),
            state: RwLock::new(Arc::new(state)),
            cache_capacity: AtomicUsize::new(DEFAULT_CACHE_CAPACITY),
            searching: SearchThreads::new(std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get))
                .map_err(|e| OpenError::NoThreads(e.into()))?,
            dir,
            _process_lock: None,
        })
    }

    fn state(&self) -> Arc<State> {
        Arc::clone(&self.state.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Makes the last commit visible: reloads the reader and publishes a new state (reusing the
    /// tables of unchanged segments).
    fn publish(&self, fingerprint: Option<String>) -> anyhow::Result<()> {
        self.reader.reload()?;
        let old = self.state();
        let state = new_state(&self.reader, Some(&old), fingerprint)?;
        *self.state.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(state);
        Ok(())
    }
}

fn new_state(reader: &IndexReader, old: Option<&State>, fingerprint: Option<String>) -> anyhow::Result<State> {
    let searcher = reader.searcher();
    let mut views = HashMap::new();
    for seg in searcher.segment_readers() {
        let id = seg.segment_id();
        views.insert(id, segment_view(seg, old.and_then(|o| o.views.get(&id)))?);
    }
    tracing::debug!(
        segments = views.len(),
        table_bytes = views.values().map(|v| v.table.heap_bytes()).sum::<usize>(),
        "search index state published"
    );
    Ok(State { searcher, views, fingerprint, cache: ResultCache::default(), words: WordCache::default() })
}

/// Opens the index found in `dir`; `Ok(None)` when there is none.
fn open_existing(dir: &Path) -> Result<Option<Inner>, OpenError> {
    let checked = (|| -> anyhow::Result<Option<(Index, Option<String>)>> {
        let directory = MmapDirectory::open(dir)?;
        if !Index::exists(&directory)? {
            return Ok(None);
        }
        let index = Index::open(directory)?;
        if index.schema() != build_schema().0 {
            anyhow::bail!("schema differs");
        }
        let payload = index.load_metas()?.payload.context("no commit payload")?;
        let payload: Payload = serde_json::from_str(&payload).context("bad commit payload")?;
        if payload.schema_version != SCHEMA_VERSION {
            anyhow::bail!("schema version {} (this build uses {SCHEMA_VERSION})", payload.schema_version);
        }
        let corrupt = index.validate_checksum()?;
        if !corrupt.is_empty() {
            anyhow::bail!("corrupt files: {corrupt:?}");
        }
        Ok(Some((index, payload.fingerprint)))
    })()
    .map_err(unusable)?;
    match checked {
        None => Ok(None),
        Some((index, fingerprint)) => Inner::new(index, fingerprint, Some(dir.to_path_buf())).map(Some),
    }
}

impl SearchIndex {
    /// Opens or creates the index in `dir` (created if missing). The directory belongs to the
    /// index: if it holds an index of another schema version, or anything unreadable or corrupt,
    /// its content is deleted (with a warning) and an empty index is created; the caller then
    /// reindexes (see [`fingerprint`](Self::fingerprint)). Fails with a clear error if another
    /// process (a running server) has the directory open.
    pub fn open(dir: &Path) -> anyhow::Result<SearchIndex> {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let process_lock = acquire_process_lock(dir)?;
        match open_existing(dir) {
            Ok(Some(mut inner)) => {
                info!(dir = %dir.display(), docs = inner.state().searcher.num_docs(), "search index opened");
                inner._process_lock = Some(process_lock);
                return Ok(SearchIndex { inner: Arc::new(inner) });
            }
            Ok(None) => {
                let has_garbage = fs::read_dir(dir)?.flatten().any(|e| e.file_name() != PROCESS_LOCK_FILE);
                if has_garbage {
                    warn!(dir = %dir.display(), "search index directory holds no index but other files; wiping it");
                }
            }
            Err(OpenError::Locked(e) | OpenError::NoThreads(e)) => return Err(e),
            Err(OpenError::Unusable(e)) => {
                warn!(dir = %dir.display(), error = %format!("{e:#}"), "search index unusable; recreating it empty");
            }
        }
        wipe_dir(dir)?;
        let index = Index::builder()
            .schema(build_schema().0)
            .settings(index_settings())
            .create_in_dir(dir)
            .with_context(|| format!("creating search index in {}", dir.display()))?;
        Self::init_new(index, Some(dir.to_path_buf()), Some(process_lock))
    }

    /// A fresh index in memory (tests, benchmarks).
    pub fn open_in_ram() -> anyhow::Result<SearchIndex> {
        let index = Index::builder().schema(build_schema().0).settings(index_settings()).create_in_ram()?;
        Self::init_new(index, None, None)
    }

    fn init_new(index: Index, dir: Option<PathBuf>, process_lock: Option<fs::File>) -> anyhow::Result<SearchIndex> {
        let mut inner = Inner::new(index, None, dir).map_err(|e| match e {
            OpenError::Locked(e) | OpenError::Unusable(e) | OpenError::NoThreads(e) => e,
        })?;
        inner._process_lock = process_lock;
        // Write the payload (schema version) right away so a reopen recognises the index.
        {
            let mut guard = lock(&inner.writer);
            let writer = guard.as_mut().context("index writer unavailable")?;
            commit(writer, None)?;
        }
        inner.publish(None)?;
        Ok(SearchIndex { inner: Arc::new(inner) })
    }

    /// The string passed with the last commit (`apply` or `rebuild`), if any.
    pub fn fingerprint(&self) -> Option<String> {
        self.inner.state().fingerprint.clone()
    }

    /// Number of (live) products in the index.
    pub fn num_docs(&self) -> u64 {
        self.inner.state().searcher.num_docs()
    }

    /// Sets the result-cache capacity (entries); 0 disables caching. Clears the cache.
    pub fn set_cache_capacity(&self, capacity: usize) {
        self.inner.cache_capacity.store(capacity, AtomicOrdering::Relaxed);
        self.inner.state().cache.clear();
    }

    /// Inserts or replaces `upserts` (by id), deletes `deletes`, commits with `fingerprint` and makes
    /// the changes visible before returning. `fingerprint: None` clears the stored fingerprint (the
    /// index then reflects no known catalog state). Calls are serialised.
    pub fn apply(&self, upserts: Vec<SearchDoc>, deletes: &[Uuid], fingerprint: Option<&str>) -> anyhow::Result<()> {
        let inner = &*self.inner;
        let mut guard = lock(&inner.writer);
        if guard.is_none() {
            *guard = Some(apply_writer(&inner.index)?);
        }
        let writer = guard.as_mut().context("index writer unavailable")?;
        let result = (|| -> anyhow::Result<()> {
            for doc in &upserts {
                writer.delete_term(self.id_term(&doc.id));
                writer.add_document(to_document(&inner.fields, doc))?;
            }
            for id in deletes {
                writer.delete_term(self.id_term(id));
            }
            commit(writer, fingerprint)
        })();
        if let Err(e) = result {
            // Drop the pending operations so they cannot sneak into a later commit.
            if let Err(rollback) = writer.rollback() {
                warn!(error = %rollback, "search index rollback failed");
            }
            return Err(e);
        }
        inner.publish(fingerprint.map(str::to_owned))
    }

    /// Replaces the whole content with `docs` and commits with `fingerprint`. Searches keep seeing
    /// the old content until the new one is complete. `progress` receives the number of documents
    /// added so far (every 1,000 and at the end). Uses two indexing threads and a larger heap than
    /// `apply`, then merges everything into one segment.
    pub fn rebuild(
        &self,
        docs: impl Iterator<Item = SearchDoc>,
        fingerprint: &str,
        progress: &mut dyn FnMut(u64),
    ) -> anyhow::Result<()> {
        let inner = &*self.inner;
        let started = std::time::Instant::now();
        let mut guard = lock(&inner.writer);
        // Only one writer may exist: release the small one for the duration.
        drop(guard.take());
        let result = (|| -> anyhow::Result<u64> {
            let options = IndexWriterOptions::builder()
                .num_worker_threads(2)
                .memory_budget_per_thread(REBUILD_WRITER_HEAP_PER_THREAD)
                .num_merge_threads(1)
                .build();
            let mut writer: IndexWriter = open_writer(&inner.index, options)?;
            writer.set_merge_policy(Box::new(NoMergePolicy));
            writer.delete_all_documents()?;
            let mut n = 0u64;
            for doc in docs {
                writer.add_document(to_document(&inner.fields, &doc))?;
                n += 1;
                if n.is_multiple_of(1_000) {
                    progress(n);
                }
            }
            progress(n);
            commit(&mut writer, Some(fingerprint))?;
            let segments = inner.index.searchable_segment_ids()?;
            if segments.len() > 1 {
                writer.merge(&segments).wait()?;
            }
            writer.wait_merging_threads()?;
            Ok(n)
        })();
        let reopened = apply_writer(&inner.index);
        let docs = result?;
        *guard = Some(reopened?);
        inner.publish(Some(fingerprint.to_owned()))?;
        info!(docs, elapsed_ms = started.elapsed().as_millis() as u64, "search index rebuilt");
        Ok(())
    }

    /// Runs a search (served from the result cache when possible).
    pub fn search(&self, q: &SearchQuery) -> anyhow::Result<SearchResults> {
        self.search_shared(q).map(|r| (*r).clone())
    }

    /// Like [`search`](Self::search), returning the shared cached value (no copy).
    pub fn search_shared(&self, q: &SearchQuery) -> anyhow::Result<Arc<SearchResults>> {
        let nq = NormQuery::new(q)?;
        let state = self.inner.state();
        let capacity = self.inner.cache_capacity.load(AtomicOrdering::Relaxed);
        if let Some(hit) = state.cache.get(&nq, capacity) {
            return Ok(hit);
        }
        let nq = Arc::new(nq);
        let results = Arc::new(self.execute(&state, &nq)?);
        state.cache.insert(Arc::unwrap_or_clone(nq), Arc::clone(&results), capacity);
        Ok(results)
    }

    /// [`search_shared`](Self::search_shared) for async callers: a cached
    /// answer at once; otherwise the query waits its turn for one of the
    /// search threads, one per core, first come, first served.
    ///
    /// A search is CPU-bound and allocates its working set (matches, facet
    /// counts) as it goes. Run 64 at once on two cores, as `spawn_blocking`
    /// allows, and they share the cores in slices, each finishing late,
    /// while 64 working sets are alive and every pool thread's allocator
    /// keeps what it freed: the p99 went up to 449 ms and the process to
    /// 420–760 MiB (BENCHMARKS.md, 2026-12-07). Queued instead, each runs to
    /// the end at once, and a burst of the same uncached query is computed
    /// by the first in line (one per thread) and read from the cache by the
    /// rest.
    pub async fn search_async(&self, q: SearchQuery) -> anyhow::Result<Arc<SearchResults>> {
        if let Some(hit) = self.cached(&q) {
            return Ok(hit);
        }
        // Weak: a queued search does not keep a dropped index (its writer,
        // directory lock and threads) alive until its turn.
        let index = Arc::downgrade(&self.inner);
        self.inner
            .searching
            .run(move || match index.upgrade() {
                Some(inner) => SearchIndex { inner }.search_shared(&q),
                None => Err(anyhow!("the search index was closed")),
            })
            .await?
    }

    /// Runs `f` on the search threads, for tests that keep them busy.
    #[cfg(test)]
    pub(crate) async fn on_search_threads<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> anyhow::Result<T> {
        self.inner.searching.run(f).await
    }

    /// How many search threads there are, for tests.
    #[cfg(test)]
    pub(crate) fn search_threads(&self) -> usize {
        self.inner.searching.count()
    }

    /// The cached answer to `q`, if there is one (cheap: never runs the query).
    pub fn cached(&self, q: &SearchQuery) -> Option<Arc<SearchResults>> {
        let nq = NormQuery::new(q).ok()?;
        let capacity = self.inner.cache_capacity.load(AtomicOrdering::Relaxed);
        self.inner.state().cache.get(&nq, capacity)
    }

    fn id_term(&self, id: &Uuid) -> Term {
        Term::from_field_text(self.inner.fields.id, &id_key(id))
    }

    /// The documents matching every word, scores added (each word's matches come from the word cache).
    fn text_matches(&self, state: &State, words: &[String]) -> anyhow::Result<Arc<Matches>> {
        let mut all: Option<Arc<Matches>> = None;
        for (i, word) in words.iter().enumerate() {
            let matches = self.word_matches(state, word, i + 1 == words.len())?;
            all = Some(match all {
                None => matches,
                Some(so_far) => Arc::new(so_far.intersect(&matches)),
            });
        }
        Ok(all.unwrap_or_default())
    }

    fn word_matches(&self, state: &State, word: &str, last: bool) -> anyhow::Result<Arc<Matches>> {
        state.words.get_or_compute(word, last, || {
            let query = word_query(&self.inner.fields, word, last)?;
            let weight = query.weight(EnableScoring::enabled_from_searcher(&state.searcher))?;
            let mut matches = Matches::default();
            for reader in state.searcher.segment_readers() {
                let mut docs = Vec::new();
                weight.for_each(reader, &mut |doc, score| docs.push((doc, score)))?;
                docs.sort_unstable_by_key(|(doc, _)| *doc);
                matches.per_segment.insert(reader.segment_id(), docs);
            }
            Ok(matches)
        })
    }

    fn execute(&self, state: &State, nq: &Arc<NormQuery>) -> anyhow::Result<SearchResults> {
        let fields = &self.inner.fields;
        let text = if nq.match_all() { None } else { Some(self.text_matches(state, &nq.words)?) };
        let collector = OnePassCollector { q: Arc::clone(nq), tables: state, id_field: fields.id, text };
        // The collector takes the text's matches from `text`; the query only drives it over every segment.
        let fruits = state.searcher.search(&AllQuery, &collector)?;

        let total = fruits.iter().map(|f| f.total).sum();
        let mut top: Vec<Candidate> = fruits.iter().flat_map(|f| f.top.iter().copied()).collect();
        top.sort_unstable();
        let mut hits = Vec::with_capacity(nq.limit.min(top.len()));
        for cand in top.into_iter().skip(nq.offset).take(nq.limit) {
            let address = DocAddress::new((cand.addr >> 32) as u32, cand.addr as u32);
            let doc: TantivyDocument = state.searcher.doc(address)?;
            let id = doc.get_first(fields.id).and_then(|v| v.as_str()).context("stored doc without id")?;
            let summary = doc.get_first(fields.summary).and_then(|v| v.as_str()).unwrap_or_default();
            hits.push(Hit {
                id: Uuid::parse_str(id).context("bad stored id")?,
                score: if nq.match_all() { 0.0 } else { cand.score },
                summary_json: summary.to_owned(),
            });
        }
        let facets = nq.facets.then(|| merge_facets(nq, fruits));
        Ok(SearchResults { total, hits, facets })
    }
}

fn merge_facets(nq: &NormQuery, fruits: Vec<SegmentFruit>) -> Facets {
    let mut cats: HashMap<Uuid, u64> = HashMap::new();
    // (name, normalised value) → display spelling → count
    let mut opts: HashMap<(String, String), HashMap<String, u64>> = HashMap::new();
    let mut prices = vec![0u64; if nq.buckets.is_empty() { 0 } else { nq.buckets.len() + 1 }];
    for fruit in fruits {
        for (id, n) in fruit.cats {
            *cats.entry(id).or_default() += n;
        }
        for (name, norm, display, n) in fruit.opts {
            *opts.entry((name, norm)).or_default().entry(display).or_default() += n;
        }
        for (total, n) in prices.iter_mut().zip(fruit.prices) {
            *total += n;
        }
    }
    let mut categories: Vec<(Uuid, u64)> = cats.into_iter().collect();
    categories.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));

    let mut by_name: HashMap<String, Vec<(String, u64)>> = HashMap::new();
    for ((name, _), spellings) in opts {
        let count = spellings.values().sum();
        // Show the most common spelling (ties: the smallest).
        let display =
            spellings.into_iter().max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0))).map(|(d, _)| d).unwrap_or_default();
        by_name.entry(name).or_default().push((display, count));
    }
    let mut options: Vec<(String, Vec<(String, u64)>)> = by_name.into_iter().collect();
    options.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    for (_, values) in &mut options {
        values.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    }

    let mins = std::iter::once(0).chain(nq.buckets.iter().copied());
    let maxes = nq.buckets.iter().copied().map(Some).chain(std::iter::once(None));
    let prices =
        mins.zip(maxes).zip(prices).map(|((min, max), count)| PriceBucket { min, max, count }).collect::<Vec<_>>();
    Facets { categories, options, prices }
}

#[cfg(test)]
mod writer_lock_tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// Takes tantivy's writer lock the way a spawned child's copy of the descriptor holds it.
    fn hold_writer_lock(dir: &Path) -> fs::File {
        let file = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(dir.join(".tantivy-writer.lock"))
            .unwrap();
        file.try_lock().unwrap();
        file
    }

    fn options() -> IndexWriterOptions {
        IndexWriterOptions::builder().num_worker_threads(1).memory_budget_per_thread(APPLY_WRITER_HEAP).build()
    }

    #[test]
    fn a_briefly_held_writer_lock_is_waited_out() {
        let dir = tempfile::tempdir().unwrap();
        let index = Index::create_in_dir(dir.path(), build_schema().0).unwrap();
        let held = hold_writer_lock(dir.path());
        let releaser = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(200));
            drop(held);
        });
        // Without the wait this fails at once with a lock failure.
        assert!(open_writer(&index, options()).is_ok());
        releaser.join().unwrap();
    }

    #[test]
    fn a_writer_lock_that_stays_held_still_fails() {
        let dir = tempfile::tempdir().unwrap();
        let index = Index::create_in_dir(dir.path(), build_schema().0).unwrap();
        let _held = hold_writer_lock(dir.path());
        assert!(matches!(open_writer(&index, options()), Err(TantivyError::LockFailure(..))));
    }
}
