"""Model strings never reach the C source unsanitized, and the generated C honours the ABI of
runtime/qcomp.h (error codes instead of crashes, tensor info, raw and float forms)."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import qcomp
from qcomp import abi
from qcomp.api import build
from qcomp.codegen.names import CNames, c_comment, c_string
from qcomp.errors import UnsupportedModelError
from qcomp.target import get_target, host_support

EVIL = ['in"put\\', "x\ny */ /* ??/", "caf\u00e9 \u2603", "", "1st", "a-b", "a_b", "a b", "*/#include <x>"]
HARNESS = r"""
#include <stdio.h>
#include <string.h>
#include "model.h"

static uint8_t ws[QCOMP_MODEL_ARENA_BYTES + 64] QCOMP_ALIGNED(64);
static float in[QCOMP_MODEL_IO_BYTES / 4], out_f[QCOMP_MODEL_IO_BYTES / 4];
static int8_t in_q[QCOMP_MODEL_IO_BYTES], out_q[QCOMP_MODEL_IO_BYTES], out_q2[QCOMP_MODEL_IO_BYTES];

int main(void) {
  qcomp_tensor_info info;
  const void *inputs[1] = {in};
  void *outputs[1] = {out_f};
  const int8_t *inputs_q[1] = {in_q};
  int8_t *outputs_q[1] = {out_q};
  void *outputs_q2[1] = {out_q2};
  const unsigned char *p;
  int32_t i, n = qcomp_model_input_bytes[0] / 4;
  printf("abi %d inputs %d outputs %d\n", (int)qcomp_abi_version(), (int)qcomp_num_inputs(), (int)qcomp_num_outputs());
  printf("bad_index %d\n", (int)qcomp_input_info(7, &info));
  printf("null_info %d\n", (int)qcomp_output_info(0, NULL));
  qcomp_input_info(0, &info);
  printf("name ");
  for (p = (const unsigned char *)info.name; *p; ++p) printf("%02x", *p);
  printf("\nrank %d dtype %d zp %d\n", (int)info.rank, (int)info.dtype, (int)info.zero_point);
  printf("scale %.9e\n", (double)info.scale);
  for (i = 0; i < n; ++i) in[i] = (float)((i * 37) % 101) / 50.0f - 1.0f;
  printf("null_inputs %d\n", (int)qcomp_run(ws, sizeof ws, NULL, outputs));
  printf("small %d\n", (int)qcomp_run(ws, QCOMP_MODEL_ARENA_BYTES - 1, inputs, outputs));
  printf("misaligned %d\n", (int)qcomp_run(ws + 1, sizeof ws - 1, inputs, outputs));
  printf("null_ws %d\n", (int)qcomp_run(NULL, sizeof ws, inputs, outputs));
  printf("float %d\n", (int)qcomp_run(ws, sizeof ws, inputs, outputs));
  printf("ex %d\n", (int)qcomp_run_ex(ws, sizeof ws, inputs, outputs_q2, QCOMP_RAW_OUTPUTS));
  for (i = 0; i < n; ++i) in_q[i] = (int8_t)((i * 37) % 101 - 50);
  printf("raw %d\n", (int)qcomp_run_raw(ws, sizeof ws, inputs_q, outputs_q));
  printf("raw_dtype %d bad %d\n", (int)qcomp_output_raw_dtype(0), (int)qcomp_output_raw_dtype(3));
  printf("status %s\n", qcomp_status_string(QCOMP_ERR_MISALIGNED));
  printf("threads %d %d %d\n", (int)qcomp_get_num_threads(), (int)qcomp_set_num_threads(4),
         (int)qcomp_set_num_threads(-1));
  printf("out_q ");
  for (i = 0; i < qcomp_model_output_raw_bytes[0]; ++i) printf("%d,", out_q2[i]);
  printf("\nraw_out ");
  for (i = 0; i < qcomp_model_output_raw_bytes[0]; ++i) printf("%d,", out_q[i]);
  printf("\n");
  return 0;
}
"""


def _skip_unless(target: str) -> None:
    support = host_support(get_target(target))
    if not support.can_run:
        pytest.skip(f"target {target}: {support.why}")


def test_identifiers_are_c_identifiers_and_unique():
    names = CNames()
    idents = [names.ident("w", s) for s in EVIL]
    assert all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", i) for i in idents), idents
    assert len(set(idents)) == len(EVIL)                      # "a-b", "a_b", "a b" collide, get suffixes
    assert names.ident("w", EVIL[0]) == idents[0]             # stable per string
    assert names.ident("n0", "a-b") != names.ident("w", "a-b")


def test_strings_and_comments_are_inert():
    for s in EVIL:
        lit = c_string(s)
        assert lit.startswith('"') and lit.endswith('"')
        body = lit[1:-1]
        assert all(32 <= ord(ch) < 127 for ch in body) and "??" not in body
        assert not re.search(r'(?<!\\)"', body.replace("\\\\", ""))
        com = c_comment(s)
        assert "*/" not in com and "/*" not in com and "\n" not in com and "?" not in com and "\\" not in com


def _evil_model(path: Path) -> str:
    """Conv -> Relu -> MaxPool -> Flatten -> Gemm whose every name is hostile to C."""
    rng = np.random.default_rng(0)
    x_name, y_name = EVIL[0] + EVIL[2], EVIL[1]
    inits = [numpy_helper.from_array(rng.normal(0, 0.3, (4, 1, 3, 3)).astype(np.float32), EVIL[8]),
             numpy_helper.from_array(rng.normal(0, 0.1, 4).astype(np.float32), EVIL[2] + "b"),
             numpy_helper.from_array(rng.normal(0, 0.2, (5, 64)).astype(np.float32), EVIL[5]),
             numpy_helper.from_array(rng.normal(0, 0.1, 5).astype(np.float32), EVIL[6])]
    nodes = [helper.make_node("Conv", [x_name, EVIL[8], EVIL[2] + "b"], ["c\"1"], name="conv */ \\", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c\"1"], ["r\n1"], name="relu\u00e9"),
             helper.make_node("MaxPool", ["r\n1"], ["p??/1"], name="pool??/", kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Flatten", ["p??/1"], ["f 1"], name="flat\"ten"),
             helper.make_node("Gemm", ["f 1", EVIL[5], EVIL[6]], [y_name], name=EVIL[7], transB=1)]
    graph = helper.make_graph(nodes, "g*/\"", [helper.make_tensor_value_info(x_name, TensorProto.FLOAT, [1, 1, 8, 8])],
                              [helper.make_tensor_value_info(y_name, TensorProto.FLOAT, [1, 5])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    np.save(path.parent / "calib.npy", rng.uniform(-1, 1, (16, 1, 8, 8)).astype(np.float32))
    return x_name


@pytest.fixture(scope="module")
def evil(tmp_path_factory):
    base = tmp_path_factory.mktemp("evil")
    x_name = _evil_model(base / "model.onnx")
    return base, x_name


@pytest.mark.parametrize("target", ["dsp-c", "cortex-m4"])
def test_hostile_names_build_and_match_the_reference(evil, target):
    _skip_unless(target)
    base, x_name = evil
    c = qcomp.load(build(base / "model.onnx", target=target, calib=base / "calib.npy", out=base / target))
    ref = qcomp.load(build(base / "model.onnx", target="ref", calib=base / "calib.npy", out=base / f"ref-{target}"))
    x = np.random.default_rng(1).uniform(-1, 1, (1, 1, 8, 8)).astype(np.float32)
    got, want = c.run({x_name: x}, raw=True), ref.run({x_name: x}, raw=True)
    assert list(got) == list(want) == [EVIL[1]]
    np.testing.assert_array_equal(got[EVIL[1]], want[EVIL[1]])
    source = (base / target / "model.c").read_text()
    assert EVIL[1] not in source and "\\\\\n" not in source


def _ints(text: str) -> np.ndarray:
    return np.array([int(v) for v in text.strip(",").split(",")], np.int8)


@pytest.mark.parametrize("no_float", [False, True], ids=["float-io", "QCOMP_NO_FLOAT"])
def test_abi_error_codes_names_and_raw_forms(evil, tmp_path, no_float):
    _skip_unless("dsp-c")
    base, x_name = evil
    art = base / f"abi-{no_float}"
    build(base / "model.onnx", target="dsp-c", calib=base / "calib.npy", out=art)
    (art / "harness.c").write_text(HARNESS)
    cmd = ["cc", "-std=c99", "-Wall", "-Wextra", "-Wpedantic", "-Werror", "-o", str(tmp_path / "harness"),
           "harness.c", "model.c", "weights.c", "qcomp_kernels.c", "qcomp_kernels_conv.c", "qcomp_kernels_elem.c", "qcomp_kernels_rows.c", "-lm",
           *(["-DQCOMP_NO_FLOAT"] if no_float else [])]
    proc = subprocess.run(cmd, cwd=art, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = dict(line.split(" ", 1) for line in subprocess.run(
        [str(tmp_path / "harness")], capture_output=True, text=True, check=True, timeout=60).stdout.splitlines())
    assert lines["abi"] == f"{abi.ABI_VERSION} inputs 1 outputs 1"
    assert lines["bad_index"] == "2" and lines["null_info"] == "1"
    assert bytes.fromhex(lines["name"]).decode("utf-8") == x_name
    assert lines["rank"] == "4 dtype 0 zp " + lines["rank"].split()[-1]
    assert lines["null_inputs"] == "1" and lines["small"] == "3" and lines["misaligned"] == "4"
    assert lines["null_ws"] == "1" and lines["raw"] == "0"
    assert lines["raw_dtype"] == "1 bad -1"
    assert "aligned" in lines["status"]
    assert lines["threads"] == "1 1 -1"       # single-threaded; a negative count is refused
    ref = qcomp.load(build(base / "model.onnx", target="ref", calib=base / "calib.npy", out=base / f"ref-{no_float}"))
    if no_float:   # the float forms are compiled out and say so
        assert lines["float"] == "6" and lines["ex"] == "6"
    else:          # qcomp_run_ex(QCOMP_RAW_OUTPUTS) on float input equals the reference's raw output
        assert lines["float"] == "0" and lines["ex"] == "0"
        x = ((np.arange(64) * 37) % 101).astype(np.float32) / np.float32(50) - np.float32(1)
        want = ref.run({x_name: x.reshape(1, 1, 8, 8)}, raw=True)[EVIL[1]]
        np.testing.assert_array_equal(_ints(lines["out_q"]), want.ravel())
    # qcomp_run_raw on int8 input q equals the reference on the float input that quantizes to q
    q = ((np.arange(64) * 37) % 101 - 50).astype(np.int8)
    scale, zp = np.float32(float(lines["scale"])), int(lines["rank"].split()[-1])
    x = (q.astype(np.float32) - np.float32(zp)) * scale
    want = ref.run({x_name: x.reshape(1, 1, 8, 8)}, raw=True)[EVIL[1]]
    np.testing.assert_array_equal(_ints(lines["raw_out"]), want.ravel())


def test_unsupported_op_names_target_node_op_and_dtypes(tmp_path):
    """A Softmax whose rows exceed the integer Softmax's 4095 elements stays in float after the int8
    region: the C backend refuses it at build, clearly, naming the limit."""
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.normal(0, 0.3, (3, 4100)).astype(np.float32), "w")
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"], name="mm"),
             helper.make_node("Softmax", ["h"], ["y"], name="my softmax", axis=-1)]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4100])], [w])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "m.onnx")
    np.save(tmp_path / "calib.npy", rng.normal(0, 1, (8, 2, 3)).astype(np.float32))
    with pytest.raises(UnsupportedModelError) as e:
        build(tmp_path / "m.onnx", target="dsp-c", calib=tmp_path / "calib.npy", out=tmp_path / "out")
    msg = str(e.value)
    assert "dsp-c" in msg and "'my softmax'" in msg and "Softmax" in msg and "f32" in msg
    assert "4100 elements" in msg and "1 to 4095" in msg and "float math" in msg
