//! The background writer of the chunk cache: one thread per opened dataset, started by its first
//! write, fed through a queue bounded in bytes.
//!
//! Filling the cache is best effort and must not slow the read that fetched the bytes: a write
//! that finds the queue full is skipped (that chunk comes from the store again next time) rather
//! than making the reader wait, and a failed write only logs. One thread instead of one per
//! write: a burst of read-ahead GETs that complete together no longer starts a burst of threads
//! competing with the decoders for the cores. Dropping the writer writes what is queued and joins
//! the thread, so a dataset handle that is gone has its chunks on disk.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use bytes::Bytes;

/// One write: `data` under `name`; `what` names it in the log.
pub(crate) struct Job {
    pub(crate) name: String,
    pub(crate) data: Bytes,
    pub(crate) what: String,
}

/// What the writer does with a job (the cache's `put_unverified`, in the registry).
pub(crate) type WriteFn = Arc<dyn Fn(&Job) + Send + Sync>;

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    /// Bytes queued or being written.
    bytes: usize,
    closed: bool,
    /// The writer thread, once the first job started it.
    thread: Option<JoinHandle<()>>,
}

/// See the module docs.
pub(crate) struct Writer {
    shared: Arc<(Mutex<Queue>, Condvar)>,
    max_bytes: usize,
    write: WriteFn,
}

fn lock(m: &Mutex<Queue>) -> MutexGuard<'_, Queue> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Writer {
    /// A writer that queues at most `max_bytes` (one job of any size when the queue is empty).
    pub(crate) fn new(max_bytes: usize, write: WriteFn) -> Writer {
        Writer {
            shared: Arc::default(),
            max_bytes,
            write,
        }
    }

    /// Queues `job`, starting the thread on first use; returns false when it was skipped (the
    /// queue is full, or no thread could start). Never waits for a write.
    pub(crate) fn push(&self, job: Job) -> bool {
        let (queue, ready) = &*self.shared;
        let mut q = lock(queue);
        if q.closed || (q.bytes > 0 && q.bytes + job.data.len() > self.max_bytes) {
            tracing::debug!("cache writer busy; not caching {}", job.what);
            return false;
        }
        if q.thread.is_none() {
            let (shared, write) = (self.shared.clone(), self.write.clone());
            match std::thread::Builder::new()
                .name("lepton-cache-write".into())
                .spawn(move || run(&shared, &*write))
            {
                Ok(h) => q.thread = Some(h),
                Err(e) => {
                    tracing::warn!(
                        "could not start a cache writer ({e}); not caching {}",
                        job.what
                    );
                    return false;
                }
            }
        }
        q.bytes += job.data.len();
        q.jobs.push_back(job);
        ready.notify_one();
        true
    }
}

/// The writer thread: writes jobs in order until the queue is closed and empty.
fn run(shared: &(Mutex<Queue>, Condvar), write: &(dyn Fn(&Job) + Send + Sync)) {
    let (queue, ready) = shared;
    loop {
        let job = {
            let mut q = lock(queue);
            loop {
                if let Some(job) = q.jobs.pop_front() {
                    break job;
                }
                if q.closed {
                    return;
                }
                q = ready.wait(q).unwrap_or_else(|e| e.into_inner());
            }
        };
        // A panicking write (a bug) loses that write only, not the writer.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| write(&job)));
        let len = job.data.len();
        drop(job);
        lock(queue).bytes -= len;
    }
}

impl Drop for Writer {
    /// Writes what is queued, then joins the thread. Only ever runs in the process that made the
    /// writer: the registry keeps it in a [`PerProcess`](crate::per_process::PerProcess).
    fn drop(&mut self) {
        let (queue, ready) = &*self.shared;
        let thread = {
            let mut q = lock(queue);
            q.closed = true;
            q.thread.take()
        };
        ready.notify_all();
        if let Some(h) = thread {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    fn job(name: &str, len: usize) -> Job {
        Job {
            name: name.into(),
            data: Bytes::from(vec![0u8; len]),
            what: name.into(),
        }
    }

    #[test]
    fn a_full_queue_skips_writes_without_waiting_and_drop_writes_the_rest() {
        // The first write blocks until released, so the queue fills behind it.
        let (release, released) = mpsc::channel::<()>();
        let released = Mutex::new(released);
        let written = Arc::new(Mutex::new(Vec::new()));
        let seen = written.clone();
        let writer = Writer::new(
            10,
            Arc::new(move |j: &Job| {
                if j.name == "a" {
                    released.lock().unwrap().recv().unwrap();
                }
                seen.lock().unwrap().push(j.name.clone());
            }),
        );
        assert!(writer.push(job("a", 6)));
        assert!(writer.push(job("b", 4)));
        // 10 bytes queued or in progress: these are skipped, and push returns at once although
        // the writer is blocked.
        assert!(!writer.push(job("c", 1)));
        assert!(!writer.push(job("d", 8)));
        release.send(()).unwrap();
        drop(writer);
        assert_eq!(*written.lock().unwrap(), ["a", "b"]);
    }

    #[test]
    fn a_job_larger_than_the_bound_is_written_when_the_queue_is_empty() {
        let written = Arc::new(Mutex::new(Vec::new()));
        let seen = written.clone();
        let writer = Writer::new(
            4,
            Arc::new(move |j: &Job| seen.lock().unwrap().push(j.data.len())),
        );
        assert!(writer.push(job("big", 100)));
        drop(writer);
        assert_eq!(*written.lock().unwrap(), [100]);
    }

    #[test]
    fn a_panicking_write_loses_only_that_write() {
        let written = Arc::new(Mutex::new(Vec::new()));
        let seen = written.clone();
        let writer = Writer::new(
            100,
            Arc::new(move |j: &Job| {
                assert_ne!(j.name, "bad", "a write that fails unexpectedly");
                seen.lock().unwrap().push(j.name.clone());
            }),
        );
        for name in ["x", "bad", "y"] {
            // Each push waits until the queue is empty, so none is skipped for space.
            while !writer.push(job(name, 60)) {
                std::thread::yield_now();
            }
        }
        drop(writer);
        assert_eq!(*written.lock().unwrap(), ["x", "y"]);
    }
}
