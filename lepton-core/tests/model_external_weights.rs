//! Models whose weights go to ONNX Runtime outside the protobuf (external initializers): a local
//! file past `inline_limit`, and a model stored in the registry as an object set (graph + weights
//! objects, encrypted). The path is forced below 2 GiB: the limit is lowered for the file, and the
//! registry stores every model with external data this way. Expected outputs come from
//! onnxruntime's Python API on the original file (`fixtures/make_external_weights.py`, run here
//! with `python3`, about 130 MiB of weights in `weights.bin`).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{fixture, Backend};
use lepton_core::crypto::Key;
use lepton_core::model::{Model, ModelOptions, Tensor};
use lepton_core::platform::{PushOptions, WEIGHTS_PART};
use lepton_core::Error;

struct Generated {
    _dir: tempfile::TempDir,
    model: PathBuf,
    x: Vec<f32>,
    y: Vec<f32>,
}

fn floats(path: &Path) -> Vec<f32> {
    std::fs::read(path)
        .unwrap()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

fn generate() -> Generated {
    let dir = tempfile::tempdir().unwrap();
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/make_external_weights.py");
    let status = Command::new("python3")
        .arg(&script)
        .arg(dir.path())
        .status()
        .expect("python3 with onnx and onnxruntime (the test venv) is on PATH");
    assert!(status.success(), "{} failed", script.display());
    Generated {
        model: dir.path().join("model.onnx"),
        x: floats(&dir.path().join("x.bin")),
        y: floats(&dir.path().join("y.bin")),
        _dir: dir,
    }
}

fn check_outputs(model: &Model, g: &Generated) {
    let x = Tensor::from_vec(vec![2, 1024], g.x.clone()).unwrap();
    let out = model.run([&x]).unwrap();
    let y = out[0].as_slice::<f32>().unwrap();
    assert_eq!(out[0].shape(), &[64, 32]);
    assert_eq!(y.len(), g.y.len());
    for (i, (a, b)) in y.iter().zip(&g.y).enumerate() {
        assert!(
            (a - b).abs() <= 1e-4 + 1e-4 * b.abs(),
            "y[{i}] = {a}, onnxruntime gives {b}"
        );
    }
}

/// Every stored object of a local registry folder, with its path.
fn stored_files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn external_weights_from_file_and_registry_object_set() {
    let g = generate();
    let side = std::fs::read(g.model.with_file_name("weights.bin")).unwrap();

    // A local file past the (lowered) inline limit: weights as external initializers.
    let options = ModelOptions::default().with_inline_limit(1 << 20);
    let split = Model::from_file(&g.model, &options).unwrap();
    assert_eq!(
        split.external_weights(),
        4,
        "w1, b1, w2, w3 (not the 16-byte shape)"
    );
    assert!(
        split.bytes().len() < 4096,
        "the graph alone: {}",
        split.bytes().len()
    );
    check_outputs(&split, &g);
    drop(split);
    // Below the limit the weights are inline, as before.
    let inline = Model::from_file(&g.model, &ModelOptions::default()).unwrap();
    assert_eq!(inline.external_weights(), 0);
    assert!(inline.bytes().len() as u64 > 130 << 20);
    check_outputs(&inline, &g);
    drop(inline);

    // The registry, encrypted: an object set whatever the size.
    let f = fixture(Backend::Local);
    let key = Key::generate();
    let p = f.open_opts(Some(key.clone()), true, vec![]);
    let info = p
        .push_model_file("big", &g.model, &PushOptions::default())
        .unwrap();
    assert_eq!(info.format, 3); // an object set, keyed: see model_manifest_format.rs
    assert!(info.encrypted);
    let parts = (side.len() as u64).div_ceil(WEIGHTS_PART) as usize;
    assert_eq!(info.weights.len(), parts);
    assert!(parts >= 3, "a tensor spans two objects");
    assert_eq!(
        info.weights.iter().map(|w| w.size).sum::<u64>(),
        side.len() as u64
    );
    // No stored object holds clear weights (64 bytes from inside w1, b1 and w2).
    let root = PathBuf::from(&f.uri);
    let files = stored_files(&root);
    for at in [4096usize, 64 << 20, side.len() - 4096] {
        let needle = &side[at..at + 64];
        for file in &files {
            let data = std::fs::read(file).unwrap();
            assert!(
                !data.windows(64).any(|w| w == needle),
                "{} holds clear weights",
                file.display()
            );
        }
    }
    let loaded = p.load_model("big", None, &ModelOptions::default()).unwrap();
    assert_eq!(loaded.external_weights(), 4);
    check_outputs(&loaded, &g);
    drop(loaded);
    // Through a fresh platform without a cache (straight from the store), and verified.
    let fresh = f.open_opts(Some(key.clone()), false, vec![]);
    check_outputs(
        &fresh
            .load_model("big", Some(1), &ModelOptions::default())
            .unwrap(),
        &g,
    );
    fresh.verify_model("big", None).unwrap();
    // The whole model as bytes (below 2 GiB it has a single-file form).
    let (_, onnx) = fresh.model_bytes("big", None).unwrap();
    let from_bytes = Model::from_bytes(onnx, &ModelOptions::default()).unwrap();
    check_outputs(&from_bytes, &g);
    drop(from_bytes);
    // Without the key: refused.
    let e = f
        .open_opts(None, false, vec![])
        .load_model("big", None, &ModelOptions::default())
        .unwrap_err();
    assert!(matches!(e, Error::KeyRequired(_)), "{e}");

    // Swapping two weights objects, then tampering with one: IntegrityError.
    let dir = root.join("models/big/1");
    let (a, b) = (
        dir.join(&info.weights[0].object),
        dir.join(&info.weights[1].object),
    );
    let (da, db) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    std::fs::write(&a, &db).unwrap();
    std::fs::write(&b, &da).unwrap();
    let e = fresh
        .load_model("big", None, &ModelOptions::default())
        .unwrap_err();
    assert!(matches!(e, Error::Integrity { .. }), "{e}");
    assert!(e.to_string().contains(&info.weights[0].object), "{e}");
    std::fs::write(&b, &db).unwrap();
    let mut tampered = da.clone();
    tampered[1000] ^= 1;
    std::fs::write(&a, &tampered).unwrap();
    let e = fresh
        .load_model("big", None, &ModelOptions::default())
        .unwrap_err();
    assert!(matches!(e, Error::Integrity { .. }), "{e}");
    let e = fresh.verify_model("big", None).unwrap_err();
    assert!(matches!(e, Error::Integrity { .. }), "{e}");

    // push_model_path chooses by size: past the inline limit an object set, below it one
    // self-contained object holding every weight.
    let set = p
        .push_model_path("by-size", &g.model, 1 << 20, &PushOptions::default())
        .unwrap();
    assert_eq!((set.format, set.weights.len()), (3, parts));
    let one = p
        .push_model_path(
            "by-size",
            &g.model,
            ModelOptions::default().inline_limit,
            &PushOptions::default(),
        )
        .unwrap();
    assert!(one.weights.is_empty());
    assert!(one.size > side.len() as u64, "{} bytes", one.size);
    check_outputs(
        &fresh
            .load_model("by-size", Some(one.version), &ModelOptions::default())
            .unwrap(),
        &g,
    );
}
