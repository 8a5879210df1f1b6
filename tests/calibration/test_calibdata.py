"""Calibration data loading from arrays: .npz, .npy, .bin, subsets, memory, and every error."""
import re
import tracemalloc
import zipfile

import numpy as np
import pytest

from qcomp.calibdata import load_calibration
from qcomp.errors import InputError

X = {"x": ((1, 3, 4, 4), np.float32)}
XI = {"x": ((1, 3, 4, 4), np.float32), "ids": ((1, 5), np.int64)}
X_DESC = re.escape("'x' (shape (1, 3, 4, 4), dtype float32)")


def samples(n: int, shape=(1, 3, 4, 4), seed=0, dtype=np.float32) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, *shape)).astype(dtype)


def stack(cs) -> dict[str, np.ndarray]:
    feeds = list(cs)
    return {k: np.stack([f[k] for f in feeds]) for k in cs.names}


# ---- formats -----------------------------------------------------------------------------------

@pytest.mark.parametrize("with_batch", [True, False])
def test_npz_single_input(tmp_path, with_batch):
    data = samples(7)
    np.savez(tmp_path / "c.npz", x=data if with_batch else data[:, 0])
    cs = load_calibration(tmp_path / "c.npz", X)
    assert (len(cs), cs.names, cs.format, cs.total, cs.notes) == (7, ("x",), "npz", 7, ())
    feeds = list(cs)
    assert all(f["x"].shape == (1, 3, 4, 4) and f["x"].dtype == np.float32 for f in feeds)
    np.testing.assert_array_equal(stack(cs)["x"], data)


def test_npz_multi_input_casts_float64_and_safe_ints(tmp_path):
    x = samples(4).astype(np.float64)
    ids = np.arange(20, dtype=np.int32).reshape(4, 1, 5)
    np.savez(tmp_path / "c.npz", x=x, ids=ids)
    cs = load_calibration(tmp_path / "c.npz", XI)
    got = stack(cs)
    assert got["x"].dtype == np.float32 and got["ids"].dtype == np.int64
    np.testing.assert_array_equal(got["x"], x.astype(np.float32))
    np.testing.assert_array_equal(got["ids"], ids)


def test_npz_array_of_the_input_shape_is_one_sample(tmp_path):
    one = samples(1)[0]
    np.savez(tmp_path / "c.npz", x=one)
    cs = load_calibration(tmp_path / "c.npz", X)
    assert len(cs) == 1
    np.testing.assert_array_equal(next(iter(cs))["x"], one)


def test_npz_compressed_and_fortran_order(tmp_path):
    data = samples(5)
    np.savez_compressed(tmp_path / "z.npz", x=data)
    np.savez(tmp_path / "f.npz", x=np.asfortranarray(data))
    with zipfile.ZipFile(tmp_path / "f.npz") as z, z.open("x.npy") as f:
        assert b"'fortran_order': True" in f.read(128)
    for name in ("z.npz", "f.npz"):
        cs = load_calibration(tmp_path / name, X, size=3, seed=1)
        np.testing.assert_array_equal(stack(cs)["x"], data[list(cs.indices)])


def test_single_npy_stack(tmp_path):
    data = samples(6)
    np.save(tmp_path / "x.npy", data[:, 0])
    cs = load_calibration(tmp_path / "x.npy", X)
    assert cs.format == "npy"
    np.testing.assert_array_equal(stack(cs)["x"], data)


def test_npy_directory_single_input_in_natural_order(tmp_path):
    data = samples(12)
    for k in range(12):
        np.save(tmp_path / f"s_{k}.npy", data[k] if k % 2 else data[k, 0])
    (tmp_path / "labels.txt").write_text("ignored")
    cs = load_calibration(tmp_path, X)
    assert (cs.format, len(cs)) == ("npy-dir", 12)
    np.testing.assert_array_equal(stack(cs)["x"], data)     # s_2 before s_10


