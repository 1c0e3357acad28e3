//! [`Model`]: an ONNX model loaded into an ONNX Runtime session, with its signature, its active
//! execution providers and its bytes, runnable from many threads at once.

use std::collections::HashMap;
use std::ffi::{c_char, CString};
use std::fmt;
use std::path::Path;
use std::ptr;

use ort::session::builder::{GraphOptimizationLevel, SessionBuilder};
use ort::session::Session;
use ort::AsPointer;
use smallvec::SmallVec;

use super::check::{is_ort_format, onnx_problem};
use super::convert::{self, CpuMemory, OrtOwned, OutputData};
use super::external::{
    inline_external_data, side_files_size, split_external_data, SideFiles, SPLIT_MIN_BYTES,
};
use super::initializers::{Filling, Initializers};
use super::options::{ExecutionProvider, ModelOptions, OptimizationLevel};
use super::providers;
use super::runtime;
use super::tensor::{DType, Tensor, TensorView};
use super::value::{Input, Value};
use crate::{Error, Result};

/// One dimension of a declared input/output shape.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Dim {
    /// A fixed size.
    Fixed(u64),
    /// A named, free dimension (e.g. `batch`).
    Symbolic(String),
    /// A free dimension without a name.
    Unknown,
}

impl fmt::Display for Dim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dim::Fixed(d) => write!(f, "{d}"),
            Dim::Symbolic(s) => f.write_str(s),
            Dim::Unknown => f.write_str("?"),
        }
    }
}

/// What an input or output holds (inside `optional(...)` when [`IoInfo::is_optional`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IoKind {
    /// A tensor.
    Tensor,
    /// A sequence (of tensors or maps).
    Sequence,
    /// A map.
    Map,
    /// Anything else (opaque types).
    Other,
}

/// A model input or output: name, element type and declared shape.
#[derive(Debug, Clone, PartialEq)]
pub struct IoInfo {
    name: String,
    dtype: Option<DType>,
    onnx_type: String,
    shape: Vec<Dim>,
    kind: IoKind,
    optional: bool,
}

impl IoInfo {
    /// The name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The element type of a tensor (or of a sequence's tensors, or of a map's values); `None`
    /// for a type lepton cannot exchange (bfloat16...). [`IoInfo::onnx_type`] says what it is and
    /// [`IoInfo::kind`] which kind of value it is.
    pub fn dtype(&self) -> Option<DType> {
        self.dtype
    }

    /// ONNX Runtime's description of the type (e.g. `Tensor<f32>`).
    pub fn onnx_type(&self) -> &str {
        &self.onnx_type
    }

    /// The declared shape (empty for a scalar or a non-tensor).
    pub fn shape(&self) -> &[Dim] {
        &self.shape
    }

    /// Tensor, sequence, map or other (of the contained type for an optional).
    pub fn kind(&self) -> IoKind {
        self.kind
    }

    /// Whether the type is `optional(...)`: such an input may be left out (or given as
    /// [`Input::None`]) and such an output may come back as [`Value::None`].
    pub fn is_optional(&self) -> bool {
        self.optional
    }

    fn type_text(&self) -> String {
        match self.dtype {
            Some(d) => format!("{d} {}", shape_text(&self.shape)),
            None => self.onnx_type.clone(),
        }
    }
}

impl fmt::Display for IoInfo {
    /// `x: float32 [batch, 30]`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name, self.type_text())
    }
}

fn shape_text(shape: &[Dim]) -> String {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    format!("[{}]", dims.join(", "))
}

fn names(infos: &[IoInfo]) -> String {
    let v: Vec<String> = infos.iter().map(|i| format!("`{}`", i.name)).collect();
    if v.is_empty() {
        "(none)".into()
    } else {
        v.join(", ")
    }
}

/// How an input is addressed in [`Model::run_with`]: by position or by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKey<'k> {
    /// The input's position in [`Model::inputs`].
    Index(usize),
    /// The input's name.
    Name(&'k str),
}

impl From<usize> for InputKey<'_> {
    fn from(i: usize) -> Self {
        InputKey::Index(i)
    }
}

impl<'k> From<&'k str> for InputKey<'k> {
    fn from(s: &'k str) -> Self {
        InputKey::Name(s)
    }
}

/// The outputs of a run, in the order asked for (all outputs: the model's order).
#[derive(Debug, Clone, PartialEq)]
pub struct Outputs(Vec<(String, Tensor)>);

