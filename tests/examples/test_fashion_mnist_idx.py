"""The example's IDX reader and preprocessing (examples/fashion_mnist/fmnist_data.py)."""
from __future__ import annotations

import gzip

import numpy as np
import pytest


@pytest.mark.parametrize("name", ["images.idx", "images.idx.gz"])
@pytest.mark.parametrize("shape", [(3, 28, 28), (5,), (2, 3, 4, 5)])
def test_idx_round_trip(tmp_path, fm_data, rng, name, shape):
    a = rng.integers(0, 256, size=shape, dtype=np.uint8)
    fm_data.write_idx(tmp_path / name, a)
    b = fm_data.read_idx(tmp_path / name)
    assert b.dtype == np.uint8 and b.shape == shape
    np.testing.assert_array_equal(a, b)


def test_idx_header_is_big_endian(tmp_path, fm_data):
    """A hand-written file in the published layout, including a size >= 256 in its header."""
    data = bytes([0, 0, 8, 2]) + (300).to_bytes(4, "big") + (2).to_bytes(4, "big") + bytes(range(256)) * 2 \
        + bytes(88)
    (tmp_path / "x.idx").write_bytes(data)
    a = fm_data.read_idx(tmp_path / "x.idx")
    assert a.shape == (300, 2)
    assert a[0, 1] == 1 and a[127, 1] == 255 and a[299, 1] == 0


@pytest.mark.parametrize("data, message", [
    (b"\x01\x00\x08\x01" + (4).to_bytes(4, "big") + bytes(4), "not an IDX file"),
    (b"\x00\x00\x0d\x01" + (4).to_bytes(4, "big") + bytes(16), "element type 0x0d"),
    (b"\x00\x00\x08\x03" + (4).to_bytes(4, "big"), "header declares 3 dimensions"),
    (b"\x00\x00\x08\x01" + (4).to_bytes(4, "big") + bytes(3), "needs 4 data bytes, the file has 3"),
    (b"\x00\x00", "not an IDX file"),
])
def test_malformed_idx_is_refused(tmp_path, fm_data, data, message):
    path = tmp_path / "bad.idx.gz"
    with gzip.open(path, "wb") as f:
        f.write(data)
    with pytest.raises(fm_data.IDXError, match=message):
        fm_data.read_idx(path)


def test_missing_split_names_the_debian_package(tmp_path, fm_data):
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        fm_data.load_split("train", tmp_path)
    with pytest.raises(ValueError, match="'train' or 't10k'"):
        fm_data.load_split("validation", tmp_path)


def test_preprocess_divides_by_255_and_adds_the_channel_axis(fm_data):
    images = np.array([[[0, 255], [51, 128]]], dtype=np.uint8)
    x = fm_data.preprocess(images)
    assert x.shape == (1, 1, 2, 2) and x.dtype == np.float32
    want = np.array([[0.0, 1.0], [0.2, np.float32(128) / np.float32(255)]], dtype=np.float32)
    np.testing.assert_array_equal(x[0, 0], want)


def test_official_files_have_the_published_sizes(fm_data, idx_available):
    train_images, train_labels = fm_data.load_split("train")
    test_images, test_labels = fm_data.load_split("t10k")
    assert train_images.shape == (60000, 28, 28) and test_images.shape == (10000, 28, 28)
    # Fashion-MNIST is balanced: 6000 training and 1000 test images per class.
    np.testing.assert_array_equal(np.bincount(train_labels), np.full(10, 6000))
    np.testing.assert_array_equal(np.bincount(test_labels), np.full(10, 1000))
