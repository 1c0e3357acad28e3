//! The crypto layer against every Wycheproof vector of the two files it relies on:
//! `c2sp_chunked_encryption_aes_256_gcm_test.json` (our C2SP implementation, decryption and
//! re-encryption) and `aes_gcm_test.json` (the `aes-gcm` crate our C2SP layer is built on).
//! Fixtures: the JSON files shipped inside the `wycheproof` 0.7 crate.

use std::io::Read;

use aes_gcm::aead::{consts::*, AeadInOut, KeyInit};
use aes_gcm::aes::{Aes128, Aes192, Aes256};
use aes_gcm::{AesGcm, Tag};
use lepton_core::crypto::c2sp;
use sha2::{Digest, Sha512};
use wycheproof::TestResult;

fn inflate(zlib: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::ZlibDecoder::new(zlib)
        .read_to_end(&mut out)
        .expect("vector ciphertext is valid zlib");
    out
}

#[test]
fn c2sp_chunked_encryption_aes_256_gcm_every_vector() {
    use wycheproof::chunked_encryption::{TestFlag, TestName, TestSet};
    let set = TestSet::load(TestName::Cobblestone256).unwrap();
    let mut ran = 0;
    for group in &set.test_groups {
        for t in &group.tests {
            ran += 1;
            let ct = inflate(&t.ct);
            let got = c2sp::open(&t.key, &t.ctx, &ct);
            // The parallel decryption (models) gives the same answer, error included.
            let par = c2sp::open_parallel(&t.key, &t.ctx, &ct);
            assert_eq!(par, got, "tc {} ({}): open_parallel", t.tc_id, t.comment);
            match t.result {
                TestResult::Valid => {
                    let pt =
                        got.unwrap_or_else(|e| panic!("tc {} ({}): {e:?}", t.tc_id, t.comment));
                    assert_eq!(Some(pt.len()), t.msg_length, "tc {}", t.tc_id);
                    let h = Sha512::digest(&pt);
                    assert_eq!(
                        &h[..],
                        &t.msg_sha512.as_ref().unwrap()[..],
                        "tc {}",
                        t.tc_id
                    );
                    // Encryption: re-encrypting with the vector's salt reproduces the ciphertext.
                    let key: [u8; 32] = t.key[..].try_into().unwrap();
                    let salt: [u8; 24] = ct[..24].try_into().unwrap();
                    let again = c2sp::seal_with_salt(&key, &salt, &t.ctx, &pt);
                    assert!(again == ct, "tc {}: re-encryption differs", t.tc_id);
                    assert_eq!(c2sp::sealed_len(pt.len()), ct.len());
                }
                _ => {
                    let err = got.expect_err(&format!("tc {} ({}) must fail", t.tc_id, t.comment));
                    if t.flags.contains(&TestFlag::InvalidKeySize) {
                        assert_eq!(err, c2sp::OpenError::KeySize, "tc {}", t.tc_id);
                    }
                    if t.flags.contains(&TestFlag::WrongKey)
                        || t.flags.contains(&TestFlag::WrongContext)
                    {
                        assert_eq!(err, c2sp::OpenError::Commitment, "tc {}", t.tc_id);
                    }
                    if t.flags.contains(&TestFlag::HeaderFailure) {
                        // Rejected before any chunk is decrypted.
                        assert!(
                            !matches!(err, c2sp::OpenError::Chunk(_)),
                            "tc {}: {err:?}",
                            t.tc_id
                        );
                    }
                }
            }
        }
    }
    assert_eq!(ran, set.number_of_tests);
    assert!(ran >= 35);
}