impl Outputs {
    /// The number of outputs.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The output with this name.
    pub fn get(&self, name: &str) -> Option<&Tensor> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, t)| t)
    }

    /// `(name, tensor)` pairs in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Tensor)> {
        self.0.iter().map(|(n, t)| (n.as_str(), t))
    }

    /// The tensors in order.
    pub fn into_tensors(self) -> Vec<Tensor> {
        self.0.into_iter().map(|(_, t)| t).collect()
    }

    /// `(name, tensor)` pairs in order.
    pub fn into_named(self) -> Vec<(String, Tensor)> {
        self.0
    }
}

impl std::ops::Index<usize> for Outputs {
    type Output = Tensor;
    fn index(&self, i: usize) -> &Tensor {
        &self.0[i].1
    }
}

/// Input and output names as C strings, with the pointer arrays `Run` takes built once.
struct NamePtrs {
    inputs: Vec<*const c_char>,
    outputs: Vec<*const c_char>,
    /// Owns the strings the pointers point into (a `CString`'s buffer never moves).
    _owned: (Vec<CString>, Vec<CString>),
}

// SAFETY: the pointers point into `_owned`, which is never mutated after construction and lives as
// long as the pointers; reading immutable C strings from many threads is sound.
unsafe impl Send for NamePtrs {}
// SAFETY: see `Send`.
unsafe impl Sync for NamePtrs {}

/// The outputs of [`Model::run_raw`], still in ONNX Runtime's memory.
pub struct RawOutputs<'m> {
    model: &'m Model,
    selected: Option<SmallVec<[usize; 4]>>,
    values: SmallVec<[OrtOwned; 4]>,
}

