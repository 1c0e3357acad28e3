//! Any bytes as a sealed model file (`.model`): opening returns the model or an error, never
//! panics, with the right key, a wrong one, or none.
#![no_main]

use lepton_core::crypto::Key;
use lepton_core::platform::model_file;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let key = Key::from_bytes(&[7u8; 32]).unwrap();
    let _ = model_file::is_sealed(data);
    let _ = model_file::open_model_file(data, Some(&key), "fuzz");
    let _ = model_file::open_model_file(data, None, "fuzz");
    // A well-formed header in front of the fuzzed body reaches the decryption paths.
    if let Ok(sealed) = model_file::seal_model_file(&key, b"onnx") {
        let mut framed = sealed[..10].to_vec(); // the 10-byte header
        framed.extend_from_slice(data);
        let _ = model_file::open_model_file(&framed, Some(&key), "fuzz");
    }
});
