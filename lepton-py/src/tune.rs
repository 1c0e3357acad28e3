//! Python bindings for `lepton_core::model::tune`: the runtime-settings search, the machine
//! fingerprint, and tuning profiles in the registry.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use lepton_core::model::tune::{self, Objective, Profile, Trial, TuneOptions, TuneResult, Variant};
use lepton_core::model::{runtime, ExecutionProvider, Fingerprint, OptimizationLevel};
use lepton_core::Error;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::errors::IntoPyResult;
use crate::model::hold;
use crate::platform::PyPlatform;

/// One measured candidate of a search (`lepton_core::model::tune::Trial`).
#[pyclass(frozen, get_all, name = "TuneTrial", module = "lepton_ai._lepton")]
#[derive(Clone)]
pub struct PyTrial {
    variant: String,
    providers: Vec<String>,
    intra_op_threads: Option<usize>,
    inter_op_threads: Option<usize>,
    execution_mode: String,
    optimization_level: String,
    batch_size: Option<usize>,
    rung: usize,
    runs: usize,
    batch_rows: usize,
    p50_ms: f64,
    p99_ms: f64,
    rows_per_s: f64,
    verdict: String,
    error: Option<String>,
}

impl From<&Trial> for PyTrial {
    fn from(t: &Trial) -> Self {
        PyTrial {
            variant: t.variant.clone(),
            providers: t.settings.providers.clone(),
            intra_op_threads: t.settings.intra_op_threads,
            inter_op_threads: t.settings.inter_op_threads,
            execution_mode: t.settings.execution_mode().to_string(),
            optimization_level: t.settings.optimization_level.clone(),
            batch_size: t.settings.batch_size,
            rung: t.rung,
            runs: t.runs,
            batch_rows: t.batch_rows,
            p50_ms: t.p50_ms,
            p99_ms: t.p99_ms,
            rows_per_s: t.rows_per_s,
            verdict: t.verdict.to_string(),
            error: t.error.clone(),
        }
    }
}

/// What a search found (`lepton_core::model::tune::TuneResult`).
#[pyclass(frozen, name = "TuneResult", module = "lepton_ai._lepton")]
pub struct PyTuneResult {
    result: TuneResult,
    /// Index of the pick in `trials` (0, the baseline, when nothing beat it beyond the noise).
    #[pyo3(get)]
    best: usize,
    /// Index of the search's best in `trials`.
    #[pyo3(get)]
    contender: usize,
    /// Relative spread of the final comparison's round medians.
    #[pyo3(get)]
    noise: f64,
    /// The contender's advantage over the baseline (>1 is faster).
    #[pyo3(get)]
    speedup: f64,
    /// Whether the contender beat the baseline by more than the noise.
    #[pyo3(get)]
    beats_baseline: bool,
    /// Seconds the search took.
    #[pyo3(get)]
    elapsed_s: f64,
}

impl From<TuneResult> for PyTuneResult {
    fn from(result: TuneResult) -> Self {
        PyTuneResult {
            best: result.best,
            contender: result.contender,
            noise: result.noise,
            speedup: result.speedup,
            beats_baseline: result.beats_baseline,
            elapsed_s: result.elapsed_s,
            result,
        }
    }
}

#[pymethods]
impl PyTuneResult {
    /// `"latency"` or `"throughput"`.
    #[getter]
    fn objective(&self) -> String {
        self.result.objective.to_string()
    }

    /// Every candidate, the baseline (ONNX Runtime's default session) first.
    #[getter]
    fn trials(&self) -> Vec<PyTrial> {
        self.result.trials.iter().map(PyTrial::from).collect()
    }

    /// The profile of the pick on this machine, as JSON (what the registry stores).
    fn profile_json(&self, py: Python<'_>) -> PyResult<String> {
        let fingerprint = py.detach(|| Fingerprint::current(None)).py()?;
        Ok(Profile::from_result(&self.result, fingerprint).to_json())
    }
}

/// This machine's fingerprint (`lepton_core::model::Fingerprint`).
#[pyclass(frozen, get_all, name = "Fingerprint", module = "lepton_ai._lepton")]
pub struct PyFingerprint {
    id: String,
    cpu: String,
    cores: usize,
    gpus: Vec<String>,
    runtime: String,
    providers: Vec<String>,
}

/// This machine's fingerprint; loads ONNX Runtime first if needed.
#[pyfunction]
#[pyo3(signature = (runtime_path=None, python_runtime=None))]
fn machine_fingerprint(
    py: Python<'_>,
    runtime_path: Option<PathBuf>,
    python_runtime: Option<PathBuf>,
) -> PyResult<PyFingerprint> {
    let f = py
        .detach(|| {
            runtime::init_with(
                runtime_path.as_deref(),
                runtime::PythonLookup::Done(python_runtime),
            )?;
            Fingerprint::current(runtime_path.as_deref())
        })
        .py()?;
    Ok(PyFingerprint {
        id: f.id(),
        cpu: f.cpu,
        cores: f.cores,
        gpus: f.gpus,
        runtime: f.runtime,
        providers: f.providers,
    })
}

