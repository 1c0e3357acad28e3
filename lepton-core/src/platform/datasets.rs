//! Datasets in the registry: each split of a named dataset is versioned like a model; a version
//! folder holds one dataset (the datasets format) written with that version number, whose
//! manifest is the commit object.

use std::collections::BTreeMap;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use bytes::Bytes;
use object_store::path::Path;
use serde::{Deserialize, Serialize};

use super::cached_chunks::CachedChunks;
use super::layout::{check_name, dataset_root, version_dir, DATASETS};
use super::lifecycle::Entry;
use super::models::report;
use super::versions::{commit_path, Commit, RegistryStore};
use super::{Platform, ProgressFn};
use crate::crypto::Key;
use crate::dataset::{
    manifest, ColumnData, Dataset, DatasetInfo, DatasetWriter, ReadOptions, Schema, WriteOptions,
};
use crate::pools::block_on;
use crate::{Error, Result};

const DATASET_COMMIT: Commit = Commit::DatasetManifest;

/// Options of [`Platform::dataset_writer`].
#[derive(Clone, Debug, Default)]
pub struct DatasetPushOptions {
    /// Encrypt with the platform key: `None` = when the platform has a key.
    pub encrypt: Option<bool>,
    /// User metadata stored (and authenticated) in the manifest.
    pub metadata: BTreeMap<String, String>,
    /// Target payload bytes per chunk (default: the dataset writer's).
    pub chunk_bytes: Option<usize>,
    /// The schema, declared up front (e.g. a variable-shape column whose first rows share a
    /// shape); `None`: the first write defines it.
    pub schema: Option<Schema>,
}

/// What the registry knows about one dataset version: where it lives, and its [`DatasetInfo`]
/// (derefs to it; serialized inline).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct DatasetEntry {
    /// The dataset name.
    pub name: String,
    /// The split.
    pub split: String,
    /// What the version holds. Its metadata is the user's (the registry's own binding,
    /// [`ITEM_KEY`], is left out).
    #[serde(flatten)]
    pub info: DatasetInfo,
    /// Whether the manifest was authenticated with the key (false: read without a key).
    pub authenticated: bool,
}

impl Deref for DatasetEntry {
    type Target = DatasetInfo;
    fn deref(&self) -> &DatasetInfo {
        &self.info
    }
}

impl DatasetEntry {
    fn of(name: &str, split: &str, m: &manifest::Manifest, authenticated: bool) -> DatasetEntry {
        let mut info = DatasetInfo::of(m);
        info.metadata.remove(ITEM_KEY);
        DatasetEntry {
            name: name.into(),
            split: split.into(),
            info,
            authenticated,
        }
    }

    /// As JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("serializes")
    }
}

/// A dataset being pushed: write rows through it (it derefs to [`DatasetWriter`]), then
/// [`close`](Self::close) to commit. Dropping it without closing leaves no visible version.
pub struct DatasetPush {
    writer: DatasetWriter,
    bucket: RegistryStore,
    root: Path,
    version: u64,
    /// The key the version is encrypted with (it authenticates the latest manifest compared).
    key: Option<Key>,
}

impl std::fmt::Debug for DatasetPush {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatasetPush")
            .field("root", &self.root.as_ref())
            .field("version", &self.version)
            .finish()
    }
}

impl Deref for DatasetPush {
    type Target = DatasetWriter;
    fn deref(&self) -> &DatasetWriter {
        &self.writer
    }
}

impl DerefMut for DatasetPush {
    fn deref_mut(&mut self) -> &mut DatasetWriter {
        &mut self.writer
    }
}

