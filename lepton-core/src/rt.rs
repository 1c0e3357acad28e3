//! The one async runtime behind the blocking API.
//!
//! `object_store` is async; lepton-core's API is blocking so that it is simple to call from Rust
//! and from Python threads. Every async call goes through [`block_on`] on a shared multi-thread
//! tokio runtime, created on first use.

use std::future::Future;
use std::sync::OnceLock;

/// The shared runtime. Its worker threads do I/O; CPU work (decrypt, decompress) runs on rayon.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .thread_name("lepton-io")
            .enable_all()
            .build()
            .expect("failed to start the tokio runtime (out of threads?)")
    })
}

/// Runs `fut` to completion on the shared runtime, blocking the calling thread.
///
/// Must not be called from inside an async context (a tokio worker thread); call the async
/// functions there instead.
pub fn block_on<F: Future>(fut: F) -> F::Output {
    runtime().block_on(fut)
}
