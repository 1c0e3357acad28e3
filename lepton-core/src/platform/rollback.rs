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

use crate::{Error, Result};

/// The high-water marks of one registry (see the module docs).
#[derive(Debug)]
pub struct HighWater {
    path: PathBuf,
    /// Serializes this process's read-modify-write of the file.
    lock: Mutex<()>,
}

impl HighWater {
    /// The marks of the registry `registry_id` (a hash of its URI) under `home`.
    pub fn new(home: &std::path::Path, registry_id: &str) -> HighWater {
        HighWater {
            path: home.join("seen").join(format!("{registry_id}.json")),
            lock: Mutex::new(()),
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

    fn write(&self, marks: &BTreeMap<String, u64>) {
        let result = (|| -> std::io::Result<()> {
            let dir = self.path.parent().expect("has a parent");
            std::fs::create_dir_all(dir)?;
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

    /// Checks that `latest`, just resolved as the latest version of `item`, is not below the
    /// highest seen before, then raises the mark to it.
    pub fn observe(&self, item: &str, latest: u64, what: &str) -> Result<()> {
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut marks = self.read();
        let seen = marks.get(item).copied().unwrap_or(0);
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
            marks.insert(item.to_string(), latest);
            self.write(&marks);
        }
        Ok(())
    }

    /// Raises the mark of `item` to `version`, which this client just committed (a push is
    /// seeing its own version as the latest; the mark never goes down here).
    pub fn raise_to(&self, item: &str, version: u64) {
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut marks = self.read();
        if marks.get(item).is_none_or(|&seen| seen < version) {
            marks.insert(item.to_string(), version);
            self.write(&marks);
        }
    }

    /// Forgets the mark of `item` (this client deleted versions of it).
    pub fn forget(&self, item: &str) {
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut marks = self.read();
        if marks.remove(item).is_some() {
            self.write(&marks);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latest_never_goes_backwards() {
        let home = tempfile::tempdir().unwrap();
        let hw = HighWater::new(home.path(), "r1");
        hw.observe("models/m", 1, "model `m`").unwrap();
        hw.observe("models/m", 3, "model `m`").unwrap();
        hw.observe("models/m", 3, "model `m`").unwrap();
        let e = hw.observe("models/m", 2, "model `m`").unwrap_err();
        let Error::Rollback { seen, latest, .. } = e else {
            panic!("not a rollback: {e}")
        };
        assert_eq!((seen, latest), (3, 2));
        // another item and another registry are independent; a new handle reads the same file
        hw.observe("models/other", 1, "model `other`").unwrap();
        HighWater::new(home.path(), "r2")
            .observe("models/m", 1, "m")
            .unwrap();
        assert!(HighWater::new(home.path(), "r1")
            .observe("models/m", 2, "m")
            .is_err());
        hw.forget("models/m");
        hw.observe("models/m", 2, "model `m`").unwrap();
    }
}
