"""`--accuracy COS` on real models: what it reaches, what it raises, what the search and the raises cost.

    python benchmarks/accuracy_goal.py [--models fashion,efficientnet,minilm,dsp] [--goals 0.99,0.999,0.9999,0.99999]
                                       [--latency] [-o SECTION.md]

Per model, qcomp `ref` artifacts (the integer reference every backend is bit-exact to) built with
the default (int8, minmax), `--calib-method auto` and `--accuracy G` for each goal G of --goals
(each goal after the first only where int8 already reaches the goal before it on the held-back
samples --accuracy measures), all on one calibration .npz:

    fashion       examples/fashion_mnist: calib.npz (256 training images), the first 500 test
                  images of samples.npz (labelled)
    efficientnet  EfficientNet-Lite0 (the cached export of accuracy_lib/models.py): calibration on
                  the real photographs of accuracy_lib/photos.py (--views crops per large photo),
                  the 25 test photos (20 labelled)
    minilm        all-MiniLM-L6-v2 (sequence 128), static int8 activations: calibrated on the first
                  --minilm-calib sentences of accuracy_lib/minilm.py, compared on the others
                  (sentence-embedding cosine)
    dsp           examples/fashion_mnist on dsp-c (integer only): --accuracy raises to int16 only

Figures: the output cosine with FP32 (onnxruntime) per test input (mean, min), top-1 agreement with
FP32 and top-1 vs the labels where there are labels, the held-back cosine --accuracy measured, the
tensors it raised (kind), its candidates / proxy pre-selection / trials, and the build time. With
--latency, the default and each --accuracy choice are built for x86-vnni (the same --precision
entries the manifest records) and timed by `qcomp bench` one after the other in the same run
(median of --runs, one thread), twice, alternating; the table gives the median of the two medians.
"""
from __future__ import annotations

