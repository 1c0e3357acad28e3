//! Finding and loading ONNX Runtime's shared library, once per process.
//!
//! `ort` is built with `load-dynamic`: nothing is linked at build time, and `ort` itself would panic
//! on first use if it could not find the library. So lepton loads it explicitly, before any other
//! `ort` call, trying in order:
//!
//! 1. the path the caller gives ([`ModelOptions::runtime_path`](super::ModelOptions), Python's
//!    `runtime_path=`). It is authoritative: if it fails, nothing else is tried;
//! 2. the `ORT_DYLIB_PATH` environment variable;
//! 3. the `onnxruntime` (or `onnxruntime-gpu`) Python package: `onnxruntime/capi/libonnxruntime.so.*`.
//!    The Python package finds it with `importlib.util.find_spec` (without importing
//!    onnxruntime) and passes it down; from pure Rust, `python3` (then `python`) on `PATH` is asked
//!    the same question;
//! 4. the system library search path (`libonnxruntime.so`).
//!
//! If all fail the error ([`Error::RuntimeNotFound`]) lists every attempt and how to fix it. A
//! failure is not remembered, so installing onnxruntime and retrying works; a success is final
//! (a process holds one ONNX Runtime).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};

use ort::environment::{Environment, GlobalThreadPoolOptions};
use ort::logging::LogLevel;

use crate::per_process::PerProcess;
use crate::{Error, Result};

/// The loaded ONNX Runtime.
#[derive(Debug, Clone)]
pub struct RuntimeInfo {
    path: PathBuf,
    found_by: &'static str,
    version: String,
}

impl RuntimeInfo {
    /// The library file that was loaded.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Which step of the search found it (`runtime_path`, `ORT_DYLIB_PATH`, `python package`,
    /// `system`).
    pub fn found_by(&self) -> &'static str {
        self.found_by
    }

    /// ONNX Runtime's version (e.g. `1.31.1`).
    pub fn version(&self) -> &str {
        &self.version
    }
}

struct Runtime {
    info: RuntimeInfo,
    env: Environment,
    /// The process that created `env`, and so its shared thread pool's threads.
    pid: u32,
}

static RUNTIME: OnceLock<Runtime> = OnceLock::new();
/// Serializes loading; per process, so a child forked mid-load does not wait on its parent's
/// loading thread (which does not exist there).
static INIT: PerProcess<Mutex<()>> = PerProcess::new(|_: Option<&Mutex<()>>| Mutex::new(()));

/// How step 3 of the search (the Python package) is done.
#[derive(Debug, Clone)]
pub enum PythonLookup {
    /// Ask `python3` (then `python`) on `PATH` where `onnxruntime/capi` is (the pure-Rust default).
    AskPython,
    /// The caller already looked (the Python package does, in-process); `None` if not installed.
    Done(Option<PathBuf>),
}

/// The loaded runtime, if any.
pub fn info() -> Option<&'static RuntimeInfo> {
    RUNTIME.get().map(|r| &r.info)
}

/// Loads ONNX Runtime (if not yet loaded) with the default search; see the [module docs](self).
pub fn init(explicit: Option<&Path>) -> Result<&'static RuntimeInfo> {
    init_with(explicit, PythonLookup::AskPython)
}

/// Loads ONNX Runtime (if not yet loaded); `python` says how to find the Python package's copy.
///
/// Thread-safe: concurrent callers wait for the first one. Once loaded, a different `explicit`
/// path is an error (one runtime per process).
pub fn init_with(explicit: Option<&Path>, python: PythonLookup) -> Result<&'static RuntimeInfo> {
    if let Some(rt) = RUNTIME.get() {
        return check_same(rt, explicit);
    }
    let _guard = INIT
        .get()
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(rt) = RUNTIME.get() {
        return check_same(rt, explicit);
    }
    let threads = shared_pool_threads()?;
    let mut tried = Vec::new();
    let attempt = |tried: &mut Vec<String>, path: &Path, found_by: &'static str| match load(
        path, found_by, threads,
    ) {
        Ok(rt) => Some(&RUNTIME.get_or_init(|| rt).info),
        Err(why) => {
            tried.push(format!("  - {found_by} `{}`: {why}", path.display()));
            None
        }
    };

    if let Some(path) = explicit {
        if let Some(info) = attempt(&mut tried, path, "runtime_path") {
            return Ok(info);
        }
        return Err(not_found(
            "the runtime_path given could not be loaded",
            tried,
        ));
    }
    match std::env::var_os("ORT_DYLIB_PATH") {
        Some(p) if !p.is_empty() => {
            if let Some(info) = attempt(&mut tried, Path::new(&p), "ORT_DYLIB_PATH") {
                return Ok(info);
            }
        }
        _ => tried.push("  - ORT_DYLIB_PATH: not set".to_string()),
    }
    let python_found = match python {
        PythonLookup::Done(found) => found.ok_or_else(|| {
            "onnxruntime is not installed in this Python (importlib.util.find_spec found nothing)"
                .to_string()
        }),
        PythonLookup::AskPython => ask_python(),
    };
    match python_found {
        Ok(path) => {
            if let Some(info) = attempt(&mut tried, &path, "python package") {
                return Ok(info);
            }
        }
        Err(why) => tried.push(format!("  - python package onnxruntime: {why}")),
    }
    // A bare name makes the loader search LD_LIBRARY_PATH and the system directories. `ort`
    // resolves relative names against the executable's folder first and panics if it has none.
    if std::env::current_exe().is_ok() {
        if let Some(info) = attempt(&mut tried, Path::new(system_library_name()), "system") {
            return Ok(info);
        }
    }
    Err(not_found("no ONNX Runtime library could be loaded", tried))
}

