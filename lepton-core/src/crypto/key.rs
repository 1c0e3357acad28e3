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

    /// A key written as text: 64 hex digits, or 44 characters of standard base64 (the `=`
    /// padding optional); surrounding whitespace is ignored. This is the one parser of key text:
    /// [`Key::from_env`], [`Key::from_file`], the Python bindings and the `lepton` command all
    /// call it. The error never contains the text.
    pub fn from_text(text: &str) -> Result<Key> {
        let text = text.trim();
        let parsed = if text.len() == 2 * KEY_LEN {
            hex::decode(text).ok()
        } else {
            base64_decode(text)
        };
        let mut bytes = match parsed {
            Some(b) if b.len() == KEY_LEN => b,
            Some(mut b) => {
                b.zeroize();
                return Err(Error::InvalidArgument(format!(
                    "a key as text is 64 hex digits or 44 base64 characters (32 bytes); got {} characters",
                    text.len()
                )));
            }
            None => {
                return Err(Error::InvalidArgument(format!(
                    "a key as text is 64 hex digits or 44 base64 characters (32 bytes); got {} characters that are neither",
                    text.len()
                )))
            }
        };
        let key = Key::from_bytes(&bytes);
        bytes.zeroize();
        key
    }

    /// A key from the environment variable `var`, parsed by [`Key::from_text`] (the message
    /// names the variable, never its value).
    pub fn from_env(var: &str) -> Result<Key> {
        let mut value = std::env::var(var).map_err(|_| {
            Error::KeyRequired(format!(
                "environment variable {var} is not set (or not valid UTF-8); set it to the key as 64 hex digits or 44 base64 characters"
            ))
        })?;
        let key = Key::from_text(&value).map_err(|e| match e {
            Error::InvalidArgument(why) => {
                Error::InvalidArgument(format!("environment variable {var}: {why}"))
            }
            other => other,
        });
        value.zeroize();
        key
    }

    /// A key file: exactly 32 raw bytes, or the key as text ([`Key::from_text`]: 64 hex digits or
    /// 44 base64 characters, a trailing newline allowed). Messages name the file, never its
    /// contents; a missing file is [`Error::NotFound`].
    pub fn from_file(path: impl AsRef<std::path::Path>) -> Result<Key> {
        let path = path.as_ref();
        let mut raw = std::fs::read(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::NotFound {
                what: format!("key file {}", path.display()),
                hint: Some("write the 32-byte key there, or 64 hex digits".into()),
            },
            _ => Error::InvalidArgument(format!("cannot read key file {}: {e}", path.display())),
        })?;
        let key = if raw.len() == KEY_LEN {
            Key::from_bytes(&raw)
        } else {
            match std::str::from_utf8(&raw) {
                Ok(text) => Key::from_text(text),
                Err(_) => Err(Error::InvalidArgument(String::new())),
            }
            .map_err(|_| {
                Error::InvalidArgument(format!(
                    "key file {} holds neither 32 raw bytes nor a key as text (64 hex digits or 44 base64 characters)",
                    path.display()
                ))
            })
        };
        raw.zeroize();
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
