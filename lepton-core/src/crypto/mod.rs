//! Encryption: keys, C2SP chunked encryption (AES-256-GCM) of whole objects, key derivation.
//!
//! - [`Key`]: 32 secret bytes (random, from bytes, from an environment variable, from a
//!   passphrase with Argon2id); never printed.
//! - [`seal`] / [`open`]: one object as one C2SP chunked-encryption message
//!   (<https://c2sp.org/chunked-encryption>): a fresh random 24-byte salt per object gives a fresh
//!   AES-256-GCM subkey and base nonce (HKDF-Expand-SHA-512), a 32-byte key commitment, and
//!   16 KiB chunks with truncation protection. `context` is bound into the key derivation: opening
//!   with another context fails like a wrong key.
//! - [`c2sp`]: the raw scheme (tested against the Wycheproof vectors).

pub mod c2sp;
pub mod kdf;
mod key;

pub use kdf::PassphraseParams;
pub use key::{Key, KEY_LEN};

use crate::{Error, Result};

/// Encrypts and authenticates `plaintext` as one C2SP chunked-encryption message bound to
/// `context` (opening with another context fails).
pub fn seal(key: &Key, context: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
    Ok(c2sp::seal(key.as_bytes(), context, plaintext))
}

/// Decrypts what [`seal`] wrote; `what` names the object in errors.
///
/// A key or context that does not match is [`Error::WrongKey`] (the key commitment is checked
/// first); a bad length or a chunk that fails to authenticate is [`Error::Integrity`].
pub fn open(key: &Key, context: &[u8], sealed: &[u8], what: &str) -> Result<Vec<u8>> {
    c2sp::open(key.as_bytes(), context, sealed).map_err(|e| open_error(e, what))
}

/// [`open`] decrypting the blocks on every core: for one large object a caller waits for.
pub fn open_parallel(key: &Key, context: &[u8], sealed: &[u8], what: &str) -> Result<Vec<u8>> {
    c2sp::open_parallel(key.as_bytes(), context, sealed).map_err(|e| open_error(e, what))
}

/// Maps a C2SP failure to the crate error for the object `what`.
pub(crate) fn open_error(e: c2sp::OpenError, what: &str) -> Error {
    use c2sp::OpenError as E;
    match e {
        E::Commitment => Error::WrongKey { what: what.into() },
        E::KeySize => Error::InvalidArgument(format!("a key is {KEY_LEN} bytes")),
        E::Length => Error::Integrity {
            what: what.into(),
            reason: "invalid encrypted length (truncated or extended)".into(),
        },
        E::Chunk(i) => Error::Integrity {
            what: what.into(),
            reason: format!("encrypted block {i} failed to authenticate (modified or truncated)"),
        },
    }
}

/// Constant-time equality of two byte strings (lengths are not secret).
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b) {
        diff |= x ^ y;
    }
    std::hint::black_box(diff) == 0
}
