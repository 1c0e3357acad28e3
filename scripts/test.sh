#!/usr/bin/env bash
# The test command (README): on a fresh machine it installs everything, then runs the lints, the
# Rust tests and the Python tests against memory, local-folder and S3 (moto_server) stores.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
source "$ROOT/scripts/moto.sh"
# A throwaway lepton home: the Rust tests' registries record the versions they see there.
LEPTON_HOME="$(mktemp -d)" cargo test --workspace
maturin develop --quiet
python -m pytest -q "$@"
# The release artifacts as users get them: the sdist and manylinux2014 abi3 wheels built with
# maturin + zig, checked by auditwheel, and the x86_64 wheel installed into a fresh venv per
# CPython 3.9-3.13 on the machine (no Rust on PATH) running examples/smoke_test.py.
"$ROOT/scripts/build-wheels.sh"
