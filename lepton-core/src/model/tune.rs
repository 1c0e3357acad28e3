//! Runtime-settings search: which execution provider, threads, execution mode, graph
//! optimization level (and, for throughput, batch size) run a model fastest on this machine.
//!
//! [`tune`] measures every candidate on the caller's inputs under a time budget with successive
//! halving: each rung gives the survivors an equal share of the rung's time, ranks them by the
//! median and keeps the better half, until one is left. The winner is then run against ONNX
//! Runtime's default session (the baseline) in alternating rounds; it is declared better only when
//! its median beats the baseline's by more than the spread of the round medians (the measured
//! noise). Otherwise the defaults stay.
//!
//! Several model *variants* (the original and, say, an int8 copy that passed an accuracy gate)
//! compete in one search; the baseline is always the first variant with default settings.
//!
//! ```no_run
//! use std::time::Duration;
//! use lepton_core::model::tune::{tune, Objective, TuneOptions, Variant};
//! use lepton_core::model::Tensor;
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let onnx = std::fs::read("model.onnx")?;
//! let x = Tensor::from_vec(vec![1, 30], vec![0.0f32; 30])?;
//! let options = TuneOptions::new(Objective::Latency, Duration::from_secs(10));
//! let result = tune(&[Variant::new("original", onnx)], &[x.view()], &options)?;
//! println!("{:?} beats defaults: {}", result.best().settings, result.beats_baseline);
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::fingerprint::{cuda_available, Fingerprint};
use super::options::{ExecutionProvider, ModelOptions, OptimizationLevel};
use super::runtime;
use super::session::Model;
use super::tensor::{DType, Tensor, TensorData, TensorView, ViewData, F16};
use crate::{Error, Result};

/// What to make fast.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Objective {
    /// The median time of one run on the inputs as given (lower is better).
    Latency,
    /// Rows per second over batches of the candidate batch sizes (higher is better).
    Throughput,
}

impl FromStr for Objective {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "latency" => Ok(Objective::Latency),
            "throughput" => Ok(Objective::Throughput),
            _ => Err(Error::InvalidArgument(format!(
                "unknown objective `{s}`; use `latency` or `throughput`"
            ))),
        }
    }
}

impl fmt::Display for Objective {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Objective::Latency => "latency",
            Objective::Throughput => "throughput",
        })
    }
}

/// One point of the search space: how a session is built, and the batch size it is fed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Settings {
    /// Execution providers in priority order (e.g. `["cuda", "cpu"]`).
    pub providers: Vec<String>,
    /// Threads inside one operator (`None`: ONNX Runtime's default).
    pub intra_op_threads: Option<usize>,
    /// Threads across graph branches; above 1 the session runs in parallel execution mode,
    /// otherwise sequential (`None`: ONNX Runtime's default, sequential).
    pub inter_op_threads: Option<usize>,
    /// Graph optimization level (`disable`, `basic`, `extended`, `all`).
    pub optimization_level: String,
    /// Rows per run (throughput only; `None`: the rows given).
    pub batch_size: Option<usize>,
}

/// Which of a load's tunable options the caller set explicitly (see
/// [`Settings::apply_unless_given`]); `Default`: none, so a profile sets them all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GivenOptions {
    /// `providers` was given.
    pub providers: bool,
    /// `intra_op_threads` was given.
    pub intra_op_threads: bool,
    /// `inter_op_threads` was given.
    pub inter_op_threads: bool,
    /// `optimization_level` was given.
    pub optimization_level: bool,
}

impl Default for Settings {
    /// ONNX Runtime's default session: CPU, default threads, sequential, all optimizations.
    fn default() -> Self {
        Settings {
            providers: vec!["cpu".into()],
            intra_op_threads: None,
            inter_op_threads: None,
            optimization_level: OptimizationLevel::All.to_string(),
            batch_size: None,
        }
    }
}

