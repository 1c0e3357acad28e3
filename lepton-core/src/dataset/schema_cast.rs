//! Numbers given to a declared column in another numeric dtype: converted when numpy's
//! `same_kind` casting allows it and every value survives, refused otherwise.
//!
//! A schema declared where a writer starts (`schema={"label": ("int32", ())}` in Python) says
//! what the column stores; the rows often come without a dtype of their own (Python's `int`
//! arrives as int64, `float` as float64) or in numpy's default one. As pyarrow's safe casts and
//! Hugging Face's `Features` do, such rows are converted to the declared dtype: `bool` to any
//! number, any integer to any other integer or to a float, a float to another float; never a
//! float to an integer or a number to `bool` (numpy's `same_kind` rule); float16 converts to or
//! from nothing (values must come as float16). An integer outside the
//! declared range, an integer a float cannot hold exactly (past 2^24 for float32, 2^53 for
//! float64, as pyarrow's safe cast checks), or a finite float past the declared float's largest
//! value, is refused naming the column, its row and the value, where numpy would wrap, round or
//! overflow silently.

use std::borrow::Cow;

use super::ragged;
use super::schema::{Column, ColumnData, DType};
use crate::{Error, Result};

/// `data`, given for the declared column `column`, in the column's dtype: unchanged when the
/// dtypes already agree or either is not a number (the writer's usual checks then apply),
/// converted when the rule above allows it.
///
/// Errors ([`Error::Schema`], naming the column and both dtypes): a conversion the rule refuses,
/// or a value the declared dtype cannot hold (naming its row).
pub(crate) fn cast_to_declared<'a>(
    column: &Column,
    data: ColumnData<'a>,
) -> Result<ColumnData<'a>> {
    let (from, to) = (data.dtype(), column.dtype);
    if from == to || from.is_variable() || to.is_variable() {
        return Ok(data);
    }
    let refused = |why: &str| {
        Error::Schema(format!(
            "column `{}` is {to}, got {from}: {why}",
            column.name
        ))
    };
    if from == DType::F16 || to == DType::F16 {
        // No half-precision arithmetic in this crate's dependencies: float16 is stored as given.
        return Err(refused(&format!(
            "float16 converts to or from no other dtype here; give {to} values \
             (numpy: np.asarray(values, dtype=np.{to}))"
        )));
    }
    if rank(from) > rank(to) {
        return Err(refused(&format!(
            "{from} does not convert to {to} without losing values (numpy's same_kind casting: \
             bool to integers to floats, never back); give {to} values"
        )));
    }
    let name = column.name.as_str();
    match data {
        ColumnData::Fixed {
            row_shape,
            rows,
            data,
            ..
        } => {
            let per_row = row_shape.iter().product::<u64>().max(1) as usize;
            let out = convert(name, from, to, &data, |i| i / per_row)?;
            Ok(ColumnData::Fixed {
                dtype: to,
                row_shape,
                rows,
                data: Cow::Owned(out),
            })
        }
        ColumnData::Variable { offsets, data, .. } => {
            // A variable-shape column: each row's shape header stays, its elements convert.
            let mut out = Vec::with_capacity(data.len());
            let mut new_offsets = Vec::with_capacity(offsets.len());
            new_offsets.push(0u64);
            for (row, w) in offsets.windows(2).enumerate() {
                let (shape, elements) =
                    ragged::decode_row(from, &data[w[0] as usize..w[1] as usize])
                        .map_err(|e| Error::Schema(format!("column `{name}` row {row}: {e}")))?;
                let converted = convert(name, from, to, elements, |_| row)?;
                ragged::encode_row(&shape, &converted, &mut out);
                new_offsets.push(out.len() as u64);
            }
            Ok(ColumnData::Variable {
                dtype: to,
                offsets: Cow::Owned(new_offsets),
                data: Cow::Owned(out),
            })
        }
    }
}

/// numpy's kind order for `same_kind` casting: bool, then integers, then floats.
fn rank(d: DType) -> u8 {
    match d {
        DType::Bool => 0,
        DType::F16 | DType::F32 | DType::F64 => 2,
        _ => 1,
    }
}

/// One element read from its bytes: an integer (bool as 0/1) or a float.
#[derive(Clone, Copy)]
enum Value {
    Int(i128),
    Float(f64),
}

fn read(d: DType, b: &[u8]) -> Value {
    let arr = |n: usize| -> [u8; 8] {
        let mut a = [0u8; 8];
        a[..n].copy_from_slice(&b[..n]);
        a
    };
    match d {
        DType::Bool => Value::Int(i128::from(b[0] != 0)),
        DType::I8 => Value::Int(i128::from(b[0] as i8)),
        DType::U8 => Value::Int(i128::from(b[0])),
        DType::I16 => Value::Int(i128::from(i16::from_le_bytes([b[0], b[1]]))),
        DType::U16 => Value::Int(i128::from(u16::from_le_bytes([b[0], b[1]]))),
        DType::I32 => Value::Int(i128::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))),
        DType::U32 => Value::Int(i128::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))),
        DType::I64 => Value::Int(i128::from(i64::from_le_bytes(arr(8)))),
        DType::U64 => Value::Int(i128::from(u64::from_le_bytes(arr(8)))),
        DType::F32 => Value::Float(f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]]))),
        DType::F64 => Value::Float(f64::from_le_bytes(arr(8))),
        other => unreachable!("{other} is not converted (refused before)"),
    }
}

