//! One chunk: payload layout, byte-shuffle filter, compression, encryption, and the reverse.

use std::borrow::Cow;
use std::cell::RefCell;

use sha2::{Digest, Sha256};

use super::buffers;
use super::format::{Codec, Filter, MAX_CHUNK_RAW_BYTES};
use super::kernels::{shuffle, unshuffle};
use super::manifest::ChunkEntry;
use super::schema::{check_offsets, ColumnData, Schema};
use crate::crypto::{c2sp, open_error, Key};
use crate::{Error, Result};

/// What binds a chunk to its place: the C2SP context of chunk `index`.
pub(crate) fn context(
    ids: &ChunkIds,
    index: u64,
    codec: Codec,
    filter: Filter,
    raw_len: u64,
) -> Vec<u8> {
    let mut c = Vec::with_capacity(64);
    c.extend_from_slice(b"lepton-dataset/chunk\x00");
    c.extend_from_slice(&ids.format_version.to_be_bytes());
    c.extend_from_slice(&ids.dataset_id);
    c.extend_from_slice(&ids.version.to_be_bytes());
    c.extend_from_slice(&index.to_be_bytes());
    c.push(codec.id());
    c.push(filter.id());
    c.extend_from_slice(&raw_len.to_be_bytes());
    c
}

/// Identity of the dataset a chunk belongs to.
#[derive(Clone)]
pub(crate) struct ChunkIds {
    /// The manifest's format version (bound into the context: a chunk of one format is never
    /// read as the other).
    pub format_version: u32,
    pub dataset_id: [u8; 16],
    pub version: u64,
}

/// How chunks are encoded.
#[derive(Clone)]
pub(crate) struct EncodeParams {
    pub filter: Filter,
    pub codec: Codec,
    pub zstd_level: i32,
    pub chunk_key: Option<Key>,
}

/// Layout of one column section in a payload.
#[derive(Clone, Debug)]
enum Section {
    Fixed {
        start: usize,
        len: usize,
        row_bytes: usize,
        itemsize: usize,
    },
    Variable {
        offsets: Vec<u64>,
        data_start: usize,
    },
}

/// Walks a payload of `rows` rows and returns each column's section; `Err` says what is wrong.
fn layout(
    payload: &[u8],
    schema: &Schema,
    rows: usize,
) -> std::result::Result<Vec<Section>, String> {
    let mut pos = 0usize;
    let mut out = Vec::with_capacity(schema.columns.len());
    for c in &schema.columns {
        match c.row_bytes() {
            Some(rb) => {
                let len = rb.checked_mul(rows).ok_or("size overflow")?;
                let end = pos
                    .checked_add(len)
                    .filter(|&e| e <= payload.len())
                    .ok_or_else(|| {
                        format!("column `{}` runs past the end of the payload", c.name)
                    })?;
                out.push(Section::Fixed {
                    start: pos,
                    len,
                    row_bytes: rb,
                    itemsize: c.dtype.itemsize().unwrap_or(1),
                });
                pos = end;
            }
            None => {
                let olen = (rows + 1).checked_mul(8).ok_or("size overflow")?;
                let oend = pos
                    .checked_add(olen)
                    .filter(|&e| e <= payload.len())
                    .ok_or_else(|| {
                        format!(
                            "offsets of column `{}` run past the end of the payload",
                            c.name
                        )
                    })?;
                let offsets: Vec<u64> = payload[pos..oend]
                    .chunks_exact(8)
                    .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
                    .collect();
                let data_len = *offsets.last().expect("rows + 1 >= 1");
                let dend = usize::try_from(data_len)
                    .ok()
                    .and_then(|d| oend.checked_add(d))
                    .filter(|&e| e <= payload.len())
                    .ok_or_else(|| {
                        format!(
                            "values of column `{}` run past the end of the payload",
                            c.name
                        )
                    })?;
                check_offsets(&offsets, dend - oend)
                    .map_err(|e| format!("column `{}`: {e}", c.name))?;
                if let Some(n) = c.variable_ndim {
                    let got = super::ragged::check_rows(c.dtype, &offsets, &payload[oend..dend])
                        .map_err(|e| format!("column `{}`: {e}", c.name))?;
                    if got.is_some_and(|g| g != n) {
                        return Err(format!("column `{}`: rows of another rank", c.name));
                    }
                }
                if c.dtype == super::DType::String {
                    std::str::from_utf8(&payload[oend..dend])
                        .map_err(|_| format!("column `{}`: strings are not valid UTF-8", c.name))?;
                }
                out.push(Section::Variable {
                    offsets,
                    data_start: oend,
                });
                pos = dend;
            }
        }
    }
    if pos != payload.len() {
        return Err(format!(
            "{} unexpected bytes after the last column",
            payload.len() - pos
        ));
    }
    Ok(out)
}

