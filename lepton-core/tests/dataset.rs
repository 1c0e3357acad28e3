//! Dataset writer/reader: round trips and the commit protocol on memory, local-folder and S3 stores,
//! iteration (shuffle, shard, resume), and every kind of bad input as a typed error. Fixtures are
//! generated here.

use std::collections::HashSet;
use std::sync::Arc;

use lepton_core::crypto::Key;
use lepton_core::dataset::{
    ColumnData, DType, Dataset, DatasetWriter, Element, IterOptions, ReadOptions, WriteOptions,
    FORMAT_VERSION,
};
use lepton_core::pools::block_on;
use lepton_core::Error;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

mod common;
use common::columns::Columns;
use common::get_hook::GetHook;

const ROWS: usize = 1000;

fn mem() -> Arc<dyn ObjectStore> {
    Arc::new(InMemory::new())
}

/// The test table of `rows` rows made from `salt`.
fn sample(rows: usize, salt: i64) -> Columns {
    Columns::new(rows, salt)
}

fn write(
    store: &Arc<dyn ObjectStore>,
    prefix: &str,
    key: Option<Key>,
    version: u64,
    data: &Columns,
) -> lepton_core::Result<lepton_core::dataset::DatasetInfo> {
    let mut w = DatasetWriter::create(
        store.clone(),
        Path::from(prefix),
        WriteOptions {
            key,
            version,
            chunk_bytes: 4096,
            ..Default::default()
        },
    )?;
    // Two writes, to cross chunk boundaries between calls.
    let half = data.y.len() / 2;
    for (a, b) in [(0, half), (half, data.y.len())] {
        w.write_columns(&[
            ("x", ColumnData::from_slice(&data.x[a * 3..b * 3], &[3])?),
            ("y", ColumnData::from_slice(&data.y[a..b], &[])?),
            ("s", ColumnData::strings(&data.s[a..b])),
        ])?;
    }
    w.close()
}

fn open(
    store: &Arc<dyn ObjectStore>,
    prefix: &str,
    key: Option<Key>,
) -> lepton_core::Result<Dataset> {
    Dataset::open(
        store.clone(),
        Path::from(prefix),
        key,
        ReadOptions::default(),
    )
}

/// Version `version` of the dataset at `prefix`.
fn open_version(
    store: &Arc<dyn ObjectStore>,
    prefix: &str,
    key: Option<Key>,
    version: u64,
) -> lepton_core::Result<Dataset> {
    let options = ReadOptions {
        version: Some(version),
        ..Default::default()
    };
    Dataset::open(store.clone(), Path::from(prefix), key, options)
}

/// A writer of `version` at `prefix`, unencrypted, with chunks of `chunk_bytes`.
fn writer(
    store: &Arc<dyn ObjectStore>,
    prefix: &str,
    version: u64,
    chunk_bytes: usize,
) -> DatasetWriter {
    let options = WriteOptions {
        version,
        chunk_bytes,
        ..Default::default()
    };
    DatasetWriter::create(store.clone(), Path::from(prefix), options).unwrap()
}

/// A fresh memory store holding `sample(400, 0)` as version 1 at `prefix`, under `key`.
fn stored_sample(prefix: &str, key: Option<Key>) -> (Arc<dyn ObjectStore>, Columns) {
    let (store, data) = (mem(), sample(400, 0));
    write(&store, prefix, key, 1, &data).unwrap();
    (store, data)
}

fn check_rows(ds: &Dataset, data: &Columns) {
    let all = ds.to_batch().unwrap();
    assert_eq!(all.rows(), data.y.len());
    assert_eq!(all.columns[0].to_vec::<f32>().unwrap(), data.x);
    assert_eq!(all.columns[1].to_vec::<i64>().unwrap(), data.y);
    for (i, s) in data.s.iter().enumerate() {
        assert_eq!(all.columns[2].value(i).unwrap(), s.as_bytes());
    }
}

/// The stores the reader/writer cases run on: memory, a local folder, and a fresh prefix of the
/// moto S3 bucket (`scripts/moto.sh`; the S3 cases fail, saying so, without it).
fn store_on(backend: common::Backend) -> (Arc<dyn ObjectStore>, Option<tempfile::TempDir>) {
    match backend {
        common::Backend::Memory => (mem(), None),
        common::Backend::Local => {
            let dir = tempfile::tempdir().unwrap();
            let local = object_store::local::LocalFileSystem::new_with_prefix(dir.path()).unwrap();
            (Arc::new(local), Some(dir))
        }
        common::Backend::S3 => {
            let bucket = common::s3_bucket();
            let loc = lepton_core::store::open_uri(&format!("s3://{bucket}"), &[]).unwrap();
            let prefix = format!("dataset-tests-{}", uuid::Uuid::new_v4());
            let store = object_store::prefix::PrefixStore::new(loc.store, prefix.as_str());
            (Arc::new(store), None)
        }
        common::Backend::Http => panic!("the dataset writer needs a writable store"),
    }
}

