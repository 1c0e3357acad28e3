//! A model's signature: its inputs, overridable initializers and outputs as ONNX Runtime
//! declares them ([`TensorInfo`]), and the checks of a feed against them (kind, dtype, rank, fixed
//! dimensions, names, nothing missing or given twice) before anything reaches ONNX Runtime.

use std::fmt;

use super::convert;
use super::session::Model;
use super::tensor::{DType, TensorView};
use super::value::Input;
use crate::{Error, Result};

/// One dimension of a declared input/output shape.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Dim {
    /// A fixed size.
    Fixed(u64),
    /// A named, free dimension (e.g. `batch`).
    Symbolic(String),
    /// A free dimension without a name.
    Unknown,
}

impl fmt::Display for Dim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dim::Fixed(d) => write!(f, "{d}"),
            Dim::Symbolic(s) => f.write_str(s),
            Dim::Unknown => f.write_str("?"),
        }
    }
}

/// What an input or output holds (inside `optional(...)` when [`TensorInfo::is_optional`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IoKind {
    /// A tensor.
    Tensor,
    /// A sequence (of tensors or maps).
    Sequence,
    /// A map.
    Map,
    /// Anything else (opaque types).
    Other,
}

/// A model input or output: name, element type and declared shape.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    pub(super) name: String,
    pub(super) dtype: Option<DType>,
    pub(super) onnx_type: String,
    pub(super) shape: Vec<Dim>,
    pub(super) kind: IoKind,
    pub(super) optional: bool,
}

impl TensorInfo {
    /// The name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The element type of a tensor (or of a sequence's tensors, or of a map's values); `None`
    /// for a type lepton cannot exchange (bfloat16...). [`TensorInfo::onnx_type`] says what it is and
    /// [`TensorInfo::kind`] which kind of value it is.
    pub fn dtype(&self) -> Option<DType> {
        self.dtype
    }

    /// ONNX Runtime's description of the type (e.g. `Tensor<f32>`).
    pub fn onnx_type(&self) -> &str {
        &self.onnx_type
    }

    /// The declared shape (empty for a scalar or a non-tensor).
    pub fn shape(&self) -> &[Dim] {
        &self.shape
    }

    /// Tensor, sequence, map or other (of the contained type for an optional).
    pub fn kind(&self) -> IoKind {
        self.kind
    }

    /// Whether the type is `optional(...)`: such an input may be left out (or given as
    /// [`Input::None`]) and such an output may come back as [`Value::None`].
    pub fn is_optional(&self) -> bool {
        self.optional
    }

    pub(super) fn type_text(&self) -> String {
        match self.dtype {
            Some(d) => format!("{d} {}", shape_text(&self.shape)),
            None => self.onnx_type.clone(),
        }
    }
}

impl fmt::Display for TensorInfo {
    /// `x: float32 [batch, 30]`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name, self.type_text())
    }
}

fn shape_text(shape: &[Dim]) -> String {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    format!("[{}]", dims.join(", "))
}

fn names(infos: &[TensorInfo]) -> String {
    let v: Vec<String> = infos.iter().map(|i| format!("`{}`", i.name)).collect();
    if v.is_empty() {
        "(none)".into()
    } else {
        v.join(", ")
    }
}

/// How an input is addressed in [`Model::run_with`]: by position or by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKey<'k> {
    /// The input's position in [`Model::inputs`].
    Index(usize),
    /// The input's name.
    Name(&'k str),
}

impl From<usize> for InputKey<'_> {
    fn from(i: usize) -> Self {
        InputKey::Index(i)
    }
}

impl<'k> From<&'k str> for InputKey<'k> {
    fn from(s: &'k str) -> Self {
        InputKey::Name(s)
    }
}

impl Model {
    /// Input `slot`: an input, or past them an overridable initializer.
    pub(super) fn input_info(&self, slot: usize) -> &TensorInfo {
        self.inputs
            .get(slot)
            .unwrap_or_else(|| &self.initializers[slot - self.inputs.len()])
    }

    /// Checks inputs against the signature and returns them with their slot (position among
    /// inputs, then overridable initializers), in the model's order. Absent optional inputs
    /// and initializers left out are not returned.
    pub(super) fn order_inputs<'v>(
        &self,
        inputs: Vec<(InputKey<'_>, Input<'v>)>,
    ) -> Result<Vec<(usize, Input<'v>)>> {
        let n = self.inputs.len();
        let total = n + self.initializers.len();
        if inputs.len() > total {
            return Err(Error::InvalidInput(format!(
                "too many inputs: the model takes {n} ({}){}, got {}",
                names_of(&self.inputs),
                if self.initializers.is_empty() {
                    String::new()
                } else {
                    format!(" and may override {} initializers", self.initializers.len())
                },
                inputs.len()
            )));
        }
        let mut slots: Vec<Option<Input<'v>>> = vec![None; total];
        for (key, value) in inputs {
            let i = match key {
                InputKey::Index(i) if i < n => i,
                InputKey::Index(i) => {
                    return Err(Error::InvalidInput(format!(
                        "input position {i} is out of range: the model takes {n} ({})",
                        names_of(&self.inputs)
                    )))
                }
                InputKey::Name(name) => self
                    .inputs
                    .iter()
                    .chain(&self.initializers)
                    .position(|info| info.name == name)
                    .ok_or_else(|| {
                        Error::InvalidInput(format!(
                            "unknown input `{name}`; the model's inputs are {}{}",
                            names_of(&self.inputs),
                            if self.initializers.is_empty() {
                                String::new()
                            } else {
                                format!(
                                    " (initializers that may be overridden: {})",
                                    names_of(&self.initializers)
                                )
                            }
                        ))
                    })?,
            };
            if slots[i].is_some() {
                return Err(Error::InvalidInput(format!(
                    "input `{}` is given twice",
                    self.input_info(i).name
                )));
            }
            check_value(self.input_info(i), &value)?;
            slots[i] = Some(value);
        }
        let mut ordered = Vec::with_capacity(total);
        for (i, v) in slots.into_iter().enumerate() {
            match v {
                Some(v) => ordered.push((i, v)),
                None if i >= n || self.inputs[i].optional => {}
                None => {
                    let info = &self.inputs[i];
                    return Err(Error::InvalidInput(format!(
                        "missing input `{}` ({}); the model's inputs are {}",
                        info.name,
                        info.type_text(),
                        names_of(&self.inputs)
                    )));
                }
            }
        }
        Ok(ordered)
    }
}

