"""Issue 14's accuracy table on the trained fixtures of tests/models/data: a MobileNetV3-style
classifier, a CenterNet-style detector, a CRNN recognizer (benchmarks/accuracy_lib/zoo.py).

    python benchmarks/zoo_accuracy.py [--models mobilenetv3,centernet,crnn] [--goals 0.99] [--calib 128]
                                      [--test 500,300,300] [--latency] [--dsp] [--results benchmarks/RESULTS.md]

Per model, on one calibration set (the same arrays for every path):

    qcomp int8 (default)            qcomp.build(model, "ref", calib)            minmax, per-channel weights
    qcomp --calib-method auto       ... calib_method="auto"
    qcomp --accuracy GOAL           ... accuracy=GOAL, for each GOAL of --goals (the search of
                                    qcomp/accuracy; it holds back 1 in 4 calibration samples, at
                                    most 16, calibrates on the rest and measures on them)
    onnxruntime quantize_static     QDQ, per-channel int8 weights, int8 activations, with MinMax,
                                    Entropy and Percentile calibration (accuracy_lib/peers.py); the
                                    row shows the best of the three by cosine mean, the others in
                                    its note

All qcomp rows run the `ref` artifact (the integer reference every backend is bit-exact to). The
figures: output cosine with onnxruntime FP32 per test input (mean, min), the task metric (top-1,
hit rate, sequence accuracy) next to FP32's, agreement with FP32's decision (same class, same set
of detections, same decoded sequence), the tensors --accuracy raised and the held-back cosine it
measured. --latency: x86-vnni artifacts of the default and of each --accuracy choice that raised
something (the same --precision entries its manifest records) timed by `qcomp bench` (one thread,
median of --runs), alternately, twice; the median of the two medians (a choice that raised
nothing runs the default's kernels: cost 0 by construction, not timed). --dsp: each --accuracy
GOAL built for dsp-c (integer only): what it raised and whether it reached the goal on its
held-back samples.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import shlex
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
from accuracy_goal import bench_ms  # noqa: E402
from accuracy_lib import peers  # noqa: E402
from accuracy_lib.metrics import cosine_rows  # noqa: E402
from accuracy_lib.qcomp_path import build_runner, save_calibration  # noqa: E402
from accuracy_lib.report import update_section  # noqa: E402
from accuracy_lib.zoo import CASES, Case  # noqa: E402

ORT_METHODS = ("minmax", "entropy", "percentile")


def run(runner, feeds) -> list[dict[str, np.ndarray]]:
    return [runner(f) for f in feeds]


def figures(case: Case, outs, fp32) -> dict:
    a = np.stack([np.asarray(o[case.primary]).ravel() for o in outs])
    b = np.stack([np.asarray(o[case.primary]).ravel() for o in fp32])
    cos = cosine_rows(a, b)
    return {"cos_mean": float(cos.mean()), "cos_min": float(cos.min()), "metric": case.metric(outs),
            "agreement": case.agreement(outs, fp32)}


def raised_text(acc: dict | None) -> str:
    if not acc:
        return ""
    return ", ".join(f"`{x['tensor']}` ({x['kind']})" for x in acc["raised"]) or "none"


def measure(key: str, case: Case, goals: list[float], work: Path, latency: bool, runs: int, dsp: bool,
            auto: bool = True) -> list[dict]:
    import qcomp
    fp32 = run(peers.session_runner(case.model), case.test)
    calib = save_calibration(case.calib, work / key / "calibration.npz")
    rows = [{"config": "FP32 (onnxruntime)", "fig": {"metric": case.metric(fp32)}}]
    configs = [("int8 (default)", {})] + ([("--calib-method auto", {"calib_method": "auto"})] if auto else [])
    for name, options in configs + [(f"--accuracy {g}", {"accuracy": g}) for g in goals]:
        built = build_runner(case.model, work / key / name.strip("-").replace(" ", "_"), calib, **options)
        acc = json.loads((built.path / "manifest.json").read_text()).get("accuracy")
        row = {"config": f"qcomp {name}", "fig": figures(case, run(built.runner, case.test), fp32), "acc": acc,
               "build_s": built.seconds, "options": options}
        rows.append(row)
        log(f"{key} {name}: {row['fig']} build {built.seconds:.1f} s; raised {raised_text(acc)}")
    ort = {}
    for method in ORT_METHODS:
        try:
            with contextlib.redirect_stdout(sys.stderr):    # onnxruntime's calibrators print progress
                q = peers.quantize_static(case.model, case.calib, work / key / "ort", method=method)
            ort[method] = figures(case, run(peers.session_runner(q), case.test), fp32)
        except Exception as e:  # noqa: BLE001 - a peer's failure is a figure of the table
            ort[method] = {"error": f"{type(e).__name__}: {str(e).splitlines()[0][:160]}"}
        log(f"{key} onnxruntime {method}: {ort[method]}")
    ok = {m: f for m, f in ort.items() if "error" not in f}
    if ok:
        best = max(ok, key=lambda m: ok[m]["cos_mean"])
        others = "; ".join(f"{m}: " + (f"{f['cos_mean']:.5f}" if "error" not in f else f["error"])
                           for m, f in ort.items() if m != best)
        rows.append({"config": f"onnxruntime quantize_static ({best})", "fig": ok[best], "note": others})
    else:
        rows.append({"config": "onnxruntime quantize_static", "fig": {},
                     "note": "; ".join(f"{m}: {f['error']}" for m, f in ort.items())})
    if latency:
        time_x86(key, case, calib, rows, work, runs)
    for goal in goals if dsp else ():
        t0 = time.perf_counter()
        art = Path(qcomp.build(case.model, "dsp-c", calib, work / key / f"dsp_accuracy_{goal}", accuracy=goal))
        acc = json.loads((art / "manifest.json").read_text())["accuracy"]
        rows.append({"config": f"qcomp --accuracy {goal}, target dsp-c (integer only)", "fig": {}, "acc": acc,
                     "build_s": time.perf_counter() - t0})
    return rows


def time_x86(key: str, case: Case, calib: Path, rows: list[dict], work: Path, runs: int) -> None:
    """x86-vnni: the default and each --accuracy choice that raised something, timed alternately."""
    import qcomp
    from qcomp.errors import QcompError
    default = next(r for r in rows if r["config"] == "qcomp int8 (default)")
    arts = [Path(qcomp.build(case.model, "x86-vnni", calib, work / key / "x86_default"))]
    chosen = []
    for i, r in enumerate(x for x in rows if x.get("acc")):
        if not r["acc"]["raised"]:
            r["x86_note"] = "nothing raised: the default's kernels"
            continue
        out = work / key / f"x86_accuracy_{i}"
        try:
            arts.append(Path(qcomp.build(case.model, "x86-vnni", calib, out, precision=tuple(r["acc"]["precision"]))))
        except QcompError as e:   # the ref choice has a node x86-vnni cannot emit: search on x86-vnni itself
            log(f"{key}: the ref choice does not build for x86-vnni ({str(e).splitlines()[-1][:160]}); "
                f"--accuracy on x86-vnni")
            arts.append(Path(qcomp.build(case.model, "x86-vnni", calib, out, **r["options"])))
            r["x86_raised"] = raised_text(json.loads((arts[-1] / "manifest.json").read_text())["accuracy"])
        chosen.append(r)
    times = [[] for _ in arts]
    for _ in range(2):
        for i, a in enumerate(arts):
            times[i].append(bench_ms(a, runs))
    default["x86_ms"] = float(np.median(times[0]))
    for r, t in zip(chosen, times[1:]):
        r["x86_ms"] = float(np.median(t))
        r["x86_cost"] = r["x86_ms"] / default["x86_ms"] - 1.0
    log(f"{key}: x86-vnni ms {times}")


def render(key: str, case: Case, rows: list[dict]) -> list[str]:
    fp32_metric = rows[0]["fig"]["metric"]
    lines = [f"### {case.name}: {len(case.test)} test inputs, {len(case.calib)} calibration samples "
             f"(`tests/models/data/{case.model.name}`)", "",
             f"FP32 {case.metric_name}: {fp32_metric * 100:.1f} %. Cosine on `{case.primary}`.", "",
             f"| path | cosine mean | cosine min | {case.metric_name} | decision = FP32 | raised (kind) "
             f"| held-back cos (int8 -> final) | x86-vnni ms (cost) | build s | note |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows[1:]:
        f, acc = r["fig"], r.get("acc")
        held = "" if not acc else (f"{acc['baseline_cosine']:.5f} -> {acc['final_cosine']:.5f}"
                                   + ("" if acc["reached"] else " (not reached)"))
        lat = "" if "x86_ms" not in r else f"{r['x86_ms']:.4f}" + (f" ({r['x86_cost'] * 100:+.1f} %)" if "x86_cost" in r else "")
        lat = r.get("x86_note", lat)
        if "x86_raised" in r:
            lat += f" (x86-vnni's own choice: {r['x86_raised']})"
        cell = (lambda k, fmt: "" if k not in f else fmt.format(f[k]))
        build = f"{r['build_s']:.1f}" if "build_s" in r else ""
        lines.append(f"| {r['config']} | {cell('cos_mean', '{:.5f}')} | {cell('cos_min', '{:.5f}')} | "
                     f"{cell('metric', '{:.1%}')} | {cell('agreement', '{:.1%}')} | {raised_text(acc)} | {held} | "
                     f"{lat} | {build} | {r.get('note', '')} |")
    return lines + [""]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="mobilenetv3,centernet,crnn")
    ap.add_argument("--goals", default="0.99", help="comma-separated --accuracy goals")
    ap.add_argument("--calib", type=int, default=128, help="calibration samples per model")
    ap.add_argument("--test", default="500,300,300", help="test inputs per model, in --models order")
    ap.add_argument("--latency", action="store_true")
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--dsp", action="store_true", help="also --accuracy GOAL on dsp-c (integer only)")
    ap.add_argument("--no-auto", action="store_true", help="leave out the --calib-method auto build")
    ap.add_argument("--work", default="/tmp/qcomp_zoo_accuracy")
    ap.add_argument("--results", help="write the section `zoo-accuracy` of this markdown file")
    args = ap.parse_args(argv)
    keys = args.models.split(",")
    tests = [int(t) for t in args.test.split(",")]
    if len(tests) != len(keys) or any(k not in CASES for k in keys):
        raise SystemExit(f"--models from {', '.join(CASES)}, one --test count each")
    command = " ".join(shlex.quote(a) for a in ["python", "benchmarks/zoo_accuracy.py", *(argv or sys.argv[1:])])
    lines = [f"## Issue 14's accuracy table on trained fixtures: MobileNetV3-style, CenterNet-style, CRNN "
             f"({time.strftime('%Y-%m-%d', time.gmtime())})", "",
             f"Command: `{command}`, {cpu_model()}. qcomp rows: the `ref` artifact (bit-exact to every "
             f"backend); onnxruntime: its best of MinMax / Entropy / Percentile static QDQ on the same "
             f"calibration arrays.", ""]
    for key, count in zip(keys, tests):
        t0 = time.perf_counter()
        case = CASES[key](args.calib, count)
        rows = measure(key, case, [float(g) for g in args.goals.split(",")], Path(args.work), args.latency,
                       args.runs, args.dsp, auto=not args.no_auto)
        lines += render(key, case, rows)
        log(f"{key}: {time.perf_counter() - t0:.0f} s")
    text = "\n".join(lines)
    print(text)
    if args.results:
        update_section(args.results, "zoo-accuracy", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
