//! Values beyond plain tensors, as ONNX has them: sequences, maps and absent optionals (what
//! scikit-learn classifiers exported with ZipMap return, what `SequenceConstruct`,
//! `ConcatFromSequence` or `Optional*` nodes take and give).

use super::tensor::{Tensor, TensorView};

/// A model output (or an owned input) of any ONNX type.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Value {
    /// A tensor.
    Tensor(Tensor),
    /// A sequence of values (tensors or maps), possibly of different shapes.
    Sequence(Vec<Value>),
    /// A map: keys and values as two 1-D tensors of the same length (keys int64 or str).
    Map(Map),
    /// An optional value that is absent (onnxruntime's Python API returns `None`).
    None,
}

impl Value {
    /// The tensor, if this is one.
    pub fn as_tensor(&self) -> Option<&Tensor> {
        match self {
            Value::Tensor(t) => Some(t),
            _ => None,
        }
    }

    /// The elements, if this is a sequence.
    pub fn as_sequence(&self) -> Option<&[Value]> {
        match self {
            Value::Sequence(v) => Some(v),
            _ => None,
        }
    }

    /// The map, if this is one.
    pub fn as_map(&self) -> Option<&Map> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// What kind of value it is, for messages: `tensor`, `sequence`, `map`, `none`.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Tensor(_) => "tensor",
            Value::Sequence(_) => "sequence",
            Value::Map(_) => "map",
            Value::None => "none",
        }
    }
}

/// An ONNX map: `keys[i]` maps to `values[i]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Map {
    /// The keys, a 1-D tensor (int64 or str, as ONNX Runtime produces them).
    pub keys: Tensor,
    /// The values, a 1-D tensor of the same length.
    pub values: Tensor,
}

/// A model input of any ONNX type, borrowed where it can be (tensor elements are not copied).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Input<'a> {
    /// A tensor.
    Tensor(TensorView<'a>),
    /// A sequence of tensors (they may differ in shape), for a `seq(tensor)` input.
    Sequence(Vec<TensorView<'a>>),
    /// A map from 1-D `keys` to 1-D `values` of the same length, for a `map(k, v)` input.
    Map {
        /// The keys (int64 or str).
        keys: TensorView<'a>,
        /// The values.
        values: TensorView<'a>,
    },
    /// No value, for an `optional(...)` input (the same as leaving the input out).
    None,
}

impl Input<'_> {
    /// What kind of input it is, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Input::Tensor(_) => "tensor",
            Input::Sequence(_) => "sequence",
            Input::Map { .. } => "map",
            Input::None => "none",
        }
    }
}

impl<'a> From<TensorView<'a>> for Input<'a> {
    fn from(v: TensorView<'a>) -> Self {
        Input::Tensor(v)
    }
}

impl<'a> From<&'a Tensor> for Input<'a> {
    fn from(t: &'a Tensor) -> Self {
        Input::Tensor(t.view())
    }
}