macro_rules! on_every_store {
    ($($case:ident),*) => {
        mod on_memory { $( #[test] fn $case() { super::$case(super::common::Backend::Memory) } )* }
        mod on_local { $( #[test] fn $case() { super::$case(super::common::Backend::Local) } )* }
        mod on_s3 { $( #[test] fn $case() { super::$case(super::common::Backend::S3) } )* }
    };
}

on_every_store!(round_trip_encrypted_and_plain, commit_protocol);

fn round_trip_encrypted_and_plain(backend: common::Backend) {
    let (store, _dir) = store_on(backend);
    {
        for key in [None, Some(Key::generate())] {
            let data = sample(ROWS, 0);
            let info = write(&store, "ds", key.clone(), 1, &data).unwrap();
            assert_eq!(info.rows, ROWS as u64);
            assert!(info.chunks > 5, "{info:?}");
            assert_eq!(info.encrypted, key.is_some());
            let ds = open(&store, "ds", key).unwrap();
            assert_eq!(ds.len(), ROWS as u64);
            assert_eq!(ds.schema().names(), ["x", "y", "s"]);
            assert_eq!(ds.schema().columns[2].dtype, DType::String);
            check_rows(&ds, &data);
            let row = ds.get(537).unwrap();
            assert_eq!(row.columns[1].to_vec::<i64>().unwrap(), [537 * 7]);
            assert_eq!(
                row.columns[0].to_vec::<f32>().unwrap(),
                data.x[537 * 3..538 * 3]
            );
            let s = ds.slice(10, 700).unwrap();
            assert_eq!(s.columns[1].to_vec::<i64>().unwrap(), data.y[10..700]);
            assert_eq!(s.columns[2].value(0).unwrap(), data.s[10].as_bytes());
            block_on(store.delete(&Path::from("ds/manifests/00000000000000000001.manifest")))
                .unwrap();
        }
    }
}

#[test]
fn codecs_and_filters_round_trip() {
    use lepton_core::dataset::{Codec, Filter};
    let data = sample(300, 1);
    for codec in [Codec::None, Codec::Zstd] {
        for filter in [Filter::None, Filter::Shuffle] {
            let store = mem();
            let key = Key::generate();
            let mut w = DatasetWriter::create(
                store.clone(),
                Path::from("p"),
                WriteOptions {
                    key: Some(key.clone()),
                    codec,
                    filter,
                    chunk_bytes: 1000,
                    ..Default::default()
                },
            )
            .unwrap();
            assert!(w.schema().is_none());
            w.write_columns(&[
                ("x", ColumnData::from_slice(&data.x, &[3]).unwrap()),
                ("y", ColumnData::from_slice(&data.y, &[]).unwrap()),
                ("s", ColumnData::bytes(&data.s)),
            ])
            .unwrap();
            let info = w.close().unwrap();
            assert_eq!(info.rows, 300);
            let ds = open(&store, "p", Some(key)).unwrap();
            let all = ds.to_batch().unwrap();
            assert_eq!(all.columns[0].to_vec::<f32>().unwrap(), data.x);
            assert_eq!(all.columns[1].to_vec::<i64>().unwrap(), data.y);
            assert_eq!(all.columns[2].dtype(), DType::Bytes);
            assert_eq!(all.columns[2].value(299).unwrap(), data.s[299].as_bytes());
            if codec == Codec::None {
                assert!(ds.manifest().chunks.iter().all(|c| c.codec == Codec::None));
            }
        }
    }
}

#[test]
fn iteration_shuffle_shard_resume() {
    let store = mem();
    let data = sample(ROWS, 0);
    let key = Key::generate();
    write(&store, "it", Some(key.clone()), 1, &data).unwrap();
    let ds = open(&store, "it", Some(key)).unwrap();
    let labels = |opts: IterOptions| -> Vec<i64> {
        ds.iter_batches(opts)
            .unwrap()
            .flat_map(|b| b.unwrap().columns[1].to_vec::<i64>().unwrap())
            .collect()
    };
    let seq = labels(IterOptions {
        batch_size: 64,
        ..Default::default()
    });
    assert_eq!(seq, data.y);
    let shuffled = IterOptions {
        batch_size: 50,
        shuffle: true,
        seed: 7,
        shuffle_buffer: 300,
        ..Default::default()
    };
    let a = labels(shuffled.clone());
    assert_ne!(a, data.y);
    let mut sorted = a.clone();
    sorted.sort();
    assert_eq!(sorted, data.y, "a shuffled epoch visits every row once");
    assert_eq!(
        a,
        labels(shuffled.clone()),
        "deterministic for seed and epoch"
    );
    assert_ne!(
        a,
        labels(IterOptions {
            epoch: 1,
            ..shuffled.clone()
        })
    );
    assert_ne!(
        a,
        labels(IterOptions {
            seed: 8,
            ..shuffled.clone()
        })
    );
    // Shards: equal sizes, disjoint.
    let mut seen = HashSet::new();
    for rank in 0..3 {
        let part = labels(IterOptions {
            rank,
            world_size: 3,
            ..shuffled.clone()
        });
        assert_eq!(part.len(), ROWS / 3);
        for v in part {
            assert!(seen.insert(v), "row {v} on two ranks");
        }
    }
    // Resume mid-epoch from a saved state.
    let mut it = ds
        .iter_batches(IterOptions {
            rank: 1,
            world_size: 2,
            ..shuffled.clone()
        })
        .unwrap();
    let mut first: Vec<i64> = Vec::new();
    for _ in 0..4 {
        first.extend(
            it.next().unwrap().unwrap().columns[1]
                .to_vec::<i64>()
                .unwrap(),
        );
    }
    let state = it.state();
    assert_eq!(state.position, 200);
    let rest: Vec<i64> = it
        .flat_map(|b| b.unwrap().columns[1].to_vec::<i64>().unwrap())
        .collect();
    let json = serde_json::to_string(&state).unwrap();
    let resumed: Vec<i64> = ds
        .iter_batches(serde_json::from_str(&json).unwrap())
        .unwrap()
        .flat_map(|b| b.unwrap().columns[1].to_vec::<i64>().unwrap())
        .collect();
    assert_eq!(resumed, rest);
    assert_eq!(first.len() + rest.len(), ROWS / 2);
    // A state resumes only on the dataset version it was saved on.
    let r = state
        .resume_of
        .clone()
        .expect("state() records its dataset");
    assert_eq!((r.version, r.rows), (1, ROWS as u64));
    for (bad, what) in [
        (
            lepton_core::dataset::ResumeOf {
                version: 2,
                ..r.clone()
            },
            "its version is 2",
        ),
        (
            lepton_core::dataset::ResumeOf {
                rows: 999,
                ..r.clone()
            },
            "its rows is 999",
        ),
        (
            lepton_core::dataset::ResumeOf {
                dataset_id: "0".repeat(32),
                ..r.clone()
            },
            "its dataset_id is",
        ),
    ] {
        let err = ds
            .iter_batches(IterOptions {
                resume_of: Some(bad),
                ..state.clone()
            })
            .unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
        assert!(err.to_string().contains(what), "{err}");
    }
    // drop_last
    let n = ds
        .iter_batches(IterOptions {
            batch_size: 300,
            drop_last: true,
            ..Default::default()
        })
        .unwrap()
        .count();
    assert_eq!(n, 3);
    assert!(matches!(
        ds.iter_batches(IterOptions {
            rank: 2,
            world_size: 2,
            ..Default::default()
        }),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn wrong_or_missing_key() {
    let store = mem();
    let data = sample(100, 0);
    let key = Key::generate();
    write(&store, "k", Some(key.clone()), 1, &data).unwrap();
    let err = open(&store, "k", Some(Key::generate())).unwrap_err();
    assert!(matches!(err, Error::WrongKey { .. }), "{err}");
    let hexkey = hex::encode(key.as_bytes());
    assert!(!err.to_string().contains(&hexkey));
    assert!(matches!(
        open(&store, "k", None).unwrap_err(),
        Error::KeyRequired(_)
    ));
    write(&store, "plain", None, 1, &data).unwrap();
    assert!(matches!(
        open(&store, "plain", Some(key.clone())).unwrap_err(),
        Error::KeyRequired(_)
    ));
    assert_eq!(format!("{key:?}"), "Key(<redacted>)");
}

#[test]
fn passphrase_keys() {
    let store = mem();
    let data = sample(50, 0);
    let key = Key::from_passphrase("correct horse", None).unwrap();
    write(&store, "pw", Some(key), 1, &data).unwrap();
    let open = |phrase: &str| {
        Dataset::open_with_passphrase(store.clone(), "pw".into(), phrase, ReadOptions::default())
    };
    check_rows(&open("correct horse").unwrap(), &data);
    let err = open("wrong horse").unwrap_err();
    assert!(matches!(err, Error::WrongKey { .. }), "{err}");
    assert!(!err.to_string().contains("horse"));
}

#[test]
fn key_from_env() {
    let key = Key::generate();
    // SAFETY (test): no other test reads this variable.
    unsafe { std::env::set_var("LEPTON_TEST_KEY_HEX", hex::encode(key.as_bytes())) };
    assert_eq!(Key::from_env("LEPTON_TEST_KEY_HEX").unwrap(), key);
    unsafe { std::env::set_var("LEPTON_TEST_KEY_BAD", "not a key") };
    let err = Key::from_env("LEPTON_TEST_KEY_BAD").unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)));
    assert!(!err.to_string().contains("not a key"));
    assert!(matches!(
        Key::from_env("LEPTON_TEST_KEY_UNSET").unwrap_err(),
        Error::KeyRequired(_)
    ));
    assert!(matches!(
        Key::from_bytes(&[0; 31]).unwrap_err(),
        Error::InvalidArgument(_)
    ));
}

fn get(store: &Arc<dyn ObjectStore>, p: &str) -> Vec<u8> {
    block_on(async {
        store
            .get(&Path::from(p))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
    })
    .to_vec()
}

fn put(store: &Arc<dyn ObjectStore>, p: &str, b: Vec<u8>) {
    block_on(store.put(&Path::from(p), PutPayload::from(b))).unwrap();
}

fn chunk_paths(store: &Arc<dyn ObjectStore>, prefix: &str) -> Vec<String> {
    use futures::TryStreamExt;
    let mut v: Vec<String> = block_on(
        store
            .list(Some(&Path::from(format!("{prefix}/data"))))
            .try_collect::<Vec<_>>(),
    )
    .unwrap()
    .into_iter()
    .map(|m| m.location.to_string())
    .collect();
    v.sort();
    v
}

fn read_all(
    store: &Arc<dyn ObjectStore>,
    prefix: &str,
    key: Option<Key>,
) -> lepton_core::Result<()> {
    let ds = open(store, prefix, key)?;
    for b in ds.iter_batches(IterOptions::default())? {
        b?;
    }
    Ok(())
}

#[test]
fn tampered_chunks_are_integrity_errors() {
    for key in [Some(Key::generate()), None] {
        let (store, _) = stored_sample("t", key.clone());
        let chunks = chunk_paths(&store, "t");
        assert!(chunks.len() >= 3);
        let original = get(&store, &chunks[1]);
        // Every flipped byte of a chunk.
        for i in 0..original.len() {
            let mut b = original.clone();
            b[i] ^= 0x01;
            put(&store, &chunks[1], b);
            let err = read_all(&store, "t", key.clone()).unwrap_err();
            assert!(matches!(err, Error::Integrity { .. }), "byte {i}: {err}");
        }
        // Truncated.
        put(&store, &chunks[1], original[..original.len() - 1].to_vec());
        assert!(matches!(
            read_all(&store, "t", key.clone()).unwrap_err(),
            Error::Integrity { .. }
        ));
        // Swapped with another chunk of the same dataset.
        let other = get(&store, &chunks[0]);
        put(&store, &chunks[1], other.clone());
        put(&store, &chunks[0], original.clone());
        let err = read_all(&store, "t", key.clone()).unwrap_err();
        assert!(matches!(err, Error::Integrity { .. }), "{err}");
        put(&store, &chunks[0], other);
        put(&store, &chunks[1], original.clone());
        read_all(&store, "t", key.clone()).unwrap();
        // Copied from another dataset (same key, other version; same layout, other values).
        write(&store, "t", key.clone(), 2, &sample(400, 1)).unwrap();
        let v2 = chunk_paths(&store, "t")
            .into_iter()
            .find(|p| !chunks.contains(p) && p.ends_with("00000001.chunk"))
            .unwrap();
        put(&store, &chunks[1], get(&store, &v2));
        let ds1 = open_version(&store, "t", key.clone(), 1).unwrap();
        let err = ds1.chunk(1).unwrap_err();
        assert!(matches!(err, Error::Integrity { .. }), "{err}");
        // Missing.
        block_on(store.delete(&Path::from(chunks[1].as_str()))).unwrap();
        let err = ds1.chunk(1).unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }), "{err}");
        assert!(err.to_string().contains("missing"));
    }
}

#[test]
fn tampered_manifests_are_typed_errors() {
    for key in [Some(Key::generate()), None] {
        let store = mem();
        write(&store, "m", key.clone(), 1, &sample(40, 0)).unwrap();
        let path = "m/manifests/00000000000000000001.manifest";
        let original = get(&store, path);
        for i in 0..original.len() {
            let mut b = original.clone();
            b[i] ^= 0x01;
            put(&store, path, b);
            match open(&store, "m", key.clone()) {
                Ok(_) => panic!("byte {i} flipped and accepted"),
                Err(
                    Error::Integrity { .. }
                    | Error::UnsupportedVersion { .. }
                    | Error::WrongKey { .. },
                ) => {}
                // Flipping the encryption field off/on turns into a key mismatch.
                Err(Error::KeyRequired(_)) => {}
                Err(e) => panic!("byte {i}: unexpected {e:?}"),
            }
        }
        put(&store, path, original[..original.len() - 10].to_vec());
        assert!(matches!(
            open(&store, "m", key.clone()).unwrap_err(),
            Error::Integrity { .. }
        ));
        // A newer format version.
        let (now, next) = (FORMAT_VERSION, FORMAT_VERSION + 1);
        let text = String::from_utf8(original.clone()).unwrap().replacen(
            &format!("lepton-dataset {now}"),
            &format!("lepton-dataset {next}"),
            1,
        );
        put(&store, path, text.into_bytes());
        let err = open(&store, "m", key.clone()).unwrap_err();
        assert!(
            matches!(
                err,
                Error::UnsupportedVersion { found, supported, .. } if found == next && supported == now
            ),
            "{err}"
        );
        // A manifest stored under another version's name.
        put(&store, path, original.clone());
        put(
            &store,
            "m/manifests/00000000000000000005.manifest",
            original,
        );
        let err = open(&store, "m", key.clone()).unwrap_err();
        assert!(matches!(err, Error::Integrity { .. }), "{err}");
    }
}

#[test]
fn schema_errors() {
    let store = mem();
    let mut w =
        DatasetWriter::create(store.clone(), Path::from("s"), WriteOptions::default()).unwrap();
    let x = vec![1f32; 30];
    // columns x (30 floats, rows of `x_row`) and y (scalars)
    fn xy<'a, T: Element>(
        x: &'a [f32],
        x_row: &[u64],
        y: &'a [T],
    ) -> [(&'static str, ColumnData<'a>); 2] {
        let x = ColumnData::from_slice(x, x_row).unwrap();
        [("x", x), ("y", ColumnData::from_slice(y, &[]).unwrap())]
    }
    let err = w.write_columns(&xy(&x, &[3], &[1i64; 9])).unwrap_err();
    assert!(matches!(err, Error::Schema(_)), "{err}");
    assert!(err.to_string().contains("disagree in length"), "{err}");
    let y = vec![1i64; 10];
    w.write_columns(&xy(&x, &[3], &y)).unwrap();
    let err = w.write_columns(&xy(&x, &[3], &[1i32; 10])).unwrap_err();
    assert!(err.to_string().contains("is int64, got int32"), "{err}");
    let err = w.write_columns(&xy(&x, &[5], &y)).unwrap_err();
    assert!(matches!(err, Error::Schema(_)), "{err}");
    assert!(matches!(
        w.write_columns(&[("x", ColumnData::from_slice(&x, &[3]).unwrap())]),
        Err(Error::Schema(_))
    ));
    assert!(matches!(
        ColumnData::from_slice(&x, &[7]),
        Err(Error::Schema(_))
    ));
    let info = w.close().unwrap();
    assert_eq!(info.rows, 10);
    let ds = open(&store, "s", None).unwrap();
    let err = ds.get(10).unwrap_err();
    assert!(
        matches!(err, Error::IndexOutOfRange { index: 10, len: 10 }),
        "{err}"
    );
    assert!(matches!(
        ds.slice(5, 11),
        Err(Error::IndexOutOfRange { .. })
    ));
    assert!(matches!(
        open(&store, "nothing", None).unwrap_err(),
        Error::NotFound { .. }
    ));
}

fn commit_protocol(backend: common::Backend) {
    let (store, _dir) = store_on(backend);
    let data = sample(200, 0);
    write(&store, "c", None, 1, &data).unwrap();
    // A second writer of the same version loses at create (already committed) ...
    assert!(matches!(
        write(&store, "c", None, 1, &data).unwrap_err(),
        Error::AlreadyExists(_)
    ));
    // ... and two concurrent writers of a new version: one wins, the other gets AlreadyExists,
    // and neither overwrote the other's chunks.
    let mk = || writer(&store, "c", 2, 2048);
    let (mut a, mut b) = (mk(), mk());
    let ya: Vec<i64> = (0..300).collect();
    let yb: Vec<i64> = (1000..1300).collect();
    a.write_columns(&[("y", ColumnData::from_slice(&ya, &[]).unwrap())])
        .unwrap();
    b.write_columns(&[("y", ColumnData::from_slice(&yb, &[]).unwrap())])
        .unwrap();
    b.close().unwrap();
    assert!(matches!(a.close().unwrap_err(), Error::AlreadyExists(_)));
    let ds = open(&store, "c", None).unwrap();
    assert_eq!(ds.version(), 2);
    assert_eq!(
        ds.to_batch().unwrap().columns[0].to_vec::<i64>().unwrap(),
        yb
    );
    // A writer dropped before close leaves the latest version as it was.
    let mut w = writer(&store, "c", 3, 64);
    w.write_columns(&[("y", ColumnData::from_slice(&ya, &[]).unwrap())])
        .unwrap();
    drop(w);
    let ds = open(&store, "c", None).unwrap();
    assert_eq!(ds.version(), 2);
    assert_eq!(
        lepton_core::dataset::versions(store.as_ref(), &Path::from("c")).unwrap(),
        [1, 2]
    );
    let v1 = open_version(&store, "c", None, 1).unwrap();
    check_rows(&v1, &data);
    let err = open_version(&store, "c", None, 9).unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }));
    assert!(err.to_string().contains("[1, 2]"), "{err}");
}

