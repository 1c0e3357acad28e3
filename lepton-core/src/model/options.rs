//! How a model is loaded: execution providers, strictness, threads, graph optimization, and where
//! ONNX Runtime's library is.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::Error;

/// An ONNX Runtime execution provider lepton can register.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ExecutionProvider {
    /// NVIDIA CUDA on the given device (needs the `cuda` feature and `onnxruntime-gpu`).
    Cuda {
        /// The CUDA device index.
        device_id: i32,
    },
    /// The CPU (always available; ONNX Runtime also uses it for nodes other providers skip).
    Cpu,
    /// Another of ONNX Runtime's providers, by the name onnxruntime gives it
    /// (`TensorrtExecutionProvider`, `OpenVINOExecutionProvider`, `ROCMExecutionProvider`,
    /// `CoreMLExecutionProvider`, `DmlExecutionProvider`...): registered when the loaded
    /// runtime has it, else unavailable (fallback to CPU, or an error when strict). Its
    /// options go in [`ModelOptions::provider_options`].
    Other {
        /// onnxruntime's name for it.
        name: &'static str,
    },
}

impl ExecutionProvider {
    /// CUDA on device 0.
    pub const CUDA: ExecutionProvider = ExecutionProvider::Cuda { device_id: 0 };
}

impl fmt::Display for ExecutionProvider {
    /// `cuda`, `cuda:1`, `cpu`: the names [`FromStr`] reads back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExecutionProvider::Cuda { device_id: 0 } => f.write_str("cuda"),
            ExecutionProvider::Cuda { device_id } => write!(f, "cuda:{device_id}"),
            ExecutionProvider::Cpu => f.write_str("cpu"),
            ExecutionProvider::Other { name } => {
                let alias = super::providers::KNOWN
                    .iter()
                    .find(|(n, _, _)| n == name)
                    .map_or(*name, |(_, _, a)| *a);
                f.write_str(alias)
            }
        }
    }
}

impl FromStr for ExecutionProvider {
    type Err = Error;

    /// Reads `cpu`, `cuda`, `cuda:N`, and onnxruntime's names `CPUExecutionProvider` and
    /// `CUDAExecutionProvider` (case-insensitive).
    fn from_str(s: &str) -> Result<Self, Error> {
        let lower = s.trim().to_ascii_lowercase();
        match lower.as_str() {
            "cpu" | "cpuexecutionprovider" => return Ok(ExecutionProvider::Cpu),
            "cuda" | "gpu" | "cudaexecutionprovider" => return Ok(ExecutionProvider::CUDA),
            _ => {}
        }
        if let Some((name, _, _)) = super::providers::KNOWN.iter().find(|(n, short, alias)| {
            lower == n.to_ascii_lowercase()
                || lower == *alias
                || lower == short.to_ascii_lowercase()
        }) {
            return Ok(ExecutionProvider::Other { name });
        }
        if let Some(id) = lower.strip_prefix("cuda:") {
            if let Ok(device_id) = id.parse::<i32>() {
                if device_id >= 0 {
                    return Ok(ExecutionProvider::Cuda { device_id });
                }
            }
        }
        Err(Error::InvalidArgument(format!(
            "unknown execution provider `{s}`; use `cpu`, `cuda` or `cuda:N`, onnxruntime's names \
             (`CPUExecutionProvider`, `CUDAExecutionProvider`, `TensorrtExecutionProvider`...) \
             or their short forms ({})",
            super::providers::KNOWN
                .iter()
                .map(|(_, _, a)| format!("`{a}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )))
    }
}

/// ONNX Runtime's graph optimization level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum OptimizationLevel {
    /// No graph optimization.
    Disable,
    /// Semantics-preserving rewrites (constant folding, redundant node removal).
    Basic,
    /// Basic plus complex node fusions.
    Extended,
    /// Everything, including layout optimizations (onnxruntime's default).
    #[default]
    All,
}

impl FromStr for OptimizationLevel {
    type Err = Error;

    /// Reads `disable`/`none`/`0`, `basic`/`1`, `extended`/`2`, `all`/`99`.
    fn from_str(s: &str) -> Result<Self, Error> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "disable" | "disabled" | "none" | "0" => OptimizationLevel::Disable,
            "basic" | "1" => OptimizationLevel::Basic,
            "extended" | "2" => OptimizationLevel::Extended,
            "all" | "99" => OptimizationLevel::All,
            _ => {
                return Err(Error::InvalidArgument(format!(
                    "unknown optimization level `{s}`; use `disable`, `basic`, `extended` or `all`"
                )))
            }
        })
    }
}

impl fmt::Display for OptimizationLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OptimizationLevel::Disable => "disable",
            OptimizationLevel::Basic => "basic",
            OptimizationLevel::Extended => "extended",
            OptimizationLevel::All => "all",
        })
    }
}

