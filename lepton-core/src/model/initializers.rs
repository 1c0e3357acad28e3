//! External initializers: the large weights of a split model ([`ExternalTensor`]) as ONNX Runtime
//! values over buffers lepton owns, filled from side files or from the registry's weights objects
//! and handed to the session with `AddExternalInitializers` (C API 1.17, which requires buffers
//! owned by the caller), so no weight passes through protobuf.
//!
//! The buffers live as long as the [`Model`](super::Model) (ONNX Runtime uses them in place).
//! Peak memory while loading is the weights plus what is being read (one side-file range, or one
//! registry object).

use std::ffi::{c_void, CString};

use ort::sys::{ONNXTensorElementDataType as E, OrtValue};
use ort::AsPointer;

use super::convert::{self, check, CpuMemory, OrtOwned};
use super::external::ExternalTensor;
use super::tensor::DType;
use crate::{Error, Result};

/// Initializer values by name over their buffers, ready for a session builder.
#[derive(Default)]
pub struct Initializers {
    names: Vec<CString>,
    values: Vec<OrtOwned>,
    /// The weights (8-byte aligned); the values point into them.
    _buffers: Vec<Box<[u64]>>,
}

// SAFETY: after the session is created the values and buffers are only kept alive and dropped,
// never read or written through this struct, so sharing it between threads is sound.
unsafe impl Sync for Initializers {}

impl Initializers {
    /// How many initializers.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Hands the values to `builder` (`AddExternalInitializers`).
    pub(crate) fn add_to(&self, builder: &mut ort::session::builder::SessionBuilder) -> Result<()> {
        if self.values.is_empty() {
            return Ok(());
        }
        let names: Vec<*const std::ffi::c_char> = self.names.iter().map(|n| n.as_ptr()).collect();
        let values: Vec<*const OrtValue> = self.values.iter().map(|v| v.as_ptr()).collect();
        // SAFETY: the builder's options pointer is valid; `names` and `values` hold `len` valid
        // pointers each for the call; the values' buffers outlive the session (owned by `self`,
        // which the model keeps).
        check(unsafe {
            (ort::api().AddExternalInitializers)(
                builder.ptr_mut(),
                names.as_ptr(),
                values.as_ptr(),
                values.len(),
            )
        })
        .map_err(|e| Error::Runtime(format!("adding external initializers: {e}")))
    }
}

/// The ONNX Runtime element type and element size of an ONNX `TensorProto.data_type` that can
/// be an external initializer here: every fixed-size [`DType`] (through the one dtype mapping,
/// [`convert::to_ort`]; ONNX Runtime numbers its element types as ONNX does) and bfloat16
/// (weights only, never exchanged). Not strings, complex or 8/4-bit types.
pub(super) fn element(data_type: i32) -> Option<(E, u64)> {
    if data_type == E::ONNX_TENSOR_ELEMENT_DATA_TYPE_BFLOAT16 as i32 {
        return Some((E::ONNX_TENSOR_ELEMENT_DATA_TYPE_BFLOAT16, 2));
    }
    DType::ALL
        .into_iter()
        .filter_map(|d| Some((convert::to_ort(d)?, d.itemsize()? as u64)))
        .find(|&(e, _)| e as i32 == data_type)
}

/// Tensors being filled: each with its value and how many of its bytes were written.
pub struct Filling {
    tensors: Vec<(ExternalTensor, Box<[u64]>, u64)>,
}

impl Filling {
    /// Allocates one buffer per tensor. A tensor whose byte length does not match its shape and
    /// dtype is [`Error::InvalidModel`].
    pub fn allocate(tensors: Vec<ExternalTensor>) -> Result<Filling> {
        let mut out = Vec::with_capacity(tensors.len());
        for t in tensors {
            let bad = |reason: String| Error::InvalidModel {
                source_name: None,
                reason: format!("initializer `{}`: {reason}", t.name),
            };
            let (_, size) = element(t.data_type)
                .ok_or_else(|| bad(format!("data type {} cannot be external", t.data_type)))?;
            let count = t.dims.iter().try_fold(1u64, |n, &d| {
                u64::try_from(d).ok().and_then(|d| n.checked_mul(d))
            });
            if count.and_then(|c| c.checked_mul(size)) != Some(t.length) {
                return Err(bad(format!(
                    "shape {:?} does not match its {} bytes of external data",
                    t.dims, t.length
                )));
            }
            let words = usize::try_from(t.length.div_ceil(8))
                .map_err(|_| bad("too large for this machine".into()))?;
            out.push((t, vec![0u64; words].into_boxed_slice(), 0));
        }
        Ok(Filling { tensors: out })
    }

    fn bytes(buffer: &mut [u64], len: u64) -> &mut [u8] {
        // SAFETY: `buffer` holds at least `len` bytes (`allocate` sized it `len.div_ceil(8)`
        // words), any byte pattern is a valid u64, and it is borrowed mutably for the slice.
        unsafe { std::slice::from_raw_parts_mut(buffer.as_mut_ptr().cast::<u8>(), len as usize) }
    }

