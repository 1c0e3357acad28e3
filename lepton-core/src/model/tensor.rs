//! Tensors exchanged with a model: an owned, dtype-tagged [`Tensor`] (outputs, or inputs a caller
//! builds) and a borrowed [`TensorView`] (inputs passed without a copy, e.g. a numpy array's memory).

use crate::dtype::sealed;
pub use crate::dtype::{DType, Element};
use crate::{Error, Result};

/// A half-precision float kept as its raw bits (no `half` dependency); numpy's `float16`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(transparent)]
pub struct F16(pub u16);

/// Declares [`TensorData`] (a variant per element type, and `String`) and the [`Element`]
/// impls from one list of `rust type => DType variant`.
macro_rules! elements {
    ($($t:ty => $v:ident),* $(,)?) => {
        /// The elements of a [`Tensor`], one variant per [`DType`] but `Bytes` (ONNX has no
        /// bytes tensor), named as the `DType` variant.
        #[derive(Debug, Clone, PartialEq)]
        #[non_exhaustive]
        pub enum TensorData {
            $(
                #[doc = concat!("`", stringify!($t), "` elements: dtype [`DType::", stringify!($v), "`]")]
                $v(Vec<$t>),
            )*
            /// UTF-8 strings: dtype [`DType::String`]
            String(Vec<String>),
        }

        $(
            impl sealed::Sealed for $t {}
            impl Element for $t {
                const DTYPE: DType = DType::$v;
                fn wrap(v: Vec<Self>) -> TensorData { TensorData::$v(v) }
                fn slice(d: &TensorData) -> Option<&[Self]> {
                    match d { TensorData::$v(v) => Some(v), _ => None }
                }
                fn unwrap(d: TensorData) -> std::result::Result<Vec<Self>, TensorData> {
                    match d { TensorData::$v(v) => Ok(v), other => Err(other) }
                }
            }
        )*

        impl TensorData {
            /// The dtype of these elements.
            pub fn dtype(&self) -> DType {
                match self { $(TensorData::$v(_) => DType::$v,)* TensorData::String(_) => DType::String }
            }

            /// The number of elements.
            pub fn len(&self) -> usize {
                match self { $(TensorData::$v(v) => v.len(),)* TensorData::String(v) => v.len() }
            }

            /// The elements as raw bytes (native endianness); `None` for strings.
            pub fn as_bytes(&self) -> Option<&[u8]> {
                match self {
                    // SAFETY: every numeric element type (and `F16`, `bool`) is plain old data with no
                    // padding, so its memory may be viewed as bytes for its full length.
                    $(TensorData::$v(v) => Some(unsafe {
                        std::slice::from_raw_parts(v.as_ptr().cast::<u8>(), std::mem::size_of_val(v.as_slice()))
                    }),)*
                    TensorData::String(_) => None,
                }
            }
        }
    };
}

elements! {
    f32 => F32, F16 => F16, f64 => F64, i8 => I8, i16 => I16, i32 => I32, i64 => I64,
    u8 => U8, u16 => U16, u32 => U32, u64 => U64, bool => Bool,
}

impl TensorData {
    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The refusal of a `bytes` element type where a model would need it: ONNX has no bytes tensor.
pub(crate) fn no_bytes_tensor() -> Error {
    Error::InvalidArgument(
        "ONNX has no bytes tensor, so a model cannot take or return dtype bytes; decode the \
         values to strings (UTF-8) or to uint8 arrays first"
            .into(),
    )
}

/// The number of elements of a shape, or an error if a dimension is negative or it overflows.
pub(crate) fn element_count(shape: &[i64]) -> Result<usize> {
    shape.iter().try_fold(1usize, |n, &d| {
        usize::try_from(d)
            .ok()
            .and_then(|d| n.checked_mul(d))
            .ok_or_else(|| Error::InvalidInput(format!("invalid tensor shape {shape:?}")))
    })
}

/// `shape`, checked to hold `len` values (`what` names them in the error).
fn holding(shape: Vec<i64>, len: usize, what: &str) -> Result<Vec<i64>> {
    let n = element_count(&shape)?;
    if n != len {
        return Err(Error::InvalidInput(format!(
            "shape {shape:?} holds {n} {what} but {len} were given"
        )));
    }
    Ok(shape)
}

/// An owned tensor: a shape and dtype-tagged elements in row-major (C) order.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    shape: Vec<i64>,
    data: TensorData,
}

