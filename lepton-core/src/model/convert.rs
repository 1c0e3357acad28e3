//! Moving tensors across ONNX Runtime's C API: [`TensorView`] → `OrtValue` (no copy for numbers),
//! and output `OrtValue` → owned [`Tensor`] (one copy, then the `OrtValue` is released).
//!
//! `ort`'s safe value types tie outputs to `&mut Session`; lepton runs sessions from many threads
//! (see `session.rs`), so it talks to the C API directly here, in one place.

use std::ffi::{c_char, c_void};
use std::ptr::{self, NonNull};

use ort::sys::{ONNXTensorElementDataType as E, ONNXType, OrtMemoryInfo, OrtStatusPtr, OrtValue};

use super::tensor::{
    element_count, no_bytes_tensor, DType, Tensor, TensorData, TensorView, ViewData, F16,
};
use super::value::{Input, Map, Value};
use crate::{Error, Result};

/// Turns an ONNX Runtime status into a `Result`, taking ownership of the status.
pub(crate) fn check(status: OrtStatusPtr) -> std::result::Result<(), String> {
    // SAFETY: `status` was just returned by an ONNX Runtime API call; `result_from_status` takes
    // ownership and releases it.
    unsafe { ort::Error::result_from_status(status) }.map_err(|e| e.message().to_string())
}

fn runtime_err(what: &str) -> impl FnOnce(String) -> Error + '_ {
    move |msg| Error::Runtime(format!("{what}: {msg}"))
}

/// ONNX Runtime's element type for a dtype; `None` for `bytes` (ONNX has no bytes tensor).
pub(crate) fn to_ort(d: DType) -> Option<E> {
    Some(match d {
        DType::F32 => E::ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT,
        DType::F16 => E::ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16,
        DType::F64 => E::ONNX_TENSOR_ELEMENT_DATA_TYPE_DOUBLE,
        DType::I8 => E::ONNX_TENSOR_ELEMENT_DATA_TYPE_INT8,
        DType::I16 => E::ONNX_TENSOR_ELEMENT_DATA_TYPE_INT16,
        DType::I32 => E::ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32,
        DType::I64 => E::ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64,
        DType::U8 => E::ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT8,
        DType::U16 => E::ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT16,
        DType::U32 => E::ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT32,
        DType::U64 => E::ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT64,
        DType::Bool => E::ONNX_TENSOR_ELEMENT_DATA_TYPE_BOOL,
        DType::String => E::ONNX_TENSOR_ELEMENT_DATA_TYPE_STRING,
        DType::Bytes => return None,
    })
}

/// The dtype of an ONNX Runtime element type, if lepton can exchange it.
pub(crate) fn from_ort(e: E) -> Option<DType> {
    DType::ALL.into_iter().find(|&d| to_ort(d) == Some(e))
}

/// The dtype of an `ort` element type (session metadata), if lepton can exchange it.
pub(crate) fn from_ort_element(t: ort::value::TensorElementType) -> Option<DType> {
    from_ort(t.into())
}

/// CPU memory info, created once per model and shared by its runs.
pub(crate) struct CpuMemory(NonNull<OrtMemoryInfo>);

// SAFETY: an OrtMemoryInfo is an immutable description (device, allocator kind); ONNX Runtime only
// reads it, so sharing the pointer between threads is sound.
unsafe impl Send for CpuMemory {}
// SAFETY: see `Send`.
unsafe impl Sync for CpuMemory {}

impl CpuMemory {
    pub(crate) fn as_ptr(&self) -> *const OrtMemoryInfo {
        self.0.as_ptr()
    }

    pub(crate) fn new() -> Result<CpuMemory> {
        let mut p = ptr::null_mut();
        // SAFETY: valid enum arguments and an out-pointer; the runtime is loaded (callers hold a
        // session).
        check(unsafe {
            (ort::api().CreateCpuMemoryInfo)(
                ort::sys::OrtAllocatorType::OrtArenaAllocator,
                ort::sys::OrtMemType::OrtMemTypeDefault,
                &mut p,
            )
        })
        .map_err(runtime_err("creating CPU memory info"))?;
        NonNull::new(p)
            .map(CpuMemory)
            .ok_or_else(|| Error::Runtime("CreateCpuMemoryInfo returned null".into()))
    }
}

