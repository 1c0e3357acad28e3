//! The one parser of keys: `Key::from_text` (hex or base64), `Key::from_env` and `Key::from_file`
//! call it; the Python bindings and the `lepton` command call those.

use lepton_core::crypto::Key;
use lepton_core::Error;

/// Standard base64 with padding, written out here (RFC 4648 section 4) so the expected text does
/// not come from the parser under test.
fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn text_keys_hex_and_base64() {
    let key = Key::generate();
    let hex = hex::encode(key.as_bytes());
    let b64 = base64(key.as_bytes());
    assert_eq!(b64.len(), 44);
    assert_eq!(Key::from_text(&hex).unwrap(), key);
    assert_eq!(Key::from_text(&hex.to_uppercase()).unwrap(), key);
    assert_eq!(Key::from_text(&format!("  {b64}\n")).unwrap(), key);
    assert_eq!(Key::from_text(b64.trim_end_matches('=')).unwrap(), key);
    // RFC 4648's test vector: "foobar" is "Zm9vYmFy"; 6 bytes are not a key.
    let err = Key::from_text("Zm9vYmFy").unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)));
    assert_eq!(
        err.to_string(),
        "a key as text is 64 hex digits or 44 base64 characters (32 bytes); got 8 characters"
    );
    let secret = "this is not a key!";
    let err = Key::from_text(secret).unwrap_err();
    assert!(!err.to_string().contains(secret), "{err}");
    assert!(
        err.to_string()
            .ends_with("got 18 characters that are neither"),
        "{err}"
    );
}

#[test]
fn env_keys_accept_base64() {
    let key = Key::generate();
    // SAFETY (test): no other test reads these variables.
    unsafe { std::env::set_var("LEPTON_TEST_KEY_B64", base64(key.as_bytes())) };
    assert_eq!(Key::from_env("LEPTON_TEST_KEY_B64").unwrap(), key);
    unsafe { std::env::set_var("LEPTON_TEST_KEY_SHORT", "abcd") };
    let err = Key::from_env("LEPTON_TEST_KEY_SHORT").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("environment variable LEPTON_TEST_KEY_SHORT: a key as text is"),
        "{err}"
    );
}

#[test]
fn key_files_raw_hex_or_base64() {
    let dir = tempfile::tempdir().unwrap();
    let key = Key::generate();
    for (name, content) in [
        ("raw", key.as_bytes().to_vec()),
        (
            "hex",
            format!("{}\n", hex::encode(key.as_bytes())).into_bytes(),
        ),
        ("b64", base64(key.as_bytes()).into_bytes()),
    ] {
        let p = dir.path().join(name);
        std::fs::write(&p, content).unwrap();
        assert_eq!(Key::from_file(&p).unwrap(), key, "{name}");
    }
    let bad = dir.path().join("bad");
    std::fs::write(&bad, [0xffu8; 33]).unwrap();
    let err = Key::from_file(&bad).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "key file {} holds neither 32 raw bytes nor a key as text (64 hex digits or 44 base64 characters)",
            bad.display()
        )
    );
    let missing = dir.path().join("missing");
    assert!(matches!(
        Key::from_file(&missing).unwrap_err(),
        Error::NotFound { .. }
    ));
}
