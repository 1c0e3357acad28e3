//! Encrypted single-file models (`model.save(path, key=...)`, `load_model(path, key=...)`).
//!
//! ```text
//! offset 0  8 bytes  magic  "LEPTONMF"
//!        8  1 byte   format version (1)
//!        9  1 byte   flags (0; reserved)
//!       10  ...      crypto::seal(key, context = the 10 header bytes, ONNX bytes)
//! ```
//!
//! A plain ONNX file starts with a protobuf field tag, never with this magic, so both kinds are
//! told apart by their first bytes. Files are written to a temporary sibling and renamed, so a
//! crash never leaves half a model at `path`, and the clear bytes never touch the disk.

use std::path::Path;

use crate::crypto::{self, Key};
use crate::{Error, Result};

/// The first bytes of an encrypted model file.
pub const MAGIC: &[u8; 8] = b"LEPTONMF";
/// The format version this build writes and reads.
pub const FORMAT_VERSION: u8 = 1;
const HEADER_LEN: usize = 10;

fn header() -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..MAGIC.len()].copy_from_slice(MAGIC);
    h[8] = FORMAT_VERSION;
    h
}

/// Whether `bytes` is an encrypted model file (by its magic).
pub fn is_sealed(bytes: &[u8]) -> bool {
    bytes.starts_with(MAGIC)
}

/// Whether the file at `path` is an encrypted model file (by its magic); false when it can't be
/// read (missing, a folder, too short).
pub fn is_sealed_path(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; MAGIC.len()];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok()
        && is_sealed(&head)
}

/// Encrypts ONNX bytes into the file format above.
pub fn seal_model_file(key: &Key, onnx: &[u8]) -> Result<Vec<u8>> {
    let h = header();
    let sealed = crypto::seal(key, &h, onnx)?;
    let mut out = Vec::with_capacity(HEADER_LEN + sealed.len());
    out.extend_from_slice(&h);
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// The ONNX bytes of a model file's contents: decrypted with `key` when the file is encrypted.
/// `what` names the file in errors.
pub fn open_model_file(bytes: &[u8], key: Option<&Key>, what: &str) -> Result<Vec<u8>> {
    if !is_sealed(bytes) {
        return match key {
            None => Ok(bytes.to_vec()),
            Some(_) => Err(Error::KeyRequired(format!(
                "{what} is not encrypted but a key was given; load it without key= (or re-save \
                 it with model.save(path, key=...) to encrypt it)"
            ))),
        };
    }
    if bytes.len() < HEADER_LEN {
        return Err(Error::Integrity {
            what: what.into(),
            reason: "truncated header".into(),
        });
    }
    if bytes[8] != FORMAT_VERSION {
        return Err(Error::UnsupportedVersion {
            what: what.into(),
            found: bytes[8] as u32,
            supported: FORMAT_VERSION as u32,
        });
    }
    let Some(key) = key else {
        return Err(Error::KeyRequired(format!(
            "{what} is encrypted; pass the key it was saved with (key=...)"
        )));
    };
    crypto::open(key, &bytes[..HEADER_LEN], &bytes[HEADER_LEN..], what)
}

/// Writes `onnx` to `path`, encrypted when `key` is given; atomic (temporary file + rename).
pub fn write_model_file(path: &Path, onnx: &[u8], key: Option<&Key>) -> Result<()> {
    let data = match key {
        Some(k) => seal_model_file(k, onnx)?,
        None => onnx.to_vec(),
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| Error::InvalidArgument(format!("{} is not a file path", path.display())))?;
    let tmp = dir.join(format!(
        ".{}.{}.part",
        name.to_string_lossy(),
        uuid::Uuid::new_v4()
    ));
    std::fs::write(&tmp, &data).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(path, e)
    })
}

/// Reads a model file, decrypting it in memory when it is encrypted; a plain ONNX file's
/// external data (side files next to it) is put inline.
pub fn read_model_file(path: &Path, key: Option<&Key>) -> Result<Vec<u8>> {
    let (bytes, folder) = crate::model::external::read_model_path(path)?;
    if is_sealed(&bytes) || key.is_some() {
        return open_model_file(&bytes, key, &path.display().to_string());
    }
    // A plain ONNX model may keep its weights in side files next to it: put them inline so that
    // what is pushed or re-saved holds every weight.
    if crate::model::external::has_external_data(&bytes).unwrap_or(false) {
        return crate::model::external::inline_external_data(
            bytes,
            crate::model::external::SideFiles::Dir(folder),
        );
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_errors() {
        let key = Key::generate();
        let onnx = b"\x08\x07fake onnx bytes".to_vec();
        let sealed = seal_model_file(&key, &onnx).unwrap();
        assert!(is_sealed(&sealed) && !is_sealed(&onnx));
        assert!(!sealed.windows(4).any(|w| w == b"fake"));
        assert_eq!(open_model_file(&sealed, Some(&key), "m").unwrap(), onnx);
        let e = open_model_file(&sealed, None, "m").unwrap_err();
        assert!(matches!(e, Error::KeyRequired(_)), "{e}");
        let e = open_model_file(&sealed, Some(&Key::generate()), "m").unwrap_err();
        assert!(matches!(e, Error::WrongKey { .. }), "{e}");
        let e = open_model_file(&onnx, Some(&key), "m").unwrap_err();
        assert!(matches!(e, Error::KeyRequired(_)), "{e}");
        assert_eq!(open_model_file(&onnx, None, "m").unwrap(), onnx);
        let mut future = sealed.clone();
        future[8] = 9;
        let e = open_model_file(&future, Some(&key), "m").unwrap_err();
        assert!(
            matches!(e, Error::UnsupportedVersion { found: 9, .. }),
            "{e}"
        );
    }

    #[test]
    fn files() {
        let dir = tempfile::tempdir().unwrap();
        let key = Key::generate();
        let p = dir.path().join("m.model");
        write_model_file(&p, b"onnx", Some(&key)).unwrap();
        assert_eq!(read_model_file(&p, Some(&key)).unwrap(), b"onnx");
        let e = read_model_file(&dir.path().join("nope"), None).unwrap_err();
        assert!(matches!(e, Error::NotFound { .. }), "{e}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
