"""MiniLM static int8 beside onnxruntime's static QDQ on the same calibration sentences.

    python benchmarks/minilm_static_peers.py [--calib 14] [--work DIR]

all-MiniLM-L6-v2 (sequence 128) calibrated on the first --calib sentences of
accuracy_lib/minilm.py and compared on the others, as benchmarks/accuracy_goal.py's minilm case:
the sentence embedding (attention-masked mean of last_hidden_state) against onnxruntime FP32's,
cosine mean and min. Rows: qcomp default int8 and `--calib-method auto` (ref artifacts: every
backend is bit-exact to ref), and onnxruntime quantize_static (QDQ, per-channel int8 weights, int8
activations) with each of its calibration methods. `--accuracy 0.99` is accuracy_goal.py's row.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from accuracy_lib import minilm, peers  # noqa: E402
from accuracy_lib.metrics import Comparison, mean_pool  # noqa: E402
from accuracy_lib.qcomp_path import build_runner, run_all, save_calibration  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calib", type=int, default=14)
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "qcomp_minilm_static")
    args = ap.parse_args()
    import numpy as np
    model = minilm.minilm_dir() / "model.onnx"
    feeds = minilm.tokenize()
    calib_feeds, test = feeds[:args.calib], feeds[args.calib:]
    calib = save_calibration(calib_feeds, args.work / "calibration.npz")
    masks = np.concatenate([f["attention_mask"] for f in test])
    fp32 = mean_pool(run_all(peers.session_runner(model), test, "last_hidden_state")[0], masks)
    rows = []
    for name, options in (("qcomp int8 (default)", {}), ("qcomp int8 (--calib-method auto)", {"calib_method": "auto"})):
        built = build_runner(model, args.work / name.split("(")[1].strip(")").replace(" ", "_").strip("-"), calib, **options)
        rows.append(Comparison.of_embeddings(name, mean_pool(run_all(built.runner, test, "last_hidden_state")[0], masks), fp32))
    for method in ("minmax", "entropy", "percentile"):
        try:
            int8 = peers.quantize_static(model, calib_feeds, args.work / "ort", method)
        except Exception as e:  # noqa: BLE001 - a peer's failure is a row, not a crash
            print(f"onnxruntime quantize_static ({method}): failed: {str(e).splitlines()[0][:120]}")
            continue
        emb = mean_pool(run_all(peers.session_runner(int8), test, "last_hidden_state")[0], masks)
        rows.append(Comparison.of_embeddings(f"onnxruntime quantize_static ({method})", emb, fp32))
    print(f"MiniLM static int8, calibrated on sentences 0-{args.calib - 1}, tested on {len(test)}:\n")
    print("| configuration | embedding cosine mean | min |\n|---|---|---|")
    for r in rows:
        print(f"| {r.path} | {r.cosine_mean:.5f} | {r.cosine_min:.5f} |")


if __name__ == "__main__":
    main()