/// Applies `f` (shuffle or unshuffle) to the multi-byte fixed sections of `payload` and copies
/// the other sections as they are.
fn filter_sections(
    payload: &[u8],
    sections: &[Section],
    f: fn(&[u8], &mut [u8], usize),
) -> Vec<u8> {
    // Every byte is written below (the sections cover the payload exactly).
    let mut out = buffers::take(payload.len());
    buffers::fit(&mut out, payload.len());
    for s in sections {
        match s {
            &Section::Fixed {
                start,
                len,
                itemsize,
                ..
            } => {
                let (src, dst) = (&payload[start..start + len], &mut out[start..start + len]);
                if itemsize > 1 {
                    f(src, dst, itemsize);
                } else {
                    dst.copy_from_slice(src);
                }
            }
            Section::Variable {
                offsets,
                data_start,
            } => {
                let start = data_start - offsets.len() * 8;
                let end = data_start + *offsets.last().expect("rows + 1 offsets") as usize;
                out[start..end].copy_from_slice(&payload[start..end]);
            }
        }
    }
    out
}

/// Builds the payload of `rows` rows from per-column parts (in schema order). One fixed-size
/// column already is its payload: it is moved, not copied.
pub(crate) fn build_payload(mut parts: Vec<ColumnData<'_>>) -> Vec<u8> {
    if let [ColumnData::Fixed { data, .. }] = parts.as_mut_slice() {
        return std::mem::take(data).into_owned();
    }
    let size: usize = parts
        .iter()
        .map(|p| match p {
            ColumnData::Fixed { data, .. } => data.len(),
            ColumnData::Variable { offsets, data, .. } => offsets.len() * 8 + data.len(),
        })
        .sum();
    let mut out = buffers::take(size);
    out.clear();
    for p in &parts {
        match p {
            ColumnData::Fixed { data, .. } => out.extend_from_slice(data),
            ColumnData::Variable { offsets, data, .. } => {
                for o in offsets.iter() {
                    out.extend_from_slice(&o.to_le_bytes());
                }
                out.extend_from_slice(data);
            }
        }
    }
    out
}