/// The integer range of an integer dtype.
fn int_range(d: DType) -> (i128, i128) {
    match d {
        DType::I8 => (i8::MIN.into(), i8::MAX.into()),
        DType::U8 => (0, u8::MAX.into()),
        DType::I16 => (i16::MIN.into(), i16::MAX.into()),
        DType::U16 => (0, u16::MAX.into()),
        DType::I32 => (i32::MIN.into(), i32::MAX.into()),
        DType::U32 => (0, u32::MAX.into()),
        DType::I64 => (i64::MIN.into(), i64::MAX.into()),
        DType::U64 => (0, u64::MAX.into()),
        other => unreachable!("{other} is not an integer dtype"),
    }
}

/// The elements `src` (of dtype `from`) as `to`'s bytes; `row_of(i)` names element `i`'s row
/// in an error.
fn convert(
    name: &str,
    from: DType,
    to: DType,
    src: &[u8],
    row_of: impl Fn(usize) -> usize,
) -> Result<Vec<u8>> {
    let (fs, ts) = (
        from.itemsize().expect("a number"),
        to.itemsize().expect("a number"),
    );
    let mut out = Vec::with_capacity(src.len() / fs * ts);
    for (i, b) in src.chunks_exact(fs).enumerate() {
        let too_big = |v: String, holds: String| {
            Error::Schema(format!(
                "column `{name}` is {to}, got {from} values that do not fit: row {} holds {v} \
                 ({to} holds {holds})",
                row_of(i)
            ))
        };
        match (read(from, b), to) {
            (Value::Int(v), float @ (DType::F32 | DType::F64)) => {
                // Integers a float holds exactly, as pyarrow's safe cast checks (|v| <= 2^24 for
                // float32, 2^53 for float64); past that, rounding would change the value.
                let exact: i128 = if float == DType::F32 {
                    1 << 24
                } else {
                    1 << 53
                };
                if v.abs() > exact {
                    return Err(too_big(
                        v.to_string(),
                        format!("integers {}..={exact} exactly", -exact),
                    ));
                }
                if float == DType::F32 {
                    out.extend_from_slice(&(v as f32).to_le_bytes())
                } else {
                    out.extend_from_slice(&(v as f64).to_le_bytes())
                }
            }
            (Value::Float(v), DType::F32) => {
                if v.is_finite() && v.abs() > f64::from(f32::MAX) {
                    return Err(too_big(
                        v.to_string(),
                        format!("at most {:e} in magnitude", f32::MAX),
                    ));
                }
                out.extend_from_slice(&(v as f32).to_le_bytes())
            }
            (Value::Float(v), DType::F64) => out.extend_from_slice(&v.to_le_bytes()),
            (Value::Int(v), int) => {
                let (lo, hi) = int_range(int);
                if v < lo || v > hi {
                    return Err(too_big(v.to_string(), format!("{lo}..={hi}")));
                }
                out.extend_from_slice(&v.to_le_bytes()[..ts]);
            }
            (Value::Float(_), other) => unreachable!("float to {other} is refused before"),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(dtype: DType) -> Column {
        Column::new("a", dtype, vec![])
    }

    #[test]
    fn integers_narrow_when_they_fit_and_name_the_row_when_not() {
        let v: Vec<i64> = vec![1, -2, 2_147_483_647];
        let got =
            cast_to_declared(&col(DType::I32), ColumnData::from_slice(&v, &[]).unwrap()).unwrap();
        assert_eq!(got.to_vec::<i32>().unwrap(), vec![1, -2, i32::MAX]);
        let v: Vec<i64> = vec![0, 1, 2_147_483_648];
        let err = cast_to_declared(&col(DType::I32), ColumnData::from_slice(&v, &[]).unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("column `a` is int32, got int64")
                && err.contains("row 2 holds 2147483648"),
            "{err}"
        );
        let neg: Vec<i64> = vec![-1];
        assert!(
            cast_to_declared(&col(DType::U8), ColumnData::from_slice(&neg, &[]).unwrap()).is_err()
        );
    }

    #[test]
    fn floats_narrow_and_kinds_never_go_back() {
        let v: Vec<f64> = vec![0.1, -1e30, f64::INFINITY];
        let got =
            cast_to_declared(&col(DType::F32), ColumnData::from_slice(&v, &[]).unwrap()).unwrap();
        assert_eq!(
            got.to_vec::<f32>().unwrap(),
            vec![0.1f32, -1e30f32, f32::INFINITY]
        );
        let big: Vec<f64> = vec![1e300];
        assert!(
            cast_to_declared(&col(DType::F32), ColumnData::from_slice(&big, &[]).unwrap()).is_err()
        );
        let err = cast_to_declared(&col(DType::I64), ColumnData::from_slice(&v, &[]).unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("column `a` is int64, got float64") && err.contains("same_kind"),
            "{err}"
        );
        let ints: Vec<i64> = vec![1];
        assert!(cast_to_declared(
            &col(DType::Bool),
            ColumnData::from_slice(&ints, &[]).unwrap()
        )
        .is_err());
        let b = vec![true, false];
        let got =
            cast_to_declared(&col(DType::F64), ColumnData::from_slice(&b, &[]).unwrap()).unwrap();
        assert_eq!(got.to_vec::<f64>().unwrap(), vec![1.0, 0.0]);
    }

    #[test]
    fn variable_shape_rows_keep_their_shapes() {
        let v: Vec<i64> = vec![1, 2, 3, 4, 5, 6];
        let fixed = ColumnData::from_slice(&v, &[3]).unwrap();
        let ragged_rows = ragged::from_fixed(DType::I64, &[3], 2, fixed.data());
        let c = Column::variable_shape("a", DType::I16, 1);
        let got = cast_to_declared(&c, ragged_rows).unwrap();
        let want = ragged::from_fixed(
            DType::I16,
            &[3],
            2,
            ColumnData::from_slice(&[1i16, 2, 3, 4, 5, 6], &[3])
                .unwrap()
                .data(),
        );
        assert_eq!(got, want);
    }
}