def test_npy_directory_multi_input_subdirectories(tmp_path):
    x, ids = samples(3), np.arange(15).reshape(3, 1, 5)
    for name in ("x", "ids"):
        (tmp_path / name).mkdir()
    for k in range(3):
        np.save(tmp_path / "x" / f"{k:03d}.npy", x[k])
        np.save(tmp_path / "ids" / f"{k:03d}.npy", ids[k])
    got = stack(load_calibration(tmp_path, XI))
    np.testing.assert_array_equal(got["x"], x)
    np.testing.assert_array_equal(got["ids"], ids)


def test_npy_directory_multi_input_by_file_name(tmp_path):
    inputs = {"ids": ((1, 5), np.int64), "ids_mask": ((1, 5), np.int64)}
    ids, mask = np.arange(10).reshape(2, 1, 5), np.ones((2, 1, 5), np.int64)
    for k in range(2):
        np.save(tmp_path / f"ids_{k}.npy", ids[k])
        np.save(tmp_path / f"ids_mask_{k}.npy", mask[k])
    got = stack(load_calibration(tmp_path, inputs))
    np.testing.assert_array_equal(got["ids"], ids)
    np.testing.assert_array_equal(got["ids_mask"], mask)


def test_bin_single_file_and_directory(tmp_path):
    data = samples(5)
    (tmp_path / "one.bin").write_bytes(data.tobytes())
    cs = load_calibration(tmp_path / "one.bin", X)
    assert (cs.format, len(cs)) == ("bin", 5)
    np.testing.assert_array_equal(stack(cs)["x"], data)
    d = tmp_path / "dir"
    d.mkdir()
    (d / "a.bin").write_bytes(data[:2].tobytes())
    (d / "b.bin").write_bytes(data[2:].tobytes())
    np.testing.assert_array_equal(stack(load_calibration(d, X))["x"], data)


def test_bin_multi_input_subdirectories(tmp_path):
    x, ids = samples(2), np.arange(10, dtype=np.int64).reshape(2, 1, 5)
    for name, arr in (("x", x), ("ids", ids)):
        (tmp_path / name).mkdir()
        for k in range(2):
            (tmp_path / name / f"{k}.bin").write_bytes(arr[k].tobytes())
    cs = load_calibration(tmp_path, XI)
    assert cs.format == "bin-dir"
    np.testing.assert_array_equal(stack(cs)["ids"], ids)
    np.testing.assert_array_equal(stack(cs)["x"], x)


# ---- subsets and memory --------------------------------------------------------------------------

def test_subset_is_seeded_and_deterministic(tmp_path):
    data = samples(50)
    np.savez(tmp_path / "c.npz", x=data)
    a = load_calibration(tmp_path / "c.npz", X, size=10, seed=3)
    b = load_calibration(tmp_path / "c.npz", X, size=10, seed=3)
    c = load_calibration(tmp_path / "c.npz", X, size=10, seed=4)
    assert len(a) == 10 and a.indices == b.indices != c.indices
    assert list(a.indices) == sorted(set(a.indices))
    assert a.indices == tuple(sorted(np.random.default_rng(3).choice(50, 10, replace=False)))
    np.testing.assert_array_equal(stack(a)["x"], data[list(a.indices)])


def test_subset_larger_than_the_set_uses_all_and_says_so(tmp_path):
    np.savez(tmp_path / "c.npz", x=samples(4))
    cs = load_calibration(tmp_path / "c.npz", X, size=100)
    assert len(cs) == 4 and cs.notes == ("asked for 100 calibration samples but only 4 exist; using all 4",)
    with pytest.raises(InputError, match="positive number of samples"):
        load_calibration(tmp_path / "c.npz", X, size=0)