impl DatasetPush {
    /// The version this push claimed.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Commits the version (manifest with `PutMode::Create`), then advances the latest pointer.
    ///
    /// When the latest committed version holds the same rows (the same content digest, see
    /// [`manifest::Manifest::content`]) with the same schema, metadata and encryption, nothing is
    /// committed: the chunks just written are deleted and that version's info is returned (as
    /// [`Platform::push_model`] does for identical bytes). The claimed version number stays
    /// used, as after a failed push.
    pub fn close(mut self) -> Result<DatasetInfo> {
        let m = self.writer.finish()?;
        if let Some(latest) = block_on(self.latest_holding(&m)) {
            tracing::info!(root = %self.root, version = latest.version, "dataset unchanged; nothing pushed");
            self.writer.discard(&m)?;
            return Ok(latest);
        }
        let info = self.writer.commit(&m)?;
        block_on(self.bucket.advance_latest(&self.root, self.version))?;
        tracing::info!(root = %self.root, version = self.version, rows = info.rows, "pushed dataset");
        Ok(info)
    }

    /// The latest committed version's info when it holds what `m` describes; `None` otherwise,
    /// or when it cannot be read or authenticated (the push then adds a version, as it would
    /// without this check).
    async fn latest_holding(&self, m: &manifest::Manifest) -> Option<DatasetInfo> {
        let content = m.content.as_ref()?;
        let v = self
            .bucket
            .resolve_latest(&self.root, DATASET_COMMIT)
            .await
            .ok()??;
        let bytes = self
            .bucket
            .get(&commit_path(&self.root, v, DATASET_COMMIT))
            .await
            .ok()?;
        let what = format!("{}/{v}", self.root);
        let latest = manifest::parse(&bytes, &what)
            .ok()?
            .verify(self.key.as_ref(), Some(v))
            .ok()?;
        let same = latest.content.as_ref() == Some(content)
            && latest.schema == m.schema
            && latest.metadata == m.metadata
            && latest.encryption.is_some() == m.encryption.is_some();
        same.then(|| DatasetInfo::of(&latest))
    }
}

impl Platform {
    fn dataset_what(name: &str, split: &str, version: Option<u64>) -> String {
        Entry::Dataset(name, split).what(version)
    }

    /// Claims the next version of `name`/`split` and returns a writer for it.
    pub fn dataset_writer(
        &self,
        name: &str,
        split: &str,
        options: &DatasetPushOptions,
    ) -> Result<DatasetPush> {
        Entry::Dataset(name, split).check()?;
        self.check_writable()?;
        let encrypt = self.push_key(options.encrypt)?.is_some();
        let root = dataset_root(&self.prefix, name, split);
        let what = Self::dataset_what(name, split, None);
        let version = block_on(self.bucket.claim_next_fresh(&root, DATASET_COMMIT, &what))?;
        let key = if encrypt { self.key().cloned() } else { None };
        let mut write = WriteOptions {
            key: key.clone(),
            version,
            metadata: with_item(&options.metadata, name, split),
            ..Default::default()
        };
        write.schema = options.schema.clone();
        if let Some(c) = options.chunk_bytes {
            write.chunk_bytes = c;
        }
        let mut writer = DatasetWriter::create(
            self.bucket.store.clone(),
            version_dir(&root, version),
            write,
        )?;
        writer.record_content();
        Ok(DatasetPush {
            writer,
            bucket: self.bucket.clone(),
            root,
            version,
            key,
        })
    }

