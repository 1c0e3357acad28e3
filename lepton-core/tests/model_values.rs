//! Sequences in and out through [`Model::run_values`], with `tests/fixtures/split_concat.onnx`
//! (written by `python tests/model_fixtures.py lepton-core/tests/fixtures`: `rows =
//! SplitToSequence(x)` for int64 `x [n, 2]`, `joined = ConcatFromSequence(parts)` for a sequence
//! of int64 `[k]` tensors). The Python tests compare the same kinds of models with onnxruntime.

use std::path::PathBuf;

use lepton_core::model::{Input, InputKey, IoKind, Model, ModelOptions, Tensor, TensorView, Value};
use lepton_core::Error;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn model() -> Model {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/split_concat.onnx");
    Model::from_file(path, &ModelOptions::default()).expect("split_concat loads")
}

#[test]
fn sequences_in_and_out() -> TestResult {
    let model = model();
    assert_eq!(model.inputs()[1].kind(), IoKind::Sequence);
    assert_eq!(model.outputs()[0].kind(), IoKind::Sequence);
    let x = Tensor::from_vec(vec![3, 2], vec![1i64, 2, 3, 4, 5, 6])?;
    let (a, b) = (vec![7i64, 8, 9], vec![10i64]);
    let parts = vec![
        TensorView::from_slice(vec![3], &a)?,
        TensorView::from_slice(vec![1], &b)?,
    ];
    let out = model.run_values(
        vec![
            (InputKey::Name("x"), Input::from(&x)),
            (InputKey::Name("parts"), Input::Sequence(parts)),
        ],
        None,
    )?;
    let rows = out[0].1.as_sequence().expect("rows is a sequence");
    assert_eq!(rows.len(), 3);
    for (i, row) in rows.iter().enumerate() {
        let t = row.as_tensor().expect("a tensor");
        assert_eq!(t.shape(), &[1, 2]);
        assert_eq!(
            t.as_slice::<i64>().unwrap(),
            &x.as_slice::<i64>().unwrap()[2 * i..2 * i + 2]
        );
    }
    assert_eq!(
        out[1].1,
        Value::Tensor(Tensor::from_vec(vec![4], vec![7i64, 8, 9, 10])?)
    );

    // The tensor-only API says where to go for non-tensor outputs.
    let err = model
        .run_with(
            vec![
                (InputKey::Name("x"), x.view()),
                (
                    InputKey::Name("parts"),
                    TensorView::from_slice(vec![1], &b)?,
                ),
            ],
            None,
        )
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err}");
    assert!(err.to_string().contains("pass a list of arrays"), "{err}");
    Ok(())
}