import argparse
import json
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
for _p in (str(HERE), str(REPO)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import numpy as np  # noqa: E402

from accuracy_autopilot import cpu_model, log  # noqa: E402
from accuracy_lib import peers  # noqa: E402
from accuracy_lib.metrics import Comparison, mean_pool  # noqa: E402
from accuracy_lib.qcomp_path import build_runner, run_all, save_calibration  # noqa: E402


def fashion_case(work: Path):
    from accuracy_lib import fashion_mnist as fm
    images, labels = fm.bundled_samples()
    feeds = [{"input": images[i:i + 1]} for i in range(images.shape[0])]
    return fm.MODEL, fm.CALIB, feeds, labels, "logits"


def efficientnet_case(work: Path, views: int):
    from accuracy_lib import photos
    from accuracy_lib.models import efficientnet_lite0
    test, _ = photos.evaluation_photos()
    calib = save_calibration([{"input": s} for s in photos.calibration_photos(views).samples],
                             work / "efficientnet" / "calibration.npz")
    feeds = [{"input": photos.preprocess(p.pixels)} for p in test]
    return efficientnet_lite0(), calib, feeds, np.array([p.label for p in test]), "logits"


def minilm_case(work: Path, calib_count: int):
    from accuracy_lib import minilm
    feeds = minilm.tokenize()
    calib = save_calibration(feeds[:calib_count], work / "minilm" / "calibration.npz")
    return minilm.minilm_dir() / "model.onnx", calib, feeds[calib_count:], None, "last_hidden_state"


def compare(name: str, outputs: np.ndarray, fp32: np.ndarray, labels, feeds, output: str) -> Comparison:
    if output == "last_hidden_state":
        masks = np.concatenate([f["attention_mask"] for f in feeds])
        return Comparison.of_embeddings(name, mean_pool(outputs, masks), mean_pool(fp32, masks))
    return Comparison.of_logits(name, outputs, fp32, labels if labels is not None else np.full(len(feeds), -1))


def bench_ms(artifact: Path, runs: int) -> float:
    r = subprocess.run([sys.executable, "-m", "qcomp", "bench", str(artifact), "--runs", str(runs), "--threads", "1"],
                       capture_output=True, text=True, cwd=REPO, timeout=900)
    if r.returncode != 0:
        raise RuntimeError(f"qcomp bench {artifact}: {r.stderr.strip()[-400:]}")
    m = re.search(r"median\D*?([0-9.]+)\s*ms", r.stdout) or re.search(r"([0-9.]+)\s*ms", r.stdout)
    if m is None:
        raise RuntimeError(f"qcomp bench {artifact}: no time in its output:\n{r.stdout}")
    return float(m.group(1))


def measure(label: str, model: Path, calib: Path, feeds, labels, output: str, goals, work: Path,
            target: str = "ref", latency: bool = False, runs: int = 50, auto: bool = True) -> list[dict]:
    import qcomp
    fp32, _ = run_all(peers.session_runner(model), feeds, output)
    configs = [("int8 (default)", {})] + ([("--calib-method auto", {"calib_method": "auto"})] if auto else [])
    configs += [(f"--accuracy {g}", {"accuracy": g}) for g in goals]
    rows: list[dict] = []
    for k, (name, options) in enumerate(configs):
        held = next((r["accuracy"]["baseline_cosine"] for r in rows if r["accuracy"]), None)
        previous = goals[goals.index(options["accuracy"]) - 1] if options.get("accuracy") in goals[1:] else None
        if previous is not None and (held is None or held < previous):
            continue   # a goal only where int8 already reaches the one before it (module docstring)
        if target != "ref" and "accuracy" not in options:
            continue
        out = work / label / f"{target}_{k}"
        if target == "ref":
            built = build_runner(model, out, calib, **options)
            path, seconds = built.path, built.seconds
            res, _ = run_all(built.runner, feeds, output)
            c = compare(name, res, fp32, labels, feeds, output)
        else:
            t0 = time.perf_counter()
            path = Path(qcomp.build(model, target, calib, out, **options))
            seconds, c = time.perf_counter() - t0, None
        acc = json.loads((path / "manifest.json").read_text()).get("accuracy")
        row = {"model": label, "target": target, "config": name, "build_s": seconds, "cmp": c, "accuracy": acc,
               "path": path, "options": options}
        rows.append(row)
        log(f"{label} [{target}] {name}: build {seconds:.1f} s"
            + (f", cosine mean {c.cosine_mean:.5f} min {c.cosine_min:.5f}" if c is not None else "")
            + (f", raised {[(r['tensor'], r['kind']) for r in acc['raised']]}, held-back "
               f"{acc['baseline_cosine']:.5f} -> {acc['final_cosine']:.5f}, {acc['trials']} trials" if acc else ""))
    if latency:
        time_rows(label, model, calib, rows, work, runs)
    return rows


def time_rows(label: str, model: Path, calib: Path, rows: list[dict], work: Path, runs: int) -> None:
    """x86-vnni artifacts of the default and of each --accuracy choice, timed alternately (module docstring)."""
    import qcomp
    chosen = [r for r in rows if r["accuracy"] is not None]
    arts = [Path(qcomp.build(model, "x86-vnni", calib, work / label / "x86_default"))]
    from qcomp.errors import QcompError
    for i, r in enumerate(chosen):
        precision = tuple(r["accuracy"]["precision"])
        out = work / label / f"x86_acc{i}"
        try:
            arts.append(Path(qcomp.build(model, "x86-vnni", calib, out, precision=precision)))
        except QcompError as e:   # the ref choice has a node x86-vnni cannot emit: search on x86-vnni itself
            log(f"{label}: the ref choice of {r['config']} does not build for x86-vnni ({str(e).splitlines()[-1][:120]}); "
                f"--accuracy on x86-vnni")
            arts.append(Path(qcomp.build(model, "x86-vnni", calib, out, **r["options"])))
            x86 = json.loads((arts[-1] / "manifest.json").read_text())["accuracy"]
            r["x86_raised"] = ", ".join(f"`{x['tensor']}` ({x['kind']})" for x in x86["raised"]) + \
                f"; held-back {x86['final_cosine']:.5f}"
    times = [[] for _ in arts]
    for _ in range(2):
        for i, a in enumerate(arts):
            times[i].append(bench_ms(a, runs))
    base = float(np.median(times[0]))
    rows[0]["x86_ms"] = base
    for r, t in zip(chosen, times[1:]):
        r["x86_ms"] = float(np.median(t))
        r["x86_cost"] = r["x86_ms"] / base - 1.0
    log(f"{label}: x86-vnni ms {[float(np.median(t)) for t in times]}, predicted "
        f"{[r['accuracy'].get('predicted_latency') for r in chosen]}")


def render(rows: list[dict]) -> list[str]:
    head = ("| model | target | configuration | cosine mean | cosine min | top-1 agr. | top-1 | held-back cos (int8 -> final) "
            "| raised (kind) | candidates / measured / trials | build s | x86-vnni ms (cost; predicted) |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        c, a = r["cmp"], r["accuracy"]
        agr = "" if c is None or c.agreement is None else f"{c.agreement * 100:.1f} %"
        top = "" if c is None or not c.labelled or c.top1 is None else f"{c.top1 * 100:.1f} %"
        held = raised = search = ""
        if a:
            held = f"{a['baseline_cosine']:.5f} -> {a['final_cosine']:.5f}" + ("" if a["reached"] else " (not reached)")
            raised = ", ".join(f"`{x['tensor']}` ({x['kind']})" for x in a["raised"]) or "none"
            if len(raised) > 400:   # many raises: counted per kind
                raised = ", ".join(f"{sum(1 for x in a['raised'] if x['kind'] == k)} {k}" for k in a["kinds"])
            search = f"{a.get('candidates', '?')} / {a.get('preselected', '?')} / {a['trials']}"
        lat = ""
        if "x86_ms" in r:
            lat = f"{r['x86_ms']:.3f}" + (f" ({r['x86_cost'] * 100:+.1f} %)" if "x86_cost" in r else "")
        if a and "predicted_latency" in a:
            lat += f" (predicted {a['predicted_latency'] * 100:+.1f} %)"
            lat += f" (x86-vnni's own choice: {r['x86_raised']})" if "x86_raised" in r else ""
        lines.append(f"| {r['model']} | {r['target']} | {r['config']} | {'' if c is None else f'{c.cosine_mean:.5f}'} | "
                     f"{'' if c is None else f'{c.cosine_min:.5f}'} | {agr} | {top} | {held} | {raised} | {search} | "
                     f"{r['build_s']:.1f} | {lat} |")
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="fashion,dsp,efficientnet,minilm")
    ap.add_argument("--goals", default="0.99,0.999,0.9999,0.99999")
    ap.add_argument("--views", type=int, default=2, help="EfficientNet calibration views per large photo")
    ap.add_argument("--minilm-calib", type=int, default=14, help="MiniLM calibration sentences (the rest are tested)")
    ap.add_argument("--no-auto", action="store_true", help="leave out the --calib-method auto build")
    ap.add_argument("--latency", action="store_true", help="x86-vnni artifacts timed by qcomp bench")
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--work", default="/tmp/qcomp_accuracy_goal")
    ap.add_argument("-o", "--output")
    args = ap.parse_args(argv)
    work = Path(args.work)
    goals = tuple(float(g) for g in args.goals.split(","))
    lines = [f"Command: `python {' '.join(shlex.quote(a) for a in ['benchmarks/accuracy_goal.py', *(argv or sys.argv[1:])])}`, "
             f"{time.strftime('%Y-%m-%d', time.gmtime())}, {cpu_model()}.", ""]
    rows: list[dict] = []
    for name in args.models.split(","):
        t0 = time.perf_counter()
        if name == "fashion":
            case = fashion_case(work)
        elif name == "efficientnet":
            case = efficientnet_case(work, args.views)
        elif name == "minilm":
            case = minilm_case(work, args.minilm_calib)
        elif name == "dsp":
            rows += measure("fashion_mnist", *fashion_case(work), goals, work, target="dsp-c")
            continue
        else:
            raise SystemExit(f"unknown model {name!r}")
        rows += measure(name, *case, goals, work, latency=args.latency, runs=args.runs,
                        auto=not args.no_auto)
        log(f"{name}: {time.perf_counter() - t0:.0f} s")
        text = "\n".join(lines + render(rows)) + "\n"
        if args.output:
            Path(args.output).write_text(text)
    text = "\n".join(lines + render(rows)) + "\n"
    print(text)
    if args.output:
        Path(args.output).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