impl Drop for CpuMemory {
    fn drop(&mut self) {
        // SAFETY: created by CreateCpuMemoryInfo and released once.
        unsafe { (ort::api().ReleaseMemoryInfo)(self.0.as_ptr()) }
    }
}

/// An `OrtValue` this code owns; released on drop.
pub(crate) struct OrtOwned(NonNull<OrtValue>);

impl OrtOwned {
    /// Takes ownership of a value returned by ONNX Runtime (`None` if null).
    pub(crate) fn from_raw(p: *mut OrtValue) -> Option<OrtOwned> {
        NonNull::new(p).map(OrtOwned)
    }

    pub(crate) fn as_ptr(&self) -> *const OrtValue {
        self.0.as_ptr()
    }
}

// SAFETY: an OrtValue is a heap object with no thread affinity; moving its ownership to another
// thread (e.g. out of a GIL-released section) is sound. It is not shared (`!Sync`).
unsafe impl Send for OrtOwned {}

impl Drop for OrtOwned {
    fn drop(&mut self) {
        // SAFETY: the value was created by ONNX Runtime, is owned by this wrapper, released once.
        unsafe { (ort::api().ReleaseValue)(self.0.as_ptr()) }
    }
}

/// An `OrtValue` for a view. Numbers borrow the view's memory (the returned value must not outlive
/// it, which the `'a` on callers' views ensures); strings are copied into ONNX Runtime.
pub(crate) fn to_value(mem: &CpuMemory, view: &TensorView<'_>) -> Result<OrtOwned> {
    let mut out = ptr::null_mut();
    match view.data {
        ViewData::Raw(bytes) => {
            // SAFETY: `bytes` is valid for `bytes.len()` bytes (checked against shape × dtype size
            // when the view was built) and outlives the value (see above). ONNX Runtime never
            // writes to input tensors, so handing it a `*mut` to shared memory is sound.
            check(unsafe {
                (ort::api().CreateTensorWithDataAsOrtValue)(
                    mem.0.as_ptr(),
                    bytes.as_ptr() as *mut c_void,
                    bytes.len(),
                    view.shape.as_ptr(),
                    view.shape.len(),
                    to_ort(view.dtype).ok_or_else(no_bytes_tensor)?,
                    &mut out,
                )
            })
            .map_err(|e| Error::InvalidInput(format!("could not wrap input tensor: {e}")))?;
            OrtOwned::from_raw(out).ok_or_else(|| Error::Runtime("null input value".into()))
        }
        ViewData::Strings(strings) => {
            let alloc = default_allocator()?;
            // SAFETY: valid allocator, shape pointer/length, and out-pointer.
            check(unsafe {
                (ort::api().CreateTensorAsOrtValue)(
                    alloc,
                    view.shape.as_ptr(),
                    view.shape.len(),
                    E::ONNX_TENSOR_ELEMENT_DATA_TYPE_STRING,
                    &mut out,
                )
            })
            .map_err(runtime_err("creating a string tensor"))?;
            let value = OrtOwned::from_raw(out)
                .ok_or_else(|| Error::Runtime("null string value".into()))?;
            // Each element is written with its length, so strings holding NUL bytes pass intact
            // (as onnxruntime's Python API passes them; `FillStringTensor` would cut them).
            for (i, s) in strings.iter().enumerate() {
                let mut buf: *mut c_char = ptr::null_mut();
                // SAFETY: `value` is a string tensor with `strings.len()` elements (its shape was
                // checked against the strings when the view was built), `i` is below that, and
                // the returned buffer has room for exactly `s.len()` bytes.
                check(unsafe {
                    (ort::api().GetResizedStringTensorElementBuffer)(
                        value.0.as_ptr(),
                        i,
                        s.len(),
                        &mut buf,
                    )
                })
                .map_err(runtime_err("filling a string tensor"))?;
                if !s.is_empty() {
                    // SAFETY: `buf` points at `s.len()` writable bytes owned by the tensor.
                    unsafe { ptr::copy_nonoverlapping(s.as_ptr(), buf.cast::<u8>(), s.len()) };
                }
            }
            Ok(value)
        }
    }
}