impl Settings {
    /// `sequential` or `parallel` (ONNX Runtime's execution mode these settings select).
    pub fn execution_mode(&self) -> &'static str {
        if self.inter_op_threads.unwrap_or(1) > 1 {
            "parallel"
        } else {
            "sequential"
        }
    }

    /// `base` with these settings applied (providers strict: a candidate that can't get its
    /// provider fails instead of silently measuring the CPU).
    pub fn apply(&self, base: &ModelOptions) -> Result<ModelOptions> {
        self.apply_unless_given(base, GivenOptions::default())
    }

    /// `base` with these settings applied where the caller did not set the option (`given`):
    /// how a stored profile meets a load's own options (what the caller set wins, and a
    /// setting the caller overrides is not even parsed).
    pub fn apply_unless_given(
        &self,
        base: &ModelOptions,
        given: GivenOptions,
    ) -> Result<ModelOptions> {
        let mut options = base.clone();
        if !given.providers {
            options.providers = self
                .providers
                .iter()
                .map(|p| p.parse::<ExecutionProvider>())
                .collect::<Result<_>>()?;
        }
        if !given.intra_op_threads {
            options.intra_op_threads = self.intra_op_threads;
        }
        if !given.inter_op_threads {
            options.inter_op_threads = self.inter_op_threads;
        }
        if !given.optimization_level {
            options.optimization_level = self.optimization_level.parse()?;
        }
        Ok(options)
    }

    /// The session part (everything but the batch size).
    fn session_key(&self) -> Settings {
        Settings {
            batch_size: None,
            ..self.clone()
        }
    }
}

impl fmt::Display for Settings {
    /// `cpu intra=2 inter=- sequential opt=all batch=64`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = |v: Option<usize>| v.map_or("-".to_string(), |v| v.to_string());
        write!(
            f,
            "{} intra={} inter={} {} opt={}",
            self.providers.join(","),
            n(self.intra_op_threads),
            n(self.inter_op_threads),
            self.execution_mode(),
            self.optimization_level
        )?;
        if let Some(b) = self.batch_size {
            write!(f, " batch={b}")?;
        }
        Ok(())
    }
}

/// A model to measure: a label (`original`, `int8-dynamic`, ...) and its ONNX bytes.
#[derive(Debug, Clone)]
pub struct Variant {
    /// What it is.
    pub label: String,
    /// The ONNX bytes.
    pub onnx: Vec<u8>,
}

impl Variant {
    /// A variant from its label and bytes.
    pub fn new(label: impl Into<String>, onnx: impl Into<Vec<u8>>) -> Variant {
        Variant {
            label: label.into(),
            onnx: onnx.into(),
        }
    }
}

/// How [`tune`] searches.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TuneOptions {
    /// Latency or throughput.
    pub objective: Objective,
    /// The whole search, session creation included, stops after about this long (the rung in
    /// progress finishes its current candidate; every candidate gets at least `min_runs`).
    pub budget: Duration,
    /// Batch sizes to try for throughput (rows are repeated to fill a batch); empty: the rows
    /// given. Ignored for latency.
    pub batch_sizes: Vec<usize>,
    /// Providers to try; `None`: CPU, plus CUDA when the runtime has it.
    pub providers: Option<Vec<ExecutionProvider>>,
    /// Intra-op thread counts to try; `None`: the default, 1, half and all of the cores.
    pub intra_op_threads: Option<Vec<Option<usize>>>,
    /// Optimization levels to try; `None`: all, extended, basic.
    pub optimization_levels: Option<Vec<OptimizationLevel>>,
    /// Runs per candidate per rung, at least.
    pub min_runs: usize,
    /// Alternating rounds of the final baseline-against-winner comparison.
    pub confirm_rounds: usize,
    /// What every session starts from (runtime path, ...).
    pub base: ModelOptions,
}

impl TuneOptions {
    /// Default search space for `objective` within `budget`.
    pub fn new(objective: Objective, budget: Duration) -> TuneOptions {
        TuneOptions {
            objective,
            budget,
            batch_sizes: Vec::new(),
            providers: None,
            intra_op_threads: None,
            optimization_levels: None,
            min_runs: 3,
            confirm_rounds: 5,
            base: ModelOptions::default(),
        }
    }
}