    /// Fills every tensor from the folder's side files, reading each tensor's range into its
    /// value directly.
    pub fn read_from_dir(&mut self, dir: &std::path::Path) -> Result<()> {
        use std::io::{Read, Seek, SeekFrom};
        for (t, value, done) in &mut self.tensors {
            let path = dir.join(&t.location);
            let mut f = std::fs::File::open(&path).map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => Error::NotFound {
                    what: format!(
                        "external data file `{}` of tensor `{}`",
                        path.display(),
                        t.name
                    ),
                    hint: Some(
                        "side files are looked up next to the model file; keep them together"
                            .into(),
                    ),
                },
                _ => Error::io(&path, e),
            })?;
            let size = f.metadata().map_err(|e| Error::io(&path, e))?.len();
            if t.offset.checked_add(t.length).is_none_or(|end| end > size) {
                return Err(Error::InvalidModel {
                    source_name: None,
                    reason: format!(
                        "tensor `{}`: external data range (offset {}, length {}) is past the end \
                         of `{}` ({size} bytes); the side file does not belong to this model or \
                         is truncated",
                        t.name, t.offset, t.length, t.location
                    ),
                });
            }
            f.seek(SeekFrom::Start(t.offset))
                .map_err(|e| Error::io(&path, e))?;
            f.read_exact(Self::bytes(value, t.length))
                .map_err(|e| Error::io(&path, e))?;
            *done = t.length;
        }
        Ok(())
    }

    /// Copies `data`, the bytes at `start..` of side file `location`, into every tensor it
    /// overlaps.
    pub fn scatter(&mut self, location: &str, start: u64, data: &[u8]) {
        let end = start + data.len() as u64;
        for (t, value, done) in &mut self.tensors {
            if t.location != location {
                continue;
            }
            let (lo, hi) = (t.offset.max(start), (t.offset + t.length).min(end));
            if lo >= hi {
                continue;
            }
            let dst =
                &mut Self::bytes(value, t.length)[(lo - t.offset) as usize..][..(hi - lo) as usize];
            dst.copy_from_slice(&data[(lo - start) as usize..(hi - start) as usize]);
            *done += hi - lo;
        }
    }

    /// The filled values; a tensor not entirely covered is [`Error::Integrity`] for `what`. The
    /// ONNX Runtime library must be loaded.
    pub fn finish(self, what: &str) -> Result<Initializers> {
        let memory = CpuMemory::new()?;
        let mut out = Initializers::default();
        for (t, mut buffer, done) in self.tensors {
            if done != t.length {
                return Err(Error::Integrity {
                    what: what.into(),
                    reason: format!(
                        "weights of `{}` cover {done} of its {} bytes (bytes {}..{} of `{}`)",
                        t.name,
                        t.length,
                        t.offset,
                        t.offset + t.length,
                        t.location
                    ),
                });
            }
            let (ty, _) = element(t.data_type).expect("checked in allocate");
            let name = CString::new(t.name.as_str()).map_err(|_| Error::InvalidModel {
                source_name: None,
                reason: format!("initializer name {:?} contains a NUL byte", t.name),
            })?;
            let mut value = std::ptr::null_mut();
            // SAFETY: `buffer` holds `t.length` bytes, which match `dims` × the element size
            // (checked in `allocate`); it is moved into `out` next to the value and outlives it.
            check(unsafe {
                (ort::api().CreateTensorWithDataAsOrtValue)(
                    memory.as_ptr(),
                    buffer.as_mut_ptr().cast::<c_void>(),
                    t.length as usize,
                    t.dims.as_ptr(),
                    t.dims.len(),
                    ty,
                    &mut value,
                )
            })
            .map_err(|e| Error::Runtime(format!("wrapping initializer `{}`: {e}", t.name)))?;
            let value = OrtOwned::from_raw(value)
                .ok_or_else(|| Error::Runtime(format!("null value for `{}`", t.name)))?;
            out.names.push(name);
            out.values.push(value);
            out._buffers.push(buffer);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn element_types_are_onnx_numbers_with_their_sizes() {
        // TensorProto.DataType (onnx.proto3): FLOAT=1 UINT8=2 INT8=3 UINT16=4 INT16=5 INT32=6
        // INT64=7 STRING=8 BOOL=9 FLOAT16=10 DOUBLE=11 UINT32=12 UINT64=13 BFLOAT16=16.
        let sizes: Vec<(i32, u64)> = (0..32)
            .filter_map(|t| element(t).map(|(_, size)| (t, size)))
            .collect();
        let onnx = [
            (1, 4),
            (2, 1),
            (3, 1),
            (4, 2),
            (5, 2),
            (6, 4),
            (7, 8),
            (9, 1),
            (10, 2),
            (11, 8),
            (12, 4),
            (13, 8),
            (16, 2),
        ];
        assert_eq!(sizes, onnx);
    }
}