#[test]
fn seal_and_open() {
    use lepton_core::crypto::{open, seal};
    let key = Key::generate();
    for len in [0, 1, 16383, 16384, 16385, 100_000] {
        let pt: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let ct = seal(&key, b"ctx", &pt).unwrap();
        assert_eq!(open(&key, b"ctx", &ct, "m").unwrap(), pt);
        assert!(matches!(
            open(&Key::generate(), b"ctx", &ct, "m"),
            Err(Error::WrongKey { .. })
        ));
        assert!(matches!(
            open(&key, b"other", &ct, "m"),
            Err(Error::WrongKey { .. })
        ));
        assert!(matches!(
            open(&key, b"ctx", &ct[..ct.len() - 1], "m"),
            Err(Error::Integrity { .. })
        ));
        let mut bad = ct.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(matches!(
            open(&key, b"ctx", &bad, "m"),
            Err(Error::Integrity { .. })
        ));
        assert_ne!(
            seal(&key, b"ctx", &pt).unwrap(),
            ct,
            "fresh salt per object"
        );
    }
}

/// A forged unencrypted manifest (recomputed SHA-256 trailer) claiming a chunk of 2^32-1 rows
/// used to open and then abort the process allocating ~1 TiB on the first read.
#[test]
fn forged_huge_chunk_is_an_integrity_error_not_an_abort() {
    use lepton_core::dataset::manifest;
    let store = mem();
    let mut w =
        DatasetWriter::create(store.clone(), Path::from("h"), WriteOptions::default()).unwrap();
    w.write_columns(&[("y", ColumnData::from_slice(&[1i64, 2, 3], &[]).unwrap())])
        .unwrap();
    w.close().unwrap();
    let path = "h/manifests/00000000000000000001.manifest";
    let mut m = manifest::parse(&get(&store, path), "manifest")
        .unwrap()
        .peek()
        .clone();
    for (rows, what) in [
        (u32::MAX as u64, "2^32-1 rows"),
        ((1 << 27) + 1, "just over 1 GiB"),
    ] {
        m.chunks[0].rows = rows;
        m.chunks[0].raw_len = rows * 8;
        m.rows = rows;
        put(&store, path, manifest::encode(&m, None));
        let err = open(&store, "h", None).unwrap_err();
        assert!(matches!(err, Error::Integrity { .. }), "{what}: {err}");
        assert!(err.to_string().contains("chunk limit"), "{what}: {err}");
    }
}

