//! The runtime-settings search and tuning profiles in the registry, on `tests/fixtures/logreg.onnx`
//! (written by `python tests/model_fixtures.py lepton-core/tests/fixtures`: softmax(x @ W + b),
//! x float32 [batch, 30]). Budgets are tiny: these check structure and behaviour, never speed.

use std::path::PathBuf;
use std::time::Duration;

use lepton_core::model::tune::{
    tune, Objective, Profile, TuneOptions, TuneResult, Variant, Verdict,
};
use lepton_core::model::{Fingerprint, ModelOptions, OptimizationLevel, Tensor};
use lepton_core::platform::{Platform, PlatformOptions, PushOptions};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn logreg() -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/logreg.onnx");
    std::fs::read(path).expect("fixture")
}

fn rows(n: usize) -> Tensor {
    let data: Vec<f32> = (0..n * 30).map(|i| (i % 7) as f32 * 0.1).collect();
    Tensor::from_vec(vec![n as i64, 30], data).expect("tensor")
}

fn small(objective: Objective) -> TuneOptions {
    let mut o = TuneOptions::new(objective, Duration::from_millis(600));
    o.intra_op_threads = Some(vec![None, Some(1)]);
    o.optimization_levels = Some(vec![OptimizationLevel::All, OptimizationLevel::Basic]);
    o
}

/// The small latency search over the fixture, on one row.
fn tune_logreg_for_latency() -> lepton_core::Result<TuneResult> {
    let x = rows(1);
    tune(
        &[Variant::new("original", logreg())],
        &[x.view()],
        &small(Objective::Latency),
    )
}

#[test]
fn latency_search_reports_every_candidate_baseline_first() -> TestResult {
    let result = tune_logreg_for_latency()?;
    let base = result.baseline();
    assert_eq!(base.verdict, Verdict::Baseline);
    assert_eq!(base.settings.providers, vec!["cpu".to_string()]);
    assert!(base.runs >= 3 && base.p50_ms > 0.0 && base.p99_ms >= base.p50_ms);
    // 2 thread settings x (1 or 2 execution modes) x 2 levels, every one measured or failed.
    assert!(result.trials.len() >= 4, "{}", result.trials.len());
    // Every candidate has a number (a hopeless one may stop after one run).
    assert!(result
        .trials
        .iter()
        .all(|t| t.runs >= 1 || t.error.is_some()));
    // Exactly one pick: the winner, or the baseline with the contender within the noise.
    let winners = result
        .trials
        .iter()
        .filter(|t| t.verdict == Verdict::Winner)
        .count();
    assert_eq!(winners, usize::from(result.beats_baseline));
    if result.beats_baseline {
        assert!(result.speedup > 1.0 + result.noise);
        assert_eq!(result.best, result.contender);
    } else {
        assert_eq!(result.best, 0);
    }
    Ok(())
}

#[test]
fn throughput_search_tries_batch_sizes() -> TestResult {
    let x = rows(3);
    let mut options = small(Objective::Throughput);
    options.batch_sizes = vec![2, 8];
    options.intra_op_threads = Some(vec![None]);
    options.optimization_levels = Some(vec![OptimizationLevel::All]);
    let result = tune(&[Variant::new("original", logreg())], &[x.view()], &options)?;
    assert_eq!(result.baseline().batch_rows, 3);
    let sizes: Vec<_> = result
        .trials
        .iter()
        .map(|t| (t.settings.batch_size, t.batch_rows))
        .collect();
    assert!(sizes.contains(&(Some(2), 2)) && sizes.contains(&(Some(8), 8)));
    for t in &result.trials {
        let expected = t.batch_rows as f64 / (t.p50_ms / 1e3);
        assert!((t.rows_per_s - expected).abs() <= 1e-6 * expected);
    }
    Ok(())
}

#[test]
fn a_variant_that_does_not_load_fails_alone() -> TestResult {
    let x = rows(1);
    let result = tune(
        &[
            Variant::new("original", logreg()),
            Variant::new("broken", b"not onnx".to_vec()),
        ],
        &[x.view()],
        &small(Objective::Latency),
    )?;
    let broken: Vec<_> = result
        .trials
        .iter()
        .filter(|t| t.variant == "broken")
        .collect();
    assert!(!broken.is_empty());
    assert!(broken
        .iter()
        .all(|t| t.verdict == Verdict::Failed && t.error.is_some()));
    assert_eq!(result.best().variant, "original");
    Ok(())
}

#[test]
fn profiles_are_kept_per_machine() -> TestResult {
    let platform = Platform::open(
        Some("memory://"),
        PlatformOptions {
            encrypt: Some(false),
            ..Default::default()
        },
    )?;
    platform.push_model("logreg", &logreg(), &PushOptions::default())?;
    let result = tune_logreg_for_latency()?;
    let here = Fingerprint::current(None)?;
    let profile = Profile::from_result(&result, here.clone());
    assert_eq!(platform.put_profile("logreg", None, &profile)?, 1);
    assert_eq!(
        platform.profile("logreg", None, &here.id())?.as_ref(),
        Some(&profile)
    );
    let (_, applied) = platform.load_tuned_model("logreg", None, &ModelOptions::default())?;
    assert_eq!(applied, Some(profile.clone()));

    // Another machine's profile is stored under its own id and never read here.
    let mut other = here.clone();
    other.cores += 1;
    let mut foreign = Profile::from_result(&result, other.clone());
    foreign.settings.intra_op_threads = Some(7);
    platform.put_profile("logreg", None, &foreign)?;
    assert_eq!(platform.profile("logreg", None, &here.id())?, Some(profile));
    // A foreign profile copied under this machine's id is ignored too.
    foreign.fingerprint_id = here.id();
    platform.put_profile("logreg", None, &foreign)?;
    assert_eq!(platform.profile("logreg", None, &here.id())?, None);
    Ok(())
}
