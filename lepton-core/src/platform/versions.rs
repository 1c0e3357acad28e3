//! Immutable versions and the latest pointer, with conditional puts only.
//!
//! Protocol (one item = a model, or one split of a dataset):
//! 1. **claim**: a writer takes version `n` by creating `<root>/<n>/CLAIM` with `PutMode::Create`;
//!    if it exists, it tries `n + 1`. Exactly one writer wins each number, so claims are dense
//!    (`1..=N`) and no two pushes share a version.
//! 2. **write** the data under `<root>/<n>/`.
//! 3. **commit**: create the commit object (a model's `manifest.json`, a dataset's manifest) with
//!    `PutMode::Create`. A version is visible only once committed: a crashed push leaves a claim
//!    and some data, never a readable version.
//! 4. **advance** `<root>/LATEST` to `n` with a conditional update (`PutMode::Update` with the
//!    etag read, or `Create` when absent), retrying on conflict; it never moves backwards.
//!
//! `LATEST` is a hint for stores that can't list (plain HTTP). Readers of a store that lists
//! take the listed version folders from the top down to the highest committed one, reading its
//! commit object as they find it (a list and a GET); on other stores they probe claims upward
//! from the hint, then walk down the same way, so a lagging hint (a writer that died between
//! commit and advance, or a store without conditional updates) never hides a committed version.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};
use serde::{Deserialize, Serialize};

use super::layout::{version_dir, CLAIM, LATEST};
use crate::{Error, Result};

/// A store plus the endpoint name used in error messages.
#[derive(Clone, Debug)]
pub struct RegistryStore {
    /// The store.
    pub store: Arc<dyn ObjectStore>,
    /// The URI of the registry, for messages.
    pub endpoint: String,
    /// Whether the store can list (plain HTTP can't: versions are found by probing claims).
    pub can_list: bool,
    /// The latest versions this client has seen (`None`: not tracked, e.g. in-memory).
    pub high_water: Option<Arc<super::rollback::HighWater>>,
    /// The folder a local store keeps its objects in: version folders are then listed with one
    /// `read_dir` (names only) instead of `object_store`'s walk, which stats every entry.
    pub local_dir: Option<std::path::PathBuf>,
    /// The version each root's latest last resolved to through this handle (see
    /// [`latest_commit`](Self::latest_commit)).
    pub latest_found: Arc<Mutex<HashMap<String, u64>>>,
}

#[derive(Serialize, Deserialize)]
struct LatestHint {
    version: u64,
}

#[derive(Serialize, Deserialize)]
struct ClaimRecord {
    writer: String,
    created_unix: u64,
}