fn not_found(message: &str, tried: Vec<String>) -> Error {
    Error::RuntimeNotFound {
        message: message.to_string(),
        tried: tried.join("\n"),
    }
}

fn check_same(rt: &'static Runtime, explicit: Option<&Path>) -> Result<&'static RuntimeInfo> {
    if let Some(path) = explicit {
        let same = match (path.canonicalize(), rt.info.path.canonicalize()) {
            (Ok(a), Ok(b)) => a == b,
            _ => path == rt.info.path,
        };
        if !same {
            return Err(Error::InvalidArgument(format!(
                "ONNX Runtime is already loaded from `{}`; a process loads only one, so \
                 runtime_path `{}` cannot be used (pass it to the first model loaded, or set \
                 ORT_DYLIB_PATH before starting)",
                rt.info.path.display(),
                path.display()
            )));
        }
    }
    Ok(&rt.info)
}

fn load(
    path: &Path,
    found_by: &'static str,
    threads: Option<usize>,
) -> std::result::Result<Runtime, String> {
    // Absolute paths keep `ort` away from its executable-relative lookup (see above).
    let path = if path.is_relative() && path.components().count() > 1 {
        std::path::absolute(path).map_err(|e| e.to_string())?
    } else {
        path.to_path_buf()
    };
    if path.is_absolute() && !path.is_file() {
        return Err("no such file".into());
    }
    let builder = ort::init_from(&path).map_err(|e| e.to_string())?;
    let env = builder
        .with_name("lepton")
        .with_telemetry(false)
        .with_global_thread_pool(shared_pool_options(threads)?)
        .with_logger(Arc::new(forward_log))
        .build()
        .map_err(|e| format!("loaded, but creating the environment failed: {e}"))?;
    // The logger is registered at verbose; only warnings and worse are worth formatting.
    env.set_log_level(LogLevel::Warning);
    Ok(Runtime {
        info: RuntimeInfo {
            version: version_of(&path),
            path,
            found_by,
        },
        env,
        pid: std::process::id(),
    })
}

/// Sends ONNX Runtime's log lines to `tracing` (target `onnxruntime`) instead of stderr: failures
/// reach callers as errors already, and an SDK should not write to a notebook's stderr.
fn forward_log(level: LogLevel, category: &str, _id: &str, location: &str, message: &str) {
    match level {
        LogLevel::Error | LogLevel::Fatal => {
            tracing::error!(target: "onnxruntime", category, location, "{message}")
        }
        LogLevel::Warning => tracing::warn!(target: "onnxruntime", category, location, "{message}"),
        LogLevel::Info => tracing::info!(target: "onnxruntime", category, location, "{message}"),
        LogLevel::Verbose => {
            tracing::debug!(target: "onnxruntime", category, location, "{message}")
        }
    }
}

/// The version from the build info (`git-branch=rel-1.31.1`) or else the file name.
fn version_of(path: &Path) -> String {
    let info = ort::info();
    if let Some(rest) = info.split("git-branch=rel-").nth(1) {
        return rest
            .split([',', ' '])
            .next()
            .unwrap_or_default()
            .to_string();
    }
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    name.as_deref()
        .and_then(|n| n.split(".so.").nth(1))
        .unwrap_or("unknown")
        .to_string()
}

/// The runtime's environment; loads the runtime with the default search if needed.
pub(crate) fn environment(explicit: Option<&Path>) -> Result<&'static Environment> {
    init(explicit)?;
    Ok(&RUNTIME.get().expect("initialized above").env)
}