    /// Pushes named columns as the next version of `name`/`split` in one call.
    pub fn push_dataset(
        &self,
        name: &str,
        split: &str,
        columns: &[(&str, ColumnData<'_>)],
        options: &DatasetPushOptions,
    ) -> Result<DatasetInfo> {
        let mut push = self.dataset_writer(name, split, options)?;
        push.write_columns(columns)?;
        push.close()
    }

    /// The version (latest when `None`) of `name`/`split` and the URI of its folder, where
    /// [`Dataset::open`] (or Python's `Dataset(uri, version=...)`) reads it.
    pub fn resolve_dataset(
        &self,
        name: &str,
        split: &str,
        version: Option<u64>,
    ) -> Result<(u64, String)> {
        let (v, _) = block_on(self.dataset_manifest(name, split, version))?;
        let root = dataset_root(&self.prefix, name, split);
        Ok((v, self.uri_of(&version_dir(&root, v))))
    }

    /// The version and manifest bytes of `name`/`split`, from the store or (when it can't be
    /// reached) the cache.
    async fn dataset_manifest(
        &self,
        name: &str,
        split: &str,
        version: Option<u64>,
    ) -> Result<(u64, Bytes)> {
        let read = |bytes: &[u8], v: Option<u64>| match v {
            Some(v) => Ok((v, ())),
            None => Ok((
                manifest::parse(bytes, "cached dataset manifest")?
                    .peek()
                    .version,
                (),
            )),
        };
        let (v, bytes, ()) = self
            .resolve_commit(Entry::Dataset(name, split), version, read)
            .await?;
        Ok((v, bytes))
    }

    /// Opens `name`/`split` at `version` (`None`: latest) for streaming from the store (chunks
    /// go through the local cache when there is one). Needs the platform key if encrypted.
    pub fn load_dataset(
        &self,
        name: &str,
        split: &str,
        version: Option<u64>,
        read: ReadOptions,
    ) -> Result<Dataset> {
        self.open_dataset(name, split, version, read, true)
    }

    /// Checks that the manifest at `name`/`split`/`v` was pushed as that item (its
    /// authenticated [`ITEM_KEY`] metadata), so a split copied over another split, or a dataset
    /// over another dataset, encrypted with the same key, is refused.
    fn check_item(&self, name: &str, split: &str, v: u64, bytes: &[u8], what: &str) -> Result<()> {
        let unverified = manifest::parse(bytes, what)?;
        let want = item_of(name, split);
        let (metadata, authenticated) = match (self.key(), unverified.peek().encryption.is_some()) {
            (Some(key), true) => (
                unverified.verify(Some(key), Some(v))?.metadata.clone(),
                true,
            ),
            // Unencrypted (refused later when the platform has a key) or no key to check with.
            _ => (unverified.peek().metadata.clone(), false),
        };
        let at = dataset_root(&self.prefix, name, split);
        match metadata.get(ITEM_KEY) {
            Some(got) if *got == want => Ok(()),
            Some(got) => Err(Error::Integrity {
                what: what.into(),
                reason: format!(
                    "dataset files at {}/{v} belong to {got} (copied or moved in the store); \
                     push {want} again",
                    at
                ),
            }),
            None if authenticated => Err(Error::Integrity {
                what: what.into(),
                reason: format!(
                    "dataset files at {at}/{v} do not say which dataset they belong to (copied \
                     from outside the registry, or pushed by an older version); push {want} again"
                ),
            }),
            None => Ok(()),
        }
    }

    fn open_dataset(
        &self,
        name: &str,
        split: &str,
        version: Option<u64>,
        read: ReadOptions,
        use_cache: bool,
    ) -> Result<Dataset> {
        let (v, bytes) = block_on(self.dataset_manifest(name, split, version))?;
        let what = Self::dataset_what(name, split, Some(v));
        self.check_item(name, split, v, &bytes, &what)?;
        let encrypted = manifest::parse(&bytes, &what)?.peek().encryption.is_some();
        let prefix = version_dir(&dataset_root(&self.prefix, name, split), v);
        let source = CachedChunks::new(
            self.bucket.store.clone(),
            if use_cache { self.cache.clone() } else { None },
        );
        Dataset::open_manifest(
            Arc::new(source),
            prefix,
            v,
            &bytes,
            &what,
            self.read_key(encrypted).cloned(),
            ReadOptions {
                version: Some(v),
                ..read
            },
        )
        .map_err(|e| match e {
            Error::KeyRequired(_) if self.key().is_none() => self.missing_key(&what),
            other => other,
        })
    }

    /// The manifest summary of `name`/`split` at `version` (authenticated when the platform has
    /// the key; read as is otherwise).
    pub fn dataset_info(
        &self,
        name: &str,
        split: &str,
        version: Option<u64>,
    ) -> Result<DatasetEntry> {
        let (v, bytes) = block_on(self.dataset_manifest(name, split, version))?;
        let what = Self::dataset_what(name, split, Some(v));
        let unverified = manifest::parse(&bytes, &what)?;
        match (self.key(), unverified.peek().encryption.is_some()) {
            (Some(key), true) => {
                let m = unverified.verify(Some(key), Some(v))?;
                Ok(DatasetEntry::of(name, split, &m, true))
            }
            (_, false) => {
                let m = unverified.verify(None, Some(v))?;
                Ok(DatasetEntry::of(name, split, &m, true))
            }
            (None, true) => Ok(DatasetEntry::of(name, split, unverified.peek(), false)),
        }
    }

    /// Re-reads every chunk of `name`/`split` at `version` from the store (not the cache),
    /// checking hashes and, when encrypted, authenticating each with the key.
    pub fn verify_dataset(
        &self,
        name: &str,
        split: &str,
        version: Option<u64>,
    ) -> Result<DatasetEntry> {
        self.verify_dataset_with_progress(name, split, version, None)
    }

    /// [`verify_dataset`](Self::verify_dataset), reporting `(stored bytes checked, total stored
    /// bytes)` to `progress` after each chunk.
    pub fn verify_dataset_with_progress(
        &self,
        name: &str,
        split: &str,
        version: Option<u64>,
        progress: Option<ProgressFn>,
    ) -> Result<DatasetEntry> {
        let ds = self.open_dataset(name, split, version, ReadOptions::default(), false)?;
        let chunks = &ds.manifest().chunks;
        let total: u64 = chunks.iter().map(|c| c.stored_len).sum();
        let mut done = 0;
        report(&progress, 0, total)?;
        for (i, chunk) in chunks.iter().enumerate() {
            ds.fetch_chunk(i)?;
            done += chunk.stored_len;
            report(&progress, done, total)?;
        }
        Ok(DatasetEntry::of(name, split, ds.manifest(), true))
    }

    /// Names of the datasets with at least one committed split version, sorted.
    pub fn list_datasets(&self) -> Result<Vec<String>> {
        block_on(self.list_datasets_async())
    }

    /// The splits of `name` with at least one committed version, sorted.
    pub fn dataset_splits(&self, name: &str) -> Result<Vec<String>> {
        block_on(self.dataset_splits_async(name))
    }

    /// The committed versions of `name`/`split`, ascending.
    pub fn dataset_versions(&self, name: &str, split: &str) -> Result<Vec<u64>> {
        self.entry_versions(Entry::Dataset(name, split))
    }

    /// Deletes one version of a split, a whole split (`version` None), or the whole dataset
    /// (`split` None).
    pub fn delete_dataset(
        &self,
        name: &str,
        split: Option<&str>,
        version: Option<u64>,
    ) -> Result<()> {
        check_name("dataset", name)?;
        self.check_writable()?;
        block_on(async {
            match (split, version) {
                (None, Some(_)) => Err(Error::InvalidArgument(
                    "deleting a version needs its split (split=...)".into(),
                )),
                (None, None) => {
                    let splits = self.dataset_splits_async(name).await?;
                    if splits.is_empty() {
                        return Err(self.not_found(Entry::Dataset(name, "*"), None).await);
                    }
                    for s in &splits {
                        self.bucket
                            .delete_item(&dataset_root(&self.prefix, name, s), DATASET_COMMIT)
                            .await?;
                    }
                    self.bucket
                        .delete_under(&self.prefix.clone().join(DATASETS).join(name))
                        .await
                }
                (Some(s), v) => {
                    check_name("split", s)?;
                    self.delete_entry(Entry::Dataset(name, s), v).await
                }
            }
        })
    }
}

/// The metadata entry binding a pushed dataset version to its `<name>/<split>` (authenticated
/// with the manifest when encrypted; set at every push, overriding a user value; not shown in
/// [`DatasetEntry::metadata`]).
pub const ITEM_KEY: &str = "lepton.item";

fn item_of(name: &str, split: &str) -> String {
    format!("{name}/{split}")
}

/// `metadata` plus the [`ITEM_KEY`] binding of `name`/`split`.
pub fn with_item(
    metadata: &BTreeMap<String, String>,
    name: &str,
    split: &str,
) -> BTreeMap<String, String> {
    let mut m = metadata.clone();
    m.insert(ITEM_KEY.into(), item_of(name, split));
    m
}
