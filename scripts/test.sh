#!/usr/bin/env bash
# The test command (README): on a fresh machine it installs everything, then runs the lints, the
# Rust tests and the Python tests against memory, local-folder and S3 (moto_server) stores.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
source "$ROOT/scripts/moto.sh"
cargo test --workspace
maturin develop --quiet
python -m pytest -q "$@"
