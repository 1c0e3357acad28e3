//! The store backends every platform conformance test runs against, shared by the test files:
//! a fresh `memory://` store, a temporary local folder, or a unique prefix in the moto S3
//! bucket that `scripts/moto.sh` starts (the S3 cases fail, not skip, without it).

#![allow(dead_code)] // each test crate uses its own subset

use lepton_core::crypto::Key;
use lepton_core::platform::{Platform, PlatformOptions};

/// Where a test's registry lives.
#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Memory,
    Local,
    S3,
}

/// A fresh registry location (cleaned up on drop) and its own cache folder.
pub struct Fixture {
    pub uri: String,
    _dir: Option<tempfile::TempDir>,
    pub cache: tempfile::TempDir,
}

pub fn s3_bucket() -> String {
    match (
        std::env::var("LEPTON_TEST_S3_BUCKET"),
        std::env::var("AWS_ENDPOINT"),
    ) {
        (Ok(b), Ok(_)) => b,
        _ => panic!(
            "the S3 cases need a local S3 server: run `source scripts/moto.sh` (or scripts/test.sh), \
             which starts moto_server and exports AWS_ENDPOINT and LEPTON_TEST_S3_BUCKET"
        ),
    }
}

/// A new, empty registry location on `backend`.
pub fn fixture(backend: Backend) -> Fixture {
    let id = uuid::Uuid::new_v4();
    let cache = tempfile::tempdir().unwrap();
    let (uri, dir) = match backend {
        Backend::Memory => (format!("memory://test-{id}"), None),
        Backend::Local => {
            let dir = tempfile::tempdir().unwrap();
            (dir.path().join("registry").display().to_string(), Some(dir))
        }
        Backend::S3 => (format!("s3://{}/test-{id}", s3_bucket()), None),
    };
    Fixture {
        uri,
        _dir: dir,
        cache,
    }
}

impl Fixture {
    /// Opens the registry with `key`, through this fixture's cache or with no cache at all.
    pub fn open_opts(
        &self,
        key: Option<Key>,
        cache: bool,
        storage: Vec<(String, String)>,
    ) -> Platform {
        Platform::open(
            Some(&self.uri),
            PlatformOptions {
                key,
                cache_dir: cache.then(|| self.cache.path().to_path_buf()),
                no_cache: !cache,
                storage_options: storage,
                ..Default::default()
            },
        )
        .unwrap()
    }
}