/// Encodes chunk `index` (its payload of `rows` rows): filter, compress, encrypt, hash.
pub(crate) fn encode(
    payload: Vec<u8>,
    rows: usize,
    index: u64,
    schema: &Schema,
    ids: &ChunkIds,
    p: &EncodeParams,
) -> Result<(ChunkEntry, Vec<u8>)> {
    let raw_len = payload.len() as u64;
    if raw_len > MAX_CHUNK_RAW_BYTES {
        return Err(Error::InvalidArgument(format!(
            "a chunk of {rows} rows holds {raw_len} bytes, over the {MAX_CHUNK_RAW_BYTES}-byte \
             limit per chunk; write fewer or smaller rows at a time"
        )));
    }
    let filtered = match p.filter {
        Filter::Shuffle => {
            let sections = layout(&payload, schema, rows)
                .map_err(|e| Error::Schema(format!("internal payload error: {e}")))?;
            let f = filter_sections(&payload, &sections, shuffle);
            buffers::give(payload);
            f
        }
        Filter::None => payload,
    };
    let (codec, body) = match p.codec {
        Codec::Zstd => {
            let c = compress(&filtered, p.zstd_level)
                .map_err(|e| Error::InvalidArgument(format!("zstd: {e}")))?;
            // Not worth a decompression on every read when it saves less than 5 %.
            if (c.len() as u64) * 20 > raw_len * 19 {
                buffers::give(c);
                (Codec::None, filtered)
            } else {
                buffers::give(filtered);
                (Codec::Zstd, c)
            }
        }
        Codec::None => (Codec::None, filtered),
    };
    let stored = match &p.chunk_key {
        Some(k) => {
            let ctx = context(ids, index, codec, p.filter, raw_len);
            let sealed = c2sp::seal(k.as_bytes(), &ctx, &body);
            buffers::give(body);
            sealed
        }
        None => body,
    };
    // Encrypted chunks carry no hash: AES-GCM authenticates every block under a context that
    // binds the chunk to its dataset, version and position (docs/dataset-format.md).
    let blake3 = p
        .chunk_key
        .is_none()
        .then(|| blake3::hash(&stored).to_hex().to_string());
    let entry = ChunkEntry {
        rows: rows as u64,
        raw_len,
        stored_len: stored.len() as u64,
        codec,
        sha256: None,
        blake3,
    };
    Ok((entry, stored))
}

/// A decoded chunk: the payload in memory and where each column lies in it.
pub struct DecodedChunk {
    rows: usize,
    payload: Vec<u8>,
    sections: Vec<Section>,
}

/// Decodes a stored chunk: length, hash (unencrypted) or authentication (encrypted),
/// decompression capped at `raw_len`, payload layout. `what` names it in errors.
#[allow(clippy::too_many_arguments)] // each argument is a distinct binding of the chunk
pub(crate) fn decode(
    stored: &[u8],
    entry: &ChunkEntry,
    index: u64,
    schema: &Schema,
    filter: Filter,
    ids: &ChunkIds,
    chunk_key: Option<&Key>,
    what: &str,
) -> Result<DecodedChunk> {
    let bad = |reason: String| Error::Integrity {
        what: what.into(),
        reason,
    };
    if stored.len() as u64 != entry.stored_len {
        return Err(bad(format!(
            "{} bytes stored, the manifest records {} (truncated or replaced)",
            stored.len(),
            entry.stored_len
        )));
    }
    // Decrypted and decompressed into reused buffers (see `buffers`); the decoded chunk gives
    // its payload back when dropped.
    let mut plain = Vec::new();
    let body: &[u8] = match chunk_key {
        Some(k) => {
            let ctx = context(ids, index, entry.codec, filter, entry.raw_len);
            plain = buffers::take(stored.len());
            match c2sp::open_into(k.as_bytes(), &ctx, stored, &mut plain) {
                Ok(()) => &plain,
                // The key was verified with the manifest: a context mismatch means the object
                // is not this chunk (moved, swapped, or copied from another dataset/version).
                Err(c2sp::OpenError::Commitment) => {
                    return Err(bad(
                        "does not belong at this position of this dataset version (swapped, moved or copied)".into(),
                    ))
                }
                Err(e) => return Err(open_error(e, what)),
            }
        }
        None => {
            let matches = match (&entry.blake3, &entry.sha256) {
                (Some(h), _) => blake3::hash(stored).to_hex().as_str() == h.as_str(),
                (None, Some(h)) => hex::encode(Sha256::digest(stored)) == *h,
                (None, None) => false, // refused by the manifest check already
            };
            if !matches {
                return Err(bad("hash mismatch (modified, swapped or copied)".into()));
            }
            stored
        }
    };
    let raw_len = usize::try_from(entry.raw_len).map_err(|_| bad("too large".into()))?;
    let payload = match (entry.codec, chunk_key) {
        (Codec::Zstd, _) => {
            let mut out = buffers::take(raw_len);
            let r = decompress_into(body, raw_len, &mut out);
            buffers::give(plain);
            r.map_err(bad)?;
            out
        }
        (Codec::None, Some(_)) => plain,
        (Codec::None, None) => {
            let mut out = buffers::take(body.len());
            out.clear();
            out.extend_from_slice(body);
            out
        }
    };
    if payload.len() != raw_len {
        return Err(bad(format!(
            "payload is {} bytes, the manifest records {raw_len}",
            payload.len()
        )));
    }
    parse_payload(payload, schema, entry.rows as usize, filter).map_err(bad)
}

