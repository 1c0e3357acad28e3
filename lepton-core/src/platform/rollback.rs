//! Rollback detection: the latest version of an item never goes backwards for this client.
//!
//! A registry that serves an older version as the latest (a stale replica, or someone with write
//! access to the store moving `LATEST` back or hiding newer versions) would otherwise go
//! unnoticed. As in TUF's freshness rules, the client keeps a high-water mark: for each item of
//! each registry, the highest version it has resolved as the latest, in
//! `<lepton home>/seen/<registry id>.json`. Resolving the latest to a lower version is
//! [`Error::Rollback`], which lists the versions the store still has to pin. Asking for a version
//! by number is not affected, and a delete made through this client lowers its own mark. A push
//! to a rolled-back item is refused with the same error and the mark stays (as TUF keeps its
//! mark): a new version would hide the rollback, and could reuse the number of a hidden one. In-memory registries keep no mark (they live in one
//! process).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;

use crate::per_process::PerProcess;
use crate::{Error, Result};

/// Serializes this process's read-modify-writes of marks files, whichever handle makes them
/// (every open registry has its own [`HighWater`]); per process, so that a forked child never
/// waits on a parent thread's hold.
static WRITING: PerProcess<Mutex<()>> = PerProcess::new(|_: Option<&Mutex<()>>| Mutex::new(()));

/// The high-water marks of one registry (see the module docs).
#[derive(Debug)]
pub struct HighWater {
    path: PathBuf,
}

impl HighWater {
    /// The marks of the registry `registry_id` (a hash of its URI) under `home`.
    pub fn new(home: &std::path::Path, registry_id: &str) -> HighWater {
        HighWater {
            path: home.join("seen").join(format!("{registry_id}.json")),
        }
    }

    /// The marks of the registry at `uri`, in `<lepton home>/seen/`.
    pub fn for_registry(uri: &str) -> HighWater {
        let id = super::cache::sha256_hex(uri.as_bytes());
        HighWater::new(&super::lepton_home(), &id[..16])
    }

