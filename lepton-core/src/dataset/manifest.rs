//! The manifest: the committed description of one dataset version (see
//! `docs/dataset-format.md`), its serialization, authentication and checks.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use super::format::{
    chunk_path, manifest_path, version_of, Codec, Filter, FORMAT_VERSION, MIN_FORMAT_VERSION,
    MIN_VARIABLE_SHAPE_VERSION, SCHEME,
};
use super::format::{CHECK_PURPOSE, MAC_PURPOSE, MAGIC, MAX_CHUNK_RAW_BYTES};
use super::schema::Schema;
use crate::crypto::{ct_eq, kdf, Key, PassphraseParams};
use crate::{Error, Result};

/// Encryption parameters of a dataset.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Encryption {
    /// Always [`SCHEME`].
    pub scheme: String,
    /// Tells a wrong key from a tampered manifest (16 bytes, hex).
    pub key_check: String,
    /// Argon2id parameters when the key came from a passphrase.
    pub passphrase: Option<PassphraseParams>,
}

/// One chunk in the manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkEntry {
    /// Rows in the chunk.
    pub rows: u64,
    /// Payload bytes (before compression).
    pub raw_len: u64,
    /// Bytes of the stored object.
    pub stored_len: u64,
    /// How the payload is compressed.
    pub codec: Codec,
    /// SHA-256 of the stored object, hex: format 1 (every chunk). Format 2 writes none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// BLAKE3 of the stored object, hex: format 2, unencrypted chunks only (an encrypted chunk
    /// is authenticated by AES-GCM under its context instead).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blake3: Option<String>,
}

/// The JSON body of a manifest. Fields this build does not know are ignored (the format spec:
/// adding optional fields does not change the format version); the whole body is authenticated
/// as stored, unknown fields included.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Format version (equal to the header's).
    pub format_version: u32,
    /// The writer's random id (16 bytes, hex); chunks live under `data/<id>/`.
    pub dataset_id: String,
    /// The dataset version.
    pub version: u64,
    /// Total rows.
    pub rows: u64,
    /// Columns.
    pub schema: Schema,
    /// Filter applied to fixed-size columns.
    pub filter: Filter,
    /// zstd level the writer used (informative).
    pub zstd_level: i32,
    /// `None` for unencrypted datasets.
    pub encryption: Option<Encryption>,
    /// Every chunk in order.
    pub chunks: Vec<ChunkEntry>,
    /// User metadata.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// Digest of the rows (hex BLAKE3 of the schema, then each chunk's row count and payload
    /// digest; keyed with a key derived from the dataset key when encrypted), written by
    /// registry pushes: a push of the rows the latest version holds adds no version. Optional
    /// (older manifests and plain writes have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
}

fn key_check(key: &Key, dataset_id: &str) -> String {
    let k = key.derive(CHECK_PURPOSE);
    hex::encode(&kdf::hmac_sha256(k.as_bytes(), dataset_id.as_bytes())[..16])
}

/// The manifest text with its authentication line, as stored.
pub fn encode(manifest: &Manifest, key: Option<&Key>) -> Vec<u8> {
    let mut out = format!("{MAGIC} {}\n", manifest.format_version).into_bytes();
    out.extend_from_slice(&serde_json::to_vec(manifest).expect("manifest serializes"));
    out.push(b'\n');
    let trailer = match key {
        Some(k) => {
            let mac_key = k.derive(MAC_PURPOSE);
            format!(
                "hmac-sha256 {}\n",
                hex::encode(kdf::hmac_sha256(mac_key.as_bytes(), &out))
            )
        }
        None => format!("sha256 {}\n", hex::encode(Sha256::digest(&out))),
    };
    out.extend_from_slice(trailer.as_bytes());
    out
}

/// Builds the `encryption` block for a new manifest.
pub fn encryption_for(key: &Key, dataset_id: &str) -> Encryption {
    Encryption {
        scheme: SCHEME.into(),
        key_check: key_check(key, dataset_id),
        passphrase: key.passphrase_params().cloned(),
    }
}

/// A manifest parsed but not yet authenticated.
pub struct Unverified<'a> {
    manifest: Manifest,
    header_version: u32,
    signed: &'a [u8],
    trailer: &'a str,
    what: String,
}

