"""One source for the facts every backend shares, and every generated copy agrees with it.

- Status codes and messages, dtype codes, QCOMP_WORKSPACE_ALIGN and the raw flags: runtime/qcomp.h,
  read by qcomp.abi. The C backend's qcomp_status_string (compiled and called), the llvm backend's
  (model.so through ctypes) and the Python runtimes' messages return qcomp.abi's message for every
  code 0..10 and "unknown status" beyond; no message is retyped anywhere in qcomp/.
- Alignment: plan_memory, the backends and the runtimes use abi.WORKSPACE_ALIGN; a workspace off
  by half of it is refused with QCOMP_ERR_MISALIGNED by the llvm artifact.
- AddParams: the C struct (qcomp_kernels.h) and the CUDA struct (model.cu prelude) list the fields
  of qcomp.fixedpoint.AddParams in its order; the IR op QAdd carries the same fields.
"""
from __future__ import annotations

import ctypes
import dataclasses
import re
import subprocess
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from qcomp import abi
from qcomp.api import build
from qcomp.codegen import ADD_PARAMS_FIELDS
from qcomp.codegen.c import write_kernels
from qcomp.fixedpoint import AddParams
from qcomp.ir import qops
from qcomp.passes.plan_memory import ALIGN as PLAN_ALIGN
from qcomp.runtime import c as c_runtime
from qcomp.runtime import llvm as llvm_runtime
from qcomp.target import get_target, host_support

ROOT = Path(__file__).resolve().parents[2]
CODES = range(len(abi.STATUS) + 2)   # every code, and two beyond


def _need(target: str) -> None:
    support = host_support(get_target(target))
    if not support.can_run:
        pytest.skip(f"target {target}: {support.why}")


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("facts")
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.normal(0, 0.3, (4, 2, 3, 3)).astype(np.float32), "w")
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["y"], name="relu")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 5, 5])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 5, 5])], [w])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), base / "model.onnx")
    np.save(base / "calib.npy", rng.uniform(-1, 1, (8, 2, 5, 5)).astype(np.float32))
    return base


def _build(model: Path, target: str) -> Path:
    return Path(build(model / "model.onnx", target=target, calib=model / "calib.npy", out=model / target))


def _expected() -> list[str]:
    return [abi.status_message(code) for code in CODES]


def test_qcomp_h_defines_every_code_with_a_name_and_a_message():
    assert [s.value for s in abi.STATUS] == list(range(11))
    assert abi.STATUS[0].name == "QCOMP_OK" and abi.STATUS[-1].name == "QCOMP_ERR_BAD_FLAGS"
    assert all(re.fullmatch(r"QCOMP_(OK|ERR_[A-Z_]+)", s.name) and s.message for s in abi.STATUS)
    assert len({s.message for s in abi.STATUS}) == len(abi.STATUS)
    assert abi.status_message(abi.STATUS_OF["QCOMP_ERR_MISALIGNED"]) == "workspace not aligned to 64 bytes"
    assert abi.status_message(len(abi.STATUS)) == abi.status_message(-1) == abi.UNKNOWN_STATUS
    assert [(d.name, d.value, d.np) for d in abi.DTYPES] == [
        ("QCOMP_FLOAT32", 0, np.float32), ("QCOMP_INT8", 1, np.int8), ("QCOMP_UINT8", 2, np.uint8),
        ("QCOMP_INT32", 3, np.int32), ("QCOMP_INT64", 4, np.int64),
        ("QCOMP_BOOL", 5, np.bool_), ("QCOMP_INT16", 6, np.int16)]
    assert (abi.WORKSPACE_ALIGN, abi.RAW_INPUTS, abi.RAW_OUTPUTS, abi.ABI_VERSION, abi.MAX_RANK) == (64, 1, 2, 3, 8)
    assert (abi.MODEL_CODES, abi.RUN_FLAGS) == (4, 7)


def test_no_status_message_or_alignment_is_retyped():
    """Each message lives in runtime/qcomp.h only; no 64-byte alignment constant is retyped."""
    texts = {p: p.read_text() for p in (ROOT / "qcomp").rglob("*") if p.suffix in (".py", ".j2", ".c", ".h")}
    texts |= {p: p.read_text() for p in (ROOT / "runtime").rglob("*") if p.suffix == ".c"}
    for s in abi.STATUS[1:]:
        holders = [str(p.relative_to(ROOT)) for p, t in texts.items() if s.message in t]
        assert not holders, f"{s.name}'s message is retyped in {holders}"
    # the IR layer imports nothing of qcomp, so qcomp/ir/memory.py states the plan's alignment itself;
    # the assertion after the loop ties it to QCOMP_WORKSPACE_ALIGN
    plan_source = ROOT / "qcomp" / "ir" / "memory.py"
    for p, t in texts.items():
        if p != plan_source:
            assert not re.search(r"ALIGN\w* = 64\b|\.align = 64\b|// 64\) \* 64", t), f"{p}: a retyped alignment"
    assert PLAN_ALIGN == abi.WORKSPACE_ALIGN
    assert llvm_runtime.BAD_INPUT == abi.STATUS_OF["QCOMP_ERR_BAD_INPUT"]
    assert llvm_runtime.RAW_OUTPUTS == abi.RAW_OUTPUTS