/// Seconds since the Unix epoch.
pub fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl RegistryStore {
    /// Maps a store error, recognising an unreachable endpoint.
    pub fn err(&self, e: object_store::Error) -> Error {
        Error::from_store(e, &self.endpoint)
    }

    /// Reads a whole object.
    pub async fn get(&self, path: &Path) -> Result<Bytes> {
        let r = self.store.get(path).await.map_err(|e| self.err(e))?;
        r.bytes().await.map_err(|e| self.err(e))
    }

    /// Reads a whole object, or `None` if it does not exist.
    pub async fn get_opt(&self, path: &Path) -> Result<Option<Bytes>> {
        match self.store.get(path).await {
            Ok(r) => Ok(Some(r.bytes().await.map_err(|e| self.err(e))?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.err(e)),
        }
    }

    /// Whether an object exists.
    pub async fn exists(&self, path: &Path) -> Result<bool> {
        match self.store.head(path).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(self.err(e)),
        }
    }

    /// Creates an object that must not exist yet; `Ok(false)` if it already does.
    pub async fn create(&self, path: &Path, data: Bytes) -> Result<bool> {
        let opts = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        match self
            .store
            .put_opts(path, PutPayload::from_bytes(data), opts)
            .await
        {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
            // Some S3-compatible stores answer 412 to If-None-Match: * on an existing key.
            Err(object_store::Error::Precondition { .. }) => Ok(false),
            Err(object_store::Error::NotImplemented { operation, .. }) => {
                Err(Error::InvalidArgument(format!(
                    "{}: the store does not support conditional writes ({operation}); for S3 set \
                     AWS_CONDITIONAL_PUT=etag (or storage option aws_conditional_put=etag)",
                    self.endpoint
                )))
            }
            Err(e) => Err(self.err(e)),
        }
    }

    /// Deletes every object under `prefix` (children of the folder, not siblings sharing a
    /// name prefix).
    pub async fn delete_under(&self, prefix: &Path) -> Result<()> {
        let paths: Vec<Path> = self
            .store
            .list(Some(prefix))
            .map_ok(|m| m.location)
            .try_collect()
            .await
            .map_err(|e| self.err(e))?;
        futures::stream::iter(paths)
            .map(|p| async move {
                match self.store.delete(&p).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                    Err(e) => Err(self.err(e)),
                }
            })
            .buffer_unordered(16)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }

    /// The immediate sub-folders of `prefix`.
    pub async fn subfolders(&self, prefix: &Path) -> Result<Vec<String>> {
        if !self.can_list {
            return Err(Error::InvalidArgument(format!(
                "{} can't be listed (plain HTTP has no listing); load items by name instead",
                self.endpoint
            )));
        }
        let listing = self
            .store
            .list_with_delimiter(Some(prefix))
            .await
            .map_err(|e| self.err(e))?;
        Ok(listing
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().map(str::to_string))
            .collect())
    }

    /// Where a local store keeps the object or folder `path` (`None`: not a local store).
    pub fn local_path(&self, path: &Path) -> Option<std::path::PathBuf> {
        let dir = self.local_dir.as_ref()?;
        Some(path.parts().fold(dir.clone(), |d, p| d.join(p.as_ref())))
    }

    /// Reads the latest hint of `root` (0 when absent).
    async fn latest_hint(&self, root: &Path) -> Result<(u64, Option<UpdateVersion>)> {
        let path = root.clone().join(LATEST);
        match self.store.get(&path).await {
            Ok(r) => {
                let uv = UpdateVersion {
                    e_tag: r.meta.e_tag.clone(),
                    version: r.meta.version.clone(),
                };
                let bytes = r.bytes().await.map_err(|e| self.err(e))?;
                // A garbled hint is only a hint: fall back to probing from 0.
                let v = serde_json::from_slice::<LatestHint>(&bytes)
                    .map(|h| h.version)
                    .unwrap_or(0);
                Ok((v, Some(uv)))
            }
            Err(object_store::Error::NotFound { .. }) => Ok((0, None)),
            Err(e) => Err(self.err(e)),
        }
    }

    /// The `LATEST` hint of `root` when it can be trusted: the hint is unauthenticated, so a
    /// number whose claim does not exist (garbled, hostile, or from a deleted item) counts as 0.
    async fn trusted_hint(&self, root: &Path) -> Result<u64> {
        let (hint, _) = self.latest_hint(root).await?;
        if hint == 0
            || self
                .exists(&version_dir(root, hint).clone().join(CLAIM))
                .await?
        {
            return Ok(hint);
        }
        tracing::warn!(root = %root, hint, "ignoring a LATEST hint whose version was never claimed");
        Ok(0)
    }

    fn next_version(&self, root: &Path, v: u64) -> Result<u64> {
        v.checked_add(1).ok_or_else(|| Error::Integrity {
            what: format!("the versions under {root}"),
            reason: "version numbers are exhausted (a claim at the largest number exists); \
                     remove the bogus version folders"
                .into(),
        })
    }

    /// Claims the next free version of `root` and returns it.
    pub async fn claim_next(&self, root: &Path) -> Result<u64> {
        let hint = self.trusted_hint(root).await?;
        let record = serde_json::to_vec(&ClaimRecord {
            writer: uuid::Uuid::new_v4().to_string(),
            created_unix: now_unix(),
        })
        .expect("claim record serializes");
        let mut n = self.next_version(root, hint)?;
        loop {
            let path = version_dir(root, n).clone().join(CLAIM);
            if self.create(&path, Bytes::from(record.clone())).await? {
                tracing::debug!(root = %root, version = n, "claimed version");
                return Ok(n);
            }
            n = self.next_version(root, n)?;
        }
    }

    /// Moves `<root>/LATEST` forward to `version` (never backwards), retrying on conflicts, after
    /// raising this client's rollback mark to it.
    pub async fn advance_latest(&self, root: &Path, version: u64) -> Result<()> {
        // The version just committed is one this client has seen: hiding it later is a rollback.
        if let Some(hw) = &self.high_water {
            hw.raise_to(root.as_ref(), version);
        }
        let path = root.clone().join(LATEST);
        let body = Bytes::from(serde_json::to_vec(&LatestHint { version }).expect("serializes"));
        for _ in 0..32 {
            let (current, uv) = self.latest_hint(root).await?;
            // A hint past `version` stands only if its claim exists (else it is bogus: repair).
            if current >= version
                && (current == version
                    || self
                        .exists(&version_dir(root, current).clone().join(CLAIM))
                        .await?)
            {
                return Ok(());
            }
            let mode = match uv {
                Some(uv) => PutMode::Update(uv),
                None => PutMode::Create,
            };
            let opts = PutOptions {
                mode,
                ..Default::default()
            };
            match self
                .store
                .put_opts(&path, PutPayload::from_bytes(body.clone()), opts)
                .await
            {
                Ok(_) => return Ok(()),
                Err(object_store::Error::Precondition { .. })
                | Err(object_store::Error::AlreadyExists { .. }) => continue,
                Err(object_store::Error::NotImplemented { .. }) => {
                    // A local folder has no compare-and-swap: overwrite, then re-read and repair
                    // if a slower writer put an older number over ours. Readers probe past a
                    // lagging hint anyway, so this can only delay, never hide, a version.
                    self.store
                        .put(&path, PutPayload::from_bytes(body.clone()))
                        .await
                        .map_err(|e| self.err(e))?;
                    if self.latest_hint(root).await?.0 >= version {
                        return Ok(());
                    }
                }
                Err(e) => return Err(self.err(e)),
            }
        }
        tracing::warn!(root = %root, version, "gave up advancing LATEST after 32 conflicts");
        Ok(())
    }

    /// The version numbers of the folders under `root`, ascending (claimed, not necessarily
    /// committed); only for stores that can list.
    async fn listed_versions(&self, root: &Path) -> Result<Vec<u64>> {
        let names = match self.local_path(root) {
            Some(dir) => local_subfolders(&dir)?,
            None => self.subfolders(root).await?,
        };
        let mut vs: Vec<u64> = names.iter().filter_map(|s| s.parse().ok()).collect();
        vs.sort_unstable();
        Ok(vs)
    }

    /// The highest committed version of `root`, where `commit` is the commit object's path
    /// relative to a version folder; `None` when nothing is committed.
    pub async fn resolve_latest(&self, root: &Path, commit: Commit) -> Result<Option<u64>> {
        Ok(self.top_commit(root, commit, false).await?.map(|(v, _)| v))
    }

    /// The highest committed version of `root` and its commit object, read while finding it
    /// (one GET where a HEAD would be followed by a GET); `None` when nothing is committed.
    ///
    /// When this handle resolved `root` before (to `v`), it first checks that no claim exists at
    /// `v + 1` and reads `v`'s commit object: claims are dense (a writer takes `v + 2` only after
    /// `v + 1`), so `v` is then still the latest, found by a HEAD and a GET instead of a listing.
    /// Anything else (a newer claim, `v` deleted) resolves from scratch. The commit object is
    /// always read from the store, never remembered.
    pub async fn latest_commit(&self, root: &Path, commit: Commit) -> Result<Option<(u64, Bytes)>> {
        let key = root.as_ref().to_string();
        let known = self.remembered().and_then(|m| m.get(&key).copied());
        if let Some((v, next)) = known.and_then(|v| Some((v, v.checked_add(1)?))) {
            if !self
                .exists(&version_dir(root, next).clone().join(CLAIM))
                .await?
            {
                if let Some(b) = self.get_opt(&commit_path(root, v, commit)).await? {
                    return Ok(Some((v, b)));
                }
            }
        }
        let found = self.top_commit(root, commit, true).await?;
        if let Some(mut m) = self.remembered() {
            match &found {
                Some((v, _)) => m.insert(key, *v),
                None => m.remove(&key),
            };
        }
        Ok(found)
    }

    /// The remembered versions, unless another thread holds them right now: then the caller
    /// resolves from scratch. Never waiting keeps a forked child (a `DataLoader` worker) from
    /// blocking on a lock a parent thread held at the fork.
    fn remembered(&self) -> Option<std::sync::MutexGuard<'_, HashMap<String, u64>>> {
        match self.latest_found.try_lock() {
            Ok(m) => Some(m),
            Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }

    /// The commit object at `path` (`fetch`), or an empty one standing for "it exists"
    /// (a HEAD); `None` when absent.
    async fn probe_commit(&self, path: &Path, fetch: bool) -> Result<Option<Bytes>> {
        if fetch {
            self.get_opt(path).await
        } else {
            Ok(self.exists(path).await?.then(Bytes::new))
        }
    }

    /// [`resolve_latest`](Self::resolve_latest), with the commit object when `fetch`.
    async fn top_commit(
        &self,
        root: &Path,
        commit: Commit,
        fetch: bool,
    ) -> Result<Option<(u64, Bytes)>> {
        if self.can_list {
            // Listing costs one request however large the (unauthenticated) numbers are, and
            // finds every claimed version: the LATEST hint adds nothing here.
            for v in self.listed_versions(root).await?.into_iter().rev() {
                if let Some(b) = self
                    .probe_commit(&commit_path(root, v, commit), fetch)
                    .await?
                {
                    return Ok(Some((v, b)));
                }
            }
            return Ok(None);
        }
        let mut top = self.trusted_hint(root).await?;
        while let Some(next) = top.checked_add(1) {
            if !self
                .exists(&version_dir(root, next).clone().join(CLAIM))
                .await?
            {
                break;
            }
            top = next;
        }
        for v in (1..=top).rev() {
            if let Some(b) = self
                .probe_commit(&commit_path(root, v, commit), fetch)
                .await?
            {
                return Ok(Some((v, b)));
            }
        }
        Ok(None)
    }

    /// [`latest_commit`](Self::latest_commit) for reading the latest: a version below the
    /// highest this client has seen as the latest is [`Error::Rollback`] (see
    /// [`super::rollback`]); `what` names the item in the message.
    pub async fn fresh_latest_commit(
        &self,
        root: &Path,
        commit: Commit,
        what: &str,
    ) -> Result<Option<(u64, Bytes)>> {
        self.fresh_top_commit(root, commit, what, true).await
    }

    /// [`top_commit`](Self::top_commit) checked against this client's rollback marks.
    async fn fresh_top_commit(
        &self,
        root: &Path,
        commit: Commit,
        what: &str,
        fetch: bool,
    ) -> Result<Option<(u64, Bytes)>> {
        let resolve = || async {
            if fetch {
                self.latest_commit(root, commit).await
            } else {
                self.top_commit(root, commit, false).await
            }
        };
        let Some(hw) = &self.high_water else {
            return resolve().await;
        };
        let item = root.as_ref();
        // The mark is read before resolving, so that clients committing meanwhile (and raising
        // it) cannot make a correct store look rolled back: see `HighWater::seen`.
        let seen = hw.seen(item);
        let latest = resolve().await?;
        // No version at all where one was seen is a rollback too (every version hidden).
        match hw.check(item, seen, latest.as_ref().map_or(0, |(v, _)| *v), what) {
            Ok(()) => Ok(latest),
            Err(Error::Rollback {
                what,
                seen,
                latest,
                marks,
                ..
            }) => Err(Error::Rollback {
                what,
                seen,
                latest,
                marks,
                available: self.committed_versions(root, commit).await?,
            }),
            Err(e) => Err(e),
        }
    }

    /// [`claim_next`](Self::claim_next) after checking, where this client keeps marks, that the
    /// item is not rolled back ([`Error::Rollback`] otherwise; the mark stays).
    pub async fn claim_next_fresh(&self, root: &Path, commit: Commit, what: &str) -> Result<u64> {
        if self.high_water.is_some() {
            self.fresh_top_commit(root, commit, what, false).await?;
        }
        self.claim_next(root).await
    }

    /// Every committed version of `root`, ascending.
    pub async fn committed_versions(&self, root: &Path, commit: Commit) -> Result<Vec<u64>> {
        let versions: Vec<u64> = if self.can_list {
            self.listed_versions(root).await?
        } else {
            // Claims are dense (1..=N): probe them instead of listing.
            let mut n = 0;
            while self
                .exists(&version_dir(root, n + 1).clone().join(CLAIM))
                .await?
            {
                n += 1;
            }
            (1..=n).collect()
        };
        let flags: Vec<bool> = futures::stream::iter(versions.iter().copied())
            .map(|v| async move { self.exists(&commit_path(root, v, commit)).await })
            .buffered(16)
            .try_collect()
            .await?;
        Ok(versions
            .into_iter()
            .zip(flags)
            .filter_map(|(v, ok)| ok.then_some(v))
            .collect())
    }

    /// Removes one version: the commit first (so readers stop seeing it at once), then its data.
    /// The claim stays, so the number is never reused for different content.
    pub async fn delete_version(&self, root: &Path, version: u64, commit: Commit) -> Result<()> {
        if let Some(hw) = &self.high_water {
            hw.forget(root.as_ref());
        }
        let commit_obj = commit_path(root, version, commit);
        match self.store.delete(&commit_obj).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(self.err(e)),
        }
        let dir = version_dir(root, version);
        let claim = dir.clone().join(CLAIM);
        let paths: Vec<Path> = self
            .store
            .list(Some(&dir))
            .map_ok(|m| m.location)
            .try_filter(|p| futures::future::ready(*p != claim))
            .try_collect()
            .await
            .map_err(|e| self.err(e))?;
        for p in paths {
            match self.store.delete(&p).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(self.err(e)),
            }
        }
        if let Some(hw) = &self.high_water {
            hw.forget(root.as_ref());
        }
        Ok(())
    }

    /// Removes a whole item: every commit first, then everything under `root`.
    pub async fn delete_item(&self, root: &Path, commit: Commit) -> Result<()> {
        if let Some(hw) = &self.high_water {
            hw.forget(root.as_ref());
        }
        for v in self.committed_versions(root, commit).await? {
            match self.store.delete(&commit_path(root, v, commit)).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(self.err(e)),
            }
        }
        self.delete_under(root).await?;
        if let Some(hw) = &self.high_water {
            hw.forget(root.as_ref());
        }
        Ok(())
    }
}

