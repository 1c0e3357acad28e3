//! `TensorInfo`: a model input's or output's description (`lepton_core::model::TensorInfo`) as a
//! frozen class with typed fields, that still unpacks, indexes and compares like the
//! `(name, dtype, shape, onnx_type)` tuple it was before.

use lepton_core::model::{DType, Dim, IoKind, TensorInfo};
use pyo3::basic::CompareOp;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyIterator, PyString, PyTuple};

/// A model input or output.
///
/// ``dtype`` is a numpy dtype name (``"float32"``, ``"int64"``, ``"bool"``, ``"string"``...) or
/// None for anything that is not a tensor: a sequence (pass a list of arrays; it comes back as a
/// list), a map (a dict), or a type lepton cannot exchange; ``onnx_type`` says which
/// (``Sequence<Tensor<f32>(dyn)>``, ``Map<String, f32>``...). ``shape`` items are ints (fixed),
/// strs (named free dimensions such as ``"batch"``) or None (unnamed free). It unpacks and
/// indexes as the tuple ``(name, dtype, shape, onnx_type)`` and equals that tuple; ``_fields``
/// and ``_asdict()`` are a NamedTuple's. ``numpy_dtype`` is the numpy dtype of its arrays
/// (object for strings: ``np.dtype("string")`` does not exist).
#[pyclass(name = "TensorInfo", module = "lepton_ai._lepton", frozen, get_all)]
pub struct PyTensorInfo {
    name: String,
    dtype: Option<String>,
    shape: Py<PyTuple>,
    onnx_type: String,
}

impl PyTensorInfo {
    /// Converts a core description; `dtype` is None for anything but a tensor.
    pub fn new(py: Python<'_>, info: &TensorInfo) -> PyResult<PyTensorInfo> {
        let dims = info
            .shape()
            .iter()
            .map(|d| match d {
                Dim::Fixed(n) => Ok(n.into_pyobject(py)?.into_any()),
                Dim::Symbolic(s) => Ok(PyString::new(py, s).into_any()),
                Dim::Unknown => Ok(py.None().into_bound(py)),
            })
            .collect::<PyResult<Vec<_>>>()?;
        Ok(PyTensorInfo {
            name: info.name().to_string(),
            dtype: (info.kind() == IoKind::Tensor)
                .then(|| info.dtype())
                .flatten()
                .map(|d| d.name().to_string()),
            shape: PyTuple::new(py, dims)?.unbind(),
            onnx_type: info.onnx_type().to_string(),
        })
    }

    fn as_tuple<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        (
            &self.name,
            &self.dtype,
            self.shape.bind(py),
            &self.onnx_type,
        )
            .into_pyobject(py)
    }
}

#[pymethods]
impl PyTensorInfo {
    #[new]
    fn py_new(
        py: Python<'_>,
        name: String,
        dtype: Option<String>,
        shape: Vec<Bound<'_, PyAny>>,
        onnx_type: String,
    ) -> PyResult<PyTensorInfo> {
        Ok(PyTensorInfo {
            name,
            dtype,
            shape: PyTuple::new(py, shape)?.unbind(),
            onnx_type,
        })
    }

    /// The field names, in tuple order (as a NamedTuple has them).
    #[classattr]
    fn _fields() -> (&'static str, &'static str, &'static str, &'static str) {
        ("name", "dtype", "shape", "onnx_type")
    }

    /// The fields as a dict, in tuple order (as a NamedTuple's ``_asdict()``).
    fn _asdict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("name", &self.name)?;
        d.set_item("dtype", &self.dtype)?;
        d.set_item("shape", self.shape.bind(py))?;
        d.set_item("onnx_type", &self.onnx_type)?;
        Ok(d)
    }

    /// The numpy dtype of this tensor's arrays: ``np.dtype(dtype)`` for numbers and bools,
    /// ``np.dtype(object)`` for strings (what onnxruntime returns for ``tensor(string)``), None
    /// when this is not a tensor.
    #[getter]
    fn numpy_dtype<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let Some(dtype) = self.dtype.as_deref() else {
            return Ok(None);
        };
        let spec = if dtype == DType::String.name() {
            "O"
        } else {
            dtype
        };
        let numpy = py.import("numpy")?;
        Ok(Some(numpy.call_method1("dtype", (spec,))?))
    }

    #[classattr]
    fn __match_args__() -> (&'static str, &'static str, &'static str, &'static str) {
        ("name", "dtype", "shape", "onnx_type")
    }

    fn __len__(&self) -> usize {
        4
    }

    // One field (or a tuple of them for a slice) by tuple position; IndexError outside
    // range(-4, 4), as for the tuple. (CPython gives slots a fixed docstring.)
    fn __getitem__<'py>(
        &self,
        py: Python<'py>,
        index: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.as_tuple(py)?.as_any().get_item(index)
    }

    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyIterator>> {
        self.as_tuple(py)?.try_iter()
    }

    fn __richcmp__<'py>(
        &self,
        py: Python<'py>,
        other: &Bound<'py, PyAny>,
        op: CompareOp,
    ) -> PyResult<Bound<'py, PyAny>> {
        let other = match other.cast::<PyTensorInfo>() {
            Ok(o) => o.get().as_tuple(py)?.into_any(),
            Err(_) => other.clone(),
        };
        self.as_tuple(py)?.as_any().rich_compare(other, op)
    }

    fn __hash__(&self, py: Python<'_>) -> PyResult<isize> {
        self.as_tuple(py)?.hash()
    }

    fn __reduce__<'py>(
        slf: &Bound<'py, Self>,
    ) -> PyResult<(Bound<'py, pyo3::types::PyType>, Bound<'py, PyTuple>)> {
        Ok((slf.get_type(), slf.get().as_tuple(slf.py())?))
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "TensorInfo(name={}, dtype={}, shape={}, onnx_type={})",
            PyString::new(py, &self.name).repr()?,
            (&self.dtype).into_pyobject(py)?.repr()?,
            self.shape.bind(py).repr()?,
            PyString::new(py, &self.onnx_type).repr()?,
        ))
    }

    /// ``name: dtype[dims]`` (``?`` for a free dimension without a name).
    fn __str__(&self, py: Python<'_>) -> PyResult<String> {
        let dims = self
            .shape
            .bind(py)
            .iter()
            .map(|d| {
                if d.is_none() {
                    Ok("?".to_string())
                } else {
                    Ok(d.str()?.to_string())
                }
            })
            .collect::<PyResult<Vec<_>>>()?;
        let ty = self.dtype.as_deref().unwrap_or(&self.onnx_type);
        Ok(format!("{}: {ty}[{}]", self.name, dims.join(", ")))
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyTensorInfo>()
}