/// How a trial ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// ONNX Runtime's default session (what the winner is compared with).
    Baseline,
    /// Faster than the baseline by more than the measured noise: the pick.
    Winner,
    /// The search's best, but not faster than the baseline beyond the noise: defaults kept.
    WithinNoise,
    /// Dropped by successive halving.
    Eliminated,
    /// Could not be built or run (see the trial's error).
    Failed,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Baseline => "baseline",
            Verdict::Winner => "winner",
            Verdict::WithinNoise => "within_noise",
            Verdict::Eliminated => "eliminated",
            Verdict::Failed => "failed",
        })
    }
}

/// One measured candidate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    /// The model variant's label.
    pub variant: String,
    /// The settings.
    pub settings: Settings,
    /// The last successive-halving rung it ran in (0 = first).
    pub rung: usize,
    /// Timed runs (warm-up excluded).
    pub runs: usize,
    /// Rows per run.
    pub batch_rows: usize,
    /// Median seconds per run ×1000.
    pub p50_ms: f64,
    /// 99th percentile seconds per run ×1000.
    pub p99_ms: f64,
    /// `batch_rows / median seconds per run`.
    pub rows_per_s: f64,
    /// How it ended.
    pub verdict: Verdict,
    /// Why it failed, if it did.
    pub error: Option<String>,
}

/// What [`tune`] found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TuneResult {
    /// The objective.
    pub objective: Objective,
    /// Every candidate, the baseline first.
    pub trials: Vec<Trial>,
    /// Index in `trials` of the pick: the winner, or the baseline when nothing beat it.
    pub best: usize,
    /// Index in `trials` of the search's best (equal to `best` when it won).
    pub contender: usize,
    /// Relative spread of the round medians in the final comparison, `(max - min) / median`, the
    /// larger of the two contenders'.
    pub noise: f64,
    /// Baseline median over contender median (latency) or contender rows/s over baseline rows/s
    /// (throughput), from the final comparison's round medians; above `1 + noise` is a win.
    pub speedup: f64,
    /// Whether the contender beat the baseline by more than the noise.
    pub beats_baseline: bool,
    /// Seconds the whole search took.
    pub elapsed_s: f64,
}

impl TuneResult {
    /// The pick.
    pub fn best(&self) -> &Trial {
        &self.trials[self.best]
    }

    /// The baseline (ONNX Runtime's default session on the first variant).
    pub fn baseline(&self) -> &Trial {
        &self.trials[0]
    }
}

/// The settings a search picked for one model on one machine: what the registry keeps (see
/// `Platform::put_profile`) and `load_model` applies on a machine with the same fingerprint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    /// Where it was measured.
    pub fingerprint: Fingerprint,
    /// `fingerprint.id()`, the key it is stored under.
    pub fingerprint_id: String,
    /// What was optimized.
    pub objective: Objective,
    /// The picked settings (ONNX Runtime's defaults when nothing beat them).
    pub settings: Settings,
    /// The picked variant's label (`original`, or a transform such as `int8-dynamic`).
    pub variant: String,
    /// Whether the pick beat the default session by more than the noise.
    pub beats_baseline: bool,
    /// The pick's advantage over the default session (see [`TuneResult::speedup`]).
    pub speedup: f64,
    /// The measured noise (see [`TuneResult::noise`]).
    pub noise: f64,
    /// The pick's median milliseconds per run and rows per second.
    pub p50_ms: f64,
    /// Rows per second of the pick.
    pub rows_per_s: f64,
    /// When it was measured, seconds since the Unix epoch.
    pub created_unix: u64,
    /// HMAC-SHA-256 (hex) of every other field under the platform key, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
}

