//! A schema declared by its user where a writer starts (Python's `schema=`), as column name,
//! dtype name and one entry per dimension, `None` for a dimension that varies from row to row.
//!
//! The form is the one `Dataset.schema` reads back, so a schema can be copied from one dataset
//! to the next: `("int64", [])` a scalar per row, `("float32", [Some(28), Some(28)])` a fixed
//! 28×28 array, `("int64", [None])` a variable-length list of token ids (a variable-shape
//! column: every dimension `None`, as pyarrow's `list<int64>` or Hugging Face's
//! `Sequence(Value("int64"))`), `("string", [])` text. Declaring a column variable-shape up
//! front is what lets a first batch (or first row) whose rows happen to share one shape start
//! it.

use super::schema::{Column, DType, Schema};
use crate::{Error, Result};

/// One declared column: its name, dtype name and per-row shape (`None` = varies by row).
pub type ColumnSpec = (String, String, Vec<Option<u64>>);

impl Schema {
    /// The schema that `spec` declares, in its order.
    ///
    /// Errors ([`Error::Schema`], naming the column): an unknown dtype, a shape that mixes
    /// fixed and varying dimensions, a shape on a `string`/`bytes` column, or what
    /// [`Schema::new`] refuses (no columns, repeated or empty names, empty rows).
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
    /// `None` for each dimension of a variable-shape column, the fixed dimensions otherwise.
    pub fn spec_shape(&self) -> Vec<Option<u64>> {
        match self.variable_ndim {
            Some(n) => vec![None; n as usize],
            None => self.shape.iter().copied().map(Some).collect(),
        }
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
    if varying != shape.len() {
        return Err(Error::Schema(format!(
            "schema column `{name}`: the shape {} mixes fixed and varying dimensions; a \
             variable-shape column has every dimension None (each row its own shape, e.g. {}), \
             a fixed-shape one none",
            show(shape),
            show(&vec![None; shape.len()])
        )));
    }
    Ok(Column::variable_shape(name, dtype, shape.len() as u32))
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
    fn bad_declarations_name_the_column() {
        let err = |cols: &[(&str, &str, &[Option<u64>])]| {
            Schema::from_spec(&spec(cols)).unwrap_err().to_string()
        };
        let mixed = err(&[("pts", "float32", &[None, Some(3)])]);
        assert!(
            mixed.contains("`pts`") && mixed.contains("(None, 3)"),
            "{mixed}"
        );
        assert!(mixed.contains("(None, None)"), "{mixed}");
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
