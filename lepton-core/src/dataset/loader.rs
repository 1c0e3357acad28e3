//! Who reads which rows of an epoch when several training processes (ranks) and several data
//! loader workers inside each read one dataset: the rules of `DistributedSampler` (pad by
//! repeating rows, or drop the remainder) applied to the chunk-aware order of
//! [`BatchIter`](super::BatchIter), and the checks that a saved state resumes the same reader.
//!
//! An epoch's row sequence is the (permuted) chunk order read end to end. Rank `r` of `w` takes
//! positions `r * per .. (r + 1) * per` of it, where `per` is `ceil(len / w)` when padding
//! (positions past the end wrap around to the first rows, so every rank gets as many rows) and
//! `floor(len / w)` otherwise. A rank's batches are then dealt to its workers in contiguous runs
//! of whole batches, so that the workers' batches together are exactly the rank's batches.

use std::ops::Range;

use super::iter::IterOptions;
use crate::{Error, Result};

/// Rows each rank reads per epoch: `ceil(len / world_size)` with `pad` (rows repeated from the
/// start of the epoch's sequence, as `DistributedSampler(drop_last=False)` does), else
/// `floor(len / world_size)` (the remainder dropped, as with `drop_last=True`).
pub fn rows_per_rank(len: u64, world_size: u64, pad: bool) -> u64 {
    if world_size == 0 {
        return 0;
    }
    if pad {
        len.div_ceil(world_size)
    } else {
        len / world_size
    }
}

/// Refuses a `rank` outside `0..world_size` (what every split across ranks checks first).
pub(crate) fn check_rank(rank: u64, world_size: u64) -> Result<()> {
    if rank >= world_size {
        return Err(Error::InvalidArgument(format!(
            "rank must be in 0..world_size, got rank {rank} of world_size {world_size}"
        )));
    }
    Ok(())
}

/// The positions of one reader's part of an epoch's row sequence (see the module docs).
/// Positions at or past `len` stand for position `p % len` (padding).
pub(crate) fn share(len: u64, o: &IterOptions) -> Result<Range<u64>> {
    check_rank(o.rank, o.world_size)?;
    if o.num_workers == 0 || o.worker >= o.num_workers {
        return Err(Error::InvalidArgument(format!(
            "worker must be in 0..num_workers, got worker {} of num_workers {}",
            o.worker, o.num_workers
        )));
    }
    if o.batch_size == 0 {
        return Err(Error::InvalidArgument("batch_size must be positive".into()));
    }
    let per = rows_per_rank(len, o.world_size, o.pad);
    let start = o.rank * per;
    if o.num_workers == 1 {
        return Ok(start..start + per);
    }
    let b = o.batch_size as u64;
    let batches = if o.drop_last {
        per / b
    } else {
        per.div_ceil(b)
    };
    let (first, last) = (
        o.worker * batches / o.num_workers,
        (o.worker + 1) * batches / o.num_workers,
    );
    Ok(start + (first * b).min(per)..start + (last * b).min(per))
}

impl IterOptions {
    /// The saved state `saved` (JSON, as [`BatchIter::state`](super::BatchIter::state)
    /// serializes) if it resumes the iteration these options describe: the same batch size,
    /// shuffle, seed, epoch, rank, worker and padding. Anything else would skip or repeat rows;
    /// the error names what differs.
    pub fn resume_from(&self, saved: &str) -> Result<IterOptions> {
        let s = IterOptions::from_state_json(saved)?;
        let pairs = [
            ("batch_size", self.batch_size as u64, s.batch_size as u64),
            ("shuffle", self.shuffle as u64, s.shuffle as u64),
            ("seed", self.seed, s.seed),
            (
                "shuffle_buffer",
                self.shuffle_buffer as u64,
                s.shuffle_buffer as u64,
            ),
            ("rank", self.rank, s.rank),
            ("world_size", self.world_size, s.world_size),
            ("worker", self.worker, s.worker),
            ("num_workers", self.num_workers, s.num_workers),
            ("drop_last", self.drop_last as u64, s.drop_last as u64),
            ("pad", self.pad as u64, s.pad as u64),
        ];
        for (name, mine, saved) in pairs {
            if mine != saved {
                return Err(Error::InvalidArgument(format!(
                    "the state was saved with {name} = {saved}, this iteration has {name} = \
                     {mine}; resume with the same loader settings (batch size, seed, ranks and \
                     workers)"
                )));
            }
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(
        rank: u64,
        world: u64,
        worker: u64,
        workers: u64,
        pad: bool,
        drop: bool,
    ) -> IterOptions {
        IterOptions {
            batch_size: 4,
            rank,
            world_size: world,
            worker,
            num_workers: workers,
            pad,
            drop_last: drop,
            ..Default::default()
        }
    }

    #[test]
    fn ranks_pad_or_drop_like_distributed_sampler() {
        // 5 rows on 8 ranks: one row each when padding (3 repeated), none when dropping.
        for r in 0..8 {
            assert_eq!(share(5, &opts(r, 8, 0, 1, true, false)).unwrap(), r..r + 1);
            assert!(share(5, &opts(r, 8, 0, 1, false, true)).unwrap().is_empty());
        }
        assert_eq!(share(10, &opts(2, 3, 0, 1, true, false)).unwrap(), 8..12);
        assert_eq!(share(10, &opts(2, 3, 0, 1, false, false)).unwrap(), 6..9);
    }

    #[test]
    fn workers_split_a_rank_into_whole_batches_that_cover_it() {
        for (len, workers, drop) in [
            (37u64, 3u64, false),
            (37, 3, true),
            (5, 4, false),
            (64, 2, false),
        ] {
            let rank = share(len, &opts(1, 2, 0, 1, true, drop)).unwrap();
            let parts: Vec<_> = (0..workers)
                .map(|w| share(len, &opts(1, 2, w, workers, true, drop)).unwrap())
                .collect();
            assert_eq!(parts[0].start, rank.start);
            for p in parts.windows(2) {
                assert_eq!(p[0].end, p[1].start);
                assert_eq!((p[0].end - rank.start) % 4, 0);
            }
            let end = parts.last().unwrap().end;
            if drop {
                assert_eq!(end - rank.start, (rank.end - rank.start) / 4 * 4);
            } else {
                assert_eq!(end, rank.end);
            }
        }
    }

    #[test]
    fn bad_ranks_and_workers_are_refused() {
        assert!(share(5, &opts(2, 2, 0, 1, true, false)).is_err());
        assert!(share(5, &opts(0, 1, 3, 3, true, false)).is_err());
        assert!(share(5, &opts(0, 0, 0, 1, true, false)).is_err());
    }
}