impl Profile {
    /// The profile of `result`'s pick, measured on `fingerprint`.
    pub fn from_result(result: &TuneResult, fingerprint: Fingerprint) -> Profile {
        let best = result.best();
        Profile {
            fingerprint_id: fingerprint.id(),
            fingerprint,
            objective: result.objective,
            settings: best.settings.clone(),
            variant: best.variant.clone(),
            beats_baseline: result.beats_baseline,
            speedup: if result.beats_baseline {
                result.speedup
            } else {
                1.0
            },
            noise: result.noise,
            p50_ms: best.p50_ms,
            rows_per_s: best.rows_per_s,
            created_unix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            mac: None,
        }
    }

    /// The profile as JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("profiles serialize")
    }

    /// Reads a profile from JSON text.
    pub fn from_json(text: &str) -> Result<Profile> {
        serde_json::from_str(text)
            .map_err(|e| Error::InvalidArgument(format!("not a tuning profile: {e}")))
    }
}

struct Candidate {
    variant: usize,
    settings: Settings,
    samples: Vec<f64>,
    rung: usize,
    error: Option<String>,
}

/// The inputs one candidate runs on: the given tensors, or their rows repeated to a batch size.
struct Batch {
    rows: usize,
    tensors: Vec<Tensor>,
}

/// Searches runtime settings (and variants) for `objective` under `options.budget`.
///
/// `inputs` are the model's inputs by position; for throughput their first dimension holds rows
/// that are repeated or cut to each candidate batch size (numeric inputs only).
///
/// Errors: no variants, no inputs, or the baseline itself cannot be built or run (then nothing can
/// be compared): [`Error::InvalidArgument`] / the model's error.
pub fn tune(
    variants: &[Variant],
    inputs: &[TensorView<'_>],
    options: &TuneOptions,
) -> Result<TuneResult> {
    let start = Instant::now();
    // Loaded first: which providers exist is a question to the runtime.
    runtime::init(options.base.runtime_path.as_deref())?;
    let inputs: Vec<Tensor> = inputs.iter().map(owned).collect::<Result<_>>()?;
    if variants.is_empty() {
        return Err(Error::InvalidArgument(
            "tune needs at least one model variant".into(),
        ));
    }
    let given_rows = inputs
        .first()
        .and_then(|t| t.shape().first().copied())
        .unwrap_or(1)
        .max(1) as usize;
    let mut batches: HashMap<Option<usize>, Batch> = HashMap::new();
    batches.insert(
        None,
        Batch {
            rows: given_rows,
            tensors: inputs.to_vec(),
        },
    );
    let batch_sizes: Vec<Option<usize>> =
        if options.objective == Objective::Throughput && !options.batch_sizes.is_empty() {
            let mut sizes = Vec::new();
            for &b in &options.batch_sizes {
                if b == 0 {
                    return Err(Error::InvalidArgument(
                        "batch sizes must be at least 1".into(),
                    ));
                }
                if !sizes.contains(&Some(b)) {
                    batches.insert(
                        Some(b),
                        Batch {
                            rows: b,
                            tensors: inputs
                                .iter()
                                .map(|t| repeat_rows(t, b))
                                .collect::<Result<_>>()?,
                        },
                    );
                    sizes.push(Some(b));
                }
            }
            sizes
        } else {
            vec![None]
        };

    // The search space; the baseline (variant 0, defaults, the rows given) comes first.
    let providers: Vec<Vec<String>> = match &options.providers {
        Some(list) => list
            .iter()
            .map(|p| match p {
                ExecutionProvider::Cpu => vec!["cpu".to_string()],
                other => vec![other.to_string(), "cpu".to_string()],
            })
            .collect(),
        None => {
            let mut v = vec![vec!["cpu".to_string()]];
            if cuda_available() {
                v.push(vec!["cuda".to_string(), "cpu".to_string()]);
            }
            v
        }
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let intra: Vec<Option<usize>> = match &options.intra_op_threads {
        Some(v) => v.clone(),
        None => {
            let mut v = vec![None, Some(1), Some((cores / 2).max(1)), Some(cores)];
            v.dedup();
            let mut seen = Vec::new();
            v.retain(|x| {
                let fresh = !seen.contains(x);
                seen.push(*x);
                fresh
            });
            v
        }
    };
    let inter: Vec<Option<usize>> = if cores > 1 {
        vec![None, Some(2)]
    } else {
        vec![None]
    };
    let levels: Vec<OptimizationLevel> = options.optimization_levels.clone().unwrap_or(vec![
        OptimizationLevel::All,
        OptimizationLevel::Extended,
        OptimizationLevel::Basic,
    ]);
    let mut candidates = vec![Candidate {
        variant: 0,
        settings: Settings::default(),
        samples: Vec::new(),
        rung: 0,
        error: None,
    }];
    for v in 0..variants.len() {
        for p in &providers {
            let gpu = p[0] != "cpu";
            for &intra_n in &intra {
                for &inter_n in &inter {
                    // Threads are the CPU's business: on a GPU provider keep the defaults.
                    if gpu && (intra_n.is_some() || inter_n.is_some()) {
                        continue;
                    }
                    for level in &levels {
                        for &b in &batch_sizes {
                            let settings = Settings {
                                providers: p.clone(),
                                intra_op_threads: intra_n,
                                inter_op_threads: inter_n,
                                optimization_level: level.to_string(),
                                batch_size: b,
                            };
                            if v == 0 && settings == candidates[0].settings {
                                continue;
                            }
                            candidates.push(Candidate {
                                variant: v,
                                settings,
                                samples: Vec::new(),
                                rung: 0,
                                error: None,
                            });
                        }
                    }
                }
            }
        }
    }

    let mut sessions: HashMap<(usize, Settings), Result<Model, String>> = HashMap::new();
    // `hopeless`: a run slower than this (seconds per row for throughput, per run for latency)
    // ends the candidate's turn after one timed run: a 50 ms setting need not be timed three
    // times to lose to a 1 ms one.
    let mut measure = |c: &mut Candidate, seconds: f64, min_runs: usize, hopeless: f64| {
        if c.error.is_some() {
            return;
        }
        let key = (c.variant, c.settings.session_key());
        let model = sessions.entry(key).or_insert_with(|| {
            let opts = c
                .settings
                .apply(&options.base)
                .map_err(|e| e.to_string())?
                .with_strict(true);
            let model = Model::from_bytes(variants[c.variant].onnx.clone(), &opts)
                .map_err(|e| e.to_string())?;
            Ok(model)
        });
        let model = match model {
            Ok(m) => m,
            Err(e) => {
                c.error = Some(e.clone());
                return;
            }
        };
        let batch = &batches[&c.settings.batch_size];
        let views: Vec<TensorView<'_>> = batch.tensors.iter().map(TensorView::from).collect();
        let run = || model.run(views.iter().cloned());
        if c.samples.is_empty() {
            // Warm-up: the first run allocates and, on a GPU, compiles kernels.
            if let Err(e) = run() {
                c.error = Some(e.to_string());
                return;
            }
        }
        let began = Instant::now();
        let mut n = 0;
        let per_row = match options.objective {
            Objective::Latency => 1.0,
            Objective::Throughput => batch.rows as f64,
        };
        while n < min_runs || began.elapsed().as_secs_f64() < seconds {
            let t = Instant::now();
            if let Err(e) = run() {
                c.error = Some(e.to_string());
                return;
            }
            let took = t.elapsed().as_secs_f64();
            c.samples.push(took);
            n += 1;
            if took / per_row > hopeless {
                break;
            }
        }
    };

    let budget = options.budget.as_secs_f64();
    let search_budget = budget * 0.7;
    let score = |c: &Candidate| -> f64 {
        // Lower is better for both objectives: seconds per run, or seconds per row.
        let rows = batches[&c.settings.batch_size].rows as f64;
        let m = median(&c.samples);
        match options.objective {
            Objective::Latency => m,
            Objective::Throughput => m / rows,
        }
    };
    let mut alive: Vec<usize> = (0..candidates.len()).collect();
    let rungs = (alive.len() as f64).log2().ceil().max(1.0) as usize;
    let mut rung = 0;
    let mut best_so_far = f64::INFINITY;
    loop {
        let remaining = search_budget - start.elapsed().as_secs_f64();
        let share = (remaining / (rungs.saturating_sub(rung).max(1)) as f64) / alive.len() as f64;
        for &i in &alive {
            let out_of_time = start.elapsed().as_secs_f64() >= search_budget;
            if out_of_time && rung > 0 {
                // Later rungs only refine: what was measured so far stands.
                break;
            }
            candidates[i].rung = rung;
            // Out of time in the first rung: one run each, so every candidate has a number.
            let min_runs = if out_of_time { 1 } else { options.min_runs };
            measure(
                &mut candidates[i],
                share.max(0.0),
                min_runs,
                10.0 * best_so_far,
            );
            if candidates[i].error.is_none() && !candidates[i].samples.is_empty() {
                best_so_far = best_so_far.min(score(&candidates[i]));
            }
            if i == 0 {
                if let Some(e) = &candidates[0].error {
                    return Err(Error::Runtime(format!(
                        "ONNX Runtime's default session could not run the model: {e}"
                    )));
                }
            }
        }
        alive.retain(|&i| candidates[i].error.is_none());
        let out_of_time = start.elapsed().as_secs_f64() >= search_budget;
        if alive.len() <= 2 || out_of_time {
            break;
        }
        // Keep the better half (the baseline always stays for the final comparison).
        let mut ranked: Vec<usize> = alive.iter().copied().filter(|&i| i != 0).collect();
        ranked.sort_by(|&a, &b| score(&candidates[a]).total_cmp(&score(&candidates[b])));
        ranked.truncate(ranked.len().div_ceil(2));
        alive = std::iter::once(0).chain(ranked).collect();
        rung += 1;
    }
    let contender = alive
        .iter()
        .copied()
        .filter(|&i| i != 0)
        .min_by(|&a, &b| score(&candidates[a]).total_cmp(&score(&candidates[b])))
        .unwrap_or(0);

    // Final comparison: alternate baseline and contender, one median per round each.
    let mut noise = 0.0;
    let mut speedup = 1.0;
    let mut beats = false;
    if contender != 0 {
        let rounds = options.confirm_rounds.max(3);
        let left = (budget - start.elapsed().as_secs_f64()).max(0.0);
        let per = left / (2 * rounds) as f64;
        let mut medians: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
        for _ in 0..rounds {
            for (slot, &i) in [0, contender].iter().enumerate() {
                let before = candidates[i].samples.len();
                measure(&mut candidates[i], per, options.min_runs, f64::INFINITY);
                let fresh = &candidates[i].samples[before.min(candidates[i].samples.len())..];
                if !fresh.is_empty() {
                    medians[slot].push(score_of(fresh, &batches, &candidates[i], options));
                }
            }
        }
        if candidates[contender].error.is_none() && !medians[0].is_empty() {
            let (b, c) = (median(&medians[0]), median(&medians[1]));
            noise = spread(&medians[0]).max(spread(&medians[1]));
            speedup = b / c;
            beats = speedup > 1.0 + noise;
        }
    }

    let trials: Vec<Trial> = candidates
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let rows = batches[&c.settings.batch_size].rows;
            let p50 = median(&c.samples);
            let verdict = if c.error.is_some() {
                Verdict::Failed
            } else if i == 0 {
                Verdict::Baseline
            } else if i == contender {
                if beats {
                    Verdict::Winner
                } else {
                    Verdict::WithinNoise
                }
            } else {
                Verdict::Eliminated
            };
            Trial {
                variant: variants[c.variant].label.clone(),
                settings: c.settings.clone(),
                rung: c.rung,
                runs: c.samples.len(),
                batch_rows: rows,
                p50_ms: p50 * 1e3,
                p99_ms: percentile(&c.samples, 0.99) * 1e3,
                rows_per_s: if p50 > 0.0 { rows as f64 / p50 } else { 0.0 },
                verdict,
                error: c.error.clone(),
            }
        })
        .collect();
    Ok(TuneResult {
        objective: options.objective,
        trials,
        best: if beats { contender } else { 0 },
        contender,
        noise,
        speedup,
        beats_baseline: beats,
        elapsed_s: start.elapsed().as_secs_f64(),
    })
}

