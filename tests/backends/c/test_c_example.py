"""The bundled example through the dsp-c backend: `qcomp build --target dsp-c / cortex-m4`, then
`--raw` outputs equal to the ref target's exactly, on the host and on Cortex-M4 under QEMU;
the artifact's files, manifest figures, Makefile, -DQCOMP_NO_FLOAT build, and no float, malloc
or recursion in the model's objects."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import qcomp
from qcomp.target import get_target, host_support

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "examples" / "fashion_mnist"
MODEL_SOURCES = ["model.c", "weights.c", "qcomp_kernels.c", "qcomp_kernels_conv.c", "qcomp_kernels_elem.c", "qcomp_kernels_rows.c"]


def _skip_unless(target: str) -> None:
    support = host_support(get_target(target))
    if not support.can_run:
        pytest.skip(f"target {target}: {support.why}")


def _build(target: str, out: Path) -> Path:
    cmd = [sys.executable, "-m", "qcomp", "build", str(EXAMPLE / "model.onnx"), "--target", target,
           "--calib", str(EXAMPLE / "calib.npz"), "-o", str(out)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    if target != "ref":   # `qcomp build` prints the flash and RAM figures the manifest records
        m = json.loads((out / "manifest.json").read_text())
        assert (f"flash {m['flash_bytes']:,} bytes (code + weights), RAM {m['ram_bytes']:,} bytes "
                f"(arena {m['workspace_bytes']:,} + static data + stack bound {m['stack_bytes']:,})") in proc.stdout
    return out


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    base = tmp_path_factory.mktemp("example")
    made = {"ref": _build("ref", base / "ref")}
    for target in ("dsp-c", "cortex-m4"):
        if host_support(get_target(target)).can_run:
            made[target] = _build(target, base / target)
    return made


@pytest.fixture(scope="module")
def samples():
    return np.load(EXAMPLE / "samples.npz")["input"].astype(np.float32)


@pytest.mark.parametrize("target,count", [("dsp-c", 500), ("cortex-m4", 12)])
def test_raw_and_float_outputs_equal_the_reference(artifacts, samples, target, count):
    _skip_unless(target)
    c, ref = qcomp.load(artifacts[target]), qcomp.load(artifacts["ref"])
    step = len(samples) // count
    for i in range(0, step * count, step):
        feeds = {"input": samples[i:i + 1]}
        got, want = c.run(feeds, raw=True), ref.run(feeds, raw=True)
        assert got["logits"].dtype == np.int8
        np.testing.assert_array_equal(got["logits"], want["logits"], err_msg=f"sample {i} on {target}")
    np.testing.assert_array_equal(c.run(feeds)["logits"], ref.run(feeds)["logits"])


def test_cli_run_raw_matches_ref(artifacts, tmp_path):
    _skip_unless("dsp-c")
    np.savez(tmp_path / "in.npz", input=np.load(EXAMPLE / "samples.npz")["input"][:1].astype(np.float32))
    outs = {}
    for target in ("dsp-c", "ref"):
        cmd = [sys.executable, "-m", "qcomp", "run", str(artifacts[target]), "--input", str(tmp_path / "in.npz"),
               "--raw", "-o", str(tmp_path / f"{target}.npz")]
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        outs[target] = np.load(tmp_path / f"{target}.npz")["logits"]
    np.testing.assert_array_equal(outs["dsp-c"], outs["ref"])


@pytest.mark.parametrize("target", ["dsp-c", "cortex-m4"])
def test_files_and_manifest_figures(artifacts, target):
    _skip_unless(target)
    out = artifacts[target]
    m = json.loads((out / "manifest.json").read_text())
    for name in ("model.c", "model.h", "weights.c", "qcomp_kernels.c", "qcomp_kernels.h", "Makefile", "qcomp.h"):
        assert (out / name).is_file(), name
    arena = int(re.search(r"#define QCOMP_MODEL_ARENA_BYTES (\d+)", (out / "model.h").read_text()).group(1))
    assert arena == m["workspace_bytes"] > 0
    assert m["workspace_bytes"] < m["activation_bytes"]          # the liveness plan reuses memory
    assert m["flash_bytes"] > m["weight_bytes"] * 0.9             # the weights are in flash
    assert m["ram_bytes"] >= arena + m["stack_bytes"] and m["stack_bytes"] > 0
    weights = (out / "weights.c").read_text()
    assert "const int8_t w_" in weights and "QCOMP_ALIGNED(16)" in weights


def _compile(cc: str, flags: list[str], src: Path, dst: Path) -> None:
    for f in MODEL_SOURCES + ["model.h", "qcomp.h", "qcomp_kernels.h", "qcomp_dot.h", "qcomp_dw_mve.h", "qcomp_requant.h"]:
        shutil.copyfile(src / f, dst / f)
    cmd = [cc, "-std=c99", "-O2", *flags, "-Wall", "-Wextra", "-Wpedantic", "-Werror", "-c", *MODEL_SOURCES]
    proc = subprocess.run(cmd, cwd=dst, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr


def _undefined(nm: str, dst: Path) -> set[str]:
    out = subprocess.run([nm, "-u", *(f"{Path(s).stem}.o" for s in MODEL_SOURCES)], cwd=dst, capture_output=True,
                         text=True, check=True).stdout
    return {line.split()[-1] for line in out.splitlines() if line.strip() and not line.endswith(":")}


def test_no_float_build_has_no_float_code_and_no_malloc(artifacts, tmp_path):
    """Cortex-M4 without an FPU does float math through libgcc (__aeabi_f*, __aeabi_d*): with
    -DQCOMP_NO_FLOAT no such call (nor rintf, malloc, free) remains; without it, they do."""
    _skip_unless("cortex-m4")
    flags = ["-mthumb", "-mcpu=cortex-m4"]
    float_calls = re.compile(r"^(__aeabi_[fd]|__aeabi_[if]2[fd]|rintf|.*float)")
    _compile("arm-none-eabi-gcc", [*flags, "-DQCOMP_NO_FLOAT"], artifacts["cortex-m4"], tmp_path)
    undefined = _undefined("arm-none-eabi-nm", tmp_path)
    assert not {s for s in undefined if float_calls.match(s)}, undefined
    assert not undefined & {"malloc", "calloc", "realloc", "free"}, undefined
    with_float = tmp_path / "float"
    with_float.mkdir()
    _compile("arm-none-eabi-gcc", flags, artifacts["cortex-m4"], with_float)
    assert {s for s in _undefined("arm-none-eabi-nm", with_float) if float_calls.match(s)}


def test_no_recursion(artifacts, tmp_path):
    """gcc's call graph of the model's objects (-fcallgraph-info) has no cycle."""
    _skip_unless("dsp-c")
    _compile("cc", ["-fcallgraph-info"], artifacts["dsp-c"], tmp_path)
    edges: dict[str, set[str]] = {}
    for ci in tmp_path.glob("*.ci"):
        for src, dst in re.findall(r'edge: \{ sourcename: "([^"]+)" targetname: "([^"]+)"', ci.read_text()):
            edges.setdefault(src, set()).add(dst)
    assert sum(map(len, edges.values())) > 10
    state: dict[str, int] = {}

    def visit(f: str) -> None:
        state[f] = 1
        for g in edges.get(f, ()):
            assert state.get(g) != 1, f"recursion through {f} -> {g}"
            if g not in state:
                visit(g)
        state[f] = 2

    for f in list(edges):
        if f not in state:
            visit(f)


def test_makefile_builds_the_runner(artifacts, tmp_path):
    _skip_unless("dsp-c")
    if shutil.which("make") is None:
        pytest.skip("make is not installed (Debian package make)")
    work = tmp_path / "a"
    shutil.copytree(artifacts["dsp-c"], work)
    (work / "runner").unlink()
    proc = subprocess.run(["make", "-C", str(work)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert (work / "runner").is_file()
