//! Running a [`Model`]: the inputs are checked against its signature and handed to ONNX
//! Runtime's `Run` as they are (no copy), and the outputs come back as [`Outputs`] (copied into
//! tensors) or [`RawOutputs`] (left in ONNX Runtime's buffers, for the bindings to copy once).

use std::ffi::{c_char, CString};
use std::ptr;

use ort::AsPointer;
use smallvec::SmallVec;

use super::convert::{self, OrtOwned, OutputData};
use super::session::Model;
use super::signature::{names_of, InputKey};
use super::tensor::{DType, Tensor, TensorView};
use super::value::{Input, Value};
use crate::{Error, Result};

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
pub(super) struct NamePtrs {
    pub(super) inputs: Vec<*const c_char>,
    pub(super) outputs: Vec<*const c_char>,
    /// Owns the strings the pointers point into (a `CString`'s buffer never moves).
    pub(super) _owned: (Vec<CString>, Vec<CString>),
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

impl Model {
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
        if let Some((pid, threads)) = self
            .parallel_in
            .filter(|(pid, _)| *pid != std::process::id())
        {
            // ONNX Runtime would hand the branches to threads this process does not have, and
            // wait for them forever.
            return Err(Error::InvalidArgument(format!(
                "this model runs graph branches in parallel (inter_op_threads={threads}) on \
                 threads of process {pid}, which this forked child does not have; load the model \
                 in the child (a DataLoader's worker_init_fn), or without inter_op_threads"
            )));
        }
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
}
