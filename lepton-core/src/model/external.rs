//! ONNX external data (weights in side files, `onnx.save(..., save_as_external_data=True)`):
//! the side files are read and their bytes put back into the model (`raw_data`), so the model
//! ONNX Runtime gets, the bytes [`Model::bytes`](super::Model::bytes) returns, `save` writes and
//! the registry stores are one self-contained ModelProto.
//!
//! Why inline rather than let ONNX Runtime open the side files: a session created from bytes
//! resolves side files against the process's working directory (so a model could silently pick up
//! another folder's `model.onnx_data`), the C API of ONNX Runtime 1.17 (lepton's floor) has no
//! call that hands it side files from memory (`AddExternalInitializersFromFilesInMemory` is 1.18),
//! and an encrypted model must never have its weights decrypted onto disk. Inlining works for
//! every model below protobuf's 2 GiB limit; larger models are refused with a message saying so.
//!
//! Side files are resolved like onnxruntime resolves them: relative to the model file's folder
//! (or taken from a caller-given name → bytes map); absolute locations and `..` are refused.
//!
//! Past the limit (or past [`ModelOptions::inline_limit`](super::ModelOptions::inline_limit)),
//! [`split_external_data`] keeps the large initializers of the main graph external and lists
//! them ([`ExternalTensor`]); their bytes go to ONNX Runtime as external initializers
//! (`AddExternalInitializers`, C API 1.17) straight from the side files or the registry's weights
//! objects, never through protobuf. Small tensors, subgraph and attribute tensors are still put
//! inline (ONNX Runtime injects main-graph initializers only).
//!
//! Only the protobuf structure on the path to each tensor is rewritten (ModelProto → graphs →
//! initializers, node attributes, subgraphs, sparse tensors, functions); every other byte is
//! copied as it is.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

use super::check::varint;
use crate::{Error, Result};

/// protobuf's hard limit on one serialized message, which ONNX Runtime enforces on model bytes.
pub const PROTOBUF_LIMIT: usize = (1 << 31) - 1;

/// Where side files come from.
pub enum SideFiles<'a> {
    /// A folder (the model file's): `location` is resolved relative to it.
    Dir(&'a Path),
    /// Side files given by name (the `location` written in the model), e.g. loaded from memory.
    Given(&'a HashMap<String, Vec<u8>>),
    /// None: a model that references external data is an error.
    None,
}

/// The bytes of the model file at `path`, and the folder its side files are relative to (its
/// own). A missing file is [`Error::NotFound`].
pub fn read_model_path(path: &Path) -> Result<(Vec<u8>, &Path)> {
    let bytes = std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::NotFound {
            what: format!("model file `{}`", path.display()),
            hint: Some("check the path (relative paths start at the working directory)".into()),
        },
        _ => Error::io(path, e),
    })?;
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    Ok((bytes, folder))
}

/// A main-graph initializer whose bytes stay outside the graph (see [`split_external_data`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExternalTensor {
    /// The initializer's name.
    pub name: String,
    /// ONNX `TensorProto.DataType` (1 = float, 7 = int64, ...).
    pub data_type: i32,
    /// The shape.
    pub dims: Vec<i64>,
    /// The side file (`location` in the model, relative to its folder).
    pub location: String,
    /// Byte offset of the data in the side file.
    pub offset: u64,
    /// Byte length of the data.
    pub length: u64,
}

/// Tensors smaller than this stay inline in [`split_external_data`]: ONNX Runtime's shape
/// inference may read small constants (shapes, axes) before external initializers are injected.
/// It is also the `onnx` package's own default threshold for external data.
pub const SPLIT_MIN_BYTES: u64 = 1024;

/// ONNX data types ONNX Runtime takes as external initializers here
/// ([`super::initializers::element`]).
fn injectable_type(data_type: i32) -> bool {
    super::initializers::element(data_type).is_some()
}

/// The kind of protobuf message being walked.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Model,
    Graph,
    Node,
    Attribute,
    Tensor,
    Sparse,
    Function,
}

impl Kind {
    /// The kind of a length-delimited child field, if it can contain tensors.
    fn child(self, field: u64) -> Option<Kind> {
        use Kind::*;
        Some(match (self, field) {
            (Model, 7) => Graph,
            (Model, 25) => Function,
            (Graph, 1) => Node,
            (Graph, 5) => Tensor,
            (Graph, 15) => Sparse,
            (Node, 5) => Attribute,
            (Function, 7) => Node,
            (Attribute, 5) | (Attribute, 10) => Tensor,
            (Attribute, 6) | (Attribute, 11) => Graph,
            (Attribute, 22) | (Attribute, 23) => Sparse,
            (Sparse, 1) | (Sparse, 2) => Tensor,
            _ => return None,
        })
    }
}

