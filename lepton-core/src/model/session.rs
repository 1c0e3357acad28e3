//! [`Model`]: an ONNX model loaded into an ONNX Runtime session, with its signature, its active
//! execution providers and its bytes, runnable from many threads at once.

use std::collections::HashMap;
use std::ffi::CString;
use std::fmt;
use std::path::Path;

use ort::session::Session;

use super::check::{is_ort_format, onnx_problem};
use super::convert::CpuMemory;
use super::external::{
    inline_external_data, read_model_path, side_files_size, split_external_data, SideFiles,
    SPLIT_MIN_BYTES,
};
use super::initializers::{Filling, Initializers};
use super::open::{open_session, OpenError};
use super::options::{ExecutionProvider, ModelOptions};
use super::run::NamePtrs;
use super::runtime;
use super::signature::{tensor_info, TensorInfo};
use crate::{Error, Result};

/// An ONNX model ready to run on ONNX Runtime.
///
/// `Model` is `Send + Sync`: share it (e.g. in an `Arc`) and call [`Model::run`] from many threads
/// at once; ONNX Runtime's `Run` is thread-safe.
///
/// ```no_run
/// use lepton_core::model::{Model, ModelOptions, Tensor};
/// # fn main() -> lepton_core::Result<()> {
/// let model = Model::from_file("model.onnx", &ModelOptions::default())?;
/// let x = Tensor::from_vec(vec![1, 30], vec![0.5f32; 30])?;
/// let outputs = model.run([&x])?;
/// println!("{:?}", outputs[0].as_slice::<f32>());
/// # Ok(()) }
/// ```
pub struct Model {
    pub(super) session: Session,
    pub(super) bytes: Vec<u8>,
    pub(super) inputs: Vec<TensorInfo>,
    /// Initializers a run may override by name (onnxruntime's `get_overridable_initializers`);
    /// their names follow the inputs' in `name_ptrs.inputs`.
    pub(super) initializers: Vec<TensorInfo>,
    pub(super) outputs: Vec<TensorInfo>,
    pub(super) name_ptrs: NamePtrs,
    pub(super) providers: Vec<ExecutionProvider>,
    pub(super) fallback: Option<String>,
    pub(super) memory: CpuMemory,
    /// How many initializers were handed to ONNX Runtime outside the graph (`bytes` lacks them).
    pub(super) external_weights: usize,
    /// Their buffers, used in place by the session: dropped after it (fields drop in order).
    pub(super) _initializers: Initializers,
    /// With parallel execution (`inter_op_threads` > 1): the process whose inter-op threads run
    /// the graph's branches, and their count. A forked child has none of those threads.
    pub(super) parallel_in: Option<(u32, usize)>,
}

// Compile-time proof of the thread-safety promise above.
const _: fn() = || {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Model>();
};

impl fmt::Debug for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Model")
            .field("inputs", &self.inputs)
            .field("outputs", &self.outputs)
            .field("providers", &self.providers)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

impl Model {
    /// Loads a model from an `.onnx` file. A missing file is [`Error::NotFound`].
    pub fn from_file(path: impl AsRef<Path>, options: &ModelOptions) -> Result<Model> {
        let path = path.as_ref();
        let (bytes, folder) = read_model_path(path)?;
        let source = Some(path.display().to_string());
        Model::load(bytes, source, SideFiles::Dir(folder), options)
    }

    /// Loads a model from the bytes of an `.onnx` (or `.ort`) file (kept, see [`Model::bytes`]).
    ///
    /// A model whose weights live in side files (ONNX external data) cannot be loaded from its
    /// bytes alone: use [`Model::from_file`] or [`Model::from_bytes_with_external_data`].
    pub fn from_bytes(bytes: impl Into<Vec<u8>>, options: &ModelOptions) -> Result<Model> {
        Model::load(bytes.into(), None, SideFiles::None, options)
    }

    /// Loads a model from its bytes and its external-data side files, given as
    /// `{location written in the model: file bytes}` (e.g. `{"model.onnx_data": ...}`).
    ///
    /// The side files' bytes are put inline, so [`Model::bytes`] is one self-contained model.
    /// A side file the model names but `files` lacks is [`Error::NotFound`].
    pub fn from_bytes_with_external_data(
        bytes: impl Into<Vec<u8>>,
        files: &HashMap<String, Vec<u8>>,
        options: &ModelOptions,
    ) -> Result<Model> {
        Model::load(bytes.into(), None, SideFiles::Given(files), options)
    }

    fn load(
        bytes: Vec<u8>,
        source: Option<String>,
        side_files: SideFiles<'_>,
        options: &ModelOptions,
    ) -> Result<Model> {
        let invalid = |reason: String| Error::InvalidModel {
            source_name: source.clone(),
            reason,
        };
        let (bytes, initializers) = if is_ort_format(&bytes) {
            (bytes, Initializers::default())
        } else {
            if let Some(problem) = onnx_problem(&bytes) {
                return Err(invalid(problem));
            }
            let model_error = |e| match e {
                Error::InvalidModel { reason, .. } => invalid(reason),
                other => other,
            };
            let split = match side_files {
                SideFiles::Dir(dir) => {
                    let side = side_files_size(&bytes, dir).map_err(model_error)?;
                    (side > 0 && side.saturating_add(bytes.len() as u64) > options.inline_limit)
                        .then_some(dir)
                }
                _ => None,
            };
            match split {
                Some(dir) => {
                    let (graph, tensors) =
                        split_external_data(bytes, SideFiles::Dir(dir), SPLIT_MIN_BYTES)
                            .map_err(model_error)?;
                    runtime::environment(options.runtime_path.as_deref())?;
                    let mut filling = Filling::allocate(tensors).map_err(model_error)?;
                    filling.read_from_dir(dir).map_err(model_error)?;
                    let what = source.clone().unwrap_or_else(|| "the model".into());
                    (graph, filling.finish(&what)?)
                }
                None => (
                    inline_external_data(bytes, side_files).map_err(model_error)?,
                    Initializers::default(),
                ),
            }
        };
        let env = runtime::environment(options.runtime_path.as_deref())?;
        Model::open(env, bytes, initializers, source, options)
    }

