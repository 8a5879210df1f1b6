"""MLPerf Tiny's ResNet-8 with trained weights (tests/models/train_resnet8.py: Fashion-MNIST padded to
32x32x3) stays accurate in int8: on 300 test images, qcomp's int8 build keeps top-1 within 1.5 points
of FP32 and the FP32 argmax on at least 96 % of the images. It runs on x86-vnni where the host has
it (bit-exact to the integer reference, as every backend is, cortex-m4/m7/m55 included: the op-case
table checks that), else on the reference itself (slower: about 0.3 s per image).
benchmarks/resnet8_accuracy.py measures the 10 000 test images."""
from __future__ import annotations

import pytest

from resnet8_accuracy import MODEL, evaluate


def test_trained_resnet8_int8_follows_fp32():
    if not MODEL.exists():
        pytest.fail(f"{MODEL} is missing: regenerate it with tests/models/train_resnet8.py")
    from qcomp.target import get_target, host_support
    target = "x86-vnni" if host_support(get_target("x86-vnni")).can_run else "ref"
    r = evaluate(300, target)
    print(f"\nResNet-8 (Fashion-MNIST) 300 images: FP32 {100 * r['fp32_top1']:.2f}%, int8 {100 * r['int8_top1']:.2f}%, "
          f"agreement {100 * r['agreement']:.2f}%", end="")
    assert r["fp32_top1"] > 0.8, "the fixture is not a trained model"
    assert abs(r["fp32_top1"] - r["int8_top1"]) <= 0.015
    assert r["agreement"] >= 0.96
