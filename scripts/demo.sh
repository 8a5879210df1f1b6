#!/usr/bin/env bash
# Install qcomp, then run it on the bundled Fashion-MNIST CNN: inspect the model, quantize and
# compile it to native int8 code (x86-vnni: an AVX-512 VNNI shared library; on a CPU without VNNI,
# the integer reference target instead), run one image, check the artifact bit-exact against the
# integer reference, and compare FP32 and int8 top-1 accuracy on 500 labelled test images.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
ex=examples/fashion_mnist
target=x86-vnni
if ! .venv/bin/python -c "import sys; from qcomp.target import get_target, host_support; \
s = host_support(get_target('x86-vnni')); print('demo: x86-vnni cannot run here:', s.why) if not s.can_run else None; \
sys.exit(0 if s.can_run else 1)"; then
  target=ref
fi
set -x
.venv/bin/qcomp inspect $ex/model.onnx
.venv/bin/qcomp build $ex/model.onnx --target $target --calib $ex/calib.npz -o out/fashion_mnist.$target
.venv/bin/qcomp run out/fashion_mnist.$target --input $ex/input.npz -o out/fashion_mnist_outputs.npz
# the same image through the integer reference: the raw int8 outputs must be identical
.venv/bin/qcomp build $ex/model.onnx --target ref --calib $ex/calib.npz -o out/fashion_mnist.ref >/dev/null
.venv/bin/qcomp run out/fashion_mnist.$target --input $ex/input.npz --raw -o out/raw.$target.npz >/dev/null
.venv/bin/qcomp run out/fashion_mnist.ref --input $ex/input.npz --raw -o out/raw.ref.npz >/dev/null
.venv/bin/python -c "import numpy as np; a, b = np.load('out/raw.$target.npz'), np.load('out/raw.ref.npz'); \
assert all(np.array_equal(a[k], b[k]) for k in b.files), 'artifact differs from the integer reference'; \
print('bit-exact: $target raw outputs == ref raw outputs')"
.venv/bin/python $ex/evaluate.py --artifact out/fashion_mnist.$target
