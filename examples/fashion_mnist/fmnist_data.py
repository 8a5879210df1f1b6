"""Fashion-MNIST from the IDX files of the Debian package `dataset-fashion-mnist`.

IDX format (big-endian, as published by LeCun et al. and reused by Zalando for Fashion-MNIST):

    bytes 0..1   0x00 0x00
    byte  2      element type code (0x08 = uint8, the only type these files use)
    byte  3      number of dimensions d
    bytes 4..4d+3  d sizes, uint32 big-endian
    then prod(sizes) elements, row-major

Images are idx3 (N, 28, 28) uint8; labels are idx1 (N,) uint8 in 0..9. Both may be gzip-compressed
(`*.gz`, as Debian ships them).

Preprocessing used by the example model (and by every consumer of samples.npz / calib.npz):

    x = pixel / 255.0      float32, shape (N, 1, 28, 28) NCHW, values in [0, 1]
"""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

DATA_DIR = Path("/usr/share/datasets/fashion-mnist")
IMAGE_SHAPE = (28, 28)
CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")

_UINT8 = 0x08


class IDXError(ValueError):
    """An IDX file is malformed: wrong magic, an unsupported element type, or truncated data."""


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (plain or .gz) into a uint8 array of the shape its header declares."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise IDXError(f"{path}: not an IDX file (the first two bytes must be zero)")
    if data[2] != _UINT8:
        raise IDXError(f"{path}: element type 0x{data[2]:02x} is not supported (only 0x08 = uint8)")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise IDXError(f"{path}: header declares {ndim} dimensions but the file has {len(data)} bytes")
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    count = int(np.prod(shape, dtype=np.int64))
    if len(data) - header != count:
        raise IDXError(f"{path}: shape {shape} needs {count} data bytes, the file has {len(data) - header}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape).copy()


def write_idx(path: str | Path, array: np.ndarray) -> None:
    """Write a uint8 array as an IDX file (gzip-compressed when the name ends in .gz)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, _UINT8, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as f:
        f.write(header + array.tobytes())


def load_split(split: str, data_dir: str | Path = DATA_DIR) -> tuple[np.ndarray, np.ndarray]:
    """Raw images (N, 28, 28) uint8 and labels (N,) int64 of the "train" or "t10k" split."""
    if split not in ("train", "t10k"):
        raise ValueError(f"split must be 'train' or 't10k', got {split!r}")
    data_dir = Path(data_dir)
    images_path = data_dir / f"{split}-images-idx3-ubyte.gz"
    labels_path = data_dir / f"{split}-labels-idx1-ubyte.gz"
    for p in (images_path, labels_path):
        if not p.exists():
            raise FileNotFoundError(f"{p} is missing: install it with `apt-get install dataset-fashion-mnist`")
    images = read_idx(images_path)
    labels = read_idx(labels_path).astype(np.int64)
    if images.ndim != 3 or images.shape[1:] != IMAGE_SHAPE or labels.shape != (images.shape[0],):
        raise IDXError(f"{split}: images {images.shape} and labels {labels.shape} do not match")
    return images, labels


def preprocess(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) -> float32 (N, 1, 28, 28): x = pixel / 255.0."""
    return (images.astype(np.float32) / np.float32(255.0))[:, None, :, :]


def available(data_dir: str | Path = DATA_DIR) -> bool:
    """True when all four IDX files are installed."""
    data_dir = Path(data_dir)
    return all((data_dir / f"{s}-{k}-ubyte.gz").exists()
               for s in ("train", "t10k") for k in ("images-idx3", "labels-idx1"))
