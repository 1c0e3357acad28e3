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
//!
//! The crates whose types the public API takes or returns are re-exported, so a user's crate
//! needs no matching dependency of its own: [`object_store`] (stores and paths given to
//! [`dataset::Dataset::open`] and [`dataset::DatasetWriter::create`]) and [`ndarray`]
//! ([`model::Tensor::to_ndarray`]).
//!
//! ## Shipping ONNX Runtime with a Rust service
//!
//! `lepton-core` links no ONNX Runtime at build time (`ort`'s `load-dynamic`): it loads
//! `libonnxruntime` (1.17 or newer) when the first model loads, from, in order, an explicit
//! [`model::ModelOptions::with_runtime_path`], the `ORT_DYLIB_PATH` environment variable, the
//! `onnxruntime` Python package of `python3` if there is one, then the system library path. A
//! service ships the library next to its binary: copy `libonnxruntime.so.<version>` (Linux;
//! `libonnxruntime.<version>.dylib` on macOS, `onnxruntime.dll` on Windows) from the official
//! release archive (github.com/microsoft/onnxruntime/releases) or from the `onnxruntime` wheel's
//! `onnxruntime/capi/` folder into the image, and set `ORT_DYLIB_PATH` to it (or pass the path).
//! For CUDA, ship the `onnxruntime-gpu` build's `libonnxruntime.so.*` and
//! `libonnxruntime_providers_{shared,cuda}.so` together, with CUDA and cuDNN on the loader path.
//! A missing library is [`Error::RuntimeNotFound`], listing every place tried.

pub mod crypto;
pub mod dataset;
pub mod dtype;
pub mod error;
pub mod model;
mod per_process;
pub mod platform;
pub mod pools;
pub mod store;
mod store_errors;
mod store_fork;

pub use error::{Error, ErrorKind, Result};
pub use {ndarray, object_store};

/// The README's example, compiled by `cargo test --doc` as a user's crate would use it.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
