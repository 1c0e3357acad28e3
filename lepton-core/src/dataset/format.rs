//! The constants and object names of the dataset format (`docs/dataset-format.md`): what the
//! chunk codec and the manifest both follow, so that neither depends on the other.

use object_store::path::Path;
use serde::{Deserialize, Serialize};

/// The newest format version this build reads and writes: 2 when a dataset has a
/// variable-shape column, else 1 (see [`format_version_for`]).
pub const FORMAT_VERSION: u32 = 2;
/// The format version bound into every chunk's encryption context: 1 in both format versions
/// (the chunk encoding did not change), so that version-1 datasets stay readable.
pub(crate) const CHUNK_CONTEXT_VERSION: u32 = 1;

/// The format version a manifest of `schema` is written with: 2 with a variable-shape column (a
/// version-1 reader then refuses it as too new instead of misreading it), else 1.
pub fn format_version_for(schema: &super::schema::Schema) -> u32 {
    if schema.columns.iter().any(|c| c.variable_ndim.is_some()) {
        2
    } else {
        1
    }
}
pub(crate) const MAGIC: &str = "lepton-dataset";
/// The encryption scheme name recorded in manifests.
pub const SCHEME: &str = "c2sp-chunked-encryption/aes-256-gcm";
pub(crate) const MAC_PURPOSE: &[u8] = b"lepton-dataset/v1 manifest-mac";
pub(crate) const CHECK_PURPOSE: &[u8] = b"lepton-dataset/v1 key-check";
pub(crate) const CHUNK_KEY_PURPOSE: &[u8] = b"lepton-dataset/v1 chunk-key";

/// How a chunk's payload is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Codec {
    /// Stored as is.
    None,
    /// One zstd frame.
    Zstd,
}

impl Codec {
    pub(crate) fn id(self) -> u8 {
        match self {
            Codec::None => 0,
            Codec::Zstd => 1,
        }
    }
}

/// A reversible transform of fixed-size columns before compression.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Filter {
    /// None.
    None,
    /// Byte shuffle (Blosc/HDF5 style): byte `k` of every element together, for each `k`.
    Shuffle,
}

impl Filter {
    pub(crate) fn id(self) -> u8 {
        match self {
            Filter::None => 0,
            Filter::Shuffle => 1,
        }
    }
}

/// The most payload bytes one chunk may hold (1 GiB). The writer refuses larger chunks and a
/// manifest recording more fails to open, so a forged length cannot make a reader allocate
/// without bound.
pub const MAX_CHUNK_RAW_BYTES: u64 = 1 << 30;

/// Where the manifest of `version` lives under `prefix`.
pub fn manifest_path(prefix: &Path, version: u64) -> Path {
    prefix
        .clone()
        .join("manifests")
        .join(format!("{version:020}.manifest"))
}

/// Where chunk `index` of the write `dataset_id` lives under `prefix`.
pub fn chunk_path(prefix: &Path, dataset_id: &str, index: u64) -> Path {
    prefix
        .clone()
        .join("data")
        .join(dataset_id)
        .join(format!("{index:08}.chunk"))
}

/// Parses a manifest file name back to its version.
pub fn version_of(filename: &str) -> Option<u64> {
    let digits = filename.strip_suffix(".manifest")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}
