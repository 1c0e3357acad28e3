//! Schema (named columns, each a dtype and a per-row shape) and column arrays.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The element type of a column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DType {
    /// One byte, 0 or 1.
    Bool,
    /// Signed 8-bit integer.
    Int8,
    /// Signed 16-bit integer.
    Int16,
    /// Signed 32-bit integer.
    Int32,
    /// Signed 64-bit integer.
    Int64,
    /// Unsigned 8-bit integer.
    Uint8,
    /// Unsigned 16-bit integer.
    Uint16,
    /// Unsigned 32-bit integer.
    Uint32,
    /// Unsigned 64-bit integer.
    Uint64,
    /// IEEE 754 half precision.
    Float16,
    /// IEEE 754 single precision.
    Float32,
    /// IEEE 754 double precision.
    Float64,
    /// A variable-length byte string per row.
    Bytes,
    /// A variable-length UTF-8 string per row.
    String,
}

impl DType {
    /// Every dtype.
    pub const ALL: [DType; 14] = [
        DType::Bool,
        DType::Int8,
        DType::Int16,
        DType::Int32,
        DType::Int64,
        DType::Uint8,
        DType::Uint16,
        DType::Uint32,
        DType::Uint64,
        DType::Float16,
        DType::Float32,
        DType::Float64,
        DType::Bytes,
        DType::String,
    ];

    /// Bytes per element, `None` for the variable-length `bytes` and `string`.
    pub fn itemsize(self) -> Option<usize> {
        use DType::*;
        match self {
            Bool | Int8 | Uint8 => Some(1),
            Int16 | Uint16 | Float16 => Some(2),
            Int32 | Uint32 | Float32 => Some(4),
            Int64 | Uint64 | Float64 => Some(8),
            Bytes | String => None,
        }
    }

    /// Whether rows are variable-length (`bytes`, `string`).
    pub fn is_variable(self) -> bool {
        self.itemsize().is_none()
    }

    /// The name used in manifests and by numpy (`float32`, ...; `bytes`, `string`).
    pub fn name(self) -> &'static str {
        use DType::*;
        match self {
            Bool => "bool",
            Int8 => "int8",
            Int16 => "int16",
            Int32 => "int32",
            Int64 => "int64",
            Uint8 => "uint8",
            Uint16 => "uint16",
            Uint32 => "uint32",
            Uint64 => "uint64",
            Float16 => "float16",
            Float32 => "float32",
            Float64 => "float64",
            Bytes => "bytes",
            String => "string",
        }
    }

    /// Parses a dtype name (see [`DType::name`]).
    pub fn parse(name: &str) -> Result<DType> {
        DType::ALL
            .into_iter()
            .find(|d| d.name() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = DType::ALL.iter().map(|d| d.name()).collect();
                Error::Schema(format!(
                    "unsupported dtype `{name}`; supported: {}",
                    names.join(", ")
                ))
            })
    }
}

impl std::fmt::Display for DType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One column: a name, a dtype and the shape of one row's value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    /// Unique, non-empty name.
    pub name: String,
    /// Element type.
    pub dtype: DType,
    /// Per-row shape (`[]` for a scalar per row; always `[]` for `bytes`/`string` and
    /// variable-shape columns).
    pub shape: Vec<u64>,
    /// `Some(ndim)` for a variable-shape tensor column: every row an `ndim`-dimensional array
    /// of its own shape (see `ragged`). Omitted from manifests when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variable_ndim: Option<u32>,
}

impl Column {
    /// A column.
    pub fn new(name: impl Into<String>, dtype: DType, shape: impl Into<Vec<u64>>) -> Column {
        Column {
            name: name.into(),
            dtype,
            shape: shape.into(),
            variable_ndim: None,
        }
    }

    /// A variable-shape tensor column: rows of `dtype` with `ndim` dimensions each, every row
    /// its own shape.
    pub fn variable_shape(name: impl Into<String>, dtype: DType, ndim: u32) -> Column {
        Column {
            variable_ndim: Some(ndim),
            ..Column::new(name, dtype, Vec::new())
        }
    }

