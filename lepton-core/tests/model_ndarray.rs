//! ndarray arrays of every layout reach the model as exactly their logical elements: each is run
//! through an identity model (`tests/fixtures/identity_i64_2d.onnx`, written by
//! `python tests/model_fixtures.py lepton-core/tests/fixtures`: `out = Identity(inp)`, int64
//! `[a, b]`) and the output is compared with ndarray's own iteration of the array.

use std::path::PathBuf;

use lepton_core::model::{Model, ModelOptions, Tensor, TensorView};
use ndarray::{s, Array2, ArrayD};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn identity() -> Model {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/identity_i64_2d.onnx");
    Model::from_file(path, &ModelOptions::default()).expect("identity model loads")
}

/// Runs `tensor` through the identity model and checks it against `expected`'s logical elements.
fn check(
    model: &Model,
    what: &str,
    expected: ndarray::ArrayViewD<'_, i64>,
    tensor: Tensor,
) -> TestResult {
    let out = model.run([&tensor])?;
    let got = out[0].to_ndarray::<i64>()?;
    assert_eq!(got.view(), expected, "{what}");
    Ok(())
}

#[test]
fn every_layout_gives_the_logical_elements() -> TestResult {
    let model = identity();
    let full = Array2::from_shape_fn((4, 3), |(i, j)| (10 * i + j) as i64);
    let cases: Vec<(&str, ArrayD<i64>, Tensor)> = vec![
        ("owned", full.clone().into_dyn(), Tensor::from(full.clone())),
        (
            "slice_move rows 2..",
            full.slice(s![2.., ..]).to_owned().into_dyn(),
            Tensor::from(full.clone().slice_move(s![2.., ..]).into_dyn()),
        ),
        (
            "sliced view rows 1..3",
            full.slice(s![1..3, ..]).to_owned().into_dyn(),
            Tensor::from(full.slice(s![1..3, ..])),
        ),
        (
            "strided columns",
            full.slice(s![.., ..;2]).to_owned().into_dyn(),
            Tensor::from(full.clone().slice_move(s![.., ..;2])),
        ),
        (
            "transposed",
            full.t().to_owned().into_dyn(),
            Tensor::from(full.clone().reversed_axes().into_dyn()),
        ),
        (
            "negative strides",
            full.slice(s![..;-1, ..;-2]).to_owned().into_dyn(),
            Tensor::from(full.slice(s![..;-1, ..;-2])),
        ),
        (
            "zero rows",
            full.slice(s![2..2, ..]).to_owned().into_dyn(),
            Tensor::from(full.clone().slice_move(s![2..2, ..])),
        ),
    ];
    for (what, expected, tensor) in cases {
        check(&model, what, expected.view(), tensor)?;
    }
    Ok(())
}

#[test]
fn contiguous_views_are_borrowed_and_others_refused() -> TestResult {
    let model = identity();
    let full = Array2::from_shape_fn((4, 3), |(i, j)| (10 * i + j) as i64);
    let rows = full.slice(s![2.., ..]);
    let out = model.run([TensorView::try_from(rows)?])?;
    assert_eq!(out[0].to_ndarray::<i64>()?.view(), rows.into_dyn());
    let err = TensorView::try_from(full.t()).unwrap_err();
    assert!(err.to_string().contains("not in standard"), "{err}");
    Ok(())
}
