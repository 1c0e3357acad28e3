//! Key derivation: HKDF (subkeys), HKDF-Expand-SHA-512 (C2SP), Argon2id (passphrases).

use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Sha256, Sha512};

use crate::{Error, Result};

/// HKDF-SHA-256 (extract with no salt, then expand `info`) to 32 bytes.
pub(crate) fn hkdf_sha256(ikm: &[u8], info: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    hkdf::Hkdf::<Sha256>::new(None, ikm)
        .expand(info, &mut out)
        .expect("32 bytes is a valid HKDF-SHA-256 output length");
    out
}

/// RFC 5869 HKDF-Expand with HMAC-SHA-512 and `prk` used as is.
///
/// C2SP chunked encryption uses HKDF-Expand alone with a 32-byte input key; the `hkdf` crate
/// refuses a PRK shorter than the hash output, so the two HMAC blocks are computed here.
pub(crate) fn hkdf_expand_sha512(prk: &[u8], info: &[u8], out: &mut [u8]) {
    assert!(out.len() <= 255 * 64, "HKDF-Expand output too long");
    let mut previous: Option<[u8; 64]> = None;
    for (i, block) in out.chunks_mut(64).enumerate() {
        let mut mac = <Hmac<Sha512> as KeyInit>::new_from_slice(prk).expect("HMAC takes any key");
        if let Some(p) = &previous {
            mac.update(p);
        }
        mac.update(info);
        mac.update(&[(i + 1) as u8]);
        let t: [u8; 64] = mac.finalize().into_bytes().into();
        block.copy_from_slice(&t[..block.len()]);
        previous = Some(t);
    }
}

/// HMAC-SHA-256 of `data` under `key`.
pub(crate) fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Argon2id parameters and salt of a passphrase-derived key (stored in a dataset manifest).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PassphraseParams {
    /// Always `argon2id`.
    pub alg: String,
    /// Memory in KiB.
    pub m_kib: u32,
    /// Passes.
    pub t: u32,
    /// Lanes.
    pub p: u32,
    /// The salt, hex.
    pub salt: String,
}

impl PassphraseParams {
    /// OWASP-minimum Argon2id parameters with `salt`.
    pub fn with_salt(salt: &[u8]) -> Result<Self> {
        if salt.len() < 16 {
            return Err(Error::InvalidArgument(format!(
                "a passphrase salt is at least 16 bytes, got {}",
                salt.len()
            )));
        }
        Ok(PassphraseParams {
            alg: "argon2id".into(),
            m_kib: argon2::Params::DEFAULT_M_COST,
            t: argon2::Params::DEFAULT_T_COST,
            p: argon2::Params::DEFAULT_P_COST,
            salt: hex::encode(salt),
        })
    }

    /// OWASP-minimum Argon2id parameters with a fresh random 16-byte salt.
    pub fn random() -> Self {
        let mut salt = [0u8; 16];
        getrandom::fill(&mut salt).expect("the OS random source failed");
        Self::with_salt(&salt).expect("16-byte salt")
    }
}

/// Argon2id of `passphrase` with `params`, 32 bytes.
pub(crate) fn argon2id(passphrase: &[u8], params: &PassphraseParams) -> Result<[u8; 32]> {
    let bad = |why: String| Error::InvalidArgument(format!("passphrase parameters: {why}"));
    if params.alg != "argon2id" {
        return Err(bad(format!("unknown algorithm `{}`", params.alg)));
    }
    // Bound the cost a (tampered) manifest can ask for: at most 4 GiB, 64 passes, 64 lanes.
    if params.m_kib > 4 * 1024 * 1024 || params.t > 64 || params.p > 64 {
        return Err(bad("costs out of range".into()));
    }
    let salt = hex::decode(&params.salt).map_err(|_| bad("salt is not hex".into()))?;
    let p = argon2::Params::new(params.m_kib, params.t, params.p, Some(32))
        .map_err(|e| bad(e.to_string()))?;
    let a = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, p);
    let mut out = [0u8; 32];
    a.hash_password_into(passphrase, &salt, &mut out)
        .map_err(|e| bad(e.to_string()))?;
    Ok(out)
}
