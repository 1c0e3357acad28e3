//! The threads behind the blocking API: a tokio runtime for object-store I/O and a rayon pool for
//! CPU work (encode, decode, encrypt), both per process.
//!
//! `object_store` is async; lepton-core's API is blocking so that it is simple to call from Rust
//! and from Python threads. Every async call goes through [`block_on`].
//!
//! A torch `DataLoader` forks its workers from a process that has already used lepton; the child
//! inherits the pools' bookkeeping but none of their threads, so a job handed to an inherited
//! pool would never run. Keying the pools by process id gives each child fresh ones.

use std::future::Future;
use std::sync::{Mutex, OnceLock};

struct Pools {
    pid: u32,
    cpu: &'static rayon::ThreadPool,
    io: &'static tokio::runtime::Runtime,
}

fn pools() -> (&'static rayon::ThreadPool, &'static tokio::runtime::Runtime) {
    static POOLS: OnceLock<Mutex<Option<Pools>>> = OnceLock::new();
    let mut guard = POOLS
        .get_or_init(|| Mutex::new(None))
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let pid = std::process::id();
    if let Some(p) = guard.as_ref().filter(|p| p.pid == pid) {
        return (p.cpu, p.io);
    }
    // The previous process's pools (if any) are leaked on purpose: their threads do not exist
    // here, and dropping them could wait for those threads forever.
    let cpu = Box::leak(Box::new(
        rayon::ThreadPoolBuilder::new()
            .thread_name(|i| format!("lepton-cpu-{i}"))
            .build()
            .expect("failed to start the lepton thread pool (out of threads?)"),
    ));
    let io = Box::leak(Box::new(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .thread_name("lepton-io")
            .enable_all()
            .build()
            .expect("failed to start the lepton I/O runtime (out of threads?)"),
    ));
    *guard = Some(Pools { pid, cpu, io });
    (cpu, io)
}

/// This process's CPU pool (decode, decrypt, encode).
pub fn cpu() -> &'static rayon::ThreadPool {
    pools().0
}

/// This process's I/O runtime.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    pools().1
}

/// Runs `fut` to completion on this process's I/O runtime, blocking the calling thread.
///
/// Must not be called from inside an async context (a tokio worker thread); call the async
/// functions there instead.
pub fn block_on<F: Future>(fut: F) -> F::Output {
    runtime().block_on(fut)
}