/// Options for [`Model::from_file`](super::Model::from_file) and
/// [`Model::from_bytes`](super::Model::from_bytes).
///
/// ```
/// use lepton_core::model::{ExecutionProvider, ModelOptions};
/// let opts = ModelOptions::default()
///     .with_providers([ExecutionProvider::CUDA, ExecutionProvider::Cpu])
///     .with_intra_op_threads(4);
/// assert!(!opts.strict);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ModelOptions {
    /// Execution providers in priority order. Empty means CPU only. CPU is always added last.
    pub providers: Vec<ExecutionProvider>,
    /// Fail with [`Error::ProviderUnavailable`] instead of falling back to CPU when a requested
    /// provider cannot be registered.
    pub strict: bool,
    /// Threads used inside one operator. `None`: the model runs on the thread pool every model of
    /// this process shares (`LEPTON_INTRA_OP_THREADS` threads when set before the first model
    /// loads, else ONNX Runtime's default: the machine's physical cores, not a container's CPU
    /// limit), which saves starting a pool per model; a number gives the model a pool of its own.
    pub intra_op_threads: Option<usize>,
    /// Threads running independent branches of the graph; a value above 1 turns on parallel
    /// execution and gives the model thread pools of its own (`None`: sequential execution).
    pub inter_op_threads: Option<usize>,
    /// Graph optimization level (default: all, as onnxruntime).
    pub optimization_level: OptimizationLevel,
    /// The ONNX Runtime library to load (`libonnxruntime.so.*`); see [`super::runtime`] for the
    /// search order when it is `None`.
    pub runtime_path: Option<PathBuf>,
    /// Options per provider, passed through to ONNX Runtime as onnxruntime's Python API passes
    /// `(name, {key: value})` (e.g. CUDA's `gpu_mem_limit`, TensorRT's `trt_fp16_enable`).
    pub provider_options: Vec<(ExecutionProvider, Vec<(String, String)>)>,
    /// A model file whose side files (ONNX external data) add up, with the model, to more than
    /// this many bytes has its large weights handed to ONNX Runtime as external initializers
    /// instead of put inline (then [`Model::bytes`](super::Model::bytes) lacks them). Default:
    /// protobuf's 2 GiB limit, past which inlining is impossible.
    pub inline_limit: u64,
}

impl Default for ModelOptions {
    fn default() -> Self {
        ModelOptions {
            providers: vec![ExecutionProvider::Cpu],
            strict: false,
            intra_op_threads: None,
            inter_op_threads: None,
            optimization_level: OptimizationLevel::All,
            runtime_path: None,
            provider_options: Vec::new(),
            inline_limit: super::external::PROTOBUF_LIMIT as u64,
        }
    }
}

impl ModelOptions {
    /// Sets the execution providers, in priority order.
    pub fn with_providers(
        mut self,
        providers: impl IntoIterator<Item = ExecutionProvider>,
    ) -> Self {
        self.providers = providers.into_iter().collect();
        self
    }

    /// Sets [`ModelOptions::inline_limit`]: side files past it go to ONNX Runtime as external
    /// initializers instead of inline.
    pub fn with_inline_limit(mut self, bytes: u64) -> Self {
        self.inline_limit = bytes;
        self
    }

    /// Sets strict mode (no silent fallback to CPU).
    pub fn with_strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }

    /// Sets the intra-op thread count.
    pub fn with_intra_op_threads(mut self, n: usize) -> Self {
        self.intra_op_threads = Some(n);
        self
    }

    /// Sets the inter-op thread count.
    pub fn with_inter_op_threads(mut self, n: usize) -> Self {
        self.inter_op_threads = Some(n);
        self
    }

    /// Sets the graph optimization level.
    pub fn with_optimization_level(mut self, level: OptimizationLevel) -> Self {
        self.optimization_level = level;
        self
    }

    /// Sets the options of one provider (replacing any given before for it).
    pub fn with_provider_options(
        mut self,
        provider: ExecutionProvider,
        options: impl IntoIterator<Item = (String, String)>,
    ) -> Self {
        self.provider_options.retain(|(p, _)| *p != provider);
        self.provider_options
            .push((provider, options.into_iter().collect()));
        self
    }

    /// The options given for `provider` (empty if none).
    pub fn options_of(&self, provider: ExecutionProvider) -> &[(String, String)] {
        self.provider_options
            .iter()
            .find(|(p, _)| *p == provider)
            .map_or(&[], |(_, o)| o.as_slice())
    }

    /// Sets the ONNX Runtime library to load.
    pub fn with_runtime_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.runtime_path = Some(path.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_names() {
        for (s, p) in [
            ("cpu", ExecutionProvider::Cpu),
            ("CPUExecutionProvider", ExecutionProvider::Cpu),
            ("cuda", ExecutionProvider::CUDA),
            ("CUDAExecutionProvider", ExecutionProvider::CUDA),
            ("cuda:2", ExecutionProvider::Cuda { device_id: 2 }),
        ] {
            assert_eq!(s.parse::<ExecutionProvider>().unwrap(), p);
        }
        assert_eq!(
            ExecutionProvider::Cuda { device_id: 2 }.to_string(),
            "cuda:2"
        );
        assert_eq!(
            "TensorrtExecutionProvider"
                .parse::<ExecutionProvider>()
                .unwrap(),
            ExecutionProvider::Other {
                name: "TensorrtExecutionProvider"
            }
        );
        assert_eq!(
            "openvino".parse::<ExecutionProvider>().unwrap().to_string(),
            "openvino"
        );
        let err = "tpu".parse::<ExecutionProvider>().unwrap_err();
        assert!(err
            .to_string()
            .starts_with("unknown execution provider `tpu`"));
    }

    #[test]
    fn optimization_levels() {
        assert_eq!(
            "basic".parse::<OptimizationLevel>().unwrap(),
            OptimizationLevel::Basic
        );
        assert_eq!(
            "0".parse::<OptimizationLevel>().unwrap(),
            OptimizationLevel::Disable
        );
        assert!("max".parse::<OptimizationLevel>().is_err());
    }
}
