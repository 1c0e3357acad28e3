//! A schema declared by its user where a writer starts (Python's `schema=`), as column name,
//! dtype name and one entry per dimension, `None` for a dimension that varies from row to row.
//!
//! The form is the one `Dataset.schema` reads back, so a schema can be copied from one dataset
//! to the next: `("int64", [])` a scalar per row, `("float32", [Some(28), Some(28)])` a fixed
//! 28×28 array, `("int64", [None])` a variable-length list of token ids (a variable-shape
//! column: every dimension `None`, as pyarrow's `list<int64>` or Hugging Face's
//! `Sequence(Value("int64"))`), `("float32", [None, Some(3)])` a variable number of 3-d points
//! (a variable-shape column whose rows must all have 3 as their last dimension: pyarrow's
//! `list<fixed_size_list<float, 3>>`), `("string", [])` text. Declaring a column variable-shape
//! up front is what lets a first batch (or first row) whose rows happen to share one shape start
//! it.

use super::ragged;
use super::schema::{Column, ColumnData, DType, Schema};
use crate::{Error, Result};

/// One declared column: its name, dtype name and per-row shape (`None` = varies by row).
pub type ColumnSpec = (String, String, Vec<Option<u64>>);

impl Schema {
    /// The schema that `spec` declares, in its order.
    ///
    /// Errors ([`Error::Schema`], naming the column): an unknown dtype, a shape on a
    /// `string`/`bytes` column, or what [`Schema::new`] refuses (no columns, repeated or empty
    /// names, empty rows).
    pub fn from_spec(spec: &[ColumnSpec]) -> Result<Schema> {
        let columns = spec
            .iter()
            .map(|(name, dtype, shape)| column_of_spec(name, dtype, shape))
            .collect::<Result<Vec<_>>>()?;
        Schema::new(columns)
    }
}

impl Column {
    /// This column's per-row shape as a spec writes it (and `Dataset.schema` reads it back):
    /// `None` for each dimension that varies by row, the fixed dimensions as they are.
    pub fn spec_shape(&self) -> Vec<Option<u64>> {
        match self.variable_ndim {
            Some(_) if !self.fixed_dims.is_empty() => self.fixed_dims.clone(),
            Some(n) => vec![None; n as usize],
            None => self.shape.iter().copied().map(Some).collect(),
        }
    }

    /// Checks that every row of `data` (written to this variable-shape column) has the
    /// dimensions the column fixes.
    ///
    /// Errors ([`Error::Schema`]): naming the column, the row (counted from the start of
    /// `data`, the batch being written), its shape and the declared one.
    pub(crate) fn check_fixed_dims(&self, data: &ColumnData<'_>) -> Result<()> {
        let ColumnData::Variable {
            dtype,
            offsets,
            data,
        } = data
        else {
            return Ok(());
        };
        if self.fixed_dims.is_empty() {
            return Ok(());
        }
        for (row, w) in offsets.windows(2).enumerate() {
            let (shape, _) = ragged::decode_row(*dtype, &data[w[0] as usize..w[1] as usize])
                .map_err(|e| Error::Schema(format!("column `{}` row {row}: {e}", self.name)))?;
            let fits = shape.len() == self.fixed_dims.len()
                && shape
                    .iter()
                    .zip(&self.fixed_dims)
                    .all(|(d, f)| f.is_none_or(|f| f == *d));
            if !fits {
                let got: Vec<Option<u64>> = shape.iter().copied().map(Some).collect();
                return Err(Error::Schema(format!(
                    "column `{}`: row {row} of the batch being written has shape {}, but the \
                     schema declares {} (None where rows vary): give rows of that shape, or \
                     declare the dimension None",
                    self.name,
                    show(&got),
                    show(&self.fixed_dims)
                )));
            }
        }
        Ok(())
    }
}

fn column_of_spec(name: &str, dtype: &str, shape: &[Option<u64>]) -> Result<Column> {
    let dtype = DType::parse(dtype)
        .map_err(|e| Error::Schema(format!("schema column `{name}`: {}", bare(e))))?;
    let varying = shape.iter().filter(|d| d.is_none()).count();
    if dtype.is_variable() && !shape.is_empty() {
        return Err(Error::Schema(format!(
            "schema column `{name}`: a {dtype} column holds one value per row; give it the shape \
             () (got {})",
            show(shape)
        )));
    }
    if varying == 0 {
        let fixed: Vec<u64> = shape.iter().flatten().copied().collect();
        return Ok(Column::new(name, dtype, fixed));
    }
    let mut column = Column::variable_shape(name, dtype, shape.len() as u32);
    if varying != shape.len() {
        // Some dimensions fixed (`(None, 3)`): checked on every row written.
        column.fixed_dims = shape.to_vec();
    }
    Ok(column)
}

