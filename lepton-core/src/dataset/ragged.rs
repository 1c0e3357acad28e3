//! Variable-shape tensor columns: one dtype and one rank, each row an array of its own shape
//! (token-id lists of different lengths, images of different sizes).
//!
//! Such a column is stored like a `bytes` column (offsets, then the rows' bytes back to back; see
//! `docs/dataset-format.md`), each row being `ndim` as a little-endian u64, the `ndim` dimensions
//! as little-endian u64s, then the elements in C order. A manifest with such a column has format
//! version 2, so that a reader of version 1 refuses it with "unsupported format version" rather
//! than misreading the rows.

use std::borrow::Cow;

use super::schema::{ColumnData, DType};

/// The bytes of one row of shape `shape` whose elements are `elements` (little-endian, C order).
pub fn encode_row(shape: &[u64], elements: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&(shape.len() as u64).to_le_bytes());
    for d in shape {
        out.extend_from_slice(&d.to_le_bytes());
    }
    out.extend_from_slice(elements);
}

/// Row `bytes` split into its shape and its elements; `Err` says what is malformed.
pub fn decode_row(dtype: DType, bytes: &[u8]) -> Result<(Vec<u64>, &[u8]), String> {
    let word = |i: usize| -> Result<u64, String> {
        bytes
            .get(i * 8..i * 8 + 8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
            .ok_or_else(|| "a row is shorter than its shape header".to_string())
    };
    let ndim = word(0)?;
    if ndim > 32 {
        return Err(format!("a row claims {ndim} dimensions (at most 32)"));
    }
    let shape: Vec<u64> = (1..=ndim as usize).map(word).collect::<Result<_, _>>()?;
    let itemsize = dtype
        .itemsize()
        .ok_or_else(|| format!("{dtype} cannot be a variable-shape tensor"))?
        as u64;
    let body = &bytes[(ndim as usize + 1) * 8..];
    let want = shape
        .iter()
        .try_fold(itemsize, |acc, &d| acc.checked_mul(d))
        .ok_or("a row's shape overflows")?;
    if want != body.len() as u64 {
        return Err(format!(
            "a row of shape {shape:?} needs {want} bytes of {dtype}, it holds {}",
            body.len()
        ));
    }
    Ok((shape, body))
}

/// Checks every row of a variable-shape column of `dtype` (row `i` is
/// `data[offsets[i]..offsets[i + 1]]`, offsets already checked) and returns their common number
/// of dimensions (`None` without rows).
pub fn check_rows(dtype: DType, offsets: &[u64], data: &[u8]) -> Result<Option<u32>, String> {
    let mut ndim = None;
    for (i, w) in offsets.windows(2).enumerate() {
        let (shape, _) = decode_row(dtype, &data[w[0] as usize..w[1] as usize])
            .map_err(|e| format!("row {i}: {e}"))?;
        match ndim {
            None => ndim = Some(shape.len() as u32),
            Some(n) if n as usize != shape.len() => {
                return Err(format!(
                    "row {i} has {} dimensions, row 0 has {n}: every row of a variable-shape column has the same rank",
                    shape.len()
                ))
            }
            Some(_) => {}
        }
    }
    Ok(ndim)
}

/// Fixed-shape rows (`rows × row_shape` elements of a fixed dtype) re-encoded as the rows of a
/// variable-shape column: a later batch whose rows happen to share one shape.
pub fn from_fixed(
    dtype: DType,
    row_shape: &[u64],
    rows: usize,
    data: &[u8],
) -> ColumnData<'static> {
    let row_bytes = data.len().checked_div(rows).unwrap_or(0);
    let mut out = Vec::with_capacity(data.len() + rows * 8 * (row_shape.len() + 1));
    let mut offsets = Vec::with_capacity(rows + 1);
    offsets.push(0u64);
    for r in 0..rows {
        encode_row(
            row_shape,
            &data[r * row_bytes..(r + 1) * row_bytes],
            &mut out,
        );
        offsets.push(out.len() as u64);
    }
    ColumnData::Variable {
        dtype,
        offsets: Cow::Owned(offsets),
        data: Cow::Owned(out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_and_malformed_rows_are_refused() {
        let mut data = Vec::new();
        let mut offsets = vec![0u64];
        for (shape, n) in [([2u64, 3u64], 6usize), ([1, 0], 0), ([4, 1], 4)] {
            let elems: Vec<u8> = (0..n * 4).map(|b| b as u8).collect();
            encode_row(&shape, &elems, &mut data);
            offsets.push(data.len() as u64);
        }
        assert_eq!(check_rows(DType::F32, &offsets, &data), Ok(Some(2)));
        let (shape, body) = decode_row(DType::F32, &data[..offsets[1] as usize]).unwrap();
        assert_eq!((shape, body.len()), (vec![2, 3], 24));
        // One element short, a rank that changes, a string dtype.
        assert!(check_rows(
            DType::F32,
            &[0, offsets[1] - 1],
            &data[..offsets[1] as usize - 1]
        )
        .is_err());
        let mut other = data.clone();
        encode_row(&[3], &[0; 12], &mut other);
        let mut o2 = offsets.clone();
        o2.push(other.len() as u64);
        assert!(check_rows(DType::F32, &o2, &other)
            .unwrap_err()
            .contains("same rank"));
        assert!(decode_row(DType::String, &data).is_err());
    }
}
