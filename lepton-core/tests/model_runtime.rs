//! Runtime discovery, in its own test binary (= its own process): it starts with no ONNX Runtime
//! loaded, so failures can be observed before the first success.

use std::path::Path;

use lepton_core::model::{runtime, Model, ModelOptions};
use lepton_core::Error;

#[test]
fn explicit_path_is_authoritative_and_failures_are_not_cached() {
    let bad = Path::new("/nonexistent/libonnxruntime.so.1.31.1");
    match runtime::init(Some(bad)) {
        Err(e @ Error::RuntimeNotFound { .. }) => {
            let text = e.to_string();
            assert!(
                text.contains("runtime_path `/nonexistent/libonnxruntime.so.1.31.1`: no such file"),
                "{text}"
            );
            assert!(text.contains("fix: `pip install onnxruntime`"), "{text}");
            // `fn main() -> Result<(), Error>` prints the Debug form: real lines, no `\n`
            // escapes, no struct syntax.
            let debug = format!("{e:?}");
            assert_eq!(debug, text);
            assert!(
                debug.contains("\ntried:\n") && !debug.contains("\\n"),
                "{debug}"
            );
            assert!(!debug.contains("RuntimeNotFound {"), "{debug}");
        }
        other => panic!("expected RuntimeNotFound, got {other:?}"),
    }
    // Not an ONNX Runtime at all: a readable file that is no shared library.
    let opts = ModelOptions::default().with_runtime_path(file!());
    let bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/add_mul.onnx"
    ))
    .unwrap();
    assert!(matches!(
        Model::from_bytes(bytes.clone(), &opts),
        Err(Error::RuntimeNotFound { .. })
    ));

    // The default search (ORT_DYLIB_PATH or python3's onnxruntime) still works afterwards.
    let info = runtime::init(None).expect("ONNX Runtime is installed for the tests");
    assert!(info.path().to_string_lossy().contains("onnxruntime"));
    assert!(info.version().starts_with("1."), "{}", info.version());
    // Once loaded, another explicit path is refused, the same one accepted.
    assert!(matches!(
        runtime::init(Some(bad)),
        Err(Error::InvalidArgument(_))
    ));
    let same = info.path().to_path_buf();
    assert!(runtime::init(Some(&same)).is_ok());
    assert!(Model::from_bytes(bytes, &ModelOptions::default()).is_ok());
}
