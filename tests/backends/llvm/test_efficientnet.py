"""EfficientNet-Lite0 (a real int8 CNN: depthwise convs, ReLU6, Add, global mean, Gemm) on
x86-vnni and x86-avx2, bit-exact to the ref target on random pixels. Slow: needs the torch export (cached)."""
import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import qcomp
from qcomp.target import get_target, host_support

REPO = Path(__file__).resolve().parents[3]
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not host_support(get_target("x86-vnni")).can_run,
                                 reason=f"target x86-vnni: {host_support(get_target('x86-vnni')).why}")]


def _export_cache():
    spec = importlib.util.spec_from_file_location("export_cache", REPO / "tests" / "models" / "export_cache.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_efficientnet_lite0_bit_exact_to_ref(tmp_path):
    pytest.importorskip("torch")
    model = _export_cache().cached_export("export_efficientnet.py", "--dynamo", "1", "--opset", "18") / "model.onnx"
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "calib.npz", input=rng.standard_normal((4, 3, 224, 224)).astype(np.float32))
    targets = ["x86-vnni"] + (["x86-avx2"] if host_support(get_target("x86-avx2")).can_run else [])
    for target in (*targets, "ref"):
        r = subprocess.run([sys.executable, "-m", "qcomp", "build", model, "--target", target, "--calib",
                            tmp_path / "calib.npz", "-o", tmp_path / target], capture_output=True, text=True,
                           cwd=REPO, timeout=900)
        assert r.returncode == 0, r.stderr
    arts, ref = {t: qcomp.load(tmp_path / t) for t in targets}, qcomp.load(tmp_path / "ref")
    for i in range(2):
        x = {"input": rng.standard_normal((1, 3, 224, 224)).astype(np.float32)}
        want = ref.run(x, raw=True)
        for target, art in arts.items():
            got = art.run(x, raw=True)
            for name in want:
                assert got[name].dtype == np.int8
                np.testing.assert_array_equal(got[name], want[name], err_msg=f"{target}, image {i}, output {name}")
        assert np.unique(want["logits"]).size > 50


def test_torchscript_export_pads_fold_into_the_convs_bit_exact_to_ref(tmp_path):
    """The TorchScript export (dynamo=False, opset 13) has TF-style "same" Pad nodes before its
    strided convs: fold_pad removes every one from the built graph, and x86-vnni stays bit-exact to
    ref."""
    pytest.importorskip("torch")
    import onnx

    from qcomp.ir.serialize import load_graph
    model = _export_cache().cached_export("export_efficientnet.py", "--dynamo", "0", "--opset", "13") / "model.onnx"
    pads_in_model = sum(n.op_type == "Pad" for n in onnx.load(model).graph.node)
    assert pads_in_model >= 4
    assert sum(n.kind == "Pad" for n in qcomp.load_model(model).nodes) == pads_in_model
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "calib.npz", input=rng.standard_normal((4, 3, 224, 224)).astype(np.float32))
    for target in ("x86-vnni", "ref"):
        qcomp.build(model, target=target, calib=tmp_path / "calib.npz", out=tmp_path / target)
    for target in ("x86-vnni", "ref"):
        assert [n.kind for n in load_graph(tmp_path / target / "model.qir").nodes if n.kind == "Pad"] == []
    vnni, ref = qcomp.load(tmp_path / "x86-vnni"), qcomp.load(tmp_path / "ref")
    x = {"input": rng.standard_normal((1, 3, 224, 224)).astype(np.float32)}
    got, want = vnni.run(x, raw=True), ref.run(x, raw=True)
    for name in want:
        np.testing.assert_array_equal(got[name], want[name], err_msg=f"output {name}")
    assert np.unique(want["logits"]).size > 50
