//! Sequential iteration: batches, seeded shuffling (chunk order + a shuffle window), sharding by
//! `(rank, world_size)`, parallel prefetch of the next chunks, and a resumable state.
//!
//! The order of one epoch is fixed by `(seed, epoch)`: chunks are visited in a permuted order;
//! all ranks cut that row sequence into `world_size` equal contiguous parts (dropping the last
//! `len % world_size` rows of the sequence); each rank permutes its part inside consecutive
//! windows of `shuffle_buffer` rows. Position `p` of a rank's sequence is therefore computable
//! without reading anything before it, which is what makes resuming mid-epoch cheap.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};

use serde::{Deserialize, Serialize};

use super::chunk::DecodedChunk;
use super::reader::Dataset;
use super::schema::Batch;
use crate::{Error, Result};

/// How to iterate; also the saved state of an iteration ([`BatchIter::state`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IterOptions {
    /// Rows per batch (default 256).
    pub batch_size: usize,
    /// Shuffle (default false).
    pub shuffle: bool,
    /// Seed of the shuffle (default 0).
    pub seed: u64,
    /// Epoch: each epoch has its own order for the same seed (default 0).
    pub epoch: u64,
    /// Rows permuted together when shuffling (default 16384).
    pub shuffle_buffer: usize,
    /// This process's rank (default 0).
    pub rank: u64,
    /// Number of ranks (default 1); every rank gets `len / world_size` rows.
    pub world_size: u64,
    /// Skip a last batch smaller than `batch_size` (default false).
    pub drop_last: bool,
    /// Rows of this rank's sequence already consumed (to resume; default 0).
    pub position: u64,
    /// This data loader worker, inside the rank (default 0); see [`loader`](super::loader).
    #[serde(default)]
    pub worker: u64,
    /// Data loader workers per rank (default 1): each reads a run of whole batches of the rank.
    #[serde(default = "one")]
    pub num_workers: u64,
    /// Give every rank `ceil(len / world_size)` rows by repeating rows from the start of the
    /// epoch (`DistributedSampler(drop_last=False)`) instead of dropping the remainder (default
    /// false).
    #[serde(default)]
    pub pad: bool,
    /// The dataset a saved state belongs to (set by [`BatchIter::state`]; default `None`, not
    /// checked). Resuming on another dataset, version or row count is an
    /// [`Error::InvalidArgument`]: the position would silently skip or repeat rows. Serialized
    /// inline (`dataset_id`, `version`, `rows` next to the options).
    #[serde(flatten)]
    pub resume_of: Option<ResumeOf>,
}

/// Which dataset an iteration state was saved on (see [`IterOptions::resume_of`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResumeOf {
    /// The dataset version's id.
    pub dataset_id: String,
    /// The version.
    pub version: u64,
    /// Its row count.
    pub rows: u64,
}

impl IterOptions {
    /// Parses a saved iteration state (JSON, as [`BatchIter::state`] serializes), which must name
    /// the dataset it was saved on.
    pub fn from_state_json(text: &str) -> Result<IterOptions> {
        let bad = |why: String| {
            Error::InvalidArgument(format!(
                "not a Dataset state ({why}); pass the state an iteration saved, unchanged"
            ))
        };
        let state: IterOptions = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
        if state.resume_of.is_none() {
            return Err(bad(
                "it does not say which dataset it was saved on: dataset_id, \
                            version and rows are missing"
                    .into(),
            ));
        }
        Ok(state)
    }

    /// As JSON text (what [`from_state_json`](Self::from_state_json) reads).
    pub fn to_state_json(&self) -> String {
        serde_json::to_string(self).expect("serializes")
    }
}

impl Default for IterOptions {
    fn default() -> Self {
        IterOptions {
            batch_size: 256,
            shuffle: false,
            seed: 0,
            epoch: 0,
            shuffle_buffer: 16384,
            rank: 0,
            world_size: 1,
            drop_last: false,
            position: 0,
            worker: 0,
            num_workers: 1,
            pad: false,
            resume_of: None,
        }
    }
}

fn one() -> u64 {
    1
}

/// A small deterministic generator (SplitMix64) for shuffling.
struct Rng(u64);

impl Rng {
    fn new(seed: u64, a: u64, b: u64) -> Rng {
        let mut r = Rng(seed);
        let x = r.next() ^ a;
        r.0 = x;
        let y = r.next() ^ b;
        r.0 = y;
        r
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        ((self.next() as u128 * n as u128) >> 64) as u64
    }
    fn permute<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            v.swap(i, j);
        }
    }
}

/// A run of a chunk's rows inside a rank's sequence.
#[derive(Clone, Copy, Debug)]
struct Seg {
    chunk: u32,
    start: u32,
    len: u32,
    pos: u64,
}

