//! C2SP chunked encryption (<https://c2sp.org/chunked-encryption>) with AES-256-GCM and
//! HKDF-Expand-SHA-512 ("Cobblestone-256").
//!
//! A message is `salt (24) || commitment (32) || AEAD chunks`, each chunk 16 KiB of plaintext plus
//! a 16-byte tag, the final chunk always shorter than 16 KiB (possibly empty). Per message, the
//! AEAD key, base nonce and commitment are `HKDF-Expand(input key, "c2sp.org/chunked-encryption@v1+"
//! || "AEAD_AES_256_GCM" || 0x00 || salt || context)`; chunk `i` uses `base nonce XOR i`
//! (big-endian) and an empty AAD. The commitment is checked before any chunk is decrypted.

use aes_gcm::aead::inout::InOutBuf;
use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use zeroize::Zeroize;

use super::{ct_eq, kdf};

/// Plaintext bytes per chunk.
pub const CHUNK: usize = 16 * 1024;
/// AEAD tag bytes.
pub const TAG: usize = 16;
/// Salt bytes.
pub const SALT: usize = 24;
/// Commitment bytes.
pub const COMMITMENT: usize = 32;
/// Header bytes (salt + commitment).
pub const HEADER: usize = SALT + COMMITMENT;
/// Input key bytes (AES-256).
pub const KEY: usize = 32;
const NONCE: usize = 12;
const MAX_CHUNKS: u64 = 1 << 38;
const LABEL: &[u8] = b"c2sp.org/chunked-encryption@v1+AEAD_AES_256_GCM\x00";

/// Why a message failed to decrypt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenError {
    /// The input key is not 32 bytes.
    KeySize,
    /// The ciphertext length is impossible (shorter than the header, or a final chunk that is
    /// missing, full or shorter than a tag): truncated or extended.
    Length,
    /// The commitment does not match: wrong key or wrong context.
    Commitment,
    /// A chunk failed to authenticate: modified, reordered or truncated.
    Chunk(u64),
}

/// Length of the ciphertext of a `plaintext_len`-byte message.
pub fn sealed_len(plaintext_len: usize) -> usize {
    HEADER + plaintext_len + (plaintext_len / CHUNK + 1) * TAG
}

struct Derived {
    key: [u8; KEY],
    nonce: [u8; NONCE],
    commitment: [u8; COMMITMENT],
}

impl Drop for Derived {
    fn drop(&mut self) {
        self.key.zeroize();
        self.nonce.zeroize();
    }
}

fn derive(input_key: &[u8], salt: &[u8], context: &[u8]) -> Derived {
    let mut info = Vec::with_capacity(LABEL.len() + SALT + context.len());
    info.extend_from_slice(LABEL);
    info.extend_from_slice(salt);
    info.extend_from_slice(context);
    let mut okm = [0u8; KEY + NONCE + COMMITMENT];
    kdf::hkdf_expand_sha512(input_key, &info, &mut okm);
    let mut d = Derived {
        key: [0; KEY],
        nonce: [0; NONCE],
        commitment: [0; COMMITMENT],
    };
    d.key.copy_from_slice(&okm[..KEY]);
    d.nonce.copy_from_slice(&okm[KEY..KEY + NONCE]);
    d.commitment.copy_from_slice(&okm[KEY + NONCE..]);
    okm.zeroize();
    d
}

fn chunk_nonce(base: &[u8; NONCE], counter: u64) -> Nonce<aes_gcm::aead::consts::U12> {
    let mut n = *base;
    for (b, c) in n[NONCE - 8..].iter_mut().zip(counter.to_be_bytes()) {
        *b ^= c;
    }
    Nonce::from(n)
}

/// Encrypts `plaintext` as one message with a fresh random salt.
pub fn seal(input_key: &[u8; KEY], context: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let mut salt = [0u8; SALT];
    getrandom::fill(&mut salt).expect("the OS random source failed");
    seal_with_salt(input_key, &salt, context, plaintext)
}

/// Encrypts with a caller-chosen salt. The salt MUST NOT repeat for a key: only for tests that
/// reproduce known vectors.
#[doc(hidden)]
pub fn seal_with_salt(
    input_key: &[u8; KEY],
    salt: &[u8; SALT],
    context: &[u8],
    plaintext: &[u8],
) -> Vec<u8> {
    let d = derive(input_key, salt, context);
    let cipher = Aes256Gcm::new_from_slice(&d.key).expect("32-byte key");
    let mut out = Vec::with_capacity(sealed_len(plaintext.len()));
    out.extend_from_slice(salt);
    out.extend_from_slice(&d.commitment);
    // chunks(CHUNK) yields no empty final chunk, which this scheme always has.
    let full = plaintext.len() / CHUNK;
    for i in 0..=full {
        let part = &plaintext[i * CHUNK..((i + 1) * CHUNK).min(plaintext.len())];
        let start = out.len();
        out.extend_from_slice(part);
        let tag = cipher
            .encrypt_inout_detached(
                &chunk_nonce(&d.nonce, i as u64),
                b"",
                (&mut out[start..]).into(),
            )
            .expect("chunk length is within AES-GCM limits");
        out.extend_from_slice(&tag);
    }
    out
}