fn score_of(
    samples: &[f64],
    batches: &HashMap<Option<usize>, Batch>,
    c: &Candidate,
    options: &TuneOptions,
) -> f64 {
    let m = median(samples);
    match options.objective {
        Objective::Latency => m,
        Objective::Throughput => m / batches[&c.settings.batch_size].rows as f64,
    }
}

fn median(v: &[f64]) -> f64 {
    percentile(v, 0.5)
}

/// The `q` quantile (nearest rank on the sorted samples); 0 when empty.
fn percentile(v: &[f64], q: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    if q == 0.5 && s.len().is_multiple_of(2) {
        let k = s.len() / 2;
        return (s[k - 1] + s[k]) / 2.0;
    }
    let rank = ((q * s.len() as f64).ceil() as usize).clamp(1, s.len());
    s[rank - 1]
}

/// `(max - min) / median`.
fn spread(v: &[f64]) -> f64 {
    let m = median(v);
    if v.is_empty() || m <= 0.0 {
        return 0.0;
    }
    let (lo, hi) = v
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), &x| (lo.min(x), hi.max(x)));
    (hi - lo) / m
}

/// An owned copy of `v`.
fn owned(v: &TensorView<'_>) -> Result<Tensor> {
    let bytes = match v.data {
        ViewData::Strings(s) => return Tensor::from_strings(v.shape.clone(), s.to_vec()),
        ViewData::Raw(b) => b,
    };
    macro_rules! decode {
        ($t:ty, $n:literal) => {
            decode!($t, $n, std::convert::identity)
        };
        ($t:ty, $n:literal, $wrap:expr) => {
            bytes
                .chunks_exact($n)
                .map(|c| $wrap(<$t>::from_ne_bytes(c.try_into().expect("chunk size"))))
                .collect()
        };
    }
    let data = match v.dtype {
        DType::F32 => TensorData::F32(decode!(f32, 4)),
        DType::F16 => TensorData::F16(decode!(u16, 2, F16)),
        DType::F64 => TensorData::F64(decode!(f64, 8)),
        DType::I8 => TensorData::I8(decode!(i8, 1)),
        DType::I16 => TensorData::I16(decode!(i16, 2)),
        DType::I32 => TensorData::I32(decode!(i32, 4)),
        DType::I64 => TensorData::I64(decode!(i64, 8)),
        DType::U8 => TensorData::U8(bytes.to_vec()),
        DType::U16 => TensorData::U16(decode!(u16, 2)),
        DType::U32 => TensorData::U32(decode!(u32, 4)),
        DType::U64 => TensorData::U64(decode!(u64, 8)),
        DType::Bool => TensorData::Bool(bytes.iter().map(|&b| b != 0).collect()),
        other => {
            return Err(Error::InvalidInput(format!(
                "tuning inputs of dtype {other} are not supported"
            )))
        }
    };
    Tensor::new(v.shape.clone(), data)
}