impl RawOutputs<'_> {
    /// The number of outputs.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The name of output `i`.
    pub fn name(&self, i: usize) -> &str {
        let index = self.selected.as_ref().map_or(i, |s| s[i]);
        &self.model.outputs[index].name
    }

    /// Output `i`: its dtype, shape and elements (numbers borrowed from ONNX Runtime). A
    /// sequence, map or absent optional is an error: check [`RawOutputs::is_tensor`] and read
    /// those with [`RawOutputs::value`].
    pub fn get(&self, i: usize) -> Result<(DType, Vec<i64>, OutputData<'_>)> {
        convert::describe(&self.values[i], self.name(i))
    }

    /// Whether output `i` is a tensor (readable with [`RawOutputs::get`]).
    pub fn is_tensor(&self, i: usize) -> bool {
        convert::is_plain_tensor(&self.values[i])
    }

    /// Output `i` of any kind, copied out of ONNX Runtime.
    pub fn value(&self, i: usize) -> Result<Value> {
        convert::to_output_value(&self.values[i], self.name(i))
    }
}

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
    session: Session,
    bytes: Vec<u8>,
    inputs: Vec<IoInfo>,
    /// Initializers a run may override by name (onnxruntime's `get_overridable_initializers`);
    /// their names follow the inputs' in `name_ptrs.inputs`.
    initializers: Vec<IoInfo>,
    outputs: Vec<IoInfo>,
    name_ptrs: NamePtrs,
    providers: Vec<ExecutionProvider>,
    fallback: Option<String>,
    memory: CpuMemory,
    /// How many initializers were handed to ONNX Runtime outside the graph (`bytes` lacks them).
    external_weights: usize,
    /// Their buffers, used in place by the session: dropped after it (fields drop in order).
    _initializers: Initializers,
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
        let bytes = std::fs::read(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::NotFound {
                what: format!("model file `{}`", path.display()),
                hint: Some("check the path (relative paths start at the working directory)".into()),
            },
            _ => Error::io(path, e),
        })?;
        let source = Some(path.display().to_string());
        let folder = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
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
        let inputs: Vec<IoInfo> = session
            .inputs()
            .iter()
            .map(|o| io_info(o.name(), o.dtype()))
            .collect();
        let initializers: Vec<IoInfo> = session
            .overridable_initializers()
            .iter()
            .map(|o| io_info(o.name(), o.dtype()))
            .collect();
        let outputs: Vec<IoInfo> = session
            .outputs()
            .iter()
            .map(|o| io_info(o.name(), o.dtype()))
            .collect();
        let cstrings = |infos: &[IoInfo]| {
            infos
                .iter()
                .map(|i| CString::new(i.name.as_str()))
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|_| invalid("an input or output name contains a NUL byte".into()))
        };
        let all_inputs: Vec<IoInfo> = inputs.iter().chain(&initializers).cloned().collect();
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
            _initializers: weights,
        })
    }

    /// The inputs, in order.
    pub fn inputs(&self) -> &[IoInfo] {
        &self.inputs
    }

    /// Initializers a run may override by passing a value under their name (as onnxruntime's
    /// `InferenceSession.get_overridable_initializers()`); left out, they keep their stored value.
    pub fn overridable_initializers(&self) -> &[IoInfo] {
        &self.initializers
    }

    /// The outputs, in order.
    pub fn outputs(&self) -> &[IoInfo] {
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

    /// Runs the model on inputs given by position (all inputs, in order) and returns every output.
    pub fn run<'a, I, V>(&self, inputs: I) -> Result<Outputs>
    where
        I: IntoIterator<Item = V>,
        V: Into<TensorView<'a>>,
    {
        let inputs = inputs
            .into_iter()
            .enumerate()
            .map(|(i, v)| (InputKey::Index(i), v.into()))
            .collect();
        self.run_with(inputs, None)
    }

    /// Runs the model on inputs given by name and returns every output.
    pub fn run_named<'a, 'k, I, V>(&self, inputs: I) -> Result<Outputs>
    where
        I: IntoIterator<Item = (&'k str, V)>,
        V: Into<TensorView<'a>>,
    {
        let inputs = inputs
            .into_iter()
            .map(|(k, v)| (InputKey::Name(k), v.into()))
            .collect();
        self.run_with(inputs, None)
    }

    /// Runs the model. Every input must be given once (by position or name); `output_names`
    /// selects outputs (default: all, in the model's order).
    ///
    /// Inputs are checked against the signature first; a mismatch is [`Error::InvalidInput`]
    /// naming the input and what was expected.
    pub fn run_with(
        &self,
        inputs: Vec<(InputKey<'_>, TensorView<'_>)>,
        output_names: Option<&[&str]>,
    ) -> Result<Outputs> {
        let raw = self.run_raw(inputs, output_names)?;
        let mut result = Vec::with_capacity(raw.len());
        if let Some(i) = (0..raw.len()).find(|&i| !raw.is_tensor(i)) {
            return Err(Error::InvalidInput(format!(
                "output `{}` is not a tensor ({}); use Model::run_values, which returns \
                 sequences, maps and absent optionals too",
                raw.name(i),
                self.outputs[raw.selected.as_ref().map_or(i, |s| s[i])].onnx_type
            )));
        }
        for (i, value) in raw.values.iter().enumerate() {
            let name = raw.name(i);
            result.push((name.to_string(), convert::to_tensor(value, name)?));
        }
        Ok(Outputs(result))
    }

    /// Like [`Model::run_with`], but leaves the outputs in ONNX Runtime's buffers: read them with
    /// [`RawOutputs::get`] (no copy) before dropping. Bindings use it to copy each output once,
    /// straight into their own arrays.
    pub fn run_raw(
        &self,
        inputs: Vec<(InputKey<'_>, TensorView<'_>)>,
        output_names: Option<&[&str]>,
    ) -> Result<RawOutputs<'_>> {
        let inputs = inputs
            .into_iter()
            .map(|(k, v)| (k, Input::Tensor(v)))
            .collect();
        self.run_raw_inputs(inputs, output_names)
    }

    /// Runs the model on inputs of any kind (tensors, sequences, maps, [`Input::None`] for an
    /// absent optional) and returns every selected output as a [`Value`]. Optional inputs and
    /// overridable initializers may be left out; an initializer is overridden by giving a
    /// tensor under its name.
    pub fn run_values(
        &self,
        inputs: Vec<(InputKey<'_>, Input<'_>)>,
        output_names: Option<&[&str]>,
    ) -> Result<Vec<(String, Value)>> {
        let raw = self.run_raw_inputs(inputs, output_names)?;
        (0..raw.len())
            .map(|i| Ok((raw.name(i).to_string(), raw.value(i)?)))
            .collect()
    }

    /// [`Model::run_raw`] for inputs of any kind (see [`Model::run_values`]).
    pub fn run_raw_inputs(
        &self,
        inputs: Vec<(InputKey<'_>, Input<'_>)>,
        output_names: Option<&[&str]>,
    ) -> Result<RawOutputs<'_>> {
        let ordered = self.order_inputs(inputs)?;
        let mut values: SmallVec<[OrtOwned; 4]> = SmallVec::with_capacity(ordered.len());
        let mut input_name_ptrs: SmallVec<[*const c_char; 4]> =
            SmallVec::with_capacity(ordered.len());
        for (slot, input) in &ordered {
            let name = &self.input_info(*slot).name;
            if let Some(v) = convert::to_input_value(&self.memory, input, name)? {
                values.push(v);
                input_name_ptrs.push(self.name_ptrs.inputs[*slot]);
            }
        }
        let value_ptrs: SmallVec<[*const ort::sys::OrtValue; 4]> =
            values.iter().map(|v| v.as_ptr()).collect();

        let selected: Option<SmallVec<[usize; 4]>> = match output_names {
            None => None,
            Some(names) => Some(
                names
                    .iter()
                    .map(|n| {
                        self.outputs
                            .iter()
                            .position(|o| o.name == *n)
                            .ok_or_else(|| {
                                Error::InvalidInput(format!(
                                    "unknown output `{n}`; the model's outputs are {}",
                                    names_of(&self.outputs)
                                ))
                            })
                    })
                    .collect::<Result<_>>()?,
            ),
        };
        let selected_ptrs: SmallVec<[*const c_char; 4]>;
        let output_name_ptrs: &[*const c_char] = match &selected {
            None => &self.name_ptrs.outputs,
            Some(sel) => {
                selected_ptrs = sel.iter().map(|&i| self.name_ptrs.outputs[i]).collect();
                &selected_ptrs
            }
        };
        let mut out_ptrs: SmallVec<[*mut ort::sys::OrtValue; 4]> =
            smallvec::smallvec![ptr::null_mut(); output_name_ptrs.len()];

        // SAFETY: the name and value arrays have matching lengths, hold live pointers for the whole
        // call (`values` borrow tensors the caller keeps alive; names are owned by `self`), and
        // `out_ptrs` has one slot per requested output. Concurrent calls on one session are
        // allowed: ONNX Runtime guarantees that InferenceSession::Run is thread-safe (see
        // onnxruntime#19301), which is also how its Python API runs one session from many threads.
        let status = unsafe {
            (ort::api().Run)(
                self.session.ptr().cast_mut(),
                ptr::null(),
                input_name_ptrs.as_ptr(),
                value_ptrs.as_ptr(),
                value_ptrs.len(),
                output_name_ptrs.as_ptr(),
                output_name_ptrs.len(),
                out_ptrs.as_mut_ptr(),
            )
        };
        // Take ownership of whatever was produced before looking at the status, so nothing leaks.
        let produced: SmallVec<[Option<OrtOwned>; 4]> =
            out_ptrs.into_iter().map(OrtOwned::from_raw).collect();
        convert::check(status).map_err(Error::Runtime)?;
        drop(values);
        let mut outputs = SmallVec::with_capacity(produced.len());
        for (i, value) in produced.into_iter().enumerate() {
            let index = selected.as_ref().map_or(i, |s| s[i]);
            outputs.push(value.ok_or_else(|| {
                Error::Runtime(format!(
                    "ONNX Runtime returned no value for output `{}`",
                    self.outputs[index].name
                ))
            })?);
        }
        Ok(RawOutputs {
            model: self,
            selected,
            values: outputs,
        })
    }

    /// Input `slot`: an input, or past them an overridable initializer.
    fn input_info(&self, slot: usize) -> &IoInfo {
        self.inputs
            .get(slot)
            .unwrap_or_else(|| &self.initializers[slot - self.inputs.len()])
    }

    /// Checks inputs against the signature and returns them with their slot (position among
    /// inputs, then overridable initializers), in the model's order. Absent optional inputs
    /// and initializers left out are not returned.
    fn order_inputs<'v>(
        &self,
        inputs: Vec<(InputKey<'_>, Input<'v>)>,
    ) -> Result<Vec<(usize, Input<'v>)>> {
        let n = self.inputs.len();
        let total = n + self.initializers.len();
        if inputs.len() > total {
            return Err(Error::InvalidInput(format!(
                "too many inputs: the model takes {n} ({}){}, got {}",
                names_of(&self.inputs),
                if self.initializers.is_empty() {
                    String::new()
                } else {
                    format!(" and may override {} initializers", self.initializers.len())
                },
                inputs.len()
            )));
        }
        let mut slots: Vec<Option<Input<'v>>> = vec![None; total];
        for (key, value) in inputs {
            let i = match key {
                InputKey::Index(i) if i < n => i,
                InputKey::Index(i) => {
                    return Err(Error::InvalidInput(format!(
                        "input position {i} is out of range: the model takes {n} ({})",
                        names_of(&self.inputs)
                    )))
                }
                InputKey::Name(name) => self
                    .inputs
                    .iter()
                    .chain(&self.initializers)
                    .position(|info| info.name == name)
                    .ok_or_else(|| {
                        Error::InvalidInput(format!(
                            "unknown input `{name}`; the model's inputs are {}{}",
                            names_of(&self.inputs),
                            if self.initializers.is_empty() {
                                String::new()
                            } else {
                                format!(
                                    " (initializers that may be overridden: {})",
                                    names_of(&self.initializers)
                                )
                            }
                        ))
                    })?,
            };
            if slots[i].is_some() {
                return Err(Error::InvalidInput(format!(
                    "input `{}` is given twice",
                    self.input_info(i).name
                )));
            }
            check_value(self.input_info(i), &value)?;
            slots[i] = Some(value);
        }
        let mut ordered = Vec::with_capacity(total);
        for (i, v) in slots.into_iter().enumerate() {
            match v {
                Some(v) => ordered.push((i, v)),
                None if i >= n || self.inputs[i].optional => {}
                None => {
                    let info = &self.inputs[i];
                    return Err(Error::InvalidInput(format!(
                        "missing input `{}` ({}); the model's inputs are {}",
                        info.name,
                        info.type_text(),
                        names_of(&self.inputs)
                    )));
                }
            }
        }
        Ok(ordered)
    }
}

