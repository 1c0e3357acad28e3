//! Any bytes as a chunk: the payload parser (every schema shape, both filters) and C2SP
//! decryption return errors, never panic.
#![no_main]

use lepton_core::crypto::c2sp;
use lepton_core::dataset::{parse_payload, Column, DType, Filter, Schema};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let rows = data[0] as usize % 17;
    let schema = Schema::new(vec![
        Column::new("a", DType::F32, [data[1] as u64 % 3 + 1]),
        Column::new("s", DType::String, []),
        Column::new("b", DType::I16, []),
    ])
    .unwrap();
    for filter in [Filter::None, Filter::Shuffle] {
        let _ = parse_payload(data[2..].to_vec(), &schema, rows, filter);
    }
    let _ = c2sp::open(&[1u8; 32], b"ctx", data);
});
