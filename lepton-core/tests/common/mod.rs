//! The store backends every platform conformance test runs against, shared by the test files:
//! a fresh `memory://` store, a temporary local folder, a unique prefix in the moto S3
//! bucket that `scripts/moto.sh` starts (the S3 cases fail, not skip, without it), or a local
//! folder served read-only over plain HTTP. What a backend can do is in its [`Caps`], so that a
//! case written once runs on every backend (as object_store's integration suite does).

#![allow(dead_code)] // each test crate uses its own subset

pub mod columns;
pub mod get_hook;

use lepton_core::crypto::Key;
use lepton_core::platform::{Platform, PlatformOptions};

/// Where a test's registry lives.
#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Memory,
    Local,
    S3,
    /// A local folder served over plain HTTP (`http://127.0.0.1:PORT`): read-only, no listing.
    Http,
}

/// What a backend can do.
#[derive(Clone, Copy, Debug)]
pub struct Caps {
    /// Pushes and deletes work (plain HTTP is read-only: pushes go through [`Fixture::writer`]).
    pub writes: bool,
    /// Names can be listed (plain HTTP has no listing; versions are found by probing).
    pub lists: bool,
}

impl Backend {
    pub fn caps(self) -> Caps {
        match self {
            Backend::Memory | Backend::Local | Backend::S3 => Caps {
                writes: true,
                lists: true,
            },
            Backend::Http => Caps {
                writes: false,
                lists: false,
            },
        }
    }
}

/// A fresh registry location (cleaned up on drop) and its own cache folder.
pub struct Fixture {
    pub uri: String,
    /// Where pushes go when the backend is read-only (the folder the HTTP server serves).
    writer_uri: Option<String>,
    _dir: Option<tempfile::TempDir>,
    pub cache: tempfile::TempDir,
}

pub fn s3_bucket() -> String {
    match (
        std::env::var("LEPTON_TEST_S3_BUCKET"),
        std::env::var("AWS_ENDPOINT"),
    ) {
        (Ok(b), Ok(_)) => b,
        _ => panic!(
            "the S3 cases need a local S3 server: run `source scripts/moto.sh` (or scripts/test.sh), \
             which starts moto_server and exports AWS_ENDPOINT and LEPTON_TEST_S3_BUCKET"
        ),
    }
}

/// A local port nothing listens on (an endpoint that refuses connections).
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A new, empty registry location on `backend`.
pub fn fixture(backend: Backend) -> Fixture {
    let id = uuid::Uuid::new_v4();
    let cache = tempfile::tempdir().unwrap();
    let (uri, dir) = match backend {
        Backend::Memory => (format!("memory://test-{id}"), None),
        Backend::Local => {
            let dir = tempfile::tempdir().unwrap();
            (dir.path().join("registry").display().to_string(), Some(dir))
        }
        Backend::S3 => (format!("s3://{}/test-{id}", s3_bucket()), None),
        Backend::Http => {
            let dir = tempfile::tempdir().unwrap();
            let folder = dir.path().join("registry");
            std::fs::create_dir_all(&folder).unwrap();
            let url = serve_folder(folder.clone());
            return Fixture {
                uri: url,
                writer_uri: Some(folder.display().to_string()),
                _dir: Some(dir),
                cache,
            };
        }
    };
    Fixture {
        uri,
        writer_uri: None,
        _dir: dir,
        cache,
    }
}

/// Serves `root` read-only over HTTP/1.1 (GET and HEAD, whole objects) on a free local port, in
/// a background thread that lives as long as the test process; returns its base URL.
pub fn serve_folder(root: std::path::PathBuf) -> String {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let root = root.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request = String::new();
                if reader.read_line(&mut request).is_err() {
                    return;
                }
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok() && !line.trim_end().is_empty() {
                    line.clear();
                }
                let mut parts = request.split_whitespace();
                let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or("/"));
                let rel = path.split('?').next().unwrap_or("").trim_start_matches('/');
                let file = root.join(rel);
                let body = if rel.split('/').any(|p| p == "..") || !file.is_file() {
                    None
                } else {
                    std::fs::read(&file).ok()
                };
                let mut out = stream;
                let head = match &body {
                    Some(b) => format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nLast-Modified: Mon, 30 Nov 2026 \
                         00:00:00 GMT\r\nETag: \"{}\"\r\nConnection: close\r\n\r\n",
                        b.len(),
                        b.len()
                    ),
                    None => {
                        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                            .to_string()
                    }
                };
                let _ = out.write_all(head.as_bytes());
                if let (Some(b), "GET") = (&body, method) {
                    let _ = out.write_all(b);
                }
            });
        }
    });
    url
}

