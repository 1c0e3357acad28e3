//! # lepton-core
//!
//! The engine of lepton-ai, with no Python in it:
//!
//! - [`model`]: load an ONNX model (file, bytes) and run it on ONNX Runtime (CPU or CUDA);
//! - [`crypto`] and [`dataset`]: named columns of tensors in zstd-compressed, AES-256-GCM
//!   encrypted chunks, read back by streaming, batch or random row;
//! - [`platform`]: a registry of models and datasets in any object store ([`store`]).
//!
//! Every fallible call returns [`Result`] with the one [`Error`] enum.

pub mod crypto;
pub mod dataset;
pub mod error;
pub mod model;
pub mod platform;
pub mod rt;
pub mod store;

pub use error::{Error, ErrorKind, Result};
