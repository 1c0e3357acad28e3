//! A model's provenance (framework, exporter, opset, parity figures) is kept in its manifest:
//! given at push, read back equal (floats bit for bit, so a keyed registry's manifest MAC still
//! matches), absent from manifests pushed without one, and refused when it is not an object.

use lepton_core::crypto::Key;
use lepton_core::platform::PushOptions;
use lepton_core::Error;

mod common;
use common::{fixture, onnx_holding, Backend};

#[test]
fn provenance_round_trips_through_a_keyed_registry() {
    let f = fixture(Backend::Memory);
    let p = f.open_opts(Some(Key::generate()), false, vec![]);
    // Figures like these (tiny, full precision) need exact float parsing for the MAC to match.
    let provenance = serde_json::json!({
        "framework": "torch",
        "exporter": "torch.onnx.export (dynamo)",
        "opset": 20,
        "parity": {"logits": {"max_abs_diff": 2.384185791015625e-7, "max_rel_diff": 1.0000000000000002e-6}},
    });
    let info = p
        .push_model(
            "net",
            &onnx_holding(b"onnx bytes"),
            &PushOptions {
                provenance: provenance.clone(),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(
        serde_json::Value::Object(info.provenance.clone()),
        provenance
    );
    let read = p.model_info("net", None).unwrap();
    assert_eq!(read, info);
    let again = f.open_opts(None, false, vec![]).model_info("net", None);
    assert_eq!(again.unwrap().provenance, info.provenance);
}

#[test]
fn no_provenance_writes_none_and_a_non_object_is_refused() {
    let f = fixture(Backend::Memory);
    let p = f.open_opts(None, false, vec![]);
    let info = p
        .push_model("m", &onnx_holding(b"x"), &PushOptions::default())
        .unwrap();
    assert!(info.provenance.is_empty());
    assert!(!info.to_json().contains("provenance"));
    let err = p
        .push_model(
            "m",
            &onnx_holding(b"x"),
            &PushOptions {
                provenance: serde_json::json!([1, 2]),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(
        matches!(err, Error::InvalidArgument(ref m) if m.contains("provenance must be a JSON object")),
        "{err}"
    );
}