/// A message whose lengths and key commitment passed, ready to decrypt block by block.
struct Opening<'a> {
    d: Derived,
    cipher: Aes256Gcm,
    /// The blocks (after the header).
    body: &'a [u8],
    /// The plaintext length.
    len: usize,
    /// The final block's stored length (its ciphertext and tag).
    last: usize,
}

/// Checks the key size, the lengths and the key commitment of `sealed`, and derives its keys.
fn opening<'a>(
    input_key: &[u8],
    context: &[u8],
    sealed: &'a [u8],
) -> Result<Opening<'a>, OpenError> {
    if input_key.len() != KEY {
        return Err(OpenError::KeySize);
    }
    if sealed.len() < HEADER + TAG {
        return Err(OpenError::Length);
    }
    let body = &sealed[HEADER..];
    let full = body.len() / (CHUNK + TAG);
    let last = body.len() % (CHUNK + TAG);
    if last < TAG {
        // The final chunk is missing (the message ends on a full chunk) or cut inside its tag.
        return Err(OpenError::Length);
    }
    if full as u64 + 1 > MAX_CHUNKS {
        return Err(OpenError::Length);
    }
    let d = derive(input_key, &sealed[..SALT], context);
    if !ct_eq(&d.commitment, &sealed[SALT..HEADER]) {
        return Err(OpenError::Commitment);
    }
    let cipher = Aes256Gcm::new_from_slice(&d.key).expect("32-byte key");
    Ok(Opening {
        d,
        cipher,
        body,
        len: full * CHUNK + last - TAG,
        last,
    })
}

/// Decrypts a whole message.
pub fn open(input_key: &[u8], context: &[u8], sealed: &[u8]) -> Result<Vec<u8>, OpenError> {
    let mut out = Vec::new();
    open_into(input_key, context, sealed, &mut out)?;
    Ok(out)
}

/// [`open`] with the blocks decrypted on the current rayon pool (callers install lepton's own,
/// `pools::cpu()`, which survives a fork), for one large message whose decryption
/// is on a caller's critical path (a model being loaded); the same checks, and a failing block
/// reported by its lowest index.
pub fn open_parallel(
    input_key: &[u8],
    context: &[u8],
    sealed: &[u8],
) -> Result<Vec<u8>, OpenError> {
    use rayon::prelude::*;
    let Opening {
        d,
        cipher,
        body,
        len,
        last,
    } = opening(input_key, context, sealed)?;
    let mut out = vec![0u8; len];
    // Every block's slice of `out`, the final one too when it is empty (its tag is checked).
    let mut dsts: Vec<&mut [u8]> = out.chunks_mut(CHUNK).collect();
    if last == TAG {
        dsts.push(&mut []);
    }
    let failed = body
        .par_chunks(CHUNK + TAG)
        .zip(dsts.into_par_iter())
        .enumerate()
        .filter_map(|(i, (chunk, dst))| {
            let (ct, tag) = chunk.split_at(chunk.len() - TAG);
            let tag = Tag::try_from(tag).expect("16-byte tag");
            let buf = InOutBuf::new(ct, dst).expect("equal lengths");
            cipher
                .decrypt_inout_detached(&chunk_nonce(&d.nonce, i as u64), b"", buf, &tag)
                .is_err()
                .then_some(i as u64)
        })
        .min();
    if let Some(i) = failed {
        out.zeroize();
        return Err(OpenError::Chunk(i));
    }
    Ok(out)
}

/// Decrypts a whole message into `out` (resized to the plaintext length; a reused buffer is
/// neither zeroed nor copied into first: each block is decrypted straight from `sealed`). On
/// failure `out` is zeroed and emptied.
pub fn open_into(
    input_key: &[u8],
    context: &[u8],
    sealed: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), OpenError> {
    let Opening {
        d,
        cipher,
        body,
        len,
        ..
    } = opening(input_key, context, sealed)?;
    // Only the growth of a reused buffer is zero-filled; every byte is then overwritten.
    if out.len() > len {
        out.truncate(len);
    } else {
        out.resize(len, 0);
    }
    // Not `out.chunks_mut`: it yields nothing for the final block when that block is empty,
    // whose tag must be checked too (truncation protection).
    for (i, chunk) in body.chunks(CHUNK + TAG).enumerate() {
        let (ct, tag) = chunk.split_at(chunk.len() - TAG);
        let tag = Tag::try_from(tag).expect("16-byte tag");
        let dst = &mut out[i * CHUNK..i * CHUNK + ct.len()];
        let buf = InOutBuf::new(ct, dst).expect("equal lengths");
        if cipher
            .decrypt_inout_detached(&chunk_nonce(&d.nonce, i as u64), b"", buf, &tag)
            .is_err()
        {
            out.zeroize();
            out.clear();
            return Err(OpenError::Chunk(i as u64));
        }
    }
    Ok(())
}
