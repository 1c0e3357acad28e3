//! Reused chunk buffers: decoding and encoding a chunk needs a few buffers of a few MiB each; a
//! fresh one costs a page fault and a kernel zeroing per 4 KiB page (12 % of a read, a third of
//! an S3 read, in `perf`), so buffers go back to a small process-wide pool when a chunk is done
//! with them and the next chunk takes them from there.
//!
//! A taken buffer keeps the bytes of its last use (never exposed: every user overwrites the
//! bytes it resizes to, see [`fit`]). The pool is only ever `try_lock`ed: a contended or
//! poisoned lock, or a fork that lands while another thread holds it, just means a fresh
//! allocation (or a buffer freed), never a wait.

use std::sync::Mutex;

/// Buffers kept at most (a few per CPU thread: decrypt, decompress, un-shuffle, and the decoded
/// chunks the iterator holds).
const MAX_BUFFERS: usize = 32;
/// A buffer larger than this is freed rather than kept.
const MAX_KEPT_BYTES: usize = 64 << 20;

static POOL: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

/// A buffer with room for at least `capacity` bytes: a pooled one if there is one, else new.
pub(crate) fn take(capacity: usize) -> Vec<u8> {
    if let Ok(mut pool) = POOL.try_lock() {
        // The smallest that fits, so that large buffers stay for large chunks.
        let best = pool
            .iter()
            .enumerate()
            .filter(|(_, b)| b.capacity() >= capacity)
            .min_by_key(|(_, b)| b.capacity())
            .map(|(i, _)| i);
        if let Some(i) = best {
            return pool.swap_remove(i);
        }
    }
    Vec::with_capacity(capacity)
}

/// Returns a buffer to the pool (or frees it when the pool is full or busy).
pub(crate) fn give(buf: Vec<u8>) {
    if buf.capacity() == 0 || buf.capacity() > MAX_KEPT_BYTES {
        return;
    }
    if let Ok(mut pool) = POOL.try_lock() {
        if pool.len() < MAX_BUFFERS {
            pool.push(buf);
        }
    }
}

/// Sets `buf`'s length to `len` for a caller that overwrites all of it: only bytes past the old
/// length are zero-filled (none, for a reused buffer of the same size).
pub(crate) fn fit(buf: &mut Vec<u8>, len: usize) {
    if buf.len() > len {
        buf.truncate(len);
    } else {
        buf.resize(len, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_given_buffer_is_taken_again_and_fit_keeps_its_length_right() {
        let mut b = take(1 << 20);
        fit(&mut b, 1 << 20);
        b[0] = 7;
        let ptr = b.as_ptr();
        give(b);
        let mut again = take(1 << 19);
        // Another test may race for the pool; only a reused buffer can carry the old byte.
        if again.as_ptr() == ptr {
            assert_eq!(again.len(), 1 << 20);
            assert_eq!(again[0], 7);
        }
        fit(&mut again, 10);
        assert_eq!(again.len(), 10);
        fit(&mut again, 20);
        assert_eq!(&again[10..], &[0u8; 10]);
    }
}
