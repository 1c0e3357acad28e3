//! The one element type shared by models and datasets: [`DType`], its names (numpy's for numbers,
//! `string`/`bytes` for variable-length values, as dataset manifests spell them) and the Rust
//! types that map to it ([`Element`]).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{Error, Result};

/// The element type of a tensor or a dataset column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DType {
    /// `float32`: IEEE 754 single precision.
    F32,
    /// `float16`: IEEE 754 half precision, held as its bits ([`crate::model::F16`]).
    F16,
    /// `float64`: IEEE 754 double precision.
    F64,
    /// `int8`
    I8,
    /// `int16`
    I16,
    /// `int32`
    I32,
    /// `int64`
    I64,
    /// `uint8`
    U8,
    /// `uint16`
    U16,
    /// `uint32`
    U32,
    /// `uint64`
    U64,
    /// `bool`: one byte per element, 0 or 1.
    Bool,
    /// `string`: a variable-length UTF-8 string per element.
    String,
    /// `bytes`: a variable-length byte string per element (dataset columns only: ONNX has no
    /// bytes tensor).
    Bytes,
}

impl DType {
    /// Every dtype, in the order error messages list them.
    pub const ALL: [DType; 14] = [
        DType::Bool,
        DType::I8,
        DType::I16,
        DType::I32,
        DType::I64,
        DType::U8,
        DType::U16,
        DType::U32,
        DType::U64,
        DType::F16,
        DType::F32,
        DType::F64,
        DType::Bytes,
        DType::String,
    ];

    /// The name used in manifests, by numpy for numbers and in messages (`float32`, `int64`,
    /// `bool`, ...; `string`, `bytes`).
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "float32",
            DType::F16 => "float16",
            DType::F64 => "float64",
            DType::I8 => "int8",
            DType::I16 => "int16",
            DType::I32 => "int32",
            DType::I64 => "int64",
            DType::U8 => "uint8",
            DType::U16 => "uint16",
            DType::U32 => "uint32",
            DType::U64 => "uint64",
            DType::Bool => "bool",
            DType::String => "string",
            DType::Bytes => "bytes",
        }
    }

    /// Parses a dtype name (see [`DType::name`]); an unknown one is [`Error::Schema`] listing
    /// the supported names.
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

    /// The dtype of an array whose element type is given the array-interface way (numpy's
    /// `dtype.kind` character and `itemsize`): `f`/`i`/`u`/`b` with their size, or a text or
    /// object array (`U`, `S`, `O`) as [`DType::String`]; `None` for what a model can't take.
    pub fn from_array_kind(kind: u8, itemsize: usize) -> Option<DType> {
        let family = match kind {
            b'U' | b'S' | b'O' => return Some(DType::String),
            b'f' => "float",
            b'i' => "int",
            b'u' => "uint",
            b'b' => "bool",
            _ => return None,
        };
        DType::ALL.into_iter().find(|d| {
            d.itemsize() == Some(itemsize) && d.name().trim_end_matches(char::is_numeric) == family
        })
    }

    /// Bytes per element, `None` for the variable-length `string` and `bytes`.
    pub fn itemsize(self) -> Option<usize> {
        match self {
            DType::Bool | DType::I8 | DType::U8 => Some(1),
            DType::F16 | DType::I16 | DType::U16 => Some(2),
            DType::F32 | DType::I32 | DType::U32 => Some(4),
            DType::F64 | DType::I64 | DType::U64 => Some(8),
            DType::String | DType::Bytes => None,
        }
    }

    /// Whether elements are variable-length (`string`, `bytes`).
    pub fn is_variable(self) -> bool {
        self.itemsize().is_none()
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Manifests store a dtype as its [`DType::name`].
impl Serialize for DType {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for DType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<DType, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        DType::parse(&name).map_err(serde::de::Error::custom)
    }
}

/// A Rust number type (or `bool`, [`crate::model::F16`]) that maps to one fixed-size [`DType`]:
/// what tensors and dataset columns are built from without copying.
///
/// Sealed: implemented for the primitive integers and floats, `bool` and `F16`, which have no
/// padding and whose size is the dtype's itemsize.
pub trait Element: Copy + Send + Sync + 'static + sealed::Sealed {
    /// Its dtype.
    const DTYPE: DType;
    #[doc(hidden)]
    fn wrap(v: Vec<Self>) -> crate::model::TensorData;
    #[doc(hidden)]
    fn slice(d: &crate::model::TensorData) -> Option<&[Self]>;
    #[doc(hidden)]
    fn unwrap(
        d: crate::model::TensorData,
    ) -> std::result::Result<Vec<Self>, crate::model::TensorData>;
}

pub(crate) mod sealed {
    pub trait Sealed {}
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names manifests written so far hold; they must keep parsing to the same dtypes.
    const MANIFEST_NAMES: &str = r#"["bool","int8","int16","int32","int64","uint8","uint16",
        "uint32","uint64","float16","float32","float64","bytes","string"]"#;

    #[test]
    fn manifest_names_read_unchanged() {
        let read: Vec<DType> = serde_json::from_str(MANIFEST_NAMES).unwrap();
        assert_eq!(read, DType::ALL);
        let written = serde_json::to_string(&read).unwrap();
        let again: Vec<String> = serde_json::from_str(&written).unwrap();
        let literal: Vec<String> = serde_json::from_str(MANIFEST_NAMES).unwrap();
        assert_eq!(again, literal);
    }

    #[test]
    fn unknown_names_are_refused_with_the_list() {
        let err = serde_json::from_str::<DType>(r#""str""#).unwrap_err();
        assert!(
            err.to_string()
                .contains("unsupported dtype `str`; supported: bool, int8"),
            "{err}"
        );
    }

    #[test]
    fn itemsize_matches_the_rust_type() {
        assert_eq!(DType::F16.itemsize(), Some(std::mem::size_of::<u16>()));
        assert_eq!(DType::Bool.itemsize(), Some(std::mem::size_of::<bool>()));
        assert!(DType::String.is_variable() && DType::Bytes.is_variable());
        assert!(!DType::U64.is_variable());
    }

    #[test]
    fn array_kinds_map_as_numpy_spells_them() {
        // numpy: np.dtype(name).kind and .itemsize for each name
        let numpy = "f2 float16, f4 float32, f8 float64, i1 int8, i8 int64, u2 uint16, b1 bool";
        for entry in numpy.split(", ") {
            let (code, name) = entry.split_once(' ').unwrap();
            let size: usize = code[1..].parse().unwrap();
            let got = DType::from_array_kind(code.as_bytes()[0], size).map(DType::name);
            assert_eq!(got, Some(name), "{code}");
        }
        assert_eq!(DType::from_array_kind(b'O', 8), Some(DType::String));
        assert_eq!(DType::from_array_kind(b'c', 8), None); // complex64
        assert_eq!(DType::from_array_kind(b'f', 16), None); // longdouble
    }
}
