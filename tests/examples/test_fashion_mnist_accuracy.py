"""The example model is really trained, qcomp's float reference follows onnxruntime on it, and the
evaluation loop of examples/fashion_mnist/evaluate.py counts correctly for any predict callable."""
from __future__ import annotations

import re

import numpy as np
import pytest

MIN_TOP1 = 0.85
MIN_COSINE = 0.9999


@pytest.fixture(scope="module")
def samples(fm_eval):
    return fm_eval.load_samples()


@pytest.fixture(scope="module")
def ort_result(fm_eval, samples):
    return fm_eval.evaluate(fm_eval.onnxruntime_predictor(), *samples)


@pytest.fixture(scope="module")
def ref_result(fm_eval, samples):
    return fm_eval.evaluate(fm_eval.qcomp_ref_predictor(), *samples)


def _one_hot(classes: np.ndarray, n: int = 10) -> np.ndarray:
    return np.eye(n, dtype=np.float32)[classes]


# ---- the evaluation loop --------------------------------------------------------------------

@pytest.mark.parametrize("batch_size", [1, 7, 100, 1000])
def test_evaluate_counts_top1_over_uneven_batches(fm_eval, rng, batch_size):
    images = rng.random((53, 1, 28, 28), dtype=np.float32)
    labels = rng.integers(0, 10, 53)
    lookup = {img.tobytes(): int(lab) for img, lab in zip(images, labels)}
    wrong = set(range(0, 53, 5))  # the predictor gets these 11 images wrong

    def predict(batch):
        assert 1 <= batch.shape[0] <= batch_size
        classes = []
        for img in batch:
            i = next(k for k, im in enumerate(images) if im.tobytes() == img.tobytes())
            classes.append((lookup[img.tobytes()] + (i in wrong)) % 10)
        return _one_hot(np.array(classes))

    result = fm_eval.evaluate(predict, images, labels, batch_size=batch_size)
    assert (result.total, result.correct) == (53, 53 - len(wrong))
    assert result.top1 == pytest.approx(42 / 53)
    assert result.logits.shape == (53, 10)


def test_evaluate_constant_predictor_scores_its_class_frequency(fm_eval, samples):
    images, labels = samples
    result = fm_eval.evaluate(lambda b: np.tile(_one_hot(np.array([3])), (b.shape[0], 1)), images, labels)
    assert result.correct == int(np.sum(labels == 3))


def test_evaluate_rejects_bad_logits_and_mismatched_labels(fm_eval, samples):
    images, labels = samples
    with pytest.raises(ValueError, match="must return \\(batch, classes\\) logits"):
        fm_eval.evaluate(lambda b: np.zeros(10, np.float32), images[:4], labels[:4])
    with pytest.raises(ValueError, match="got 4 images and 3 labels"):
        fm_eval.evaluate(lambda b: np.zeros((b.shape[0], 10), np.float32), images[:4], labels[:3])


def test_per_sample_feeds_batch_one_inputs_in_order(fm_eval, samples):
    images, _ = samples
    seen = []

    def run_one(x):
        assert x.shape == (1, 1, 28, 28)
        seen.append(float(x.sum()))
        return x.reshape(1, -1)[:, :10]

    out = fm_eval.per_sample(run_one)(images[:5])
    assert seen == [float(img.sum()) for img in images[:5]]
    np.testing.assert_array_equal(out, images[:5].reshape(5, -1)[:, :10])


# ---- the model ------------------------------------------------------------------------------

def test_onnxruntime_accuracy_shows_a_trained_model(ort_result):
    assert ort_result.total == 500
    assert ort_result.top1 >= MIN_TOP1, f"onnxruntime top-1 {ort_result.top1:.3f} on samples.npz"


def test_qcomp_float_reference_matches_onnxruntime(ref_result, ort_result, fm_eval):
    ref, ort = ref_result.logits, ort_result.logits
    mismatched = np.flatnonzero(ref.argmax(1) != ort.argmax(1))
    assert mismatched.size == 0, f"argmax differs on samples {mismatched[:10].tolist()}"
    cos = fm_eval.cosine_per_row(ref, ort)
    assert cos.min() >= MIN_COSINE, f"lowest cosine {cos.min():.7f} on sample {int(cos.argmin())}"
    assert ref_result.correct == ort_result.correct


def test_readme_states_the_measured_accuracy(example_dir, ort_result):
    readme = (example_dir / "README.md").read_text()
    m = re.search(r"^\| onnxruntime \(FP32\) \| samples\.npz \(500\) \| ([0-9.]+)% \|", readme, re.M)
    assert m, "README.md has no '| onnxruntime (FP32) | samples.npz (500) | ...% |' row"
    assert float(m.group(1)) == pytest.approx(100 * ort_result.top1, abs=0.005)
