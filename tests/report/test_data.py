"""Evaluation data: any calibration format, plus labels and other per-sample arrays in an .npz."""
import numpy as np
import pytest

from qcomp.builder import BuildOptions
from qcomp.errors import InputError
from qcomp.report.data import open_data

INPUTS = {"x": ((1, 3), np.dtype(np.float32))}


def test_npz_labels_and_extra_arrays(tmp_path, rng):
    x = rng.standard_normal((5, 3)).astype(np.float32)
    path = tmp_path / "eval.npz"
    np.savez(path, x=x, label=np.arange(5), ids=np.arange(5.0) * 10, scores=rng.random(5))
    data = open_data(path, INPUTS, BuildOptions())
    assert data.label_key == "label" and set(data.ignored) == {"ids", "scores"}
    samples = list(data)
    assert len(samples) == len(data) == 5
    assert all(set(s) == {"x", "label"} for s in samples)
    np.testing.assert_array_equal(samples[3]["x"], x[3:4])
    assert samples[3]["label"].reshape(-1).tolist() == [3]
    assert any("'ids'" in n for n in data.notes)


def test_subset_keeps_labels_aligned(tmp_path, rng):
    x = np.arange(40, dtype=np.float32).reshape(40, 1).repeat(3, axis=1)
    path = tmp_path / "eval.npz"
    np.savez(path, x=x, labels=np.arange(40))
    data = open_data(path, INPUTS, BuildOptions(), size=7)
    assert len(data) == 7 and data.label_key == "labels"
    for s in data:
        assert int(s["x"][0, 0]) == int(s["labels"].reshape(()))


def test_float_labels_are_not_labels(tmp_path, rng):
    path = tmp_path / "eval.npz"
    np.savez(path, x=rng.standard_normal((2, 3)).astype(np.float32), label=np.zeros(2))
    data = open_data(path, INPUTS, BuildOptions())
    assert data.label_key is None and data.ignored == ("label",)


def test_an_array_that_is_not_per_sample_is_an_error(tmp_path, rng):
    path = tmp_path / "eval.npz"
    np.savez(path, x=rng.standard_normal((4, 3)).astype(np.float32), mean=np.zeros(3))
    with pytest.raises(InputError, match=r"array 'mean' \(shape \(3,\)\) is not a model input"):
        open_data(path, INPUTS, BuildOptions())


def test_other_formats_pass_through(tmp_path, rng):
    path = tmp_path / "eval.npy"
    np.save(path, rng.standard_normal((3, 3)).astype(np.float32))
    data = open_data(path, INPUTS, BuildOptions())
    assert data.label_key is None and data.samples.format == "npy" and len(list(data)) == 3