fn names_of(infos: &[IoInfo]) -> String {
    names(infos)
}

/// Checks one input value's kind (and a tensor's dtype and shape) against its declaration.
fn check_value(info: &IoInfo, value: &Input<'_>) -> Result<()> {
    let name = &info.name;
    let wrong = |what: &str| {
        Err(Error::InvalidInput(format!(
            "input `{name}` has type {}; {what}",
            info.onnx_type
        )))
    };
    match (value, info.kind) {
        (Input::None, _) if info.optional => Ok(()),
        (Input::None, _) => wrong("it is not optional, so it needs a value"),
        (Input::Tensor(view), IoKind::Tensor) => check_input(info, view),
        (Input::Sequence(items), IoKind::Sequence) => {
            if let Some(expected) = info.dtype {
                if let Some(bad) = items.iter().position(|v| v.dtype != expected) {
                    return Err(Error::InvalidInput(format!(
                        "input `{name}`: element {bad} of the sequence has dtype {}, expected \
                         {expected}",
                        items[bad].dtype
                    )));
                }
            }
            Ok(())
        }
        (Input::Map { keys, values }, IoKind::Map) => {
            if keys.shape.len() != 1 || keys.shape != values.shape {
                return Err(Error::InvalidInput(format!(
                    "input `{name}`: map keys and values must be 1-D and of the same length \
                     (got shapes {:?} and {:?})",
                    keys.shape, values.shape
                )));
            }
            Ok(())
        }
        (_, IoKind::Sequence) => wrong("pass a list of arrays"),
        (_, IoKind::Map) => wrong("pass a dict"),
        (_, IoKind::Tensor) => wrong(&format!("pass an array, not a {}", value.kind())),
        (_, _) => wrong("lepton cannot pass values of this type"),
    }
}

