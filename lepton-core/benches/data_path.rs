//! The dataset data path against its ceiling, in one alternated run.
//!
//! For each configuration (default codec: zstd-3 + byte shuffle, encrypted; uncompressed,
//! encrypted; uncompressed, unencrypted) it alternates, round by round:
//!
//! - lepton write: `DatasetWriter` over an in-memory store (every byte of the input, one call);
//! - write ceiling: the same crates on a 2-thread rayon pool over the same chunk payloads:
//!   copy (or byte shuffle + zstd-3) + AES-256-GCM (C2SP `seal`), or BLAKE3 when unencrypted;
//! - lepton read: `Dataset::iter_batches` (1024-row batches) over the written chunks;
//! - read ceiling: the same crates on 2 threads over the ceiling's chunks held in memory:
//!   AES-256-GCM (C2SP `open`) or BLAKE3 when unencrypted + zstd decompression + byte
//!   un-shuffle into reused buffers.
//!
//! It prints per round and then the medians of each contender and of the per-round ratios
//! (lepton / ceiling), which is what `docs/benchmarks.md` reports.
//!
//! Run: `cargo bench -p lepton-core --bench data_path` (release profile). Environment:
//! `LEPTON_BENCH_MIB` (default 256) bytes of float32 data, `LEPTON_BENCH_ROUNDS` (default 5).
//! The data is `round(N(0, 1) * 10, 2)` as float32, 1 KiB rows, as in `benches/bench_datasets.py`.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

use lepton_core::crypto::{c2sp, Key};
use lepton_core::dataset::{
    kernels, Codec, ColumnData, DType, Dataset, DatasetWriter, Filter, IterOptions, ReadOptions,
    WriteOptions,
};
use lepton_core::object_store::memory::InMemory;
use lepton_core::object_store::path::Path;
use lepton_core::object_store::ObjectStore;
use rayon::prelude::*;

