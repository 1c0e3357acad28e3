//! Opening an ONNX Runtime session for a [`super::Model`]: session options (optimization
//! level, threads), the execution providers in the order asked (CUDA, or any other by name via
//! [`providers`]), strict or falling back to CPU with the reason, and the initializers kept
//! outside the graph.

use ort::session::builder::{GraphOptimizationLevel, SessionBuilder};
use ort::session::Session;

use super::initializers::Initializers;
use super::options::{ExecutionProvider, ModelOptions, OptimizationLevel};
use super::providers;
#[cfg(feature = "cuda")]
use super::runtime;
use crate::{Error, Result};

pub(super) enum OpenError {
    /// Not the model's fault (strict provider failure, runtime error): passed through.
    Lepton(Error),
    /// ONNX Runtime rejected the model.
    Model(String),
}

/// Builds the session with the requested providers; without `strict`, a provider that fails to
/// register (or to create the session) is dropped and the reason returned.
pub(super) fn open_session(
    env: &ort::environment::Environment,
    bytes: &[u8],
    initializers: &Initializers,
    options: &ModelOptions,
) -> std::result::Result<(Session, Vec<ExecutionProvider>, Option<String>), OpenError> {
    let wants_gpu = options
        .providers
        .iter()
        .any(|p| !matches!(p, ExecutionProvider::Cpu));
    let mut builder = base_builder(env, options).map_err(OpenError::Lepton)?;
    let mut active = Vec::new();
    let mut fallback = Vec::new();
    for &p in &options.providers {
        if active.contains(&p) {
            continue;
        }
        match p {
            ExecutionProvider::Cpu => {}
            _ => {
                let extra = options.options_of(p);
                let registered = match p {
                    ExecutionProvider::Cuda { device_id } if extra.is_empty() => {
                        register_cuda(&mut builder, device_id)
                    }
                    ExecutionProvider::Cuda { device_id } => register_cuda_with(
                        &mut builder,
                        // Given options come after, so a `device_id` among them wins.
                        std::iter::once(("device_id".to_string(), device_id.to_string()))
                            .chain(extra.iter().cloned())
                            .collect(),
                    ),
                    ExecutionProvider::Other { name } => {
                        providers::register(&mut builder, name, extra)
                    }
                    _ => Ok(()),
                };
                match registered {
                    Ok(()) => active.push(p),
                    Err(reason) => {
                        if options.strict {
                            return Err(OpenError::Lepton(Error::ProviderUnavailable {
                                provider: p.to_string(),
                                reason,
                            }));
                        }
                        fallback.push(format!("{p}: {reason}"));
                    }
                }
            }
        }
    }
    active.push(ExecutionProvider::Cpu);
    let mut builder = with_initializers(builder, initializers).map_err(OpenError::Lepton)?;
    match builder.commit_from_memory(bytes) {
        Ok(session) => Ok((session, active, join_fallback(fallback))),
        Err(e) if wants_gpu && active.len() > 1 => {
            let reason = e.message().to_string();
            if options.strict {
                return Err(OpenError::Lepton(Error::ProviderUnavailable {
                    provider: active[0].to_string(),
                    reason,
                }));
            }
            // The GPU session failed (e.g. no device); the CPU session tells whether the model
            // itself is at fault.
            let cpu = base_builder(env, options).map_err(OpenError::Lepton)?;
            let mut cpu = with_initializers(cpu, initializers).map_err(OpenError::Lepton)?;
            let session = cpu
                .commit_from_memory(bytes)
                .map_err(|e| OpenError::Model(e.message().to_string()))?;
            for p in &active[..active.len() - 1] {
                fallback.push(format!("{p}: creating the session failed: {reason}"));
            }
            Ok((
                session,
                vec![ExecutionProvider::Cpu],
                join_fallback(fallback),
            ))
        }
        Err(e) => Err(OpenError::Model(e.message().to_string())),
    }
}