pub(super) fn names_of(infos: &[TensorInfo]) -> String {
    names(infos)
}

/// Checks one input value's kind (and a tensor's dtype and shape) against its declaration.
fn check_value(info: &TensorInfo, value: &Input<'_>) -> Result<()> {
    let name = &info.name;
    let wrong = |what: &str| {
        Err(Error::InvalidInput(format!(
            "input `{name}` has type {}; {what}",
            info.onnx_type
        )))
    };
    match (value, info.kind) {
        (Input::None, _) if info.optional => Ok(()),
        (Input::None, _) => wrong("it is not optional, so it needs a value"),
        (Input::Tensor(view), IoKind::Tensor) => check_input(info, view),
        (Input::Sequence(items), IoKind::Sequence) => {
            if let Some(expected) = info.dtype {
                if let Some(bad) = items.iter().position(|v| v.dtype != expected) {
                    return Err(Error::InvalidInput(format!(
                        "input `{name}`: element {bad} of the sequence has dtype {}, expected \
                         {expected}",
                        items[bad].dtype
                    )));
                }
            }
            Ok(())
        }
        (Input::Map { keys, values }, IoKind::Map) => {
            if keys.shape.len() != 1 || keys.shape != values.shape {
                return Err(Error::InvalidInput(format!(
                    "input `{name}`: map keys and values must be 1-D and of the same length \
                     (got shapes {:?} and {:?})",
                    keys.shape, values.shape
                )));
            }
            Ok(())
        }
        (_, IoKind::Sequence) => wrong("pass a list of arrays"),
        (_, IoKind::Map) => wrong("pass a dict"),
        (_, IoKind::Tensor) => wrong(&format!("pass an array, not a {}", value.kind())),
        (_, _) => wrong("lepton cannot pass values of this type"),
    }
}

/// Checks one input's dtype, rank and fixed dimensions against its declaration.
fn check_input(info: &TensorInfo, view: &TensorView<'_>) -> Result<()> {
    let name = &info.name;
    let Some(expected) = info.dtype else {
        return Err(Error::InvalidInput(format!(
            "input `{name}` has type {}, which lepton cannot pass yet",
            info.onnx_type
        )));
    };
    if view.dtype != expected {
        // The hint names the dtype to convert to, not a call: each binding knows its own.
        return Err(Error::InvalidInput(format!(
            "input `{name}`: expected dtype {expected}, got {}; convert the input to {expected}",
            view.dtype
        )));
    }
    // A declared rank of 0 may also mean "shape unknown": leave that to ONNX Runtime.
    if info.shape.is_empty() {
        return Ok(());
    }
    let got = &view.shape;
    if got.len() != info.shape.len() {
        return Err(Error::InvalidInput(format!(
            "input `{name}`: expected rank {} (shape {}), got rank {} (shape {got:?})",
            info.shape.len(),
            shape_text(&info.shape),
            got.len()
        )));
    }
    for (axis, (dim, &g)) in info.shape.iter().zip(got).enumerate() {
        if let Dim::Fixed(d) = dim {
            if *d as i64 != g {
                return Err(Error::InvalidInput(format!(
                    "input `{name}`: expected shape {}, got {got:?} (dimension {axis} must be {d})",
                    shape_text(&info.shape)
                )));
            }
        }
    }
    Ok(())
}

pub(super) fn tensor_info(name: &str, ty: &ort::value::ValueType) -> TensorInfo {
    use ort::value::ValueType;
    let onnx_type = ty.to_string();
    let (inner, optional) = match ty {
        ValueType::Optional(inner) => (inner.as_ref(), true),
        other => (other, false),
    };
    let (dtype, shape, kind) = match inner {
        ValueType::Tensor {
            ty,
            shape,
            dimension_symbols,
        } => {
            let dims = shape
                .iter()
                .zip(dimension_symbols.iter())
                .map(|(&d, sym)| {
                    if d >= 0 {
                        Dim::Fixed(d as u64)
                    } else if !sym.is_empty() {
                        Dim::Symbolic(sym.clone())
                    } else {
                        Dim::Unknown
                    }
                })
                .collect();
            (convert::from_ort_element(*ty), dims, IoKind::Tensor)
        }
        ValueType::Sequence(element) => {
            let dtype = match element.as_ref() {
                ValueType::Tensor { ty, .. } => convert::from_ort_element(*ty),
                _ => None,
            };
            (dtype, Vec::new(), IoKind::Sequence)
        }
        ValueType::Map { value, .. } => {
            (convert::from_ort_element(*value), Vec::new(), IoKind::Map)
        }
        _ => (None, Vec::new(), IoKind::Other),
    };
    TensorInfo {
        name: name.to_string(),
        dtype,
        onnx_type,
        shape,
        kind,
        optional,
    }
}
