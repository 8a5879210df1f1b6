"""The generated C under every build configuration a firmware project may use, and its stack bound.

- Warning-free under -std=c99 -Wall -Wextra -Wpedantic -Werror with gcc and arm-none-eabi-gcc, at
  -O0 / -O2 / -Os / -O3, with -DQCOMP_NO_FLOAT, -DQCOMP_PORTABLE and -DQCOMP_PLAIN, for a model whose
  names are hostile to C (quotes, backslashes, newlines, `*/`, `??/`, non-ASCII; the sanitizer's
  output is what gets compiled) and for the bundled example.
- No dynamic allocation: no malloc/calloc/realloc/free/alloca in the sources nor among the
  objects' undefined symbols.
- The stack bound (toolchain.stack_bound on gcc's -fcallgraph-info=su graph) is the heaviest call
  chain, refuses recursion and unbounded frames, and is not below the peak the Cortex-M4 runner
  measures by painting the stack.
- The artifact's Makefile builds the Cortex-M4 program with plain `make`.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from qcomp.api import build, load_model
from qcomp.builder import BuildOptions, quantize_model
from qcomp.codegen.c import emit
from qcomp.codegen.c.toolchain import LIBRARY_FRAME_BYTES, MODEL_SOURCES, stack_bound
from qcomp.errors import QcompError
from qcomp.ir import verify
from qcomp.passes.lower_integer import lower_integer
from qcomp.runtime.c import load
from qcomp.target import get_target, host_support

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "fashion_mnist"
HEADERS = ("model.h", "qcomp.h", "qcomp_kernels.h", "qcomp_dot.h", "qcomp_dw_mve.h", "qcomp_requant.h")
WARNINGS = ["-std=c99", "-Wall", "-Wextra", "-Wpedantic", "-Werror"]
# (optimization, defines): every define at least once per compiler, -O0 and -O3 included
CONFIGS = [("-O2", []), ("-O0", ["-DQCOMP_NO_FLOAT"]), ("-Os", ["-DQCOMP_PORTABLE"]), ("-O3", ["-DQCOMP_PLAIN"]),
           ("-O2", ["-DQCOMP_NO_FLOAT", "-DQCOMP_PLAIN"])]
COMPILERS = {"gcc": ("gcc", [], "nm"),
             "arm-none-eabi-gcc": ("arm-none-eabi-gcc", ["-mthumb", "-mcpu=cortex-m4"], "arm-none-eabi-nm"),
             # the Helium (MVE) kernels
             "arm-none-eabi-gcc-m55": ("arm-none-eabi-gcc", ["-mthumb", "-mcpu=cortex-m55", "-mfloat-abi=hard"],
                                       "arm-none-eabi-nm")}
ALLOCATORS = {"malloc", "calloc", "realloc", "free", "alloca", "__builtin_alloca"}


def _need(tool: str) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed (scripts/setup.sh --test installs it)")


def _hostile_model(path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(0)
    x, y = 'in"put\\caf\u00e9', "y\n */ /* ??/"
    inits = [numpy_helper.from_array(rng.normal(0, 0.3, (4, 2, 3, 3)).astype(np.float32), "*/#include <x>"),
             numpy_helper.from_array(rng.normal(0, 0.1, 4).astype(np.float32), "b\u2603\\"),
             numpy_helper.from_array(rng.normal(0, 0.2, (3, 36)).astype(np.float32), "w'\"'"),
             numpy_helper.from_array(rng.normal(0, 0.1, 3).astype(np.float32), "\\n")]
    nodes = [helper.make_node("Conv", [x, "*/#include <x>", "b\u2603\\"], ['c"1'], name="conv */ \\",
                              pads=[1, 1, 1, 1], strides=[2, 2]),
             helper.make_node("Relu", ['c"1'], ["r\n1"], name="relu\u00e9\r"),
             helper.make_node("Flatten", ["r\n1"], ["f 1"], name='flat"ten'),
             helper.make_node("Gemm", ["f 1", "w'\"'", "\\n"], [y], name="??=gemm", transB=1)]
    graph = helper.make_graph(nodes, 'g*/"', [helper.make_tensor_value_info(x, TensorProto.FLOAT, [1, 2, 6, 6])],
                              [helper.make_tensor_value_info(y, TensorProto.FLOAT, [1, 3])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    np.save(path.parent / "calib.npy", rng.uniform(-1, 1, (8, 2, 6, 6)).astype(np.float32))


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    """Generated sources of the hostile-names model and of the bundled example (dsp-c)."""
    if not host_support(get_target("dsp-c")).can_build:
        pytest.skip(f"target dsp-c: {host_support(get_target('dsp-c')).why}")
    base = tmp_path_factory.mktemp("c_sources")
    _hostile_model(base / "hostile.onnx")
    return {"hostile": build(base / "hostile.onnx", target="dsp-c", calib=base / "calib.npy", out=base / "hostile"),
            "example": build(EXAMPLE / "model.onnx", target="dsp-c", calib=EXAMPLE / "calib.npz",
                             out=base / "example")}


@pytest.mark.parametrize("compiler", list(COMPILERS))
def test_warning_free_in_every_configuration_and_no_allocation(sources, compiler, tmp_path):
    cc, arch, nm = COMPILERS[compiler]
    _need(cc)
    for model, art in sources.items():
        text = "".join((art / f).read_text() for f in (*MODEL_SOURCES, "model.h", "qcomp_kernels.h"))
        assert not re.search(r"\b(malloc|calloc|realloc|free|alloca)\s*\(", text), model
        for opt, defines in CONFIGS:
            work = tmp_path / f"{model}{opt}{''.join(defines)}"
            work.mkdir()
            for f in (*MODEL_SOURCES, *HEADERS):
                shutil.copyfile(art / f, work / f)
            cmd = [cc, *arch, opt, *defines, *WARNINGS, "-c", *MODEL_SOURCES]
            proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=300)
            assert proc.returncode == 0 and not proc.stderr.strip(), f"{model}: {' '.join(cmd)}\n{proc.stderr}"
            undefined = subprocess.run([nm, "-u", *(f"{Path(s).stem}.o" for s in MODEL_SOURCES)], cwd=work,
                                       capture_output=True, text=True, check=True).stdout.split()
            assert not ALLOCATORS & set(undefined), f"{model} {opt} {defines}: {undefined}"


def _lex(source: str) -> tuple[list[str], list[str], str]:
    """(block comments, string literal bodies, the rest) of C source, as a C preprocessor splits them."""
    comments, literals, code, i = [], [], [], 0
    while i < len(source):
        if source.startswith("/*", i):
            j = source.index("*/", i + 2)
            comments.append(source[i + 2:j])
            i = j + 2
        elif source[i] == '"':
            j = i + 1
            while source[j] != '"':
                assert source[j] != "\n", "newline inside a string literal"
                j += 2 if source[j] == "\\" else 1
            literals.append(source[i + 1:j])
            i = j + 1
        else:
            code.append(source[i])
            i += 1
    return comments, literals, "".join(code)


def test_hostile_names_reach_c_only_sanitized(sources):
    """Model strings appear in the C only as octal-escaped literals or flattened comments."""
    for name in ("model.c", "weights.c", "model.h"):
        source = (sources["hostile"] / name).read_text()
        assert all(32 <= ord(ch) < 127 for ch in source.replace("\n", "")), name   # ASCII, no stray CR
        comments, literals, code = _lex(source)
        assert all("/*" not in c and "?" not in c and "\\" not in c for c in comments), name
        for literal in literals:   # printable ASCII but `"`, `\\` and `?`, or 3-digit octal escapes
            assert re.fullmatch(r'(?:[ !#->@-\[\]-~]|\\[0-7]{3})*', literal), literal
        assert "??" not in code and not re.search(r"^\s*#\s*include <x>", code, re.M), name
    comments, literals, _ = _lex((sources["hostile"] / "model.c").read_text())
    assert "in\\042put\\134caf\\303\\251" in literals                  # the input name
    assert "y\\012 */ /* \\077\\077/" in literals                         # the output name
    assert any("conv * / _" in c for c in comments)                           # `*/` and `\\` flattened


# ---- the stack bound ------------------------------------------------------------------------

def _node(title: str, frame: int | None, kind: str = "static") -> str:
    size = f"\\n{frame} bytes ({kind})\\n0 dynamic objects" if frame is not None else ""
    return f'node: {{ title: "{title}" label: "{title}\\nf.c:1:1{size}" }}\n'


def _edge(a: str, b: str) -> str:
    return f'edge: {{ sourcename: "{a}" targetname: "{b}" }}\n'


def test_stack_bound_is_the_heaviest_call_chain():
    # run(16) -> conv(100) -> f.c:dot(40) -> memcpy (library);  run -> add(200) -> requantize(24)
    a = _node("run", 16) + _node("conv", 100) + _node("f.c:dot", 40) + _node("memcpy", None) + \
        _edge("run", "conv") + _edge("conv", "f.c:dot") + _edge("f.c:dot", "memcpy") + _edge("run", "add")
    b = _node("add", 200) + _node("requantize", None) + _edge("add", "requantize")
    c = _node("requantize", 24, "dynamic,bounded")
    assert stack_bound([a, b, c]) == 16 + max(100 + 40 + LIBRARY_FRAME_BYTES, 200 + 24)
    assert stack_bound([a]) == 16 + max(100 + 40, 0) + LIBRARY_FRAME_BYTES   # add: outside the objects given
    with pytest.raises(QcompError, match="recursive"):
        stack_bound([a + _edge("f.c:dot", "run")])
    with pytest.raises(QcompError, match="not bounded"):
        stack_bound([_node("run", 16, "dynamic")])


def test_stack_bound_covers_the_measured_peak_on_cortex_m4(tmp_path):
    target = get_target("cortex-m4")
    if not host_support(target).can_run:
        pytest.skip(f"target cortex-m4: {host_support(target).why}")
    q, _ = quantize_model(load_model(EXAMPLE / "model.onnx", {}), BuildOptions(calib=str(EXAMPLE / "calib.npz")))
    graph = verify(lower_integer(q))
    x = {"input": np.load(EXAMPLE / "samples.npz")["input"][:1].astype(np.float32)}
    for plain in (False, True):
        out = tmp_path / f"plain{plain}"
        manifest = emit(graph, target, out, plain=plain)
        runner = load(out, manifest, target)
        runner.run(x, raw=False)        # float I/O: the soft-float quantize path is on the stack too
        assert manifest["stack_method"] == "call graph"
        assert 0 < runner.last_stack_bytes <= manifest["stack_bytes"], (plain, runner.last_stack_bytes, manifest)
        assert manifest["ram_bytes"] >= manifest["workspace_bytes"] + manifest["stack_bytes"]
        # plain `make` rebuilds the same Cortex-M4 program from the artifact alone
        if plain or shutil.which("make") is None:
            continue
        (out / "model.elf").unlink()
        proc = subprocess.run(["make", "-C", str(out)], capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        np.testing.assert_array_equal(load(out, manifest, target).run(x, raw=True)["logits"],
                                      runner.run(x, raw=True)["logits"])
