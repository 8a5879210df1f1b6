"""The plumbing of scripts/gpu_check.sh without a GPU: the bundle, the script end to end on the stand-in
driver (gpu_standin.py: the CPU emulation behind the CUDA driver API), the report's sections, and steps
that fail loudly.

The bundle is the bundled example only (benchmarks/gpu_bundle.py --models fashion_mnist, no wheels),
with its three variants (sm_90 SASS, compute_80 and compute_75 PTX). A corrupted expected output and a
missing fatbin must each make the script exit 1 with the failed step named in the report, while every
other step still runs and is reported. Nothing here runs on a GPU.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cuda_harness import emulation_skip

REPO = Path(__file__).resolve().parents[3]
SCRIPT = REPO / "scripts" / "gpu_check.sh"
SECTIONS = ("## Steps", "## Environment", "## Bit-exact", "## Batch-1 latency", "## Per-kernel times (largest model)",
            "## onnxruntime-gpu")
VARIANTS = ("sm_90", "sm_80", "sm_75")


def _skip() -> str | None:
    from qcomp.codegen.cuda.nvcc import find_nvcc
    from qcomp.target import get_target
    if find_nvcc(get_target("cuda")) is None:
        return "target cuda: nvcc is missing (pip install nvidia-cuda-nvcc): the bundle needs fatbins"
    return emulation_skip()


pytestmark = pytest.mark.skipif(_skip() is not None, reason=str(_skip()))


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import gpu_bundle
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    out = tmp_path_factory.mktemp("gpu") / "bundle"
    meta = gpu_bundle.prepare(out, ("fashion_mnist",), wheels=False)
    assert meta["largest"] == "fashion_mnist" and meta["bytes"] < gpu_bundle.MAX_BUNDLE_BYTES
    return out


def _check(bundle: Path, out: Path, *extra: str) -> tuple[int, str, str]:
    env = dict(os.environ, OUT=str(out), QCOMP_GPU_PYTHON=sys.executable, QCOMP_GPU_TIMEOUT_S="240")
    r = subprocess.run(["bash", str(SCRIPT), "--bundle", str(bundle), "--stand-in", "--repeats", "3", "--warmup", "1",
                        *extra], capture_output=True, text=True, env=env, timeout=300)
    reports = list(out.glob("*.md"))
    assert len(reports) == 1, (r.stdout, r.stderr, reports)    # one report file, in $OUT
    return r.returncode, reports[0].read_text(), r.stderr


def _status(report: str, step: str) -> str:
    row = next((line for line in report.splitlines() if line.startswith(f"| {step} |")), None)
    assert row is not None, f"step {step!r} is not in the report"
    return row.split("|")[2].strip().strip("*")


def test_bundle_layout(bundle):
    meta = json.loads((bundle / "bundle.json").read_text())
    model = bundle / "fashion_mnist"
    assert sorted(p.name for p in (model / "common").iterdir()) == ["model.cu", "model.h", "qcomp_cuda_emulate.h",
                                                                    "weights.bin"]
    for v in VARIANTS:
        manifest = json.loads((model / "variants" / v / "manifest.json").read_text())
        assert manifest["architectures"] == meta["models"][0]["variants"][v]["architectures"]
        assert "graph" not in manifest["files"] and manifest["files"]["fatbin"] == "model.fatbin"
    assert meta["models"][0]["variants"]["sm_80"]["architectures"] == ["compute_80"]
    assert meta["models"][0]["variants"]["sm_75"]["architectures"] == ["compute_75"]
    with np.load(model / "expected.npz") as z:
        assert z["logits"].dtype == np.int8 and np.unique(z["logits"]).size > 8
    rows = json.loads((model / "roofline.json").read_text())["launches"]
    assert len(rows) == meta["models"][0]["launches"] and all(r["bound_us"] > 0 for r in rows)


def test_script_end_to_end_on_the_stand_in(bundle, tmp_path):
    code, report, stderr = _check(bundle, tmp_path)
    assert code == 0, report + stderr
    for section in SECTIONS:
        assert section in report, section
    assert "STAND-IN mode" in report and "nothing here ran on a GPU" in report
    for v in VARIANTS:
        assert _status(report, f"bit-exact fashion_mnist {v}") == "OK"
        assert f"| fashion_mnist | {v} | logits | yes | 0 / 10 |" in report
    for step in ("bundle", "environment", "latency fashion_mnist", "per-kernel fashion_mnist"):
        assert _status(report, step) == "OK"
    assert _status(report, "occupancy fashion_mnist") == "SKIPPED"      # named, with its reason
    assert _status(report, "onnxruntime-gpu") == "SKIPPED" and "255.6 MB" in report
    assert "compute capability 9.0" in report
    kernels = [line for line in report.splitlines() if line.startswith("| ") and "`k" in line]
    assert len(kernels) == 8      # every launch of the plan, with its roofline bound


def test_broken_steps_fail_loudly_and_the_rest_still_runs(bundle, tmp_path):
    broken = tmp_path / "bundle"
    shutil.copytree(bundle, broken)
    model = broken / "fashion_mnist"
    with np.load(model / "expected.npz") as z:
        expected = {k: z[k].copy() for k in z.files}
    expected["logits"][0, 3] ^= 1
    np.savez(model / "expected.npz", **expected)
    (model / "variants" / "sm_80" / "model.fatbin").unlink()
    meta = json.loads((broken / "bundle.json").read_text())
    (broken / "bundle.json").write_text(json.dumps(meta | {"qcomp_sources": "0" * 64}))   # built from other sources
    out = tmp_path / "out"
    code, report, stderr = _check(broken, out)
    assert code == 1
    assert ("FAILED: bundle, bit-exact fashion_mnist sm_90, bit-exact fashion_mnist sm_80, bit-exact fashion_mnist "
            "sm_75)") in report
    assert _status(report, "bundle") == "FAILED" and "built from other qcomp sources" in report
    assert "| fashion_mnist | sm_90 | logits | no | 1 / 10 | (0, 3): got" in report
    assert _status(report, "bit-exact fashion_mnist sm_80") == "FAILED" and "model.fatbin is missing" in report
    for step in ("environment", "latency fashion_mnist", "per-kernel fashion_mnist"):
        assert _status(report, step) == "OK"
    assert "FAILED steps: bundle, bit-exact fashion_mnist sm_90" in stderr


def test_missing_bundle_and_spent_budget_fail_loudly(bundle, tmp_path):
    code, report, _ = _check(tmp_path / "no-bundle", tmp_path / "a")
    assert code == 1 and "step **bundle**: FAILED" in report
    code, report, _ = _check(bundle, tmp_path / "b", "--budget-s", "0")
    assert code == 1 and _status(report, "bundle") == "FAILED" and "time budget" in report
    for section in SECTIONS:
        assert section in report, section


NCU_CSV = '''==PROF== Connected to process 123
"ID","Process ID","Process Name","Host Name","Kernel Name","Context","Stream","Block Size","Grid Size","Device","CC","Section Name","Metric Name","Metric Unit","Metric Value"
"0","123","python3","127.0.0.1","k0_quantize_input(signed char const*, float const*)","1","7","(256, 1, 1)","(4, 1, 1)","0","9.0","Command line profiler metrics","gpu__time_duration.sum","usecond","2.11"
"0","123","python3","127.0.0.1","k0_quantize_input(signed char const*, float const*)","1","7","(256, 1, 1)","(4, 1, 1)","0","9.0","Command line profiler metrics","sm__warps_active.avg.pct_of_peak_sustained_active","%","12.5"
"1","123","python3","127.0.0.1","k1_qconv2d","1","7","(16, 16, 1)","(25, 1, 1)","0","9.0","Command line profiler metrics","gpu__time_duration.sum","usecond","1,204.00"
==PROF== Disconnected from process 123
'''


def test_ncu_csv_is_read_per_launch():
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        from gpu_timing import parse_ncu_csv
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    rows = parse_ncu_csv(NCU_CSV)
    assert rows == [{"kernel": "k0_quantize_input", "gpu__time_duration.sum": 2.11,
                     "sm__warps_active.avg.pct_of_peak_sustained_active": 12.5},
                    {"kernel": "k1_qconv2d", "gpu__time_duration.sum": 1204.0}]
    with pytest.raises(ValueError, match="no CSV table"):
        parse_ncu_csv("==ERROR== the profiler could not start\n")


def test_stand_in_event_calls_match_the_cuda_bindings():
    """The calls the check adds (events, device name, driver version) exist in cuda.bindings.driver with the
    stand-in's number of arguments."""
    import inspect
    driver = pytest.importorskip("cuda.bindings.driver", reason="cuda-bindings is not installed (the cuda extra)")
    from gpu_standin import StandInDriver
    for name in ("cuDriverGetVersion", "cuDeviceGetName", "cuEventCreate", "cuEventRecord", "cuEventSynchronize",
                 "cuEventElapsedTime", "cuEventDestroy"):
        first = getattr(driver, name).__doc__.strip().splitlines()[0]
        inside = first[first.index("(") + 1:first.rindex(")")].strip()
        want = 0 if not inside else len(inside.split(","))
        got = len(inspect.signature(getattr(StandInDriver, name)).parameters) - 1
        assert got == want, f"{name}: stand-in takes {got} arguments, cuda.bindings: {first}"