/// Decompresses a zstd `body` that the manifest says holds `raw_len` bytes: the frame's recorded
/// size must agree, and the buffer is reserved fallibly, so a forged length cannot abort.
pub(crate) fn decompress(body: &[u8], raw_len: usize) -> std::result::Result<Vec<u8>, String> {
    let mut out = Vec::new();
    decompress_into(body, raw_len, &mut out)?;
    Ok(out)
}

thread_local! {
    /// Each thread's zstd contexts, kept: a fresh one per chunk allocates (and faults in) its
    /// tables every time.
    static DCTX: RefCell<Option<zstd::bulk::Decompressor<'static>>> = const { RefCell::new(None) };
    static CCTX: RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> = const { RefCell::new(None) };
}

/// zstd-compresses `data` at `level` into a pooled buffer with this thread's context.
fn compress(data: &[u8], level: i32) -> std::io::Result<Vec<u8>> {
    let mut out = buffers::take(zstd::zstd_safe::compress_bound(data.len()));
    out.clear();
    CCTX.with(|c| {
        let mut c = c.borrow_mut();
        let ctx = match c.as_mut() {
            Some((l, ctx)) if *l == level => ctx,
            _ => &mut c.insert((level, zstd::bulk::Compressor::new(level)?)).1,
        };
        ctx.compress_to_buffer(data, &mut out)
    })?;
    Ok(out)
}

/// [`decompress`] into `out` (its old contents are dropped; its capacity is reused).
pub(crate) fn decompress_into(
    body: &[u8],
    raw_len: usize,
    out: &mut Vec<u8>,
) -> std::result::Result<(), String> {
    if raw_len as u64 > MAX_CHUNK_RAW_BYTES {
        return Err(format!(
            "the manifest records {raw_len} bytes, over the {MAX_CHUNK_RAW_BYTES}-byte chunk limit"
        ));
    }
    match zstd::zstd_safe::get_frame_content_size(body) {
        Ok(Some(n)) if n != raw_len as u64 => {
            return Err(format!(
                "zstd frame holds {n} bytes, the manifest records {raw_len}"
            ))
        }
        Ok(_) => {}
        Err(_) => return Err("zstd: not a zstd frame".into()),
    }
    out.clear();
    out.try_reserve_exact(raw_len)
        .map_err(|_| format!("cannot allocate the {raw_len} bytes the manifest records"))?;
    DCTX.with(|d| {
        let mut d = d.borrow_mut();
        let ctx = match d.as_mut() {
            Some(ctx) => ctx,
            None => d.insert(zstd::bulk::Decompressor::new()?),
        };
        ctx.decompress_to_buffer(body, out)
    })
    .map_err(|e| format!("zstd: {e}"))?;
    Ok(())
}