impl Tensor {
    /// Builds a tensor; fails if the element count does not match the shape.
    pub fn new(shape: impl Into<Vec<i64>>, data: TensorData) -> Result<Tensor> {
        let shape = holding(shape.into(), data.len(), "elements")?;
        Ok(Tensor { shape, data })
    }

    /// Builds a tensor from a vector of numbers (or bools).
    pub fn from_vec<T: Element>(shape: impl Into<Vec<i64>>, data: Vec<T>) -> Result<Tensor> {
        Tensor::new(shape, T::wrap(data))
    }

    /// Builds a string tensor.
    pub fn from_strings(shape: impl Into<Vec<i64>>, data: Vec<String>) -> Result<Tensor> {
        Tensor::new(shape, TensorData::String(data))
    }

    /// The shape.
    pub fn shape(&self) -> &[i64] {
        &self.shape
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        self.data.dtype()
    }

    /// The elements.
    pub fn data(&self) -> &TensorData {
        &self.data
    }

    /// Splits into shape and elements.
    pub fn into_parts(self) -> (Vec<i64>, TensorData) {
        (self.shape, self.data)
    }

    /// The elements as a slice of `T`, or `None` if the dtype is not `T`'s.
    pub fn as_slice<T: Element>(&self) -> Option<&[T]> {
        T::slice(&self.data)
    }

    /// The elements as a `Vec<T>`, or an error naming both dtypes.
    pub fn into_vec<T: Element>(self) -> Result<Vec<T>> {
        T::unwrap(self.data).map_err(|d| {
            Error::InvalidArgument(format!("tensor holds {}, not {}", d.dtype(), T::DTYPE))
        })
    }

    /// Copies the tensor into an `ndarray` array.
    pub fn to_ndarray<T: Element>(&self) -> Result<ndarray::ArrayD<T>> {
        let data = self.as_slice::<T>().ok_or_else(|| {
            Error::InvalidArgument(format!("tensor holds {}, not {}", self.dtype(), T::DTYPE))
        })?;
        let shape: Vec<usize> = self.shape.iter().map(|&d| d as usize).collect();
        ndarray::ArrayD::from_shape_vec(shape, data.to_vec())
            .map_err(|e| Error::InvalidArgument(e.to_string()))
    }

    /// A borrowed view of this tensor, to pass as a model input.
    pub fn view(&self) -> TensorView<'_> {
        let data = match &self.data {
            TensorData::String(s) => ViewData::Strings(s),
            other => ViewData::Raw(other.as_bytes().unwrap_or_default()),
        };
        TensorView {
            dtype: self.dtype(),
            shape: self.shape.clone(),
            data,
        }
    }
}

/// The shape of an ndarray array as a tensor shape.
fn ndarray_shape(shape: &[usize]) -> Vec<i64> {
    shape.iter().map(|&d| d as i64).collect()
}

/// An owned array of any dimensionality (sliced, strided, transposed, reversed or empty): the
/// tensor holds exactly its logical elements in row-major order. A standard-layout array hands
/// over its buffer without a copy when it starts at the buffer's beginning.
impl<T: Element, D: ndarray::Dimension> From<ndarray::Array<T, D>> for Tensor {
    fn from(a: ndarray::Array<T, D>) -> Tensor {
        let shape = ndarray_shape(a.shape());
        let n = a.len();
        let data = if a.is_standard_layout() {
            // The buffer may hold more than the array (after `slice_move`): the elements are the
            // `n` contiguous ones from the array's offset into it.
            let (mut v, offset) = a.into_raw_vec_and_offset();
            let start = offset.unwrap_or(0);
            if start == 0 {
                v.truncate(n);
                v
            } else {
                v[start..start + n].to_vec()
            }
        } else {
            a.iter().copied().collect()
        };
        Tensor {
            shape,
            data: T::wrap(data),
        }
    }
}