/// A panic while a chunk is prefetched in the pool used to abort the process; now the batch
/// that needs the chunk is a typed error, and the iterator does not hang.
#[test]
fn a_panic_while_prefetching_is_an_error_not_an_abort() {
    let inner = mem();
    write(&inner, "p", None, 1, &sample(400, 0)).unwrap();
    let store: Arc<dyn ObjectStore> = Arc::new(GetHook::new(inner, |location, _| {
        if location.as_ref().ends_with(".chunk") {
            panic!("store bug reading {location}");
        }
    }));
    let ds = open(&store, "p", None).unwrap();
    assert!(ds.num_chunks() > 2);
    let mut it = ds.iter_batches(IterOptions::default()).unwrap();
    let err = it.next().unwrap().unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err}");
    assert!(err.to_string().contains("store bug reading"), "{err}");
    assert!(it.next().is_none(), "the iterator stops after an error");
}

/// A chunk source whose GETs all wait at a gate, counting how many are in flight at once.
struct GatedChunks {
    inner: lepton_core::dataset::StoreChunks,
    /// (GETs started, gate open)
    state: std::sync::Mutex<(usize, bool)>,
    changed: std::sync::Condvar,
}

impl std::fmt::Display for GatedChunks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GatedChunks")
    }
}

impl lepton_core::dataset::ChunkSource for GatedChunks {
    fn get(&self, path: &Path, key: &str) -> object_store::Result<bytes::Bytes> {
        let mut g = self.state.lock().unwrap();
        g.0 += 1;
        self.changed.notify_all();
        while !g.1 {
            g = self.changed.wait(g).unwrap();
        }
        drop(g);
        lepton_core::dataset::ChunkSource::get(&self.inner, path, key)
    }
}

