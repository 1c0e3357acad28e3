//! lepton-core's `tracing` events in Python: INFO and above go to the `lepton_ai` logger, except
//! events the core marks `user_warning = true` (a provider fell back to CPU, an unreachable
//! registry served from the cache), which raise a `UserWarning` instead, as onnxruntime warns:
//! each is reported once (`logging.captureWarnings(True)` routes warnings to logging).
//!
//! Events are buffered, never handed to Python on the thread that emits them: that may be a pool
//! thread while the calling thread holds the GIL and waits for it. The buffer is flushed on the
//! calling Python thread when a native call returns ([`crate::errors::IntoPyResult::py`]).

use std::collections::VecDeque;
use std::ffi::CString;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use tracing::field::{Field, Visit};
use tracing::{span, Event, Level, Metadata, Subscriber};

/// At most this many events wait for a flush (the oldest are dropped).
const CAPACITY: usize = 1024;

struct Record {
    level: Level,
    message: String,
    user_warning: bool,
}

static BUFFER: Mutex<VecDeque<Record>> = Mutex::new(VecDeque::new());
static PENDING: AtomicBool = AtomicBool::new(false);
static LOGGER: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// Collects an event's message and its other fields as ` key=value`.
#[derive(Default)]
struct Fields {
    message: String,
    rest: String,
    user_warning: bool,
}

impl Visit for Fields {
    fn record_bool(&mut self, field: &Field, value: bool) {
        if field.name() == "user_warning" {
            self.user_warning = value;
        } else {
            let _ = write!(self.rest, " {}={value}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.rest, " {}={value}", field.name());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.rest, " {}={value:?}", field.name());
        }
    }
}

struct Bridge;

impl Subscriber for Bridge {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        // tracing orders levels by verbosity: INFO, WARN and ERROR are `<= INFO`.
        *metadata.level() <= Level::INFO
    }

    fn new_span(&self, _: &span::Attributes<'_>) -> span::Id {
        span::Id::from_u64(1)
    }

    fn record(&self, _: &span::Id, _: &span::Record<'_>) {}

    fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let record = Record {
            level: *event.metadata().level(),
            message: format!("{}{}", fields.message, fields.rest),
            user_warning: fields.user_warning,
        };
        let mut buffer = BUFFER.lock().unwrap_or_else(|p| p.into_inner());
        if buffer.len() == CAPACITY {
            buffer.pop_front();
        }
        buffer.push_back(record);
        PENDING.store(true, Ordering::Release);
    }

    fn enter(&self, _: &span::Id) {}

    fn exit(&self, _: &span::Id) {}
}

/// Routes lepton-core's events here (once per process; a subscriber set by the embedding
/// application first wins).
pub fn install() {
    let _ = tracing::subscriber::set_global_default(Bridge);
}

/// Hands the buffered events to Python `logging` (and `warnings`); an error is a warning turned
/// into an exception by a warnings filter.
pub fn flush() -> PyResult<()> {
    if !PENDING.swap(false, Ordering::AcqRel) {
        return Ok(());
    }
    let records: Vec<Record> = BUFFER
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .drain(..)
        .collect();
    Python::attach(|py| {
        // `logging.getLogger` hands out one object per name for the process's life.
        let logger = LOGGER
            .get_or_try_init(py, || {
                py.import("logging")?
                    .call_method1("getLogger", ("lepton_ai",))
                    .map(Bound::unbind)
            })?
            .bind(py);
        let user_warning = py.get_type::<pyo3::exceptions::PyUserWarning>();
        for r in records {
            let level = match r.level {
                Level::ERROR => 40,
                Level::WARN => 30,
                _ => 20,
            };
            if r.user_warning {
                let text = CString::new(r.message.replace('\0', " ")).expect("no NUL");
                PyErr::warn(py, &user_warning, &text, 2)?;
            } else {
                logger.call_method1("log", (level, r.message.as_str()))?;
            }
        }
        Ok(())
    })
}