/// The elements of an output, borrowed from ONNX Runtime where possible.
#[derive(Debug)]
pub enum OutputData<'a> {
    /// Numbers/bools as raw native-endian bytes (bools are 0/1 bytes), valid while the run's
    /// [`RawOutputs`](super::RawOutputs) lives.
    Raw(&'a [u8]),
    /// Strings (copied out of ONNX Runtime).
    Strings(Vec<String>),
}

/// Reads an output value's dtype, shape and elements (numbers are borrowed, not copied).
pub(crate) fn describe<'v>(
    value: &'v OrtOwned,
    name: &str,
) -> Result<(DType, Vec<i64>, OutputData<'v>)> {
    let api = ort::api();
    let mut kind = ONNXType::ONNX_TYPE_UNKNOWN;
    // SAFETY: valid value and out-pointer.
    check(unsafe { (api.GetValueType)(value.as_ptr(), &mut kind) })
        .map_err(runtime_err("reading an output's type"))?;
    if kind != ONNXType::ONNX_TYPE_TENSOR {
        return Err(Error::Runtime(format!(
            "output `{name}` is a {kind:?}, not a tensor; read it with Model::run_values"
        )));
    }
    let mut info = ptr::null_mut();
    // SAFETY: valid tensor value and out-pointer; the info is released below.
    check(unsafe { (api.GetTensorTypeAndShape)(value.as_ptr(), &mut info) })
        .map_err(runtime_err("reading an output's shape"))?;
    let read = || -> std::result::Result<(E, Vec<i64>), String> {
        let mut elem = E::ONNX_TENSOR_ELEMENT_DATA_TYPE_UNDEFINED;
        let mut rank = 0usize;
        // SAFETY: `info` is a valid OrtTensorTypeAndShapeInfo until released below; the dims buffer
        // has exactly `rank` slots.
        unsafe {
            check((api.GetTensorElementType)(info, &mut elem))?;
            check((api.GetDimensionsCount)(info, &mut rank))?;
            let mut dims = vec![0i64; rank];
            check((api.GetDimensions)(info, dims.as_mut_ptr(), rank))?;
            Ok((elem, dims))
        }
    };
    let result = read();
    // SAFETY: created by GetTensorTypeAndShape above, released once.
    unsafe { (api.ReleaseTensorTypeAndShapeInfo)(info) };
    let (elem, shape) = result.map_err(runtime_err("reading an output's shape"))?;
    let dtype = from_ort(elem).ok_or_else(|| {
        Error::Runtime(format!(
            "output `{name}` has element type {elem:?}, which lepton cannot return"
        ))
    })?;
    let n = element_count(&shape)?;
    if dtype == DType::String {
        return Ok((dtype, shape, OutputData::Strings(read_strings(value, n)?)));
    }
    let size = dtype.itemsize().unwrap_or(1);
    if n == 0 {
        return Ok((dtype, shape, OutputData::Raw(&[])));
    }
    let mut data: *mut c_void = ptr::null_mut();
    // SAFETY: valid tensor value and out-pointer.
    check(unsafe { (api.GetTensorMutableData)(value.as_ptr() as *mut OrtValue, &mut data) })
        .map_err(runtime_err("reading an output's data"))?;
    if data.is_null() {
        return Err(Error::Runtime(format!("output `{name}` has no data")));
    }
    // SAFETY: ONNX Runtime's CPU buffer for this tensor holds `n` elements of `size` bytes and
    // lives as long as `value`, which the returned lifetime is tied to.
    let bytes = unsafe { std::slice::from_raw_parts(data as *const u8, n * size) };
    Ok((dtype, shape, OutputData::Raw(bytes)))
}

