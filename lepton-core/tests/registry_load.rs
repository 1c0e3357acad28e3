//! What one registry load reads: the manifest once (latest resolved, rollback-checked and
//! authenticated a single time), this machine's tuning profile at that version, and the stored
//! object, verified. Counted by a store wrapper; on `tests/fixtures/logreg.onnx` (written by
//! `python tests/model_fixtures.py lepton-core/tests/fixtures`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use lepton_core::crypto::Key;
use lepton_core::model::tune::{GivenOptions, Profile};
use lepton_core::model::{Fingerprint, ModelOptions};
use lepton_core::platform::{Platform, PlatformOptions, PushOptions, Tuning};
use lepton_core::store::StoreKind;
use lepton_core::Error;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

mod common;
use common::get_hook::GetHook;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn logreg() -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/logreg.onnx");
    std::fs::read(path).expect("fixture")
}

/// A store counting the GETs of each object's file name (`manifest.json`, `LATEST`...), and
/// its HEADs as `HEAD <file name>`.
struct CountingStore {
    store: Arc<dyn ObjectStore>,
    gets: Arc<Mutex<HashMap<String, usize>>>,
}

impl Default for CountingStore {
    fn default() -> Self {
        let gets: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let counts = gets.clone();
        let store = GetHook::new(Arc::new(InMemory::new()), move |location, options| {
            let file = location.filename().unwrap_or_default();
            let what = if options.head {
                format!("HEAD {file}")
            } else {
                file.to_string()
            };
            *counts.lock().unwrap().entry(what).or_default() += 1;
        });
        CountingStore {
            store: Arc::new(store),
            gets,
        }
    }
}

impl CountingStore {
    fn gets_of(&self, file: &str) -> usize {
        self.gets.lock().unwrap().get(file).copied().unwrap_or(0)
    }

    fn heads(&self) -> usize {
        let gets = self.gets.lock().unwrap();
        gets.iter()
            .filter(|(k, _)| k.starts_with("HEAD "))
            .map(|(_, n)| n)
            .sum()
    }

    fn reset(&self) {
        self.gets.lock().unwrap().clear();
    }
}

/// A profile of this machine asking for one intra-op thread and basic optimizations.
fn profile_here(here: &Fingerprint) -> Profile {
    let text = serde_json::json!({
        "fingerprint": here,
        "fingerprint_id": here.id(),
        "objective": "latency",
        "settings": {
            "providers": ["cpu"], "intra_op_threads": 1, "inter_op_threads": null,
            "optimization_level": "basic", "batch_size": null,
        },
        "variant": "original", "beats_baseline": true, "speedup": 1.5, "noise": 0.1,
        "p50_ms": 1.0, "rows_per_s": 1000.0, "created_unix": 0,
    });
    Profile::from_json(&text.to_string()).expect("a valid profile")
}

/// A handle on `store`; every handle of a test holds the same key.
fn keyed(store: &CountingStore) -> lepton_core::Result<Platform> {
    Platform::with_store(
        store.store.clone(),
        Path::default(),
        "memory://registry-load",
        StoreKind::Memory,
        PlatformOptions {
            key: Some(Key::from_bytes(&[7; 32])?),
            ..Default::default()
        },
    )
}

/// A keyed registry on `store` holding `logreg` version 1 and a tuning profile of it for this
/// machine (whose fingerprint comes back too).
fn tuned_logreg(store: &CountingStore) -> lepton_core::Result<(Platform, Fingerprint)> {
    let platform = keyed(store)?;
    platform.push_model("logreg", &logreg(), &PushOptions::default())?;
    let here = Fingerprint::current(None)?;
    platform.put_profile("logreg", None, &profile_here(&here))?;
    Ok((platform, here))
}

#[test]
fn a_tuned_load_reads_the_manifest_once() -> TestResult {
    let store = CountingStore::default();
    let (_, here) = tuned_logreg(&store)?;
    let profile = profile_here(&here);
    let tuning = Tuning {
        fingerprint_id: here.id(),
        given: GivenOptions::default(),
    };
    let latest = |platform: &Platform| {
        store.reset();
        platform.load_model_tuned(
            "logreg",
            None,
            &ModelOptions::default(),
            Some(&tuning),
            None,
        )
    };
    // A fresh handle, as a new process would open the registry.
    let platform = keyed(&store)?;
    let (model, applied) = latest(&platform)?;
    assert_eq!(model.inputs()[0].name(), "x");
    assert_eq!(applied.map(|p| p.settings), Some(profile.settings.clone()));
    assert_eq!(store.gets_of("manifest.json"), 1, "the manifest, read once");
    assert_eq!(
        store.gets_of(&format!("{}.json", here.id())),
        1,
        "the profile"
    );
    assert_eq!(store.gets_of("model.onnx.sealed"), 1, "the stored model");
    // A store that lists finds the latest by one listing and the manifest's GET: no LATEST
    // hint, no HEAD of a claim or of the manifest before reading it.
    assert_eq!(store.gets_of("LATEST"), 0);
    assert_eq!(store.heads(), 0, "{:?}", store.gets.lock().unwrap());

    // Loaded again through the same handle: the claim above the version found last time is
    // absent (a HEAD), so that version is still the latest; its manifest is read again.
    latest(&platform)?;
    assert_eq!(store.gets_of("manifest.json"), 1);
    assert_eq!(store.gets_of("HEAD CLAIM"), 1);
    assert_eq!(store.heads(), 1);

    // Untuned, by version: the manifest and the object, no profile.
    store.reset();
    let (_, applied) =
        platform.load_model_tuned("logreg", Some(1), &ModelOptions::default(), None, None)?;
    assert_eq!(applied, None);
    assert_eq!(store.gets_of("manifest.json"), 1);
    assert_eq!(store.gets_of(&format!("{}.json", here.id())), 0);
    Ok(())
}

#[test]
fn a_tuned_load_still_verifies_the_stored_model() -> TestResult {
    let store = CountingStore::default();
    let (platform, here) = tuned_logreg(&store)?;
    // One byte of the sealed object flipped in the store.
    let path = Path::from("models/logreg/1/model.onnx.sealed");
    let mut sealed =
        futures::executor::block_on(async { store.store.get(&path).await?.bytes().await })?
            .to_vec();
    let last = sealed.len() - 1;
    sealed[last] ^= 1;
    futures::executor::block_on(store.store.put(&path, PutPayload::from(sealed)))?;
    let tuning = Tuning {
        fingerprint_id: here.id(),
        given: GivenOptions::default(),
    };
    let err = platform
        .load_model_tuned(
            "logreg",
            None,
            &ModelOptions::default(),
            Some(&tuning),
            None,
        )
        .unwrap_err();
    assert!(matches!(err, Error::Integrity { .. }), "{err}");
    Ok(())
}
