"""What the per-node profiler hook costs when off: x86-vnni model.so built by this checkout against the
same model built by a checkout without the hook (BASE: a qcomp tree before the profiler), in one process.

    python benchmarks/profiler_overhead.py --base /path/to/qcomp-before [--runs N] [--threads 1]

Models: the bundled example (examples/fashion_mnist, 28x28) and the ResNet-18-style model of
tests/models/cnn_zoo.py at 224x224 (as benchmarks/latency.py builds it); with --models
efficientnet_lite0_pads also the TorchScript EfficientNet-Lite0 export, where BASE (before fold_pad)
keeps its 17 Pad nodes: that row measures fold_pad and the hook together. Each is built twice with
the same calibration arrays (BASE's qcomp.build in a child process with PYTHONPATH=BASE), and both
model.so run in one process: qcomp.bench.time_interleaved alternates blocks of back-to-back runs
(base, hook off, hook on), so clock and load changes hit all three alike. "on" wraps each run in
qcomp_set_profiler(buffer) / qcomp_set_profiler(NULL): two more ctypes calls (about 1 us) besides
the clock reads. Prints the medians and the minima (the machine's load moves the median; the minimum is the run
least disturbed) and the off/base ratio; asserts nothing.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

BUILD = ("import sys, numpy as np, qcomp; "
         "qcomp.build(sys.argv[1], target='x86-vnni', calib=sys.argv[2], out=sys.argv[3])")


def _latency_module():
    spec = importlib.util.spec_from_file_location("qcomp_latency", HERE / "latency.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_with(tree: Path, model: Path, calib: Path, out: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(tree))
    subprocess.run([sys.executable, "-c", BUILD, str(model), str(calib), str(out)], check=True, env=env, cwd=tree,
                   capture_output=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", required=True, help="a qcomp source tree without the profiler hook")
    ap.add_argument("--runs", type=int, default=0, help="timed runs per engine (default: 2000 small, 200 ResNet)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--models", default="fashion_mnist,resnet18")
    ap.add_argument("--work", help="keep the artifacts in this directory (reused when present)")
    args = ap.parse_args(argv)
    import qcomp
    from qcomp.bench import time_interleaved
    with tempfile.TemporaryDirectory(prefix="qcomp-hook-") as tmp:
        work = Path(args.work or tmp)
        work.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(0)
        names = args.models.split(",")
        models = []
        if "fashion_mnist" in names:
            models.append(("fashion_mnist", "fashion_mnist (bundled example)", REPO / "examples" / "fashion_mnist" / "model.onnx",
                           REPO / "examples" / "fashion_mnist" / "calib.npz", args.runs or 2000))
        if "resnet18" in names:
            resnet = _latency_module().write_model("resnet18", work, 224)
            np.savez(work / "resnet.calib.npz", input=rng.standard_normal((4, 3, 224, 224)).astype(np.float32))
            models.append(("resnet18", "ResNet-18-style 224", resnet, work / "resnet.calib.npz", args.runs or 200))
        if "efficientnet_lite0_pads" in names:   # also the fold_pad comparison: BASE keeps the 17 Pads
            effnet = _latency_module().write_model("efficientnet_lite0_pads", work, 224)
            np.savez(work / "effnet.calib.npz", input=rng.standard_normal((4, 3, 224, 224)).astype(np.float32))
            models.append(("efficientnet_lite0_pads", "EfficientNet-Lite0 TorchScript export (17 Pads)", effnet, work / "effnet.calib.npz",
                           args.runs or 200))
        print(f"CPU: {_cpu()}; {args.threads} thread(s)")
        for key, title, model, calib, runs in models:
            arts = {}
            for label, tree in (("base", Path(args.base)), ("hook", REPO)):
                arts[label] = work / f"{key}.{label}"
                if not (arts[label] / "manifest.json").is_file():
                    build_with(tree, model, calib, arts[label])
            base, hook = (qcomp.load(arts[k], num_threads=args.threads) for k in ("base", "hook"))
            lib = hook._runner._lib
            buffer = np.zeros(max(lib.qcomp_profiled_nodes(), 1), np.uint64)
            manifest = hook.manifest["inputs"][0]
            feeds = {manifest["name"]: rng.standard_normal(manifest["shape"]).astype(np.float32)}
            np.testing.assert_array_equal(base.run(feeds, raw=True)[hook.manifest["outputs"][0]["name"]],
                                          hook.run(feeds, raw=True)[hook.manifest["outputs"][0]["name"]])

            def on():
                lib.qcomp_set_profiler(buffer.ctypes.data, buffer.size)
                hook.run(feeds)
                lib.qcomp_set_profiler(None, 0)
            timings = time_interleaved([("base", lambda: base.run(feeds)), ("off", lambda: hook.run(feeds)),
                                        ("on", on)], runs, warmup=20, block=10, settle=0.0)
            for stat, fn in (("median", statistics.median), ("min", min)):
                t = {x.name: fn(x.seconds) * 1e3 for x in timings}
                print(f"{title}: {runs} runs each, {stat} ms: base {t['base']:.4f}, hook off {t['off']:.4f} "
                      f"({100 * (t['off'] / t['base'] - 1):+.2f} %), hook on {t['on']:.4f} "
                      f"({100 * (t['on'] / t['base'] - 1):+.2f} %); {lib.qcomp_profiled_nodes()} timed nodes")
    return 0


def _cpu() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "?"


if __name__ == "__main__":
    sys.exit(main())
