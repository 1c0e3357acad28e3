//! The registry conformance suite for datasets: every case runs against memory, a local folder
//! and S3 (moto_server from `scripts/moto.sh`; without it the S3 cases fail, saying so).
//! Data is generated (`common::Columns`: f32 x[3], i64 y, string s), small chunks so that every
//! dataset spans several chunk objects.

use lepton_core::crypto::Key;
use lepton_core::dataset::{Batch, IterOptions, ReadOptions};
use lepton_core::platform::{DatasetPushOptions, Platform, PlatformOptions};
use lepton_core::Error;

mod common;
use common::columns::Columns;
use common::{closed_port, fixture, Backend, Fixture};

impl Fixture {
    fn open(&self, key: Option<Key>, cache: bool) -> Platform {
        self.open_opts(key, cache, vec![])
    }
}

/// The test table of `rows` rows made from `seed`.
fn data(seed: i64, rows: usize) -> Columns {
    Columns::new(rows, seed)
}

fn opts(encrypt: Option<bool>) -> DatasetPushOptions {
    DatasetPushOptions {
        encrypt,
        chunk_bytes: Some(2048),
        metadata: [("source".to_string(), "generated".to_string())].into(),
        ..Default::default()
    }
}

fn push(p: &Platform, name: &str, split: &str, d: &Columns) -> u64 {
    p.push_dataset(name, split, &d.named(), &opts(None))
        .unwrap()
        .version
}

fn expected(d: &Columns) -> Batch {
    Batch {
        columns: d.named().into_iter().map(|(_, c)| c.into_owned()).collect(),
    }
}

/// Reading `name`/`split` at `v` from `p` gives the table `want`.
fn assert_reads(p: &Platform, name: &str, split: &str, v: Option<u64>, want: &Columns) {
    let got = load(p, name, split, v).unwrap();
    assert_eq!(got, expected(want), "{name}/{split} version {v:?}");
}

fn load(p: &Platform, name: &str, split: &str, v: Option<u64>) -> lepton_core::Result<Batch> {
    p.load_dataset(name, split, v, ReadOptions::default())?
        .to_batch()
}

fn push_load_list(b: Backend) {
    let f = fixture(b);
    let p = f.open(None, true);
    let train = data(1, 500);
    assert_eq!(push(&p, "medical", "train", &train), 1);
    assert_eq!(push(&p, "medical", "test", &data(2, 100)), 1);
    assert_eq!(push(&p, "medical", "train", &data(3, 50)), 2);
    let ds = p
        .load_dataset("medical", "train", Some(1), ReadOptions::default())
        .unwrap();
    assert!(ds.num_chunks() > 3, "{}", ds.num_chunks());
    assert_eq!(ds.to_batch().unwrap(), expected(&train));
    assert_reads(&p, "medical", "train", None, &data(3, 50));
    assert_eq!(p.list_datasets().unwrap(), vec!["medical"]);
    assert_eq!(p.dataset_splits("medical").unwrap(), vec!["test", "train"]);
    assert_eq!(p.dataset_versions("medical", "train").unwrap(), vec![1, 2]);
    let info = p.dataset_info("medical", "train", Some(1)).unwrap();
    assert_eq!((info.rows, info.version, info.encrypted), (500, 1, false));
    assert_eq!(info.metadata["source"], "generated");
    assert_eq!(p.verify_dataset("medical", "test", None).unwrap().rows, 100);
    // a second handle without cache sees the same
    let q = f.open(None, false);
    assert_reads(&q, "medical", "test", None, &data(2, 100));
}

fn delete_and_errors(b: Backend) {
    let f = fixture(b);
    let p = f.open(None, false);
    push(&p, "d", "train", &data(1, 10));
    push(&p, "d", "train", &data(2, 10));
    push(&p, "d", "test", &data(3, 10));
    p.delete_dataset("d", Some("train"), Some(2)).unwrap();
    assert_eq!(p.dataset_versions("d", "train").unwrap(), vec![1]);
    assert_reads(&p, "d", "train", None, &data(1, 10));
    let e = load(&p, "d", "train", Some(2)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "dataset `d` split `train` version 2 not found; versions of `d` split `train`: 1"
    );
    let e = load(&p, "d", "valid", None).unwrap_err();
    assert_eq!(
        e.to_string(),
        "dataset `d` split `valid` not found; splits of `d`: test, train"
    );
    let e = load(&p, "nope", "train", None).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "dataset `nope` split `train` not found; datasets in {}: d",
            f.uri
        )
    );
    for (name, split) in [("../d", "train"), ("d", "a/b"), ("d", ".."), ("", "x")] {
        assert!(matches!(
            load(&p, name, split, None).unwrap_err(),
            Error::InvalidArgument(_)
        ));
    }
    p.delete_dataset("d", Some("test"), None).unwrap();
    assert_eq!(p.dataset_splits("d").unwrap(), vec!["train"]);
    p.delete_dataset("d", None, None).unwrap();
    assert_eq!(p.list_datasets().unwrap(), Vec::<String>::new());
    assert!(matches!(
        p.delete_dataset("d", None, None).unwrap_err(),
        Error::NotFound { .. }
    ));
}