/// Checks one input's dtype, rank and fixed dimensions against its declaration.
fn check_input(info: &IoInfo, view: &TensorView<'_>) -> Result<()> {
    let name = &info.name;
    let Some(expected) = info.dtype else {
        return Err(Error::InvalidInput(format!(
            "input `{name}` has type {}, which lepton cannot pass yet",
            info.onnx_type
        )));
    };
    if view.dtype != expected {
        return Err(Error::InvalidInput(format!(
            "input `{name}`: expected dtype {expected}, got {}",
            view.dtype
        )));
    }
    // A declared rank of 0 may also mean "shape unknown": leave that to ONNX Runtime.
    if info.shape.is_empty() {
        return Ok(());
    }
    let got = &view.shape;
    if got.len() != info.shape.len() {
        return Err(Error::InvalidInput(format!(
            "input `{name}`: expected rank {} (shape {}), got rank {} (shape {got:?})",
            info.shape.len(),
            shape_text(&info.shape),
            got.len()
        )));
    }
    for (axis, (dim, &g)) in info.shape.iter().zip(got).enumerate() {
        if let Dim::Fixed(d) = dim {
            if *d as i64 != g {
                return Err(Error::InvalidInput(format!(
                    "input `{name}`: expected shape {}, got {got:?} (dimension {axis} must be {d})",
                    shape_text(&info.shape)
                )));
            }
        }
    }
    Ok(())
}

