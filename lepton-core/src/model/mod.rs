//! Models: load an ONNX model (file or bytes) and run it on ONNX Runtime, CPU or CUDA.
//!
//! - [`runtime`]: finding and loading ONNX Runtime's library, once per process;
//! - [`ModelOptions`]: execution providers, strictness, threads, optimization level;
//! - [`Tensor`] / [`TensorView`]: owned and borrowed dtype-tagged tensors;
//! - [`Model`]: the loaded model (`Send + Sync`; run it from many threads);
//! - [`tune`]: the runtime-settings search, and the machine [`Fingerprint`] its results are kept under.
//!
//! ```no_run
//! use lepton_core::model::{ExecutionProvider, Model, ModelOptions, Tensor};
//! # fn main() -> lepton_core::Result<()> {
//! let options = ModelOptions::default()
//!     .with_providers([ExecutionProvider::CUDA, ExecutionProvider::Cpu]);
//! let model = Model::from_file("model.onnx", &options)?;
//! println!("running on {:?}", model.providers());
//! let x = Tensor::from_vec(vec![1, 30], vec![0.0f32; 30])?;
//! let y = model.run_named([("x", &x)])?;
//! # Ok(()) }
//! ```

mod check;
mod convert;
pub mod external;
mod fingerprint;
mod initializers;
mod open;
mod options;
pub mod providers;
mod run;
pub mod runtime;
mod session;
mod signature;
mod tensor;
pub mod tune;
mod value;

pub(crate) use check::model_bytes_problem;
pub use convert::OutputData;
pub use fingerprint::Fingerprint;
pub use initializers::{Filling, Initializers};
pub use options::{ExecutionProvider, ModelOptions, OptimizationLevel};
pub use run::{Outputs, RawOutputs};
pub use session::Model;
pub use signature::{Dim, InputKey, IoKind, TensorInfo};
pub use tensor::{DType, Element, Tensor, TensorData, TensorView, F16};
pub use value::{Input, Map, Value};
