//! Any bytes as the registry's records of one model: its `LATEST` pointer, a version's `CLAIM`
//! and its commit record (`manifest.json`), put in an in-memory store. Resolving, listing and
//! loading return values or errors, never panic or hang, with and without the registry key.
#![no_main]

use std::sync::Arc;

use lepton_core::crypto::Key;
use lepton_core::object_store::memory::InMemory;
use lepton_core::object_store::path::Path;
use lepton_core::object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use lepton_core::platform::{Platform, PlatformOptions};
use lepton_core::pools::block_on;
use lepton_core::store::StoreKind;
use libfuzzer_sys::fuzz_target;

/// Splits `data` into three records at the first two `\0` bytes (missing parts are empty).
fn records(data: &[u8]) -> [&[u8]; 3] {
    let mut parts = data.splitn(3, |&b| b == 0);
    [
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    ]
}

fuzz_target!(|data: &[u8]| {
    let [latest, claim, manifest] = records(data);
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    block_on(async {
        for (path, bytes) in [
            ("models/m/LATEST", latest),
            ("models/m/1/CLAIM", claim),
            ("models/m/1/manifest.json", manifest),
            ("models/m/1/model.onnx", b"onnx".as_slice()),
        ] {
            let payload = PutPayload::from(bytes.to_vec());
            store.put(&Path::from(path), payload).await.unwrap();
        }
    });
    for key in [None, Some(Key::from_bytes(&[7u8; 32]).unwrap())] {
        let options = PlatformOptions {
            encrypt: key.is_none().then_some(false),
            key,
            no_cache: true,
            ..Default::default()
        };
        let p = Platform::with_store(store.clone(), Path::default(), "memory://fuzz", StoreKind::Memory, options)
            .unwrap();
        let _ = p.model_versions("m");
        let _ = p.model_info("m", None);
        let _ = p.model_info("m", Some(1));
        let _ = p.model_bytes("m", None);
        let _ = p.list_models();
    }
});
