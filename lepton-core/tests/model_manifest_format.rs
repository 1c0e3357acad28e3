//! The model manifest's format version: 3 for keyed manifests whose MAC covers fields format-2
//! readers do not know (so such a reader says "upgrade" instead of blaming the key), 1 or 2
//! otherwise; a format newer than this build is refused by version; manifests written before
//! the newer fields existed still read. On `tests/fixtures/logreg.onnx` (written by
//! `python tests/model_fixtures.py lepton-core/tests/fixtures`).

use std::path::PathBuf;

use lepton_core::crypto::Key;
use lepton_core::model::ModelOptions;
use lepton_core::platform::{Platform, PlatformOptions, PushOptions};
use lepton_core::Error;
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn logreg() -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/logreg.onnx");
    std::fs::read(path).expect("fixture")
}

fn open(key: Option<Key>) -> lepton_core::Result<Platform> {
    Platform::open(
        Some("memory://"),
        PlatformOptions {
            encrypt: Some(key.is_some()),
            key,
            ..Default::default()
        },
    )
}

/// Rewrites version 1's manifest of `name` with `edit`.
fn edit_manifest(p: &Platform, name: &str, edit: impl Fn(&mut serde_json::Value)) -> TestResult {
    let path = Path::from(format!("models/{name}/1/manifest.json"));
    futures::executor::block_on(async {
        let bytes = p.store().get(&path).await?.bytes().await?;
        let mut manifest: serde_json::Value = serde_json::from_slice(&bytes)?;
        edit(&mut manifest);
        let text = serde_json::to_vec(&manifest)?;
        p.store().put(&path, PutPayload::from(text)).await?;
        Ok(())
    })
}

#[test]
fn keyed_manifests_with_newer_fields_are_format_3() -> TestResult {
    let keyed = open(Some(Key::generate()))?;
    let info = keyed.push_model("m", &logreg(), &PushOptions::default())?;
    assert_eq!(info.format, 3);
    assert!(info.blake3.is_some() && info.seal_header.is_some() && info.mac.is_some());
    assert_eq!(keyed.model_info("m", None)?, info);
    keyed.load_model("m", None, &ModelOptions::default())?;

    // Unkeyed: no MAC, so older readers read it (ignoring `blake3`, checking `sha256`).
    let plain = open(None)?;
    let info = plain.push_model("m", &logreg(), &PushOptions::default())?;
    assert_eq!((info.format, info.mac.is_none()), (1, true));
    assert!(info.blake3.is_some());
    Ok(())
}

#[test]
fn a_manifest_newer_than_this_build_is_refused_by_its_version() -> TestResult {
    let plain = open(None)?;
    plain.push_model("m", &logreg(), &PushOptions::default())?;
    edit_manifest(&plain, "m", |m| m["format"] = 4.into())?;
    let err = plain.model_info("m", None).unwrap_err();
    assert!(
        matches!(
            err,
            Error::UnsupportedVersion {
                found: 4,
                supported: 3,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("upgrade lepton-ai"), "{err}");
    Ok(())
}

#[test]
fn manifests_written_before_blake3_still_read_and_are_checked() -> TestResult {
    let plain = open(None)?;
    plain.push_model("m", &logreg(), &PushOptions::default())?;
    // As a build before `blake3` wrote it: format 1, SHA-256 only.
    edit_manifest(&plain, "m", |m| {
        m.as_object_mut().unwrap().remove("blake3");
    })?;
    let info = plain.model_info("m", None)?;
    assert_eq!((info.format, info.blake3.as_deref()), (1, None));
    plain.load_model("m", None, &ModelOptions::default())?;
    // Its SHA-256 is what is checked then.
    edit_manifest(&plain, "m", |m| m["sha256"] = "00".repeat(32).into())?;
    let err = plain
        .load_model("m", None, &ModelOptions::default())
        .unwrap_err();
    assert!(matches!(err, Error::Integrity { .. }), "{err}");
    Ok(())
}
