//! The byte-shuffle filter's kernels (public for `benches/` only: the ceiling there runs the same
//! kernels as the reader and the writer).
//!
//! Shuffling `n` elements of `k` bytes is a transpose of an `n × k` byte matrix. On x86-64 the
//! common sizes (2, 4, 8 bytes) go 16 elements at a time through SSE2 (part of x86-64 itself, so
//! no run-time detection): 16 elements are `k` vectors, and one round of byte interleaves
//! (`unpacklo/hi_epi8` of vector `j` with vector `j + k/2`) rotates the bits of every byte's
//! index in the block left by one; shuffling is a rotation by 4 (the element bits to the top),
//! un-shuffling by `log2 k`. The rest (other sizes, the last `n mod 16` elements, other
//! architectures) is a plain loop.

/// Byte shuffle: element `i`'s byte `b` goes to `b * n + i` (`n = src.len() / k`).
pub fn shuffle(src: &[u8], dst: &mut [u8], k: usize) {
    transpose(src, dst, k, Direction::Shuffle);
}

/// The inverse of [`shuffle`].
pub fn unshuffle(src: &[u8], dst: &mut [u8], k: usize) {
    transpose(src, dst, k, Direction::Unshuffle);
}

fn transpose(src: &[u8], dst: &mut [u8], k: usize, dir: Direction) {
    let done = match k {
        #[cfg(target_arch = "x86_64")]
        2 => sse2::transpose::<2>(src, dst, dir),
        #[cfg(target_arch = "x86_64")]
        4 => sse2::transpose::<4>(src, dst, dir),
        #[cfg(target_arch = "x86_64")]
        8 => sse2::transpose::<8>(src, dst, dir),
        _ => 0,
    };
    let n = src.len() / k;
    for i in done..n {
        for b in 0..k {
            let (element, plane) = (i * k + b, b * n + i);
            match dir {
                Direction::Shuffle => dst[plane] = src[element],
                Direction::Unshuffle => dst[element] = src[plane],
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    Shuffle,
    Unshuffle,
}

#[cfg(target_arch = "x86_64")]
mod sse2 {
    use std::arch::x86_64::{
        __m128i, _mm_loadu_si128, _mm_setzero_si128, _mm_storeu_si128, _mm_unpackhi_epi8,
        _mm_unpacklo_epi8,
    };

    use super::Direction;

    /// Elements per block: one 16-byte vector per byte plane.
    const LANES: usize = 16;

    /// One interleave round over the `K` vectors of a block (see the module docs).
    #[inline(always)]
    fn round<const K: usize>(v: [__m128i; K]) -> [__m128i; K] {
        let mut w = v;
        for j in 0..K / 2 {
            // SAFETY: SSE2 is part of x86-64: always present on this target.
            unsafe {
                w[2 * j] = _mm_unpacklo_epi8(v[j], v[j + K / 2]);
                w[2 * j + 1] = _mm_unpackhi_epi8(v[j], v[j + K / 2]);
            }
        }
        w
    }

    /// Transposes the whole 16-element blocks of `src` into `dst`; returns the elements done.
    pub(super) fn transpose<const K: usize>(src: &[u8], dst: &mut [u8], dir: Direction) -> usize {
        let n = src.len() / K;
        let blocks = n / LANES;
        let (rounds, src_plane, dst_plane) = match dir {
            Direction::Shuffle => (4, 0, n),
            Direction::Unshuffle => (K.trailing_zeros(), n, 0),
        };
        assert!(dst.len() >= n * K, "dst holds the {n} elements");
        for blk in 0..blocks {
            // SAFETY: SSE2 is part of x86-64: always present on this target.
            let mut v = [unsafe { _mm_setzero_si128() }; K];
            for (i, x) in v.iter_mut().enumerate() {
                // Shuffle: vector i is bytes 16i.. of the block's 16 elements; un-shuffle: the
                // block's 16 bytes of plane i.
                let at = if src_plane == 0 {
                    blk * LANES * K + LANES * i
                } else {
                    i * src_plane + blk * LANES
                };
                let s = &src[at..at + LANES];
                // SAFETY: `s` is 16 readable bytes; `loadu` has no alignment requirement.
                *x = unsafe { _mm_loadu_si128(s.as_ptr().cast()) };
            }
            for _ in 0..rounds {
                v = round(v);
            }
            for (i, x) in v.iter().enumerate() {
                let at = if dst_plane == 0 {
                    blk * LANES * K + LANES * i
                } else {
                    i * dst_plane + blk * LANES
                };
                let d = &mut dst[at..at + LANES];
                // SAFETY: `d` is 16 writable bytes; `storeu` has no alignment requirement.
                unsafe { _mm_storeu_si128(d.as_mut_ptr().cast(), *x) };
            }
        }
        blocks * LANES
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition, element by element.
    fn reference(src: &[u8], k: usize) -> Vec<u8> {
        let n = src.len() / k;
        let mut out = vec![0u8; n * k];
        for i in 0..n {
            for b in 0..k {
                out[b * n + i] = src[i * k + b];
            }
        }
        out
    }

    #[test]
    fn shuffle_matches_the_definition_and_unshuffle_inverts_it() {
        for k in [1usize, 2, 3, 4, 8, 16] {
            for n in [0usize, 1, 15, 16, 17, 33, 100, 1000] {
                let src: Vec<u8> = (0..n * k).map(|i| (i * 7 + i / 251) as u8).collect();
                let mut shuffled = vec![0u8; n * k];
                shuffle(&src, &mut shuffled, k);
                assert_eq!(shuffled, reference(&src, k), "shuffle k={k} n={n}");
                let mut back = vec![0u8; n * k];
                unshuffle(&shuffled, &mut back, k);
                assert_eq!(back, src, "unshuffle k={k} n={n}");
            }
        }
    }
}
