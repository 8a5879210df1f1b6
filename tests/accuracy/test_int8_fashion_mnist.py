"""The bundled example CNN stays accurate in int8: on the 500 test images of samples.npz, qcomp's
`--target ref` artifact (calibrated on calib.npz, default minmax) has a top-1 within 1.0 point of
FP32 and the same argmax as FP32 on at least 97% of the images. benchmarks/accuracy.py measures the
whole 10 000-image test set; this guard is its fast subset.

A control proves the guard can fail: calibrated on the same images scaled by 1/50, the input's
int8 range covers only [0, 0.02] of the [0, 1] pixels, and the guard must reject the result.
"""
from __future__ import annotations

import numpy as np
import pytest

from accuracy_lib import fashion_mnist, peers
from accuracy_lib.metrics import Comparison, top1
from accuracy_lib.qcomp_path import build_runner, run_all

MAX_TOP1_DROP_PT = 1.0
MIN_AGREEMENT = 0.97


def guard(fp32_top1: float, q: Comparison) -> list[str]:
    """What is wrong with an int8 result (empty when it passes)."""
    problems = []
    drop = 100 * (fp32_top1 - q.top1)
    if abs(drop) > MAX_TOP1_DROP_PT:
        problems.append(f"top-1 {100 * q.top1:.2f}% vs FP32 {100 * fp32_top1:.2f}% ({-drop:+.2f} pt, "
                        f"allowed +-{MAX_TOP1_DROP_PT})")
    if q.agreement < MIN_AGREEMENT:
        problems.append(f"argmax equals FP32 on {100 * q.agreement:.2f}% of the images (need {100 * MIN_AGREEMENT:.0f}%)")
    return problems


@pytest.fixture(scope="module")
def samples():
    images, labels = fashion_mnist.bundled_samples()
    return [{"input": images[i:i + 1]} for i in range(images.shape[0])], labels


@pytest.fixture(scope="module")
def fp32(samples):
    feeds, _ = samples
    logits, _ = run_all(peers.session_runner(fashion_mnist.MODEL), feeds, "logits")
    return logits


def _int8(work, feeds, calib, name) -> np.ndarray:
    built = build_runner(fashion_mnist.MODEL, work / name, calib, calib_method="minmax")
    logits, _ = run_all(built.runner, feeds, "logits")
    return logits


def test_int8_top1_follows_fp32_on_the_bundled_samples(work, samples, fp32):
    feeds, labels = samples
    assert len(feeds) == 500
    q = Comparison.of_logits("qcomp int8 (minmax)", _int8(work, feeds, fashion_mnist.CALIB, "fmnist"), fp32, labels)
    fp32_top1 = top1(fp32, labels)
    print(f"\nFashion-MNIST 500: FP32 {100 * fp32_top1:.2f}%, qcomp int8 {100 * q.top1:.2f}%, agreement "
          f"{100 * q.agreement:.2f}%, cosine min {q.cosine_min:.5f}", end="")
    assert guard(fp32_top1, q) == []


def test_guard_rejects_a_miscalibrated_build(work, samples, fp32):
    feeds, labels = samples
    with np.load(fashion_mnist.CALIB) as f:
        dim = f["input"] / np.float32(50.0)
    bad = work / "calib_scaled_down.npz"
    np.savez(bad, input=dim)
    q = Comparison.of_logits("qcomp int8 (bad calibration)", _int8(work, feeds[:100], bad, "fmnist_bad"),
                             fp32[:100], labels[:100])
    problems = guard(top1(fp32[:100], labels[:100]), q)
    print(f"\nmiscalibrated: {problems}", end="")
    assert problems, f"a clipped input range went unnoticed: {q}"