/// A shape as Python writes it: `(None, 3)`, `(5,)`, `()`.
fn show(shape: &[Option<u64>]) -> String {
    let dims: Vec<String> = shape
        .iter()
        .map(|d| d.map_or("None".to_string(), |n| n.to_string()))
        .collect();
    match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    }
}

/// The message of a schema error without its kind (to nest it in another).
fn bare(e: Error) -> String {
    match e {
        Error::Schema(m) => m,
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(cols: &[(&str, &str, &[Option<u64>])]) -> Vec<ColumnSpec> {
        cols.iter()
            .map(|(n, d, s)| (n.to_string(), d.to_string(), s.to_vec()))
            .collect()
    }

    #[test]
    fn declared_columns_become_fixed_variable_shape_or_text() {
        let s = Schema::from_spec(&spec(&[
            ("tokens", "int64", &[None]),
            ("image", "float32", &[Some(28), Some(28)]),
            ("label", "int64", &[]),
            ("text", "string", &[]),
        ]))
        .unwrap();
        assert_eq!(
            s.columns,
            vec![
                Column::variable_shape("tokens", DType::I64, 1),
                Column::new("image", DType::F32, vec![28, 28]),
                Column::new("label", DType::I64, vec![]),
                Column::new("text", DType::String, vec![]),
            ]
        );
        let shapes: Vec<_> = s.columns.iter().map(Column::spec_shape).collect();
        assert_eq!(
            shapes,
            vec![vec![None], vec![Some(28), Some(28)], vec![], vec![]]
        );
    }

    #[test]
    fn some_fixed_dimensions_are_checked_on_every_row() {
        let s = Schema::from_spec(&spec(&[("pts", "float32", &[None, Some(3)])])).unwrap();
        let c = &s.columns[0];
        assert_eq!(c.variable_ndim, Some(2));
        assert_eq!(c.spec_shape(), vec![None, Some(3)]);
        let rows = |shapes: &[[u64; 2]]| {
            let mut data = Vec::new();
            let mut offsets = vec![0u64];
            for sh in shapes {
                ragged::encode_row(sh, &vec![0u8; (sh[0] * sh[1] * 4) as usize], &mut data);
                offsets.push(data.len() as u64);
            }
            ColumnData::from_offsets(DType::F32, offsets.into(), data.into()).unwrap()
        };
        c.check_fixed_dims(&rows(&[[5, 3], [1, 3], [0, 3]]))
            .unwrap();
        let err = c
            .check_fixed_dims(&rows(&[[5, 3], [2, 4]]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("column `pts`: row 1 of the batch being written has shape (2, 4), but the schema declares (None, 3)"),
            "{err}"
        );
        // Stored and read back from a manifest's JSON; a column without it omits the field.
        let json = serde_json::to_string(&s).unwrap();
        assert!(json.contains("\"fixed_dims\":[null,3]"), "{json}");
        assert_eq!(serde_json::from_str::<Schema>(&json).unwrap(), s);
        let plain = Schema::from_spec(&spec(&[("t", "int64", &[None])])).unwrap();
        assert!(!serde_json::to_string(&plain)
            .unwrap()
            .contains("fixed_dims"));
    }

    #[test]
    fn bad_declarations_name_the_column() {
        let err = |cols: &[(&str, &str, &[Option<u64>])]| {
            Schema::from_spec(&spec(cols)).unwrap_err().to_string()
        };
        let dtype = err(&[("x", "complex64", &[])]);
        assert!(
            dtype.contains("`x`") && dtype.contains("complex64"),
            "{dtype}"
        );
        let text = err(&[("t", "string", &[None])]);
        assert!(text.contains("`t`") && text.contains("(None,)"), "{text}");
        assert!(err(&[]).contains("at least one column"));
        let repeated = err(&[("a", "int8", &[]), ("a", "int8", &[])]);
        assert!(repeated.contains("repeated"), "{repeated}");
    }
}