/// `t`'s rows (its first dimension) repeated or cut to `rows`.
fn repeat_rows(t: &Tensor, rows: usize) -> Result<Tensor> {
    let shape = t.shape();
    let have = shape.first().copied().unwrap_or(0).max(0) as usize;
    if shape.is_empty() || have == 0 {
        return Err(Error::InvalidArgument(format!(
            "batch sizes need inputs with rows along the first dimension, got shape {shape:?}"
        )));
    }
    let per = t.data().len() / have;
    fn cycle<T: Clone>(v: &[T], per: usize, have: usize, rows: usize) -> Vec<T> {
        (0..rows)
            .flat_map(|r| v[(r % have) * per..(r % have + 1) * per].iter().cloned())
            .collect()
    }
    macro_rules! each {
        ($($v:ident),*) => {
            match t.data() {
                $(TensorData::$v(v) => TensorData::$v(cycle(v, per, have, rows)),)*
            }
        };
    }
    let data = each!(F32, F16, F64, I8, I16, I32, I64, U8, U16, U32, U64, Bool, String);
    let mut new_shape = shape.to_vec();
    new_shape[0] = rows as i64;
    Tensor::new(new_shape, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_profile_sets_only_what_the_caller_left_unset() {
        let profile = Settings {
            providers: vec!["cuda".into(), "cpu".into()],
            intra_op_threads: Some(1),
            inter_op_threads: Some(2),
            optimization_level: "basic".into(),
            batch_size: None,
        };
        let base = ModelOptions {
            providers: vec![ExecutionProvider::Cpu],
            intra_op_threads: Some(3),
            strict: true,
            ..ModelOptions::default()
        };
        let all = profile
            .apply_unless_given(&base, GivenOptions::default())
            .unwrap();
        assert_eq!(
            all.providers,
            [ExecutionProvider::CUDA, ExecutionProvider::Cpu]
        );
        assert_eq!(
            (all.intra_op_threads, all.inter_op_threads),
            (Some(1), Some(2))
        );
        assert_eq!(all.optimization_level, OptimizationLevel::Basic);
        assert!(all.strict, "strictness is never the profile's");
        let given = GivenOptions {
            providers: true,
            intra_op_threads: true,
            ..GivenOptions::default()
        };
        let mixed = profile.apply_unless_given(&base, given).unwrap();
        assert_eq!(mixed.providers, [ExecutionProvider::Cpu]);
        assert_eq!(
            (mixed.intra_op_threads, mixed.inter_op_threads),
            (Some(3), Some(2))
        );
        assert_eq!(mixed.optimization_level, OptimizationLevel::Basic);
        // A provider this build does not know (a profile stored by a newer one) fails only a
        // load that would use it.
        let unknown = Settings {
            providers: vec!["nonesuch".into()],
            ..profile
        };
        assert!(unknown
            .apply_unless_given(&base, GivenOptions::default())
            .is_err());
        let mine = unknown.apply_unless_given(&base, given).unwrap();
        assert_eq!(mine.providers, [ExecutionProvider::Cpu]);
    }

    #[test]
    fn statistics() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(
            percentile(&(1..=100).map(f64::from).collect::<Vec<_>>(), 0.99),
            99.0
        );
        assert!((spread(&[9.0, 10.0, 11.0]) - 0.2).abs() < 1e-12);
    }

    #[test]
    fn rows_repeat_and_cut() {
        let t = Tensor::from_vec(vec![2, 2], vec![1.0f32, 2.0, 3.0, 4.0]).unwrap();
        let r = repeat_rows(&t, 3).unwrap();
        assert_eq!(r.shape(), &[3, 2]);
        assert_eq!(
            r.as_slice::<f32>().unwrap(),
            &[1.0, 2.0, 3.0, 4.0, 1.0, 2.0]
        );
        let r = repeat_rows(&t, 1).unwrap();
        assert_eq!(r.as_slice::<f32>().unwrap(), &[1.0, 2.0]);
    }

    #[test]
    fn settings_names() {
        let s = Settings {
            inter_op_threads: Some(2),
            batch_size: Some(64),
            ..Settings::default()
        };
        assert_eq!(s.execution_mode(), "parallel");
        assert_eq!(
            s.to_string(),
            "cpu intra=- inter=2 parallel opt=all batch=64"
        );
        let o = s.apply(&ModelOptions::default()).unwrap();
        assert_eq!(o.inter_op_threads, Some(2));
        assert!("fast".parse::<Objective>().is_err());
    }
}
