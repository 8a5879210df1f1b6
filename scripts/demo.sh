#!/usr/bin/env bash
# Install qcomp, then run it on the bundled Fashion-MNIST CNN: inspect the model, run one image
# through the float reference, and measure top-1 accuracy on 500 labelled test images.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
ex=examples/fashion_mnist
set -x
.venv/bin/qcomp inspect $ex/model.onnx
.venv/bin/qcomp run $ex/model.onnx --input $ex/input.npz -o out/fashion_mnist_outputs.npz
.venv/bin/python $ex/evaluate.py
