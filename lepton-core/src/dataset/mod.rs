//! Datasets: named columns of tensors stored as zstd-compressed, optionally AES-256-GCM
//! encrypted chunks in any object store, committed by one conditional manifest put.
//!
//! The format is specified in `docs/dataset-format.md`.
//!
//! ```no_run
//! # fn main() -> lepton_core::Result<()> {
//! use std::sync::Arc;
//! use lepton_core::crypto::Key;
//! use lepton_core::dataset::{ColumnData, Dataset, DatasetWriter, IterOptions, ReadOptions, WriteOptions};
//! // object_store is re-exported: no dependency of your own needed.
//! use lepton_core::object_store::{memory::InMemory, path::Path, ObjectStore};
//! let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
//! let prefix = Path::from("train");
//! let key = Key::generate();
//! let images = vec![0f32; 10 * 784];
//! let labels: Vec<i64> = (0..10).collect();
//! let mut w = DatasetWriter::create(store.clone(), prefix.clone(),
//!     WriteOptions { key: Some(key.clone()), ..Default::default() })?;
//! w.write_columns(&[("image", ColumnData::from_slice(&images, &[28, 28])?),
//!                   ("label", ColumnData::from_slice(&labels, &[])?)])?;
//! let info = w.close()?;
//! let ds = Dataset::open(store, prefix, Some(key), ReadOptions::default())?;
//! assert_eq!(ds.len(), info.rows);
//! let row = ds.get(3)?;
//! for batch in ds.iter_batches(IterOptions { batch_size: 4, shuffle: true, ..Default::default() })? {
//!     let batch = batch?;
//! }
//! # Ok(()) }
//! ```

mod buffers;
mod chunk;
mod format;
mod iter;
#[doc(hidden)]
pub mod kernels;
mod loader;
pub mod manifest;
pub mod ragged;
mod reader;
mod schema;
mod schema_cast;
mod schema_spec;
mod source;
mod writer;

// For the fuzz targets and the bindings' readers only: not part of the documented API.
#[doc(hidden)]
pub use chunk::{parse_payload, DecodedChunk};
pub use format::MAX_CHUNK_RAW_BYTES;
pub(crate) use iter::READ_AHEAD_BYTES;
pub use iter::{BatchIter, IterOptions, ResumeOf};
pub use loader::rows_per_rank;
pub use manifest::{ChunkEntry, Codec, Filter, Manifest, FORMAT_VERSION};
pub use reader::{versions, Dataset, ReadOptions};
pub use schema::{Batch, Column, ColumnData, DType, Element, Schema};
pub use schema_spec::ColumnSpec;
pub use source::{ChunkSource, StoreChunks};
pub use writer::{DatasetInfo, DatasetWriter, WriteOptions};

/// How messages name a dataset: the store (e.g. `LocalFileSystem(file:///data/)`,
/// `AmazonS3(bucket)`) and the prefix inside it, so an error points at something findable even
/// when the dataset sits at the root of its store.
pub(crate) fn location(
    store: &(impl std::fmt::Display + ?Sized),
    prefix: &object_store::path::Path,
) -> String {
    if prefix.as_ref().is_empty() {
        store.to_string()
    } else {
        format!("{store}/{prefix}")
    }
}