/// Small chunks are fetched further ahead than `prefetch` chunks (up to 32 MiB of stored
/// objects, at most 64 chunks), so that a slow store has enough GETs in flight at once.
#[test]
fn small_chunks_are_fetched_ahead_by_bytes_not_by_count() {
    use futures::TryStreamExt;
    let store = mem();
    let data = sample(3000, 0);
    write(&store, "g", None, 1, &data).unwrap();
    let manifest = block_on(store.list(Some(&Path::from("g"))).try_collect::<Vec<_>>())
        .unwrap()
        .into_iter()
        .filter(|m| !m.location.as_ref().ends_with(".chunk"))
        .collect::<Vec<_>>();
    assert_eq!(manifest.len(), 1, "{manifest:?}");
    let bytes = block_on(async { store.get(&manifest[0].location).await?.bytes().await }).unwrap();
    let source = Arc::new(GatedChunks {
        inner: lepton_core::dataset::StoreChunks(store.clone()),
        state: std::sync::Mutex::new((0, false)),
        changed: std::sync::Condvar::new(),
    });
    let ds = Dataset::open_manifest(
        source.clone(),
        Path::from("g"),
        1,
        &bytes,
        "the gated dataset",
        None,
        ReadOptions {
            prefetch: 1,
            ..Default::default()
        },
    )
    .unwrap();
    let want = ds.num_chunks().min(64);
    assert!(want > 20, "{} chunks", ds.num_chunks());
    let reader = std::thread::spawn(move || {
        let mut it = ds.iter_batches(IterOptions::default()).unwrap();
        it.next().unwrap().unwrap().rows()
    });
    // Every chunk's GET starts before any is answered (a generous bound, not a timing).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut g = source.state.lock().unwrap();
    while g.0 < want && std::time::Instant::now() < deadline {
        g = source
            .changed
            .wait_timeout(g, std::time::Duration::from_millis(100))
            .unwrap()
            .0;
    }
    let in_flight = g.0;
    g.1 = true;
    source.changed.notify_all();
    drop(g);
    assert_eq!(reader.join().unwrap(), 256);
    assert_eq!(in_flight, want, "GETs in flight at once with prefetch = 1");
}

