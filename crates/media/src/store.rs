//! Where image bytes live: the [`ObjectStore`] trait, a local-directory store and an in-memory one.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use async_trait::async_trait;
use std::io::Write as _;

use crate::sniff::ImageFormat;

/// Longest accepted object key.
pub const MAX_KEY_LEN: usize = 200;

/// An object read back from a store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredObject {
    pub bytes: Vec<u8>,
    pub content_type: String,
}

/// The error inside the `anyhow::Error` a store returns for a malformed key (downcast to detect it).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid object key {0:?}: use 1-200 chars of [A-Za-z0-9._-], not starting with '.'")]
pub struct InvalidKey(pub String);

/// Checks an object key: 1–[`MAX_KEY_LEN`] chars of `[A-Za-z0-9._-]`, no `..`, not starting with `.`
/// (so a key can never name a directory entry like `.` or a store's own hidden temp files).
pub fn validate_key(key: &str) -> Result<(), InvalidKey> {
    let ok = !key.is_empty()
        && key.len() <= MAX_KEY_LEN
        && !key.starts_with('.')
        && !key.contains("..")
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok { Ok(()) } else { Err(InvalidKey(key.to_string())) }
}

/// The content type for a key, from its extension (`application/octet-stream` when unknown).
pub fn content_type_for_key(key: &str) -> &'static str {
    key.rsplit_once('.')
        .and_then(|(_, ext)| ImageFormat::from_extension(ext))
        .map_or("application/octet-stream", |f| f.content_type())
}

/// Where image bytes live. Keys are flat strings like `"ab12….jpg"`, checked with [`validate_key`].
#[async_trait]
pub trait ObjectStore: Send + Sync + 'static {
    /// Stores `bytes` under `key`, replacing any previous object. Idempotent and atomic: readers see
    /// either the old object or the whole new one.
    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> anyhow::Result<()>;
    /// The object under `key`, or `None`.
    async fn get(&self, key: &str) -> anyhow::Result<Option<StoredObject>>;
    /// Removes the object; a missing object is not an error.
    async fn delete(&self, key: &str) -> anyhow::Result<()>;
    /// Whether an object is stored under `key`.
    async fn exists(&self, key: &str) -> anyhow::Result<bool>;
}

#[async_trait]
impl<S: ObjectStore + ?Sized> ObjectStore for Arc<S> {
    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> anyhow::Result<()> {
        (**self).put(key, bytes, content_type).await
    }
    async fn get(&self, key: &str) -> anyhow::Result<Option<StoredObject>> {
        (**self).get(key).await
    }
    async fn delete(&self, key: &str) -> anyhow::Result<()> {
        (**self).delete(key).await
    }
    async fn exists(&self, key: &str) -> anyhow::Result<bool> {
        (**self).exists(key).await
    }
}

/// A local directory (the embedded default): `root/<first 2 chars of key>/<key>`.
///
/// Writes go to a hidden temp file in the same shard directory, are flushed to disk, then renamed
/// over the final name. The content type is not stored: it is derived from the key's extension on read.
#[derive(Debug)]
pub struct LocalDirStore {
    root: PathBuf,
    tmp_counter: AtomicU64,
}

impl LocalDirStore {
    /// Opens (creating if needed) a store rooted at `root`.
    pub fn new(root: impl Into<PathBuf>) -> anyhow::Result<Self> {
        let root = root.into();
        std::fs::create_dir_all(&root).with_context(|| format!("creating image store directory {}", root.display()))?;
        Ok(LocalDirStore { root, tmp_counter: AtomicU64::new(0) })
    }

    /// The store's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where `key` lives on disk (after validation).
    pub fn path_for(&self, key: &str) -> Result<PathBuf, InvalidKey> {
        validate_key(key)?;
        let shard = key.get(..2).unwrap_or(key);
        Ok(self.root.join(shard).join(key))
    }
}

