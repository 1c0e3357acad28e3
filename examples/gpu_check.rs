//! Does `ExecutionProvider::CUDA` really run on the GPU? (issue 6; the Rust half of
//! `benches/gpu/run.sh`).
//!
//! `gpu_check MODEL.onnx [--require-cuda] [--repeats N] [--batches 1,32,256]` loads a model with
//! one float32 input `[N, features]` twice (providers CUDA then CPU, and CPU only), prints the
//! providers in use, the fallback reason, the largest difference between the two outputs, and the
//! median throughput per batch size. Exits 1 when the outputs differ beyond 1e-2 relative, or
//! with `--require-cuda` when CUDA is not active.

use std::time::Instant;

use lepton_core::model::{Dim, ExecutionProvider, Model, ModelOptions, TensorView};

fn median_secs(
    model: &Model,
    x: &[f32],
    shape: [i64; 2],
    repeats: usize,
) -> Result<f64, Box<dyn std::error::Error>> {
    let run = || model.run([TensorView::from_slice(shape, x)?]);
    run()?;
    run()?;
    let mut times = Vec::with_capacity(repeats);
    for _ in 0..repeats {
        let t0 = Instant::now();
        run()?;
        times.push(t0.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: gpu_check MODEL.onnx [--require-cuda] [--repeats N] [--batches 1,32,256]";
    let path = args.first().filter(|a| !a.starts_with("--")).ok_or(usage)?;
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
    };
    let require_cuda = args.iter().any(|a| a == "--require-cuda");
    let repeats: usize = flag("--repeats").map_or(Ok(20), |r| r.parse())?.max(1);
    let batches = flag("--batches")
        .map_or("1,32,256", String::as_str)
        .split(',')
        .map(str::parse::<i64>)
        .collect::<Result<Vec<_>, _>>()?;

    let cuda = Model::from_file(
        path,
        &ModelOptions::default().with_providers([ExecutionProvider::CUDA, ExecutionProvider::Cpu]),
    )?;
    let cpu = Model::from_file(path, &ModelOptions::default())?;
    let active = matches!(
        cuda.providers().first(),
        Some(ExecutionProvider::Cuda { .. })
    );
    let names = |m: &Model| {
        m.providers()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
    };
    println!(
        "[rust] providers [cuda, cpu] -> {:?}  fallback_reason: {:?}",
        names(&cuda),
        cuda.fallback_reason()
    );
    println!("[rust] providers [cpu]       -> {:?}", names(&cpu));

    let features = match cpu.inputs().first().and_then(|i| i.shape().last()) {
        Some(Dim::Fixed(n)) => i64::try_from(*n)?,
        other => {
            return Err(format!("the model's input must be [N, features], got {other:?}").into())
        }
    };
    let max_batch = batches.iter().copied().max().unwrap_or(1).max(1);
    // A fixed pseudo-random input in [-1, 1) (no rand dependency).
    let x: Vec<f32> = (0..max_batch * features)
        .map(|i| ((i as u64).wrapping_mul(2_654_435_761) % 2000) as f32 / 1000.0 - 1.0)
        .collect();
    let shape = [max_batch, features];
    let ref_out = cpu
        .run([TensorView::from_slice(shape, &x)?])?
        .into_tensors()
        .remove(0)
        .into_vec::<f32>()?;
    let got = cuda
        .run([TensorView::from_slice(shape, &x)?])?
        .into_tensors()
        .remove(0)
        .into_vec::<f32>()?;
    let max_abs = ref_out
        .iter()
        .zip(&got)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    let scale = ref_out
        .iter()
        .map(|a| a.abs())
        .fold(0.0f32, f32::max)
        .max(1e-30);
    // The CUDA provider may use TF32 matmuls: 1e-2 relative, as in gpu_check.py.
    let close = max_abs / scale <= 1e-2;
    let verdict = if close { "OK" } else { "MISMATCH" };
    println!(
        "[rust] max |cuda - cpu| = {max_abs:.3e} (relative {:.3e}, tolerance 0.01): {verdict}",
        max_abs / scale
    );

    println!(
        "[rust] {:>6} {:>14} {:>14} {:>9}   (median of {repeats})",
        "batch", "cuda rows/s", "cpu rows/s", "cuda/cpu"
    );
    for &b in &batches {
        let n = (b * features) as usize;
        let t_cuda = median_secs(&cuda, &x[..n], [b, features], repeats)?;
        let t_cpu = median_secs(&cpu, &x[..n], [b, features], repeats)?;
        println!(
            "[rust] {b:>6} {:>14.0} {:>14.0} {:>8.2}x",
            b as f64 / t_cuda,
            b as f64 / t_cpu,
            t_cpu / t_cuda
        );
    }
    if !active {
        println!("[rust] CUDA NOT ACTIVE: the 'cuda' column ran on the CPU (fallback)");
    }
    if !close || (require_cuda && !active) {
        std::process::exit(1);
    }
    Ok(())
}
