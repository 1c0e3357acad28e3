//! The byte-shuffle filter's kernels (public for `benches/` only: the ceiling there runs the same
//! kernels as the reader and the writer).

/// Byte shuffle: element `i`'s byte `b` goes to `b * n + i`.
pub fn shuffle(src: &[u8], dst: &mut [u8], k: usize) {
    let n = src.len() / k;
    for b in 0..k {
        for (d, s) in dst[b * n..(b + 1) * n]
            .iter_mut()
            .zip(src[b..].iter().step_by(k))
        {
            *d = *s;
        }
    }
}

/// The inverse of [`shuffle`].
pub fn unshuffle(src: &[u8], dst: &mut [u8], k: usize) {
    let n = src.len() / k;
    match k {
        4 => {
            let (s0, r) = src.split_at(n);
            let (s1, r) = r.split_at(n);
            let (s2, s3) = r.split_at(n);
            for ((((d, a), b), c), e) in dst.chunks_exact_mut(4).zip(s0).zip(s1).zip(s2).zip(s3) {
                d.copy_from_slice(&[*a, *b, *c, *e]);
            }
        }
        2 => {
            let (s0, s1) = src.split_at(n);
            for ((d, a), b) in dst.chunks_exact_mut(2).zip(s0).zip(s1) {
                d.copy_from_slice(&[*a, *b]);
            }
        }
        _ => {
            for b in 0..k {
                for (s, d) in src[b * n..(b + 1) * n]
                    .iter()
                    .zip(dst[b..].iter_mut().step_by(k))
                {
                    *d = *s;
                }
            }
        }
    }
}
