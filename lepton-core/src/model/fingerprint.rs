//! [`Fingerprint`]: what a tuning result depends on (CPU model and cores, GPU model, ONNX Runtime
//! version and providers), so that a profile measured on one machine is applied only there.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::runtime;
use crate::Result;

/// The hardware and runtime a tuning profile was measured on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// The CPU model (`/proc/cpuinfo`'s `model name`, or the architecture when unknown).
    pub cpu: String,
    /// Logical cores this process may use.
    pub cores: usize,
    /// The GPU models (NVIDIA driver's `/proc/driver/nvidia/gpus/*/information`), sorted; empty
    /// without one.
    pub gpus: Vec<String>,
    /// ONNX Runtime's version.
    pub runtime: String,
    /// The execution providers this runtime can register (`cpu`, plus `cuda` with
    /// onnxruntime-gpu and a `cuda`-enabled build).
    pub providers: Vec<String>,
}

impl Fingerprint {
    /// This machine's fingerprint. Loads ONNX Runtime first if needed (with `runtime_path`, else
    /// the default search), because its version is part of it.
    pub fn current(runtime_path: Option<&std::path::Path>) -> Result<Fingerprint> {
        let info = runtime::init(runtime_path)?;
        let mut providers = Vec::new();
        if cuda_available() {
            providers.push("cuda".to_string());
        }
        providers.push("cpu".to_string());
        Ok(Fingerprint {
            cpu: cpu_model(),
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            gpus: gpu_models(),
            runtime: info.version().to_string(),
            providers,
        })
    }

    /// A short stable id (16 hex digits of SHA-256 over every field): the key profiles are
    /// stored under.
    pub fn id(&self) -> String {
        let text = format!(
            "cpu={}\ncores={}\ngpus={}\nruntime={}\nproviders={}",
            self.cpu,
            self.cores,
            self.gpus.join(";"),
            self.runtime,
            self.providers.join(";")
        );
        hex::encode(&Sha256::digest(text.as_bytes())[..8])
    }
}

/// Whether the loaded ONNX Runtime has the CUDA provider (false before it is loaded: asking `ort`
/// then would panic).
pub(crate) fn cuda_available() -> bool {
    if runtime::info().is_none() {
        return false;
    }
    #[cfg(feature = "cuda")]
    {
        use ort::ep::ExecutionProvider as _;
        ort::ep::CUDA::is_available().unwrap_or(false)
    }
    #[cfg(not(feature = "cuda"))]
    {
        false
    }
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

fn gpu_models() -> Vec<String> {
    let Ok(dirs) = std::fs::read_dir("/proc/driver/nvidia/gpus") else {
        return Vec::new();
    };
    let mut out: Vec<String> = dirs
        .flatten()
        .filter_map(|d| std::fs::read_to_string(d.path().join("information")).ok())
        .filter_map(|text| {
            text.lines()
                .find(|l| l.starts_with("Model:"))
                .map(|l| l["Model:".len()..].trim().to_string())
        })
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_depends_on_every_field() {
        let a = Fingerprint {
            cpu: "x".into(),
            cores: 2,
            gpus: vec![],
            runtime: "1.31.1".into(),
            providers: vec!["cpu".into()],
        };
        let mut b = a.clone();
        assert_eq!(a.id(), b.id());
        assert_eq!(a.id().len(), 16);
        b.cores = 4;
        assert_ne!(a.id(), b.id());
        let mut c = a.clone();
        c.gpus = vec!["NVIDIA H200".into()];
        assert_ne!(a.id(), c.id());
        let mut d = a.clone();
        d.runtime = "1.22.0".into();
        assert_ne!(a.id(), d.id());
    }
}