/// Stored bytes a sequential iteration keeps fetching ahead of its position: enough GETs in
/// flight to keep a network link busy when chunks are small (see [`BatchIter::prefetch`]).
pub(crate) const READ_AHEAD_BYTES: u64 = 32 << 20;
/// The most chunks fetched ahead however small they are (each GET has a thread of its own).
pub(crate) const READ_AHEAD_MAX: usize = 64;

type Slot = Arc<(Mutex<Option<Result<Arc<DecodedChunk>>>>, Condvar)>;

/// Fetches and decodes chunk `c` (see [`caught`]).
fn fetch_caught(ds: &Dataset, c: u32) -> Result<Arc<DecodedChunk>> {
    caught(c, || ds.fetch_chunk(c as usize)).map(Arc::new)
}

/// Runs `f` (work on chunk `c`), turning a panic (a bug, or a panicking custom store) into an
/// error instead of unwinding into a pool thread, where it would abort the process.
fn caught<T>(c: u32, f: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|p| {
        let msg = p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        Err(panicked(c, &msg))
    })
}

/// Prefetches chunk `c` into `filler`'s slot: the object is read on a thread of its own, then
/// decoded on the CPU pool. A slow store (S3) so keeps every prefetched GET in flight at once,
/// instead of one per CPU thread with that thread idle while it waits.
fn prefetch_chunk(ds: Dataset, c: u32, filler: Filler) {
    // The job lets go of the dataset before it hands the result over: a consumer that drops the
    // dataset once it has its last chunk then drops the last handle itself, which finishes the
    // dataset's queued cache writes before returning (instead of on a pool thread, later).
    let fetch = move || match caught(c, || ds.fetch_stored(c as usize)) {
        Ok(stored) => crate::pools::cpu().spawn(move || {
            let decoded = caught(c, || ds.decode_stored(c as usize, &stored)).map(Arc::new);
            drop((ds, stored));
            filler.fill(decoded)
        }),
        Err(e) => {
            drop(ds);
            filler.fill(Err(e))
        }
    };
    // Out of threads: the job (and its filler) is dropped, which fills the slot with an error.
    let _ = std::thread::Builder::new()
        .name("lepton-fetch".into())
        .spawn(fetch);
}

fn panicked(c: u32, msg: &str) -> Error {
    Error::Io {
        path: format!("chunk {c}"),
        source: std::io::Error::other(format!(
            "reading it failed unexpectedly ({msg}); this is a bug in lepton-ai or in the object \
             store: please report it"
        )),
    }
}

/// Fills a prefetch slot exactly once: with the result, or with an error if the job ends
/// without one, so that the consumer never waits forever.
struct Filler {
    slot: Slot,
    chunk: u32,
}

impl Filler {
    fn fill(&self, r: Result<Arc<DecodedChunk>>) {
        let mut g = self.slot.0.lock().unwrap_or_else(|e| e.into_inner());
        if g.is_none() {
            *g = Some(r);
        }
        self.slot.1.notify_all();
    }
}

impl Drop for Filler {
    fn drop(&mut self) {
        self.fill(Err(panicked(
            self.chunk,
            "the decoding job ended without a result",
        )));
    }
}

/// An iterator of batches over a [`Dataset`]; see [`IterOptions`].
pub struct BatchIter {
    ds: Dataset,
    opts: IterOptions,
    segs: Vec<Seg>,
    n: u64,
    pos: u64,
    window: Option<(u64, Vec<(u32, u32)>)>,
    ready: HashMap<u32, Arc<DecodedChunk>>,
    /// Chunks being decoded in the pool, with the process that started them: after a fork the
    /// child has none of the parent's pool threads, so it decodes those chunks itself.
    pending: HashMap<u32, (Slot, u32)>,
    failed: bool,
}

impl std::fmt::Debug for BatchIter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchIter")
            .field("state", &self.state())
            .field("rows", &self.n)
            .finish()
    }
}

impl BatchIter {
    pub(crate) fn new(ds: Dataset, opts: IterOptions) -> Result<BatchIter> {
        if opts.batch_size == 0 || opts.shuffle_buffer == 0 {
            return Err(Error::InvalidArgument(
                "batch_size and shuffle_buffer must be positive".into(),
            ));
        }
        let shard = super::loader::share(ds.len(), &opts)?;
        if let Some(r) = &opts.resume_of {
            ds.check_saved_on(r)?;
        }
        let chunks = ds.num_chunks();
        let mut order: Vec<u32> = (0..chunks as u32).collect();
        if opts.shuffle {
            Rng::new(opts.seed, opts.epoch, 0x4348_554e_4b53).permute(&mut order);
        }
        let (lo, hi, m) = (shard.start, shard.end, shard.end - shard.start);
        let mut segs = Vec::new();
        let mut g = 0u64;
        // Past the end of the sequence, padding starts over from its first chunk.
        let mut visit = order.iter().cycle();
        while g < hi && !ds.is_empty() {
            let c = *visit.next().expect("a cycle over at least one chunk");
            let (a, b) = (ds.chunk_start(c as usize), ds.chunk_start(c as usize + 1));
            let (s, e) = (g.max(lo), (g + b - a).min(hi));
            if s < e {
                segs.push(Seg {
                    chunk: c,
                    start: (s - g) as u32,
                    len: (e - s) as u32,
                    pos: s - lo,
                });
            }
            g += b - a;
        }
        if opts.position > m {
            return Err(Error::InvalidArgument(format!(
                "position {} is past the {m} rows of this rank",
                opts.position
            )));
        }
        Ok(BatchIter {
            pos: opts.position,
            ds,
            segs,
            n: m,
            window: None,
            ready: HashMap::new(),
            pending: HashMap::new(),
            failed: false,
            opts,
        })
    }

