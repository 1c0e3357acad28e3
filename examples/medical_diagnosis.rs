//! The medical-diagnosis evaluation of `examples/medical_diagnosis.py`, from Rust.
//!
//! It opens the same platform (the local default registry, `$LEPTON_HOME/registry` or
//! `~/.lepton/registry`, or the URI in `$LEPTON_URI`) with the same key (`$LEPTON_KEY` as 64 hex
//! digits, else the hex in `$LEPTON_HOME/medical.key`), loads the `medical_diagnosis` model and
//! the `test` split of the `medical` dataset that the Python example pushed, runs the model over
//! the split in batches of 64 and prints the accuracy line the Python example prints.
//!
//! Run the Python example first (it creates the key, the dataset and the model), then:
//!
//! ```text
//! cargo run --release -p lepton-core --example medical_diagnosis
//! ```
//!
//! ONNX Runtime is found as usual: `ORT_DYLIB_PATH`, else the `onnxruntime` package of the
//! `python3` on `PATH`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use lepton_core::crypto::Key;
use lepton_core::dataset::{IterOptions, ReadOptions};
use lepton_core::model::{ModelOptions, TensorView};
use lepton_core::platform::{lepton_home, Platform, PlatformOptions};
use lepton_core::{Error, Result};

/// What the Python example pushes.
const MODEL: &str = "medical_diagnosis";
const DATASET: &str = "medical";
const SPLIT: &str = "test";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            if matches!(e, Error::NotFound { .. }) {
                eprintln!(
                    "hint: run `python examples/medical_diagnosis.py` first, with the same \
                     LEPTON_HOME / LEPTON_URI: it pushes the dataset and the model"
                );
            }
            ExitCode::FAILURE
        }
    }
}

/// The example's key: `$LEPTON_KEY`, else `<home>/medical.key` (64 hex digits).
fn load_key(home: &Path) -> Result<Key> {
    if std::env::var_os("LEPTON_KEY").is_some() {
        return Key::from_env("LEPTON_KEY");
    }
    let path: PathBuf = home.join("medical.key");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        Error::KeyRequired(format!(
            "cannot read the example's key {}: {e}; run `python examples/medical_diagnosis.py` \
             first (it creates the key), or set LEPTON_KEY",
            path.display()
        ))
    })?;
    let bytes = hex_decode(text.trim()).ok_or_else(|| {
        Error::InvalidArgument(format!(
            "{} does not hold a key: expected 64 hex digits",
            path.display()
        ))
    })?;
    Key::from_bytes(&bytes)
}

fn hex_decode(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

fn run() -> Result<()> {
    let key = load_key(&lepton_home())?;
    let uri = std::env::var("LEPTON_URI").ok().filter(|u| !u.is_empty());
    let platform = Platform::open(
        uri.as_deref(),
        PlatformOptions {
            key: Some(key),
            ..PlatformOptions::default()
        },
    )?;

    let model = platform.load_model(MODEL, None, &ModelOptions::default())?;
    let test = platform.load_dataset(DATASET, SPLIT, None, ReadOptions::default())?;
    let schema = test.schema();
    let (Some(images_at), Some(labels_at)) = (schema.index_of("images"), schema.index_of("labels"))
    else {
        return Err(Error::Schema(format!(
            "dataset `{DATASET}` split `{SPLIT}` should have the columns images and labels, has {:?}",
            schema.names()
        )));
    };

    let (mut correct, mut total) = (0usize, 0usize);
    let batches = test.iter_batches(IterOptions {
        batch_size: 64,
        ..IterOptions::default()
    })?;
    for batch in batches {
        let batch = batch?;
        let rows = batch.rows();
        let images: Vec<f32> = batch.columns[images_at].to_vec()?;
        let labels: Vec<i64> = batch.columns[labels_at].to_vec()?;
        let features = (images.len() / rows.max(1)) as i64;
        let input = TensorView::from_slice(vec![rows as i64, features], &images)?;
        let outputs = model.run([input])?;
        let (_, logits) = outputs.iter().next().ok_or_else(|| Error::InvalidModel {
            source_name: Some(MODEL.into()),
            reason: "the model has no outputs".into(),
        })?;
        let scores = logits
            .as_slice::<f32>()
            .ok_or_else(|| Error::InvalidModel {
                source_name: Some(MODEL.into()),
                reason: format!("expected float32 logits, got {}", logits.dtype()),
            })?;
        let classes = scores.len() / rows.max(1);
        for (row, label) in scores.chunks(classes).zip(&labels) {
            // torch.max's first maximum on ties, like the Python loop.
            let predicted = row
                .iter()
                .enumerate()
                .fold(0, |best, (i, v)| if *v > row[best] { i } else { best });
            correct += usize::from(predicted as i64 == *label);
            total += 1;
        }
    }
    if total == 0 {
        return Err(Error::InvalidArgument(format!(
            "dataset `{DATASET}` split `{SPLIT}` is empty"
        )));
    }
    let accuracy = 100.0 * correct as f64 / total as f64;
    println!("accuracy: {accuracy:.2}% ({correct}/{total} test tumours)");
    Ok(())
}