/// Parses (and un-filters) a payload; the error says what is malformed.
pub fn parse_payload(
    payload: Vec<u8>,
    schema: &Schema,
    rows: usize,
    filter: Filter,
) -> std::result::Result<DecodedChunk, String> {
    let sections = layout(&payload, schema, rows)?;
    let needs_unshuffle = filter == Filter::Shuffle
        && sections.iter().any(
            |s| matches!(s, Section::Fixed { itemsize, len, .. } if *itemsize > 1 && *len > 0),
        );
    let payload = if needs_unshuffle {
        let out = filter_sections(&payload, &sections, unshuffle);
        buffers::give(payload);
        out
    } else {
        payload
    };
    Ok(DecodedChunk {
        rows,
        payload,
        sections,
    })
}

/// A column being assembled from rows of chunks.
pub(crate) enum ColumnBuilder {
    Fixed(Vec<u8>),
    Variable(Vec<u64>, Vec<u8>),
}

impl ColumnBuilder {
    pub(crate) fn new(schema: &Schema, col: usize, rows: usize) -> ColumnBuilder {
        match schema.columns[col].row_bytes() {
            Some(rb) => ColumnBuilder::Fixed(Vec::with_capacity(rb * rows)),
            None => {
                let mut o = Vec::with_capacity(rows + 1);
                o.push(0);
                ColumnBuilder::Variable(o, Vec::new())
            }
        }
    }

    pub(crate) fn finish(self, schema: &Schema, col: usize) -> ColumnData<'static> {
        let c = &schema.columns[col];
        match self {
            ColumnBuilder::Fixed(data) => {
                let rb = c.row_bytes().unwrap_or(0);
                ColumnData::Fixed {
                    dtype: c.dtype,
                    row_shape: c.shape.clone(),
                    rows: data.len().checked_div(rb).unwrap_or(0),
                    data: Cow::Owned(data),
                }
            }
            ColumnBuilder::Variable(offsets, data) => ColumnData::Variable {
                dtype: c.dtype,
                offsets: Cow::Owned(offsets),
                data: Cow::Owned(data),
            },
        }
    }
}

impl std::fmt::Debug for DecodedChunk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecodedChunk")
            .field("rows", &self.rows)
            .field("bytes", &self.payload.len())
            .finish()
    }
}

impl Drop for DecodedChunk {
    fn drop(&mut self) {
        buffers::give(std::mem::take(&mut self.payload));
    }
}

impl DecodedChunk {
    /// Rows in the chunk.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Bytes held in memory.
    pub fn memory(&self) -> usize {
        self.payload.len()
    }

    /// Appends rows `start..start + len` of column `col` to `out`.
    pub(crate) fn append(&self, col: usize, start: usize, len: usize, out: &mut ColumnBuilder) {
        match (&self.sections[col], out) {
            (
                Section::Fixed {
                    start: s,
                    row_bytes,
                    ..
                },
                ColumnBuilder::Fixed(v),
            ) => {
                let a = s + start * row_bytes;
                v.extend_from_slice(&self.payload[a..a + len * row_bytes]);
            }
            (
                Section::Variable {
                    offsets,
                    data_start,
                },
                ColumnBuilder::Variable(o, v),
            ) => {
                let (a, b) = (offsets[start] as usize, offsets[start + len] as usize);
                let (cur, first) = (v.len() as u64, offsets[start]);
                v.extend_from_slice(&self.payload[data_start + a..data_start + b]);
                o.extend(
                    offsets[start + 1..=start + len]
                        .iter()
                        .map(|x| x - first + cur),
                );
            }
            _ => unreachable!("builder made from the same schema"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decompress_checks_the_recorded_length_before_allocating() {
        let body = zstd::bulk::compress(&[7u8; 1000], 3).unwrap();
        assert_eq!(decompress(&body, 1000).unwrap(), vec![7u8; 1000]);
        let e = decompress(&body, 999).unwrap_err();
        assert!(e.contains("frame holds 1000"), "{e}");
        let e = decompress(&body, (MAX_CHUNK_RAW_BYTES + 1) as usize).unwrap_err();
        assert!(e.contains("chunk limit"), "{e}");
        assert!(decompress(b"not zstd", 10).is_err());
    }
}