    /// Rows this rank visits per epoch.
    pub fn rows(&self) -> u64 {
        self.n
    }

    /// Batches left.
    pub fn remaining_batches(&self) -> u64 {
        let left = self.n - self.pos;
        let b = self.opts.batch_size as u64;
        if self.opts.drop_last {
            left / b
        } else {
            left.div_ceil(b)
        }
    }

    /// The state to resume from: pass it back to [`Dataset::iter_batches`].
    pub fn state(&self) -> IterOptions {
        let m = self.ds.manifest();
        IterOptions {
            position: self.pos,
            resume_of: Some(ResumeOf {
                dataset_id: m.dataset_id.clone(),
                version: m.version,
                rows: self.ds.len(),
            }),
            ..self.opts.clone()
        }
    }

    fn seg_at(&self, pos: u64) -> usize {
        self.segs.partition_point(|s| s.pos + s.len as u64 <= pos)
    }

    fn window_len(&self) -> u64 {
        self.opts.shuffle_buffer as u64
    }

    /// The permuted `(chunk, row)` items of shuffle window `w`.
    fn window_items(&self, w: u64) -> Vec<(u32, u32)> {
        let (a, b) = (
            w * self.window_len(),
            ((w + 1) * self.window_len()).min(self.n),
        );
        let mut items = Vec::with_capacity((b - a) as usize);
        let mut i = self.seg_at(a);
        while i < self.segs.len() && self.segs[i].pos < b {
            let s = self.segs[i];
            let from = a.max(s.pos) - s.pos;
            let to = b.min(s.pos + s.len as u64) - s.pos;
            items.extend((from..to).map(|r| (s.chunk, s.start + r as u32)));
            i += 1;
        }
        Rng::new(self.opts.seed ^ 0x5348_5546, self.opts.epoch, a).permute(&mut items);
        items
    }

    /// The runs `(chunk, first row, rows)` of positions `a..b`.
    fn runs(&mut self, a: u64, b: u64) -> Vec<(u32, usize, usize)> {
        let mut runs: Vec<(u32, usize, usize)> = Vec::new();
        if !self.opts.shuffle {
            let mut i = self.seg_at(a);
            let mut p = a;
            while p < b {
                let s = self.segs[i];
                let off = p - s.pos;
                let n = (s.len as u64 - off).min(b - p);
                runs.push((s.chunk, (s.start as u64 + off) as usize, n as usize));
                p += n;
                i += 1;
            }
            return runs;
        }
        let wl = self.window_len();
        for q in a..b {
            let w = q / wl;
            if self.window.as_ref().is_none_or(|(cur, _)| *cur != w) {
                self.window = Some((w, self.window_items(w)));
            }
            let (c, r) = self.window.as_ref().expect("set above").1[(q - w * wl) as usize];
            match runs.last_mut() {
                Some(last) if last.0 == c && last.1 + last.2 == r as usize => last.2 += 1,
                _ => runs.push((c, r as usize, 1)),
            }
        }
        runs
    }

    /// Starts fetching and decoding the next chunks in visiting order (from the segment of
    /// `from`): at least [`ReadOptions::prefetch`](super::ReadOptions::prefetch) of them, and
    /// more while fewer than [`READ_AHEAD_BYTES`] of stored objects are ahead (so that small
    /// chunks still keep enough GETs in flight), up to [`READ_AHEAD_MAX`] chunks.
    fn prefetch(&mut self, from: u64) {
        let want = self.ds.options().prefetch;
        if want == 0 {
            return;
        }
        let stored = |c: u32| self.ds.manifest().chunks[c as usize].stored_len;
        let mut i = self.seg_at(from);
        let (mut started, mut ahead) = (0, 0u64);
        while i < self.segs.len()
            && started < READ_AHEAD_MAX.max(want)
            && (started < want || ahead < READ_AHEAD_BYTES)
        {
            let c = self.segs[i].chunk;
            ahead += stored(c);
            i += 1;
            if self.ready.contains_key(&c) || self.pending.contains_key(&c) {
                started += 1;
                continue;
            }
            let slot: Slot = Arc::new((Mutex::new(None), Condvar::new()));
            self.pending.insert(c, (slot.clone(), std::process::id()));
            prefetch_chunk(self.ds.clone(), c, Filler { slot, chunk: c });
            started += 1;
        }
    }

