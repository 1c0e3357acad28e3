//! `fork()` at any moment: a child gets fresh, small pools, its own chunk caches and store
//! clients, and never blocks on state its parent's threads held at the moment of the fork (as a
//! torch `DataLoader` worker forked mid-read). Unix only. The stress case needs moto (S3).

#![cfg(unix)]

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{fixture, Backend};
use lepton_core::dataset::{Batch, ColumnData, Dataset, ReadOptions};
use lepton_core::platform::{DatasetPushOptions, Platform, PlatformOptions};
use lepton_core::pools;

/// Runs `f` in a forked child, bounded to 20 s (a hang fails).
fn in_child(f: impl FnOnce() -> bool) -> bool {
    common::in_child(Duration::from_secs(20), f)
}

#[test]
fn forked_children_get_fresh_small_pools_while_the_parent_is_busy() {
    assert_eq!(pools::cpu().install(|| 6 * 7), 42);
    // Parent threads hammer the pools while we fork, so forks land mid-call.
    let stop = Arc::new(AtomicBool::new(false));
    let busy: Vec<_> = (0..3)
        .map(|i| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if i % 2 == 0 {
                        pools::cpu().install(|| ());
                    } else {
                        pools::block_on(async {});
                    }
                }
            })
        })
        .collect();
    for round in 0..30 {
        let ok = in_child(move || {
            if round == 0 {
                std::env::set_var("LEPTON_NUM_THREADS", "1");
            }
            let want = if round == 0 {
                1
            } else {
                std::thread::available_parallelism()
                    .map_or(1, |n| n.get())
                    .min(2)
            };
            pools::cpu().current_num_threads() == want
                && pools::cpu().install(|| 6 * 7) == 42
                && pools::block_on(async { 7 }) == 7
        });
        assert!(
            ok,
            "fork round {round}: the child hung or got the wrong pools"
        );
    }
    stop.store(true, Ordering::Relaxed);
    for t in busy {
        t.join().unwrap();
    }
}

const ROWS: u64 = 2000;

/// Row `r` of the stress dataset holds `r * 3 + 1` (what each read is checked against).
fn value(row: u64) -> i64 {
    row as i64 * 3 + 1
}

/// A dataset of many small chunks (so reads take the chunk cache's lock all the time), pushed to
/// a fresh registry on `backend` and opened with a cache of a few chunks.
fn stress_dataset(backend: Backend) -> (common::Fixture, Dataset) {
    let f = fixture(backend);
    let p = f.writer(None);
    let y: Vec<i64> = (0..ROWS).map(value).collect();
    p.push_dataset(
        "stress",
        "train",
        &[("y", ColumnData::from_slice(&y, &[]).unwrap())],
        &DatasetPushOptions {
            encrypt: Some(false),
            chunk_bytes: Some(512),
            ..Default::default()
        },
    )
    .unwrap();
    let reader = Platform::open(
        Some(&f.uri),
        PlatformOptions {
            encrypt: Some(false),
            no_cache: true,
            ..Default::default()
        },
    )
    .unwrap();
    let read = ReadOptions {
        cache_bytes: 4 * 512,
        ..Default::default()
    };
    let ds = reader.load_dataset("stress", "train", None, read).unwrap();
    assert!(ds.num_chunks() > 20, "{} chunks", ds.num_chunks());
    (f, ds)
}

/// Reads row `row`, or from `row` a run of rows spanning several chunks (`wide`), and checks them.
fn rows_ok(ds: &Dataset, row: u64, wide: bool) -> bool {
    let end = if wide { (row + 150).min(ROWS) } else { row + 1 };
    let want: Vec<i64> = (row..end).map(value).collect();
    let want = Batch {
        columns: vec![ColumnData::from_slice(&want, &[]).unwrap().into_owned()],
    };
    ds.slice(row, end).is_ok_and(|b| b == want)
}

/// 200 forks (100 over a local folder, 100 over S3) while parent threads read both datasets
/// through the same objects; each child reads rows through the objects it inherited (as a
/// forked `DataLoader` worker does). Every child must finish within its bound: 0 hangs.
#[test]
fn forks_200_times_while_the_parent_reads_local_and_s3() {
    let (_local_fixture, local) = stress_dataset(Backend::Local);
    let (_s3_fixture, s3) = stress_dataset(Backend::S3);
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = [local.clone(), s3.clone(), local.clone(), s3.clone()]
        .into_iter()
        .enumerate()
        .map(|(t, ds)| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut row = t as u64 * 97;
                let mut ok = true;
                while !stop.load(Ordering::Relaxed) {
                    row = (row * 31 + 7) % ROWS;
                    ok &= rows_ok(&ds, row, row.is_multiple_of(3));
                }
                ok
            })
        })
        .collect();
    let start = Instant::now();
    let mut failed = Vec::new();
    for round in 0..200u64 {
        let ds = if round.is_multiple_of(2) { &local } else { &s3 };
        let ok =
            in_child(|| (0..5).all(|i| rows_ok(ds, (round * 13 + i * 401) % ROWS, i % 2 == 0)));
        if !ok {
            failed.push(round);
        }
    }
    stop.store(true, Ordering::Relaxed);
    for t in readers {
        assert!(t.join().unwrap(), "a parent reader read a wrong row");
    }
    assert!(
        failed.is_empty(),
        "children that hung (killed after 20 s) or read wrong rows: {failed:?}"
    );
    eprintln!("200 forks in {:?}", start.elapsed());
}

/// A model load decrypts and hashes on several threads: in a child forked after the parent
/// loaded (so any pool the load used has threads only in the parent), a load still completes
/// and returns the same bytes, encrypted and plain.
#[test]
fn a_forked_child_loads_a_model_the_parent_loaded() {
    use lepton_core::crypto::Key;
    use lepton_core::platform::PushOptions;
    let f = fixture(Backend::Local);
    // Many 64 KiB blocks, so decryption and BLAKE3 really split the work.
    let data = common::sized_model(7, 3 << 20);
    for key in [Some(Key::generate()), None] {
        let p = f.writer(key);
        p.push_model("m", &data, &PushOptions::default()).unwrap();
        assert_eq!(p.model_bytes("m", None).unwrap().1, data);
        let ok = in_child(|| p.model_bytes("m", None).is_ok_and(|(_, got)| got == data));
        assert!(ok, "the forked child hung or read other bytes");
    }
}