def test_c_artifact_status_strings(model, tmp_path):
    _need("dsp-c")
    art = _build(model, "dsp-c")
    harness = ('#include <stdio.h>\n#include "model.h"\nint main(void) {\n  int i;\n'
               f"  for (i = 0; i < {len(CODES)}; ++i) printf(\"%s\\n\", qcomp_status_string((qcomp_status)i));\n"
               "  return 0;\n}\n")
    (tmp_path / "harness.c").write_text(harness)
    exe = tmp_path / "harness"
    cmd = ["cc", "-std=c99", "-Wall", "-Wextra", "-Wpedantic", "-Werror", "-I", str(art), "-o", str(exe),
           str(tmp_path / "harness.c"), *(str(art / f) for f in ("model.c", "weights.c", "qcomp_kernels.c",
                                                                 "qcomp_kernels_conv.c", "qcomp_kernels_elem.c", "qcomp_kernels_rows.c")), "-lm"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True, timeout=60).stdout
    assert out.splitlines() == _expected()


def test_llvm_artifact_status_strings_dtypes_and_alignment(model):
    _need("x86-vnni")
    art = _build(model, "x86-vnni")
    lib = ctypes.CDLL(str(art / "model.so"))
    lib.qcomp_status_string.argtypes, lib.qcomp_status_string.restype = [ctypes.c_int32], ctypes.c_char_p
    assert [lib.qcomp_status_string(code).decode() for code in CODES] == _expected()
    info = llvm_runtime.TensorInfo()
    lib.qcomp_input_info.argtypes = [ctypes.c_int32, ctypes.POINTER(llvm_runtime.TensorInfo)]
    assert lib.qcomp_input_info(0, ctypes.byref(info)) == abi.STATUS_OF["QCOMP_OK"]
    assert info.dtype == abi.DTYPE_OF_NUMPY[np.dtype(np.float32)].value
    assert lib.qcomp_output_raw_dtype(0) == abi.DTYPE_OF_NUMPY[np.dtype(np.int8)].value
    lib.qcomp_workspace_size.restype = ctypes.c_size_t
    size = lib.qcomp_workspace_size()
    buffer = np.zeros(size + 2 * abi.WORKSPACE_ALIGN, np.uint8)
    aligned = buffer.ctypes.data + (-buffer.ctypes.data) % abi.WORKSPACE_ALIGN
    x, y = np.zeros((1, 2, 5, 5), np.float32), np.zeros((1, 4, 5, 5), np.float32)
    ins, outs = (ctypes.c_void_p * 1)(x.ctypes.data), (ctypes.c_void_p * 1)(y.ctypes.data)
    lib.qcomp_run.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_void_p]
    half = abi.WORKSPACE_ALIGN // 2
    assert lib.qcomp_run(aligned + half, size, ins, outs) == abi.STATUS_OF["QCOMP_ERR_MISALIGNED"]
    assert lib.qcomp_run(aligned, size, ins, outs) == abi.STATUS_OF["QCOMP_OK"]


def test_c_runner_status_exit_offset_agrees():
    """qcomp.runtime.c reads runner.c's exit code 20 + status back as that status's message."""
    assert c_runtime._STATUS_EXIT == 20
    assert "return 20 + (int)status" in (ROOT / "qcomp/codegen/c/templates/runner.c").read_text()


def test_add_params_fields_come_from_the_dataclass(tmp_path, model):
    fields = tuple(f.name for f in dataclasses.fields(AddParams))
    assert ADD_PARAMS_FIELDS == fields
    assert set(fields) <= {f.name for f in dataclasses.fields(qops.QAdd)}
    write_kernels(tmp_path)
    struct = re.search(r"typedef struct \{([^}]*)\} AddParams;", (tmp_path / "qcomp_kernels.h").read_text()).group(1)
    assert tuple(re.findall(r"int32_t (\w+);", struct)) == fields
    from qcomp.codegen.cuda import environment
    prelude = environment().get_template("prelude.cu.j2").render(model="m", target="cuda")
    struct = re.search(r"struct AddParams \{([^}]*)\};", prelude).group(1)
    assert tuple(re.findall(r"int32_t (\w+);", struct)) == fields
    assert not re.search(r"zero_point\) <<", prelude)   # (a - zp) * 2^left_shift: no left shift of a negative value