fn io_info(name: &str, ty: &ort::value::ValueType) -> IoInfo {
    use ort::value::ValueType;
    let onnx_type = ty.to_string();
    let (inner, optional) = match ty {
        ValueType::Optional(inner) => (inner.as_ref(), true),
        other => (other, false),
    };
    let (dtype, shape, kind) = match inner {
        ValueType::Tensor {
            ty,
            shape,
            dimension_symbols,
        } => {
            let dims = shape
                .iter()
                .zip(dimension_symbols.iter())
                .map(|(&d, sym)| {
                    if d >= 0 {
                        Dim::Fixed(d as u64)
                    } else if !sym.is_empty() {
                        Dim::Symbolic(sym.clone())
                    } else {
                        Dim::Unknown
                    }
                })
                .collect();
            (convert::from_ort_element(*ty), dims, IoKind::Tensor)
        }
        ValueType::Sequence(element) => {
            let dtype = match element.as_ref() {
                ValueType::Tensor { ty, .. } => convert::from_ort_element(*ty),
                _ => None,
            };
            (dtype, Vec::new(), IoKind::Sequence)
        }
        ValueType::Map { value, .. } => {
            (convert::from_ort_element(*value), Vec::new(), IoKind::Map)
        }
        _ => (None, Vec::new(), IoKind::Other),
    };
    IoInfo {
        name: name.to_string(),
        dtype,
        onnx_type,
        shape,
        kind,
        optional,
    }
}

enum OpenError {
    /// Not the model's fault (strict provider failure, runtime error): passed through.
    Lepton(Error),
    /// ONNX Runtime rejected the model.
    Model(String),
}

/// Builds the session with the requested providers; without `strict`, a provider that fails to
/// register (or to create the session) is dropped and the reason returned.
fn open_session(
    env: &ort::environment::Environment,
    bytes: &[u8],
    initializers: &Initializers,
    options: &ModelOptions,
) -> std::result::Result<(Session, Vec<ExecutionProvider>, Option<String>), OpenError> {
    let wants_gpu = options
        .providers
        .iter()
        .any(|p| !matches!(p, ExecutionProvider::Cpu));
    let mut builder = base_builder(env, options).map_err(OpenError::Lepton)?;
    let mut active = Vec::new();
    let mut fallback = Vec::new();
    for &p in &options.providers {
        if active.contains(&p) {
            continue;
        }
        match p {
            ExecutionProvider::Cpu => {}
            _ => {
                let extra = options.options_of(p);
                let registered = match p {
                    ExecutionProvider::Cuda { device_id } if extra.is_empty() => {
                        register_cuda(&mut builder, device_id)
                    }
                    ExecutionProvider::Cuda { device_id } => register_cuda_with(
                        &mut builder,
                        // Given options come after, so a `device_id` among them wins.
                        std::iter::once(("device_id".to_string(), device_id.to_string()))
                            .chain(extra.iter().cloned())
                            .collect(),
                    ),
                    ExecutionProvider::Other { name } => {
                        providers::register(&mut builder, name, extra)
                    }
                    _ => Ok(()),
                };
                match registered {
                    Ok(()) => active.push(p),
                    Err(reason) => {
                        if options.strict {
                            return Err(OpenError::Lepton(Error::ProviderUnavailable {
                                provider: p.to_string(),
                                reason,
                            }));
                        }
                        fallback.push(format!("{p}: {reason}"));
                    }
                }
            }
        }
    }
    active.push(ExecutionProvider::Cpu);
    let mut builder = with_initializers(builder, initializers).map_err(OpenError::Lepton)?;
    match builder.commit_from_memory(bytes) {
        Ok(session) => Ok((session, active, join_fallback(fallback))),
        Err(e) if wants_gpu && active.len() > 1 => {
            let reason = e.message().to_string();
            if options.strict {
                return Err(OpenError::Lepton(Error::ProviderUnavailable {
                    provider: active[0].to_string(),
                    reason,
                }));
            }
            // The GPU session failed (e.g. no device); the CPU session tells whether the model
            // itself is at fault.
            let cpu = base_builder(env, options).map_err(OpenError::Lepton)?;
            let mut cpu = with_initializers(cpu, initializers).map_err(OpenError::Lepton)?;
            let session = cpu
                .commit_from_memory(bytes)
                .map_err(|e| OpenError::Model(e.message().to_string()))?;
            for p in &active[..active.len() - 1] {
                fallback.push(format!("{p}: creating the session failed: {reason}"));
            }
            Ok((
                session,
                vec![ExecutionProvider::Cpu],
                join_fallback(fallback),
            ))
        }
        Err(e) => Err(OpenError::Model(e.message().to_string())),
    }
}