@pytest.mark.parametrize("fmt", ["npz", "npz-compressed", "npy-dir"])
def test_memory_does_not_grow_with_the_set(tmp_path, fmt):
    big = {"x": ((1, 64, 64, 4), np.float32)}                    # 64 KB per sample, 400 samples
    data = np.random.default_rng(0).normal(size=(400, 64, 64, 4)).astype(np.float32)
    if fmt == "npy-dir":
        path = tmp_path / "d"
        path.mkdir()
        for k in range(400):
            np.save(path / f"{k}.npy", data[k])
    else:
        path = tmp_path / "c.npz"
        (np.savez_compressed if fmt == "npz-compressed" else np.savez)(path, x=data)
    del data
    tracemalloc.start()
    try:
        total = sum(float(f["x"][0, 0, 0, 0]) for f in load_calibration(path, big))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert np.isfinite(total)
    assert peak < 2 * 2**20, f"peak {peak / 2**20:.1f} MB while the set is {400 * 64 / 1024:.0f} MB"


# ---- errors ------------------------------------------------------------------------------------

def test_missing_path():
    with pytest.raises(InputError, match="no such file or directory"):
        load_calibration("/nonexistent/calib.npz", X)


def test_wrong_shape_names_input_expected_and_found(tmp_path):
    np.savez(tmp_path / "c.npz", x=samples(3, (1, 3, 5, 5)))
    with pytest.raises(InputError, match=X_DESC + r".*\(1, 3, 5, 5\)"):
        load_calibration(tmp_path / "c.npz", X)
    np.save(tmp_path / "one.npy", np.zeros((3, 4), np.float32))        # rank too low to be a stack
    with pytest.raises(InputError, match=X_DESC + r".*has shape \(3, 4\); expected samples on axis 0"):
        load_calibration(tmp_path / "one.npy", X)
    d = tmp_path / "d"
    d.mkdir()
    np.save(d / "0.npy", np.zeros((2, 3, 4, 4), np.float32))
    with pytest.raises(InputError, match=X_DESC + r".*0\.npy.*has shape \(2, 3, 4, 4\)"):
        load_calibration(d, X)


@pytest.mark.parametrize("data, found", [(np.zeros((2, 1, 3, 4, 4), np.int32), "int32"),
                                         (np.zeros((2, 1, 3, 4, 4), bool), "bool")])
def test_integer_data_for_a_float_input(tmp_path, data, found):
    np.savez(tmp_path / "c.npz", x=data)
    with pytest.raises(InputError, match=X_DESC + f".*dtype {found}; integer data for a float input"):
        load_calibration(tmp_path / "c.npz", X)


def test_float_or_wider_int_data_for_an_int_input(tmp_path):
    ids = {"ids": ((1, 5), np.int32)}
    for bad, found in ((np.zeros((2, 5), np.float32), "float32"), (np.zeros((2, 5), np.int64), "int64")):
        np.savez(tmp_path / "c.npz", ids=bad)
        with pytest.raises(InputError, match=re.escape("'ids' (shape (1, 5), dtype int32)") + f".*{found}; convert it to int32"):
            load_calibration(tmp_path / "c.npz", ids)


def test_missing_and_unknown_input_names(tmp_path):
    np.savez(tmp_path / "c.npz", x=samples(2))
    with pytest.raises(InputError, match=r"nothing for input 'ids' \(shape \(1, 5\), dtype int64\)"):
        load_calibration(tmp_path / "c.npz", XI)
    np.savez(tmp_path / "c.npz", x=samples(2), extra=samples(2))
    with pytest.raises(InputError, match=r"\['extra'\], which are not inputs of the model; its inputs are " + X_DESC):
        load_calibration(tmp_path / "c.npz", X)
    np.save(tmp_path / "labels_0.npy", np.zeros(5))
    np.save(tmp_path / "x_0.npy", samples(1)[0])
    with pytest.raises(InputError, match="labels_0.npy.*does not name an input"):
        load_calibration(tmp_path, XI)


def test_multi_input_subdirectories_must_pair_up(tmp_path):
    for name in ("x", "ids"):
        (tmp_path / name).mkdir()
    np.save(tmp_path / "x" / "0.npy", samples(1)[0])
    np.save(tmp_path / "x" / "1.npy", samples(1)[0])
    np.save(tmp_path / "ids" / "0.npy", np.zeros((1, 5), np.int64))
    with pytest.raises(InputError, match=r"'ids'.*lacks \['1.npy'\]"):
        load_calibration(tmp_path, XI)