/// A borrowed array of any layout: its logical elements are copied in row-major order.
impl<T: Element, D: ndarray::Dimension> From<ndarray::ArrayView<'_, T, D>> for Tensor {
    fn from(a: ndarray::ArrayView<'_, T, D>) -> Tensor {
        let shape = ndarray_shape(a.shape());
        let data = match a.as_slice() {
            Some(s) => s.to_vec(),
            None => a.iter().copied().collect(),
        };
        Tensor {
            shape,
            data: T::wrap(data),
        }
    }
}

impl<'a, T: Element, D: ndarray::Dimension> TryFrom<ndarray::ArrayView<'a, T, D>>
    for TensorView<'a>
{
    type Error = Error;

    /// Borrows a standard-layout (C-contiguous) view without a copy; any other layout is
    /// [`Error::InvalidArgument`] (convert it with `Tensor::from(view)`, which copies).
    fn try_from(a: ndarray::ArrayView<'a, T, D>) -> Result<TensorView<'a>> {
        let shape = ndarray_shape(a.shape());
        match a.to_slice() {
            Some(s) => TensorView::from_slice(shape, s),
            None => Err(Error::InvalidArgument(
                "this ndarray view is not in standard (C-contiguous) layout, so it cannot be \
                 borrowed; use Tensor::from(view) (one copy) or view.as_standard_layout()"
                    .into(),
            )),
        }
    }
}

/// The borrowed elements of a [`TensorView`].
#[derive(Debug, Clone, Copy)]
pub(crate) enum ViewData<'a> {
    /// Numbers/bools as raw native-endian bytes.
    Raw(&'a [u8]),
    /// Strings.
    Strings(&'a [String]),
}

/// A borrowed tensor: a shape, a dtype and elements that stay where they are (no copy).
#[derive(Debug, Clone)]
pub struct TensorView<'a> {
    pub(crate) dtype: DType,
    pub(crate) shape: Vec<i64>,
    pub(crate) data: ViewData<'a>,
}

impl<'a> TensorView<'a> {
    /// A view of a slice of numbers (or bools) with the given shape.
    pub fn from_slice<T: Element>(shape: impl Into<Vec<i64>>, data: &'a [T]) -> Result<Self> {
        // SAFETY: `Element` types are plain old data without padding; the byte view covers exactly
        // the slice's memory and lives as long as the slice.
        let bytes = unsafe {
            std::slice::from_raw_parts(data.as_ptr().cast::<u8>(), std::mem::size_of_val(data))
        };
        Self::from_bytes(T::DTYPE, shape, bytes)
    }

    /// A view of raw native-endian element bytes (e.g. a numpy array's buffer); the length must be
    /// `elements × dtype size`.
    pub fn from_bytes(dtype: DType, shape: impl Into<Vec<i64>>, bytes: &'a [u8]) -> Result<Self> {
        let shape = shape.into();
        if dtype == DType::Bytes {
            return Err(no_bytes_tensor());
        }
        let Some(size) = dtype.itemsize() else {
            return Err(Error::InvalidArgument(
                "string tensors are built with TensorView::from_strings".into(),
            ));
        };
        let n = element_count(&shape)?;
        if n.checked_mul(size) != Some(bytes.len()) {
            return Err(Error::InvalidInput(format!(
                "shape {shape:?} of {dtype} needs {} bytes but {} were given",
                n.saturating_mul(size),
                bytes.len()
            )));
        }
        Ok(TensorView {
            dtype,
            shape,
            data: ViewData::Raw(bytes),
        })
    }

    /// A view of strings with the given shape.
    pub fn from_strings(shape: impl Into<Vec<i64>>, data: &'a [String]) -> Result<Self> {
        let shape = holding(shape.into(), data.len(), "strings")?;
        Ok(TensorView {
            dtype: DType::String,
            shape,
            data: ViewData::Strings(data),
        })
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// The shape.
    pub fn shape(&self) -> &[i64] {
        &self.shape
    }
}

impl<'a> From<&'a Tensor> for TensorView<'a> {
    fn from(t: &'a Tensor) -> Self {
        t.view()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_must_match_elements() {
        let err = Tensor::from_vec(vec![2, 3], vec![1.0f32; 5]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "shape [2, 3] holds 6 elements but 5 were given"
        );
        let t = Tensor::from_vec(vec![2, 3], vec![1i64; 6]).unwrap();
        assert_eq!(t.dtype(), DType::I64);
        assert_eq!(t.as_slice::<i64>().unwrap().len(), 6);
        assert!(t.as_slice::<f32>().is_none());
    }

    #[test]
    fn byte_views_check_length() {
        let err = TensorView::from_bytes(DType::F32, vec![2], &[0u8; 7]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "shape [2] of float32 needs 8 bytes but 7 were given"
        );
        assert!(TensorView::from_bytes(DType::F32, vec![2], &[0u8; 8]).is_ok());
        assert!(TensorView::from_bytes(DType::F32, vec![-1], &[]).is_err());
        let err = TensorView::from_bytes(DType::Bytes, vec![1], &[0u8]).unwrap_err();
        assert!(
            err.to_string().contains("ONNX has no bytes tensor"),
            "{err}"
        );
    }

    #[test]
    fn dtype_names_round_trip() {
        for d in DType::ALL {
            assert_eq!(DType::parse(d.name()).unwrap(), d);
        }
    }

    #[test]
    fn ndarray_round_trip() {
        let a = ndarray::ArrayD::from_shape_vec(vec![2, 2], vec![1i32, 2, 3, 4]).unwrap();
        let t = Tensor::from(a.t().to_owned());
        assert_eq!(t.as_slice::<i32>().unwrap(), &[1, 3, 2, 4]);
        assert_eq!(t.to_ndarray::<i32>().unwrap(), a.t());
    }

    #[test]
    fn ndarray_layouts_give_logical_elements() {
        use ndarray::{s, Array2};
        let full = Array2::from_shape_fn((4, 3), |(i, j)| (i * 3 + j) as i64);
        let cases: Vec<(ndarray::ArrayD<i64>, Tensor)> = vec![
            (
                full.slice(s![2.., ..]).to_owned().into_dyn(),
                Tensor::from(full.clone().slice_move(s![2.., ..]).into_dyn()),
            ),
            (
                full.slice(s![.., 1..]).to_owned().into_dyn(),
                Tensor::from(full.clone().slice_move(s![.., 1..])),
            ),
            (
                full.slice(s![..;-1, ..;2]).to_owned().into_dyn(),
                Tensor::from(full.slice(s![..;-1, ..;2])),
            ),
            (
                full.t().to_owned().into_dyn(),
                Tensor::from(full.clone().reversed_axes()),
            ),
            (
                full.slice(s![1..1, ..]).to_owned().into_dyn(),
                Tensor::from(full.clone().slice_move(s![1..1, ..])),
            ),
        ];
        for (expected, t) in cases {
            let shape: Vec<i64> = expected.shape().iter().map(|&d| d as i64).collect();
            assert_eq!(t.shape(), shape.as_slice());
            let logical: Vec<i64> = expected.iter().copied().collect();
            assert_eq!(t.as_slice::<i64>().unwrap(), logical.as_slice());
        }
        let view = full.slice(s![2.., ..]);
        let borrowed = TensorView::try_from(view).unwrap();
        assert_eq!(borrowed.shape(), &[2, 3]);
        assert!(TensorView::try_from(full.t()).is_err());
    }
}
