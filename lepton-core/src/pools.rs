//! The threads behind the blocking API: a tokio runtime for object-store I/O and a rayon pool for
//! CPU work (encode, decode, encrypt), both per process.
//!
//! `object_store` is async; lepton-core's API is blocking so that it is simple to call from Rust
//! and from Python threads. Every async call goes through [`block_on`].
//!
//! A torch `DataLoader` forks its workers from a process that has already used lepton; the child
//! inherits the pools' bookkeeping but none of their threads, so a job handed to an inherited
//! pool would never run. Keying the pools by process id gives each child fresh ones.
//!
//! Fork safety: finding this process's pools takes no lock (one atomic load and a pid compare),
//! so a fork that lands while another thread is inside [`cpu`] or [`block_on`] leaves nothing
//! held in the child. Creating the pools is guarded by an atomic owner pid, which a child
//! recognises as its parent's and takes over, instead of a mutex that could stay locked forever.
//!
//! Pool sizes: the CPU pool has `LEPTON_NUM_THREADS` threads when that is set to a positive
//! number; otherwise one per core, except in a forked child (a `DataLoader` worker, say), which
//! gets `min(2, cores)` so that N workers do not start N × cores threads.

use std::future::Future;
use std::sync::atomic::{AtomicPtr, AtomicU32, Ordering};

struct Pools {
    pid: u32,
    cpu: rayon::ThreadPool,
    io: tokio::runtime::Runtime,
}

/// This process's pools (null before first use; a forked child sees its parent's).
static POOLS: AtomicPtr<Pools> = AtomicPtr::new(std::ptr::null_mut());
/// The process creating pools now (0: none).
static CREATING: AtomicU32 = AtomicU32::new(0);

/// The CPU pool's size: `LEPTON_NUM_THREADS`, else `min(2, cores)` in a forked child, else the
/// number of cores.
fn cpu_threads(forked: bool) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    match std::env::var("LEPTON_NUM_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
    {
        Some(n) if n > 0 => n,
        _ if forked => cores.min(2),
        _ => cores,
    }
}

fn pools() -> &'static Pools {
    let pid = std::process::id();
    let p = POOLS.load(Ordering::Acquire);
    // SAFETY: a non-null POOLS always points to a leaked (never freed) `Pools`.
    if let Some(p) = unsafe { p.as_ref() } {
        if p.pid == pid {
            return p;
        }
    }
    create(pid)
}

/// Releases the creation guard, also when starting a pool panics.
struct Done;

impl Drop for Done {
    fn drop(&mut self) {
        CREATING.store(0, Ordering::Release);
    }
}

#[cold]
fn create(pid: u32) -> &'static Pools {
    loop {
        let p = POOLS.load(Ordering::Acquire);
        // SAFETY: as in `pools`.
        let current = unsafe { p.as_ref() };
        if let Some(p) = current.filter(|p| p.pid == pid) {
            return p;
        }
        let owner = CREATING.load(Ordering::Acquire);
        // Another thread of this process is creating them: wait for it. An owner that is another
        // process is the parent we were forked from (its creating thread does not exist here).
        if owner == pid {
            std::thread::yield_now();
            continue;
        }
        if CREATING
            .compare_exchange(owner, pid, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            continue;
        }
        // The previous process's pools (if any) are leaked on purpose: their threads do not exist
        // here, and dropping them could wait for those threads forever.
        let forked = current.is_some();
        let _done = Done;
        let cpu = rayon::ThreadPoolBuilder::new()
            .num_threads(cpu_threads(forked))
            .thread_name(|i| format!("lepton-cpu-{i}"))
            .build()
            .expect("failed to start the lepton thread pool (out of threads?)");
        let io = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(if forked { 2 } else { 4 })
            .thread_name("lepton-io")
            .enable_all()
            .build()
            .expect("failed to start the lepton I/O runtime (out of threads?)");
        let new: &'static Pools = Box::leak(Box::new(Pools { pid, cpu, io }));
        POOLS.store(new as *const Pools as *mut Pools, Ordering::Release);
        return new;
    }
}

/// This process's CPU pool (decode, decrypt, encode).
pub fn cpu() -> &'static rayon::ThreadPool {
    &pools().cpu
}

/// This process's I/O runtime.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    &pools().io
}

/// Runs `fut` to completion on this process's I/O runtime, blocking the calling thread.
///
/// Must not be called from inside an async context (a tokio worker thread); call the async
/// functions there instead.
pub fn block_on<F: Future>(fut: F) -> F::Output {
    runtime().block_on(fut)
}