/// Decrypts with AES-GCM for any key size and IV length in the vectors; `None` when the
/// parameters are rejected (a zero-length IV, which GCM forbids).
fn gcm_decrypt(key: &[u8], iv: &[u8], aad: &[u8], ct: &[u8], tag: &[u8]) -> Option<Vec<u8>> {
    fn run<A, N>(key: &[u8], iv: &[u8], aad: &[u8], ct: &[u8], tag: &[u8]) -> Option<Vec<u8>>
    where
        A: aes_gcm::aes::cipher::BlockSizeUser<BlockSize = U16>
            + aes_gcm::aes::cipher::BlockCipherEncrypt
            + KeyInit,
        N: aes_gcm::aead::array::ArraySize,
    {
        let cipher = AesGcm::<A, N>::new_from_slice(key).ok()?;
        let nonce = aes_gcm::Nonce::<N>::try_from(iv).ok()?;
        let tag = Tag::try_from(tag).ok()?;
        let mut buf = ct.to_vec();
        cipher
            .decrypt_inout_detached(&nonce, aad, (&mut buf[..]).into(), &tag)
            .ok()?;
        Some(buf)
    }
    macro_rules! by_iv {
        ($a:ty; $($n:literal => $u:ty),*) => {
            match iv.len() {
                $($n => run::<$a, $u>(key, iv, aad, ct, tag),)*
                _ => None,
            }
        };
    }
    macro_rules! by_key {
        ($($a:ty),*) => {{
            let mut out = None;
            $(if key.len() == <$a as aes_gcm::aes::cipher::KeySizeUser>::key_size() {
                out = by_iv!($a; 1 => U1, 2 => U2, 4 => U4, 6 => U6, 8 => U8, 10 => U10, 12 => U12,
                    15 => U15, 16 => U16, 20 => U20, 32 => U32, 64 => U64, 128 => U128, 257 => U257);
            })*
            out
        }};
    }
    by_key!(Aes128, Aes192, Aes256)
}

#[test]
fn aes_gcm_every_vector() {
    use wycheproof::aead::{TestName, TestSet};
    let set = TestSet::load(TestName::AesGcm).unwrap();
    let mut ran = 0;
    let mut our_parameters = 0;
    for group in &set.test_groups {
        for t in &group.tests {
            ran += 1;
            let got = gcm_decrypt(&t.key, &t.nonce, &t.aad, &t.ct, &t.tag);
            match t.result {
                TestResult::Valid | TestResult::Acceptable => {
                    let pt = got
                        .unwrap_or_else(|| panic!("tc {} ({}) must decrypt", t.tc_id, t.comment));
                    assert_eq!(&pt[..], &t.pt[..], "tc {}", t.tc_id);
                }
                TestResult::Invalid => {
                    assert!(got.is_none(), "tc {} ({}) must fail", t.tc_id, t.comment);
                }
            }
            // The parameters C2SP uses (AES-256, 96-bit IV, 128-bit tag): encryption too.
            if t.key.len() == 32
                && t.nonce.len() == 12
                && t.tag.len() == 16
                && t.result == TestResult::Valid
            {
                our_parameters += 1;
                let cipher = aes_gcm::Aes256Gcm::new_from_slice(&t.key).unwrap();
                let mut buf = t.pt.to_vec();
                let nonce = aes_gcm::Nonce::<U12>::try_from(&t.nonce[..]).unwrap();
                let tag = cipher
                    .encrypt_inout_detached(&nonce, &t.aad, (&mut buf[..]).into())
                    .unwrap();
                assert_eq!(&buf[..], &t.ct[..], "tc {}", t.tc_id);
                assert_eq!(&tag[..], &t.tag[..], "tc {}", t.tc_id);
            }
        }
    }
    assert_eq!(ran, set.number_of_tests);
    assert!(our_parameters > 30, "{our_parameters}");
}

/// `open_parallel` on messages of many blocks (a multiple of the block size included, whose
/// final block is empty): the plaintext sealed, and the lowest tampered block named when several
/// are, as the sequential `open` names it.
#[test]
fn open_parallel_matches_open_on_many_blocks() {
    let key = [7u8; 32];
    for len in [0, 1, c2sp::CHUNK, 40 * c2sp::CHUNK, 40 * c2sp::CHUNK + 123] {
        let pt: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
        let ct = c2sp::seal(&key, b"ctx", &pt);
        assert_eq!(c2sp::open_parallel(&key, b"ctx", &ct).unwrap(), pt, "{len}");
        let blocks = len / c2sp::CHUNK + 1;
        if blocks > 30 {
            let mut bad = ct.clone();
            for block in [29, 3] {
                bad[c2sp::HEADER + block * (c2sp::CHUNK + c2sp::TAG) + 5] ^= 1;
            }
            assert_eq!(
                c2sp::open(&key, b"ctx", &bad),
                Err(c2sp::OpenError::Chunk(3))
            );
            assert_eq!(
                c2sp::open_parallel(&key, b"ctx", &bad),
                Err(c2sp::OpenError::Chunk(3))
            );
        }
        // cut at a block boundary: the final block is missing
        if len >= c2sp::CHUNK {
            let cut = &ct[..c2sp::HEADER + c2sp::CHUNK + c2sp::TAG];
            assert_eq!(
                c2sp::open_parallel(&key, b"ctx", cut),
                c2sp::open(&key, b"ctx", cut)
            );
            assert!(c2sp::open_parallel(&key, b"ctx", cut).is_err());
        }
    }
}