/// Writes `bytes` to `tmp`, flushes it to disk and renames it over `target`; removes `tmp` on failure.
fn write_atomically(tmp: &Path, target: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let result = (|| {
        let mut file = std::fs::File::create(tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(tmp, target)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(tmp);
    }
    result
}

#[async_trait]
impl ObjectStore for LocalDirStore {
    async fn put(&self, key: &str, bytes: Vec<u8>, _content_type: &str) -> anyhow::Result<()> {
        let path = self.path_for(key)?;
        let dir = path.parent().context("object path has no parent")?;
        tokio::fs::create_dir_all(dir).await.with_context(|| format!("creating {}", dir.display()))?;
        let n = self.tmp_counter.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(".{key}.{}.{n}.tmp", std::process::id()));
        let len = bytes.len();
        let target = path.clone();
        // One blocking task for write + fsync + rename (tokio::fs would hop threads for each step).
        tokio::task::spawn_blocking(move || write_atomically(&tmp, &target, &bytes))
            .await
            .context("object write task failed")?
            .with_context(|| format!("writing {}", path.display()))?;
        tracing::debug!(key, len, "stored object");
        Ok(())
    }

    async fn get(&self, key: &str) -> anyhow::Result<Option<StoredObject>> {
        let path = self.path_for(key)?;
        match tokio::fs::read(&path).await {
            Ok(bytes) => Ok(Some(StoredObject { bytes, content_type: content_type_for_key(key).to_string() })),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(anyhow::Error::new(err).context(format!("reading {}", path.display()))),
        }
    }

    async fn delete(&self, key: &str) -> anyhow::Result<()> {
        let path = self.path_for(key)?;
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(err) => Err(anyhow::Error::new(err).context(format!("deleting {}", path.display()))),
        }
    }

    async fn exists(&self, key: &str) -> anyhow::Result<bool> {
        let path = self.path_for(key)?;
        Ok(tokio::fs::try_exists(&path).await.with_context(|| format!("checking {}", path.display()))?)
    }
}

/// A store in memory, for tests and throwaway demos. Keeps the content type given to `put`.
#[derive(Debug, Default)]
pub struct MemoryStore {
    objects: Mutex<HashMap<String, StoredObject>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        MemoryStore::default()
    }

    /// Number of stored objects.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, StoredObject>> {
        // A panic while holding this lock cannot leave the map half-updated.
        self.objects.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait]
impl ObjectStore for MemoryStore {
    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> anyhow::Result<()> {
        validate_key(key)?;
        self.lock().insert(key.to_string(), StoredObject { bytes, content_type: content_type.to_string() });
        Ok(())
    }

    async fn get(&self, key: &str) -> anyhow::Result<Option<StoredObject>> {
        validate_key(key)?;
        Ok(self.lock().get(key).cloned())
    }

    async fn delete(&self, key: &str) -> anyhow::Result<()> {
        validate_key(key)?;
        self.lock().remove(key);
        Ok(())
    }

