//! The Rust flow of docs/guide.md (its `rust` block is this file, checked by tests/test_guide_rust.py):
//! push a dataset split and a model to the local default platform, load both back, run the model
//! over the split. Needs LEPTON_KEY (64 hex digits) and a model.onnx taking [batch, 30] floats.

use lepton_core::crypto::Key;
use lepton_core::dataset::{ColumnData, IterOptions, ReadOptions};
use lepton_core::model::{ModelOptions, TensorView};
use lepton_core::platform::{DatasetPushOptions, Platform, PlatformOptions, PushOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let key = Key::from_env("LEPTON_KEY")?;
    let platform = Platform::open(
        None,
        PlatformOptions {
            key: Some(key),
            ..Default::default()
        },
    )?;

    let images: Vec<f32> = vec![0.0; 100 * 30];
    let labels: Vec<i64> = vec![0; 100];
    platform.push_dataset(
        "medical",
        "test",
        &[
            ("images", ColumnData::from_slice(&images, &[30])?),
            ("labels", ColumnData::from_slice(&labels, &[])?),
        ],
        &DatasetPushOptions::default(),
    )?;
    platform.push_model(
        "medical_diagnosis",
        &std::fs::read("model.onnx")?,
        &PushOptions::default(),
    )?;

    let model = platform.load_model("medical_diagnosis", None, &ModelOptions::default())?;
    let test = platform.load_dataset("medical", "test", None, ReadOptions::default())?;
    let mut scored = 0;
    for batch in test.iter_batches(IterOptions {
        batch_size: 64,
        ..Default::default()
    })? {
        let batch = batch?;
        let x: Vec<f32> = batch.columns[0].to_vec()?;
        let outputs = model.run([TensorView::from_slice(vec![batch.rows() as i64, 30], &x)?])?;
        let logits = outputs.iter().next().unwrap().1.as_slice::<f32>().unwrap();
        scored += logits.len() / 2; // two classes
    }
    println!("scored {scored} rows");
    Ok(())
}
