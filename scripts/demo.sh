#!/usr/bin/env bash
# Install qcomp, then run it on the bundled Fashion-MNIST CNN: inspect the model, quantize and
# compile it to native int8 code (--target native: the best CPU target this host runs, e.g. x86-vnni
# on AVX-512 VNNI, x86-avx2 on other x86-64 CPUs; on a host with none, the integer reference target
# instead), run one image, check the artifact bit-exact against the integer reference, and compare
# FP32 and int8 top-1 accuracy on 500 labelled test images.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
ex=examples/fashion_mnist
target=native
if ! .venv/bin/python -c "from qcomp.target import native_choice; print('demo: --target native is', native_choice()[1])"; then
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
