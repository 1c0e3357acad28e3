//! The constants and object names of the dataset format (`docs/dataset-format.md`): what the
//! chunk codec and the manifest both follow, so that neither depends on the other.

use object_store::path::Path;
use serde::{Deserialize, Serialize};

/// The format version this build writes and the newest it reads. Version 2 (this build) records
/// no hash of encrypted chunks (AES-GCM authenticates them under a context that binds them to
/// their manifest) and a BLAKE3 hash of unencrypted ones; version 1 recorded SHA-256 for all.
pub const FORMAT_VERSION: u32 = 2;
/// The oldest format version this build reads.
pub const MIN_FORMAT_VERSION: u32 = 1;
/// The oldest format version that can hold a variable-shape column (format 1 readers would
/// misread one, so they must refuse the dataset as too new).
pub const MIN_VARIABLE_SHAPE_VERSION: u32 = 2;
pub(crate) const MAGIC: &str = "lepton-dataset";
/// The encryption scheme name recorded in manifests.
pub const SCHEME: &str = "c2sp-chunked-encryption/aes-256-gcm";
pub(crate) const MAC_PURPOSE: &[u8] = b"lepton-dataset/v1 manifest-mac";
pub(crate) const CHECK_PURPOSE: &[u8] = b"lepton-dataset/v1 key-check";
pub(crate) const CHUNK_KEY_PURPOSE: &[u8] = b"lepton-dataset/v1 chunk-key";
pub(crate) const CONTENT_KEY_PURPOSE: &[u8] = b"lepton-dataset/v1 content-digest";

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