    fn take_chunk(&mut self, c: u32) -> Result<Arc<DecodedChunk>> {
        if let Some(d) = self.ready.get(&c) {
            return Ok(d.clone());
        }
        let d = match self.pending.remove(&c) {
            Some((slot, pid)) if pid == std::process::id() => {
                let mut g = slot.0.lock().unwrap_or_else(|e| e.into_inner());
                loop {
                    match g.take() {
                        Some(r) => break r?,
                        None => g = slot.1.wait(g).unwrap_or_else(|e| e.into_inner()),
                    }
                }
            }
            _ => fetch_caught(&self.ds, c)?,
        };
        self.ready.insert(c, d.clone());
        Ok(d)
    }

    /// Forgets decoded chunks whose rows all lie before `pos` (or its shuffle window).
    fn release(&mut self, pos: u64) {
        let horizon = if self.opts.shuffle {
            pos / self.window_len() * self.window_len()
        } else {
            pos
        };
        let segs = &self.segs;
        self.ready.retain(|c, _| {
            segs.iter()
                .find(|s| s.chunk == *c)
                .is_some_and(|s| s.pos + s.len as u64 > horizon)
        });
    }

    fn next_batch(&mut self) -> Result<Option<Batch>> {
        let b = self.opts.batch_size as u64;
        if self.pos >= self.n || (self.opts.drop_last && self.n - self.pos < b) {
            return Ok(None);
        }
        let (a, e) = (self.pos, (self.pos + b).min(self.n));
        let runs = self.runs(a, e);
        let window_start = if self.opts.shuffle {
            a / self.window_len() * self.window_len()
        } else {
            a
        };
        self.prefetch(window_start);
        let mut chunks = HashMap::new();
        for &(c, _, _) in &runs {
            if let std::collections::hash_map::Entry::Vacant(v) = chunks.entry(c) {
                v.insert(self.take_chunk(c)?);
            }
        }
        let batch = self.ds.gather(
            runs.iter().map(|&(c, r, n)| (chunks[&c].as_ref(), r, n)),
            (e - a) as usize,
        );
        self.pos = e;
        self.release(e);
        self.prefetch(if self.opts.shuffle {
            e / self.window_len() * self.window_len()
        } else {
            e
        });
        Ok(Some(batch))
    }
}

impl Iterator for BatchIter {
    type Item = Result<Batch>;

    fn next(&mut self) -> Option<Result<Batch>> {
        if self.failed {
            return None;
        }
        match self.next_batch() {
            Ok(b) => b.map(Ok),
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

impl Dataset {
    /// The rows of shard `rank` of `world_size`: every rank gets `len / world_size` contiguous
    /// rows (the last `len % world_size` rows belong to none), as `DistributedSampler` does
    /// with `drop_last`.
    pub fn shard(&self, rank: u64, world_size: u64) -> Result<std::ops::Range<u64>> {
        super::loader::check_rank(rank, world_size)?;
        let m = self.len() / world_size;
        Ok(rank * m..rank * m + m)
    }

    /// Checks that a saved iteration `state` belongs here: saved on this dataset version (id,
    /// version, row count) and on shard `(rank, world_size)`. Resuming anywhere else would
    /// silently skip or repeat rows.
    pub fn check_resume(&self, state: &IterOptions, rank: u64, world_size: u64) -> Result<()> {
        if let Some(r) = &state.resume_of {
            self.check_saved_on(r)?;
        }
        if (state.rank, state.world_size) != (rank, world_size) {
            return Err(Error::InvalidArgument(format!(
                "the state was saved on another shard (rank, world_size): ({}, {}), not ({rank}, \
                 {world_size})",
                state.rank, state.world_size
            )));
        }
        Ok(())
    }

    fn check_saved_on(&self, r: &ResumeOf) -> Result<()> {
        let m = self.manifest();
        let mine = [
            ("version", m.version.to_string()),
            ("rows", self.len().to_string()),
            ("dataset_id", m.dataset_id.clone()),
        ];
        let saved = [
            r.version.to_string(),
            r.rows.to_string(),
            r.dataset_id.clone(),
        ];
        for ((name, mine), saved) in mine.iter().zip(saved) {
            if *mine != saved {
                return Err(Error::InvalidArgument(format!(
                    "the state was saved on another dataset: its {name} is {saved}, this \
                     dataset's is {mine}; open the version the state was saved on to resume"
                )));
            }
        }
        Ok(())
    }
}