    async fn exists(&self, key: &str) -> anyhow::Result<bool> {
        validate_key(key)?;
        Ok(self.lock().contains_key(key))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const KEY: &str = "0123456789abcdef0123456789abcdef-thumb.jpg";

    #[test]
    fn key_validation() {
        for good in [KEY, "a", "ab.png", "A-b_c.9", "x.y.z"] {
            assert_eq!(validate_key(good), Ok(()), "{good}");
        }
        let long = "a".repeat(MAX_KEY_LEN + 1);
        for bad in ["", "../x", "a/b", "a\\b", "..", ".", ".hidden", "a..b", "a b", "é.jpg", "a\0b", "x:y", &long] {
            assert_eq!(validate_key(bad), Err(InvalidKey(bad.to_string())), "{bad:?}");
        }
        assert_eq!(validate_key(&"a".repeat(MAX_KEY_LEN)), Ok(()));
    }

    #[test]
    fn content_type_from_extension() {
        assert_eq!(content_type_for_key("x.jpg"), "image/jpeg");
        assert_eq!(content_type_for_key("x.JPEG"), "image/jpeg");
        assert_eq!(content_type_for_key("x.png"), "image/png");
        assert_eq!(content_type_for_key("x.webp"), "image/webp");
        assert_eq!(content_type_for_key("x.gif"), "application/octet-stream");
        assert_eq!(content_type_for_key("noext"), "application/octet-stream");
    }

    async fn round_trip(store: &dyn ObjectStore) {
        assert!(!store.exists(KEY).await.unwrap());
        assert_eq!(store.get(KEY).await.unwrap(), None);
        store.put(KEY, b"first".to_vec(), "image/jpeg").await.unwrap();
        store.put(KEY, b"jpeg bytes".to_vec(), "image/jpeg").await.unwrap();
        assert!(store.exists(KEY).await.unwrap());
        let got = store.get(KEY).await.unwrap().unwrap();
        assert_eq!(got, StoredObject { bytes: b"jpeg bytes".to_vec(), content_type: "image/jpeg".into() });
        store.delete(KEY).await.unwrap();
        assert!(!store.exists(KEY).await.unwrap());
        assert_eq!(store.get(KEY).await.unwrap(), None);
        store.delete(KEY).await.unwrap(); // missing is fine
        for bad in ["../x", "a/b", "", ".."] {
            let err = store.put(bad, vec![1], "image/png").await.unwrap_err();
            assert!(err.downcast_ref::<InvalidKey>().is_some(), "{bad:?}: {err:#}");
            assert!(store.get(bad).await.is_err(), "{bad:?}");
            assert!(store.exists(bad).await.is_err(), "{bad:?}");
            assert!(store.delete(bad).await.is_err(), "{bad:?}");
        }
    }

    #[tokio::test]
    async fn local_dir_store_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalDirStore::new(dir.path().join("images")).unwrap();
        round_trip(&store).await;
        // Nothing escaped the root, and no temp files are left behind.
        assert!(!dir.path().join("x").exists());
        let shard = store.root().join("01");
        assert!(shard.is_dir());
        assert_eq!(std::fs::read_dir(&shard).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn local_dir_store_shards_and_derives_content_type() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalDirStore::new(dir.path()).unwrap();
        // The content type passed to put is not stored; it comes from the extension.
        store.put("cafe.png", vec![9, 9], "application/x-whatever").await.unwrap();
        store.put("z", vec![1], "image/png").await.unwrap();
        assert_eq!(std::fs::read(dir.path().join("ca").join("cafe.png")).unwrap(), [9, 9]);
        assert_eq!(std::fs::read(dir.path().join("z").join("z")).unwrap(), [1]);
        let got = store.get("cafe.png").await.unwrap().unwrap();
        assert_eq!(got.content_type, "image/png");
        assert_eq!(store.get("z").await.unwrap().unwrap().content_type, "application/octet-stream");
        // Reopening an existing directory is fine.
        let again = LocalDirStore::new(dir.path()).unwrap();
        assert!(again.exists("cafe.png").await.unwrap());
    }

    #[tokio::test]
    async fn processed_renditions_round_trip_with_their_content_types() {
        let img = image::RgbaImage::from_fn(300, 200, |x, _| image::Rgba([9, 99, 199, if x < 10 { 0 } else { 255 }]));
        let mut png = Vec::new();
        image::ImageEncoder::write_image(
            image::codecs::png::PngEncoder::new(&mut png),
            img.as_raw(),
            300,
            200,
            image::ExtendedColorType::Rgba8,
        )
        .unwrap();
        let processed = crate::process_upload(&png, &crate::ImagePolicy::default()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = LocalDirStore::new(dir.path()).unwrap();
        for r in &processed.renditions {
            store.put(&r.key, r.bytes.clone(), r.content_type).await.unwrap();
        }
        for r in &processed.renditions {
            let got = store.get(&r.key).await.unwrap().unwrap();
            assert_eq!(got.bytes, r.bytes);
            assert_eq!(got.content_type, r.content_type, "{}", r.key);
        }
    }

    #[tokio::test]
    async fn memory_store_round_trip() {
        let store = MemoryStore::new();
        round_trip(&store).await;
        assert!(store.is_empty());
        let shared: Arc<dyn ObjectStore> = Arc::new(MemoryStore::new());
        shared.put("k.jpg", vec![1], "image/jpeg").await.unwrap();
        assert!(shared.exists("k.jpg").await.unwrap());
    }
}
