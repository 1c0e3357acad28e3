//! Execution providers other than CPU, by ONNX Runtime's own names: which ones the loaded
//! runtime has (`GetAvailableProviders`), and registering one with its options (the keys and
//! values onnxruntime's Python API takes as `(name, {options})`), through the C API of ONNX
//! Runtime 1.17:
//!
//! - CUDA and TensorRT: `Create*ProviderOptions` + `Update*ProviderOptions` (every key
//!   onnxruntime documents) + `SessionOptionsAppendExecutionProvider_*_V2`;
//! - the others: `SessionOptionsAppendExecutionProvider(short name, keys, values)`, which ONNX
//!   Runtime answers with an error for a provider it cannot register by name; that error is the
//!   reason reported (strict) or logged (fallback).

use std::ffi::{c_char, c_int, CString};
use std::ptr;

use ort::session::builder::SessionBuilder;
use ort::AsPointer;

use super::convert::check;

/// ONNX Runtime's providers: (name as onnxruntime spells it, short name for the generic
/// `SessionOptionsAppendExecutionProvider`, lepton's lower-case alias).
pub(crate) const KNOWN: &[(&str, &str, &str)] = &[
    ("TensorrtExecutionProvider", "TensorRT", "tensorrt"),
    (
        "NvTensorRTRTXExecutionProvider",
        "NvTensorRtRtx",
        "nvtensorrtrtx",
    ),
    ("ROCMExecutionProvider", "ROCM", "rocm"),
    ("MIGraphXExecutionProvider", "MIGraphX", "migraphx"),
    ("OpenVINOExecutionProvider", "OpenVINO", "openvino"),
    ("CoreMLExecutionProvider", "CoreML", "coreml"),
    ("DmlExecutionProvider", "DML", "directml"),
    ("QNNExecutionProvider", "QNN", "qnn"),
    ("XnnpackExecutionProvider", "XNNPACK", "xnnpack"),
    ("DnnlExecutionProvider", "DNNL", "dnnl"),
    ("ACLExecutionProvider", "ACL", "acl"),
    ("ArmNNExecutionProvider", "ArmNN", "armnn"),
    ("CANNExecutionProvider", "CANN", "cann"),
    ("NnapiExecutionProvider", "NNAPI", "nnapi"),
    ("SNPEExecutionProvider", "SNPE", "snpe"),
    ("VitisAIExecutionProvider", "VitisAI", "vitisai"),
    ("AzureExecutionProvider", "AZURE", "azure"),
    ("WebGpuExecutionProvider", "WebGPU", "webgpu"),
];

/// The providers the loaded ONNX Runtime was built with (e.g. `["CPUExecutionProvider"]`).
pub fn available() -> Result<Vec<String>, String> {
    let api = ort::api();
    let mut list: *mut *mut c_char = ptr::null_mut();
    let mut n: c_int = 0;
    // SAFETY: out-pointers; the list is released below with its length.
    check(unsafe { (api.GetAvailableProviders)(&mut list, &mut n) })?;
    if list.is_null() {
        return Ok(Vec::new());
    }
    let names = (0..n as usize)
        .map(|i| {
            // SAFETY: `list` holds `n` NUL-terminated strings until released.
            unsafe { std::ffi::CStr::from_ptr(*list.add(i)) }
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    // SAFETY: the list and length GetAvailableProviders returned, released once.
    let _ = check(unsafe { (api.ReleaseAvailableProviders)(list, n) });
    Ok(names)
}

/// Registers provider `name` (onnxruntime's spelling) with `options` on `builder`, which is
/// left as it was if that fails; the error says why.
pub(crate) fn register(
    builder: &mut SessionBuilder,
    name: &str,
    options: &[(String, String)],
) -> Result<(), String> {
    let have = available()?;
    if !have.iter().any(|h| h == name) {
        let lib = super::runtime::info()
            .map(|i| i.path().display().to_string())
            .unwrap_or_default();
        return Err(format!(
            "the ONNX Runtime loaded (`{lib}`) has no {name}; it has {}",
            have.join(", ")
        ));
    }
    let cstr = |s: &str| CString::new(s).map_err(|_| format!("`{s}` contains a NUL byte"));
    let keys = options
        .iter()
        .map(|(k, _)| cstr(k))
        .collect::<Result<Vec<_>, _>>()?;
    let values = options
        .iter()
        .map(|(_, v)| cstr(v))
        .collect::<Result<Vec<_>, _>>()?;
    let key_ptrs: Vec<*const c_char> = keys.iter().map(|k| k.as_ptr()).collect();
    let value_ptrs: Vec<*const c_char> = values.iter().map(|v| v.as_ptr()).collect();
    let candidate = builder.clone();
    let so = candidate.ptr().cast_mut();
    let api = ort::api();
    macro_rules! v2 {
        ($create:ident, $update:ident, $append:ident, $release:ident) => {{
            let mut opts = ptr::null_mut();
            // SAFETY: out-pointer; the options are released below.
            check(unsafe { (api.$create)(&mut opts) })?;
            // SAFETY: live options; `key_ptrs`/`value_ptrs` hold `len` NUL-terminated strings
            // (owned by `keys`/`values`) for the call; `so` is the candidate's session options.
            let result = check(unsafe {
                (api.$update)(opts, key_ptrs.as_ptr(), value_ptrs.as_ptr(), key_ptrs.len())
            })
            .and_then(|()| check(unsafe { (api.$append)(so, opts) }));
            // SAFETY: created above, released once (the session options keep their own copy).
            unsafe { (api.$release)(opts) };
            result
        }};
    }
    match name {
        "CUDAExecutionProvider" => v2!(
            CreateCUDAProviderOptions,
            UpdateCUDAProviderOptions,
            SessionOptionsAppendExecutionProvider_CUDA_V2,
            ReleaseCUDAProviderOptions
        ),
        "TensorrtExecutionProvider" => v2!(
            CreateTensorRTProviderOptions,
            UpdateTensorRTProviderOptions,
            SessionOptionsAppendExecutionProvider_TensorRT_V2,
            ReleaseTensorRTProviderOptions
        ),
        _ => {
            let short = KNOWN
                .iter()
                .find(|(n, _, _)| *n == name)
                .map_or(name, |(_, s, _)| *s);
            let short = cstr(short)?;
            // SAFETY: as above; ONNX Runtime copies the name, keys and values.
            check(unsafe {
                (api.SessionOptionsAppendExecutionProvider)(
                    so,
                    short.as_ptr(),
                    key_ptrs.as_ptr(),
                    value_ptrs.as_ptr(),
                    key_ptrs.len(),
                )
            })
        }
    }?;
    *builder = candidate;
    Ok(())
}
