"""Output cosine vs FP32 of `--precision NAME=int16` (A16W8) on the ref target: int8, some tensors
int16, every activation int16.

  python benchmarks/precision16.py fashion [--one TENSOR]    the bundled CNN (examples/fashion_mnist),
                                                             200 test images of samples.npz
  python benchmarks/precision16.py minilm [--calib N]        all-MiniLM-L6-v2 (tests/models/export_minilm.py
                                                             --seq 128), static activations, calibrated on
                                                             the first N sentences of accuracy_lib/minilm.py,
                                                             embedding cosine on the others

MiniLM's middle configuration marks the residual stream int16: every Add whose result feeds a
LayerNormalization (the residual sums) and every LayerNormalization output. LayerNorm computes in
int16 on them (QLayerNorm16); Softmax computes in int16 (QSoftmax16) where its input is int16 or
its output is marked.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

_HERE = Path(__file__).resolve().parent
for _p in (str(_HERE), str(_HERE.parent)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import qcomp  # noqa: E402


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def _activations(model: Path) -> list[str]:
    """Every float activation of qcomp's FLOAT graph (after its float passes) and the float inputs."""
    from qcomp.builder import BuildOptions, float_graph
    g = float_graph(qcomp.load_model(model), BuildOptions())
    return [v for v in [*g.inputs, *(o for n in g.nodes for o in n.outputs)] if g.types[v].dtype.is_float]


def fashion(one: str) -> None:
    ex = _HERE.parent / "examples" / "fashion_mnist"
    model = ex / "model.onnx"
    x = np.load(ex / "samples.npz")["input"][:200].astype(np.float32)
    g = qcomp.load_model(model)
    want = np.concatenate([qcomp.run_float(g, {"input": x[i:i + 1]})["logits"] for i in range(len(x))])
    every = tuple(f"{v}=int16" for v in _activations(model))
    for label, precision in (("int8", ()), (f"{one} int16", (f"{one}=int16",)), ("all int16", every)):
        with tempfile.TemporaryDirectory() as d:
            m = qcomp.load(qcomp.build(model, "ref", ex / "calib.npz", Path(d) / "m", precision=precision))
            got = np.concatenate([m.run({"input": x[i:i + 1]})["logits"] for i in range(len(x))])
        agree = float((want.argmax(1) == got.argmax(1)).mean())
        print(f"fashion: {label}: cosine {_cos(want, got):.6f}, top-1 agreement {agree:.3f}")


def _residual_stream(model: Path) -> list[str]:
    import onnx
    g = onnx.load(str(model), load_external_data=False).graph
    norms = [n for n in g.node if n.op_type == "LayerNormalization"]
    adds = {o for n in g.node if n.op_type == "Add" for o in n.output}
    return sorted({n.input[0] for n in norms if n.input[0] in adds} | {n.output[0] for n in norms})


def minilm(calib_count: int, only: int = 3) -> None:
    """`only`: how many of the configurations to run, counted from the last (all int16)."""
    from accuracy_lib import minilm as ml
    from accuracy_lib.metrics import mean_pool
    from accuracy_lib.qcomp_path import save_calibration

    model = ml.minilm_dir() / "model.onnx"
    feeds = ml.tokenize()
    calib_feeds, test = feeds[:calib_count], feeds[calib_count:]
    masks = np.concatenate([f["attention_mask"] for f in test])
    g = qcomp.load_model(model)
    fp32 = mean_pool(np.concatenate([qcomp.run_float(g, dict(f))["last_hidden_state"] for f in test]), masks)
    stream = _residual_stream(model)
    every = tuple(f"{v}=int16" for v in _activations(model))
    with tempfile.TemporaryDirectory() as d:
        calib = save_calibration(calib_feeds, Path(d) / "calib.npz")
        configs = (("int8", ()), (f"residual stream int16 ({len(stream)} tensors)",
                                  tuple(f"{v}=int16" for v in stream)), ("all int16", every))
        for label, precision in configs[3 - only:]:
            t0 = time.perf_counter()
            m = qcomp.load(qcomp.build(model, "ref", calib, Path(d) / label.split()[0], precision=precision))
            emb = mean_pool(np.concatenate([m.run(dict(f))["last_hidden_state"] for f in test]), masks)
            c = [_cos(a, b) for a, b in zip(emb, fp32)]
            print(f"minilm: {label}: embedding cosine mean {np.mean(c):.4f} min {np.min(c):.4f} "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", choices=("fashion", "minilm"))
    ap.add_argument("--one", default="/fc1/Gemm_output_0", help="the tensor of the middle configuration (fashion)")
    ap.add_argument("--calib", type=int, default=6, help="MiniLM calibration sentences (the rest are tested)")
    ap.add_argument("--last", type=int, default=3, choices=(1, 2, 3),
                    help="MiniLM: run only the last N configurations (int8, residual stream, all int16)")
    args = ap.parse_args(argv)
    if args.model == "fashion":
        fashion(args.one)
    else:
        minilm(args.calib, args.last)
    return 0


if __name__ == "__main__":
    sys.exit(main())
