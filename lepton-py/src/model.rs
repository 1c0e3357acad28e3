//! Python bindings for `lepton_core::model`: numpy arrays in (borrowed when C-contiguous, aligned
//! and of the model's dtype), numpy arrays out (copied once from ONNX Runtime's buffers), the GIL
//! released while loading and running.

use std::collections::HashMap;
use std::path::PathBuf;

use lepton_core::model::tune::GivenOptions;
use lepton_core::model::{
    runtime, DType, ExecutionProvider, Input, InputKey, IoKind, Model, ModelOptions, OutputData,
    Tensor, TensorData, TensorInfo, TensorView, Value,
};
use lepton_core::platform::Tuning;
use lepton_core::Error;
use numpy::npyffi::_PyArray_GET_ITEM_DATA;
use numpy::{PyArray, PyArrayDescrMethods, PyArrayMethods, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};

use crate::errors::IntoPyResult;
use crate::platform::{Callback, PyPlatform};
use crate::tensor_info::PyTensorInfo;

/// A loaded model; `lepton_ai.Model` subclasses it (so that calling a model with numpy arrays goes
/// straight to Rust, without a Python frame in between).
#[pyclass(frozen, subclass, name = "NativeModel", module = "lepton_ai._lepton")]
pub struct PyModel {
    model: Model,
    /// The tuning profile (JSON) applied when a registry load looked one up and found it.
    profile: Option<String>,
}

fn infos(py: Python<'_>, infos: &[TensorInfo]) -> PyResult<Vec<PyTensorInfo>> {
    infos.iter().map(|i| PyTensorInfo::new(py, i)).collect()
}

/// An input converted for a run: a borrowed numpy buffer, or owned strings.
pub(crate) enum Held<'py> {
    Array {
        /// Keeps the (possibly converted) array alive while its memory is borrowed.
        _array: Bound<'py, PyUntypedArray>,
        dtype: DType,
        shape: Vec<i64>,
        ptr: *const u8,
        len: usize,
    },
    Strings {
        shape: Vec<i64>,
        data: Vec<String>,
    },
    /// A list of arrays for a sequence input.
    Sequence(Vec<Held<'py>>),
    /// A dict for a map input: keys and values as two arrays.
    Map(Box<(Held<'py>, Held<'py>)>),
    /// `None` for an optional input.
    Nothing,
}

/// Holds one input for the input described by `info` (None: unknown position or name, left to
/// the core's checks): `None` → absent optional, list → sequence, dict → map, else an array.
fn hold_input<'py>(
    py: Python<'py>,
    obj: &Bound<'py, PyAny>,
    info: Option<&TensorInfo>,
    label: impl Fn() -> String,
) -> PyResult<Held<'py>> {
    if obj.is_none() {
        return Ok(Held::Nothing);
    }
    match info.map(TensorInfo::kind) {
        Some(IoKind::Sequence) if obj.cast::<PyList>().is_ok() || obj.cast::<PyTuple>().is_ok() => {
            let dtype = info.and_then(TensorInfo::dtype);
            let items = obj
                .try_iter()?
                .enumerate()
                .map(|(i, item)| {
                    let item = item?;
                    let item = match dtype {
                        // Lists of Python numbers become arrays of the sequence's dtype.
                        Some(d) if item.cast::<PyUntypedArray>().is_err() && d != DType::String => {
                            as_array_of(py, &item, d, || format!("{} element {i}", label()))?
                        }
                        _ => item,
                    };
                    hold(py, &item, || format!("{} element {i}", label()))
                })
                .collect::<PyResult<Vec<_>>>()?;
            Ok(Held::Sequence(items))
        }
        Some(IoKind::Map) if obj.cast::<PyDict>().is_ok() => {
            let dict = obj.cast::<PyDict>()?;
            let keys = hold(py, dict.keys().as_any(), || format!("{} keys", label()))?;
            let values = match info.and_then(TensorInfo::dtype) {
                Some(d) if d != DType::String => {
                    as_array_of(py, dict.values().as_any(), d, || {
                        format!("{} values", label())
                    })?
                }
                _ => dict.values().into_any(),
            };
            let values = hold(py, &values, || format!("{} values", label()))?;
            Ok(Held::Map(Box::new((keys, values))))
        }
        _ => hold(py, obj, label),
    }
}

