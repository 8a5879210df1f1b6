"""x86-vnni artifacts built with `--mcpu`: the manifest records the CPU and the features it adds, two
CPUs give the same integers as the reference (only LLVM's instruction choice differs), and an
artifact for a CPU whose extensions this host lacks is refused at load and, through the C ABI, by the
library's own check (QCOMP_ERR_UNSUPPORTED_CPU, never SIGILL)."""
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

import qcomp
from qcomp import abi
from qcomp.codegen.llvm.cpus import CPUS, ISA_FLAGS
from qcomp.errors import QcompError
from qcomp.target import get_target, host_cpu_flags, host_support

REPO = Path(__file__).resolve().parents[3]
EX = REPO / "examples" / "fashion_mnist"
VNNI = get_target("x86-vnni")
pytestmark = pytest.mark.skipif(not host_support(VNNI).can_run, reason=f"x86-vnni: {host_support(VNNI).why}")
FLAGS = host_cpu_flags()
# a CPU this host can run (two builds compared) and one with an extension it lacks (the refusal)
RUNNABLE = [c for c in ("znver4", "icelake-server", "cascadelake") if all(ISA_FLAGS[f] in FLAGS for f in CPUS[c].isa)]
FOREIGN = next((c for c in ("sapphirerapids", "znver5", "cooperlake")
                if any(ISA_FLAGS[f] not in FLAGS for f in CPUS[c].isa)), None)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("mcpu")
    out = {}
    for name, mcpu in [("ref", None), ("default", None), ("runnable", RUNNABLE[0] if RUNNABLE else None),
                       ("foreign", FOREIGN)]:
        if name in ("runnable", "foreign") and mcpu is None:
            continue
        out[name] = qcomp.build(EX / "model.onnx", target="ref" if name == "ref" else "x86-vnni",
                                calib=EX / "calib.npz", calib_size=16, out=root / name, mcpu=mcpu)
    return out


def test_the_manifest_records_the_cpu(built):
    default = json.loads((built["default"] / "manifest.json").read_text())
    assert default["cpu"] == {"mcpu": "default", "llvm_cpu": VNNI.cpu, "zmm_halves": False}
    assert default["features"] == list(VNNI.host_features)
    if "runnable" not in built:
        pytest.skip("this host runs none of znver4, icelake-server, cascadelake")
    m = json.loads((built["runnable"] / "manifest.json").read_text())
    assert m["cpu"]["mcpu"] == m["cpu"]["llvm_cpu"] == RUNNABLE[0] and m["build_options"]["mcpu"] == RUNNABLE[0]
    assert set(m["features"]) == set(VNNI.host_features) | {ISA_FLAGS[f] for f in CPUS[RUNNABLE[0]].isa}


def test_two_cpus_bit_exact_to_ref(built):
    if "runnable" not in built:
        pytest.skip("this host runs none of znver4, icelake-server, cascadelake")
    x = {"input": np.load(EX / "input.npz")["input"].astype(np.float32)}
    want = qcomp.load(built["ref"]).run(x, raw=True)
    for name in ("default", "runnable"):
        got = qcomp.load(built[name]).run(x, raw=True)
        assert got.keys() == want.keys()
        for k in want:
            np.testing.assert_array_equal(got[k], want[k], err_msg=f"{name}: {k}")


DRIVER = r"""
#include <stdio.h>
#include <stdlib.h>
#include "model.h"
int main(void) {
  size_t size = qcomp_workspace_size();
  void *ws = aligned_alloc(QCOMP_WORKSPACE_ALIGN, (size + QCOMP_WORKSPACE_ALIGN - 1) / QCOMP_WORKSPACE_ALIGN * QCOMP_WORKSPACE_ALIGN);
  float x[28 * 28] = {0}, y[10];
  const void *ins[1] = {x};
  void *outs[1] = {y};
  printf("status %d\n", qcomp_run(ws, size, ins, outs));
  return 0;
}
"""


def test_a_cpu_this_host_lacks_is_refused_at_run_time(built, tmp_path):
    if "foreign" not in built:
        pytest.skip("this host has every extension of sapphirerapids, znver5 and cooperlake")
    art = built["foreign"]
    lacking = sorted(ISA_FLAGS[f] for f in CPUS[FOREIGN].isa if ISA_FLAGS[f] not in FLAGS)
    with pytest.raises(QcompError, match=r"needs CPU features .*" + lacking[0]):
        qcomp.load(art)
    (tmp_path / "driver.c").write_text(DRIVER)
    subprocess.run(["gcc", "-O1", "-I", str(art), "-o", str(tmp_path / "driver"), str(tmp_path / "driver.c"),
                    str(art / "model.so"), f"-Wl,-rpath,{art}"], check=True, capture_output=True)
    run = subprocess.run([str(tmp_path / "driver")], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, f"driver died: {run.returncode} {run.stderr}"
    assert run.stdout.strip() == f"status {abi.STATUS_OF['QCOMP_ERR_UNSUPPORTED_CPU']}"