/// Each name parsed by the core (`FromStr`); the first bad one is its typed error.
fn parse_each<T: FromStr<Err = Error>>(names: Option<Vec<String>>) -> PyResult<Option<Vec<T>>> {
    let parsed = names.map(|list| list.iter().map(|n| n.parse()).collect());
    parsed.transpose().py()
}

/// Searches runtime settings over `variants` (`[(label, onnx bytes)]`, the original first) on
/// `inputs` (numpy arrays by position); see `lepton_core::model::tune::tune`.
#[pyfunction]
#[pyo3(signature = (variants, inputs, objective, budget_s, batch_sizes=None, providers=None,
    intra_op_threads=None, optimization_levels=None, min_runs=3, runtime_path=None,
    python_runtime=None))]
#[allow(clippy::too_many_arguments)]
fn tune_runtime(
    py: Python<'_>,
    variants: Vec<(String, Bound<'_, PyBytes>)>,
    inputs: Vec<Bound<'_, PyAny>>,
    objective: String,
    budget_s: f64,
    batch_sizes: Option<Vec<usize>>,
    providers: Option<Vec<String>>,
    intra_op_threads: Option<Vec<Option<usize>>>,
    optimization_levels: Option<Vec<String>>,
    min_runs: usize,
    runtime_path: Option<PathBuf>,
    python_runtime: Option<PathBuf>,
) -> PyResult<PyTuneResult> {
    if !(budget_s.is_finite() && budget_s > 0.0) {
        return Err(Error::InvalidArgument(format!(
            "budget_s must be a positive number of seconds, got {budget_s}"
        )))
        .py();
    }
    let mut options = TuneOptions::new(objective.parse::<Objective>().py()?, {
        Duration::from_secs_f64(budget_s)
    });
    options.batch_sizes = batch_sizes.unwrap_or_default();
    if let Some(list) = parse_each::<ExecutionProvider>(providers)? {
        options.providers = Some(list);
    }
    options.intra_op_threads = intra_op_threads;
    if let Some(list) = parse_each::<OptimizationLevel>(optimization_levels)? {
        options.optimization_levels = Some(list);
    }
    options.min_runs = min_runs.max(1);
    options.base.runtime_path = runtime_path;
    let variants: Vec<Variant> = variants
        .into_iter()
        .map(|(label, b)| Variant::new(label, b.as_bytes().to_vec()))
        .collect();
    let held = inputs
        .iter()
        .enumerate()
        .map(|(i, a)| hold(py, a, || format!("#{i}")))
        .collect::<PyResult<Vec<_>>>()?;
    let views = held
        .iter()
        .map(|h| h.view())
        .collect::<lepton_core::Result<Vec<_>>>()
        .py()?;
    let result = py
        .detach(move || {
            runtime::init_with(
                options.base.runtime_path.as_deref(),
                runtime::PythonLookup::Done(python_runtime),
            )?;
            tune::tune(&variants, &views, &options)
        })
        .py()?;
    Ok(PyTuneResult::from(result))
}

/// Stores a profile (JSON) for `name` at `version` (None: latest); returns the version.
#[pyfunction]
#[pyo3(signature = (platform, name, profile_json, version=None))]
fn put_profile(
    py: Python<'_>,
    platform: &PyPlatform,
    name: String,
    profile_json: String,
    version: Option<u64>,
) -> PyResult<u64> {
    let profile = Profile::from_json(&profile_json).py()?;
    py.detach(|| platform.inner.put_profile(&name, version, &profile))
        .py()
}

/// The stored profile (JSON) of `name` at `version` for `fingerprint_id`, or None.
#[pyfunction]
#[pyo3(signature = (platform, name, fingerprint_id, version=None))]
fn get_profile(
    py: Python<'_>,
    platform: &PyPlatform,
    name: String,
    fingerprint_id: String,
    version: Option<u64>,
) -> PyResult<Option<String>> {
    let profile = py
        .detach(|| platform.inner.profile(&name, version, &fingerprint_id))
        .py()?;
    Ok(profile.map(|p| p.to_json()))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyTrial>()?;
    m.add_class::<PyTuneResult>()?;
    m.add_class::<PyFingerprint>()?;
    m.add_function(wrap_pyfunction!(machine_fingerprint, m)?)?;
    m.add_function(wrap_pyfunction!(tune_runtime, m)?)?;
    m.add_function(wrap_pyfunction!(put_profile, m)?)?;
    m.add_function(wrap_pyfunction!(get_profile, m)?)?;
    Ok(())
}
