//! [`PerProcess`]: a value each process has its own of, so that `fork()` at any moment is safe.
//!
//! A torch `DataLoader` forks its workers from a process whose threads may be inside lepton at
//! that instant: holding a lock (a dataset's chunk cache, the table of named in-memory stores),
//! or owning I/O state (an HTTP client's pooled connections, whose tasks run on the parent's
//! runtime). The child has none of those threads, so it must never wait on their state. A
//! `PerProcess` value notices the fork by its process id (one atomic load and a pid compare, no
//! lock) and builds the child's own value; the parent's copy is left alone in the child (never
//! locked, never dropped there: its lock may be held forever).

use std::sync::atomic::{AtomicPtr, Ordering};

struct Slot<T> {
    pid: u32,
    value: T,
}

/// See the module docs. `init` builds a process's value; it gets the value the process was
/// forked with, if any (to inherit what can be read without waiting, e.g. by `try_lock`).
pub(crate) struct PerProcess<T, F = fn(Option<&T>) -> T> {
    current: AtomicPtr<Slot<T>>,
    init: F,
}

impl<T, F: Fn(Option<&T>) -> T> PerProcess<T, F> {
    /// A value built by `init` on first use in each process (`const`: fit for a `static`).
    pub(crate) const fn new(init: F) -> PerProcess<T, F> {
        PerProcess {
            current: AtomicPtr::new(std::ptr::null_mut()),
            init,
        }
    }

    /// A value built now, for this process (later processes build their own with `init`).
    pub(crate) fn with_value(value: T, init: F) -> PerProcess<T, F> {
        let slot = Box::into_raw(Box::new(Slot {
            pid: std::process::id(),
            value,
        }));
        PerProcess {
            current: AtomicPtr::new(slot),
            init,
        }
    }

    /// This process's value.
    pub(crate) fn get(&self) -> &T {
        let pid = std::process::id();
        loop {
            let p = self.current.load(Ordering::Acquire);
            // SAFETY: a non-null pointer is a `Slot` from `Box::into_raw`, freed only by `Drop`
            // (which has `&mut self`, so no reference from `get` is alive) and never replaced
            // within the process that installed it; so it outlives `&self`.
            let inherited = unsafe { p.as_ref() };
            if let Some(slot) = inherited.filter(|s| s.pid == pid) {
                return &slot.value;
            }
            let fresh = Box::into_raw(Box::new(Slot {
                pid,
                value: (self.init)(inherited.map(|s| &s.value)),
            }));
            match self
                .current
                .compare_exchange(p, fresh, Ordering::AcqRel, Ordering::Acquire)
            {
                // The inherited slot (the parent's) is leaked on purpose: see the module docs.
                // SAFETY: `fresh` was just installed and is never replaced in this process.
                Ok(_) => return unsafe { &(*fresh).value },
                Err(_) => {
                    // Another thread of this process installed its value first: use that one.
                    // SAFETY: `fresh` was never shared.
                    drop(unsafe { Box::from_raw(fresh) });
                }
            }
        }
    }
}

impl<T, F> Drop for PerProcess<T, F> {
    fn drop(&mut self) {
        let p = *self.current.get_mut();
        // SAFETY: as in `get`; `&mut self` means no reference into the slot is alive.
        if let Some(slot) = unsafe { p.as_ref() } {
            if slot.pid == std::process::id() {
                // SAFETY: this process's own slot, from `Box::into_raw`, freed once.
                drop(unsafe { Box::from_raw(p) });
            }
            // else: the parent's value, inherited by fork; its locks may be held by threads that
            // do not exist here, so it is not dropped (leaked) in this process.
        }
    }
}

// SAFETY: `PerProcess` hands out `&T` to any thread (needs `T: Sync`), builds or drops a `T` on
// whichever thread calls `get` or drops it (needs `T: Send`), and calls `init` from any thread.
unsafe impl<T: Send + Sync, F: Sync> Sync for PerProcess<T, F> {}
// SAFETY: as above.
unsafe impl<T: Send + Sync, F: Send> Send for PerProcess<T, F> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_thread_of_a_process_sees_one_value() {
        let v = PerProcess::new(|_: Option<&std::sync::Mutex<i32>>| std::sync::Mutex::new(7));
        let first = v.get() as *const _ as usize;
        let seen: Vec<usize> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| s.spawn(|| v.get() as *const _ as usize))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(seen.iter().all(|&p| p == first));
        *v.get().lock().unwrap() += 1;
        assert_eq!(*v.get().lock().unwrap(), 8);
    }
}