/// TensorProto fields.
const TENSOR_NAME: u64 = 8;
const TENSOR_RAW_DATA: u64 = 9;
const TENSOR_EXTERNAL_DATA: u64 = 13;
const TENSOR_DATA_LOCATION: u64 = 14;
const LOCATION_EXTERNAL: u64 = 1;

/// One field of a message: number, wire type, and its bytes (the whole field, header included)
/// plus the payload range for length-delimited fields.
struct Field<'b> {
    number: u64,
    wire: u64,
    whole: &'b [u8],
    payload: &'b [u8],
    varint: u64,
}

fn fields(msg: &[u8]) -> Result<Vec<Field<'_>>> {
    let bad = |what: &str| Error::InvalidModel {
        source_name: None,
        reason: format!("malformed protobuf while reading external data references ({what})"),
    };
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos < msg.len() {
        let start = pos;
        let tag = varint(msg, &mut pos).ok_or_else(|| bad("tag"))?;
        let (number, wire) = (tag >> 3, tag & 7);
        let (mut payload, mut value): (&[u8], u64) = (&[], 0);
        match wire {
            0 => value = varint(msg, &mut pos).ok_or_else(|| bad("varint"))?,
            1 => pos += 8,
            5 => pos += 4,
            2 => {
                let len = varint(msg, &mut pos).ok_or_else(|| bad("length"))?;
                let end = usize::try_from(len)
                    .ok()
                    .and_then(|l| pos.checked_add(l))
                    .filter(|&e| e <= msg.len())
                    .ok_or_else(|| bad("length past the end"))?;
                payload = &msg[pos..end];
                pos = end;
            }
            _ => return Err(bad("wire type")),
        }
        if pos > msg.len() {
            return Err(bad("truncated field"));
        }
        out.push(Field {
            number,
            wire,
            whole: &msg[start..pos],
            payload,
            varint: value,
        });
    }
    Ok(out)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_bytes_field(out: &mut Vec<u8>, number: u64, payload: &[u8]) {
    put_varint(out, (number << 3) | 2);
    put_varint(out, payload.len() as u64);
    out.extend_from_slice(payload);
}

/// Reads side files, caching each file once.
struct Loader<'a> {
    files: SideFiles<'a>,
    cache: HashMap<String, std::sync::Arc<Vec<u8>>>,
    /// Bytes of side files read so far.
    loaded: usize,
    /// Split mode: main-graph initializers of at least this many bytes stay external.
    split: Option<u64>,
    /// Split mode: the initializers kept external.
    kept: Vec<ExternalTensor>,
}

/// Refuses a side-file location outside the model's folder.
fn check_location(location: &str, tensor: &str) -> Result<()> {
    let rel = Path::new(location);
    if rel.is_absolute()
        || rel
            .components()
            .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(Error::InvalidModel {
            source_name: None,
            reason: format!(
                "tensor `{tensor}` points at external data file `{location}`, which is not \
                 a path inside the model's folder (absolute paths and `..` are refused, as \
                 onnxruntime does)"
            ),
        });
    }
    Ok(())
}

/// A missing side file, named with the tensor that needs it.
fn missing(path: &Path, tensor: &str, e: std::io::Error) -> Error {
    match e.kind() {
        std::io::ErrorKind::NotFound => Error::NotFound {
            what: format!(
                "external data file `{}` of tensor `{tensor}`",
                path.display()
            ),
            hint: Some(
                "side files are looked up next to the model file; keep them together".into(),
            ),
        },
        _ => Error::io(path, e),
    }
}

fn too_large(bytes: usize) -> Error {
    Error::InvalidModel {
        source_name: None,
        reason: format!(
            "with its external data inlined the model is at least {bytes} bytes, over \
             protobuf's 2 GiB limit; load it from its file (large weights then go to ONNX \
             Runtime as external initializers) or push it with its side files to a registry \
             (see docs/guide.md, \"Models with external data\")"
        ),
    }
}

