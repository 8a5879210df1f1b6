"""Real, trained models exported with torch (in a subprocess, cached in .cache/models/): qcomp's
frontend + float reference against onnxruntime.

- EfficientNet-Lite0 (ImageNet weights), two exports: dynamo (opset 18, BN folded) and TorchScript
  (opset 13, BN and Pad kept); on seeded pixels in the preprocessed range [-1, 1] and on a real photo
  (scikit-image's chelsea the cat, preprocessed as DATA.md says), where both must also see a cat.
- all-MiniLM-L6-v2 encoder (sequence 128): seeded token ids with a full mask, and a real sentence
  tokenized by the model's tokenizer (padded, with its attention mask).
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import pytest

from .compare import check_against_onnxruntime
from .export_cache import ExportError, cached_export

pytestmark = pytest.mark.slow

EFFICIENTNET_EXPORTS = {"dynamo_opset18": ("--dynamo", "1", "--opset", "18"),
                        "torchscript_opset13": ("--dynamo", "0", "--opset", "13")}
IMAGENET_CATS = set(range(281, 286))  # tabby, tiger cat, Persian, Siamese, Egyptian cat
MINILM_OPS = {"Gather", "Add", "LayerNormalization", "Cast", "Sub", "Unsqueeze", "Mul", "MatMul",
              "Reshape", "Transpose", "Softmax", "Div", "Erf", "Constant"}


def _export(script: str, *args: str) -> Path:
    try:
        return cached_export(script, *args)
    except ExportError as e:
        pytest.fail(f"export failed:\n{e}", pytrace=False)


@pytest.fixture(scope="module", params=sorted(EFFICIENTNET_EXPORTS))
def efficientnet(request) -> tuple[str, Path]:
    """(case name, model path) of one export."""
    path = _export("export_efficientnet.py", *EFFICIENTNET_EXPORTS[request.param]) / "model.onnx"
    return f"efficientnet_lite0/{request.param}", path


@pytest.fixture(scope="module")
def minilm() -> Path:
    return _export("export_minilm.py", "--seq", "128")


def chelsea_input() -> np.ndarray:
    """chelsea the cat: short side resized to 256 (bilinear), centre crop 224, (x - 127) / 128,
    RGB, NCHW float32."""
    skimage_data = pytest.importorskip("skimage.data", reason="scikit-image provides the photo")
    from PIL import Image

    img = Image.fromarray(skimage_data.chelsea())
    w, h = img.size
    s = 256 / min(w, h)
    img = img.resize((round(w * s), round(h * s)), Image.BILINEAR)
    w, h = img.size
    left, top = (w - 224) // 2, (h - 224) // 2
    rgb = np.asarray(img.crop((left, top, left + 224, top + 224)), np.float32)
    return ((rgb - 127.0) / 128.0).transpose(2, 0, 1)[None].copy()


# ---- EfficientNet-Lite0 ---------------------------------------------------------------------

def test_efficientnet_lite0_random_pixels(efficientnet):
    case, path = efficientnet
    x = np.random.default_rng(0).uniform(-1.0, 1.0, (1, 3, 224, 224)).astype(np.float32)
    check_against_onnxruntime(f"{case}/random", path, {"input": x})


def test_efficientnet_lite0_photo_of_a_cat(efficientnet):
    case, path = efficientnet
    got, want = check_against_onnxruntime(f"{case}/chelsea", path, {"input": chelsea_input()})
    top_ort, top_qcomp = int(want["logits"].argmax()), int(got["logits"].argmax())
    print(f"\nchelsea top-1: onnxruntime {top_ort}, qcomp {top_qcomp}", end="")
    assert top_ort in IMAGENET_CATS, f"onnxruntime's top-1 is class {top_ort}: the weights are wrong"
    assert top_qcomp == top_ort


def test_efficientnet_lite0_export_ops(efficientnet):
    case, path = efficientnet
    ops = Counter(n.op_type for n in onnx.load(path).graph.node)
    assert ops["Conv"] == 49 and ops["Clip"] == 33 and ops["Add"] == 9 and ops["Gemm"] == 1
    if case.endswith("opset13"):
        assert ops["BatchNormalization"] == 49 and ops["Pad"] == 17
    else:
        assert ops["BatchNormalization"] == 0 and ops["Pad"] == 0


# ---- all-MiniLM-L6-v2 ---------------------------------------------------------------------

def test_minilm_export_ops(minilm):
    model = onnx.shape_inference.infer_shapes(onnx.load(minilm / "model.onnx"))
    ops = Counter(n.op_type for n in model.graph.node)
    print("\nall-MiniLM-L6-v2 ops: " + ", ".join(f"{k} {v}" for k, v in sorted(ops.items())), end="")
    assert set(ops) == MINILM_OPS
    assert ops["LayerNormalization"] == 13 and ops["Softmax"] == 6 and ops["Erf"] == 6
    assert [i.name for i in model.graph.input] == ["input_ids", "attention_mask"]
    out = model.graph.output[0].type.tensor_type.shape
    assert [d.dim_value for d in out.dim] == [1, 128, 384]


def test_minilm_random_tokens(minilm):
    rng = np.random.default_rng(0)
    ids = rng.integers(1000, 30522, (1, 128), dtype=np.int64)
    ids[0, 0], ids[0, -1] = 101, 102  # [CLS] ... [SEP]
    feeds = {"input_ids": ids, "attention_mask": np.ones((1, 128), np.int64)}
    check_against_onnxruntime("all-MiniLM-L6-v2/random ids", minilm / "model.onnx", feeds)


def test_minilm_real_sentence(minilm):
    sentence = np.load(minilm / "sentence.npz")
    feeds = {"input_ids": sentence["input_ids"], "attention_mask": sentence["attention_mask"]}
    assert feeds["input_ids"][0, 0] == 101 and 5 < feeds["attention_mask"].sum() < 128
    check_against_onnxruntime("all-MiniLM-L6-v2/sentence", minilm / "model.onnx", feeds)