    /// Elements per row.
    pub fn elements_per_row(&self) -> Option<u64> {
        self.shape
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))
    }

    /// Bytes per row for fixed-size dtypes; `None` for variable-length ones.
    pub fn row_bytes(&self) -> Option<usize> {
        if self.variable_ndim.is_some() {
            return None;
        }
        let n = self.elements_per_row()?;
        let b = n.checked_mul(self.dtype.itemsize()? as u64)?;
        usize::try_from(b).ok()
    }
}

/// The ordered columns of a dataset.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Schema {
    /// Columns in order.
    pub columns: Vec<Column>,
}

impl Schema {
    /// A validated schema: at least one column, unique non-empty names, variable-length columns
    /// with shape `[]`, row sizes that fit in memory.
    pub fn new(columns: Vec<Column>) -> Result<Schema> {
        let s = Schema { columns };
        s.validate()?;
        Ok(s)
    }

    /// Checks the rules of [`Schema::new`].
    pub fn validate(&self) -> Result<()> {
        if self.columns.is_empty() {
            return Err(Error::Schema("a dataset needs at least one column".into()));
        }
        for (i, c) in self.columns.iter().enumerate() {
            if c.name.is_empty() {
                return Err(Error::Schema(format!("column {i} has an empty name")));
            }
            if self.columns[..i].iter().any(|o| o.name == c.name) {
                return Err(Error::Schema(format!(
                    "column name `{}` is repeated",
                    c.name
                )));
            }
            if c.dtype.is_variable() && !c.shape.is_empty() {
                return Err(Error::Schema(format!(
                    "column `{}` of dtype {} holds one value per row: its shape must be []",
                    c.name, c.dtype
                )));
            }
            if c.variable_ndim.is_some() && (c.dtype.is_variable() || !c.shape.is_empty()) {
                return Err(Error::Schema(format!(
                    "column `{}`: a variable-shape column holds numbers (not {}) and has shape []",
                    c.name, c.dtype
                )));
            }
            if c.variable_ndim.is_none()
                && !c.dtype.is_variable()
                && c.row_bytes().is_none_or(|b| b == 0 || b > 1 << 32)
            {
                return Err(Error::Schema(format!(
                    "column `{}`: rows of shape {:?} are empty or too large",
                    c.name, c.shape
                )));
            }
        }
        Ok(())
    }

    /// The position of the column `name`.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// The column names in order.
    pub fn names(&self) -> Vec<&str> {
        self.columns.iter().map(|c| c.name.as_str()).collect()
    }
}

/// A plain number type a column can be built from without copying.
///
/// Sealed: implemented for the primitive integers and floats, whose every bit pattern is valid
/// and which have no padding.
pub trait Element: Copy + sealed::Sealed + 'static {
    /// The dtype of this type.
    const DTYPE: DType;
}

mod sealed {
    pub trait Sealed {}
}

macro_rules! element {
    ($($t:ty => $d:ident),*) => {$(
        impl sealed::Sealed for $t {}
        impl Element for $t { const DTYPE: DType = DType::$d; }
    )*};
}
element!(i8 => Int8, i16 => Int16, i32 => Int32, i64 => Int64, u8 => Uint8, u16 => Uint16,
    u32 => Uint32, u64 => Uint64, f32 => Float32, f64 => Float64);

#[cfg(target_endian = "big")]
compile_error!("lepton-core stores little-endian data and supports little-endian targets only");

fn as_bytes<T: Element>(values: &[T]) -> &[u8] {
    // SAFETY: `Element` is sealed to primitive numbers: no padding, every byte initialized, and
    // u8 has alignment 1; the length covers exactly the same memory.
    unsafe {
        std::slice::from_raw_parts(values.as_ptr().cast::<u8>(), std::mem::size_of_val(values))
    }
}

