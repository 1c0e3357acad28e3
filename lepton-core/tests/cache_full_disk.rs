//! The registry cache on a full disk: reads still return the right data, failed writes leave no
//! partial files, partial files count against the size bound, and those of dead processes are
//! cleared when a cache opens.
//!
//! "Full disk" without root: a forked child lowers `RLIMIT_FSIZE` (with `SIGXFSZ` ignored), so
//! every write past the limit fails in the kernel with `EFBIG`, part-way through the file, as a
//! write to a full file system fails with `ENOSPC`.

#![cfg(unix)]

mod common;

use std::path::Path;
use std::time::Duration;

use lepton_core::dataset::{Batch, ColumnData, ReadOptions};
use lepton_core::platform::cache::{sha256_hex, Cache};
use lepton_core::platform::{DatasetPushOptions, Platform, PlatformOptions};

/// Runs `f` in a forked child whose files may not grow past `max_file_bytes`; true if it
/// returned true within 30 s.
fn with_file_size_limit(max_file_bytes: u64, f: impl FnOnce() -> bool) -> bool {
    common::in_child(Duration::from_secs(30), || {
        // SAFETY: plain syscalls on this (child) process.
        unsafe {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let limit = libc::rlimit {
                rlim_cur: max_file_bytes,
                rlim_max: max_file_bytes,
            };
            libc::setrlimit(libc::RLIMIT_FSIZE, &limit);
        }
        f()
    })
}

fn files_in(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |d| d.count())
}

#[test]
fn a_failed_write_leaves_no_partial_file() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path(), 1 << 20).unwrap();
    let data = vec![5u8; 50_000];
    let ok = with_file_size_limit(4096, || {
        let failed = cache.put_object(&sha256_hex(&data), &data).is_err();
        failed && files_in(&dir.path().join("tmp")) == 0
    });
    assert!(ok, "the write should fail and leave tmp/ empty");
    assert_eq!(files_in(&dir.path().join("tmp")), 0);
    assert!(cache.get_object(&sha256_hex(&data)).is_none());
}

#[test]
fn registry_reads_on_a_full_disk_are_right_and_leave_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let registry = dir.path().join("registry");
    let cache_dir = dir.path().join("cache");
    let y: Vec<i64> = (0..5000).map(|i| i * 3 + 1).collect();
    let writer = Platform::open(
        Some(registry.to_str().unwrap()),
        PlatformOptions {
            encrypt: Some(false),
            ..Default::default()
        },
    )
    .unwrap();
    writer
        .push_dataset(
            "d",
            "train",
            &[("y", ColumnData::from_slice(&y, &[]).unwrap())],
            &DatasetPushOptions {
                chunk_bytes: Some(8192),
                ..Default::default()
            },
        )
        .unwrap();
    let want = Batch {
        columns: vec![ColumnData::from_slice(&y, &[]).unwrap().into_owned()],
    };
    let tmp = cache_dir.join("tmp");
    let ok = with_file_size_limit(2048, || {
        let p = Platform::open(
            Some(registry.to_str().unwrap()),
            PlatformOptions {
                encrypt: Some(false),
                cache_dir: Some(cache_dir.clone()),
                ..Default::default()
            },
        )
        .unwrap();
        // three reads, as in the report (12, 26, 40 partial files after them)
        (0..3).all(|_| {
            let ds = p.load_dataset("d", "train", None, ReadOptions::default());
            ds.and_then(|ds| ds.to_batch()).is_ok_and(|b| b == want)
        }) && files_in(&tmp) == 0
    });
    assert!(ok, "reads must return the pushed rows and leave tmp/ empty");
    assert_eq!(files_in(&tmp), 0);
}

#[test]
fn partial_files_count_against_the_bound_and_dead_writers_are_cleared() {
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path().join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    // A partial file of a process that does not exist (pids stay below 2^22 on Linux), one of
    // this (live) process, and an unnamed one (older formats) that is fresh.
    std::fs::write(tmp.join("4000000000-dead.part"), vec![0u8; 40]).unwrap();
    std::fs::write(
        tmp.join(format!("{}-live.part", std::process::id())),
        vec![0u8; 60],
    )
    .unwrap();
    let cache = Cache::open(dir.path(), 100).unwrap();
    assert!(
        !tmp.join("4000000000-dead.part").exists(),
        "a dead writer's file is cleared"
    );
    assert!(tmp
        .join(format!("{}-live.part", std::process::id()))
        .exists());
    assert_eq!(cache.size(), 60);
    // 60 bytes of a live partial + a 60-byte object exceed the 100-byte bound: the object goes.
    let a = vec![1u8; 60];
    cache.put_object(&sha256_hex(&a), &a).unwrap();
    assert!(cache.size() <= 100, "{}", cache.size());
    assert!(cache.get_object(&sha256_hex(&a)).is_none());
}
