//! The registry conformance suite: every test runs against memory, a local folder and S3.
//!
//! S3 is `moto_server` started by `scripts/moto.sh` (sourced by `scripts/test.sh`), which exports
//! `AWS_ENDPOINT`, `AWS_ALLOW_HTTP`, credentials and `LEPTON_TEST_S3_BUCKET`. Without them the S3
//! cases fail (they are not skipped): run `source scripts/moto.sh` first, or `scripts/test.sh`.
//! Each case uses a fresh random prefix, so cases never see each other's objects.
//!
//! The "models" here are tiny hand-written ONNX top levels (`common::sized_model`): the registry
//! checks that pushed bytes are a model, then stores them as they are.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lepton_core::crypto::{c2sp, Key};
use lepton_core::platform::layout::{model_root, version_dir, CLAIM, MODEL_PLAIN};
use lepton_core::platform::{Platform, PlatformOptions, PushOptions};
use lepton_core::pools::block_on;
use lepton_core::Error;
use object_store::{ObjectStoreExt, PutPayload};

mod common;
use common::{closed_port, fixture, onnx_holding, sized_model, Backend, Fixture};

impl Fixture {
    fn open(&self, key: Option<Key>) -> Platform {
        self.open_with(key, true)
    }

    fn open_with(&self, key: Option<Key>, cache: bool) -> Platform {
        self.open_opts(key, cache, vec![])
    }
}

/// A model of `len` bytes the registry accepts, different for each `seed`.
fn bytes(seed: u8, len: usize) -> Vec<u8> {
    sized_model(seed, len)
}

fn push(p: &Platform, name: &str, data: &[u8]) -> u64 {
    p.push_model(name, data, &PushOptions::default())
        .unwrap()
        .version
}

// ----- the cases ------------------------------------------------------------------------------

fn push_and_load(b: Backend) {
    let f = fixture(b);
    let p = f.open(None);
    let data = bytes(1, 1000);
    let info = p
        .push_model(
            "demo",
            &data,
            &PushOptions {
                metadata: serde_json::json!({"task": "classify", "classes": 2}),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!((info.version, info.size, info.encrypted), (1, 1000, false));
    let (got_info, got) = p.model_bytes("demo", None).unwrap();
    assert_eq!(got, data);
    assert_eq!(got_info, info);
    assert_eq!(got_info.metadata["task"], "classify");
    // another handle on the same registry sees it too (no cache)
    let q = f.open_with(None, false);
    assert_eq!(q.model_bytes("demo", Some(1)).unwrap().1, data);
}

fn versions_latest_list_delete(b: Backend) {
    let f = fixture(b);
    let p = f.open(None);
    assert_eq!(p.list_models().unwrap(), Vec::<String>::new());
    assert_eq!(push(&p, "a", &bytes(1, 10)), 1);
    assert_eq!(push(&p, "a", &bytes(2, 10)), 2);
    assert_eq!(push(&p, "b", &bytes(3, 10)), 1);
    assert_eq!(p.list_models().unwrap(), vec!["a", "b"]);
    assert_eq!(p.model_versions("a").unwrap(), vec![1, 2]);
    assert_eq!(p.model_bytes("a", None).unwrap().1, bytes(2, 10));
    assert_eq!(p.model_bytes("a", Some(1)).unwrap().1, bytes(1, 10));
    // delete the latest version: latest falls back, the number is not reused
    p.delete_model("a", Some(2)).unwrap();
    assert_eq!(p.model_versions("a").unwrap(), vec![1]);
    assert_eq!(p.model_info("a", None).unwrap().version, 1);
    assert_eq!(push(&p, "a", &bytes(4, 10)), 3);
    let e = p.model_bytes("a", Some(2)).unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e}");
    assert!(e.to_string().contains("versions of `a`: 1, 3"), "{e}");
    // delete everything
    p.delete_model("b", None).unwrap();
    assert_eq!(p.list_models().unwrap(), vec!["a"]);
    let e = p.delete_model("b", None).unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e}");
}

