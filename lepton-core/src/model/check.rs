//! A quick structural check of ONNX bytes before ONNX Runtime sees them, so that an empty file, a
//! truncated download or a file that is not ONNX at all gets a message that says which, instead of
//! protobuf's "parsing failed".
//!
//! Only the top level of `ModelProto` is walked (tags and lengths; payloads are skipped), which is
//! cheap even for large models.

/// ModelProto's `graph` field number.
const GRAPH_FIELD: u64 = 7;

/// Whether `bytes` is a model in ONNX Runtime's own `.ort` format (a FlatBuffer whose file
/// identifier, bytes 4..8, is `ORTM`); ONNX Runtime reads those from bytes or path directly.
pub(crate) fn is_ort_format(bytes: &[u8]) -> bool {
    bytes.len() >= 8 && &bytes[4..8] == b"ORTM"
}

/// Why `bytes` is neither an ORT-format model nor (at its top level) an ONNX model; `None`
/// when it is one of them: what the registry checks before it stores a pushed model.
pub(crate) fn model_bytes_problem(bytes: &[u8]) -> Option<String> {
    if is_ort_format(bytes) {
        return None;
    }
    onnx_problem(bytes)
}

/// Returns why `bytes` cannot be an ONNX model, or `None` if the top level looks right.
pub(crate) fn onnx_problem(bytes: &[u8]) -> Option<String> {
    if bytes.is_empty() {
        return Some("it is empty (0 bytes); an ONNX model is a serialized ModelProto".into());
    }
    let not_onnx = |what: &str| {
        Some(format!(
            "not an ONNX model ({what}); expected a serialized ModelProto (.onnx)"
        ))
    };
    let mut pos = 0usize;
    let mut has_graph = false;
    while pos < bytes.len() {
        let field_start = pos;
        let Some(tag) = varint(bytes, &mut pos) else {
            return truncated_or(bytes, field_start, not_onnx("bad field tag"));
        };
        let (field, wire) = (tag >> 3, tag & 7);
        if field == 0 {
            return not_onnx(&format!("field number 0 at byte {field_start}"));
        }
        match wire {
            0 => {
                if varint(bytes, &mut pos).is_none() {
                    return truncated_or(bytes, field_start, not_onnx("bad varint"));
                }
            }
            1 => pos += 8,
            5 => pos += 4,
            2 => {
                let Some(len) = varint(bytes, &mut pos) else {
                    return truncated_or(bytes, field_start, not_onnx("bad length"));
                };
                let end = usize::try_from(len).ok().and_then(|l| pos.checked_add(l));
                match end {
                    Some(end) if end <= bytes.len() => pos = end,
                    _ if field <= 30 && len < (1 << 40) => {
                        return Some(format!(
                        "it is truncated: field {field} at byte {field_start} needs {len} bytes \
                             but the data ends at byte {}; re-download or re-export the model",
                        bytes.len()
                    ))
                    }
                    _ => return not_onnx(&format!("impossible length at byte {field_start}")),
                }
                if field == GRAPH_FIELD {
                    has_graph = true;
                }
            }
            _ => return not_onnx(&format!("invalid wire type {wire} at byte {field_start}")),
        }
        if pos > bytes.len() {
            return Some(format!(
                "it is truncated: the data ends inside field {field} at byte {field_start}"
            ));
        }
    }
    if !has_graph {
        return not_onnx("it has no graph");
    }
    None
}

/// A varint that ran off the end means truncation if the bytes before it parsed as ONNX.
fn truncated_or(bytes: &[u8], at: usize, otherwise: Option<String>) -> Option<String> {
    if at > 0 && bytes.len() - at < 10 {
        return Some(format!(
            "it is truncated: the data ends inside a field header at byte {at}"
        ));
    }
    otherwise
}

/// Reads one protobuf varint at `*pos`, advancing it; `None` when truncated or over 64 bits.
pub(super) fn varint(bytes: &[u8], pos: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *bytes.get(*pos)?;
        *pos += 1;
        value |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ir_version = 8, graph = {} (empty message).
    const MINIMAL: &[u8] = &[0x08, 0x08, 0x3a, 0x00];

    #[test]
    fn accepts_minimal_model() {
        assert_eq!(onnx_problem(MINIMAL), None);
    }

    #[test]
    fn names_each_problem() {
        assert!(onnx_problem(b"").unwrap().starts_with("it is empty"));
        let text = onnx_problem(b"hello, this is a text file\n").unwrap();
        assert!(text.starts_with("not an ONNX model"), "{text}");
        let png = onnx_problem(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR").unwrap();
        assert!(png.starts_with("not an ONNX model"), "{png}");
        // graph claims 16 bytes, 2 present
        let cut = onnx_problem(&[0x08, 0x08, 0x3a, 0x10, 0x01, 0x02]).unwrap();
        assert!(cut.starts_with("it is truncated: field 7"), "{cut}");
        assert!(onnx_problem(&[0x08, 0x08]).unwrap().contains("no graph"));
    }
}