    /// The file the marks live in.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    fn read(&self) -> BTreeMap<String, u64> {
        std::fs::read(&self.path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// Replaces the file with `marks` (its folder was made by [`update`](Self::update)).
    fn write(&self, marks: &BTreeMap<String, u64>) {
        let result = (|| -> std::io::Result<()> {
            let dir = self.path.parent().expect("has a parent");
            let tmp = dir.join(format!(".{}.tmp", uuid::Uuid::new_v4().simple()));
            std::fs::write(&tmp, serde_json::to_vec(marks).expect("serializes"))?;
            std::fs::rename(&tmp, &self.path).inspect_err(|_| {
                let _ = std::fs::remove_file(&tmp);
            })
        })();
        if let Err(e) = result {
            // Detection is lost for this item until the file can be written; reading goes on.
            tracing::warn!(path = %self.path.display(), "could not record the versions seen: {e}");
        }
    }

    /// The highest version of `item` this client has seen as the latest (0: none yet).
    ///
    /// Read it *before* resolving the latest: every version it counts was committed before the
    /// mark was raised, so a store that is not rolled back shows it to a resolve that starts
    /// afterwards, however many clients commit meanwhile.
    pub fn seen(&self, item: &str) -> u64 {
        // The file is replaced whole (a rename): reading needs no lock.
        self.read().get(item).copied().unwrap_or(0)
    }

    /// Runs `change` on the marks and writes them back if it returns true, holding this
    /// process's lock and an advisory lock on `<marks>.lock` (other processes of this home):
    /// no change is lost to another writer's. Without the file lock (it could not be taken)
    /// the change is still made; a lost update can only lower a mark.
    fn update(&self, change: impl FnOnce(&mut BTreeMap<String, u64>) -> bool) {
        let _guard = WRITING.get().lock().unwrap_or_else(|p| p.into_inner());
        let lock = (|| {
            // The folder is made here, once per update, for the lock file and the marks.
            std::fs::create_dir_all(self.path.parent().expect("has a parent"))?;
            let file = std::fs::File::create(self.path.with_extension("lock"))?;
            file.lock()?;
            std::io::Result::Ok(file)
        })();
        if let Err(e) = &lock {
            tracing::debug!(path = %self.path.display(), "marks written without a file lock: {e}");
        }
        let mut marks = self.read();
        if change(&mut marks) {
            self.write(&marks);
        }
        // Dropping `lock` closes the file, which releases the advisory lock.
    }

    /// Checks that `latest`, resolved as the latest version of `item` after [`seen`](Self::seen)
    /// returned `seen`, is not below it, then raises the mark to `latest`. A mark raised by
    /// another client during the resolve is not compared: that commit may postdate the resolve.
    /// A mark lowered meanwhile is: a handle of this home deleted versions ([`forget`](Self::forget)).
    pub fn check(&self, item: &str, seen: u64, latest: u64, what: &str) -> Result<()> {
        let seen = if latest < seen {
            seen.min(self.seen(item))
        } else {
            seen
        };
        if latest < seen {
            return Err(Error::Rollback {
                what: what.to_string(),
                seen,
                latest,
                marks: self.path.display().to_string(),
                // Filled in by the caller, which can list the store.
                available: Vec::new(),
            });
        }
        if latest > seen {
            self.raise_to(item, latest);
        }
        Ok(())
    }

    /// Raises the mark of `item` to `version`, which this client just committed (a push is
    /// seeing its own version as the latest; the mark never goes down here).
    pub fn raise_to(&self, item: &str, version: u64) {
        self.update(|marks| {
            let raise = marks.get(item).is_none_or(|&seen| seen < version);
            if raise {
                marks.insert(item.to_string(), version);
            }
            raise
        });
    }

    /// Forgets the mark of `item` (this client deletes versions of it: called before the
    /// delete, and again after it, in case a read that began before it raised the mark again).
    pub fn forget(&self, item: &str) {
        self.update(|marks| marks.remove(item).is_some());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads the mark, then checks `latest` against it: a resolve with nothing in between.
    fn observe(hw: &HighWater, item: &str, latest: u64, what: &str) -> Result<()> {
        hw.check(item, hw.seen(item), latest, what)
    }

    #[test]
    fn latest_never_goes_backwards() {
        let home = tempfile::tempdir().unwrap();
        let hw = HighWater::new(home.path(), "r1");
        observe(&hw, "models/m", 1, "model `m`").unwrap();
        observe(&hw, "models/m", 3, "model `m`").unwrap();
        observe(&hw, "models/m", 3, "model `m`").unwrap();
        let e = observe(&hw, "models/m", 2, "model `m`").unwrap_err();
        let Error::Rollback { seen, latest, .. } = e else {
            panic!("not a rollback: {e}")
        };
        assert_eq!((seen, latest), (3, 2));
        // another item and another registry are independent; a new handle reads the same file
        observe(&hw, "models/other", 1, "model `other`").unwrap();
        observe(&HighWater::new(home.path(), "r2"), "models/m", 1, "m").unwrap();
        assert!(observe(&HighWater::new(home.path(), "r1"), "models/m", 2, "m").is_err());
        hw.forget("models/m");
        observe(&hw, "models/m", 2, "model `m`").unwrap();
    }

    /// Another client (here another handle on the same home) commits and raises the mark while
    /// this one resolves: the resolve, which began before that commit, may rightly miss it, and
    /// is not a rollback. The mark keeps the higher version.
    #[test]
    fn a_mark_raised_during_a_resolve_is_not_a_rollback() {
        let home = tempfile::tempdir().unwrap();
        let reader = HighWater::new(home.path(), "r1");
        let writer = HighWater::new(home.path(), "r1");
        observe(&reader, "models/m", 10, "m").unwrap();
        let seen = reader.seen("models/m");
        writer.raise_to("models/m", 11);
        reader.check("models/m", seen, 10, "m").unwrap();
        assert_eq!(reader.seen("models/m"), 11);
        // The next resolve starts after the mark: 10 now is a rollback.
        assert!(observe(&reader, "models/m", 10, "m").is_err());
    }

    /// Another handle of this home deletes the latest while this one resolves: the lower
    /// version found is not a rollback, and becomes the mark.
    #[test]
    fn a_mark_forgotten_during_a_resolve_is_not_a_rollback() {
        let home = tempfile::tempdir().unwrap();
        let reader = HighWater::new(home.path(), "r1");
        observe(&reader, "models/m", 5, "m").unwrap();
        let seen = reader.seen("models/m");
        HighWater::new(home.path(), "r1").forget("models/m");
        reader.check("models/m", seen, 4, "m").unwrap();
        assert_eq!(reader.seen("models/m"), 4);
    }

    /// Handles of one registry raising marks from many threads at once lose none of them
    /// (each handle has its own `HighWater`; the lock is the process's and the file's).
    #[test]
    fn concurrent_raises_from_many_handles_all_stick() {
        let home = tempfile::tempdir().unwrap();
        std::thread::scope(|s| {
            for t in 0..8 {
                let hw = HighWater::new(home.path(), "r1");
                s.spawn(move || {
                    for i in 0..25 {
                        hw.raise_to(&format!("models/m{t}-{i}"), i + 1);
                    }
                });
            }
        });
        let hw = HighWater::new(home.path(), "r1");
        for t in 0..8 {
            for i in 0..25 {
                assert_eq!(hw.seen(&format!("models/m{t}-{i}")), i + 1, "m{t}-{i}");
            }
        }
    }
}