/// The environment variable sizing the shared intra-op pool.
pub const INTRA_OP_THREADS_VAR: &str = "LEPTON_INTRA_OP_THREADS";

/// The shared pool's intra-op threads asked for by `LEPTON_INTRA_OP_THREADS` (`None`: unset).
fn shared_pool_threads() -> Result<Option<usize>> {
    let Some(v) = std::env::var_os(INTRA_OP_THREADS_VAR).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let v = v.to_string_lossy();
    match v.trim().parse::<usize>() {
        Ok(n) if n > 0 => Ok(Some(n)),
        _ => Err(Error::InvalidArgument(format!(
            "{INTRA_OP_THREADS_VAR}={v:?} is not a number of threads (1 or more); unset it for \
             ONNX Runtime's default, the physical cores"
        ))),
    }
}

/// The shared thread pool's options: `threads` intra-op threads, else ONNX Runtime's default (its
/// count of the machine's physical cores); no inter-op pool (1 thread): a session running graph
/// branches in parallel makes its own.
fn shared_pool_options(
    threads: Option<usize>,
) -> std::result::Result<GlobalThreadPoolOptions, String> {
    let failed = |e: ort::Error| format!("setting up the shared thread pool failed: {e}");
    let mut options = GlobalThreadPoolOptions::default()
        .with_inter_threads(1)
        .map_err(failed)?;
    if let Some(n) = threads {
        options = options.with_intra_threads(n).map_err(failed)?;
    }
    Ok(options)
}

/// Whether sessions built in this process can run on the environment's shared thread pool: not
/// in a forked child, which inherits the pool but none of its threads.
pub(crate) fn shared_pool_usable() -> bool {
    RUNTIME.get().is_some_and(|rt| rt.pid == std::process::id())
}

fn system_library_name() -> &'static str {
    if cfg!(target_os = "windows") {
        "onnxruntime.dll"
    } else if cfg!(target_os = "macos") {
        "libonnxruntime.dylib"
    } else {
        "libonnxruntime.so"
    }
}

/// Whether a file name is ONNX Runtime's main library (not a provider plugin such as
/// `libonnxruntime_providers_cuda.so`).
pub fn is_runtime_library_name(name: &str) -> bool {
    name == "onnxruntime.dll"
        || name == "libonnxruntime.so"
        || name.starts_with("libonnxruntime.so.")
        || (name.starts_with("libonnxruntime.") && name.ends_with(".dylib"))
}

/// Lists `onnxruntime/capi/*onnxruntime*` of the Python package without importing it.
const PYTHON_SNIPPET: &str = "import glob, importlib.util, os; \
    s = importlib.util.find_spec('onnxruntime'); \
    ds = (s.submodule_search_locations or []) if s else []; \
    print('\\n'.join(f for d in ds for f in sorted(glob.glob(os.path.join(d, 'capi', '*onnxruntime*')))))";

/// Asks `python3` (then `python`) where the onnxruntime package's library is.
fn ask_python() -> std::result::Result<PathBuf, String> {
    let mut why = Vec::new();
    for exe in ["python3", "python"] {
        match Command::new(exe).args(["-c", PYTHON_SNIPPET]).output() {
            Ok(out) if out.status.success() => {
                let text = String::from_utf8_lossy(&out.stdout);
                let mut libs: Vec<PathBuf> = text
                    .lines()
                    .map(PathBuf::from)
                    .filter(|p| {
                        p.file_name()
                            .is_some_and(|n| is_runtime_library_name(&n.to_string_lossy()))
                    })
                    .collect();
                // The versioned file sorts last (`.so` < `.so.1.31.1`): prefer it.
                if let Some(lib) = libs.pop() {
                    return Ok(lib);
                }
                why.push(format!("`{exe}` has no onnxruntime package"));
            }
            Ok(out) => {
                let err = String::from_utf8_lossy(&out.stderr);
                let last = err.lines().last().unwrap_or_default().to_string();
                why.push(format!("`{exe}` failed ({}): {last}", out.status));
            }
            Err(e) => why.push(format!("`{exe}` not runnable ({e})")),
        }
    }
    Err(why.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_names() {
        assert!(is_runtime_library_name("libonnxruntime.so.1.31.1"));
        assert!(is_runtime_library_name("libonnxruntime.so"));
        assert!(is_runtime_library_name("libonnxruntime.1.31.1.dylib"));
        assert!(!is_runtime_library_name("libonnxruntime_providers_cuda.so"));
        assert!(!is_runtime_library_name(
            "libonnxruntime_providers_shared.so"
        ));
    }
}