fn unknown_and_bad_names(b: Backend) {
    let f = fixture(b);
    let p = f.open(None);
    push(&p, "known", &bytes(1, 10));
    let e = p.model_bytes("nope", None).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("model `nope` not found; models in {}: known", f.uri)
    );
    let e = p.model_bytes("known", Some(7)).unwrap_err().to_string();
    assert_eq!(
        e,
        "model `known` version 7 not found; versions of `known`: 1"
    );
    for bad in ["../etc", "a/b", "..", "", "a\\b"] {
        let e = p.model_bytes(bad, None).unwrap_err();
        assert!(matches!(e, Error::InvalidArgument(_)), "{bad}: {e}");
        let e = p
            .push_model(bad, b"x", &PushOptions::default())
            .unwrap_err();
        assert!(matches!(e, Error::InvalidArgument(_)), "{bad}: {e}");
    }
    let e = p
        .push_model("empty", b"", &PushOptions::default())
        .unwrap_err();
    assert!(matches!(e, Error::InvalidModel { .. }), "{e}");
    let e = p
        .push_model(
            "m",
            b"x",
            &PushOptions {
                metadata: serde_json::json!([1, 2]),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(
        e.to_string().contains("metadata must be a JSON object"),
        "{e}"
    );
}

/// Writers on separate handles push to one model while readers on other handles (sharing the
/// writers' rollback marks, as processes of one home do) resolve its latest: every push gets its
/// own version, and no reader sees an error or a version going backwards.
fn concurrent_pushes(b: Backend) {
    let f = fixture(b);
    let writers = 6;
    let per_writer = 3;
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let p = f.open_with(None, false);
            let done = done.clone();
            std::thread::spawn(move || {
                let mut seen = Vec::new();
                let mut last = false;
                while !last {
                    // One more read once the writers are done: it must see the last push.
                    last = done.load(Ordering::SeqCst);
                    match p.model_info("shared", None) {
                        Ok(info) => seen.push(info.version),
                        Err(Error::NotFound { .. }) if seen.is_empty() && !last => {}
                        Err(e) => panic!("a reader failed after seeing {seen:?}: {e}"),
                    }
                }
                seen
            })
        })
        .collect();
    let handles: Vec<_> = (0..writers)
        .map(|w| {
            let p = f.open_with(None, false);
            std::thread::spawn(move || {
                (0..per_writer)
                    .map(|i| {
                        let data = bytes((w * per_writer + i) as u8, 64);
                        (push(&p, "shared", &data), data)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let joined: Vec<_> = handles.into_iter().map(|h| h.join()).collect();
    // Before anything can panic here: the readers stop either way.
    done.store(true, Ordering::SeqCst);
    let mut pushed: Vec<(u64, Vec<u8>)> = joined.into_iter().flat_map(Result::unwrap).collect();
    for r in readers {
        let seen = r.join().unwrap();
        assert!(
            seen.is_sorted(),
            "a reader saw the latest go backwards: {seen:?}"
        );
        assert_eq!(
            seen.last(),
            Some(&((writers * per_writer) as u64)),
            "{seen:?}"
        );
    }
    pushed.sort();
    let versions: Vec<u64> = pushed.iter().map(|(v, _)| *v).collect();
    let expected: Vec<u64> = (1..=(writers * per_writer) as u64).collect();
    assert_eq!(
        versions, expected,
        "each push got its own version, none lost"
    );
    let p = f.open_with(None, false);
    assert_eq!(p.model_versions("shared").unwrap(), expected);
    for (v, data) in &pushed {
        assert_eq!(&p.model_bytes("shared", Some(*v)).unwrap().1, data);
    }
    assert_eq!(
        p.model_info("shared", None).unwrap().version,
        (writers * per_writer) as u64
    );
}

fn interrupted_push(b: Backend) {
    let f = fixture(b);
    let p = f.open(None);
    push(&p, "m", &bytes(1, 100));
    // a push cancelled after its data is uploaded but before the commit
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let e = p
        .push_model(
            "m",
            &bytes(2, 100),
            &PushOptions {
                progress: Some(Arc::new(move |done, total| {
                    c.fetch_add(1, Ordering::SeqCst);
                    if done == total && total > 0 {
                        Err(Error::InvalidArgument("interrupted".into()))
                    } else {
                        Ok(())
                    }
                })),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(e.to_string(), "interrupted");
    assert!(calls.load(Ordering::SeqCst) >= 2);
    // and a writer that crashed after claiming version 3 and writing half its data
    let root = model_root(p.prefix(), "m");
    block_on(async {
        let dir = version_dir(&root, 3);
        p.store()
            .put(&dir.clone().join(CLAIM), PutPayload::from_static(b"{}"))
            .await
            .unwrap();
        p.store()
            .put(&dir.join(MODEL_PLAIN), PutPayload::from_static(b"half"))
            .await
            .unwrap();
    });
    assert_eq!(p.model_versions("m").unwrap(), vec![1]);
    assert_eq!(p.model_info("m", None).unwrap().version, 1);
    assert_eq!(p.model_bytes("m", None).unwrap().1, bytes(1, 100));
    assert!(matches!(
        p.model_bytes("m", Some(2)).unwrap_err(),
        Error::NotFound { .. }
    ));
    assert_eq!(push(&p, "m", &bytes(4, 100)), 4);
    assert_eq!(p.model_bytes("m", None).unwrap().1, bytes(4, 100));
}

fn encrypted_models(b: Backend) {
    let f = fixture(b);
    let key = Key::generate();
    let p = f.open(Some(key.clone()));
    let secret = onnx_holding(b"this is a secret model graph, longer than a block");
    let info = p
        .push_model("secret", &secret, &PushOptions::default())
        .unwrap();
    assert!(info.encrypted);
    assert_eq!(p.model_bytes("secret", None).unwrap().1, secret);
    // the stored object is not the clear model
    let raw = block_on(async {
        let path = version_dir(&model_root(p.prefix(), "secret"), 1).join(info.object.as_str());
        p.store().get(&path).await.unwrap().bytes().await.unwrap()
    });
    assert!(!raw.windows(6).any(|w| w == b"secret"));
    // missing key, wrong key
    let e = f
        .open_with(None, false)
        .model_bytes("secret", None)
        .unwrap_err();
    assert!(matches!(e, Error::KeyRequired(_)), "{e}");
    assert!(
        e.to_string().contains("open the platform with its key"),
        "{e}"
    );
    let e = f
        .open_with(Some(Key::generate()), false)
        .model_bytes("secret", None)
        .unwrap_err();
    assert!(matches!(e, Error::WrongKey { .. }), "{e}");
    // encrypt=True without a key, encrypt=False with one
    let e = f
        .open_with(None, false)
        .push_model(
            "x",
            b"x",
            &PushOptions {
                encrypt: Some(true),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(matches!(e, Error::KeyRequired(_)), "{e}");
    let clear = onnx_holding(b"clear");
    let plain = p.push_model("open", &clear, &unencrypted()).unwrap();
    assert!(!plain.encrypted);
    assert_eq!(
        f.open_with(None, false)
            .model_bytes("open", None)
            .unwrap()
            .1,
        clear
    );
    assert_eq!(p.verify_model("secret", None).unwrap().version, 1);
}

/// A sealed model is checked by its decryption, bound to the object its manifest names: the
/// manifest records the object's header (salt and key commitment, its first bytes), and another
/// object sealed under the same key, name and version (another registry sharing the key file)
/// is refused, from the store and from the cache; a corrupted cached copy is fetched again.
fn sealed_reads_are_bound_to_their_object(b: Backend) {
    let key = Key::generate();
    let (f, other) = (fixture(b), fixture(b));
    let p = f.open(Some(key.clone()));
    let q = other.open_with(Some(key.clone()), false);
    let (mine, theirs) = (bytes(4, 70_000), bytes(5, 70_000));
    let info = p.push_model("m", &mine, &PushOptions::default()).unwrap();
    q.push_model("m", &theirs, &PushOptions::default()).unwrap();
    let object = version_dir(&model_root(p.prefix(), "m"), 1).join(info.object.as_str());
    let get = |pl: &Platform| {
        let path = version_dir(&model_root(pl.prefix(), "m"), 1).join(info.object.as_str());
        block_on(async { pl.store().get(&path).await?.bytes().await }).unwrap()
    };
    let (stored, foreign) = (get(&p), get(&q));
    let header = &stored[..c2sp::HEADER];
    assert_eq!(
        info.seal_header.as_deref(),
        Some(hex::encode(header).as_str())
    );
    // the cache holds the pushed object; a corrupted copy is dropped and fetched again
    let cached = p.cache().map(|c| c.object_path(&info.sha256));
    if let Some(cached) = &cached {
        let mut bad = stored.to_vec();
        bad[c2sp::HEADER + 10] ^= 1;
        std::fs::write(cached, &bad).unwrap();
    }
    assert_eq!(p.model_bytes("m", None).unwrap().1, mine);
    if let Some(cached) = &cached {
        assert_eq!(std::fs::read(cached).unwrap(), stored.to_vec());
    }
    // the other registry's object (same key, name and version) put in place of this one
    block_on(p.store().put(&object, PutPayload::from(foreign.clone()))).unwrap();
    let fresh = f.open_with(Some(key.clone()), false);
    let e = fresh.model_bytes("m", None).unwrap_err();
    assert!(matches!(e, Error::Integrity { .. }), "{e}");
    assert!(
        e.to_string().contains("not the one its manifest names"),
        "{e}"
    );
    assert!(fresh.load_model("m", None, &Default::default()).is_err());
    // a cached copy of it is refused too; the store's (also foreign) object then fails
    if let Some(cached) = &cached {
        std::fs::write(cached, &foreign).unwrap();
        let e = p.model_bytes("m", None).unwrap_err();
        assert!(matches!(e, Error::Integrity { .. }), "{e}");
    }
    // one flipped byte inside a block, header intact: the block fails to authenticate
    let mut flipped = stored.to_vec();
    flipped[c2sp::HEADER + 40_000] ^= 1;
    block_on(p.store().put(&object, PutPayload::from(flipped))).unwrap();
    let e = fresh.model_bytes("m", None).unwrap_err();
    assert!(matches!(e, Error::Integrity { .. }), "{e}");
    assert!(e.to_string().contains("failed to authenticate"), "{e}");
}

/// A push in clear, even on a keyed registry.
fn unencrypted() -> PushOptions {
    PushOptions {
        encrypt: Some(false),
        ..Default::default()
    }
}

/// Whoever can write to the store cannot put a plain (or edited) model in a keyed registry.
fn encrypted_registry_refuses_swaps(b: Backend) {
    let f = fixture(b);
    let key = Key::generate();
    let p = f.open_with(Some(key.clone()), false);
    let secret = bytes(3, 300);
    p.push_model("secret", &secret, &PushOptions::default())
        .unwrap();
    // the key holder's explicit encrypt=False push is authenticated and opens
    let clear = onnx_holding(b"clear");
    p.push_model("open", &clear, &unencrypted()).unwrap();
    assert_eq!(p.model_bytes("open", None).unwrap().1, clear);
    // an attacker without the key pushes a plain version 2 of `secret`
    let attacker = f.open_with(None, false);
    let v = push(&attacker, "secret", &onnx_holding(b"evil model"));
    assert_eq!(v, 2);
    let e = p.model_bytes("secret", None).unwrap_err();
    assert!(matches!(e, Error::KeyRequired(_)), "{e}");
    assert!(e.to_string().contains("not authenticated"), "{e}");
    assert!(p.load_model("secret", None, &Default::default()).is_err());
    // an edited manifest (metadata, encrypted flag) fails the MAC
    let manifest = version_dir(&model_root(p.prefix(), "secret"), 1).join("manifest.json");
    let text = block_on(async {
        p.store()
            .get(&manifest)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
    });
    let mut json: serde_json::Value = serde_json::from_slice(&text).unwrap();
    json["metadata"] = serde_json::json!({"owner": "mallory"});
    block_on(p.store().put(
        &manifest,
        PutPayload::from(serde_json::to_vec(&json).unwrap()),
    ))
    .unwrap();
    let e = p.model_bytes("secret", Some(1)).unwrap_err();
    assert!(matches!(e, Error::WrongKey { .. }), "{e}");
    assert!(e.to_string().contains("MAC"), "{e}");
}

/// The unauthenticated LATEST hint can neither panic nor stall a read or a push.
fn hostile_latest_hint(b: Backend) {
    let f = fixture(b);
    let p = f.open_with(None, false);
    let hint = model_root(p.prefix(), "m").join("LATEST");
    // other bytes each time: a push of the latest's own bytes writes nothing
    for (seed, bogus) in [(1, u64::MAX), (2, 1_000_000_000)] {
        let body = format!("{{\"version\": {bogus}}}");
        block_on(p.store().put(&hint, PutPayload::from(body.into_bytes()))).unwrap();
        let v = push(&p, "m", &bytes(seed, 10));
        // the push repaired the bogus hint
        let text = block_on(async { p.store().get(&hint).await.unwrap().bytes().await.unwrap() });
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&text).unwrap()["version"],
            v
        );
        block_on(p.store().put(
            &hint,
            PutPayload::from(format!("{{\"version\": {bogus}}}").into_bytes()),
        ))
        .unwrap();
        let t = Instant::now();
        assert_eq!(p.model_info("m", None).unwrap().version, v);
        assert!(t.elapsed() < Duration::from_secs(20));
    }
}

/// A handle that resolved the latest before follows what other handles do afterwards: a newer
/// push, a deleted latest, and a model deleted and pushed again (its numbers start over).
fn the_latest_follows_other_handles(b: Backend) {
    let f = fixture(b);
    let reader = f.open_with(None, false);
    let writer = f.open_with(None, false);
    let latest = |p: &Platform| {
        let (info, data) = p.model_bytes("m", None).unwrap();
        (info.version, data)
    };
    push(&writer, "m", &bytes(1, 100));
    push(&writer, "m", &bytes(2, 100));
    assert_eq!(latest(&reader), (2, bytes(2, 100)));
    push(&writer, "m", &bytes(3, 100));
    assert_eq!(latest(&reader), (3, bytes(3, 100)));
    writer.delete_model("m", Some(3)).unwrap();
    assert_eq!(latest(&reader), (2, bytes(2, 100)));
    writer.delete_model("m", None).unwrap();
    push(&writer, "m", &bytes(4, 100));
    assert_eq!(latest(&reader), (1, bytes(4, 100)));
    push(&writer, "m", &bytes(5, 100));
    assert_eq!(latest(&reader), (2, bytes(5, 100)));
    // a claim above the latest that is never committed (a crashed push) hides nothing
    let root = model_root(writer.prefix(), "m");
    block_on(writer.store().put(
        &version_dir(&root, 3).join(CLAIM),
        PutPayload::from_static(b"{}"),
    ))
    .unwrap();
    assert_eq!(latest(&reader), (2, bytes(5, 100)));
    assert_eq!(push(&writer, "m", &bytes(6, 100)), 4);
    assert_eq!(latest(&reader), (4, bytes(6, 100)));
}

fn cache_and_tampering(b: Backend) {
    let f = fixture(b);
    let p = f.open(None);
    let data = bytes(9, 5000);
    let info = p.push_model("c", &data, &PushOptions::default()).unwrap();
    let cache = p.cache().unwrap();
    // pushing fills the cache; a corrupted cached file is re-fetched, not trusted
    let cached = cache.object_path(&info.sha256);
    assert!(cached.exists());
    std::fs::write(&cached, b"corrupted").unwrap();
    assert_eq!(p.model_bytes("c", None).unwrap().1, data);
    assert_eq!(std::fs::read(&cached).unwrap().len(), 5000);
    // the stored object changed behind our back: reads from the store fail the hash check
    let path = version_dir(&model_root(p.prefix(), "c"), 1).join(MODEL_PLAIN);
    block_on(p.store().put(&path, PutPayload::from_static(b"evil"))).unwrap();
    let e = p.verify_model("c", None).unwrap_err();
    assert!(matches!(e, Error::Integrity { .. }), "{e}");
    assert!(e.to_string().contains("push the model again"), "{e}");
    let fresh = f.open_with(None, false);
    assert!(matches!(
        fresh.model_bytes("c", None).unwrap_err(),
        Error::Integrity { .. }
    ));
    // the cache still holds the verified original
    assert_eq!(p.model_bytes("c", None).unwrap().1, data);
}

/// A committed version whose stored object is gone is an integrity error naming the object, on
/// a fresh handle (nothing cached), not a plain "not found" as if the model did not exist.
fn a_missing_model_object_is_an_integrity_error(b: Backend) {
    let f = fixture(b);
    let p = f.open_with(None, false);
    p.push_model("gone", &bytes(4, 3000), &PushOptions::default())
        .unwrap();
    let object = version_dir(&model_root(p.prefix(), "gone"), 1).join(MODEL_PLAIN);
    block_on(p.store().delete(&object)).unwrap();
    let fresh = f.open_with(None, false);
    let e = fresh.model_bytes("gone", None).unwrap_err();
    assert!(matches!(e, Error::Integrity { .. }), "{e}");
    assert!(
        e.to_string()
            .contains(&format!("{MODEL_PLAIN} is missing; push the model again")),
        "{e}"
    );
}

/// A push records the BLAKE3 of the stored object (the reference `blake3` crate's hash of the
/// pushed bytes, stored as they are when plain); a manifest written before that field existed
/// reads unchanged and its reads check the SHA-256 instead.
fn reads_check_blake3_else_sha256(b: Backend) {
    let f = fixture(b);
    let p = f.open_with(None, false);
    let data = bytes(3, 4000);
    let info = p.push_model("h", &data, &PushOptions::default()).unwrap();
    assert_eq!(
        info.blake3.as_deref(),
        Some(blake3::hash(&data).to_hex().as_str())
    );
    // the version's manifest as an older build wrote it: no `blake3`
    let root = model_root(p.prefix(), "h");
    let manifest = version_dir(&root, 1).join("manifest.json");
    let mut json: serde_json::Value = serde_json::from_slice(
        &block_on(async { p.store().get(&manifest).await?.bytes().await }).unwrap(),
    )
    .unwrap();
    json.as_object_mut().unwrap().remove("blake3").unwrap();
    let older = serde_json::to_vec(&json).unwrap();
    block_on(p.store().put(&manifest, PutPayload::from(older))).unwrap();
    let (got_info, got) = p.model_bytes("h", Some(1)).unwrap();
    assert_eq!((got_info.blake3, got), (None, data.clone()));
    // same length, one byte changed: the SHA-256 check refuses it
    let mut evil = data.clone();
    evil[100] ^= 1;
    let object = version_dir(&root, 1).join(MODEL_PLAIN);
    block_on(p.store().put(&object, PutPayload::from(evil))).unwrap();
    let e = p.model_bytes("h", Some(1)).unwrap_err();
    assert!(matches!(e, Error::Integrity { .. }), "{e}");
    assert!(e.to_string().contains(&info.sha256), "{e}");
}

/// Pushing what the latest version already holds (same bytes, metadata, provenance and
/// encryption) returns that version and writes nothing; any difference is a new version.
fn identical_push_returns_the_latest(b: Backend) {
    let f = fixture(b);
    for key in [None, Some(Key::generate())] {
        let p = f.open(key.clone());
        let name = if key.is_some() { "sealed" } else { "plain" };
        let first = p
            .push_model(name, &bytes(1, 500), &PushOptions::default())
            .unwrap();
        let again = p
            .push_model(name, &bytes(1, 500), &PushOptions::default())
            .unwrap();
        assert_eq!(again, first);
        assert_eq!(p.model_versions(name).unwrap(), vec![1]);
        let tagged = PushOptions {
            metadata: serde_json::json!({"auc": 0.9}),
            ..Default::default()
        };
        assert_eq!(
            p.push_model(name, &bytes(1, 500), &tagged).unwrap().version,
            2
        );
        assert_eq!(
            p.push_model(name, &bytes(1, 500), &tagged).unwrap().version,
            2
        );
        assert_eq!(
            p.push_model(name, &bytes(2, 500), &tagged).unwrap().version,
            3
        );
        // an older version's bytes are new again: only the latest counts
        assert_eq!(
            p.push_model(name, &bytes(1, 500), &tagged).unwrap().version,
            4
        );
        if key.is_some() {
            assert_eq!(
                p.push_model(name, &bytes(1, 500), &unencrypted())
                    .unwrap()
                    .version,
                5
            );
        }
    }
}

/// One case over any backend, driven by its capabilities (the model side of
/// `platform_datasets.rs`'s case of the same name): what was pushed (through the backend, or for
/// a read-only one through the folder it serves) loads and reads back the same, versions are
/// found with or without listing, and what the backend cannot do is a typed error.
fn reads_by_capability(b: Backend) {
    let caps = b.caps();
    let f = fixture(b);
    let key = Key::generate();
    let w = f.writer(Some(key.clone()));
    let add_mul = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/add_mul.onnx"
    ))
    .unwrap();
    push(&w, "cap", &bytes(1, 1500));
    push(&w, "cap", &add_mul);
    let p = f.open(Some(key));
    assert_eq!(p.model_bytes("cap", None).unwrap().1, add_mul);
    assert_eq!(p.model_bytes("cap", Some(1)).unwrap().1, bytes(1, 1500));
    let model = p
        .load_model("cap", None, &lepton_core::model::ModelOptions::default())
        .unwrap();
    let names: Vec<&str> = model.inputs().iter().map(|i| i.name()).collect();
    assert_eq!(names, ["x", "y"]);
    assert_eq!(p.model_versions("cap").unwrap(), [1, 2]);
    let info = p.verify_model("cap", Some(2)).unwrap();
    assert_eq!((info.version, info.encrypted), (2, true));
    caps.check_listing(p.list_models(), &["cap"]);
    let deleted = p.delete_model("cap", Some(1));
    let pushed = p.push_model("cap", &bytes(3, 900), &PushOptions::default());
    if caps.writes {
        deleted.unwrap();
        assert_eq!(pushed.unwrap().version, 3);
        assert_eq!(p.model_versions("cap").unwrap(), [2, 3]);
    } else {
        let e = deleted.unwrap_err();
        assert!(matches!(e, Error::ReadOnly(_)), "{e}");
        let e = pushed.unwrap_err();
        assert!(matches!(e, Error::ReadOnly(_)), "{e}");
    }
}

#[test]
fn reads_by_capability_over_read_only_http() {
    reads_by_capability(Backend::Http)
}

macro_rules! suite {
    ($($case:ident),* $(,)?) => {
        mod memory { $( #[test] fn $case() { super::$case(super::Backend::Memory) } )* }
        mod local { $( #[test] fn $case() { super::$case(super::Backend::Local) } )* }
        mod s3 { $( #[test] fn $case() { super::$case(super::Backend::S3) } )* }
    };
}

suite!(
    push_and_load,
    versions_latest_list_delete,
    unknown_and_bad_names,
    concurrent_pushes,
    a_missing_model_object_is_an_integrity_error,
    interrupted_push,
    encrypted_models,
    encrypted_registry_refuses_swaps,
    sealed_reads_are_bound_to_their_object,
    hostile_latest_hint,
    the_latest_follows_other_handles,
    cache_and_tampering,
    reads_check_blake3_else_sha256,
    identical_push_returns_the_latest,
    reads_by_capability,
);

/// A local folder with a file where a model's folder belongs has no such model (as the listing
/// of a folder that holds no versions): not found, not an I/O error.
#[test]
fn a_file_where_a_model_folder_belongs_is_not_found() {
    let f = fixture(Backend::Local);
    let p = f.open_with(None, false);
    let models = std::path::Path::new(&f.uri).join("models");
    std::fs::create_dir_all(&models).unwrap();
    std::fs::write(models.join("m"), b"not a folder").unwrap();
    let e = p.model_info("m", None).unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e}");
}

// ----- remote-only behaviour --------------------------------------------------------------------

fn fast_fail() -> Vec<(String, String)> {
    vec![
        ("connect_timeout".into(), "1s".into()),
        ("timeout".into(), "2s".into()),
        ("max_retries".into(), "1".into()),
        ("retry_timeout".into(), "3s".into()),
    ]
}

#[test]
fn http_registry_unreachable_is_a_clear_error() {
    let uri = format!("http://127.0.0.1:{}/registry", closed_port());
    let p = Platform::open(
        Some(&uri),
        PlatformOptions {
            no_cache: true,
            storage_options: [fast_fail(), vec![("allow_http".into(), "true".into())]].concat(),
            ..Default::default()
        },
    )
    .unwrap();
    let t = Instant::now();
    let e = p.model_bytes("m", None).unwrap_err();
    assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());
    assert!(matches!(e, Error::Unreachable { .. }), "{e}");
    assert!(
        e.to_string()
            .starts_with(&format!("store unreachable at {uri}")),
        "{e}"
    );
    // and writes are refused before any network access
    let e = p
        .push_model("m", b"x", &PushOptions::default())
        .unwrap_err();
    assert!(matches!(e, Error::ReadOnly(_)), "{e}");
}

#[test]
fn https_registry_parses_offline() {
    let p = Platform::open(
        Some("https://cloud-lepton.ai"),
        PlatformOptions {
            no_cache: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(p.uri(), "https://cloud-lepton.ai");
    assert!(matches!(
        p.delete_model("m", None).unwrap_err(),
        Error::ReadOnly(_)
    ));
}

#[test]
fn unroutable_endpoint_times_out() {
    // 192.0.2.0/24 (TEST-NET-1) is never routed: the connect either times out or is refused.
    let p = Platform::open(
        Some("s3://bucket/prefix"),
        PlatformOptions {
            no_cache: true,
            storage_options: [
                fast_fail(),
                vec![
                    ("aws_endpoint".into(), "http://192.0.2.1:9".into()),
                    ("aws_allow_http".into(), "true".into()),
                    ("aws_access_key_id".into(), "x".into()),
                    ("aws_secret_access_key".into(), "y".into()),
                    ("aws_region".into(), "us-east-1".into()),
                ],
            ]
            .concat(),
            ..Default::default()
        },
    )
    .unwrap();
    let t = Instant::now();
    let e = p.list_models().unwrap_err();
    assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());
    assert!(matches!(e, Error::Unreachable { .. }), "{e}");
}

#[test]
fn s3_cache_serves_offline() {
    let f = fixture(Backend::S3);
    let key = Key::generate();
    let p = f.open(Some(key.clone()));
    let data = bytes(5, 3000);
    push(&p, "edge", &data);
    push(&p, "edge", &bytes(6, 3000));
    assert_eq!(p.model_bytes("edge", None).unwrap().1, bytes(6, 3000));
    assert_eq!(p.model_bytes("edge", Some(1)).unwrap().1, data);
    // the network is gone: same registry URI and cache, endpoint now a closed port
    let dead = Platform::open(
        Some(&f.uri),
        PlatformOptions {
            key: Some(key),
            cache_dir: Some(f.cache.path().to_path_buf()),
            storage_options: [
                fast_fail(),
                vec![(
                    "aws_endpoint".into(),
                    format!("http://127.0.0.1:{}", closed_port()),
                )],
            ]
            .concat(),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(dead.model_bytes("edge", None).unwrap().1, bytes(6, 3000));
    assert_eq!(dead.model_bytes("edge", Some(1)).unwrap().1, data);
    // something never loaded can't be served
    let e = dead.model_bytes("other", None).unwrap_err();
    assert!(matches!(e, Error::Unreachable { .. }), "{e}");
    // nothing in the cache is in clear
    for entry in walk(f.cache.path()) {
        let content = std::fs::read(&entry).unwrap();
        assert!(
            content.windows(64).all(|w| w != &data[..64]),
            "{}",
            entry.display()
        );
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.path().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

#[test]
fn s3_large_model_uploads_in_parts_with_progress() {
    let f = fixture(Backend::S3);
    let p = f.open_with(None, false);
    let data = bytes(7, 20 << 20);
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let s = seen.clone();
    p.push_model(
        "big",
        &data,
        &PushOptions {
            progress: Some(Arc::new(move |d, t| {
                s.lock().unwrap().push((d, t));
                Ok(())
            })),
            ..Default::default()
        },
    )
    .unwrap();
    let seen = seen.lock().unwrap().clone();
    assert!(seen.len() >= 4, "{seen:?}");
    assert!(seen.windows(2).all(|w| w[0].0 <= w[1].0));
    assert_eq!(seen.last().unwrap(), &(20 << 20, 20 << 20));
    assert_eq!(p.model_bytes("big", None).unwrap().1, data);
}

#[test]
fn real_model_loads_from_an_encrypted_registry() {
    use lepton_core::model::{Model, ModelOptions};
    let onnx_path =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/add_mul.onnx");
    let f = fixture(Backend::Local);
    let key = Key::generate();
    let p = f.open(Some(key.clone()));
    let local = Model::from_file(&onnx_path, &ModelOptions::default()).unwrap();
    let info = p
        .push_loaded_model("add_mul", &local, &PushOptions::default())
        .unwrap();
    assert!(info.encrypted);
    let model = p
        .load_model("add_mul", None, &ModelOptions::default())
        .unwrap();
    let names: Vec<&str> = model.inputs().iter().map(|i| i.name()).collect();
    assert_eq!(names, ["x", "y"]);
    // not a model: the push refuses it before anything is written
    let e = p
        .push_model("junk", b"not onnx", &PushOptions::default())
        .unwrap_err();
    assert!(matches!(e, Error::InvalidModel { .. }), "{e}");
    assert_eq!(
        e.to_string(),
        "invalid model `junk`: not an ONNX model (invalid wire type 6 at byte 0); expected a \
         serialized ModelProto (.onnx); nothing was pushed"
    );
    assert!(!p.list_models().unwrap().contains(&"junk".to_string()));
    // a model's top level that ONNX Runtime still refuses (no opset import): the load error
    // names the registry item
    p.push_model("junk", &onnx_holding(b""), &PushOptions::default())
        .unwrap();
    let e = p
        .load_model("junk", None, &ModelOptions::default())
        .unwrap_err();
    assert!(matches!(e, Error::InvalidModel { .. }), "{e}");
    assert!(
        e.to_string()
            .starts_with("invalid model `model `junk` version 1`"),
        "{e}"
    );
}
