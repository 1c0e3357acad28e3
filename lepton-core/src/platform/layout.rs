//! Where things live in a registry store, and which names are allowed.
//!
//! ```text
//! <prefix>/models/<name>/LATEST                       {"version": n}  hint, moves forward only
//! <prefix>/models/<name>/<version>/CLAIM              who took version n (PutMode::Create)
//! <prefix>/models/<name>/<version>/model.onnx[.sealed] the model bytes (sealed when encrypted)
//! <prefix>/models/<name>/<version>/manifest.json      the commit object (PutMode::Create)
//! <prefix>/datasets/<name>/<split>/LATEST
//! <prefix>/datasets/<name>/<split>/<version>/CLAIM
//! <prefix>/datasets/<name>/<split>/<version>/data/... the dataset (its manifest is the commit)
//! ```
//!
//! See `docs/platform-layout.md` for the protocol.

use object_store::path::Path;

use crate::{Error, Result};

/// The folder of all models.
pub const MODELS: &str = "models";
/// The folder of all datasets.
pub const DATASETS: &str = "datasets";
/// The latest-version hint of one item.
pub const LATEST: &str = "LATEST";
/// The claim object of one version.
pub const CLAIM: &str = "CLAIM";
/// The commit object of one model version.
pub const MODEL_MANIFEST: &str = "manifest.json";
/// The model bytes in clear.
pub const MODEL_PLAIN: &str = "model.onnx";
/// The model bytes sealed with the platform key.
pub const MODEL_SEALED: &str = "model.onnx.sealed";
/// The folder of a dataset version's own objects.
pub const DATASET_DATA: &str = "data";

/// Checks a model, dataset or split name: 1 to 128 characters of `A-Z a-z 0-9 . _ -`, starting
/// with a letter or digit (so no `/`, `\`, `..` or hidden names).
pub fn check_name(kind: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        && !name.contains("..");
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!(
            "invalid {kind} name {name:?}: use 1-128 letters, digits, `.`, `_` or `-`, starting \
             with a letter or digit (no `/`, `\\` or `..`)"
        )))
    }
}

/// Joins `parts` under `prefix` (each part is one path segment, already checked).
pub fn join(prefix: &Path, parts: &[&str]) -> Path {
    let mut p = prefix.clone();
    for part in parts {
        p = p.clone().join(*part);
    }
    p
}

/// The folder of one model: `<prefix>/models/<name>`.
pub fn model_root(prefix: &Path, name: &str) -> Path {
    join(prefix, &[MODELS, name])
}

/// The folder of one dataset split: `<prefix>/datasets/<name>/<split>`.
pub fn dataset_root(prefix: &Path, name: &str, split: &str) -> Path {
    join(prefix, &[DATASETS, name, split])
}

/// The folder of one version under an item root.
pub fn version_dir(root: &Path, version: u64) -> Path {
    root.clone().join(version.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for good in ["medical", "a", "resnet-50", "v1.2_b", "X9"] {
            check_name("model", good).unwrap();
        }
        for bad in [
            "", "..", ".", "a/b", "a\\b", "../x", "a..b", ".hidden", "-x", "a b", "é",
        ] {
            let e = check_name("model", bad).unwrap_err().to_string();
            assert!(e.starts_with("invalid model name"), "{bad}: {e}");
        }
        check_name("model", &"a".repeat(128)).unwrap();
        assert!(check_name("model", &"a".repeat(129)).is_err());
    }

    #[test]
    fn paths() {
        let p = Path::from("reg");
        assert_eq!(model_root(&p, "m").as_ref(), "reg/models/m");
        assert_eq!(
            version_dir(&dataset_root(&p, "d", "train"), 3).as_ref(),
            "reg/datasets/d/train/3"
        );
        assert_eq!(model_root(&Path::default(), "m").as_ref(), "models/m");
    }
}