/// The rules a binding calls instead of repeating them: shard arithmetic, and a saved state
/// that crosses as JSON and resumes only where it was saved (dataset version and shard).
#[test]
fn shards_and_saved_states_cross_as_json() {
    let store = mem();
    write(&store, "d", None, 1, &sample(1000, 0)).unwrap();
    let ds = open(&store, "d", None).unwrap();
    assert_eq!(ds.shard(0, 3).unwrap(), 0..333);
    assert_eq!(ds.shard(2, 3).unwrap(), 666..999);
    let e = ds.shard(3, 3).unwrap_err().to_string();
    assert!(e.contains("rank must be in 0..world_size"), "{e}");
    let mut it = ds
        .iter_batches(IterOptions {
            batch_size: 10,
            rank: 1,
            world_size: 3,
            ..Default::default()
        })
        .unwrap();
    it.next().unwrap().unwrap();
    let json = it.state().to_state_json();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        (v["position"].as_u64(), v["rows"].as_u64()),
        (Some(10), Some(1000))
    );
    let state = IterOptions::from_state_json(&json).unwrap();
    assert_eq!(state, it.state());
    ds.check_resume(&state, 1, 3).unwrap();
    let e = ds.check_resume(&state, 0, 3).unwrap_err().to_string();
    assert!(e.contains("saved on another shard"), "{e}");
    let mut partial = v.clone();
    partial.as_object_mut().unwrap().remove("rows");
    let e = IterOptions::from_state_json(&partial.to_string()).unwrap_err();
    assert!(matches!(e, Error::InvalidArgument(_)), "{e}");
    assert!(e.to_string().contains("not a Dataset state"), "{e}");
}

