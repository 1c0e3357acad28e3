#!/usr/bin/env bash
# Issue 6, device side: does providers=["cuda","cpu"] really run on the GPU, from Python and Rust?
# Run from the project root (see benches/gpu/README.md for the steps before the device call):
#   benches/gpu/run.sh [--require-cuda] [--quick] [--bundle DIR] [--rust BIN]
# --bundle DIR  (default benches/gpu/bundle): made by /work/shared/gpu/make_bundle.sh; when it
#               has env.sh, it is sourced (unpacks onnxruntime-gpu, sets LD_LIBRARY_PATH and
#               ORT_DYLIB_PATH). Without it (a CPU-only machine) ORT_DYLIB_PATH is kept as set or
#               found from the installed onnxruntime package, and the run shows the CPU fallback.
# --rust BIN    the gpu_check example binary (default target/release/examples/gpu_check, else
#               target/debug/examples/gpu_check); skipped with a note when missing.
# Exits non-zero only when a check fails: with --require-cuda, CUDA not active is a failure.
set -uo pipefail
cd "$(dirname "$0")/../.."
BUNDLE=benches/gpu/bundle RUST= REQUIRE= QUICK=
while [ $# -gt 0 ]; do
  case "$1" in
    --require-cuda) REQUIRE=--require-cuda ;;
    --quick) QUICK=--quick ;;
    --bundle) BUNDLE=$2; shift ;;
    --rust) RUST=$2; shift ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
PY=${PYTHON:-python3}

if [ -f "$BUNDLE/env.sh" ]; then
  # shellcheck disable=SC1091
  source "$BUNDLE/env.sh"
  echo "== bundle: $BUNDLE sourced; ORT_DYLIB_PATH=$ORT_DYLIB_PATH"
  # Binaries packed by pack.sh (named .xz.bin so env.sh's *.xz loop leaves them alone).
  unxz() { "$PY" -c "import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2],'wb'))" "$1" "$2"; }
  if [ -f "$BUNDLE/_lepton.abi3.so.xz.bin" ]; then unxz "$BUNDLE/_lepton.abi3.so.xz.bin" python/lepton_ai/_lepton.abi3.so; fi
  if [ -f "$BUNDLE/gpu_check.xz.bin" ] && [ -z "$RUST" ]; then
    unxz "$BUNDLE/gpu_check.xz.bin" /tmp/ortgpu/gpu_check && chmod +x /tmp/ortgpu/gpu_check && RUST=/tmp/ortgpu/gpu_check
  fi
else
  if [ -z "${ORT_DYLIB_PATH:-}" ]; then
    ORT_DYLIB_PATH=$("$PY" -c 'import glob, onnxruntime, os; print(sorted(glob.glob(os.path.join(os.path.dirname(onnxruntime.__file__), "capi", "libonnxruntime.so*")))[-1])' 2>/dev/null)
    export ORT_DYLIB_PATH
  fi
  echo "== no bundle at $BUNDLE (CPU-only run); ORT_DYLIB_PATH=${ORT_DYLIB_PATH:-unset}"
fi
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
echo "== python: $("$PY" -c 'import sys; print(sys.version.split()[0])')"

MODEL=$(mktemp -d)/mlp.onnx
PYTHONPATH=python "$PY" benches/gpu/gpu_check.py $QUICK --write-model "$MODEL" || exit 1
echo "== Python check (lepton_ai.load_model)"
PYTHONPATH=python "$PY" benches/gpu/gpu_check.py $QUICK $REQUIRE --model "$MODEL" | tee /tmp/gpu_check_py.txt
py_rc=${PIPESTATUS[0]}

echo "== Rust check (lepton_core::model::Model)"
if [ -z "$RUST" ]; then
  for b in target/release/examples/gpu_check target/debug/examples/gpu_check; do
    [ -x "$b" ] && RUST=$b && break
  done
fi
rs_rc=0
rm -f /tmp/gpu_check_rs.txt
if [ -n "$RUST" ] && [ -x "$RUST" ]; then
  echo "   ($RUST)"
  if [ -n "$QUICK" ]; then reps=(--repeats 3); else reps=(--repeats 20); fi
  "$RUST" "$MODEL" $REQUIRE "${reps[@]}" | tee /tmp/gpu_check_rs.txt
  rs_rc=${PIPESTATUS[0]}
else
  echo "   skipped: no gpu_check binary (cargo build --release -p lepton-core --example gpu_check)"
  [ -n "$REQUIRE" ] && rs_rc=1
fi

echo "== SUMMARY"
[ -f /tmp/gpu_check_rs.txt ] || : > /tmp/gpu_check_rs.txt
grep -hvE '^RESULT|model:' /tmp/gpu_check_py.txt /tmp/gpu_check_rs.txt
echo "python check exit $py_rc, rust check exit $rs_rc"
[ "$py_rc" = 0 ] && [ "$rs_rc" = 0 ]