impl Fixture {
    /// A registry that can push to this fixture's location: the registry itself, or for a
    /// read-only backend the folder it serves.
    pub fn writer(&self, key: Option<Key>) -> Platform {
        Platform::open(
            Some(self.writer_uri.as_deref().unwrap_or(&self.uri)),
            PlatformOptions {
                // No key here means plaintext, chosen explicitly (pushes are encrypted by default).
                encrypt: key.is_none().then_some(false),
                key,
                no_cache: true,
                ..Default::default()
            },
        )
        .unwrap()
    }

    /// Opens the registry with `key`, through this fixture's cache or with no cache at all.
    pub fn open_opts(
        &self,
        key: Option<Key>,
        cache: bool,
        storage: Vec<(String, String)>,
    ) -> Platform {
        Platform::open(
            Some(&self.uri),
            PlatformOptions {
                encrypt: key.is_none().then_some(false),
                key,
                cache_dir: cache.then(|| self.cache.path().to_path_buf()),
                no_cache: !cache,
                storage_options: if self.writer_uri.is_some() {
                    let mut s = storage;
                    s.push(("allow_http".into(), "true".into()));
                    s
                } else {
                    storage
                },
                ..Default::default()
            },
        )
        .unwrap()
    }
}

/// A tiny model the registry accepts (the top level of an ONNX `ModelProto`: `ir_version` 8,
/// `doc_string` = `payload`, an empty `graph`), written here by hand: registry tests need bytes
/// that pass the push-time format check without caring what the graph computes.
pub fn onnx_holding(payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0x08, 0x08, 0x32];
    let mut n = payload.len() as u64;
    while n >= 0x80 {
        out.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
    out.extend_from_slice(payload);
    out.extend_from_slice(&[0x3a, 0x00]);
    out
}

/// An accepted model (see [`onnx_holding`]) of exactly `len` bytes (at least 6), its
/// `doc_string` filled with bytes derived from `seed`, so different seeds give different models.
pub fn sized_model(seed: u8, len: usize) -> Vec<u8> {
    let varint_len = |n: usize| (1..).find(|k| n < 1usize << (7 * k)).unwrap();
    let n = (1..=4)
        .map(|v| len.saturating_sub(5 + v))
        .find(|&n| 5 + varint_len(n) + n == len)
        .expect("len >= 6");
    let payload: Vec<u8> = (0..n)
        .map(|i| (i as u32).wrapping_mul(2654435761).to_le_bytes()[1] ^ seed)
        .collect();
    onnx_holding(&payload)
}

/// Forks; the child runs `f` and exits 0 if it returns true. Returns whether the child succeeded
/// within `limit` (a hung child is killed and counts as a failure).
#[cfg(unix)]
pub fn in_child(limit: std::time::Duration, f: impl FnOnce() -> bool) -> bool {
    // SAFETY: the child only runs `f` (calls into lepton) and then `_exit`s.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let ok = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
            Ok(ok) => ok,
            Err(panic) => {
                // Straight to fd 2: the test harness captures this thread's output, and the
                // capture stays in the child.
                let what = panic
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| panic.downcast_ref::<&str>().copied())
                    .unwrap_or("a panic");
                let line = format!("forked child {}: panicked: {what}\n", std::process::id());
                // SAFETY: writes a buffer we own to stderr.
                unsafe { libc::write(2, line.as_ptr().cast(), line.len()) };
                false
            }
        };
        // SAFETY: ends the child without running the parent's destructors or atexit handlers.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    let start = std::time::Instant::now();
    loop {
        let mut status = 0;
        // SAFETY: waiting on our own child.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            return libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
        }
        if start.elapsed() > limit {
            // Where it hangs, for the failure's log (when gdb is installed).
            let stacks = std::process::Command::new("gdb")
                .args([
                    "-p",
                    &pid.to_string(),
                    "-batch",
                    "-ex",
                    "thread apply all bt 30",
                ])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_else(|e| format!("(no stacks: gdb: {e})"));
            eprintln!("forked child {pid} still running after {limit:?}; its threads:\n{stacks}");
            // SAFETY: our own child.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

impl Caps {
    /// What listing gives on a backend with these capabilities: `names` where it lists, else an
    /// [`Error::InvalidArgument`](lepton_core::Error::InvalidArgument) (plain HTTP can't list).
    pub fn check_listing(self, listed: lepton_core::Result<Vec<String>>, names: &[&str]) {
        if self.lists {
            assert_eq!(listed.unwrap(), names);
        } else {
            let e = listed.unwrap_err();
            assert!(matches!(e, lepton_core::Error::InvalidArgument(_)), "{e}");
        }
    }
}
