#!/usr/bin/env bash
# Install what qonnx-c4ml needs on a fresh Debian/Ubuntu machine, then the package itself.
#   system: verilator (RTL simulation), yosys + iverilog (synthesis/cross-checks), ccache, g++, make,
#           chromium (headless check that report.html renders)
#   python: this package with its test, train and finn extras (torch==2.13.0 CPU, brevitas), into the
#           active Python environment, and finn-plus==1.6.1 without its dependencies (see below)
# Safe to rerun: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}

missing=()
for tool in verilator yosys iverilog ccache g++ make tclsh chromium; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
  packages=()
  for tool in "${missing[@]}"; do
    case "$tool" in tclsh) packages+=(tcl) ;; *) packages+=("$tool") ;; esac
  done
  if [ "$(id -u)" = 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${packages[@]}"
  elif command -v sudo >/dev/null 2>&1; then
    sudo apt-get update -qq
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}"
  else
    echo "setup: missing ${missing[*]}; install them (apt-get install ${packages[*]}) and rerun" >&2
    exit 1
  fi
fi

"$PYTHON" -m pip install --quiet --disable-pip-version-check -e '.[test,train,finn]'
# FINN's maintained fork, for qonnx_c4ml.finn (the FINN build step) and its tests: its pure-Python
# front-end passes only. --no-deps on purpose: finn-plus pins brevitas==0.13.0 (setuptools<70, which
# clashes with our torch==2.13.0 CPU build), onnx/onnxruntime/protobuf versions older than ours and
# Vivado-side tools; the `finn` extra above installs exactly what its front end imports.
"$PYTHON" -m pip install --quiet --disable-pip-version-check --no-deps 'finn-plus==1.6.1'