def test_different_sample_counts_in_an_npz(tmp_path):
    np.savez(tmp_path / "c.npz", x=samples(3), ids=np.zeros((4, 1, 5), np.int64))
    with pytest.raises(InputError, match="different sample counts"):
        load_calibration(tmp_path / "c.npz", XI)


@pytest.mark.parametrize("make", ["npz", "empty-dir", "only-text"])
def test_empty_set(tmp_path, make):
    if make == "npz":
        path = tmp_path / "c.npz"
        np.savez(path, x=np.zeros((0, 3, 4, 4), np.float32))
    else:
        path = tmp_path
        if make == "only-text":
            (tmp_path / "notes.txt").write_text("no data")
    with pytest.raises(InputError, match=r"(no samples|no \.npy, \.bin or image files).*" + X_DESC):
        load_calibration(path, X)


@pytest.mark.parametrize("bad, word", [(np.nan, "NaN"), (np.inf, "Inf"), (1e300, "too large for float32")])
def test_nonfinite_values_name_the_sample(tmp_path, bad, word):
    data = samples(5).astype(np.float64)
    data[3, 0, 1, 2, 2] = bad
    np.savez(tmp_path / "c.npz", x=data)
    cs = load_calibration(tmp_path / "c.npz", X)
    it = iter(cs)
    for _ in range(3):
        next(it)
    with pytest.raises(InputError, match=X_DESC + f": sample 3 \\(c.npz index 3\\) has .*{word}"):
        next(it)


def test_nan_in_a_file_names_the_file(tmp_path):
    for k in range(3):
        np.save(tmp_path / f"{k}.npy", np.full((1, 3, 4, 4), np.nan if k == 2 else 1.0, np.float32))
    with pytest.raises(InputError, match=r"sample 2 \(2.npy\) has NaN"):
        list(load_calibration(tmp_path, X))


def test_bin_size_not_a_multiple(tmp_path):
    (tmp_path / "c.bin").write_bytes(b"\0" * (192 * 2 + 3))
    with pytest.raises(InputError, match=X_DESC + r".*387 bytes, not a positive multiple of one sample \(192 bytes\)"):
        load_calibration(tmp_path / "c.bin", X)
    d = tmp_path / "d"
    for name in ("x", "ids"):
        (d / name).mkdir(parents=True)
        (d / name / "0.bin").write_bytes(b"\0" * 40)
    with pytest.raises(InputError, match=X_DESC + r".*0.bin' has 40 bytes; one sample is 192 bytes"):
        load_calibration(d, XI)


def test_mixed_kinds_and_preprocessing_options_for_arrays(tmp_path):
    np.save(tmp_path / "0.npy", samples(1)[0])
    (tmp_path / "1.bin").write_bytes(samples(1).tobytes())
    with pytest.raises(InputError, match="mixes bin and npy files"):
        load_calibration(tmp_path, X)
    np.savez(tmp_path / "c.npz", x=samples(2))
    with pytest.raises(InputError, match="--mean, --std, --resize and --crop apply to images only"):
        load_calibration(tmp_path / "c.npz", X, mean=127.0)


def test_unreadable_npz_and_pickled_arrays(tmp_path):
    (tmp_path / "c.npz").write_bytes(b"not a zip file")
    with pytest.raises(InputError, match="not a readable .npz"):
        load_calibration(tmp_path / "c.npz", X)
    np.savez(tmp_path / "o.npz", x=np.array([{"a": 1}], dtype=object))
    with pytest.raises(InputError, match="holds Python objects"):
        load_calibration(tmp_path / "o.npz", X)


def test_dynamic_model_input_is_refused():
    with pytest.raises(InputError, match=r"'x' has shape \(0, 3\).*--input-shape"):
        load_calibration(".", {"x": ((0, 3), np.float32)})