/// `docs/dataset-format.md`: adding optional JSON fields does not change the format version, so
/// a manifest from a newer writer with a field this build does not know still opens (its bytes,
/// the unknown field included, are still what the trailer authenticates).
#[test]
fn manifest_with_an_unknown_optional_field_opens() {
    use sha2::{Digest, Sha256};
    let store = mem();
    let data = sample(40, 0);
    write(&store, "u", None, 1, &data).unwrap();
    let path = "u/manifests/00000000000000000001.manifest";
    let text = String::from_utf8(get(&store, path)).unwrap();
    let mut lines = text.lines();
    let (header, body) = (lines.next().unwrap(), lines.next().unwrap());
    assert!(lines.next().unwrap().starts_with("sha256 "));
    let body = body.replacen('{', r#"{"added_later":{"note":"optional"},"#, 1);
    let signed = format!("{header}\n{body}\n");
    let trailer = format!(
        "sha256 {}\n",
        hex::encode(Sha256::digest(signed.as_bytes()))
    );
    put(&store, path, format!("{signed}{trailer}").into_bytes());
    let ds = open(&store, "u", None).unwrap();
    check_rows(&ds, &data);
    // ... and a changed byte is still refused.
    put(
        &store,
        path,
        format!("{signed}{trailer}")
            .replace("optional", "0ptional")
            .into_bytes(),
    );
    let e = open(&store, "u", None).unwrap_err();
    assert!(matches!(e, Error::Integrity { .. }), "{e}");
}

/// Copies the format-1 fixture `name` (see `fixtures/make_dataset_v1.py`) into a temporary
/// local store, so a test may tamper with it.
fn format_1_fixture(name: &str) -> (Arc<dyn ObjectStore>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dataset-v1");
    let copy = |from: &std::path::Path, to: &std::path::Path| {
        for f in walk(from) {
            let dest = to.join(f.strip_prefix(from).unwrap());
            std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
            std::fs::copy(&f, dest).unwrap();
        }
    };
    copy(&src.join(name), dir.path());
    let store = object_store::local::LocalFileSystem::new_with_prefix(dir.path()).unwrap();
    (Arc::new(store), dir)
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

#[test]
fn format_1_datasets_stay_readable_and_checked() {
    let key = Key::from_bytes(&(0u8..32).collect::<Vec<_>>()).unwrap();
    for (name, key) in [("encrypted", Some(key)), ("plain", None)] {
        let (store, _dir) = format_1_fixture(name);
        let ds = open(&store, "", key.clone()).unwrap();
        assert_eq!(ds.manifest().format_version, 1);
        assert!(ds.num_chunks() > 3, "{name}: several chunks");
        let b = ds.to_batch().unwrap();
        // The values make_dataset_v1.py wrote (numpy formulas).
        let x: Vec<f32> = (0..1200).map(|i| i as f32 / 8.0).collect();
        let y: Vec<i64> = (0..300).map(|i| i * 3 - 7).collect();
        assert_eq!(b.columns[0].to_vec::<f32>().unwrap(), x, "{name}");
        assert_eq!(b.columns[1].to_vec::<i64>().unwrap(), y, "{name}");
        for i in 0..300 {
            assert_eq!(
                b.columns[2].value(i).unwrap(),
                format!("row {i}").as_bytes()
            );
        }
        // A flipped byte of a format-1 chunk: SHA-256 (plain) or AES-GCM (encrypted) refuses it.
        let chunks = chunk_paths(&store, "");
        let mut bytes = get(&store, &chunks[2]);
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x10;
        put(&store, &chunks[2], bytes);
        let err = read_all(&store, "", key.clone()).unwrap_err();
        assert!(matches!(err, Error::Integrity { .. }), "{name}: {err}");
    }
}

#[test]
fn format_2_hashes_only_unencrypted_chunks_with_blake3() {
    for key in [Some(Key::generate()), None] {
        let (store, data) = stored_sample("h", key.clone());
        let text =
            String::from_utf8(get(&store, "h/manifests/00000000000000000001.manifest")).unwrap();
        assert!(text.starts_with(&format!("lepton-dataset {FORMAT_VERSION}\n")));
        let body: serde_json::Value = serde_json::from_str(text.lines().nth(1).unwrap()).unwrap();
        let entries = body["chunks"].as_array().unwrap();
        let stored = chunk_paths(&store, "h");
        assert_eq!(entries.len(), stored.len());
        for (e, path) in entries.iter().zip(&stored) {
            assert!(e.get("sha256").is_none(), "{e}");
            match &key {
                // Authenticated by AES-GCM under its context: no hash to compute or check.
                Some(_) => assert!(e.get("blake3").is_none(), "{e}"),
                None => assert_eq!(
                    e["blake3"].as_str().unwrap(),
                    blake3::hash(&get(&store, path)).to_hex().as_str()
                ),
            }
        }
        check_rows(&open(&store, "h", key).unwrap(), &data);
    }
}