fn encrypted(b: Backend) {
    let f = fixture(b);
    let key = Key::generate();
    let p = f.open(Some(key.clone()), true);
    push(&p, "secret", "train", &data(1, 200));
    assert_reads(&p, "secret", "train", None, &data(1, 200));
    assert!(p.dataset_info("secret", "train", None).unwrap().encrypted);
    let nokey = f.open(None, false);
    let e = load(&nokey, "secret", "train", None).unwrap_err();
    assert!(matches!(e, Error::KeyRequired(_)), "{e}");
    assert!(
        e.to_string().contains("open the platform with its key"),
        "{e}"
    );
    let info = nokey.dataset_info("secret", "train", None).unwrap();
    assert!(info.encrypted && !info.authenticated);
    let e = load(
        &f.open(Some(Key::generate()), false),
        "secret",
        "train",
        None,
    )
    .unwrap_err();
    assert!(matches!(e, Error::WrongKey { .. }), "{e}");
    assert!(matches!(
        nokey
            .dataset_writer("x", "train", &opts(Some(true)))
            .unwrap_err(),
        Error::KeyRequired(_)
    ));
}

fn interrupted_and_concurrent(b: Backend) {
    let f = fixture(b);
    let p = f.open(None, false);
    push(&p, "c", "train", &data(1, 10));
    {
        // a writer that dies before close: its version never becomes visible
        let mut w = p.dataset_writer("c", "train", &opts(None)).unwrap();
        assert_eq!(w.version(), 2);
        let d = data(2, 300);
        w.write_columns(&d.named()).unwrap();
    }
    assert_eq!(p.dataset_versions("c", "train").unwrap(), vec![1]);
    assert_reads(&p, "c", "train", None, &data(1, 10));
    let handles: Vec<_> = (0..4)
        .map(|w| {
            let q = f.open(None, false);
            std::thread::spawn(move || (push(&q, "c", "train", &data(10 + w, 20)), 10 + w))
        })
        .collect();
    let mut got: Vec<(u64, i64)> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    got.sort();
    assert_eq!(
        got.iter().map(|(v, _)| *v).collect::<Vec<_>>(),
        vec![3, 4, 5, 6]
    );
    for (v, seed) in got {
        assert_reads(&p, "c", "train", Some(v), &data(seed, 20));
    }
}