/// `numpy.asarray(obj, dtype)`, with numpy's conversion errors turned into InvalidInputError
/// naming the input.
fn as_array_of<'py>(
    py: Python<'py>,
    obj: &Bound<'py, PyAny>,
    dtype: DType,
    label: impl Fn() -> String,
) -> PyResult<Bound<'py, PyAny>> {
    py.import("numpy")?
        .call_method1("asarray", (obj, dtype.name()))
        .or_else(|e| {
            Err(Error::InvalidInput(format!(
                "input {}: cannot convert to {dtype}: {}",
                label(),
                e.value(py)
            )))
            .py()
        })
}

pub(crate) fn hold<'py>(
    py: Python<'py>,
    obj: &Bound<'py, PyAny>,
    label: impl Fn() -> String,
) -> PyResult<Held<'py>> {
    let array = match obj.cast::<PyUntypedArray>() {
        Ok(a) => a.clone(),
        Err(_) => match py.import("numpy")?.call_method1("asarray", (obj,)) {
            Ok(a) => a.cast_into::<PyUntypedArray>()?,
            Err(e) => {
                return Err(Error::InvalidInput(format!(
                    "input {}: cannot convert {} to an array: {}",
                    label(),
                    obj.get_type().name()?,
                    e.value(py)
                )))
                .py()
            }
        },
    };
    let descr = array.dtype();
    let kind = descr.kind();
    let Some(dtype) = DType::from_array_kind(kind, descr.itemsize()) else {
        let name = descr.str()?.to_string();
        return Err(Error::InvalidInput(format!(
            "input {}: numpy dtype {name} is not supported; use a numeric, bool or str array",
            label()
        )))
        .py();
    };
    let shape: Vec<i64> = array.shape().iter().map(|&d| d as i64).collect();
    if dtype == DType::String {
        let flat = array.call_method0("ravel")?.call_method0("tolist")?;
        let data = flat
            .cast::<PyList>()?
            .iter()
            .enumerate()
            .map(|(i, item)| match item.cast::<PyBytes>() {
                Ok(b) => String::from_utf8(b.as_bytes().to_vec()).or_else(|_| {
                    Err(Error::InvalidInput(format!(
                        "input {}: element {i} is bytes that are not valid UTF-8; lepton passes \
                         strings as UTF-8 text (decode them, or pass the numbers as uint8)",
                        label()
                    )))
                    .py()
                }),
                Err(_) => item.str().map(|s| s.to_string()),
            })
            .collect::<PyResult<Vec<String>>>()?;
        return Ok(Held::Strings { shape, data });
    }
    let usable = array.is_c_contiguous()
        && array.is_aligned()
        && descr.is_native_byteorder().unwrap_or(true);
    let array = if usable {
        array
    } else {
        py.import("numpy")?
            .call_method1("ascontiguousarray", (&array, dtype.name()))?
            .cast_into::<PyUntypedArray>()?
    };
    let len = shape.iter().product::<i64>() as usize * dtype.itemsize().unwrap_or(1);
    // SAFETY: `array` is a live numpy array (held in `Held::Array` for as long as the pointer is
    // used); reading its fields is what numpy's own PyArray_DATA macro does.
    let ptr = unsafe { (*_PyArray_GET_ITEM_DATA(array.as_array_ptr())).data as *const u8 };
    Ok(Held::Array {
        _array: array,
        dtype,
        shape,
        ptr,
        len,
    })
}

