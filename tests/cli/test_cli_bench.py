"""`qcomp bench`: latency of an artifact on random valid inputs, alone and against onnxruntime FP32
and int8 (figures are printed, never asserted: only the shape of the output and the errors are)."""
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import qcomp
from qcomp.bench import BenchResult, Timing, format_result, random_feeds
from qcomp.target import get_target, host_support

REPO = Path(__file__).resolve().parents[2]
EX = REPO / "examples" / "fashion_mnist"
runs_vnni = pytest.mark.skipif(not host_support(get_target("x86-vnni")).can_run,
                               reason=f"target x86-vnni: {host_support(get_target('x86-vnni')).why}")


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "qcomp", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd or REPO, timeout=600)


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    if not host_support(get_target("x86-vnni")).can_run:
        pytest.skip(f"target x86-vnni: {host_support(get_target('x86-vnni')).why}")
    out = tmp_path_factory.mktemp("bench") / "fm.x86-vnni"
    qcomp.build(EX / "model.onnx", target="x86-vnni", calib=EX / "calib.npz", out=out)
    return out


def test_timing_median_p90_and_ratios():
    t = Timing("a", [0.004, 0.001, 0.002, 0.003, 0.010])
    assert t.median_ms == pytest.approx(3.0) and t.p90_ms == pytest.approx(10.0)
    r = BenchResult("art", 2, 5, 1, [Timing("qcomp", [0.002] * 3), Timing("ort", [0.004] * 3)])
    assert r.ratios() == {"ort": pytest.approx(0.5)}
    lines = format_result(r)
    assert "2 threads" in lines[0] and any("qcomp / ort: 0.50 (qcomp faster)" in line for line in lines)


def test_random_feeds_are_valid_for_the_manifest():
    inputs = [{"name": "pixels", "shape": [1, 3, 4, 4], "dtype": "float32"},
              {"name": "ids", "shape": [1, 7], "dtype": "int64"}]
    feeds = random_feeds(inputs, np.random.default_rng(0))
    assert feeds["pixels"].dtype == np.float32 and feeds["pixels"].shape == (1, 3, 4, 4)
    assert feeds["ids"].dtype == np.int64 and set(np.unique(feeds["ids"])) <= {0, 1}
    assert np.unique(feeds["pixels"]).size == 48


@runs_vnni
def test_bench_alone_prints_median_and_p90(artifact):
    r = cli("bench", artifact, "--runs", "5", "--warmup", "1", "--threads", "1")
    assert r.returncode == 0, r.stderr
    assert "5 runs after 1 warm-up runs, 1 thread" in r.stdout
    assert re.search(r"qcomp x86-vnni\s+median\s+[\d.]+ ms\s+p90\s+[\d.]+ ms", r.stdout), r.stdout
    assert "onnxruntime" not in r.stdout


@runs_vnni
def test_bench_vs_onnxruntime_prints_both_engines_and_ratios(artifact, tmp_path):
    pytest.importorskip("onnxruntime")
    r = cli("bench", artifact, "--vs", "onnxruntime", "--model", EX / "model.onnx", "--runs", "3", "--warmup", "1",
            "--threads", "1")
    assert r.returncode == 0, r.stderr
    for engine in ("qcomp x86-vnni", "onnxruntime fp32", "onnxruntime int8"):
        assert re.search(engine + r"\s+median\s+[\d.]+ ms", r.stdout), r.stdout
    assert re.search(r"qcomp / onnxruntime fp32: [\d.]+ \(qcomp (faster|slower)\)", r.stdout)
    assert re.search(r"qcomp / onnxruntime int8: [\d.]+", r.stdout)
    # without --model, the manifest's file name is looked up next to the artifact (sha256 checked)
    shutil.copy(EX / "model.onnx", artifact.parent / "model.onnx")
    r = cli("bench", artifact, "--vs", "onnxruntime", "--runs", "2", "--warmup", "0", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    (artifact.parent / "model.onnx").unlink()


@runs_vnni
def test_bench_errors_are_one_clear_message(artifact, tmp_path):
    other = tmp_path / "other.onnx"
    other.write_bytes(b"not the model")
    cases = [(["--vs", "onnxruntime", "--model", other], "is not the model"),
             (["--vs", "onnxruntime"], "give it with --model PATH"),
             (["--runs", "0"], "--runs must be at least 1"),
             (["--threads", "0"], "--threads must be at least 1")]
    for flags, message in cases:
        r = cli("bench", artifact, *flags, cwd=tmp_path)
        assert r.returncode == 2, (flags, r.stdout, r.stderr)
        assert r.stderr.startswith("qcomp bench: error: ") and message in r.stderr and "Traceback" not in r.stderr
    r = cli("bench", EX / "model.onnx")
    assert r.returncode == 2 and "is not an artifact directory" in r.stderr


def test_bench_refuses_the_ref_target(tmp_path):
    out = tmp_path / "fm.ref"
    qcomp.build(EX / "model.onnx", target="ref", calib=EX / "calib.npz", out=out)
    r = cli("bench", out, "--runs", "1")
    assert r.returncode == 2 and "integer reference interpreter" in r.stderr


def test_bench_of_a_cross_artifact_says_its_times_are_the_emulators(artifact, tmp_path):
    """An arm-sdot artifact benched on an x86 host runs under QEMU: the output says the times
    measure the emulator; a native artifact gets no such note."""
    import json
    fake = tmp_path / "fm.arm"
    shutil.copytree(artifact, fake)
    manifest = json.loads((fake / "manifest.json").read_text())
    from qcomp.cli import _emulated_timing_note
    assert _emulated_timing_note(fake) is None          # x86-vnni on this host: real times
    manifest["target"] = "arm-sdot"
    (fake / "manifest.json").write_text(json.dumps(manifest))
    note = _emulated_timing_note(fake)
    assert note and "qemu-aarch64" in note and "emulator" in note and "aarch64 device" in note


def test_time_interleaved_runs_blocks_after_a_pause(monkeypatch):
    """Blocks of back-to-back timed runs per engine, each after a pause and one untimed run, so one
    engine's idle spinning threads never share the CPUs with the other's timed runs."""
    from qcomp import bench
    log = []
    monkeypatch.setattr(bench.time, "sleep", lambda s: log.append(("sleep", s)))
    timings = bench.time_interleaved([("a", lambda: log.append("a")), ("b", lambda: log.append("b"))],
                                     runs=7, warmup=1, block=3, settle=0.25)
    assert [len(t.seconds) for t in timings] == [7, 7]
    pause = ("sleep", 0.25)
    want = ["a", "b"]
    for n in (3, 3, 1):
        want += [pause, "a"] + ["a"] * n + [pause, "b"] + ["b"] * n
    assert log == want
    alone = []
    assert len(bench.time_interleaved([("a", lambda: alone.append(1))], runs=4, warmup=0)[0].seconds) == 4
    assert len(alone) == 4   # one engine: no pauses, no untimed runs
