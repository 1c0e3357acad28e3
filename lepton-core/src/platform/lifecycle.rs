//! The lifecycle every registry entry shares, models and dataset splits alike: resolving a
//! version (from the store, with the cache as the offline fallback), not-found hints, listing,
//! committed versions and deletion. `models.rs` and `datasets.rs` keep only what differs.

use bytes::Bytes;
use object_store::path::Path;

use super::layout::{check_name, dataset_root, model_root, DATASETS, MODELS, MODEL_MANIFEST};
use super::versions::{commit_path, Commit};
use super::Platform;
use crate::pools::block_on;
use crate::{Error, Result};

/// One versioned entry of the registry: a model, or one split of a dataset.
#[derive(Clone, Copy, Debug)]
pub(super) enum Entry<'a> {
    /// The model of this name.
    Model(&'a str),
    /// The split (second) of the dataset (first).
    Dataset(&'a str, &'a str),
}

impl Entry<'_> {
    /// Refuses names the layout does not allow.
    pub(super) fn check(&self) -> Result<()> {
        match *self {
            Entry::Model(name) => check_name("model", name),
            Entry::Dataset(name, split) => {
                check_name("dataset", name)?;
                check_name("split", split)
            }
        }
    }

    /// How messages name it, with the version when given.
    pub(super) fn what(&self, version: Option<u64>) -> String {
        let base = match *self {
            Entry::Model(name) => format!("model `{name}`"),
            Entry::Dataset(name, split) => format!("dataset `{name}` split `{split}`"),
        };
        match version {
            Some(v) => format!("{base} version {v}"),
            None => base,
        }
    }

    /// How hints name it (no kind: the message already says it).
    fn label(&self) -> String {
        match *self {
            Entry::Model(name) => format!("`{name}`"),
            Entry::Dataset(name, split) => format!("`{name}` split `{split}`"),
        }
    }

    /// The folder holding its versions.
    pub(super) fn root(&self, prefix: &Path) -> Path {
        match *self {
            Entry::Model(name) => model_root(prefix, name),
            Entry::Dataset(name, split) => dataset_root(prefix, name, split),
        }
    }

    /// The object that commits one of its versions.
    pub(super) fn commit(&self) -> Commit {
        match self {
            Entry::Model(_) => Commit::File(MODEL_MANIFEST),
            Entry::Dataset(..) => Commit::DatasetManifest,
        }
    }

    /// The cache key remembering its commit object at `version` (`None`: the latest).
    fn cache_key(&self, version: Option<u64>) -> String {
        let (dir, ext) = match *self {
            Entry::Model(name) => (format!("{MODELS}/{name}"), "json"),
            Entry::Dataset(name, split) => (format!("{DATASETS}/{name}/{split}"), "manifest"),
        };
        match version {
            Some(v) => format!("{dir}/{v}.{ext}"),
            None => format!("{dir}/latest.{ext}"),
        }
    }
}

impl Platform {
    /// Runs `fut`, a chain of this registry's store calls, to completion. A local folder's or
    /// memory store's calls then run on the calling thread (`object_store` does a local file's
    /// I/O inline outside a tokio context), instead of each being a round trip through the I/O
    /// runtime's blocking pool: most of a small model's registry load was those thread wake-ups.
    /// Other stores' calls run on the I/O runtime.
    pub(super) fn block_on_store<F: std::future::Future>(&self, fut: F) -> F::Output {
        if self.inline_io {
            futures::executor::block_on(fut)
        } else {
            block_on(fut)
        }
    }

    /// [`Error::NotFound`] for `entry` at `version`, with a hint of what exists instead.
    pub(super) async fn not_found(&self, entry: Entry<'_>, version: Option<u64>) -> Error {
        let hint = match (version, entry) {
            (Some(_), _) => match self
                .bucket
                .committed_versions(&entry.root(&self.prefix), entry.commit())
                .await
            {
                Ok(vs) if !vs.is_empty() => format!(
                    "versions of {}: {}",
                    entry.label(),
                    vs.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
                ),
                _ => match entry {
                    Entry::Model(_) => {
                        format!("{} has no versions; push_model it first", entry.label())
                    }
                    Entry::Dataset(..) => format!("{} has no versions", entry.label()),
                },
            },
            (None, Entry::Model(_)) => self.listing_hint(
                "models",
                "push_model one first",
                self.list_models_async().await,
            ),
            (None, Entry::Dataset(name, _)) => match self.dataset_splits_async(name).await {
                Ok(splits) if !splits.is_empty() => {
                    format!("splits of `{name}`: {}", splits.join(", "))
                }
                Ok(_) => self.listing_hint(
                    "datasets",
                    "push one first",
                    self.list_datasets_async().await,
                ),
                Err(_) => "check the name and split".into(),
            },
        };
        Error::NotFound {
            what: entry.what(version),
            hint: Some(hint),
        }
    }

    /// The hint naming what the registry holds of a kind (`kinds`: "models", "datasets").
    fn listing_hint(&self, kinds: &str, push: &str, names: Result<Vec<String>>) -> String {
        match names {
            Ok(names) if !names.is_empty() => {
                format!("{kinds} in {}: {}", self.uri(), names.join(", "))
            }
            Ok(_) => format!("{} has no {kinds}; {push}", self.uri()),
            Err(_) => "check the name".into(),
        }
    }

