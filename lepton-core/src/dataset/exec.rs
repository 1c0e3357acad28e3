//! The threads dataset work runs on: a rayon pool for CPU work (encode, decode) and a tokio
//! runtime for object-store I/O, both re-created in a forked child process.
//!
//! A torch `DataLoader` forks its workers from a process that has already used the dataset; the
//! child inherits the pools' bookkeeping but none of their threads, so a job handed to an
//! inherited pool would never run. Keying the pools by process id gives each child fresh ones.

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
            .thread_name(|i| format!("lepton-dataset-{i}"))
            .build()
            .expect("failed to start the dataset thread pool (out of threads?)"),
    ));
    let io = Box::leak(Box::new(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("lepton-dataset-io")
            .enable_all()
            .build()
            .expect("failed to start the dataset I/O runtime (out of threads?)"),
    ));
    *guard = Some(Pools { pid, cpu, io });
    (cpu, io)
}

/// The CPU pool of this process.
pub(crate) fn cpu() -> &'static rayon::ThreadPool {
    pools().0
}

/// Runs an object-store future to completion on this process's I/O runtime.
pub(crate) fn block_on<F: Future>(fut: F) -> F::Output {
    pools().1.block_on(fut)
}
