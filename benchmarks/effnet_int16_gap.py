"""Why EfficientNet-Lite0 with every activation int16 stays below cosine 0.99 (issue 14's --accuracy).

  QCOMP_MODEL_CACHE=... python benchmarks/effnet_int16_gap.py CALIB.npz [--part ref|weights|layers]

CALIB.npz: the calibration set of accuracy_goal.py --models efficientnet (62 samples). As
--accuracy does (qcomp/accuracy/trials.py), 5 evenly spread samples are held back and the rest
calibrate. Cosine: the logits of the 5 held-back samples, concatenated, against qcomp's float
reference interpreter (run_float on the float graph, BatchNorm folded).

  ref      ref-target builds: int8; every activation int16 but the stem conv's input; every
           activation int16 (the stem's bias fits since widen_for_bias16); the last with
           --bias-correction, with --equalize
  weights  float graph, weights fake-quantized (int8 symmetric per output channel, as qcomp
           quantizes them), activations float: the floor every A16W8 build shares
           (and with the costliest 1, 2, 3 layers' weights left float)
  layers   the same, one layer's weights at a time: the 10 layers whose weight grid costs most
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

_HERE = Path(__file__).resolve().parent
for _p in (str(_HERE), str(_HERE.parent)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import qcomp  # noqa: E402
from qcomp.builder import BuildOptions, float_graph  # noqa: E402
from qcomp.ir import ops  # noqa: E402
from qcomp.passes.observers import symmetric_weight_scales  # noqa: E402
from accuracy_lib.models import efficientnet_lite0  # noqa: E402
from precision16 import _activations, _cos  # noqa: E402

HELD = 5


def split(calib: Path, work: Path) -> tuple[Path, np.ndarray]:
    x = np.load(calib)["input"]
    n = len(x)
    picked = sorted({(2 * j + 1) * n // (2 * HELD) for j in range(HELD)})
    keep = [i for i in range(n) if i not in picked]
    np.savez(work / "calib_part.npz", input=x[keep])
    return work / "calib_part.npz", x[picked]


def fake_quant(w: np.ndarray) -> np.ndarray:
    s = symmetric_weight_scales(w, 0)
    s = np.where(s > 0, s, 1.0).reshape((-1,) + (1,) * (w.ndim - 1))
    q = (np.clip(np.rint(w / s), -127, 127) * s).astype(w.dtype)
    q.setflags(write=False)   # constants are read-only in qcomp's IR
    return q


def fake_quant_mse(w: np.ndarray) -> np.ndarray:
    """Per channel, the scale among max|w_c| / 127 * r (r = 0.50, 0.51, ..., 1.00) with the least
    squared weight error: clipped weight ranges, an alternative to qcomp's max-based grid."""
    flat = w.reshape(w.shape[0], -1).astype(np.float64)
    best = np.zeros_like(flat)
    err = np.full(flat.shape[0], np.inf)
    amax = np.abs(flat).max(1, keepdims=True)
    for r in np.linspace(0.5, 1.0, 51):
        s = np.where(amax > 0, amax * r / 127, 1.0)
        q = np.clip(np.rint(flat / s), -127, 127) * s
        e = ((q - flat) ** 2).sum(1)
        better = e < err
        best[better], err[better] = q[better], e[better]
    out = best.reshape(w.shape).astype(w.dtype)
    out.setflags(write=False)
    return out


def float_logits(g, held) -> np.ndarray:
    return np.concatenate([qcomp.run_float(g, {"input": held[i:i + 1]})["logits"] for i in range(len(held))])


def weighted(g) -> list:
    return [n for n in g.nodes if isinstance(n.op, (ops.Conv2D, ops.Dense))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("calib", type=Path)
    ap.add_argument("--part", default="ref,weights,layers")
    ap.add_argument("--only", default="", help="comma-separated ref configuration numbers (0-based)")
    args = ap.parse_args()
    model = efficientnet_lite0()
    work = Path(tempfile.mkdtemp(prefix="effnet_gap_"))
    part, held = split(args.calib, work)
    g = float_graph(qcomp.load_model(model), BuildOptions())
    want = float_logits(g, held)
    parts = args.part.split(",")
    if "weights" in parts or "layers" in parts:
        saved = dict(g.constants)
        for n in weighted(g):
            g.constants[n.inputs[1]] = fake_quant(saved[n.inputs[1]])
        print(f"weights int8 per channel, activations float: cosine {_cos(want, float_logits(g, held)):.5f}", flush=True)
        g.constants.update(saved)
        for n in weighted(g):
            g.constants[n.inputs[1]] = fake_quant_mse(saved[n.inputs[1]])
        print(f"weights int8 per channel, MSE-clipped scales, activations float: cosine "
              f"{_cos(want, float_logits(g, held)):.5f}", flush=True)
        g.constants.update(saved)
        for keep in (["node_Conv_878"], ["node_Conv_878", "node_Conv_877"],
                     ["node_Conv_878", "node_Conv_877", "node_Conv_799"]):
            for n in weighted(g):
                if n.name not in keep:
                    g.constants[n.inputs[1]] = fake_quant(saved[n.inputs[1]])
            print(f"weights int8 but {keep} float, activations float: cosine "
                  f"{_cos(want, float_logits(g, held)):.5f}", flush=True)
            g.constants.update(saved)
        if "layers" in parts:
            loss = []
            for n in weighted(g):
                g.constants[n.inputs[1]] = fake_quant(saved[n.inputs[1]])
                c = _cos(want, float_logits(g, held))
                g.constants[n.inputs[1]] = saved[n.inputs[1]]
                w = saved[n.inputs[1]]
                loss.append((1 - c, n.name, n.op.groups if hasattr(n.op, "groups") else 1, w.shape))
                print(f"  {n.name} {w.shape}: 1 - cosine {1 - c:.5f}", flush=True)
            for d, name, _, shape in sorted(loss, reverse=True)[:10]:
                print(f"top: {name} w{tuple(shape)}: 1 - cosine {d:.5f}")
            print(f"sum of the per-layer losses {sum(x[0] for x in loss):.5f}")
    if "ref" in parts:
        acts = _activations(model)
        stem = {"input", "input_nhwc"}
        configs = [("int8", {}), ("int16 but stem input", {"precision": tuple(f"{v}=int16" for v in acts if v not in stem)}),
                   ("int16 everywhere", {"precision": tuple(f"{v}=int16" for v in acts)}),
                   ("int8 + bias correction", {"bias_correction": True}),
                   ("int16 but stem input + bias correction",
                    {"precision": tuple(f"{v}=int16" for v in acts if v not in stem), "bias_correction": True}),
                   ("int16 everywhere + bias correction", {"precision": tuple(f"{v}=int16" for v in acts), "bias_correction": True}),
                   ("int16 everywhere + equalize", {"precision": tuple(f"{v}=int16" for v in acts), "equalize": True})]
        for k, (label, opts) in enumerate(configs):
            if args.only and str(k) not in args.only.split(","):
                continue
            try:
                m = qcomp.load(qcomp.build(model, "ref", part, work / f"m{k}", **opts))
            except qcomp.QcompError as e:
                print(f"ref {label}: refused: {e}", flush=True)
                continue
            got = np.concatenate([m.run({"input": held[i:i + 1]})["logits"] for i in range(len(held))])
            print(f"ref {label}: cosine {_cos(want, got):.5f}", flush=True)


if __name__ == "__main__":
    main()