impl Loader<'_> {
    fn file(&mut self, location: &str, tensor: &str) -> Result<std::sync::Arc<Vec<u8>>> {
        if let Some(data) = self.cache.get(location) {
            return Ok(data.clone());
        }
        check_location(location, tensor)?;
        let rel = Path::new(location);
        let data = match &self.files {
            SideFiles::Dir(dir) => {
                let path: PathBuf = dir.join(rel);
                // Refuse a model that cannot fit one protobuf before reading gigabytes of it.
                if let Ok(meta) = std::fs::metadata(&path) {
                    let total = self.loaded.saturating_add(meta.len() as usize);
                    if total > PROTOBUF_LIMIT {
                        return Err(too_large(total));
                    }
                }
                std::fs::read(&path).map_err(|e| missing(&path, tensor, e))?
            }
            SideFiles::Given(map) => map
                .get(location)
                .or_else(|| {
                    // `./weights.bin` and `weights.bin` name the same file.
                    map.get(location.trim_start_matches("./"))
                })
                .cloned()
                .ok_or_else(|| {
                    let mut names: Vec<&str> = map.keys().map(String::as_str).collect();
                    names.sort_unstable();
                    Error::NotFound {
                        what: format!("external data file `{location}` of tensor `{tensor}`"),
                        hint: Some(format!(
                            "pass it in external_data (given: {})",
                            if names.is_empty() {
                                "none".to_string()
                            } else {
                                names.join(", ")
                            }
                        )),
                    }
                })?,
            SideFiles::None => {
                return Err(Error::InvalidModel {
                    source_name: None,
                    reason: format!(
                        "tensor `{tensor}` keeps its data in the side file `{location}`; load the \
                         model by its path (side files are found next to it) or pass the side \
                         files with the bytes (external_data={{\"{location}\": ...}})"
                    ),
                })
            }
        };
        self.loaded = self.loaded.saturating_add(data.len());
        let data = std::sync::Arc::new(data);
        self.cache.insert(location.to_string(), data.clone());
        Ok(data)
    }
}

impl Loader<'_> {
    /// `length` bytes (to the end when `None`) at `offset` of a side file. In split mode a folder's
    /// file is read only in that range (a side file may be far larger than what is inlined).
    fn range(
        &mut self,
        location: &str,
        tensor: &str,
        offset: u64,
        length: Option<u64>,
    ) -> Result<Option<Vec<u8>>> {
        let SideFiles::Dir(dir) = self.files else {
            return Ok(None);
        };
        if self.split.is_none() {
            return Ok(None);
        }
        use std::io::{Read, Seek, SeekFrom};
        check_location(location, tensor)?;
        let path = dir.join(location);
        let mut f = std::fs::File::open(&path).map_err(|e| missing(&path, tensor, e))?;
        let size = f.metadata().map_err(|e| Error::io(&path, e))?.len();
        let end = match length {
            Some(l) => offset.checked_add(l),
            None => Some(size),
        };
        match end {
            Some(end) if offset <= end && end <= size => {
                f.seek(SeekFrom::Start(offset))
                    .map_err(|e| Error::io(&path, e))?;
                let mut out = vec![0u8; (end - offset) as usize];
                f.read_exact(&mut out).map_err(|e| Error::io(&path, e))?;
                Ok(Some(out))
            }
            _ => Err(past_end(tensor, location, offset, length, size)),
        }
    }
}

fn past_end(tensor: &str, location: &str, offset: u64, length: Option<u64>, size: u64) -> Error {
    Error::InvalidModel {
        source_name: None,
        reason: format!(
            "tensor `{tensor}`: external data range (offset {offset}, length {}) is past \
             the end of `{location}` ({size} bytes); the side file does not belong to this \
             model or is truncated",
            length.map_or("to end".to_string(), |l| l.to_string()),
        ),
    }
}