/// Hands ONNX Runtime the initializers kept outside the graph; the session keeps them alive.
fn with_initializers(
    mut builder: SessionBuilder,
    initializers: &Initializers,
) -> Result<SessionBuilder> {
    initializers.add_to(&mut builder)?;
    Ok(builder)
}

fn join_fallback(reasons: Vec<String>) -> Option<String> {
    (!reasons.is_empty()).then(|| {
        format!(
            "requested execution providers unavailable, running on CPU: {}",
            reasons.join("; ")
        )
    })
}

fn base_builder(
    env: &ort::environment::Environment,
    options: &ModelOptions,
) -> Result<SessionBuilder> {
    let rt = |e: ort::Error<SessionBuilder>| Error::Runtime(e.to_string());
    let mut b = Session::builder(env).map_err(|e| Error::Runtime(e.to_string()))?;
    b = b
        .with_optimization_level(match options.optimization_level {
            OptimizationLevel::Disable => GraphOptimizationLevel::Disable,
            OptimizationLevel::Basic => GraphOptimizationLevel::Level1,
            OptimizationLevel::Extended => GraphOptimizationLevel::Level2,
            OptimizationLevel::All => GraphOptimizationLevel::All,
        })
        .map_err(rt)?;
    // Sessions share the environment's intra-op thread pool (one per process) unless they ask
    // for a thread count of their own or for parallel execution, or this is a forked child.
    let shared = options.intra_op_threads.is_none()
        && options.inter_op_threads.unwrap_or(1) <= 1
        && super::runtime::shared_pool_usable();
    if !shared {
        b = b.with_independent_thread_pool().map_err(rt)?;
    }
    if let Some(n) = options.intra_op_threads {
        b = b.with_intra_threads(n).map_err(rt)?;
    }
    if let Some(n) = options.inter_op_threads {
        b = b.with_inter_threads(n).map_err(rt)?;
        if n > 1 {
            b = b.with_parallel_execution(true).map_err(rt)?;
        }
    }
    Ok(b)
}

/// Registers CUDA on `builder`, which is left as it was if that fails.
#[cfg(feature = "cuda")]
fn register_cuda(builder: &mut SessionBuilder, device_id: i32) -> std::result::Result<(), String> {
    use ort::ep::{ExecutionProvider as _, CUDA};
    if !CUDA::is_available().unwrap_or(false) {
        let lib = runtime::info()
            .map(|i| i.path().display().to_string())
            .unwrap_or_default();
        return Err(format!(
            "the ONNX Runtime loaded (`{lib}`) has no CUDA provider; install onnxruntime-gpu \
             instead of onnxruntime"
        ));
    }
    let ep = CUDA::default()
        .with_device_id(device_id)
        .build()
        .error_on_failure();
    let current = builder.clone();
    match current.with_execution_providers([ep]) {
        Ok(b) => {
            *builder = b;
            Ok(())
        }
        Err(e) => Err(e.message().to_string()),
    }
}

/// Registers CUDA with onnxruntime's provider options (keys and values as its Python API takes).
#[cfg(feature = "cuda")]
fn register_cuda_with(
    builder: &mut SessionBuilder,
    options: Vec<(String, String)>,
) -> std::result::Result<(), String> {
    providers::register(builder, "CUDAExecutionProvider", &options)
}

/// Without the `cuda` feature CUDA is never available.
#[cfg(not(feature = "cuda"))]
fn register_cuda_with(
    _builder: &mut SessionBuilder,
    _options: Vec<(String, String)>,
) -> std::result::Result<(), String> {
    Err("lepton-core was built without its `cuda` feature".to_string())
}

/// Without the `cuda` feature CUDA is never available.
#[cfg(not(feature = "cuda"))]
fn register_cuda(
    _builder: &mut SessionBuilder,
    _device_id: i32,
) -> std::result::Result<(), String> {
    Err("lepton-core was built without its `cuda` feature".to_string())
}