/// Copies an output value into an owned tensor.
pub(crate) fn to_tensor(value: &OrtOwned, name: &str) -> Result<Tensor> {
    let (dtype, shape, data) = describe(value, name)?;
    let bytes = match data {
        OutputData::Strings(s) => return Tensor::new(shape, TensorData::String(s)),
        OutputData::Raw(b) => b,
    };
    macro_rules! copy {
        ($t:ty) => {{
            let n = bytes.len() / std::mem::size_of::<$t>();
            let mut v: Vec<$t> = Vec::with_capacity(n);
            // SAFETY: `v` has capacity for `n` elements = `bytes.len()` bytes; the source is
            // plain old data of this dtype, and every byte is written before `set_len`.
            unsafe {
                ptr::copy_nonoverlapping(bytes.as_ptr(), v.as_mut_ptr().cast::<u8>(), bytes.len());
                v.set_len(n);
            }
            v
        }};
    }
    let data = match dtype {
        DType::F32 => TensorData::F32(copy!(f32)),
        DType::F16 => TensorData::F16(copy!(F16)),
        DType::F64 => TensorData::F64(copy!(f64)),
        DType::I8 => TensorData::I8(copy!(i8)),
        DType::I16 => TensorData::I16(copy!(i16)),
        DType::I32 => TensorData::I32(copy!(i32)),
        DType::I64 => TensorData::I64(copy!(i64)),
        DType::U8 => TensorData::U8(copy!(u8)),
        DType::U16 => TensorData::U16(copy!(u16)),
        DType::U32 => TensorData::U32(copy!(u32)),
        DType::U64 => TensorData::U64(copy!(u64)),
        // Read as bytes: a Rust `bool` must be exactly 0 or 1.
        DType::Bool => TensorData::Bool(bytes.iter().map(|&b| b != 0).collect()),
        DType::String | DType::Bytes => unreachable!("strings returned above; ONNX has no bytes"),
    };
    Tensor::new(shape, data)
}

fn read_strings(value: &OrtOwned, n: usize) -> Result<Vec<String>> {
    let api = ort::api();
    let mut total = 0usize;
    // SAFETY: valid string tensor and out-pointer.
    check(unsafe { (api.GetStringTensorDataLength)(value.as_ptr(), &mut total) })
        .map_err(runtime_err("reading a string output"))?;
    let mut buf = vec![0u8; total];
    let mut offsets = vec![0usize; n];
    if n > 0 {
        // SAFETY: `buf` has the `total` bytes and `offsets` the `n` slots ONNX Runtime reported.
        check(unsafe {
            (api.GetStringTensorContent)(
                value.as_ptr(),
                buf.as_mut_ptr().cast(),
                total,
                offsets.as_mut_ptr(),
                n,
            )
        })
        .map_err(runtime_err("reading a string output"))?;
    }
    Ok((0..n)
        .map(|i| {
            let end = offsets.get(i + 1).copied().unwrap_or(total);
            String::from_utf8_lossy(&buf[offsets[i]..end]).into_owned()
        })
        .collect())
}

/// The default CPU allocator (process-global, never freed).
fn default_allocator() -> Result<*mut ort::sys::OrtAllocator> {
    let mut alloc = ptr::null_mut();
    // SAFETY: out-pointer; the default allocator is process-global and never freed.
    check(unsafe { (ort::api().GetAllocatorWithDefaultOptions)(&mut alloc) })
        .map_err(runtime_err("getting the default allocator"))?;
    Ok(alloc)
}

