#!/usr/bin/env bash
# Fast inner loop without installing anything: builds the extension and drops it into
# python/lepton_ai/, so `PYTHONPATH=python python -m pytest` tests this checkout.
# Usage: scripts/dev-build.sh [--release]
set -euo pipefail
cd "$(dirname "$0")/.."
profile=debug
args=()
if [ "${1:-}" = "--release" ]; then profile=release; args=(--release); fi
cargo build -p lepton-py "${args[@]}"
cp "${CARGO_TARGET_DIR:-target}/$profile/lib_lepton.so" python/lepton_ai/_lepton.abi3.so