/// Hands ONNX Runtime the initializers kept outside the graph; the session keeps them alive.
fn with_initializers(
    mut builder: SessionBuilder,
    initializers: &Initializers,
) -> Result<SessionBuilder> {
    initializers.add_to(&mut builder)?;
    Ok(builder)
}

fn join_fallback(reasons: Vec<String>) -> Option<String> {
    (!reasons.is_empty()).then(|| {
        format!(
            "requested execution providers unavailable, running on CPU: {}",
            reasons.join("; ")
        )
    })
}

fn base_builder(
    env: &ort::environment::Environment,
    options: &ModelOptions,
) -> Result<SessionBuilder> {
    let rt = |e: ort::Error<SessionBuilder>| Error::Runtime(e.to_string());
    let mut b = Session::builder(env).map_err(|e| Error::Runtime(e.to_string()))?;
    b = b
        .with_optimization_level(match options.optimization_level {
            OptimizationLevel::Disable => GraphOptimizationLevel::Disable,
            OptimizationLevel::Basic => GraphOptimizationLevel::Level1,
            OptimizationLevel::Extended => GraphOptimizationLevel::Level2,
            OptimizationLevel::All => GraphOptimizationLevel::All,
        })
        .map_err(rt)?;
    if let Some(n) = options.intra_op_threads {
        b = b.with_intra_threads(n).map_err(rt)?;
    }
    if let Some(n) = options.inter_op_threads {
        b = b.with_inter_threads(n).map_err(rt)?;
        if n > 1 {
            b = b.with_parallel_execution(true).map_err(rt)?;
        }
    }
    Ok(b)
}

/// Registers CUDA on `builder`, which is left as it was if that fails.
#[cfg(feature = "cuda")]
fn register_cuda(builder: &mut SessionBuilder, device_id: i32) -> std::result::Result<(), String> {
    use ort::ep::{ExecutionProvider as _, CUDA};
    if !CUDA::is_available().unwrap_or(false) {
        let lib = runtime::info()
            .map(|i| i.path().display().to_string())
            .unwrap_or_default();
        return Err(format!(
            "the ONNX Runtime loaded (`{lib}`) has no CUDA provider; install onnxruntime-gpu \
             instead of onnxruntime"
        ));
    }
    let ep = CUDA::default()
        .with_device_id(device_id)
        .build()
        .error_on_failure();
    let current = builder.clone();
    match current.with_execution_providers([ep]) {
        Ok(b) => {
            *builder = b;
            Ok(())
        }
        Err(e) => Err(e.message().to_string()),
    }
}

/// Registers CUDA with onnxruntime's provider options (keys and values as its Python API takes).
#[cfg(feature = "cuda")]
fn register_cuda_with(
    builder: &mut SessionBuilder,
    options: Vec<(String, String)>,
) -> std::result::Result<(), String> {
    providers::register(builder, "CUDAExecutionProvider", &options)
}

/// Without the `cuda` feature CUDA is never available.
#[cfg(not(feature = "cuda"))]
fn register_cuda_with(
    _builder: &mut SessionBuilder,
    _options: Vec<(String, String)>,
) -> std::result::Result<(), String> {
    Err("lepton-core was built without its `cuda` feature".to_string())
}

/// Without the `cuda` feature CUDA is never available.
#[cfg(not(feature = "cuda"))]
fn register_cuda(
    _builder: &mut SessionBuilder,
    _device_id: i32,
) -> std::result::Result<(), String> {
    Err("lepton-core was built without its `cuda` feature".to_string())
}