/// An `OrtValue` for any input kind; `None` for [`Input::None`] (the input is then not passed,
/// which ONNX Runtime reads as an absent optional). Sequence and map elements are copied into
/// ONNX Runtime's own containers (its `CreateValue` copies them).
pub(crate) fn to_input_value(
    mem: &CpuMemory,
    input: &Input<'_>,
    name: &str,
) -> Result<Option<OrtOwned>> {
    let combine = |parts: Vec<OrtOwned>, kind: ONNXType| -> Result<OrtOwned> {
        let ptrs: Vec<*const OrtValue> = parts.iter().map(|p| p.as_ptr()).collect();
        let mut out = ptr::null_mut();
        // SAFETY: `ptrs` holds `ptrs.len()` live values (kept alive by `parts` for the call);
        // ONNX Runtime copies them into the new container.
        check(unsafe { (ort::api().CreateValue)(ptrs.as_ptr(), ptrs.len(), kind, &mut out) })
            .map_err(|e| Error::InvalidInput(format!("input `{name}`: {e}")))?;
        OrtOwned::from_raw(out).ok_or_else(|| Error::Runtime("null container value".into()))
    };
    Ok(match input {
        Input::Tensor(view) => Some(to_value(mem, view)?),
        Input::Sequence(items) => {
            if items.is_empty() {
                return Err(Error::InvalidInput(format!(
                    "input `{name}`: an empty sequence cannot be passed (ONNX Runtime's C API \
                     builds sequences from at least one tensor)"
                )));
            }
            let parts = items
                .iter()
                .map(|v| to_value(mem, v))
                .collect::<Result<Vec<_>>>()?;
            Some(combine(parts, ONNXType::ONNX_TYPE_SEQUENCE)?)
        }
        Input::Map { keys, values } => {
            let parts = vec![to_value(mem, keys)?, to_value(mem, values)?];
            Some(combine(parts, ONNXType::ONNX_TYPE_MAP)?)
        }
        Input::None => None,
    })
}

/// Copies an output value of any kind (tensor, sequence, map, absent optional) into an owned
/// [`Value`].
pub(crate) fn to_output_value(value: &OrtOwned, name: &str) -> Result<Value> {
    let api = ort::api();
    let mut has = 0;
    // SAFETY: valid value and out-pointer.
    check(unsafe { (api.HasValue)(value.as_ptr(), &mut has) })
        .map_err(runtime_err("reading an output"))?;
    if has == 0 {
        return Ok(Value::None);
    }
    let mut kind = ONNXType::ONNX_TYPE_UNKNOWN;
    // SAFETY: valid value and out-pointer.
    check(unsafe { (api.GetValueType)(value.as_ptr(), &mut kind) })
        .map_err(runtime_err("reading an output's type"))?;
    let element = |i: usize| -> Result<OrtOwned> {
        let alloc = default_allocator()?;
        let mut out = ptr::null_mut();
        // SAFETY: valid container value, an index below its count, a live allocator and an
        // out-pointer; the returned value is owned by the caller (released by `OrtOwned`).
        check(unsafe { (api.GetValue)(value.as_ptr(), i as std::ffi::c_int, alloc, &mut out) })
            .map_err(runtime_err("reading an output's element"))?;
        OrtOwned::from_raw(out).ok_or_else(|| Error::Runtime("null element value".into()))
    };
    match kind {
        ONNXType::ONNX_TYPE_TENSOR => Ok(Value::Tensor(to_tensor(value, name)?)),
        ONNXType::ONNX_TYPE_SEQUENCE => {
            let mut count = 0usize;
            // SAFETY: valid sequence value and out-pointer.
            check(unsafe { (api.GetValueCount)(value.as_ptr(), &mut count) })
                .map_err(runtime_err("reading a sequence's length"))?;
            (0..count)
                .map(|i| to_output_value(&element(i)?, name))
                .collect::<Result<Vec<_>>>()
                .map(Value::Sequence)
        }
        ONNXType::ONNX_TYPE_MAP => Ok(Value::Map(Map {
            keys: to_tensor(&element(0)?, name)?,
            values: to_tensor(&element(1)?, name)?,
        })),
        other => Err(Error::Runtime(format!(
            "output `{name}` is a {other:?}, which lepton cannot return"
        ))),
    }
}

/// Whether an output value is a tensor with a value (what [`describe`] reads without a copy).
pub(crate) fn is_plain_tensor(value: &OrtOwned) -> bool {
    let api = ort::api();
    let (mut has, mut kind) = (0, ONNXType::ONNX_TYPE_UNKNOWN);
    // SAFETY: valid value and out-pointers.
    unsafe {
        check((api.HasValue)(value.as_ptr(), &mut has)).is_ok()
            && has != 0
            && check((api.GetValueType)(value.as_ptr(), &mut kind)).is_ok()
            && kind == ONNXType::ONNX_TYPE_TENSOR
    }
}