    /// A model from its graph and the initializers kept outside it (see
    /// [`split_external_data`]): how the registry loads a model stored as an object set.
    pub(crate) fn from_graph(
        graph: Vec<u8>,
        initializers: Initializers,
        source: Option<String>,
        options: &ModelOptions,
    ) -> Result<Model> {
        if let Some(problem) = onnx_problem(&graph) {
            return Err(Error::InvalidModel {
                source_name: source,
                reason: problem,
            });
        }
        let env = runtime::environment(options.runtime_path.as_deref())?;
        Model::open(env, graph, initializers, source, options)
    }

    fn open(
        env: &ort::environment::Environment,
        bytes: Vec<u8>,
        weights: Initializers,
        source: Option<String>,
        options: &ModelOptions,
    ) -> Result<Model> {
        let invalid = |reason: String| Error::InvalidModel {
            source_name: source.clone(),
            reason,
        };
        let external_weights = weights.len();
        let (session, providers, fallback) =
            open_session(env, &bytes, &weights, options).map_err(|e| match e {
                OpenError::Lepton(e) => e,
                OpenError::Model(reason) => invalid(reason),
            })?;
        if let Some(why) = &fallback {
            // `user_warning`: bindings show it as their language's warning (Python: UserWarning).
            tracing::warn!(user_warning = true, "{why}");
        }
        let inputs: Vec<TensorInfo> = session
            .inputs()
            .iter()
            .map(|o| tensor_info(o.name(), o.dtype()))
            .collect();
        let initializers: Vec<TensorInfo> = session
            .overridable_initializers()
            .iter()
            .map(|o| tensor_info(o.name(), o.dtype()))
            .collect();
        let outputs: Vec<TensorInfo> = session
            .outputs()
            .iter()
            .map(|o| tensor_info(o.name(), o.dtype()))
            .collect();
        let cstrings = |infos: &[TensorInfo]| {
            infos
                .iter()
                .map(|i| CString::new(i.name.as_str()))
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|_| invalid("an input or output name contains a NUL byte".into()))
        };
        let all_inputs: Vec<TensorInfo> = inputs.iter().chain(&initializers).cloned().collect();
        let (input_names, output_names) = (cstrings(&all_inputs)?, cstrings(&outputs)?);
        Ok(Model {
            name_ptrs: NamePtrs {
                inputs: input_names.iter().map(|c| c.as_ptr()).collect(),
                outputs: output_names.iter().map(|c| c.as_ptr()).collect(),
                _owned: (input_names, output_names),
            },
            memory: CpuMemory::new()?,
            session,
            bytes,
            inputs,
            initializers,
            outputs,
            providers,
            fallback,
            external_weights,
            parallel_in: options
                .inter_op_threads
                .filter(|&n| n > 1)
                .map(|n| (std::process::id(), n)),
            _initializers: weights,
        })
    }

    /// The inputs, in order.
    pub fn inputs(&self) -> &[TensorInfo] {
        &self.inputs
    }

    /// Initializers a run may override by passing a value under their name (as onnxruntime's
    /// `InferenceSession.get_overridable_initializers()`); left out, they keep their stored value.
    pub fn overridable_initializers(&self) -> &[TensorInfo] {
        &self.initializers
    }

    /// The outputs, in order.
    pub fn outputs(&self) -> &[TensorInfo] {
        &self.outputs
    }

    /// The execution providers in use, in priority order (always ending with CPU).
    pub fn providers(&self) -> &[ExecutionProvider] {
        &self.providers
    }

    /// Why a requested provider was dropped (non-strict fallback), if one was.
    pub fn fallback_reason(&self) -> Option<&str> {
        self.fallback.as_deref()
    }

    /// How many initializers ONNX Runtime got outside the graph (external initializers): a model
    /// whose side files exceed [`ModelOptions::inline_limit`], or loaded from a registry object
    /// set. When not 0, [`Model::bytes`] is the graph without those weights.
    pub fn external_weights(&self) -> usize {
        self.external_weights
    }

    /// [`Model::bytes`] when they hold every weight; for a model with external weights
    /// ([`Model::external_weights`]) [`Error::InvalidArgument`]: its bytes alone would lose them
    /// (what `save`, `to_bytes` and `push_model` of a loaded model need).
    pub fn self_contained_bytes(&self) -> Result<&[u8]> {
        if self.external_weights > 0 {
            return Err(Error::InvalidArgument(format!(
                "this model's {} largest weights were handed to ONNX Runtime outside its bytes \
                 (its side files exceed the inline limit, or it came from a registry object \
                 set), so its bytes alone would lose them; keep the model file with its side \
                 files, or push that file to a registry (Platform::push_model_file)",
                self.external_weights
            )));
        }
        Ok(&self.bytes)
    }

    /// The model's bytes: the ONNX (or `.ort`) bytes it was loaded from, with any external data
    /// put inline (one self-contained model: what `save` and the registry store).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}
