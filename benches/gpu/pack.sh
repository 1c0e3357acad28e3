#!/usr/bin/env bash
# Packs the release builds into the bundle so one device call carries only benches/gpu/bundle:
# stripped + xz'd extension (~4 MiB) and gpu_check binary (~0.5 MiB); run.sh unpacks them.
# Fails when bundle + tracked tree would pass the 64 MiB a call carries (62 MiB kept as margin).
# Usage (project root, after make_bundle.sh, scripts/dev-build.sh --release and
#   cargo build --release -p lepton-core --example gpu_check):  benches/gpu/pack.sh [BUNDLE]
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${1:-benches/gpu/bundle}
[ -f "$B/env.sh" ] || { echo "pack.sh: no $B/env.sh; run /work/shared/gpu/make_bundle.sh $B first" >&2; exit 1; }
so=python/lepton_ai/_lepton.abi3.so; bin=${CARGO_TARGET_DIR:-target}/release/examples/gpu_check
for f in "$so" "$bin"; do [ -f "$f" ] || { echo "pack.sh: missing $f (see benches/gpu/README.md)" >&2; exit 1; }; done
w=$(mktemp -d)
strip -o "$w/_lepton.abi3.so" "$so"; strip -o "$w/gpu_check" "$bin"
xz -T2 -9e -c "$w/_lepton.abi3.so" > "$B/_lepton.abi3.so.xz.bin"
xz -T2 -9e -c "$w/gpu_check" > "$B/gpu_check.xz.bin"
rm -rf "$w"
tree=$(git ls-files -z | du -cb --files0-from=- | tail -1 | cut -f1)
total=$(( $(du -cb "$B"/* | tail -1 | cut -f1) + tree ))
ls -la "$B"; echo "carried: $((total / 1048576)) MiB (bundle + tracked tree)"
[ "$total" -le $((62 * 1048576)) ] || { echo "pack.sh: over 62 MiB; build with CARGO_PROFILE_RELEASE_LTO=fat CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1" >&2; exit 1; }
