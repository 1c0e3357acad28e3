//! Models share one thread pool: loading more with the default options (or sequential execution
//! asked for) starts no threads, and a model given its own thread count gets a pool of its own. A test binary of its own, so that no
//! other test's threads are counted. Needs ONNX Runtime (see `tests/model.rs`).

#![cfg(target_os = "linux")]

use std::path::PathBuf;

use lepton_core::model::{Model, ModelOptions, Tensor};

/// This process's OS threads.
fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

/// `logreg.onnx` loaded with `options`, after one run (its pool, if any, has then started).
fn loaded(options: &ModelOptions) -> Model {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/logreg.onnx");
    let model = Model::from_file(path, options).unwrap();
    let x = Tensor::from_vec(
        vec![64, 30],
        (0..64 * 30).map(|i| i as f32 / 900.0).collect(),
    )
    .unwrap();
    let p = model.run([&x]).unwrap()[0].to_ndarray::<f32>().unwrap();
    assert!(p.rows().into_iter().all(|r| (r.sum() - 1.0).abs() < 1e-5));
    model
}

#[test]
fn default_models_share_one_pool_and_a_thread_count_gets_its_own() {
    let defaults = ModelOptions::default();
    let mut models = vec![loaded(&defaults)];
    let before = threads();
    models.extend((0..8).map(|_| loaded(&defaults)));
    assert_eq!(
        threads(),
        before,
        "8 more models with default options started threads"
    );
    // Sequential execution asked for explicitly is the default too.
    models.push(loaded(&ModelOptions::default().with_inter_op_threads(1)));
    assert_eq!(threads(), before, "inter_op_threads(1) started threads");
    // The count is what it seems: each model with 3 intra-op threads adds 2 (the caller is one).
    let own = ModelOptions::default().with_intra_op_threads(3);
    models.extend((0..2).map(|_| loaded(&own)));
    assert_eq!(threads(), before + 4, "two models with pools of their own");
}