/// The values of one column for some number of rows: the input of a writer and the output of a
/// reader. Borrowed (`'a`) when built from caller memory, owned (`'static`) when read back.
#[derive(Clone, Debug, PartialEq)]
pub enum ColumnData<'a> {
    /// A fixed-size dtype: `rows × prod(row_shape)` little-endian elements, C order.
    Fixed {
        /// Element type (never `bytes`/`string`).
        dtype: DType,
        /// Shape of one row.
        row_shape: Vec<u64>,
        /// Number of rows.
        rows: usize,
        /// The elements' bytes.
        data: Cow<'a, [u8]>,
    },
    /// A variable-length dtype: row `i` is `data[offsets[i]..offsets[i + 1]]`.
    Variable {
        /// `bytes` or `string`.
        dtype: DType,
        /// `rows + 1` non-decreasing offsets starting at 0.
        offsets: Cow<'a, [u64]>,
        /// The concatenated values.
        data: Cow<'a, [u8]>,
    },
}

impl<'a> ColumnData<'a> {
    /// Borrows a slice of numbers; `row_shape` is the shape of one row (`&[]` for scalars), so
    /// `values.len()` must be a multiple of its product.
    pub fn from_slice<T: Element>(values: &'a [T], row_shape: &[u64]) -> Result<ColumnData<'a>> {
        ColumnData::from_raw(T::DTYPE, row_shape, as_bytes(values))
    }

    /// Borrows raw little-endian bytes of a fixed-size dtype.
    pub fn from_raw(dtype: DType, row_shape: &[u64], data: &'a [u8]) -> Result<ColumnData<'a>> {
        let probe = Column::new("", dtype, row_shape.to_vec());
        let row_bytes = probe.row_bytes().ok_or_else(|| {
            Error::Schema(format!(
                "dtype {dtype} with row shape {row_shape:?} is not a fixed-size column"
            ))
        })?;
        let rows = {
            if row_bytes == 0 || !data.len().is_multiple_of(row_bytes) {
                return Err(Error::Schema(format!(
                    "{} bytes of {dtype} are not a whole number of rows of shape {row_shape:?} ({row_bytes} bytes each)",
                    data.len()
                )));
            }
            data.len() / row_bytes
        };
        Ok(ColumnData::Fixed {
            dtype,
            row_shape: row_shape.to_vec(),
            rows,
            data: Cow::Borrowed(data),
        })
    }

    /// A `string` column (copies).
    pub fn strings<S: AsRef<str>>(values: &[S]) -> ColumnData<'static> {
        let (offsets, data) = concat(values.iter().map(|s| s.as_ref().as_bytes()));
        ColumnData::Variable {
            dtype: DType::String,
            offsets: Cow::Owned(offsets),
            data: Cow::Owned(data),
        }
    }

    /// A `bytes` column (copies).
    pub fn bytes<B: AsRef<[u8]>>(values: &[B]) -> ColumnData<'static> {
        let (offsets, data) = concat(values.iter().map(|s| s.as_ref()));
        ColumnData::Variable {
            dtype: DType::Bytes,
            offsets: Cow::Owned(offsets),
            data: Cow::Owned(data),
        }
    }

