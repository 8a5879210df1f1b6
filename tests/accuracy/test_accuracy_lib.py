"""The measuring code of benchmarks/accuracy_lib counts right: metrics on hand-made cases, the
RESULTS.md section update, the calibration/test disjointness check and the DATA.md preprocessing."""
from __future__ import annotations

import numpy as np
import pytest

from accuracy_lib import metrics, photos, report


# ---- metrics --------------------------------------------------------------------------------

def test_top1_and_agreement_count_argmax_matches():
    logits = np.array([[0.1, 0.9, 0.0], [2.0, 1.0, 0.0], [0.0, 0.0, 5.0], [1.0, 3.0, 2.0]])
    fp32 = np.array([[0.0, 1.0, 0.0], [0.0, 1.0, 0.5], [0.0, 0.0, 5.0], [1.0, 3.0, 2.0]])
    assert metrics.top1(logits, np.array([1, 0, 0, 1])) == pytest.approx(0.75)
    assert metrics.agreement(logits, fp32) == pytest.approx(0.75)
    with pytest.raises(ValueError, match="4 rows of logits for 3 labels"):
        metrics.top1(logits, np.array([1, 0, 0]))


def test_cosine_is_per_row_and_zero_rows_fail():
    a = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    b = np.array([[2.0, 0.0], [-1.0, -1.0], [1.0, 0.0]])
    np.testing.assert_allclose(metrics.cosine_rows(a, b), [1.0, -1.0, 0.0])


def test_mean_pool_ignores_padding():
    hidden = np.array([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])
    np.testing.assert_allclose(metrics.mean_pool(hidden, np.array([[1, 1, 0]])), [[2.0, 3.0]])


def test_comparison_counts_only_labelled_inputs_for_top1():
    fp32 = np.eye(3)
    logits = np.array([[1.0, 0, 0], [0, 1.0, 0], [1.0, 0, 0]])   # the third input changes class
    c = metrics.Comparison.of_logits("x", logits, fp32, np.array([0, 2, -1]))
    assert (c.labelled, c.top1, c.count) == (2, 0.5, 3)
    assert c.agreement == pytest.approx(2 / 3)
    assert c.cosine_min == pytest.approx(0.0)


# ---- RESULTS.md sections --------------------------------------------------------------------

def test_update_section_replaces_only_its_own_block(tmp_path):
    path = tmp_path / "RESULTS.md"
    report.update_section(path, "speed", "## Speed\n\nfast")
    report.update_section(path, "accuracy", "## Accuracy\n\nold figures")
    report.update_section(path, "accuracy", "## Accuracy\n\nnew figures")
    text = path.read_text()
    assert text.count("<!-- accuracy:begin -->") == 1 and "old figures" not in text
    assert "new figures" in text and "## Speed\n\nfast" in text
    assert text.index("speed:begin") < text.index("accuracy:begin")


def test_comparison_table_shows_the_change_against_fp32():
    row = metrics.Comparison("qcomp int8 (minmax)", 10, 0.9, 0.995, 0.98, top1=0.8, labelled=10)
    lines = report.comparison_table([row], fp32_top1=0.85, with_labels=True)
    assert lines[0].startswith("| path | top-1 | vs FP32 | top-1 = FP32 top-1 |")
    assert "| qcomp int8 (minmax) | 80.00% | -5.00 pt | 90.00% (9/10) | 0.99500 | 0.98000 |" in lines


# ---- images ---------------------------------------------------------------------------------

def test_preprocess_follows_data_md(rng):
    pixels = rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)
    x = photos.preprocess(pixels)
    assert x.shape == (1, 3, 224, 224) and x.dtype == np.float32
    assert x.min() >= -127 / 128 and x.max() <= 1.0
    flat = np.full((256, 256, 3), 127, np.uint8)   # resize and crop keep a constant image constant
    np.testing.assert_array_equal(photos.preprocess(flat), 0.0)
    grey = photos.preprocess(np.full((256, 300), 255, np.uint8))
    np.testing.assert_array_equal(grey, 1.0)


def test_check_disjoint_rejects_test_images_and_near_copies(rng):
    a = photos.Photo("a", rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    b = photos.Photo("b", rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    photos.check_disjoint([a], [b])
    with pytest.raises(ValueError, match="is the test image b"):
        photos.check_disjoint([a, photos.Photo("copy of b", b.pixels.copy())], [b])
    brighter = photos.Photo("b + 10", np.clip(b.pixels.astype(int) + 10, 0, 255).astype(np.uint8))
    with pytest.raises(ValueError, match="nearly equals the test image b"):
        photos.check_disjoint([brighter], [b])