/// The names of the folders in `dir` (none when it does not exist).
fn local_subfolders(dir: &std::path::Path) -> Result<Vec<String>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        // As `object_store`'s walk: nothing there (or a file there) lists nothing.
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
            ) =>
        {
            return Ok(Vec::new())
        }
        Err(e) => return Err(Error::io(dir, e)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let kind = entry.file_type().map_err(|e| Error::io(entry.path(), e))?;
        // A symlinked folder counts: `object_store`'s walk follows links.
        if kind.is_dir() || (kind.is_symlink() && entry.path().is_dir()) {
            if let Some(name) = entry.file_name().to_str() {
                names.push(name.to_string());
            }
        }
    }
    Ok(names)
}

/// Which object commits a version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Commit {
    /// A file inside the version folder (a model's `manifest.json`).
    File(&'static str),
    /// The dataset manifest of a dataset written at the version folder with that version
    /// number (`<v>/manifests/<v, 20 digits>.manifest`).
    DatasetManifest,
}

/// The commit object of `version`.
pub fn commit_path(root: &Path, version: u64, commit: Commit) -> Path {
    let dir = version_dir(root, version);
    match commit {
        Commit::File(name) => dir.join(name),
        Commit::DatasetManifest => crate::dataset::manifest::manifest_path(&dir, version),
    }
}
