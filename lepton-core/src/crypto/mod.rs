//! Encryption: keys and authenticated encryption of whole objects.
//!
//! PLACEHOLDER CONTRACT (datasets issue replaces the bodies with C2SP chunked encryption, keeping
//! these signatures): `Key`, `seal`, `open`.

use crate::{Error, Result};
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use zeroize::Zeroize;

/// A 32-byte secret key. Never printed: `Debug` shows `Key(<redacted>)`.
#[derive(Clone)]
pub struct Key([u8; 32]);

impl Drop for Key {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(<redacted>)")
    }
}

impl Key {
    /// 32 random bytes from the OS.
    pub fn generate() -> Key {
        let mut k = [0u8; 32];
        getrandom::fill(&mut k).expect("the OS random source failed");
        Key(k)
    }

    /// A key from exactly 32 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Key> {
        let k: [u8; 32] = bytes.try_into().map_err(|_| {
            Error::InvalidArgument(format!("a key is 32 bytes, got {}", bytes.len()))
        })?;
        Ok(Key(k))
    }

    /// The raw key bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// Encrypts and authenticates `plaintext`, bound to `context` (opening with another context fails).
pub fn seal(key: &Key, context: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
    let cipher = Aes256Gcm::new_from_slice(key.as_bytes()).expect("32-byte key");
    let mut nonce = [0u8; 12];
    getrandom::fill(&mut nonce).expect("the OS random source failed");
    let ct = cipher
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: plaintext,
                aad: context,
            },
        )
        .map_err(|_| Error::Runtime("encryption failed".into()))?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&ct);
    Ok(out)
}

/// Decrypts what [`seal`] wrote; `what` names the object in errors.
pub fn open(key: &Key, context: &[u8], sealed: &[u8], what: &str) -> Result<Vec<u8>> {
    if sealed.len() < 28 {
        return Err(Error::Integrity {
            what: what.into(),
            reason: "truncated".into(),
        });
    }
    let cipher = Aes256Gcm::new_from_slice(key.as_bytes()).expect("32-byte key");
    cipher
        .decrypt(
            &Nonce::try_from(&sealed[..12]).expect("12-byte nonce"),
            Payload {
                msg: &sealed[12..],
                aad: context,
            },
        )
        .map_err(|_| Error::WrongKey { what: what.into() })
}
