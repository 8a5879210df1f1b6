"""The cuda backend on a real GPU: bit-exactness and batch-1 latency, one markdown report (scripts/gpu_check.sh).

    python3 benchmarks/gpu_check.py --bundle gpu_bundle [--report PATH]      on the GPU machine
    python3 benchmarks/gpu_check.py --bundle B --report R --stand-in         here: the stand-in driver

Reads a bundle of benchmarks/gpu_bundle.py and runs these steps, each named in the report:

  bundle                      the bundle was built from the qcomp sources of this tree (source_digest)
  environment                 nvidia-smi (name, driver, clocks), the driver's device name, compute
                              capability and version, Python, numpy and cuda-bindings versions
  bit-exact MODEL VARIANT     every variant's artifact (common/ + variants/V/, sha256-checked by qcomp.load)
                              on the GPU (GpuRunner, CUDA driver API): raw outputs vs the ref artifact's
                              expected.npz, bit for bit (floats compared as bits); mismatch count and the
                              first mismatches
  latency MODEL               the sm_90 variant: CUDA-event time of the launch sequence after warm-up,
                              median of --repeats (benchmarks/gpu_timing.py), and the host round trip
  per-kernel LARGEST          the bundle's largest model (most MACs): median time of every launch, next to
                              the H100 roofline bound of roofline.json and its modelled occupancy
  occupancy LARGEST           achieved occupancy and duration per kernel from Nsight Compute (ncu), one
                              profiled run of the sm_90 variant
  onnxruntime-gpu             FP32 and int8 QDQ through the CUDA execution provider, when installed there

A step that raises or finds a mismatch is FAILED in the report (with the error), the other steps still
run, and the exit status is 1; a step not run for lack of time is FAILED too. The only steps that may be
SKIPPED, with the reason in the report, are onnxruntime-gpu (its wheel cannot travel) and, with
--stand-in, occupancy (no profiler without a GPU). The report is rewritten after every step, so a run
cut short still leaves what it measured.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
for _p in (str(HERE), str(REPO)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import gpu_report  # noqa: E402
from gpu_timing import NCU_METRICS, parse_ncu_csv, time_kernels, time_model  # noqa: E402


def source_digest(repo: Path = REPO) -> str:
    """sha256 over qcomp's sources that decide an artifact (qcomp/ *.py and templates, targets/*.toml, the C
    sources of runtime/; no build output): the bundle records it, the check compares it with its tree."""
    import hashlib
    h = hashlib.sha256()
    files = [*repo.glob("qcomp/**/*.py"), *repo.glob("qcomp/**/*.j2"), *repo.glob("targets/*.toml"),
             *(p for p in repo.glob("runtime/**/*") if p.suffix in (".c", ".h", ".ld", ".S", ".s"))]
    for f in sorted(f for f in files if "__pycache__" not in f.parts):
        h.update(f.relative_to(repo).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


GPU_STEPS = ("environment", "bit_exact", "latency", "per_kernel")   # each in a process of its own (Check._child)


class StepFailed(Exception):
    """A check that ran and found something wrong (a mismatch, a tool's error)."""


class Check:
    def __init__(self, bundle: Path, report: Path, stand_in: bool, repeats: int, budget_s: float, warmup: int = 20):
        self.bundle, self.report, self.stand_in, self.repeats, self.warmup = bundle, report, stand_in, repeats, warmup
        self.meta = json.loads((bundle / "bundle.json").read_text())
        self.deadline = time.monotonic() + budget_s
        self.steps: list[dict] = []
        self.sections: dict[str, list[str]] = {}
        self.work = Path(tempfile.mkdtemp(prefix="qcomp-gpu-check-"))
        self.runner = None
        self.started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")

    # ---- running steps -------------------------------------------------------------------------
    def step(self, name: str, method: str, *args: str) -> object:
        t0 = time.monotonic()
        if t0 > self.deadline:
            self.steps.append({"name": name, "status": "FAILED", "seconds": 0.0,
                               "detail": "not run: the time budget (--budget-s) was used up by the steps before"})
            self.write()
            return None
        result = None
        try:
            result = self._child(method, args) if method in GPU_STEPS else getattr(self, method)(*args)
            status, detail = "OK", result.get("detail", "") if isinstance(result, dict) else ""
            if isinstance(result, dict) and result.get("skipped"):
                status, detail = "SKIPPED", result["skipped"]
        except StepFailed as e:
            status, detail = "FAILED", str(e)
        except Exception as e:   # noqa: BLE001 - any error fails this step, named in the report
            status = "FAILED"
            detail = f"{type(e).__name__}: {e}\n" + "".join(traceback.format_exc(limit=6)[-2500:])
        self.steps.append({"name": name, "status": status, "seconds": time.monotonic() - t0, "detail": detail})
        print(f"gpu_check: {status:7} {name} ({time.monotonic() - t0:.1f} s)", file=sys.stderr, flush=True)
        self.write()
        return result if status == "OK" else None

    def _child(self, method: str, args: tuple[str, ...]) -> dict:
        """Run one GPU step in its own process, so that a kernel fault (a sticky CUDA error) or a crash of
        the driver fails that step alone; its rows of the report come back as JSON."""
        out = self.work / f"step-{len(self.steps)}.json"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--bundle", str(self.bundle), "--repeats",
               str(self.repeats), "--warmup", str(self.warmup), "--child", method, *args, "--child-out", str(out)]
        cmd += ["--stand-in"] if self.stand_in else []
        left = self.deadline - time.monotonic()
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=max(10.0, left + 30))
        except subprocess.TimeoutExpired:
            raise StepFailed(f"stopped after {max(10.0, left + 30):.0f} s: past the time budget (--budget-s)") from None
        if not out.is_file():
            raise StepFailed(f"the step's process ended with exit code {r.returncode} before it reported "
                             f"(a crash?); its stderr ends with:\n{r.stderr.strip()[-2000:]}")
        data = json.loads(out.read_text())
        for key, rows in data["sections"].items():
            self.sections.setdefault(key, []).extend(rows)
        if data.get("kernel_times") is not None:
            self.kernel_times = data["kernel_times"]
        if data["error"]:
            raise StepFailed(data["error"])
        return data["result"]

    def write(self) -> None:
        self.report.parent.mkdir(parents=True, exist_ok=True)
        self.report.write_text(gpu_report.render(self))

    @property
    def failed(self) -> list[str]:
        return [s["name"] for s in self.steps if s["status"] == "FAILED"]

    # ---- the artifact of one variant on the (stand-in) GPU ---------------------------------------
    def open(self, model: str, variant: str):
        """An Artifact of common/ + variants/V/ whose runner is a GpuRunner on the GPU (or the stand-in)."""
        import qcomp
        from qcomp.artifact import Artifact
        src = self.bundle / model
        if not (src / "variants" / variant).is_dir():
            raise StepFailed(f"the bundle has no {model}/variants/{variant}/: rebuild it with benchmarks/gpu_bundle.py")
        d = self.work / f"{model}.{variant}"
        if not d.is_dir():
            d.mkdir()
            for part in (src / "common", src / "variants" / variant):
                for f in part.iterdir():
                    shutil.copy(f, d / f.name)
        if not self.stand_in:
            art = qcomp.load(d)
            self.runner = art._runner     # closed by child() when the step ends
            return art
        art = qcomp.load(d, emulate=True)    # the same manifest and sha256 checks
        sys.path.insert(0, str(REPO / "tests" / "backends" / "cuda"))
        from gpu_standin import stand_in_driver
        from qcomp.runtime.cuda_driver import GpuRunner
        info = next(m for m in self.meta["models"] if m["name"] == model)["variants"][variant]
        self.runner = GpuRunner(d, art.manifest, driver=stand_in_driver(d, art.manifest, info["emulate_arch"]))
        return Artifact(d, art.manifest, _runner=self.runner)

    def feeds(self, model: str) -> dict[str, np.ndarray]:
        with np.load(self.bundle / model / "feeds.npz") as z:
            return {k: z[k] for k in z.files}

    # ---- the steps -------------------------------------------------------------------------------
    def bundle_matches(self) -> dict:
        built, here = self.meta.get("qcomp_sources"), source_digest()
        if built != here:
            raise StepFailed(f"the bundle was built from other qcomp sources (digest {str(built)[:12]}..., this tree "
                             f"{here[:12]}...): its artifacts may not be what this qcomp builds; rebuild it with "
                             f"benchmarks/gpu_bundle.py in this tree")
        return {"detail": f"built from this tree's qcomp sources ({here[:12]}...)"}

    def environment(self) -> dict:
        lines = [f"- mode: {'STAND-IN driver on the CPU (no GPU)' if self.stand_in else 'GPU (CUDA driver API)'}",
                 f"- host: {platform.node()}, {platform.machine()}, Python {platform.python_version()} "
                 f"({sys.executable}), numpy {np.__version__}"]
        self.sections["environment"] = lines     # what was found so far is reported even if a later line fails
        smi = shutil.which("nvidia-smi")
        if smi:
            for fields in ("name,driver_version,memory.total,clocks.max.sm,clocks.max.memory", "name,driver_version"):
                q = subprocess.run([smi, f"--query-gpu={fields}", "--format=csv"], capture_output=True, text=True,
                                   timeout=60)
                if q.returncode == 0:
                    break
            lines.append("- nvidia-smi: " + (q.stdout.strip().replace("\n", " | ") if q.returncode == 0
                                             else f"failed ({q.returncode}): {q.stderr.strip()[:300]}"))
            if q.returncode != 0 and not self.stand_in:
                raise StepFailed(f"nvidia-smi failed: {(q.stderr or q.stdout).strip()[:500]}")
        elif not self.stand_in:
            raise StepFailed("nvidia-smi is not on PATH: no NVIDIA driver on this machine")
        else:
            lines.append("- nvidia-smi: not on this host (stand-in mode)")
        art = self.open(self.meta["models"][0]["name"], "sm_90")
        runner = art._runner
        d = runner.driver
        from qcomp.runtime.cuda_driver import _check
        name = _check(d, d.cuDeviceGetName(256, runner.dev), "cuDeviceGetName")
        version = _check(d, d.cuDriverGetVersion(), "cuDriverGetVersion")
        try:
            import cuda.bindings
            bindings = cuda.bindings.__version__
        except ImportError:
            bindings = "not installed"
        device = bytes(name).split(b"\0")[0].decode(errors="replace")
        lines += [f"- device: {device}, compute capability "
                  f"{runner.compute_capability // 10}.{runner.compute_capability % 10}, CUDA driver API "
                  f"{version // 1000}.{version % 1000 // 10}, cuda-bindings {bindings}"]
        return {"detail": lines[-1][2:]}

    def bit_exact(self, model: str, variant: str) -> dict:
        art = self.open(model, variant)
        got = art.run(self.feeds(model), raw=True)
        with np.load(self.bundle / model / "expected.npz") as z:
            want = {k: z[k] for k in z.files}
        rows, bad = [], []
        for key, w in want.items():
            g = got.get(key)
            if g is None or g.shape != w.shape or g.dtype != w.dtype:
                bad.append(key)
                rows.append([key, "no", "-", f"got {None if g is None else (g.dtype, g.shape)}, want {(w.dtype, w.shape)}"])
                continue
            gv, wv = g.reshape(-1).view(np.uint8).reshape(g.size, -1), w.reshape(-1).view(np.uint8).reshape(w.size, -1)
            diff = np.flatnonzero((gv != wv).any(axis=1))
            first = "; ".join(f"{tuple(int(i) for i in np.unravel_index(k, w.shape))}: got {g.flat[k]} want {w.flat[k]}"
                              for k in diff[:5])
            rows.append([key, "yes" if diff.size == 0 else "no", f"{diff.size} / {w.size}", first or "-"])
            if diff.size:
                bad.append(key)
        self.sections.setdefault("bit-exact", []).extend([f"{model} | {variant} | " + " | ".join(r) for r in rows])
        if bad:
            raise StepFailed(f"{model} {variant}: outputs {', '.join(bad)} differ from the ref artifact: "
                             + "; ".join(r[2] + " mismatching, first " + r[3] for r in rows if r[1] == "no"))
        return {"detail": f"{len(rows)} output(s) bit-exact"}

    def latency(self, model: str) -> dict:
        art = self.open(model, "sm_90")
        t = time_model(art._runner, self._device_feeds(art, model), warmup=self.warmup, repeats=self.repeats,
                       host_repeats=max(5, self.repeats // 4))
        info = next(m for m in self.meta["models"] if m["name"] == model)
        self.sections.setdefault("latency", []).append(
            f"{model} | {info['launches']} | {t['median_ms'] * 1e3:.1f} | {t['p10_ms'] * 1e3:.1f} / {t['p90_ms'] * 1e3:.1f} | "
            f"{t['host_median_ms'] * 1e3:.1f} | {info['bound_us']:.2f}")
        return {"detail": f"median {t['median_ms'] * 1e3:.1f} us of {t['repeats']} (after {t['warmup']} warm-up)"}

    def _device_feeds(self, art, model: str) -> dict:
        from qcomp.artifact import check_feeds
        return check_feeds(art.manifest, self.feeds(model))

    def per_kernel(self, model: str) -> dict:
        art = self.open(model, "sm_90")
        us = time_kernels(art._runner, self._device_feeds(art, model), warmup=min(5, self.warmup),
                          repeats=max(5, self.repeats // 4))
        rows = json.loads((self.bundle / model / "roofline.json").read_text())["launches"]
        self.kernel_times = {"model": model, "us": us, "rows": rows}
        return {"detail": f"{len(us)} launches, sum {sum(us):.1f} us, roofline bound {sum(r['bound_us'] for r in rows):.2f} us"}

    def occupancy(self, model: str) -> dict:
        if self.stand_in:
            return {"skipped": "stand-in mode: Nsight Compute needs a GPU"}
        ncu = shutil.which("ncu") or next((str(p) for p in sorted(Path("/opt/nvidia").glob("nsight-compute/*/ncu"))), None)
        if ncu is None:
            raise StepFailed("ncu (Nsight Compute) is not on PATH nor under /opt/nvidia/nsight-compute")
        n = next(m for m in self.meta["models"] if m["name"] == model)["launches"]
        cmd = [ncu, "--csv", "--metrics", ",".join(NCU_METRICS), "--launch-skip", str(n), "--launch-count", str(n),
               sys.executable, str(Path(__file__).resolve()), "--bundle", str(self.bundle), "--profile-run", model]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=max(10, min(150, self.deadline - time.monotonic())))
        if r.returncode != 0:
            raise StepFailed(f"ncu exited with {r.returncode}: {(r.stderr or r.stdout).strip()[-1500:]}")
        profiled = parse_ncu_csv(r.stdout)
        if len(profiled) != n:
            raise StepFailed(f"ncu profiled {len(profiled)} launches, the plan has {n}")
        self.ncu = profiled
        return {"detail": f"{n} launches profiled"}

    def onnxruntime_gpu(self) -> dict:
        try:
            import onnxruntime
        except ImportError:
            return {"skipped": f"onnxruntime is not installed here; {self.meta['onnxruntime_gpu']['why']}"}
        providers = onnxruntime.get_available_providers()
        if "CUDAExecutionProvider" not in providers:
            return {"skipped": f"onnxruntime {onnxruntime.__version__} here has no CUDAExecutionProvider "
                               f"(providers: {', '.join(providers)}); {self.meta['onnxruntime_gpu']['why']}"}
        return {"skipped": f"onnxruntime {onnxruntime.__version__} has the CUDAExecutionProvider, but the bundle "
                           f"carries no ONNX models (their float weights do not fit beside the artifacts)"}

    def run(self) -> int:
        self.step("bundle", "bundle_matches")
        self.step("environment", "environment")
        models = [m["name"] for m in self.meta["models"]]
        for model in models:
            for variant in next(m for m in self.meta["models"] if m["name"] == model)["variants"]:
                self.step(f"bit-exact {model} {variant}", "bit_exact", model, variant)
        for model in models:
            self.step(f"latency {model}", "latency", model)
        largest = self.meta["largest"]
        self.step(f"per-kernel {largest}", "per_kernel", largest)
        self.step(f"occupancy {largest}", "occupancy", largest)
        self.step("onnxruntime-gpu", "onnxruntime_gpu")
        shutil.rmtree(self.work, ignore_errors=True)
        self.write()
        return 1 if self.failed else 0


def child(args) -> int:
    """One GPU step (--child METHOD ARGS...) in this process; its result, error and report rows go to
    --child-out as JSON for the parent."""
    check = Check(args.bundle, Path(os.devnull), args.stand_in, args.repeats, 1e9, args.warmup)
    result, error = None, None
    try:
        result = getattr(check, args.child[0])(*args.child[1:])
    except StepFailed as e:
        error = str(e)
    except Exception as e:   # noqa: BLE001 - reported as the step's failure
        error = f"{type(e).__name__}: {e}\n" + traceback.format_exc(limit=6)[-2500:]
    finally:
        if getattr(check, "runner", None) is not None:
            check.runner.close()
        shutil.rmtree(check.work, ignore_errors=True)
    args.child_out.write_text(json.dumps({"result": result, "error": error, "sections": check.sections,
                                          "kernel_times": getattr(check, "kernel_times", None)}))
    return 0


def profile_run(bundle: Path, model: str) -> int:
    """Under ncu: two runs of the sm_90 variant (ncu skips the first run's launches and profiles the second)."""
    check = Check(bundle, Path(tempfile.gettempdir()) / "unused.md", False, 1, 60)
    art = check.open(model, "sm_90")
    feeds = check.feeds(model)
    art.run(feeds)
    art.run(feeds)
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", type=Path, default=REPO / "gpu_bundle")
    ap.add_argument("--report", type=Path, help="the report file (default: $OUT/gpu_report-BUNDLE.md)")
    ap.add_argument("--stand-in", action="store_true", help="run on the stand-in driver (CPU emulation), no GPU")
    ap.add_argument("--repeats", type=int, default=200, help="timed runs per model (median)")
    ap.add_argument("--warmup", type=int, default=20, help="untimed runs before the timed ones")
    ap.add_argument("--budget-s", type=float, default=240.0, help="steps not started by then are FAILED")
    ap.add_argument("--profile-run", metavar="MODEL", help=argparse.SUPPRESS)
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    ap.add_argument("--child-out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        return child(args)
    if args.profile_run:
        return profile_run(args.bundle, args.profile_run)
    report = args.report
    if report is None:
        if not os.environ.get("OUT"):
            ap.error("give --report PATH (or set OUT to a folder)")
        report = Path(os.environ["OUT"]) / f"gpu_report-{args.bundle.resolve().name}.md"
    if not (args.bundle / "bundle.json").is_file():
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(f"# gpu_check: FAILED\n\nstep **bundle**: FAILED: {args.bundle}/bundle.json is missing; "
                          f"build it with `python benchmarks/gpu_bundle.py` and carry it\n")
        print(f"gpu_check: FAILED bundle: {args.bundle}/bundle.json is missing", file=sys.stderr)
        return 1
    check = Check(args.bundle, report, args.stand_in, args.repeats, args.budget_s, args.warmup)
    code = check.run()
    print(f"gpu_check: report {report}; " + (f"FAILED steps: {', '.join(check.failed)}" if code else "every step OK"),
          file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