/// The distinct side-file locations the model references (cheap: walks structure only).
pub fn external_locations(model: &[u8]) -> Result<Vec<String>> {
    fn walk(msg: &[u8], kind: Kind, depth: usize, out: &mut Vec<String>) -> Result<()> {
        if depth > MAX_DEPTH {
            return Err(too_deep());
        }
        for f in fields(msg)? {
            if kind == Kind::Tensor && f.number == TENSOR_EXTERNAL_DATA && f.wire == 2 {
                let (mut key, mut value) = (&[][..], &[][..]);
                for kv in fields(f.payload)? {
                    match kv.number {
                        1 => key = kv.payload,
                        2 => value = kv.payload,
                        _ => {}
                    }
                }
                if key == b"location" {
                    let v = String::from_utf8_lossy(value).into_owned();
                    if !out.contains(&v) {
                        out.push(v);
                    }
                }
            }
            if f.wire == 2 {
                if let Some(child) = kind.child(f.number) {
                    walk(f.payload, child, depth + 1, out)?;
                }
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(model, Kind::Model, 0, &mut out)?;
    Ok(out)
}

/// Bytes of the side files the model references in `dir` (missing ones count 0: reading them
/// names the file). With the model's own size, what [`ModelOptions::inline_limit`] is compared
/// with, on load and on push.
///
/// [`ModelOptions::inline_limit`]: super::ModelOptions::inline_limit
pub fn side_files_size(model: &[u8], dir: &Path) -> Result<u64> {
    Ok(external_locations(model)?
        .iter()
        .filter_map(|l| std::fs::metadata(dir.join(l)).ok())
        .map(|m| m.len())
        .sum())
}

/// protobuf's default nesting limit, which ONNX Runtime's parser also applies: deeper models are
/// refused here before the walk could exhaust the stack.
const MAX_DEPTH: usize = 100;

fn too_deep() -> Error {
    Error::InvalidModel {
        source_name: None,
        reason: format!("subgraphs are nested more than {MAX_DEPTH} deep"),
    }
}

/// Whether the model references external data anywhere (cheap: walks structure only).
pub fn has_external_data(model: &[u8]) -> Result<bool> {
    fn walk(msg: &[u8], kind: Kind, depth: usize) -> Result<bool> {
        if depth > MAX_DEPTH {
            return Err(too_deep());
        }
        for f in fields(msg)? {
            if kind == Kind::Tensor
                && f.number == TENSOR_DATA_LOCATION
                && f.wire == 0
                && f.varint == LOCATION_EXTERNAL
            {
                return Ok(true);
            }
            if f.wire == 2 {
                if let Some(child) = kind.child(f.number) {
                    if walk(f.payload, child, depth + 1)? {
                        return Ok(true);
                    }
                }
            }
        }
        Ok(false)
    }
    walk(model, Kind::Model, 0)
}

/// The model with every external tensor's data read from `files` and put inline; the bytes are
/// returned unchanged (no copy) when nothing is external.
///
/// Errors: [`Error::NotFound`] for a missing side file, [`Error::InvalidModel`] for a location
/// outside the model's folder, a range past the end of its file, external data with
/// [`SideFiles::None`], or a result over protobuf's 2 GiB limit.
pub fn inline_external_data(model: Vec<u8>, files: SideFiles<'_>) -> Result<Vec<u8>> {
    if !has_external_data(&model)? {
        return Ok(model);
    }
    let mut loader = Loader {
        files,
        cache: HashMap::new(),
        loaded: 0,
        split: None,
        kept: Vec::new(),
    };
    let out = rewrite(&model, Kind::Model, &mut loader, 0, false)?.unwrap_or(model);
    if out.len() > PROTOBUF_LIMIT {
        return Err(too_large(out.len()));
    }
    Ok(out)
}

/// The model split in two: the graph, with every main-graph initializer of at least `min_bytes`
/// (and a dtype ONNX Runtime injects) left external and listed, and every other external tensor
/// put inline; and that list. Listed tensors' `location`s are checked like inlined ones (inside
/// the model's folder) but their bytes are not read.
///
/// Errors: as [`inline_external_data`]; the graph alone over 2 GiB is [`Error::InvalidModel`].
pub fn split_external_data(
    model: Vec<u8>,
    files: SideFiles<'_>,
    min_bytes: u64,
) -> Result<(Vec<u8>, Vec<ExternalTensor>)> {
    if !has_external_data(&model)? {
        return Ok((model, Vec::new()));
    }
    let mut loader = Loader {
        files,
        cache: HashMap::new(),
        loaded: 0,
        split: Some(min_bytes),
        kept: Vec::new(),
    };
    let out = rewrite(&model, Kind::Model, &mut loader, 0, false)?.unwrap_or(model);
    if out.len() > PROTOBUF_LIMIT {
        return Err(too_large(out.len()));
    }
    Ok((out, loader.kept))
}

/// The message rewritten, or `None` if nothing in it changed.
/// `top`: the message is an initializer of the main graph.
fn rewrite(
    msg: &[u8],
    kind: Kind,
    loader: &mut Loader<'_>,
    depth: usize,
    top: bool,
) -> Result<Option<Vec<u8>>> {
    if depth > MAX_DEPTH {
        return Err(too_deep());
    }
    let fields = fields(msg)?;
    if kind == Kind::Tensor {
        return rewrite_tensor(&fields, loader, top);
    }
    let mut changed: Vec<(usize, Vec<u8>)> = Vec::new();
    for (i, f) in fields.iter().enumerate() {
        if f.wire != 2 {
            continue;
        }
        if let Some(child) = kind.child(f.number) {
            let top = kind == Kind::Graph && depth == 1 && f.number == 5;
            if let Some(new) = rewrite(f.payload, child, loader, depth + 1, top)? {
                changed.push((i, new));
            }
        }
    }
    if changed.is_empty() {
        return Ok(None);
    }
    let extra: usize = changed.iter().map(|(_, v)| v.len() + 10).sum();
    let mut out = Vec::with_capacity(msg.len() + extra);
    let mut next = changed.into_iter().peekable();
    for (i, f) in fields.iter().enumerate() {
        match next.peek() {
            Some((j, _)) if *j == i => {
                let (_, payload) = next.next().expect("peeked");
                put_bytes_field(&mut out, f.number, &payload);
            }
            _ => out.extend_from_slice(f.whole),
        }
    }
    Ok(Some(out))
}

/// The tensor's `data_type` and `dims`.
fn type_and_dims(fields: &[Field<'_>]) -> Result<(i32, Vec<i64>)> {
    let (mut data_type, mut dims) = (0i32, Vec::new());
    for f in fields {
        match (f.number, f.wire) {
            (1, 0) => dims.push(f.varint as i64),
            (1, 2) => {
                let mut pos = 0;
                while pos < f.payload.len() {
                    let v = varint(f.payload, &mut pos).ok_or_else(|| Error::InvalidModel {
                        source_name: None,
                        reason: "malformed protobuf while reading tensor dims".into(),
                    })?;
                    dims.push(v as i64);
                }
            }
            (2, 0) => data_type = f.varint as i32,
            _ => {}
        }
    }
    Ok((data_type, dims))
}

fn rewrite_tensor(
    fields: &[Field<'_>],
    loader: &mut Loader<'_>,
    top: bool,
) -> Result<Option<Vec<u8>>> {
    let external = fields
        .iter()
        .any(|f| f.number == TENSOR_DATA_LOCATION && f.wire == 0 && f.varint == LOCATION_EXTERNAL);
    if !external {
        return Ok(None);
    }
    let name = fields
        .iter()
        .rev()
        .find(|f| f.number == TENSOR_NAME && f.wire == 2)
        .map(|f| String::from_utf8_lossy(f.payload).into_owned())
        .unwrap_or_default();
    let (mut location, mut offset, mut length) = (None, 0u64, None);
    for f in fields
        .iter()
        .filter(|f| f.number == TENSOR_EXTERNAL_DATA && f.wire == 2)
    {
        let (mut key, mut value) = (String::new(), String::new());
        for kv in self::fields(f.payload)? {
            match kv.number {
                1 => key = String::from_utf8_lossy(kv.payload).into_owned(),
                2 => value = String::from_utf8_lossy(kv.payload).into_owned(),
                _ => {}
            }
        }
        let number = |v: &str| {
            v.trim().parse::<u64>().map_err(|_| Error::InvalidModel {
                source_name: None,
                reason: format!("tensor `{name}`: external data {key} `{v}` is not a number"),
            })
        };
        match key.as_str() {
            "location" => location = Some(value),
            "offset" => offset = number(&value)?,
            "length" => length = Some(number(&value)?),
            _ => {}
        }
    }
    let location = location.ok_or_else(|| Error::InvalidModel {
        source_name: None,
        reason: format!("tensor `{name}` is marked external but names no location"),
    })?;
    if let (Some(min), true, Some(length)) = (loader.split, top, length) {
        let (data_type, dims) = type_and_dims(fields)?;
        if length >= min && injectable_type(data_type) {
            check_location(&location, &name)?;
            loader.kept.push(ExternalTensor {
                name,
                data_type,
                dims,
                location,
                offset,
                length,
            });
            return Ok(None);
        }
    }
    let (range, file);
    let data: &[u8] = match loader.range(&location, &name, offset, length)? {
        Some(r) => {
            range = r;
            &range
        }
        None => {
            file = loader.file(&location, &name)?;
            let start = usize::try_from(offset).ok();
            let end = match length {
                Some(l) => start.and_then(|s| s.checked_add(usize::try_from(l).ok()?)),
                None => Some(file.len()),
            };
            match (start, end) {
                (Some(s), Some(e)) if s <= e && e <= file.len() => &file[s..e],
                _ => {
                    return Err(past_end(
                        &name,
                        &location,
                        offset,
                        length,
                        file.len() as u64,
                    ))
                }
            }
        }
    };
    let kept: usize = fields
        .iter()
        .filter(|f| {
            !matches!(
                f.number,
                TENSOR_RAW_DATA | TENSOR_EXTERNAL_DATA | TENSOR_DATA_LOCATION
            )
        })
        .map(|f| f.whole.len())
        .sum();
    let mut out = Vec::with_capacity(kept + data.len() + 16);
    for f in fields {
        if !matches!(
            f.number,
            TENSOR_RAW_DATA | TENSOR_EXTERNAL_DATA | TENSOR_DATA_LOCATION
        ) {
            out.extend_from_slice(f.whole);
        }
    }
    put_bytes_field(&mut out, TENSOR_RAW_DATA, data);
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &str, value: &str) -> Vec<u8> {
        let mut e = Vec::new();
        put_bytes_field(&mut e, 1, key.as_bytes());
        put_bytes_field(&mut e, 2, value.as_bytes());
        e
    }

    /// TensorProto { name: "w", external_data: side.bin @ 2..6 }; with `typed`, also
    /// data_type FLOAT and dims [1] (4 bytes).
    fn external_tensor(typed: bool) -> Vec<u8> {
        let mut tensor = Vec::new();
        if typed {
            put_varint(&mut tensor, 1 << 3); // dims: 1
            put_varint(&mut tensor, 1);
            put_varint(&mut tensor, 2 << 3); // data_type: FLOAT
            put_varint(&mut tensor, 1);
        }
        put_bytes_field(&mut tensor, TENSOR_NAME, b"w");
        put_bytes_field(
            &mut tensor,
            TENSOR_EXTERNAL_DATA,
            &entry("location", "side.bin"),
        );
        put_bytes_field(&mut tensor, TENSOR_EXTERNAL_DATA, &entry("offset", "2"));
        put_bytes_field(&mut tensor, TENSOR_EXTERNAL_DATA, &entry("length", "4"));
        put_varint(&mut tensor, TENSOR_DATA_LOCATION << 3); // wire type 0 (varint)
        put_varint(&mut tensor, LOCATION_EXTERNAL);
        tensor
    }

    /// GraphProto { initializer: `tensor` } and the ModelProto holding it.
    fn graph_and_model(tensor: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let mut graph = Vec::new();
        put_bytes_field(&mut graph, 5, tensor);
        let mut model = vec![0x08, 0x08];
        put_bytes_field(&mut model, 7, &graph);
        (graph, model)
    }

    /// ModelProto { graph { initializer { name: "w", external_data: side.bin @ 2..6 } } }.
    fn model_with_external() -> Vec<u8> {
        graph_and_model(&external_tensor(false)).1
    }

    #[test]
    fn inlines_the_referenced_range() {
        let model = model_with_external();
        assert!(has_external_data(&model).unwrap());
        let files = HashMap::from([("side.bin".to_string(), b"..WXYZ..".to_vec())]);
        let out = inline_external_data(model, SideFiles::Given(&files)).unwrap();
        assert!(!has_external_data(&out).unwrap());
        let mut expected_tensor = Vec::new();
        put_bytes_field(&mut expected_tensor, TENSOR_NAME, b"w");
        put_bytes_field(&mut expected_tensor, TENSOR_RAW_DATA, b"WXYZ");
        assert!(out
            .windows(expected_tensor.len())
            .any(|w| w == expected_tensor));
    }

    #[test]
    fn split_keeps_large_typed_main_graph_initializers_external() {
        // The same model with `w` typed float (data_type 1) and shaped [1]: 4 bytes.
        let (graph, model) = graph_and_model(&external_tensor(true));
        let files = HashMap::from([("side.bin".to_string(), b"..WXYZ..".to_vec())]);

        let (out, kept) = split_external_data(model.clone(), SideFiles::Given(&files), 4).unwrap();
        assert_eq!(out, model, "nothing inlined");
        assert_eq!(
            kept,
            vec![ExternalTensor {
                name: "w".into(),
                data_type: 1,
                dims: vec![1],
                location: "side.bin".into(),
                offset: 2,
                length: 4,
            }]
        );
        // Under the threshold, or with the side file's bytes needed: inlined as before.
        let (out, kept) = split_external_data(model.clone(), SideFiles::Given(&files), 5).unwrap();
        assert!(kept.is_empty() && !has_external_data(&out).unwrap());
        assert!(out.windows(4).any(|w| w == b"WXYZ"));
        // A subgraph's initializer is never kept (ONNX Runtime injects main-graph ones only).
        let mut attribute = Vec::new();
        put_bytes_field(&mut attribute, 6, &graph);
        let mut node = Vec::new();
        put_bytes_field(&mut node, 5, &attribute);
        let mut outer = Vec::new();
        put_bytes_field(&mut outer, 1, &node);
        let mut nested = vec![0x08, 0x08];
        put_bytes_field(&mut nested, 7, &outer);
        let (out, kept) = split_external_data(nested, SideFiles::Given(&files), 0).unwrap();
        assert!(kept.is_empty() && !has_external_data(&out).unwrap());
        assert_eq!(
            external_locations(&model).unwrap(),
            vec!["side.bin".to_string()]
        );
    }

    #[test]
    fn side_files_over_the_protobuf_limit_are_refused_before_reading() {
        let dir = tempfile::tempdir().unwrap();
        // A sparse 3 GiB file: no disk or memory is used unless it is read.
        let f = std::fs::File::create(dir.path().join("side.bin")).unwrap();
        f.set_len(3 << 30).unwrap();
        let e =
            inline_external_data(model_with_external(), SideFiles::Dir(dir.path())).unwrap_err();
        assert!(e.to_string().contains("over protobuf's 2 GiB limit"), "{e}");
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A deterministic stream of random buffers, plus mutations of a valid model.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let files = HashMap::from([("side.bin".to_string(), vec![7u8; 64])]);
        let valid = model_with_external();
        for round in 0..20_000 {
            let bytes: Vec<u8> = if round % 2 == 0 {
                (0..(next() % 64)).map(|_| next() as u8).collect()
            } else {
                let mut m = valid.clone();
                let i = (next() as usize) % m.len();
                m[i] = next() as u8;
                m
            };
            let _ = has_external_data(&bytes);
            let _ = external_locations(&bytes);
            let _ = split_external_data(bytes.clone(), SideFiles::Given(&files), 0);
            let _ = inline_external_data(bytes, SideFiles::Given(&files));
        }
        // Nesting deeper than protobuf allows is an error, not a stack overflow.
        let mut graph = Vec::new();
        for _ in 0..10_000 {
            let mut attribute = Vec::new();
            put_bytes_field(&mut attribute, 6, &graph);
            let mut node = Vec::new();
            put_bytes_field(&mut node, 5, &attribute);
            graph.clear();
            put_bytes_field(&mut graph, 1, &node);
            if graph.len() > 1 << 20 {
                break;
            }
        }
        let mut model = Vec::new();
        put_bytes_field(&mut model, 7, &graph);
        let e = has_external_data(&model).unwrap_err();
        assert!(e.to_string().contains("nested more than"), "{e}");
    }

    #[test]
    fn names_missing_and_escaping_files() {
        let e = inline_external_data(model_with_external(), SideFiles::None).unwrap_err();
        assert!(e.to_string().contains("side file `side.bin`"), "{e}");
        let empty = HashMap::new();
        let e = inline_external_data(model_with_external(), SideFiles::Given(&empty)).unwrap_err();
        assert!(matches!(e, Error::NotFound { .. }), "{e}");
        let short = HashMap::from([("side.bin".to_string(), b"..W".to_vec())]);
        let e = inline_external_data(model_with_external(), SideFiles::Given(&short)).unwrap_err();
        assert!(e.to_string().contains("past the end"), "{e}");
        let dir = std::env::temp_dir();
        let mut loader = Loader {
            files: SideFiles::Dir(&dir),
            cache: HashMap::new(),
            loaded: 0,
            split: None,
            kept: Vec::new(),
        };
        for bad in ["../side.bin", "/etc/passwd"] {
            let e = loader.file(bad, "w").unwrap_err();
            assert!(e.to_string().contains("not a path inside"), "{e}");
        }
    }
}