const COLS: usize = 256;
const CHUNK_BYTES: usize = 4 << 20;
const THREADS: usize = 2;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `round(N(0, 1) * 10, 2)` as float32 little-endian bytes (SplitMix64 + Box-Muller).
fn data(bytes: usize) -> Vec<u8> {
    let mut s = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut out = Vec::with_capacity(bytes);
    while out.len() < bytes {
        let (u, v) = (next().max(1e-300), next());
        let n = (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos();
        let x = ((n * 10.0 * 100.0).round() / 100.0) as f32;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out
}

struct Config {
    name: &'static str,
    codec: Codec,
    filter: Filter,
    encrypted: bool,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn lepton_write(cfg: &Config, key: &Key, raw: &[u8]) -> (f64, Arc<dyn ObjectStore>) {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let t = Instant::now();
    let mut w = DatasetWriter::create(
        store.clone(),
        Path::from("bench"),
        WriteOptions {
            key: cfg.encrypted.then(|| key.clone()),
            codec: cfg.codec,
            filter: cfg.filter,
            chunk_bytes: CHUNK_BYTES,
            ..Default::default()
        },
    )
    .expect("writer");
    w.write_columns(&[(
        "x",
        ColumnData::Fixed {
            dtype: DType::F32,
            row_shape: vec![COLS as u64],
            rows: raw.len() / (COLS * 4),
            data: Cow::Borrowed(raw),
        },
    )])
    .expect("write");
    w.close().expect("close");
    (t.elapsed().as_secs_f64(), store)
}

fn lepton_read(cfg: &Config, key: &Key, store: &Arc<dyn ObjectStore>) -> (f64, usize) {
    let t = Instant::now();
    let ds = Dataset::open(
        store.clone(),
        Path::from("bench"),
        cfg.encrypted.then(|| key.clone()),
        ReadOptions::default(),
    )
    .expect("open");
    let mut n = 0;
    for b in ds
        .iter_batches(IterOptions {
            batch_size: 1024,
            ..Default::default()
        })
        .expect("iter")
    {
        for c in &b.expect("batch").columns {
            if let ColumnData::Fixed { data, .. } = c {
                n += data.len();
            }
        }
    }
    (t.elapsed().as_secs_f64(), n)
}

/// The write ceiling: per chunk, copy (or shuffle + zstd-3) then seal; returns the stored chunks.
fn ceiling_write(
    pool: &rayon::ThreadPool,
    cfg: &Config,
    key: &[u8; 32],
    raw: &[u8],
) -> (f64, Vec<Vec<u8>>) {
    let t = Instant::now();
    let chunks = pool.install(|| {
        raw.par_chunks(CHUNK_BYTES)
            .map(|p| {
                let mut buf = vec![0u8; p.len()];
                match cfg.filter {
                    Filter::Shuffle => kernels::shuffle(p, &mut buf, 4),
                    Filter::None => buf.copy_from_slice(p),
                }
                if cfg.codec == Codec::Zstd {
                    buf = zstd::bulk::compress(&buf, 3).expect("zstd");
                }
                if cfg.encrypted {
                    c2sp::seal(key, b"ceiling", &buf)
                } else {
                    // Unencrypted chunks keep a hash (BLAKE3) for integrity.
                    std::hint::black_box(blake3::hash(&buf));
                    buf
                }
            })
            .collect()
    });
    (t.elapsed().as_secs_f64(), chunks)
}

/// The read ceiling: per chunk, open, decompress and un-shuffle into per-thread reused buffers.
fn ceiling_read(
    pool: &rayon::ThreadPool,
    cfg: &Config,
    key: &[u8; 32],
    stored: &[Vec<u8>],
) -> (f64, usize) {
    let t = Instant::now();
    let n = pool.install(|| {
        stored
            .par_iter()
            .map_init(
                || (Vec::new(), Vec::new(), Vec::new()),
                |(plain, raw, out): &mut (Vec<u8>, Vec<u8>, Vec<u8>), s| {
                    let body: &[u8] = if cfg.encrypted {
                        c2sp::open_into(key, b"ceiling", s, plain).expect("open");
                        plain
                    } else {
                        std::hint::black_box(blake3::hash(s));
                        s
                    };
                    let payload: &[u8] = if cfg.codec == Codec::Zstd {
                        raw.clear();
                        raw.reserve(CHUNK_BYTES);
                        zstd::bulk::Decompressor::new()
                            .and_then(|mut d| d.decompress_to_buffer(body, raw))
                            .expect("zstd");
                        raw
                    } else {
                        body
                    };
                    if cfg.filter == Filter::Shuffle {
                        out.resize(payload.len(), 0);
                        kernels::unshuffle(payload, out, 4);
                        out.len()
                    } else {
                        payload.len()
                    }
                },
            )
            .sum()
    });
    (t.elapsed().as_secs_f64(), n)
}

fn main() {
    let mib = env_usize("LEPTON_BENCH_MIB", 256);
    let rounds = env_usize("LEPTON_BENCH_ROUNDS", 5);
    let raw = data(mib << 20);
    let key = Key::generate();
    let ceiling_key = *Key::generate().as_bytes();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(THREADS)
        .build()
        .expect("pool");
    let configs = [
        Config {
            name: "zstd-3 + shuffle, encrypted (default)",
            codec: Codec::Zstd,
            filter: Filter::Shuffle,
            encrypted: true,
        },
        Config {
            name: "uncompressed, encrypted",
            codec: Codec::None,
            filter: Filter::None,
            encrypted: true,
        },
        Config {
            name: "uncompressed, unencrypted",
            codec: Codec::None,
            filter: Filter::None,
            encrypted: false,
        },
    ];
    let gbs = |secs: f64| raw.len() as f64 / secs / 1e9;
    println!(
        "{mib} MiB float32, {CHUNK_BYTES}-byte chunks, ceilings on {THREADS} threads, {rounds} rounds"
    );
    for cfg in &configs {
        let (mut w, mut wc, mut r, mut rc, mut wr, mut rr) =
            (vec![], vec![], vec![], vec![], vec![], vec![]);
        for round in 0..rounds {
            let (lw, store) = lepton_write(cfg, &key, &raw);
            let (cw, chunks) = ceiling_write(&pool, cfg, &ceiling_key, &raw);
            let (lr, n) = lepton_read(cfg, &key, &store);
            assert_eq!(n, raw.len(), "lepton read every byte");
            drop(store);
            let (cr, n) = ceiling_read(&pool, cfg, &ceiling_key, &chunks);
            assert_eq!(n, raw.len(), "ceiling decoded every byte");
            println!(
                "  {} round {round}: write {:.3} / ceiling {:.3} GB/s, read {:.3} / ceiling {:.3} GB/s",
                cfg.name,
                gbs(lw),
                gbs(cw),
                gbs(lr),
                gbs(cr)
            );
            w.push(gbs(lw));
            wc.push(gbs(cw));
            r.push(gbs(lr));
            rc.push(gbs(cr));
            wr.push(cw / lw);
            rr.push(cr / lr);
        }
        println!(
            "{}: write {:.3} GB/s, ceiling {:.3}, ratio {:.2} | read {:.3} GB/s, ceiling {:.3}, ratio {:.2}",
            cfg.name,
            median(w),
            median(wc),
            median(wr),
            median(r),
            median(rc),
            median(rr)
        );
    }
}
