#!/usr/bin/env bash
# The main job (README): on a fresh machine, installs everything, builds the package and runs the
# medical-diagnosis example against the local default platform ($LEPTON_HOME or ~/.lepton).
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"
maturin develop --release --quiet
python examples/medical_diagnosis.py
cargo run --release --quiet -p lepton-core --example medical_diagnosis
