//! Any bytes as a stored manifest: parsing and verification return errors, never panic.
#![no_main]

use lepton_core::crypto::Key;
use lepton_core::dataset::manifest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let key = Key::from_bytes(&[7u8; 32]).unwrap();
    if let Ok(u) = manifest::parse(data, "fuzz") {
        let _ = u.verify(None, Some(1));
    }
    if let Ok(u) = manifest::parse(data, "fuzz") {
        let _ = u.verify(Some(&key), None);
    }
});
