//! Secret keys: random, from bytes, from an environment variable, or from a passphrase.

use zeroize::Zeroize;

use super::kdf;
use crate::{Error, Result};

/// Bytes in a [`Key`].
pub const KEY_LEN: usize = 32;

/// A 32-byte secret key.
///
/// Never printed: `Debug` shows `Key(<redacted>)`, and no error message contains key material.
/// The bytes are zeroed when the key is dropped. A key derived from a passphrase remembers the
/// Argon2id salt and parameters ([`Key::passphrase_params`]) so a dataset writer can record them.
#[derive(Clone)]
pub struct Key {
    bytes: [u8; KEY_LEN],
    passphrase: Option<kdf::PassphraseParams>,
}

impl Drop for Key {
    fn drop(&mut self) {
        self.bytes.zeroize();
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(<redacted>)")
    }
}

impl PartialEq for Key {
    /// Constant-time comparison of the key bytes.
    fn eq(&self, other: &Key) -> bool {
        super::ct_eq(&self.bytes, &other.bytes)
    }
}

impl Eq for Key {}

impl Key {
    /// 32 random bytes from the OS.
    pub fn generate() -> Key {
        let mut k = [0u8; KEY_LEN];
        getrandom::fill(&mut k).expect("the OS random source failed");
        Key {
            bytes: k,
            passphrase: None,
        }
    }

    /// A key from exactly 32 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Key> {
        let k: [u8; KEY_LEN] = bytes.try_into().map_err(|_| {
            Error::InvalidArgument(format!(
                "a key is {KEY_LEN} bytes, got {}; use Key::generate() or Key::from_passphrase()",
                bytes.len()
            ))
        })?;
        Ok(Key {
            bytes: k,
            passphrase: None,
        })
    }

    /// A key from the environment variable `var`: 64 hex digits or 44 characters of standard
    /// base64 (the message names the variable, never its value).
    pub fn from_env(var: &str) -> Result<Key> {
        let value = std::env::var(var).map_err(|_| {
            Error::KeyRequired(format!(
                "environment variable {var} is not set (or not valid UTF-8); set it to the key as 64 hex digits"
            ))
        })?;
        let mut value = value.trim().to_string();
        let parsed = if value.len() == 2 * KEY_LEN {
            hex::decode(&value).ok()
        } else {
            base64_decode(&value)
        };
        value.zeroize();
        let mut bytes = parsed.ok_or_else(|| {
            Error::InvalidArgument(format!(
                "environment variable {var} does not hold a key: expected 64 hex digits or 44 base64 characters"
            ))
        })?;
        let key = Key::from_bytes(&bytes).map_err(|_| {
            Error::InvalidArgument(format!(
                "environment variable {var} does not hold a 32-byte key"
            ))
        });
        bytes.zeroize();
        key
    }

    /// A key derived from a passphrase with Argon2id (19 MiB, 2 passes, 1 lane: the OWASP
    /// minimum) and `salt` (16 bytes or more). Pass `None` to draw a fresh random salt, as a writer
    /// does; readers take the salt from the dataset manifest instead
    /// ([`crate::dataset::Dataset::open_with_passphrase`]).
    pub fn from_passphrase(passphrase: &str, salt: Option<&[u8]>) -> Result<Key> {
        let params = match salt {
            Some(s) => kdf::PassphraseParams::with_salt(s)?,
            None => kdf::PassphraseParams::random(),
        };
        Key::from_passphrase_params(passphrase, &params)
    }

    /// A key derived from a passphrase with explicit Argon2id parameters (as recorded in a
    /// manifest).
    pub fn from_passphrase_params(passphrase: &str, params: &kdf::PassphraseParams) -> Result<Key> {
        let bytes = kdf::argon2id(passphrase.as_bytes(), params)?;
        Ok(Key {
            bytes,
            passphrase: Some(params.clone()),
        })
    }

    /// The raw key bytes.
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.bytes
    }

    /// The Argon2id salt and parameters if this key was derived from a passphrase.
    pub fn passphrase_params(&self) -> Option<&kdf::PassphraseParams> {
        self.passphrase.as_ref()
    }

    /// A subkey for `purpose` (HKDF-SHA-256), so one key can serve several uses without any two
    /// uses sharing key material.
    pub fn derive(&self, purpose: &[u8]) -> Key {
        Key {
            bytes: kdf::hkdf_sha256(&self.bytes, purpose),
            passphrase: None,
        }
    }
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let s = s.trim_end_matches('=');
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for c in s.bytes() {
        let v = ALPHABET.iter().position(|&a| a == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    acc.zeroize();
    Some(out)
}