    /// The version of `entry` (latest when `None`) and its commit object, from the store.
    pub(super) async fn commit_online(
        &self,
        entry: Entry<'_>,
        version: Option<u64>,
    ) -> Result<(u64, Bytes)> {
        let root = entry.root(&self.prefix);
        let found = match version {
            Some(v) => self
                .bucket
                .get_opt(&commit_path(&root, v, entry.commit()))
                .await?
                .map(|b| (v, b)),
            // The latest, checked against the highest this client has seen (rollback).
            None => {
                self.bucket
                    .fresh_latest_commit(&root, entry.commit(), &entry.what(None))
                    .await?
            }
        };
        match found {
            Some(found) => Ok(found),
            None => Err(self.not_found(entry, version).await),
        }
    }

    /// The version of `entry` (latest when `None`), its commit object and what `read` makes of
    /// it: from the store (remembered in the cache), or from the cache when the store can't be
    /// reached. `read(bytes, version)` checks a commit object (`version`: the one it must
    /// describe, when known) and returns the version it describes; a cached object it refuses
    /// leaves the store's error standing.
    pub(super) async fn resolve_commit<T>(
        &self,
        entry: Entry<'_>,
        version: Option<u64>,
        read: impl Fn(&[u8], Option<u64>) -> Result<(u64, T)>,
    ) -> Result<(u64, Bytes, T)> {
        entry.check()?;
        match self.commit_online(entry, version).await {
            Ok((v, bytes)) => {
                let (_, t) = read(&bytes, Some(v))?;
                tracing::info!("{} found in {}", entry.what(Some(v)), self.bucket.endpoint);
                if let Some(cache) = &self.cache {
                    for key in [entry.cache_key(Some(v)), entry.cache_key(version)] {
                        let _ = cache.put_ref(&self.scope, &key, &bytes);
                    }
                }
                Ok((v, bytes, t))
            }
            Err(e @ Error::Unreachable { .. }) => {
                let cached = self
                    .cache
                    .as_ref()
                    .and_then(|c| c.get_ref(&self.scope, &entry.cache_key(version)));
                let Some(bytes) = cached else { return Err(e) };
                match read(&bytes, version) {
                    Ok((v, t)) => {
                        tracing::warn!(
                            user_warning = true,
                            "registry {} unreachable; serving {} from the local cache, which may \
                             be out of date ({e})",
                            self.bucket.endpoint,
                            entry.what(Some(v))
                        );
                        Ok((v, Bytes::from(bytes), t))
                    }
                    Err(refused) => {
                        tracing::warn!("the cached manifest is unusable ({refused})");
                        Err(e)
                    }
                }
            }
            Err(e) => Err(e),
        }
    }

    /// The subfolders of `dir` that are valid `noun` names and hold a committed version
    /// (`root_of(name)`: the entry's folder), sorted.
    async fn committed_names(
        &self,
        dir: &Path,
        noun: &str,
        commit: Commit,
        root_of: impl Fn(&str) -> Path,
    ) -> Result<Vec<String>> {
        let mut names = self.bucket.subfolders(dir).await?;
        names.sort();
        let mut out = Vec::new();
        for name in names {
            if check_name(noun, &name).is_ok()
                && self
                    .bucket
                    .resolve_latest(&root_of(&name), commit)
                    .await?
                    .is_some()
            {
                out.push(name);
            }
        }
        Ok(out)
    }

    pub(super) async fn list_models_async(&self) -> Result<Vec<String>> {
        let dir = self.prefix.clone().join(MODELS);
        let commit = Entry::Model("").commit();
        self.committed_names(&dir, "model", commit, |n| model_root(&self.prefix, n))
            .await
    }

    pub(super) async fn dataset_splits_async(&self, name: &str) -> Result<Vec<String>> {
        check_name("dataset", name)?;
        let dir = self.prefix.clone().join(DATASETS).join(name);
        let commit = Entry::Dataset(name, "").commit();
        self.committed_names(&dir, "split", commit, |s| {
            dataset_root(&self.prefix, name, s)
        })
        .await
    }

    pub(super) async fn list_datasets_async(&self) -> Result<Vec<String>> {
        let mut names = self
            .bucket
            .subfolders(&self.prefix.clone().join(DATASETS))
            .await?;
        names.sort();
        let mut out = Vec::new();
        for name in names {
            if check_name("dataset", &name).is_ok()
                && !self.dataset_splits_async(&name).await?.is_empty()
            {
                out.push(name);
            }
        }
        Ok(out)
    }

    /// The committed versions of `entry`, ascending (empty if it has none).
    pub(super) fn entry_versions(&self, entry: Entry<'_>) -> Result<Vec<u64>> {
        entry.check()?;
        block_on(
            self.bucket
                .committed_versions(&entry.root(&self.prefix), entry.commit()),
        )
    }

    /// Deletes one version of `entry`, or all of them when `version` is `None`; a version (or
    /// an entry) that does not exist is [`Error::NotFound`].
    pub(super) async fn delete_entry(&self, entry: Entry<'_>, version: Option<u64>) -> Result<()> {
        let root = entry.root(&self.prefix);
        let commit = entry.commit();
        match version {
            Some(v) => {
                if !self.bucket.exists(&commit_path(&root, v, commit)).await? {
                    return Err(self.not_found(entry, Some(v)).await);
                }
                self.bucket.delete_version(&root, v, commit).await
            }
            None => {
                if self.bucket.resolve_latest(&root, commit).await?.is_none() {
                    return Err(self.not_found(entry, None).await);
                }
                self.bucket.delete_item(&root, commit).await
            }
        }
    }
}