    /// A variable-length column from offsets and data, checked (and UTF-8 checked for `string`).
    /// With a fixed-size dtype, a variable-shape tensor column: each row encoded as
    /// `ragged` describes (rank, dimensions, elements), every row the same rank.
    pub fn from_offsets(
        dtype: DType,
        offsets: Cow<'a, [u64]>,
        data: Cow<'a, [u8]>,
    ) -> Result<ColumnData<'a>> {
        check_offsets(&offsets, data.len()).map_err(Error::Schema)?;
        if !dtype.is_variable() {
            super::ragged::check_rows(dtype, &offsets, &data).map_err(Error::Schema)?;
        }
        if dtype == DType::String {
            for w in offsets.windows(2) {
                std::str::from_utf8(&data[w[0] as usize..w[1] as usize])
                    .map_err(|_| Error::Schema("a string value is not valid UTF-8".into()))?;
            }
        }
        Ok(ColumnData::Variable {
            dtype,
            offsets,
            data,
        })
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        match self {
            ColumnData::Fixed { rows, .. } => *rows,
            ColumnData::Variable { offsets, .. } => offsets.len().saturating_sub(1),
        }
    }

    /// Element type.
    pub fn dtype(&self) -> DType {
        match self {
            ColumnData::Fixed { dtype, .. } | ColumnData::Variable { dtype, .. } => *dtype,
        }
    }

    /// The common rank of a variable-shape tensor column's rows (`Ok(None)` for other columns
    /// and for one without rows); an error says which row is malformed.
    pub fn variable_ndim(&self) -> Result<Option<u32>> {
        match self {
            ColumnData::Variable {
                dtype,
                offsets,
                data,
            } if !dtype.is_variable() => {
                super::ragged::check_rows(*dtype, offsets, data).map_err(Error::Schema)
            }
            _ => Ok(None),
        }
    }

    /// Shape of one row (`[]` for variable-length columns).
    pub fn row_shape(&self) -> &[u64] {
        match self {
            ColumnData::Fixed { row_shape, .. } => row_shape,
            ColumnData::Variable { .. } => &[],
        }
    }

    /// The raw bytes (elements of a fixed column, concatenated values of a variable one).
    pub fn data(&self) -> &[u8] {
        match self {
            ColumnData::Fixed { data, .. } | ColumnData::Variable { data, .. } => data,
        }
    }

    /// Copies the elements out as `T` (which must be this column's dtype).
    pub fn to_vec<T: Element>(&self) -> Result<Vec<T>> {
        match self {
            ColumnData::Fixed { dtype, data, .. } if *dtype == T::DTYPE => {
                let n = data.len() / std::mem::size_of::<T>();
                let mut out = Vec::<T>::with_capacity(n);
                // SAFETY: `out` has capacity for n elements (n * size_of::<T>() == data.len()
                // bytes); every bit pattern is a valid `T` (sealed `Element`); the regions do not
                // overlap; set_len only covers the bytes just written.
                unsafe {
                    std::ptr::copy_nonoverlapping(
                        data.as_ptr(),
                        out.as_mut_ptr().cast::<u8>(),
                        n * std::mem::size_of::<T>(),
                    );
                    out.set_len(n);
                }
                Ok(out)
            }
            other => Err(Error::Schema(format!(
                "column holds {}, not {}",
                other.dtype(),
                T::DTYPE
            ))),
        }
    }

    /// Row `i` of a variable-length column.
    pub fn value(&self, i: usize) -> Option<&[u8]> {
        match self {
            ColumnData::Variable { offsets, data, .. } if i + 1 < offsets.len() => {
                Some(&data[offsets[i] as usize..offsets[i + 1] as usize])
            }
            _ => None,
        }
    }

    /// An owned copy.
    pub fn into_owned(self) -> ColumnData<'static> {
        match self {
            ColumnData::Fixed {
                dtype,
                row_shape,
                rows,
                data,
            } => ColumnData::Fixed {
                dtype,
                row_shape,
                rows,
                data: Cow::Owned(data.into_owned()),
            },
            ColumnData::Variable {
                dtype,
                offsets,
                data,
            } => ColumnData::Variable {
                dtype,
                offsets: Cow::Owned(offsets.into_owned()),
                data: Cow::Owned(data.into_owned()),
            },
        }
    }
}

fn concat<'b>(values: impl Iterator<Item = &'b [u8]>) -> (Vec<u64>, Vec<u8>) {
    let mut offsets = vec![0u64];
    let mut data = Vec::new();
    for v in values {
        data.extend_from_slice(v);
        offsets.push(data.len() as u64);
    }
    (offsets, data)
}

/// Checks variable-length offsets: at least one, starting at 0, non-decreasing, ending at
/// `data_len`.
pub(crate) fn check_offsets(offsets: &[u64], data_len: usize) -> std::result::Result<(), String> {
    if offsets.first() != Some(&0) {
        return Err("offsets must start at 0".into());
    }
    if offsets.windows(2).any(|w| w[0] > w[1]) {
        return Err("offsets must not decrease".into());
    }
    if *offsets.last().expect("non-empty") != data_len as u64 {
        return Err(format!(
            "the last offset ({}) must equal the data length ({data_len})",
            offsets.last().unwrap()
        ));
    }
    Ok(())
}

/// Rows of several columns, in schema order: what a reader returns.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    /// One entry per column, in schema order, each with the same number of rows.
    pub columns: Vec<ColumnData<'static>>,
}

impl Batch {
    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.columns.first().map_or(0, |c| c.rows())
    }
}
