//! Schema (named columns, each a dtype and a per-row shape) and column arrays.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

pub use crate::dtype::{DType, Element};
use crate::{Error, Result};

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
    /// For a variable-shape column whose rows share some dimensions (points of shape `(n, 3)`):
    /// one entry per dimension, `Some(d)` where every row has `d`, `None` where rows vary.
    /// Empty (and omitted from manifests) when every dimension varies; a reader that does not
    /// know the field reads such a column as varying in every dimension, which it also is.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fixed_dims: Vec<Option<u64>>,
}

impl Column {
    /// A column.
    pub fn new(name: impl Into<String>, dtype: DType, shape: impl Into<Vec<u64>>) -> Column {
        Column {
            name: name.into(),
            dtype,
            shape: shape.into(),
            variable_ndim: None,
            fixed_dims: Vec::new(),
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
            if !c.fixed_dims.is_empty()
                && (c.variable_ndim != Some(c.fixed_dims.len() as u32)
                    || c.fixed_dims.iter().all(|d| d.is_some()))
            {
                return Err(Error::Schema(format!(
                    "column `{}`: fixed dimensions {:?} need a variable-shape column of that rank \
                     with at least one varying dimension",
                    c.name, c.fixed_dims
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

#[cfg(target_endian = "big")]
compile_error!("lepton-core stores little-endian data and supports little-endian targets only");

fn as_bytes<T: Element>(values: &[T]) -> &[u8] {
    // SAFETY: `Element` is sealed to primitive numbers, `bool` and `F16`: no padding, every byte
    // initialized, and u8 has alignment 1; the length covers exactly the same memory.
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
                if T::DTYPE == DType::Bool && data.iter().any(|&b| b > 1) {
                    return Err(Error::Schema(
                        "a bool column holds a byte other than 0 or 1".into(),
                    ));
                }
                let n = data.len() / std::mem::size_of::<T>();
                let mut out = Vec::<T>::with_capacity(n);
                // SAFETY: `out` has capacity for n elements (n * size_of::<T>() == data.len()
                // bytes); every bit pattern is a valid `T` (sealed `Element`: numbers and `F16`), and for
                // `bool` every byte was just checked to be 0 or 1; the regions do not
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bool_columns_copy_out_only_zeros_and_ones() {
        let flags = [true, false, true];
        let col = ColumnData::from_slice(&flags, &[]).unwrap();
        assert_eq!(col.dtype(), DType::Bool);
        assert_eq!(col.to_vec::<bool>().unwrap(), flags);
        // Raw bytes that are not a Rust bool are refused, not transmuted.
        let err = ColumnData::from_raw(DType::Bool, &[], &[0, 1, 2])
            .unwrap()
            .to_vec::<bool>()
            .unwrap_err();
        assert!(err.to_string().contains("other than 0 or 1"), "{err}");
    }
}
