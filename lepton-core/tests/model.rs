//! Model loading and running against the real ONNX Runtime.
//!
//! The runtime is found by the normal search (ORT_DYLIB_PATH, or `python3` on PATH with
//! onnxruntime installed: CI puts `.venv/bin` first). Fixtures in `tests/fixtures/` are written by
//! `python tests/model_fixtures.py lepton-core/tests/fixtures` (see that file for each model).

use std::path::PathBuf;
use std::sync::Arc;

use lepton_core::model::{
    DType, Dim, ExecutionProvider, InputKey, Model, ModelOptions, Tensor, TensorView, F16,
};
use lepton_core::Error;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn add_mul() -> Model {
    Model::from_file(fixture("add_mul.onnx"), &ModelOptions::default()).expect("add_mul loads")
}

#[test]
fn signature_is_reported() -> TestResult {
    let model = add_mul();
    let names: Vec<&str> = model.inputs().iter().map(|i| i.name()).collect();
    assert_eq!(names, ["x", "y"]);
    assert_eq!(model.inputs()[0].dtype(), Some(DType::F32));
    assert_eq!(
        model.inputs()[0].shape(),
        &[Dim::Symbolic("N".into()), Dim::Fixed(3)]
    );
    assert_eq!(model.inputs()[0].to_string(), "x: float32 [N, 3]");
    let outs: Vec<&str> = model.outputs().iter().map(|i| i.name()).collect();
    assert_eq!(outs, ["sum", "prod"]);
    assert_eq!(model.providers(), &[ExecutionProvider::Cpu]);
    assert_eq!(
        model.bytes(),
        std::fs::read(fixture("add_mul.onnx"))?.as_slice()
    );
    Ok(())
}

#[test]
fn runs_by_position_and_by_name() -> TestResult {
    let model = add_mul();
    let x = Tensor::from_vec(vec![2, 3], vec![1f32, 2., 3., 4., 5., 6.])?;
    let y = Tensor::from_vec(vec![2, 3], vec![10f32; 6])?;
    let out = model.run([&x, &y])?;
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].shape(), &[2, 3]);
    assert_eq!(
        out[0].as_slice::<f32>().unwrap(),
        &[11., 12., 13., 14., 15., 16.]
    );
    assert_eq!(out.get("prod").unwrap().as_slice::<f32>().unwrap()[5], 60.);

    let named = model.run_named([("y", &y), ("x", &x)])?;
    assert_eq!(named, out);

    let only_prod = model.run_with(
        vec![
            (InputKey::Index(0), x.view()),
            (InputKey::Name("y"), y.view()),
        ],
        Some(&["prod"]),
    )?;
    assert_eq!(only_prod.len(), 1);
    assert_eq!(only_prod.iter().next().unwrap().0, "prod");
    Ok(())
}

#[test]
fn borrowed_slices_run_without_copy() -> TestResult {
    let model = add_mul();
    let data = [1f32, 1., 1.];
    let v = TensorView::from_slice(vec![1, 3], &data)?;
    let out = model.run([v.clone(), v])?;
    assert_eq!(out[0].as_slice::<f32>().unwrap(), &[2., 2., 2.]);
    Ok(())
}

#[test]
fn logistic_regression_gives_probabilities() -> TestResult {
    let bytes = std::fs::read(fixture("logreg.onnx"))?;
    let model = Model::from_bytes(bytes, &ModelOptions::default().with_intra_op_threads(1))?;
    let x = Tensor::from_vec(vec![4, 30], (0..120).map(|i| i as f32 / 60.0).collect())?;
    let out = model.run([&x])?;
    let p = out[0].to_ndarray::<f32>()?;
    assert_eq!(p.shape(), &[4, 2]);
    for row in p.rows() {
        assert!((row.sum() - 1.0).abs() < 1e-5, "{row}");
    }
    Ok(())
}

#[test]
fn strings_bools_and_f16_round_trip() -> TestResult {
    let opts = ModelOptions::default();
    let s = Model::from_file(fixture("identity_string.onnx"), &opts)?;
    let words = vec!["héllo".to_string(), String::new(), "onnx".into()];
    let out = s.run([TensorView::from_strings(vec![3], &words)?])?;
    assert_eq!(
        out.into_tensors()[0].data(),
        Tensor::from_strings(vec![3], words)?.data()
    );

    let b = Model::from_file(fixture("identity_bool.onnx"), &opts)?;
    let flags = Tensor::from_vec(vec![3], vec![true, false, true])?;
    assert_eq!(b.run([&flags])?[0], flags);

    let h = Model::from_file(fixture("identity_f16.onnx"), &opts)?;
    let halves = Tensor::from_vec(vec![2], vec![F16(0x3c00), F16(0xc000)])?; // 1.0, -2.0
    assert_eq!(h.run([&halves])?[0], halves);
    Ok(())
}

