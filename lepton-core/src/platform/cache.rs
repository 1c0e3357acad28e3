//! The local cache of a remote registry: content-addressed, verified, size-bounded, multi-process.
//!
//! ```text
//! <dir>/objects/<aa>/<sha256>        stored bytes (sealed when the item is encrypted: the cache
//!                                    never holds a model in clear)
//! <dir>/refs/<registry id>/<key>     the last manifest seen for a name/version, to keep serving
//!                                    offline when the registry can't be reached
//! <dir>/tmp/<pid>-<uuid>.part        partial writes, renamed into place when complete
//! ```
//!
//! Every object is re-hashed on read and compared with the hash the manifest names: a corrupted
//! file is deleted and fetched again, never trusted. Writes go to a temporary file and are renamed
//! into place (atomic on one file system), so several processes can share a cache. When the
//! objects exceed `max_bytes`, the least recently used are removed.
//!
//! The bound is checked by scanning the folder, which costs a `stat` per cached object; a handle
//! (and its clones) scans after it has written a sixteenth of the bound since its last scan (and
//! after any single larger write), not after every write: with thousands of objects cached, a
//! scan per chunk written cost more than the write. So the objects may exceed `max_bytes` by up
//! to a sixteenth of it per writing process between two scans.
//!
//! On a full disk a read still returns its data (caching is best effort), and leaves nothing
//! behind: a write that fails removes its partial file. Partial files count against
//! `max_bytes`, and those of processes that no longer run (killed mid-write) are removed when a
//! cache opens and when it evicts.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::{Error, Result};

/// 10 GiB: the default bound of a cache.
pub const DEFAULT_MAX_BYTES: u64 = 10 << 30;
/// The folder is scanned for eviction after each `max_bytes / SCAN_EVERY_FRACTION` bytes written.
const SCAN_EVERY_FRACTION: u64 = 16;

/// A local content-addressed cache (see the module docs).
#[derive(Clone, Debug)]
pub struct Cache {
    dir: PathBuf,
    max_bytes: u64,
    /// Bytes written through this handle and its clones since the folder was last scanned.
    unscanned: Arc<AtomicU64>,
}

/// The hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