impl Held<'_> {
    fn input(&self) -> lepton_core::Result<Input<'_>> {
        Ok(match self {
            Held::Sequence(items) => Input::Sequence(
                items
                    .iter()
                    .map(Held::view)
                    .collect::<lepton_core::Result<_>>()?,
            ),
            Held::Map(kv) => Input::Map {
                keys: kv.0.view()?,
                values: kv.1.view()?,
            },
            Held::Nothing => Input::None,
            other => Input::Tensor(other.view()?),
        })
    }

    pub(crate) fn view(&self) -> lepton_core::Result<TensorView<'_>> {
        match self {
            Held::Array {
                dtype,
                shape,
                ptr,
                len,
                ..
            } => {
                let bytes = if *len == 0 {
                    &[][..]
                } else {
                    // SAFETY: a C-contiguous, aligned array of `len` bytes at `ptr`, kept alive by
                    // `_array` for the lifetime of `self` (which bounds the returned view).
                    unsafe { std::slice::from_raw_parts(*ptr, *len) }
                };
                TensorView::from_bytes(*dtype, shape.clone(), bytes)
            }
            Held::Strings { shape, data } => TensorView::from_strings(shape.clone(), data),
            other => Err(Error::InvalidInput(format!(
                "a {} cannot be an element of a sequence or map",
                match other {
                    Held::Sequence(_) => "list",
                    Held::Map(_) => "dict",
                    _ => "None",
                }
            ))),
        }
    }
}

/// A new numpy array of `T` with `shape`, filled with `bytes` (one copy out of ONNX Runtime).
fn fresh_array<T: numpy::Element>(py: Python<'_>, shape: &[i64], bytes: &[u8]) -> Py<PyAny> {
    let dims: Vec<usize> = shape.iter().map(|&d| d as usize).collect();
    // SAFETY: the array is created uninitialized and every one of its bytes is written right
    // below, before Python can see it: `bytes` holds exactly shape-product × size_of::<T>() bytes
    // (ONNX Runtime's buffer for this tensor), and a new numpy array is C-contiguous.
    unsafe {
        let array = PyArray::<T, numpy::IxDyn>::new(py, dims, false);
        debug_assert_eq!(array.len() * std::mem::size_of::<T>(), bytes.len());
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), array.data().cast::<u8>(), bytes.len());
        array.into_any().unbind()
    }
}

fn output_to_numpy(
    py: Python<'_>,
    dtype: DType,
    shape: &[i64],
    data: OutputData<'_>,
) -> PyResult<Py<PyAny>> {
    let bytes = match data {
        OutputData::Raw(b) => b,
        OutputData::Strings(s) => return strings_to_numpy(py, shape, s),
    };
    Ok(match dtype {
        DType::F32 => fresh_array::<f32>(py, shape, bytes),
        DType::F64 => fresh_array::<f64>(py, shape, bytes),
        DType::I8 => fresh_array::<i8>(py, shape, bytes),
        DType::I16 => fresh_array::<i16>(py, shape, bytes),
        DType::I32 => fresh_array::<i32>(py, shape, bytes),
        DType::I64 => fresh_array::<i64>(py, shape, bytes),
        DType::U8 => fresh_array::<u8>(py, shape, bytes),
        DType::U16 => fresh_array::<u16>(py, shape, bytes),
        DType::U32 => fresh_array::<u32>(py, shape, bytes),
        DType::U64 => fresh_array::<u64>(py, shape, bytes),
        DType::Bool => fresh_array::<bool>(py, shape, bytes),
        DType::F16 => fresh_array::<u16>(py, shape, bytes)
            .bind(py)
            .call_method1("view", ("float16",))?
            .unbind(),
        other => {
            return Err(Error::Runtime(format!(
                "cannot convert output of dtype {other}"
            )))
            .py()
        }
    })
}