#[test]
fn bad_inputs_are_typed_errors() {
    let model = add_mul();
    let x = Tensor::from_vec(vec![1, 3], vec![0f32; 3]).unwrap();
    let msg = |r: lepton_core::Result<_>| match r {
        Err(e @ Error::InvalidInput(_)) => e.to_string(),
        other => panic!("expected InvalidInput, got {other:?}"),
    };
    assert_eq!(
        msg(model.run([&x])),
        "missing input `y` (float32 [N, 3]); the model's inputs are `x`, `y`"
    );
    assert_eq!(
        msg(model.run_named([("x", &x), ("z", &x)])),
        "unknown input `z`; the model's inputs are `x`, `y`"
    );
    assert_eq!(
        msg(model.run([&x, &x, &x])),
        "too many inputs: the model takes 2 (`x`, `y`), got 3"
    );
    let wrong_dtype = Tensor::from_vec(vec![1, 3], vec![0f64; 3]).unwrap();
    assert_eq!(
        msg(model.run([&wrong_dtype, &x])),
        "input `x`: expected dtype float32, got float64; convert the input to float32"
    );
    let wrong_rank = Tensor::from_vec(vec![3], vec![0f32; 3]).unwrap();
    assert_eq!(
        msg(model.run([&x, &wrong_rank])),
        "input `y`: expected rank 2 (shape [N, 3]), got rank 1 (shape [3])"
    );
    let wrong_dim = Tensor::from_vec(vec![1, 4], vec![0f32; 4]).unwrap();
    assert_eq!(
        msg(model.run([&x, &wrong_dim])),
        "input `y`: expected shape [N, 3], got [1, 4] (dimension 1 must be 3)"
    );
    assert_eq!(
        msg(model.run_named([("x", &x), ("x", &x)])),
        "input `x` is given twice"
    );
    assert_eq!(
        msg(model.run_with(
            vec![
                (InputKey::Index(0), x.view()),
                (InputKey::Index(1), x.view())
            ],
            Some(&["nope"])
        )),
        "unknown output `nope`; the model's outputs are `sum`, `prod`"
    );
}

#[test]
fn bad_model_files_are_typed_errors() -> TestResult {
    let opts = ModelOptions::default();
    let dir = tempfile::tempdir()?;
    match Model::from_file(dir.path().join("missing.onnx"), &opts) {
        Err(Error::NotFound { what, .. }) => assert!(what.contains("missing.onnx")),
        other => panic!("expected NotFound, got {other:?}"),
    }
    let reason = |r: lepton_core::Result<Model>| match r {
        Err(Error::InvalidModel { reason, .. }) => reason,
        other => panic!("expected InvalidModel, got {other:?}"),
    };
    let empty = dir.path().join("empty.onnx");
    std::fs::write(&empty, b"")?;
    let err = Model::from_file(&empty, &opts).unwrap_err();
    assert!(err
        .to_string()
        .starts_with(&format!("invalid model `{}`: it is empty", empty.display())));
    assert!(
        reason(Model::from_bytes(b"not a model at all".to_vec(), &opts))
            .starts_with("not an ONNX model")
    );
    let full = std::fs::read(fixture("logreg.onnx"))?;
    let cut = reason(Model::from_bytes(full[..full.len() / 2].to_vec(), &opts));
    assert!(cut.starts_with("it is truncated"), "{cut}");
    Ok(())
}

#[test]
fn cuda_falls_back_unless_strict() -> TestResult {
    let wanted =
        ModelOptions::default().with_providers([ExecutionProvider::CUDA, ExecutionProvider::Cpu]);
    let model = Model::from_file(fixture("add_mul.onnx"), &wanted)?;
    if model.providers()[0] == ExecutionProvider::CUDA {
        // A GPU build of ONNX Runtime with a device: nothing to fall back from.
        return Ok(());
    }
    assert_eq!(model.providers(), &[ExecutionProvider::Cpu]);
    assert!(model.fallback_reason().unwrap().contains("cuda"));
    match Model::from_file(fixture("add_mul.onnx"), &wanted.with_strict(true)) {
        Err(Error::ProviderUnavailable { provider, reason }) => {
            assert_eq!(provider, "cuda");
            assert!(!reason.is_empty());
        }
        other => panic!("expected ProviderUnavailable, got {other:?}"),
    }
    Ok(())
}

#[test]
fn concurrent_runs_from_many_threads() -> TestResult {
    let model = Arc::new(add_mul());
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let model = Arc::clone(&model);
            std::thread::spawn(move || {
                for i in 0..200 {
                    let v = (t * 1000 + i) as f32;
                    let x = Tensor::from_vec(vec![2, 3], vec![v; 6]).unwrap();
                    let y = Tensor::from_vec(vec![2, 3], vec![2.0f32; 6]).unwrap();
                    let out = model.run([&x, &y]).unwrap();
                    assert_eq!(out[0].as_slice::<f32>().unwrap(), &[v + 2.0; 6]);
                    assert_eq!(out[1].as_slice::<f32>().unwrap(), &[v * 2.0; 6]);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("no thread panicked");
    }
    Ok(())
}
