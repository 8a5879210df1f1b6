#!/usr/bin/env bash
# Install qcomp, then run it on the bundled Fashion-MNIST CNN: inspect the model, quantize and
# build it for the integer reference target, run one image, and compare FP32 and int8 top-1
# accuracy on 500 labelled test images.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
ex=examples/fashion_mnist
set -x
.venv/bin/qcomp inspect $ex/model.onnx
.venv/bin/qcomp build $ex/model.onnx --target ref --calib $ex/calib.npz -o out/fashion_mnist.ref
.venv/bin/qcomp run out/fashion_mnist.ref --input $ex/input.npz -o out/fashion_mnist_outputs.npz
.venv/bin/python $ex/evaluate.py --artifact out/fashion_mnist.ref