def _fake_ncu(tmp_path: Path, body: str) -> Path:
    ncu = tmp_path / "bin" / "ncu"
    ncu.parent.mkdir()
    ncu.write_text("#!/bin/sh\n" + body)
    ncu.chmod(0o755)
    return ncu


def test_occupancy_step_reads_ncu_and_fails_loudly_on_its_error(bundle, tmp_path, monkeypatch):
    """The GPU-only step, against a stand-in ncu: its CSV fills the report's achieved-occupancy column;
    an ncu that fails (or profiles another number of launches) fails the step with its own words."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import gpu_check
        import gpu_report
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    launches = json.loads((bundle / "bundle.json").read_text())["models"][0]["launches"]
    header = NCU_CSV.splitlines()[1]
    rows = [f'"{i}","1","python3","h","k{i}","1","7","(256, 1, 1)","(1, 1, 1)","0","9.0","s",'
            f'"sm__warps_active.avg.pct_of_peak_sustained_active","%","{10 + i}.5"' for i in range(launches)]
    csv_file = tmp_path / "ncu.csv"
    csv_file.write_text("\n".join([header, *rows]) + "\n")
    ncu = _fake_ncu(tmp_path, f'cat "{csv_file}"\n')
    monkeypatch.setenv("PATH", f"{ncu.parent}:{os.environ['PATH']}")
    check = gpu_check.Check(bundle, tmp_path / "r.md", False, 3, 60)
    check.step("occupancy fashion_mnist", "occupancy", "fashion_mnist")
    assert check.steps[-1]["status"] == "OK", check.steps[-1]
    check.kernel_times = {"model": "fashion_mnist", "us": [1.0] * launches,
                          "rows": json.loads((bundle / "fashion_mnist" / "roofline.json").read_text())["launches"]}
    assert "| 12% |" in gpu_report.render(check)     # launch 2's achieved occupancy, 12.5%
    csv_file.write_text("\n".join([header, *rows[:-1]]) + "\n")
    check.step("occupancy fashion_mnist", "occupancy", "fashion_mnist")
    assert check.steps[-1]["status"] == "FAILED" and f"the plan has {launches}" in check.steps[-1]["detail"]
    ncu.write_text("#!/bin/sh\necho '==ERROR== ERR_NVGPUCTRPERM: no permission to the counters' >&2\nexit 1\n")
    check.step("occupancy fashion_mnist", "occupancy", "fashion_mnist")
    assert check.steps[-1]["status"] == "FAILED" and "ERR_NVGPUCTRPERM" in check.steps[-1]["detail"]
    assert check.failed == ["occupancy fashion_mnist"] * 2


def test_cuda_bindings_accept_the_timing_calls(bundle, tmp_path):
    """Replay every driver call of the latency and per-kernel timing (recorded on the stand-in) against the
    real cuda.bindings.driver, with the stand-in's handles replaced by the bindings' types: the bindings
    convert every argument before they look for the driver, so on this GPU-less host a call may fail only
    because libcuda.so is missing, never with a TypeError on an argument."""
    driver = pytest.importorskip("cuda.bindings.driver", reason="cuda-bindings is not installed (the cuda extra)")
    from qcomp.runtime.cuda_driver import probe_gpu
    if probe_gpu() is None:
        pytest.skip("this host has a GPU: replaying recorded pointers there is not safe")
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import gpu_check
        from gpu_timing import time_kernels, time_model
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    check = gpu_check.Check(bundle, tmp_path / "r.md", True, 2, 60)
    art = check.open("fashion_mnist", "sm_90")
    feeds = check._device_feeds(art, "fashion_mnist")
    fake = check.runner.driver
    fake.log.clear()
    t = time_model(check.runner, feeds, warmup=1, repeats=2, host_repeats=1)
    us = time_kernels(check.runner, feeds, warmup=0, repeats=1)
    assert t["median_ms"] > 0 and len(us) == len(check.runner.launches) and min(us) > 0
    calls = list(fake.log)
    check.runner.close()
    events = {"cuEventRecord": (0,), "cuEventSynchronize": (0,), "cuEventElapsedTime": (0, 1), "cuEventDestroy": (0,)}
    replayed = set()
    for call, args in calls:
        args = list(args)
        for i in events.get(call, ()):
            args[i] = driver.CUevent()
        args = [driver.CUdeviceptr(int(a)) if isinstance(a, fake.CUdeviceptr) else a for a in args]
        if call == "cuLaunchKernel":
            args[0] = driver.CUfunction()
        if call in ("cuCtxSetCurrent",):
            args[0] = driver.CUcontext()
        try:
            getattr(driver, call)(*args)
        except (TypeError, ValueError, OverflowError) as e:
            pytest.fail(f"cuda.bindings rejects the arguments of {call}{tuple(args)}: {e}")
        except Exception:   # noqa: BLE001 - the driver library is missing: expected here
            pass
        replayed.add(call)
    assert {"cuEventCreate", "cuEventRecord", "cuEventSynchronize", "cuEventElapsedTime", "cuEventDestroy",
            "cuMemsetD8", "cuLaunchKernel"} <= replayed