/// An owned output value as Python: a tensor as numpy, a sequence as a list, a map as a dict of
/// Python scalars, an absent optional as None (onnxruntime's Python API does the same).
fn value_to_py(py: Python<'_>, value: Value) -> PyResult<Py<PyAny>> {
    Ok(match value {
        Value::Tensor(t) => tensor_to_numpy(py, t)?,
        Value::Sequence(items) => PyList::new(
            py,
            items
                .into_iter()
                .map(|v| value_to_py(py, v))
                .collect::<PyResult<Vec<_>>>()?,
        )?
        .into_any()
        .unbind(),
        Value::Map(map) => {
            let keys = tensor_to_numpy(py, map.keys)?.call_method0(py, "tolist")?;
            let values = tensor_to_numpy(py, map.values)?.call_method0(py, "tolist")?;
            let dict = PyDict::new(py);
            for (k, v) in keys.bind(py).try_iter()?.zip(values.bind(py).try_iter()?) {
                dict.set_item(k?, v?)?;
            }
            dict.into_any().unbind()
        }
        Value::None => py.None(),
        _ => {
            return Err(Error::Runtime("an output of an unknown kind".into())).py();
        }
    })
}

fn tensor_to_numpy(py: Python<'_>, t: Tensor) -> PyResult<Py<PyAny>> {
    let dtype = t.dtype();
    let (shape, data) = t.into_parts();
    match data {
        TensorData::String(s) => strings_to_numpy(py, &shape, s),
        other => {
            let bytes = other.as_bytes().unwrap_or_default();
            output_to_numpy(py, dtype, &shape, OutputData::Raw(bytes))
        }
    }
}

/// A numpy object array of Python strings with `shape`.
fn strings_to_numpy(py: Python<'_>, shape: &[i64], strings: Vec<String>) -> PyResult<Py<PyAny>> {
    let dims: Vec<usize> = shape.iter().map(|&d| d as usize).collect();
    let numpy = py.import("numpy")?;
    let kwargs = PyDict::new(py);
    kwargs.set_item("dtype", "object")?;
    let flat = numpy.call_method("array", (PyList::new(py, strings)?,), Some(&kwargs))?;
    Ok(flat
        .call_method1("reshape", (PyTuple::new(py, dims)?,))?
        .unbind())
}

