#!/usr/bin/env bash
# Builds what PyPI takes and checks it as a user would meet it:
#   - an sdist, and abi3 (cp39+) manylinux2014 wheels for x86_64 and, when the aarch64 Rust std
#     is installed (`rustup target add aarch64-unknown-linux-gnu`), aarch64: maturin with zig
#     (PyPI's `ziglang`) as the linker, so the wheels need glibc 2.17, not the build machine's;
#   - `auditwheel show` on each wheel (the platform tag it really satisfies);
#   - scripts/smoke-wheel.sh: the x86_64 wheel installed into a fresh venv per CPython 3.9-3.13
#     found on the machine, with no Rust toolchain on PATH, and examples/smoke_test.py run there.
# Usage: scripts/build-wheels.sh [OUT_DIR]   (default target/dist; LEPTON_SMOKE=0 skips the smoke)
# Tools (maturin, ziglang, auditwheel) come from the active virtualenv; without one, from the
# project's (scripts/env.sh, which scripts/test.sh has sourced already).
set -euo pipefail
if [ -z "${VIRTUAL_ENV:-}" ]; then
  source "$(dirname "$0")/env.sh"
fi
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
out="${1:-$ROOT/target/dist}"
rm -rf "$out"
mkdir -p "$out"
compat=manylinux2014

echo "== sdist"
maturin sdist --out "$out"

installed="$(rustup target list --installed 2>/dev/null || rustc -vV | sed -n 's/^host: //p')"
for target in x86_64-unknown-linux-gnu aarch64-unknown-linux-gnu; do
  if ! grep -qx "$target" <<<"$installed"; then
    echo "== $target: SKIPPED, the Rust standard library for $target is not installed"
    echo "   (rustup target add $target needs static.rust-lang.org; the release workflow builds it)"
    continue
  fi
  echo "== wheel $target ($compat, abi3 cp39+)"
  maturin build --release --zig --compatibility "$compat" --target "$target" --out "$out"
done

echo "== auditwheel show"
for whl in "$out"/*.whl; do
  echo "-- $(basename "$whl")"
  auditwheel show "$whl"
done

echo "== artifacts"
ls -l "$out"

if [ "${LEPTON_SMOKE:-1}" != "0" ]; then
  "$ROOT/scripts/smoke-wheel.sh" "$out"/*manylinux*x86_64*.whl
fi
