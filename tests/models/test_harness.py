"""The test harness itself: the two figures reject the errors they are meant to catch, and the export
cache re-exports on a changed script and turns a failed export into a failure with its stderr."""
from __future__ import annotations

import copy
import textwrap

import numpy as np
import pytest

from .compare import measure, random_feeds, run_onnxruntime
from .export_cache import ExportError, cached_export
from .odd_shapes import odd_upsample_residual


@pytest.fixture(scope="module")
def reference():
    model = odd_upsample_residual()
    return model, run_onnxruntime(model, random_feeds(model, seed=0))


def _figures(got, want):
    return {f.output: f for f in measure("harness", got, want)}


def test_identical_outputs_pass(reference):
    _, want = reference
    assert all(f.ok and f.cosine == pytest.approx(1.0) and f.max_rel == 0.0
               for f in _figures(dict(want), want).values())


def test_layout_mixup_fails_cosine(reference):
    """Right values in the wrong order (NHWC data read as NCHW) must fail."""
    _, want = reference
    fmap = want["relu_2"]
    mixed = np.ascontiguousarray(fmap.transpose(0, 2, 3, 1)).reshape(fmap.shape)
    f = _figures({**want, "relu_2": mixed}, want)["relu_2"]
    assert not f.ok and f.cosine < 0.99


def test_one_wrong_pixel_fails_max_rel(reference):
    """A single border value off by 1% of the output range passes cosine but must fail max_rel."""
    _, want = reference
    fmap = want["relu_2"].copy()
    fmap[0, 7, 4, 3] += 0.01 * np.abs(fmap).max()
    f = _figures({**want, "relu_2": fmap}, want)["relu_2"]
    assert f.cosine >= 0.9999 and f.max_rel > 1e-3 and not f.ok


def test_perturbed_weight_is_caught(reference):
    """One conv weight changed by 5%: onnxruntime on the changed model must not match the original."""
    model, want = reference
    changed = copy.deepcopy(model)
    last_conv = [n for n in changed.graph.node if n.op_type == "Conv"][-1]
    w = next(t for t in changed.graph.initializer if t.name == last_conv.input[1])
    arr = np.frombuffer(w.raw_data, np.float32).copy()
    arr[0] *= 1.05
    w.raw_data = arr.tobytes()
    got = run_onnxruntime(changed, random_feeds(model, seed=0))
    assert not all(f.ok for f in _figures(got, want).values())


def test_shape_mismatch_is_an_error(reference):
    _, want = reference
    with pytest.raises(AssertionError, match="shape"):
        measure("harness", {**want, "relu_2": want["relu_2"][..., :-1]}, want)


# ---- export cache --------------------------------------------------------------------------

WRITER = """
import sys, pathlib
out = pathlib.Path(sys.argv[1])
(out / "model.txt").write_text("{tag} " + " ".join(sys.argv[2:]))
with open(sys.argv[0] + ".runs", "a") as f:
    f.write("run\\n")
"""


def test_export_cache_reuses_and_reexports(tmp_path, monkeypatch):
    monkeypatch.setenv("QCOMP_MODEL_CACHE", str(tmp_path / "cache"))
    script = tmp_path / "export_fake.py"
    script.write_text(textwrap.dedent(WRITER.format(tag="v1")))
    first = cached_export(script, "--opset", "13")
    assert (first / "model.txt").read_text() == "v1 --opset 13"
    assert cached_export(script, "--opset", "13") == first          # cached: not run again
    assert (tmp_path / "export_fake.py.runs").read_text().count("run") == 1
    other = cached_export(script, "--opset", "18")                 # other arguments: new entry
    assert other != first and (other / "model.txt").read_text() == "v1 --opset 18"
    script.write_text(textwrap.dedent(WRITER.format(tag="v2")))     # changed script: re-export
    changed = cached_export(script, "--opset", "13")
    assert changed != first and (changed / "model.txt").read_text() == "v2 --opset 13"
    assert (tmp_path / "export_fake.py.runs").read_text().count("run") == 3


def test_failed_export_raises_with_stderr(tmp_path, monkeypatch):
    monkeypatch.setenv("QCOMP_MODEL_CACHE", str(tmp_path / "cache"))
    script = tmp_path / "export_broken.py"
    script.write_text("import sys\nprint('torch says: no such operator aten::frobnicate', file=sys.stderr)\n"
                      "sys.exit(3)\n")
    with pytest.raises(ExportError, match="(?s)exit code 3.*no such operator aten::frobnicate"):
        cached_export(script)
    leftovers = [p for p in (tmp_path / "cache").iterdir() if p.is_dir()]
    assert leftovers == []  # nothing half-written is left to be mistaken for a model
