"""Model strings hostile to generated code build and run bit-exact on every target.

One small ONNX model (Conv -> Relu, a 1x1 Conv, Add, MaxPool, Transpose, Reshape, Gemm, and a
Sigmoid output) whose graph, node, input, output, initializer and intermediate names hold quotes,
backslashes, newlines, `*/`, `/*`, `#error x`, `%`, Jinja's `{{ }}` and `{% %}`, `??/` trigraphs,
non-ASCII, a 10 kB name, and pairs of different names that sanitize to the same identifier. Built
with qcomp for every target; raw outputs equal the ref artifact's (assert_array_equal). A target is
skipped only where qcomp.target.host_support says this host cannot build or run it (cuda runs under
--emulate, which needs g++ only). The generated sources are ASCII, hold no trigraph, and the C
compiles warning-free (-std=c99 -Wall -Wextra -Wpedantic -Werror) as tests/backends/c does.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import qcomp
from qcomp.api import build
from qcomp.codegen.names import C99_LITERAL_CHARS, COMMENT_CHARS, CNames, c_char_array, c_comment, inert
from qcomp.target import get_target, host_support

TARGETS = ["x86-vnni", "arm-sdot", "cuda", "dsp-c", "cortex-m4"]
LONG = "\u00e9" + "L" * 10_000 + '"*/'                       # 10 kB, non-ASCII, a quote and `*/`
X = 'in"put\\ ??/ caf\u00e9 \u2603 %s %n {{ x }}' + LONG
Y1, Y2 = 'out-1 "*/ #error x\n\\', 'out 1 "*/ #error x\n\\'     # both sanitize to out_1_error_x
GRAPH = 'g */ #error x\n"{{ graph }}" {% if true %}??/\u2603'
NODES = {"conv": "conv */ #error x\n", "relu": "/* relu %s %d \u00e9", "conv1": "{{ add }} {% raw %}??/",
         "add": "add\\\n#include <nothing.h>", "pool": "pool??/ {% endraw %}", "tr": "tr-a",
         "reshape": "tr a", "gemm": "gemm\n#error x\n\"", "sig": LONG}
# two initializers (tr-a / tr a above: two nodes) whose names sanitize to the same identifier
W1, W2 = 'w-1 */ "\\', 'w 1 */ "\\'
SOURCES = ("model.c", "model.h", "weights.c", "Makefile", "qcomp_kernels.h", "model.cu", "model.ll")


def _model(path: Path) -> None:
    rng = np.random.default_rng(0)
    t = {"c": 'c"1\n', "r": "r */ 1", "c1": "c1 /* %%", "s": "s{{1}}", "p": "p??/1", "tr": "t\u00e9",
         "f": "f\\1", "shape": "shape{% x %}"}
    inits = [numpy_helper.from_array(rng.normal(0, 0.3, (4, 2, 3, 3)).astype(np.float32), W1),
             numpy_helper.from_array(rng.normal(0, 0.1, 4).astype(np.float32), W2),
             numpy_helper.from_array(rng.normal(0, 0.4, (4, 2, 1, 1)).astype(np.float32), "w\n1x1 */"),
             numpy_helper.from_array(rng.normal(0, 0.2, (5, 36)).astype(np.float32), "g\u00e9mm ??/"),
             numpy_helper.from_array(rng.normal(0, 0.1, 5).astype(np.float32), "b */ %d"),
             numpy_helper.from_array(np.array([1, 36], np.int64), t["shape"])]
    nodes = [helper.make_node("Conv", [X, W1, W2], [t["c"]], name=NODES["conv"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", [t["c"]], [t["r"]], name=NODES["relu"]),
             helper.make_node("Conv", [X, "w\n1x1 */"], [t["c1"]], name=NODES["conv1"]),
             helper.make_node("Add", [t["r"], t["c1"]], [t["s"]], name=NODES["add"]),
             helper.make_node("MaxPool", [t["s"]], [t["p"]], name=NODES["pool"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Transpose", [t["p"]], [t["tr"]], name=NODES["tr"], perm=[0, 2, 3, 1]),
             helper.make_node("Reshape", [t["tr"], t["shape"]], [t["f"]], name=NODES["reshape"]),
             helper.make_node("Gemm", [t["f"], "g\u00e9mm ??/", "b */ %d"], [Y1], name=NODES["gemm"], transB=1),
             helper.make_node("Sigmoid", [t["s"]], [Y2], name=NODES["sig"])]
    graph = helper.make_graph(nodes, GRAPH, [helper.make_tensor_value_info(X, TensorProto.FLOAT, [1, 2, 6, 6])],
                              [helper.make_tensor_value_info(Y1, TensorProto.FLOAT, [1, 5]),
                               helper.make_tensor_value_info(Y2, TensorProto.FLOAT, [1, 4, 6, 6])], inits)
    graph.doc_string = "doc */ #error x\n??/ {{ doc }}"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    np.save(path.parent / "calib.npy", rng.uniform(-1, 1, (16, 2, 6, 6)).astype(np.float32))


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    """target -> built artifact directory, each built once for the module (ref first)."""
    base = tmp_path_factory.mktemp("hostile")
    _model(base / "model.onnx")
    built: dict[str, Path] = {}

    def get(target: str) -> Path:
        if target not in built:
            built[target] = Path(build(base / "model.onnx", target=target, calib=base / "calib.npy",
                                       out=base / target))
        return built[target]
    return get


def _feeds() -> dict[str, np.ndarray]:
    return {X: np.random.default_rng(1).uniform(-1, 1, (1, 2, 6, 6)).astype(np.float32)}


def _need(target: str) -> None:
    support = host_support(get_target(target))
    if not support.can_build:
        pytest.skip(f"target {target}: {support.why}")
    if target == "cuda":
        if shutil.which("g++") is None:
            pytest.skip("target cuda --emulate: g++ is missing (apt-get install g++)")
    elif not support.can_run:
        pytest.skip(f"target {target}: {support.why}")


def test_reference_is_not_trivial(artifacts):
    want = qcomp.load(artifacts("ref")).run(_feeds(), raw=True)
    assert list(want) == [Y1, Y2]
    for name, values in want.items():
        assert len(np.unique(values)) >= 4, f"{name!r}: too few distinct values to catch a broken backend"


@pytest.mark.parametrize("target", TARGETS)
def test_hostile_names_build_and_match_the_reference(artifacts, target):
    _need(target)
    art = artifacts(target)
    want = qcomp.load(artifacts("ref")).run(_feeds(), raw=True)
    got = qcomp.load(art, emulate=target == "cuda").run(_feeds(), raw=True)
    assert list(got) == list(want) == [Y1, Y2]
    for name in want:
        np.testing.assert_array_equal(got[name], want[name], err_msg=f"target {target}, output {name!r}")
    manifest = json.loads((art / "manifest.json").read_text())
    assert [o["name"] for o in manifest["outputs"]] == [Y1, Y2]   # names kept exactly where JSON carries them


@pytest.mark.parametrize("target", TARGETS)
def test_generated_sources_are_inert(artifacts, target):
    _need(target)
    art = artifacts(target)
    sources = [art / f for f in SOURCES if (art / f).is_file()]
    assert sources, f"target {target}: no generated source in {sorted(p.name for p in art.iterdir())}"
    for f in sources:
        text = f.read_bytes()
        assert text.isascii(), f"{f.name}: non-ASCII bytes (a model string got through unsanitized)"
        if f.suffix != ".ll":   # C, CUDA, headers, Makefile: no trigraph, no stray `#error` line
            assert b"??" not in text, f"{f.name}: a trigraph"
            assert not re.search(rb"^\s*#\s*(error|include <nothing)", text, re.M), f"{f.name}: injected directive"
    if (art / "model.ll").is_file():
        module_id = (art / "model.ll").read_text().splitlines()[0]
        assert re.fullmatch(r'; ModuleID = "model_[A-Za-z0-9_]*"', module_id), module_id
    if target == "cuda":
        kernels = [launch["kernel"] for launch in json.loads((art / "manifest.json").read_text())["launches"]]
        assert all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", k) for k in kernels) and len(set(kernels)) == len(kernels)


def test_c_sources_compile_warning_free(artifacts, tmp_path):
    _need("dsp-c")
    art = artifacts("dsp-c")
    cmd = ["cc", "-std=c99", "-Wall", "-Wextra", "-Wpedantic", "-Werror", "-c", "model.c", "weights.c",
           "qcomp_kernels.c", "qcomp_kernels_conv.c", "qcomp_kernels_elem.c", "qcomp_kernels_rows.c", "runner.c"]
    proc = subprocess.run(cmd, cwd=art, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "warning" not in proc.stderr
    for o in art.glob("*.o"):
        o.unlink()


def test_sanitizer_outputs():
    names = CNames()
    assert names.ident("w", W1) == "w_w_1" and names.ident("w", W2) == "w_w_1_2"     # a clash gets a suffix
    assert names.ident("y", Y1) == "y_out_1_error_x" and names.ident("y", Y2) == "y_out_1_error_x_2"
    assert names.ident("w", W1) == "w_w_1" and names.ident("k0", "") == "k0"       # stable per string
    assert len(names.ident("n", LONG)) <= 2 + 48
    short, long_ = c_char_array("ab?\""), c_char_array(LONG)
    assert short == '"ab\\077\\042"'
    assert long_.startswith("{ '\\303', '\\251', '\\114',") and long_.endswith(", '\\042', '\\052', '\\057', 0 }")
    assert len(LONG.encode()) > C99_LITERAL_CHARS
    com = c_comment(LONG)
    assert len(com) == COMMENT_CHARS and com.endswith("...") and "*/" not in com
    assert inert(c_comment(GRAPH)) == c_comment(GRAPH) and inert(7) == 7 and inert("int8_t") == "int8_t"
    for bad in (GRAPH, "a */ b", "x\ny", '"q"', "caf\u00e9", "??/"):
        with pytest.raises(ValueError, match="unsanitized"):
            inert(bad)
