#!/usr/bin/env bash
# Installs one built wheel into a fresh virtualenv per CPython and runs examples/smoke_test.py
# there: a user's machine without Rust (no cargo/rustc on PATH), dependencies from PyPI.
# Pythons: $LEPTON_SMOKE_PYTHONS (space-separated interpreters), else every 3.9-3.13 that pyenv
# or PATH has. Prints one line per version and fails if any version fails or none is found.
# Usage: scripts/smoke-wheel.sh WHEEL
set -euo pipefail
whl="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
root="$(cd "$(dirname "$0")/.." && pwd)"
pythons=()
if [ -n "${LEPTON_SMOKE_PYTHONS:-}" ]; then
  read -r -a pythons <<<"$LEPTON_SMOKE_PYTHONS"
else
  for v in 3.9 3.10 3.11 3.12 3.13; do
    found=""
    for cand in "$HOME"/.pyenv/versions/"$v".*/bin/python"$v" "$(command -v "python$v" || true)"; do
      if [ -x "$cand" ]; then found="$cand"; break; fi
    done
    if [ -n "$found" ]; then pythons+=("$found"); else echo "smoke: no python$v on this machine"; fi
  done
fi
[ "${#pythons[@]}" -gt 0 ] || { echo "smoke: no CPython 3.9-3.13 found" >&2; exit 1; }

# PATH without any Rust toolchain: only the system folders, none holding cargo or rustc.
clean_path=/usr/local/bin:/usr/bin:/bin
for tool in cargo rustc; do
  if PATH="$clean_path" command -v "$tool" >/dev/null; then
    echo "smoke: $tool is on $clean_path; cannot prove a Rust-free install" >&2; exit 1
  fi
done

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp "$root/examples/smoke_test.py" "$work/"
failed=0
summary=()
for py in "${pythons[@]}"; do
  ver="$("$py" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')"
  venv="$work/venv-$ver"
  "$py" -m venv "$venv"
  start=$SECONDS
  if env -i HOME="$HOME" PATH="$venv/bin:$clean_path" PIP_DISABLE_PIP_VERSION_CHECK=1 \
      "$venv/bin/python" -m pip install -q "$whl" >"$work/pip-$ver.log" 2>&1 \
    && (cd "$work" && env -i HOME="$HOME" PATH="$venv/bin:$clean_path" LEPTON_PROGRESS=0 \
      LEPTON_HOME="$work/home-$ver" "$venv/bin/python" smoke_test.py) >"$work/smoke-$ver.log" 2>&1; then
    line="smoke: CPython $ver ok ($((SECONDS - start)) s): $(tail -n 1 "$work/smoke-$ver.log")"
  else
    failed=1
    line="smoke: CPython $ver FAILED"
    cat "$work/pip-$ver.log" "$work/smoke-$ver.log" 2>/dev/null | tail -n 40
  fi
  echo "$line"
  summary+=("$line")
done
echo "== smoke summary ($(basename "$whl"))"
printf '%s\n' "${summary[@]}"
exit "$failed"
