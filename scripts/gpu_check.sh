#!/usr/bin/env bash
# The cuda backend on a real GPU: bit-exact vs ref and batch-1 latency, one markdown report (docs/GPU.md).
#
#   scripts/gpu_check.sh [--bundle gpu_bundle] [--report PATH] [--stand-in] [--repeats N] [--budget-s S]
#
# Run from anywhere; works from the repository root it lives in. Needs the bundle that
# `python benchmarks/gpu_bundle.py` builds (carried to the GPU machine: it installs nothing from the
# network). The report goes to --report, else $OUT/gpu_report-BUNDLE.md. Exit status 0 only when every
# step passed; otherwise 1 and the report names the failed steps (a step that fails never stops the others).
#
#   QCOMP_GPU_PYTHON    the interpreter (default python3: on the GPU machine the one with PyTorch and
#                       cuda-bindings)
#   QCOMP_GPU_TIMEOUT_S hard limit of the whole check in seconds (default 300, under the 6 minutes a run
#                       may take); the Python side stops starting steps at --budget-s (default 240)
set -u
cd "$(dirname "$0")/.." || exit 1
PY=${QCOMP_GPU_PYTHON:-python3}
LIMIT=${QCOMP_GPU_TIMEOUT_S:-300}

bundle=gpu_bundle report=""
args=("$@")
while [ $# -gt 0 ]; do
    case "$1" in
        --bundle) bundle=${2:-}; shift ;;
        --report) report=${2:-}; shift ;;
    esac
    shift
done
if [ -z "$report" ]; then
    if [ -z "${OUT:-}" ]; then
        echo "gpu_check.sh: give --report PATH (or set OUT to a folder)" >&2
        exit 2
    fi
    report="$OUT/gpu_report-$(basename "$bundle").md"
fi

# The one report file, when the Python side cannot even start.
fail_report() {
    mkdir -p "$(dirname "$report")"
    printf '# qcomp cuda backend on a GPU: gpu_check report (FAILED: %s)\n\nstep **%s**: FAILED: %s\n' "$1" "$1" "$2" > "$report"
    echo "gpu_check.sh: FAILED $1: $2" >&2
    exit 1
}

command -v "$PY" > /dev/null || fail_report "python environment" "no interpreter $PY on PATH"
# numpy is the one third-party package qcomp needs to load and run a cuda artifact (besides cuda-bindings,
# which the GPU machine has): install the bundle's cp312 wheel only where the import fails.
if ! "$PY" -c "import numpy" 2> /dev/null; then
    site=$(mktemp -d /tmp/qcomp-site.XXXXXX)
    ls "$bundle"/wheels/*.whl > /dev/null 2>&1 || fail_report "python environment" "numpy is missing and $bundle/wheels/ holds no wheel"
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$site" "$bundle"/wheels/*.whl \
        || fail_report "python environment" "pip could not install $bundle/wheels/*.whl"
    export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
    "$PY" -c "import numpy" || fail_report "python environment" "numpy does not import even from $bundle/wheels/"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1

timeout --kill-after=10 "$LIMIT" "$PY" benchmarks/gpu_check.py "${args[@]}" --report "$report"
code=$?
if [ "$code" -eq 124 ] || [ "$code" -eq 137 ]; then
    # the report on disk holds every step finished before the limit; say that the rest did not run
    printf '\n## Time limit\n\nstep **time limit**: FAILED: the check was stopped after %s s; the steps above are those that finished\n' "$LIMIT" >> "$report"
    echo "gpu_check.sh: FAILED time limit: stopped after $LIMIT s" >&2
    exit 1
fi
exit "$code"