#[pymethods]
impl PyModel {
    /// Loads a model from bytes or a file path. `python_runtime` is where Python found
    /// onnxruntime's library (None: not installed); `progress(done, total)` follows the download
    /// of a registry model.
    #[new]
    #[pyo3(signature = (source, providers=None, strict=false, intra_op_threads=None,
        inter_op_threads=None, optimization_level=None, runtime_path=None, python_runtime=None,
        external_data=None, platform=None, version=None, progress=None, tuning=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        source: &Bound<'_, PyAny>,
        providers: Option<Vec<Bound<'_, PyAny>>>,
        strict: bool,
        intra_op_threads: Option<usize>,
        inter_op_threads: Option<usize>,
        optimization_level: Option<String>,
        runtime_path: Option<PathBuf>,
        python_runtime: Option<PathBuf>,
        external_data: Option<HashMap<String, Vec<u8>>>,
        platform: Option<Py<PyPlatform>>,
        version: Option<u64>,
        progress: Option<Py<PyAny>>,
        tuning: Option<String>,
    ) -> PyResult<PyModel> {
        // A registry load's profile sets what the caller left unset.
        let given = GivenOptions {
            providers: providers.is_some(),
            intra_op_threads: intra_op_threads.is_some(),
            inter_op_threads: inter_op_threads.is_some(),
            optimization_level: optimization_level.is_some(),
        };
        let tuning = tuning.map(|fingerprint_id| Tuning {
            fingerprint_id,
            given,
        });
        let mut options = ModelOptions::default().with_strict(strict);
        if let Some(list) = providers {
            let mut chosen = Vec::with_capacity(list.len());
            for item in &list {
                // onnxruntime's spellings: "Name" or ("Name", {option: value}).
                let (name, extra) = if let Ok(name) = item.extract::<String>() {
                    (name, None)
                } else if let Ok((name, dict)) = item.extract::<(String, Bound<'_, PyDict>)>() {
                    (name, Some(dict))
                } else {
                    return Err(Error::InvalidArgument(format!(
                        "providers items are names or (name, {{option: value}}) pairs, as \
                         onnxruntime takes them; got {}",
                        item.repr()?
                    )))
                    .py();
                };
                let provider = name.parse::<ExecutionProvider>().py()?;
                if let Some(dict) = extra {
                    let pairs = dict
                        .iter()
                        .map(|(k, v)| Ok((k.str()?.to_string(), v.str()?.to_string())))
                        .collect::<PyResult<Vec<_>>>()?;
                    options = options.with_provider_options(provider, pairs);
                }
                chosen.push(provider);
            }
            options.providers = chosen;
        }
        options.intra_op_threads = intra_op_threads;
        options.inter_op_threads = inter_op_threads;
        if let Some(level) = optimization_level {
            options.optimization_level = level.parse().py()?;
        }
        options.runtime_path = runtime_path;
        enum Source {
            Bytes(Vec<u8>),
            Path(PathBuf),
            Registry(Py<PyPlatform>, String),
        }
        let src = if let Some(platform) = platform {
            if external_data.is_some() {
                return Err(Error::InvalidArgument(
                    "external_data= is for a model given as bytes; a registry model carries its \
                     weights"
                        .into(),
                ))
                .py();
            }
            // `source` names a model in the registry: loaded by the platform, so that an object
            // set's weights reach ONNX Runtime without ever being one protobuf.
            Source::Registry(platform, source.extract::<String>()?)
        } else if version.is_some() || tuning.is_some() {
            return Err(Error::InvalidArgument(
                "version= and tuning= need platform= (a registry model name as source)".into(),
            ))
            .py();
        } else if let Ok(b) = source.cast::<PyBytes>() {
            Source::Bytes(b.as_bytes().to_vec())
        } else {
            Source::Path(source.extract::<PathBuf>()?)
        };
        let cb = Callback::new(progress);
        let func = cb.func.clone();
        let result = py.detach(move || {
            runtime::init_with(
                options.runtime_path.as_deref(),
                runtime::PythonLookup::Done(python_runtime),
            )?;
            let unprofiled = |m| (m, None);
            match (src, external_data) {
                (Source::Bytes(b), Some(files)) => {
                    Model::from_bytes_with_external_data(b, &files, &options).map(unprofiled)
                }
                (Source::Bytes(b), None) => Model::from_bytes(b, &options).map(unprofiled),
                (Source::Path(p), _) => Model::from_file(p, &options).map(unprofiled),
                (Source::Registry(platform, name), _) => platform.get().inner.load_model_tuned(
                    &name,
                    version,
                    &options,
                    tuning.as_ref(),
                    func,
                ),
            }
        });
        let (model, profile) = cb.finish(result)?;
        Ok(PyModel {
            model,
            profile: profile.map(|p| p.to_json()),
        })
    }

    /// The tuning profile (JSON) a registry load applied, or None.
    #[getter]
    fn profile_json(&self) -> Option<String> {
        self.profile.clone()
    }

    /// The inputs, in order.
    #[getter]
    fn input_infos(&self, py: Python<'_>) -> PyResult<Vec<PyTensorInfo>> {
        infos(py, self.model.inputs())
    }

    /// The outputs, in order.
    #[getter]
    fn output_infos(&self, py: Python<'_>) -> PyResult<Vec<PyTensorInfo>> {
        infos(py, self.model.outputs())
    }

    /// Active execution providers, e.g. `["cpu"]`.
    #[getter]
    fn active_providers(&self) -> Vec<String> {
        self.model
            .providers()
            .iter()
            .map(|p| p.to_string())
            .collect()
    }

    /// Why a requested provider was dropped, if one was.
    #[getter]
    fn fallback(&self) -> Option<String> {
        self.model.fallback_reason().map(str::to_string)
    }

    /// The ONNX bytes (InvalidArgumentError for a model whose weights went to ONNX Runtime
    /// outside them).
    fn onnx_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        Ok(PyBytes::new(py, self.model.self_contained_bytes().py()?))
    }

    /// Runs the model. `inputs` is a tuple/list (by position) or a dict (by name) of numpy arrays;
    /// returns a list of numpy arrays (the selected outputs, or all).
    #[pyo3(signature = (inputs, output_names=None))]
    fn run_arrays(
        &self,
        py: Python<'_>,
        inputs: &Bound<'_, PyAny>,
        output_names: Option<Vec<String>>,
    ) -> PyResult<Vec<Py<PyAny>>> {
        let infos = self.model.inputs();
        let label = |i: usize| match infos.get(i) {
            Some(info) => format!("`{}`", info.name()),
            None => format!("#{i}"),
        };
        let mut names: Vec<Option<String>> = Vec::new();
        let mut held = Vec::new();
        let initializers = self.model.overridable_initializers();
        if let Ok(dict) = inputs.cast::<PyDict>() {
            for (k, v) in dict.iter() {
                let name: String = k.extract()?;
                let info = infos.iter().chain(initializers).find(|i| i.name() == name);
                held.push(hold_input(py, &v, info, || format!("`{name}`"))?);
                names.push(Some(name));
            }
        } else if let Ok(tuple) = inputs.cast::<PyTuple>() {
            for (i, v) in tuple.iter().enumerate() {
                held.push(hold_input(py, &v, infos.get(i), || label(i))?);
                names.push(None);
            }
        } else {
            for (i, v) in inputs.try_iter()?.enumerate() {
                held.push(hold_input(py, &v?, infos.get(i), || label(i))?);
                names.push(None);
            }
        }
        let views = held
            .iter()
            .zip(&names)
            .enumerate()
            .map(|(i, (h, n))| {
                let key = match n {
                    Some(n) => InputKey::Name(n.as_str()),
                    None => InputKey::Index(i),
                };
                Ok((key, h.input()?))
            })
            .collect::<lepton_core::Result<Vec<_>>>()
            .py()?;
        let selected: Option<Vec<&str>> = output_names
            .as_ref()
            .map(|v| v.iter().map(String::as_str).collect());
        let model = &self.model;
        let outputs = py
            .detach(move || model.run_raw_inputs(views, selected.as_deref()))
            .py()?;
        (0..outputs.len())
            .map(|i| {
                if !outputs.is_tensor(i) {
                    let value = outputs.value(i).py()?;
                    return value_to_py(py, value);
                }
                let (dtype, shape, data) = outputs.get(i).py()?;
                output_to_numpy(py, dtype, &shape, data)
            })
            .collect()
    }

    /// `model(*arrays)`: numpy arrays by position go straight to the run; one output comes back
    /// bare, several as a tuple. Anything else (keywords, torch tensors, lists) is handled by the
    /// Python subclass's `_call_slow`.
    #[pyo3(signature = (*args, **kwargs))]
    fn __call__(
        slf: &Bound<'_, Self>,
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        let fast = kwargs.is_none_or(|k| k.is_empty())
            && args.iter().all(|a| a.cast::<PyUntypedArray>().is_ok());
        if !fast {
            return Ok(slf.call_method("_call_slow", args, kwargs)?.unbind());
        }
        let outputs = slf.get().run_arrays(py, args.as_any(), None)?;
        if outputs.len() == 1 {
            Ok(outputs.into_iter().next().expect("one output"))
        } else {
            Ok(PyTuple::new(py, outputs)?.into_any().unbind())
        }
    }
}

/// `(path, version, found_by)` of the loaded ONNX Runtime, or None before the first model.
#[pyfunction]
fn runtime_info() -> Option<(String, String, String)> {
    runtime::info().map(|i| {
        (
            i.path().display().to_string(),
            i.version().to_string(),
            i.found_by().to_string(),
        )
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyModel>()?;
    m.add_function(wrap_pyfunction!(runtime_info, m)?)?;
    Ok(())
}