macro_rules! suite {
    ($($case:ident),* $(,)?) => {
        mod memory { $( #[test] fn $case() { super::$case(super::Backend::Memory) } )* }
        mod local { $( #[test] fn $case() { super::$case(super::Backend::Local) } )* }
        mod s3 { $( #[test] fn $case() { super::$case(super::Backend::S3) } )* }
    };
}

/// A split copied over another split (same key) is refused, not served as the other split.
fn swapped_split(b: Backend) {
    use futures::TryStreamExt;
    use lepton_core::platform::layout::{dataset_root, version_dir};
    use lepton_core::pools::block_on;
    use object_store::ObjectStoreExt;
    let f = fixture(b);
    let p = f.open(Some(Key::generate()), false);
    push(&p, "med", "train", &data(1, 40));
    push(&p, "med", "test", &data(2, 10));
    assert!(!p
        .dataset_info("med", "train", None)
        .unwrap()
        .metadata
        .contains_key("lepton.item"));
    let from = version_dir(&dataset_root(p.prefix(), "med", "test"), 1);
    let to = version_dir(&dataset_root(p.prefix(), "med", "train"), 1);
    block_on(async {
        let objs: Vec<_> = p.store().list(Some(&from)).try_collect().await.unwrap();
        for o in objs {
            let rel: Vec<_> = o.location.prefix_match(&from).unwrap().collect();
            let mut dst = to.clone();
            for part in rel {
                dst = dst.join(part.as_ref());
            }
            p.store().copy(&o.location, &dst).await.unwrap();
        }
    });
    let e = load(&p, "med", "train", None).unwrap_err();
    assert!(matches!(e, Error::Integrity { .. }), "{e}");
    assert!(e.to_string().contains("belong to med/test"), "{e}");
    assert_reads(&p, "med", "test", None, &data(2, 10));
}

/// A push of the rows the latest version holds commits nothing and returns that version (its
/// chunks are deleted; the number it claimed stays used); other rows add a version.
fn unchanged_push(b: Backend) {
    use futures::TryStreamExt;
    use lepton_core::pools::block_on;
    let f = fixture(b);
    for key in [None, Some(Key::generate())] {
        let p = f.writer(key.clone());
        let name = if key.is_some() { "enc" } else { "plain" };
        let d = data(4, 300);
        assert_eq!(push(&p, name, "train", &d), 1);
        let root = lepton_core::platform::layout::dataset_root(p.prefix(), name, "train");
        let objects = || {
            block_on(p.store().list(Some(&root)).try_collect::<Vec<_>>())
                .unwrap()
                .len()
        };
        let before = objects();
        assert_eq!(push(&p, name, "train", &d), 1);
        assert_eq!(p.dataset_versions(name, "train").unwrap(), vec![1]);
        assert_eq!(objects(), before + 1, "only the claim of version 2 is left");
        assert_eq!(push(&p, name, "train", &data(5, 300)), 3);
        assert_reads(&p, name, "train", Some(1), &d);
    }
}

suite!(
    unchanged_push,
    push_load_list,
    delete_and_errors,
    encrypted,
    interrupted_and_concurrent,
    swapped_split,
    uri_handoff,
    reads_by_capability,
);

#[test]
fn s3_chunks_read_are_in_the_cache_once_the_dataset_is_dropped() {
    // Cache writes run on a background thread; dropping the last handle of the dataset (here,
    // on this thread, right after its last batch) finishes them.
    let f = fixture(Backend::S3);
    let p = f.open(Some(Key::generate()), true);
    push(&p, "edge", "cached", &data(5, 400));
    let ds = p
        .load_dataset("edge", "cached", None, ReadOptions::default())
        .unwrap();
    let chunks = ds.num_chunks();
    assert!(chunks > 3, "{chunks}");
    let batches = IterOptions {
        batch_size: 64,
        ..Default::default()
    };
    let rows: usize = ds
        .iter_batches(batches)
        .unwrap()
        .map(|b| b.unwrap().rows())
        .sum();
    assert_eq!(rows, 400);
    drop(ds);
    let cached = std::fs::read_dir(f.cache.path().join("objects"))
        .unwrap()
        .flatten()
        .map(|d| std::fs::read_dir(d.path()).unwrap().count())
        .sum::<usize>();
    assert_eq!(cached, chunks);
}

#[test]
fn s3_datasets_stream_through_the_cache_and_offline() {
    let f = fixture(Backend::S3);
    let key = Key::generate();
    let p = f.open(Some(key.clone()), true);
    push(&p, "edge", "test", &data(4, 400));
    // warm: read everything once
    assert_reads(&p, "edge", "test", None, &data(4, 400));
    // corrupt one cached object: it is re-fetched, not trusted
    let objects = f.cache.path().join("objects");
    let victim = std::fs::read_dir(&objects)
        .unwrap()
        .flatten()
        .flat_map(|d| std::fs::read_dir(d.path()).unwrap().flatten())
        .next()
        .unwrap()
        .path();
    std::fs::write(&victim, b"corrupt").unwrap();
    assert_reads(&p, "edge", "test", None, &data(4, 400));
    assert_ne!(std::fs::read(&victim).unwrap(), b"corrupt");
    // the network is gone
    let dead = f.open_opts(
        Some(key),
        true,
        vec![
            (
                "aws_endpoint".into(),
                format!("http://127.0.0.1:{}", closed_port()),
            ),
            ("connect_timeout".into(), "1s".into()),
            ("max_retries".into(), "1".into()),
            ("retry_timeout".into(), "2s".into()),
        ],
    );
    assert_reads(&dead, "edge", "test", None, &data(4, 400));
    let e = load(&dead, "edge", "train", None).unwrap_err();
    assert!(matches!(e, Error::Unreachable { .. }), "{e}");
}

fn uri_handoff(b: Backend) {
    // A push through the registry's writer (what the Python binding drives): the version is
    // claimed when the writer opens and becomes visible only when it closes; the committed
    // folder then opens by URI with the plain dataset reader.
    use lepton_core::dataset::Dataset;
    use lepton_core::store::open_uri;
    let f = fixture(b);
    let p = f.open(None, false);
    let mut w = p
        .dataset_writer("h", "train", &DatasetPushOptions::default())
        .unwrap();
    assert_eq!(w.version(), 1);
    let e = p.resolve_dataset("h", "train", None).unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e}");
    let d = data(5, 30);
    w.write_columns(&d.named()).unwrap();
    assert_eq!(w.close().unwrap().version, 1);
    let (rv, ruri) = p.resolve_dataset("h", "train", None).unwrap();
    assert_eq!(rv, 1);
    assert!(ruri.ends_with("/datasets/h/train/1"), "{ruri}");
    let loc = open_uri(&ruri, &[]).unwrap();
    let ds = Dataset::open(
        loc.store,
        loc.prefix,
        None,
        ReadOptions {
            version: Some(rv),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(ds.to_batch().unwrap(), expected(&d));
}

#[test]
fn private_memory_registry_reopens_by_uri() {
    let p = Platform::open(
        Some("memory://"),
        PlatformOptions {
            encrypt: Some(false),
            ..Default::default()
        },
    )
    .unwrap();
    push(&p, "m", "train", &data(1, 5));
    let (_, uri) = p.resolve_dataset("m", "train", None).unwrap();
    assert!(uri.starts_with("memory://private-"), "{uri}");
    assert!(lepton_core::store::open_uri(&uri, &[]).is_ok());
    drop(p);
    // Writer threads release their handle on the store just after reporting; give them a moment.
    let gone = (0..200).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(10));
        lepton_core::store::open_uri(&uri, &[]).is_err()
    });
    assert!(gone, "the private store outlived its registry");
}

/// One case over any backend, driven by its capabilities: what was pushed (through the backend,
/// or for a read-only one through the folder it serves) reads back the same, versions are found
/// with or without listing, and what the backend cannot do is a typed error.
fn reads_by_capability(b: Backend) {
    let caps = b.caps();
    let f = fixture(b);
    let key = Key::generate();
    let w = f.writer(Some(key.clone()));
    push(&w, "cap", "train", &data(1, 60));
    push(&w, "cap", "train", &data(2, 40));
    let p = f.open(Some(key), true);
    assert_reads(&p, "cap", "train", None, &data(2, 40));
    assert_reads(&p, "cap", "train", Some(1), &data(1, 60));
    assert_eq!(p.dataset_versions("cap", "train").unwrap(), [1, 2]);
    let info = p.dataset_info("cap", "train", None).unwrap();
    assert_eq!((info.version, info.rows, info.authenticated), (2, 40, true));
    assert_eq!(p.verify_dataset("cap", "train", Some(1)).unwrap().rows, 60);
    caps.check_listing(p.list_datasets(), &["cap"]);
    let deleted = p.delete_dataset("cap", Some("train"), Some(1));
    if caps.writes {
        deleted.unwrap();
        assert_eq!(p.dataset_versions("cap", "train").unwrap(), [2]);
    } else {
        let e = deleted.unwrap_err();
        assert!(matches!(e, Error::ReadOnly(_)), "{e}");
        let e = p
            .dataset_writer("cap", "train", &DatasetPushOptions::default())
            .unwrap_err();
        assert!(matches!(e, Error::ReadOnly(_)), "{e}");
    }
}

#[test]
fn reads_by_capability_over_read_only_http() {
    reads_by_capability(Backend::Http)
}

#[test]
fn a_corrupt_cached_chunk_is_dropped_and_fetched_again_encrypted_or_not() {
    // Format-2 chunks are kept in the cache unhashed; the reader verifies them (AES-GCM, or the
    // manifest's BLAKE3) and has the source forget a copy that fails, then reads the store.
    for key in [Some(Key::generate()), None] {
        let f = fixture(Backend::Local);
        let p = f.open(key.clone(), true);
        push(&p, "c", "train", &data(5, 400));
        assert_reads(&p, "c", "train", None, &data(5, 400));
        let objects = f.cache.path().join("objects");
        let kept: Vec<_> = std::fs::read_dir(&objects)
            .unwrap()
            .flatten()
            .flat_map(|d| std::fs::read_dir(d.path()).unwrap().flatten())
            .map(|e| e.path())
            .collect();
        assert!(!kept.is_empty(), "the read kept its chunks");
        let mut corrupted = Vec::new();
        for path in &kept {
            let mut b = std::fs::read(path).unwrap();
            let mid = b.len() / 2;
            b[mid] ^= 0x01;
            std::fs::write(path, &b).unwrap();
            corrupted.push(b);
        }
        assert_reads(&p, "c", "train", None, &data(5, 400));
        // Fetched again and kept again: no flipped copy is left.
        for (path, bad) in kept.iter().zip(&corrupted) {
            assert_ne!(&std::fs::read(path).unwrap(), bad, "{}", path.display());
        }
    }
}