fn integrity(what: &str, reason: impl Into<String>) -> Error {
    Error::Integrity {
        what: what.into(),
        reason: reason.into(),
    }
}

/// Parses the header and body of a stored manifest (`what` names it in errors). A newer format
/// version is [`Error::UnsupportedVersion`]; anything malformed is [`Error::Integrity`].
pub fn parse<'a>(bytes: &'a [u8], what: &str) -> Result<Unverified<'a>> {
    let header_end = bytes
        .iter()
        .position(|&b| b == b'\n')
        .ok_or_else(|| integrity(what, "not a lepton dataset manifest (no header line)"))?;
    let header = std::str::from_utf8(&bytes[..header_end])
        .map_err(|_| integrity(what, "not a lepton dataset manifest (header)"))?;
    let version: u32 = header
        .strip_prefix(MAGIC)
        .and_then(|v| v.strip_prefix(' '))
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| integrity(what, "not a lepton dataset manifest (header)"))?;
    if version > FORMAT_VERSION {
        return Err(Error::UnsupportedVersion {
            what: what.into(),
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    if version < MIN_FORMAT_VERSION {
        return Err(integrity(what, format!("unknown format version {version}")));
    }
    // The trailer is the last line; the body is everything between header and trailer.
    if bytes.len() < header_end + 3 || bytes[bytes.len() - 1] != b'\n' {
        return Err(integrity(what, "truncated"));
    }
    let trailer_start = bytes[..bytes.len() - 1]
        .iter()
        .rposition(|&b| b == b'\n')
        .map(|p| p + 1)
        .filter(|&p| p > header_end + 1)
        .ok_or_else(|| integrity(what, "truncated (no authentication line)"))?;
    let trailer = std::str::from_utf8(&bytes[trailer_start..bytes.len() - 1])
        .map_err(|_| integrity(what, "malformed authentication line"))?;
    let body = &bytes[header_end + 1..trailer_start - 1];
    let manifest: Manifest = serde_json::from_slice(body)
        .map_err(|e| integrity(what, format!("malformed body: {e}")))?;
    Ok(Unverified {
        manifest,
        header_version: version,
        signed: &bytes[..trailer_start],
        trailer,
        what: what.into(),
    })
}

impl Unverified<'_> {
    /// The parsed, unauthenticated body (e.g. to read the passphrase salt).
    pub fn peek(&self) -> &Manifest {
        &self.manifest
    }

    /// Authenticates the manifest with `key` (or its SHA-256 without one) and checks its
    /// consistency; `expected_version` is the version its path names.
    pub fn verify(self, key: Option<&Key>, expected_version: Option<u64>) -> Result<Manifest> {
        let what = &self.what;
        let m = &self.manifest;
        match (&m.encryption, key) {
            (Some(_), None) => {
                return Err(Error::KeyRequired(format!(
                    "{what} is encrypted: pass the key it was written with (key=...)"
                )))
            }
            (None, Some(_)) => {
                return Err(Error::KeyRequired(format!(
                    "{what} is not encrypted, but a key was given: open it without a key (refusing, so that an unencrypted copy is never taken for the encrypted original)"
                )))
            }
            _ => {}
        }
        let (kind, hex_tag) = self
            .trailer
            .split_once(' ')
            .ok_or_else(|| integrity(what, "malformed authentication line"))?;
        let tag =
            hex::decode(hex_tag).map_err(|_| integrity(what, "malformed authentication line"))?;
        match (key, &m.encryption) {
            (Some(k), Some(enc)) => {
                if kind != "hmac-sha256" {
                    return Err(integrity(
                        what,
                        "an encrypted dataset's manifest must carry an HMAC",
                    ));
                }
                if enc.scheme != SCHEME {
                    return Err(integrity(
                        what,
                        format!("unknown encryption scheme `{}`", enc.scheme),
                    ));
                }
                if !ct_eq(
                    key_check(k, &m.dataset_id).as_bytes(),
                    enc.key_check.as_bytes(),
                ) {
                    return Err(Error::WrongKey { what: what.clone() });
                }
                let mac_key = k.derive(MAC_PURPOSE);
                let want = kdf::hmac_sha256(mac_key.as_bytes(), self.signed);
                if !ct_eq(&want, &tag) {
                    return Err(integrity(
                        what,
                        "manifest authentication failed: it was modified",
                    ));
                }
            }
            _ => {
                if kind != "sha256" {
                    return Err(integrity(what, "unknown authentication line"));
                }
                if !ct_eq(&Sha256::digest(self.signed), &tag) {
                    return Err(integrity(
                        what,
                        "SHA-256 mismatch: the manifest was modified or corrupted",
                    ));
                }
            }
        }
        check(m, self.header_version, what, expected_version)?;
        Ok(self.manifest)
    }
}

/// Consistency checks of an authenticated manifest.
fn check(
    m: &Manifest,
    header_version: u32,
    what: &str,
    expected_version: Option<u64>,
) -> Result<()> {
    if m.format_version != header_version {
        return Err(integrity(
            what,
            "body and header disagree on the format version",
        ));
    }
    if m.format_version < MIN_VARIABLE_SHAPE_VERSION
        && m.schema.columns.iter().any(|c| c.variable_ndim.is_some())
    {
        return Err(integrity(
            what,
            format!("variable-shape columns need format version {MIN_VARIABLE_SHAPE_VERSION}"),
        ));
    }
    if m.dataset_id.len() != 32 || hex::decode(&m.dataset_id).is_err() {
        return Err(integrity(what, "malformed dataset id"));
    }
    if let Some(v) = expected_version {
        if v != m.version {
            return Err(integrity(
                what,
                format!("names version {} but is stored as version {v}", m.version),
            ));
        }
    }
    m.schema
        .validate()
        .map_err(|e| integrity(what, format!("invalid schema: {e}")))?;
    let mut rows = 0u64;
    let fixed_row_bytes: u64 = m
        .schema
        .columns
        .iter()
        .filter_map(|c| c.row_bytes())
        .map(|b| b as u64)
        .sum();
    let var_cols = m
        .schema
        .columns
        .iter()
        .filter(|c| c.row_bytes().is_none())
        .count() as u64;
    for (i, c) in m.chunks.iter().enumerate() {
        if c.rows == 0 || c.rows > u32::MAX as u64 {
            return Err(integrity(
                what,
                format!("chunk {i} has an invalid row count"),
            ));
        }
        rows = rows
            .checked_add(c.rows)
            .ok_or_else(|| integrity(what, "row count overflows"))?;
        let min = c
            .rows
            .checked_mul(fixed_row_bytes)
            .and_then(|f| f.checked_add(var_cols * (c.rows + 1) * 8));
        let ok = match min {
            Some(min) if var_cols == 0 => c.raw_len == min,
            Some(min) => c.raw_len >= min,
            None => false,
        };
        if !ok {
            return Err(integrity(
                what,
                format!("chunk {i}: payload length does not match the schema"),
            ));
        }
        if c.raw_len > MAX_CHUNK_RAW_BYTES {
            return Err(integrity(
                what,
                format!(
                    "chunk {i} records {} bytes, over the {}-byte chunk limit (forged or corrupt)",
                    c.raw_len, MAX_CHUNK_RAW_BYTES
                ),
            ));
        }
        let well_formed = |h: &Option<String>| {
            h.as_ref()
                .is_none_or(|h| h.len() == 64 && hex::decode(h).is_ok())
        };
        if !well_formed(&c.sha256) || !well_formed(&c.blake3) {
            return Err(integrity(what, format!("chunk {i}: malformed hash")));
        }
        // Format 1 hashes every chunk with SHA-256; format 2 hashes unencrypted chunks with
        // BLAKE3 (encrypted ones are authenticated by AES-GCM).
        let hashed = match m.format_version {
            1 => c.sha256.is_some(),
            _ => m.encryption.is_some() || c.blake3.is_some(),
        };
        if !hashed {
            return Err(integrity(what, format!("chunk {i}: no hash recorded")));
        }
    }
    if rows != m.rows {
        return Err(integrity(
            what,
            "chunk row counts do not add up to the row count",
        ));
    }
    Ok(())
}
