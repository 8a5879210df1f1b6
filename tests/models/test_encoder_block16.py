"""The encoder block of test_encoder_block.py (hidden 32, 4 heads, opset 17) with its residual stream
in int16 (`--precision` on the residual Adds feeding a LayerNormalization): every LayerNorm then
computes in int16 (QLayerNorm16, writing int8 for the blocks after it), the build stays
integer-only, dsp-c, cortex-m4 and x86-vnni are bit-exact to the ref target, and the output follows
the float model at least as closely as the int8 build does."""
from __future__ import annotations

import numpy as np
import onnx
import pytest

import qcomp
from qcomp.ir.serialize import load_graph
from qcomp.passes.lower_integer import lower_integer
from qcomp.target import get_target, host_support

from .export_cache import ExportError, cached_export

pytestmark = pytest.mark.slow

SAMPLES = 8


def _residual_adds(model) -> list[str]:
    g = onnx.load(str(model), load_external_data=False).graph
    adds = {o for n in g.node if n.op_type == "Add" for o in n.output}
    return sorted({n.input[0] for n in g.node if n.op_type == "LayerNormalization" and n.input[0] in adds})


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    pytest.importorskip("torch")
    try:
        model = cached_export("export_encoder_block.py", "--opset", "17") / "model.onnx"
    except ExportError as e:
        pytest.fail(f"export failed:\n{e}", pytrace=False)
    base = tmp_path_factory.mktemp("encoder_block16")
    rng = np.random.default_rng(1)
    np.save(base / "calib.npy", rng.standard_normal((32, 1, 8, 32)).astype(np.float32))
    feeds = [{"x": rng.standard_normal((1, 8, 32)).astype(np.float32)} for _ in range(SAMPLES)]
    stream = _residual_adds(model)
    assert stream, "the export has no residual Add feeding a LayerNormalization"
    precision = tuple(f"{v}=int16" for v in stream)
    arts = {t: qcomp.build(model, target=t, calib=base / "calib.npy", out=base / t, precision=precision)
            for t in ("ref", "dsp-c", "cortex-m4", "x86-vnni") if t == "ref" or host_support(get_target(t)).can_run}
    int8 = qcomp.build(model, target="ref", calib=base / "calib.npy", out=base / "int8")
    return model, arts, int8, feeds


def test_every_layer_norm_is_int16_and_the_graph_integer_only(built):
    _, arts, _, _ = built
    kinds = [n.kind for n in lower_integer(load_graph(arts["ref"] / "model.qir")).nodes]
    assert "QLayerNorm16" in kinds and "QLayerNorm" not in kinds and "LayerNorm" not in kinds, kinds
    assert not {"Softmax", "Gelu", "Erf", "MatMul", "Add"} & set(kinds), kinds


def test_backends_equal_the_reference_bit_for_bit(built):
    _, arts, _, feeds = built
    ref = qcomp.load(arts["ref"])
    want = [ref.run(f, raw=True)["y"] for f in feeds]
    others = [t for t in arts if t != "ref"]
    if not others:
        pytest.skip("no target but ref runs on this host")
    for target in others:
        art = qcomp.load(arts[target])
        count = 2 if target == "cortex-m4" else SAMPLES
        for f, w in zip(feeds[:count], want[:count]):
            np.testing.assert_array_equal(art.run(f, raw=True)["y"], w, err_msg=target)


def test_int16_stream_follows_the_float_model_at_least_as_well_as_int8(built):
    model, arts, int8, feeds = built
    graph = qcomp.load_model(model)

    def cosines(art):
        m = qcomp.load(art)
        out = []
        for f in feeds:
            a, b = qcomp.run_float(graph, f)["y"].ravel(), m.run(f)["y"].ravel()
            out.append(float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b))))
        return np.array(out)
    c16, c8 = cosines(arts["ref"]), cosines(int8)
    print(f"encoder block vs float cosine: int8 mean {c8.mean():.5f}, residual stream int16 mean {c16.mean():.5f}")
    assert c16.mean() >= c8.mean() - 1e-4 and c16.min() >= 0.99