pub(crate) fn is_hex_digest(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Marks a cached file as recently used, for eviction.
fn touch(path: &Path) {
    if let Ok(f) = std::fs::File::options().append(true).open(path) {
        let _ = f.set_modified(std::time::SystemTime::now());
    }
}

impl Cache {
    /// Opens (creating) a cache in `dir`, bounded to `max_bytes` of objects.
    pub fn open(dir: impl Into<PathBuf>, max_bytes: u64) -> Result<Cache> {
        let dir = dir.into();
        for sub in ["objects", "refs", "tmp"] {
            let p = dir.join(sub);
            std::fs::create_dir_all(&p).map_err(|e| Error::io(&p, e))?;
        }
        let cache = Cache {
            dir,
            max_bytes,
            unscanned: Arc::default(),
        };
        cache.remove_stale_partials();
        Ok(cache)
    }

    /// The partial files in `tmp/`: path, size, and whether its writer is gone (its process no
    /// longer runs; a file not named `<pid>-...` counts as gone once it is an hour old).
    fn partials(&self) -> Vec<(PathBuf, u64, bool)> {
        let Ok(files) = std::fs::read_dir(self.dir.join("tmp")) else {
            return Vec::new();
        };
        files
            .flatten()
            .filter_map(|f| {
                let meta = f.metadata().ok()?;
                let name = f.file_name().to_string_lossy().into_owned();
                let pid = name
                    .split_once('-')
                    .and_then(|(p, _)| p.parse::<u32>().ok());
                let gone = match pid {
                    Some(pid) => pid != std::process::id() && !process_alive(pid),
                    None => meta
                        .modified()
                        .ok()
                        .and_then(|t| t.elapsed().ok())
                        .is_some_and(|age| age > std::time::Duration::from_secs(3600)),
                };
                Some((f.path(), meta.len(), gone))
            })
            .collect()
    }

    /// Removes partial files whose writer is gone.
    fn remove_stale_partials(&self) {
        for (path, _, gone) in self.partials() {
            if gone && std::fs::remove_file(&path).is_ok() {
                tracing::debug!(path = %path.display(), "removed a partial cache file of a dead writer");
            }
        }
    }

    /// The cache folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The size bound of the cached objects.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// The file an object with this hash lives in.
    pub fn object_path(&self, sha256: &str) -> PathBuf {
        self.dir.join("objects").join(&sha256[..2]).join(sha256)
    }

    /// The cached bytes whose SHA-256 is `sha256`, or `None` (absent or corrupted: a corrupted
    /// file is removed so the caller fetches it again).
    pub fn get_object(&self, sha256: &str) -> Option<Vec<u8>> {
        if !is_hex_digest(sha256) {
            return None;
        }
        let path = self.object_path(sha256);
        let data = std::fs::read(&path).ok()?;
        if sha256_hex(&data) != sha256.to_ascii_lowercase() {
            tracing::warn!(path = %path.display(), "cached object is corrupted; fetching it again");
            let _ = std::fs::remove_file(&path);
            return None;
        }
        touch(&path);
        tracing::debug!(sha256, "cache hit");
        Some(data)
    }

    /// The bytes kept under `name` (64 hex digits) by [`put_unverified`](Self::put_unverified),
    /// not re-hashed: for objects whose reader verifies them itself (dataset chunks of format 2:
    /// AES-GCM or the manifest's BLAKE3) and drops a bad copy with [`remove`](Self::remove).
    pub fn get_unverified(&self, name: &str) -> Option<Vec<u8>> {
        if !is_hex_digest(name) {
            return None;
        }
        let path = self.object_path(name);
        let data = std::fs::read(&path).ok()?;
        touch(&path);
        Some(data)
    }

    /// Keeps `data` under `name` (64 hex digits), unverified (see
    /// [`get_unverified`](Self::get_unverified)), then evicts down to the bound.
    pub fn put_unverified(&self, name: &str, data: &[u8]) -> Result<()> {
        if !is_hex_digest(name) {
            return Err(Error::InvalidArgument(format!(
                "a cache name is 64 hex digits, got `{name}`"
            )));
        }
        let path = self.object_path(name);
        if data.len() as u64 > self.max_bytes || path.exists() {
            return Ok(());
        }
        self.write_atomic(&path, data)?;
        self.wrote(data.len() as u64);
        Ok(())
    }

    /// Removes the object kept under `name`; returns whether there was one.
    pub fn remove(&self, name: &str) -> bool {
        is_hex_digest(name) && std::fs::remove_file(self.object_path(name)).is_ok()
    }

    /// Stores `data` under its hash `sha256` (checked), then evicts down to the bound.
    pub fn put_object(&self, sha256: &str, data: &[u8]) -> Result<()> {
        if !is_hex_digest(sha256) || sha256_hex(data) != sha256.to_ascii_lowercase() {
            return Err(Error::Integrity {
                what: "object to cache".into(),
                reason: format!("its content does not hash to {sha256}"),
            });
        }
        if data.len() as u64 > self.max_bytes {
            return Ok(()); // would evict itself
        }
        let path = self.object_path(sha256);
        if path.exists() {
            return Ok(());
        }
        self.write_atomic(&path, data)?;
        self.wrote(data.len() as u64);
        Ok(())
    }

    fn write_atomic(&self, path: &Path, data: &[u8]) -> Result<()> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        let tmp = self.dir.join("tmp").join(format!(
            "{}-{}.part",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        if let Err(e) = std::fs::write(&tmp, data) {
            // A full disk (or a size limit) leaves part of the file: never keep it.
            let _ = std::fs::remove_file(&tmp);
            return Err(Error::io(&tmp, e));
        }
        std::fs::rename(&tmp, path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            Error::io(path, e)
        })
    }

    fn ref_path(&self, scope: &str, key: &str) -> PathBuf {
        let mut p = self.dir.join("refs").join(scope);
        for part in key.split('/') {
            p = p.join(part);
        }
        p
    }

    /// Records a small document (a manifest) under `scope`/`key`.
    pub fn put_ref(&self, scope: &str, key: &str, data: &[u8]) -> Result<()> {
        self.write_atomic(&self.ref_path(scope, key), data)
    }

    /// The document recorded under `scope`/`key`, if any.
    pub fn get_ref(&self, scope: &str, key: &str) -> Option<Vec<u8>> {
        std::fs::read(self.ref_path(scope, key)).ok()
    }

    /// Total bytes of cached objects and partial files.
    pub fn size(&self) -> u64 {
        let partial: u64 = self.partials().iter().map(|(_, len, _)| len).sum();
        partial + self.entries().iter().map(|(_, len, _)| len).sum::<u64>()
    }

    fn entries(&self) -> Vec<(PathBuf, u64, std::time::SystemTime)> {
        let mut out = Vec::new();
        let Ok(shards) = std::fs::read_dir(self.dir.join("objects")) else {
            return out;
        };
        for shard in shards.flatten() {
            let Ok(files) = std::fs::read_dir(shard.path()) else {
                continue;
            };
            for f in files.flatten() {
                if let Ok(meta) = f.metadata() {
                    let t = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
                    out.push((f.path(), meta.len(), t));
                }
            }
        }
        out
    }

    /// Counts `len` bytes just written; evicts when a sixteenth of the bound has been written
    /// since the last scan (see the module docs).
    fn wrote(&self, len: u64) {
        let every = self.max_bytes / SCAN_EVERY_FRACTION;
        let since = self.unscanned.fetch_add(len, Ordering::Relaxed) + len;
        // The swap lets one writer of several scan, and loses no bytes counted meanwhile.
        if since >= every && self.unscanned.swap(0, Ordering::Relaxed) >= every {
            self.evict();
        }
    }

    /// Removes least recently used objects until the total is within the bound.
    pub fn evict(&self) {
        self.remove_stale_partials();
        // Live writers' partial files count against the bound (they are about to be objects).
        let partial: u64 = self.partials().iter().map(|(_, len, _)| len).sum();
        let mut entries = self.entries();
        let mut total: u64 = partial + entries.iter().map(|(_, len, _)| len).sum::<u64>();
        if total <= self.max_bytes {
            return;
        }
        entries.sort_by_key(|(_, _, t)| *t);
        for (path, len, _) in entries {
            if total <= self.max_bytes {
                break;
            }
            // Another process may have removed it already; a reader holding it open keeps its data.
            let _ = std::fs::remove_file(&path);
            total = total.saturating_sub(len);
            tracing::debug!(path = %path.display(), "evicted from cache");
        }
    }
}

/// Whether process `pid` still runs (Linux: `/proc/<pid>` exists; elsewhere assumed alive, so
/// only unnamed partial files age out).
fn process_alive(pid: u32) -> bool {
    let proc_root = std::path::Path::new("/proc/self");
    if !proc_root.exists() {
        return true;
    }
    std::path::Path::new("/proc").join(pid.to_string()).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_corruption_and_eviction() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path(), 100).unwrap();
        let a = vec![1u8; 60];
        let ha = sha256_hex(&a);
        cache.put_object(&ha, &a).unwrap();
        assert_eq!(cache.get_object(&ha).unwrap(), a);
        // corrupted on disk -> removed, not trusted
        std::fs::write(cache.object_path(&ha), b"garbage").unwrap();
        assert!(cache.get_object(&ha).is_none());
        assert!(!cache.object_path(&ha).exists());
        // eviction keeps the newest within the bound
        cache.put_object(&ha, &a).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let b = vec![2u8; 60];
        let hb = sha256_hex(&b);
        cache.put_object(&hb, &b).unwrap();
        assert!(cache.size() <= 100);
        assert!(cache.get_object(&hb).is_some());
        assert!(cache.get_object(&ha).is_none());
        // wrong hash refused
        assert!(cache.put_object(&ha, &b).is_err());
        // refs
        cache.put_ref("r", "models/m/latest.json", b"{}").unwrap();
        assert_eq!(cache.get_ref("r", "models/m/latest.json").unwrap(), b"{}");
        assert!(cache.get_ref("r", "models/x/latest.json").is_none());
    }

    #[test]
    fn the_folder_is_scanned_after_a_sixteenth_of_the_bound_is_written() {
        let dir = tempfile::tempdir().unwrap();
        // Scans after every 100 bytes written.
        let cache = Cache::open(dir.path(), 1600).unwrap();
        let put = |i: u32| {
            cache
                .put_unverified(&format!("{i:064x}"), &[1u8; 10])
                .unwrap()
        };
        (0..160).for_each(put);
        assert_eq!(cache.size(), 1600);
        // 90 bytes over the bound, written since the last scan: not scanned yet.
        (160..169).for_each(put);
        assert_eq!(cache.size(), 1690);
        // The 100th byte since the last scan: evicted down to the bound.
        put(169);
        assert_eq!(cache.size(), 1600);
        // A clone shares the count: 90 bytes through it, then 10 through the original.
        let other = cache.clone();
        (170..179).for_each(|i| {
            other
                .put_unverified(&format!("{i:064x}"), &[1u8; 10])
                .unwrap()
        });
        assert_eq!(cache.size(), 1690);
        put(179);
        assert_eq!(cache.size(), 1600);
    }
}
