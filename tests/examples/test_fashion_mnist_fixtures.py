"""The committed fixtures of examples/fashion_mnist: the ONNX model's ops, I/O and size, and the
keys, shapes, dtypes and provenance of samples.npz, input.npz and calib.npz."""
from __future__ import annotations

from collections import Counter

import numpy as np
import onnx
import pytest

MAX_MODEL_BYTES = 1 << 20
# The architecture of examples/fashion_mnist/train.py, node by node.
EXPECTED_OPS = ["Conv", "BatchNormalization", "Relu", "MaxPool",
                "Conv", "BatchNormalization", "Relu", "MaxPool",
                "Flatten", "Gemm", "Relu", "Gemm"]


def _load_npz(path) -> dict[str, np.ndarray]:
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


def _pixels(x: np.ndarray) -> np.ndarray:
    """Undo x = pixel / 255 (exactly, for values made that way) back to uint8 images (N, 28, 28)."""
    return np.rint(x[:, 0] * 255.0).astype(np.uint8)


def _assert_preprocessed(x: np.ndarray) -> None:
    """Values are pixel / 255 for integer pixels in [0, 255], computed in float32."""
    assert x.min() >= 0.0 and x.max() <= 1.0
    np.testing.assert_array_equal(x[:, 0], _pixels(x).astype(np.float32) / np.float32(255.0))


@pytest.fixture(scope="module")
def model(example_dir) -> onnx.ModelProto:
    return onnx.load(str(example_dir / "model.onnx"))


@pytest.fixture(scope="module")
def samples(example_dir) -> dict[str, np.ndarray]:
    return _load_npz(example_dir / "samples.npz")


@pytest.fixture(scope="module")
def calib(example_dir) -> dict[str, np.ndarray]:
    return _load_npz(example_dir / "calib.npz")


def test_model_is_valid_onnx_with_the_documented_ops(model, example_dir):
    onnx.checker.check_model(model, full_check=True)
    assert [op.version for op in model.opset_import if op.domain in ("", "ai.onnx")] == [13]
    assert [n.op_type for n in model.graph.node] == EXPECTED_OPS
    assert (example_dir / "model.onnx").stat().st_size <= MAX_MODEL_BYTES


def test_model_io_names_shapes_and_dtypes(model):
    def sig(values):
        return [(v.name, v.type.tensor_type.elem_type, tuple(d.dim_value for d in v.type.tensor_type.shape.dim))
                for v in values]
    assert sig(model.graph.input) == [("input", onnx.TensorProto.FLOAT, (1, 1, 28, 28))]
    assert sig(model.graph.output) == [("logits", onnx.TensorProto.FLOAT, (1, 10))]
    assert not {i.name for i in model.graph.initializer} & {"input"}


def test_batchnorm_nodes_are_real_inference_batchnorms(model):
    """BatchNorm survived the export with trained statistics (not folded, not identity)."""
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in model.graph.initializer}
    bns = [n for n in model.graph.node if n.op_type == "BatchNormalization"]
    assert [len(n.output) for n in bns] == [1, 1]  # no training-mode outputs
    for n, channels in zip(bns, (16, 32)):
        mean, var = inits[n.input[3]], inits[n.input[4]]
        assert mean.shape == var.shape == (channels,)
        assert np.all(var > 0) and not np.allclose(mean, 0) and not np.allclose(var, 1)


def test_samples_keys_shapes_dtypes(samples):
    assert sorted(samples) == ["input", "label"]
    x, y = samples["input"], samples["label"]
    assert x.shape == (500, 1, 28, 28) and x.dtype == np.float32
    assert y.shape == (500,) and y.dtype == np.int64
    assert set(np.unique(y)) == set(range(10))
    _assert_preprocessed(x)


def test_samples_are_the_first_500_official_test_images(samples, fm_data, idx_available):
    images, labels = fm_data.load_split("t10k")
    np.testing.assert_array_equal(samples["input"], fm_data.preprocess(images[:500]))
    np.testing.assert_array_equal(samples["label"], labels[:500])


def test_input_npz_is_the_first_sample(example_dir, samples):
    inp = _load_npz(example_dir / "input.npz")
    assert sorted(inp) == ["input"]  # keyed by model input names only, as `qcomp run` expects
    assert inp["input"].shape == (1, 1, 28, 28) and inp["input"].dtype == np.float32
    np.testing.assert_array_equal(inp["input"], samples["input"][:1])


def test_calib_keys_shapes_dtypes(calib):
    assert sorted(calib) == ["input"]
    x = calib["input"]
    assert x.shape == (256, 1, 28, 28) and x.dtype == np.float32
    _assert_preprocessed(x)
    assert len({img.tobytes() for img in _pixels(x)}) == 256  # 256 distinct images


def test_calib_images_are_not_test_samples(calib, samples):
    test = {img.tobytes() for img in _pixels(samples["input"])}
    assert not [i for i, img in enumerate(_pixels(calib["input"])) if img.tobytes() in test]


def test_calib_images_come_from_the_training_set_only(calib, fm_data, idx_available):
    train_images, train_labels = fm_data.load_split("train")
    test_images, _ = fm_data.load_split("t10k")
    train = {img.tobytes(): int(label) for img, label in zip(train_images, train_labels)}
    test = {img.tobytes() for img in test_images}
    calib_imgs = [img.tobytes() for img in _pixels(calib["input"])]
    assert all(img in train for img in calib_imgs)
    assert not any(img in test for img in calib_imgs)
    # a spread of classes, not one corner of the data
    assert len(Counter(train[img] for img in calib_imgs)) == 10


def test_train_script_exports_the_shipped_architecture(model, fm_train, tmp_path):
    """train.py's model and export settings give the graph that is committed (same nodes, same
    initializer names and shapes, same I/O), so retraining reproduces the fixture's structure."""
    import torch
    torch.manual_seed(0)
    net = fm_train.SmallCNN()
    with torch.no_grad():  # distinct values, as after training (the exporter dedups equal initializers)
        for t in [*net.parameters(), *net.buffers()]:
            if t.is_floating_point():
                t.uniform_(0.5, 1.5)
    fm_train.export_onnx(net, tmp_path / "fresh.onnx")
    fresh = onnx.load(str(tmp_path / "fresh.onnx"))

    def structure(m: onnx.ModelProto):
        nodes = [(n.op_type, len(n.input), len(n.output)) for n in m.graph.node]
        inits = sorted((i.name, tuple(i.dims)) for i in m.graph.initializer)
        io = ([i.name for i in m.graph.input], [o.name for o in m.graph.output])
        return nodes, inits, io
    assert structure(fresh) == structure(model)
