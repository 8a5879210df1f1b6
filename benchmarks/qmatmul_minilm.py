"""Static int8 all-MiniLM-L6-v2 on x86-vnni: qcomp artifacts side by side with onnxruntime, 1 and 2 threads.

    python benchmarks/qmatmul_minilm.py MODEL.onnx SENTENCE.npz NAME=ARTIFACT [NAME=ARTIFACT ...]
        [--threads 1,2] [--runs 40] [--warmup 5]

MODEL.onnx and SENTENCE.npz: tests/models/export_minilm.py's output (the export cache holds them).
Each artifact is a `qcomp build MODEL.onnx --target x86-vnni --calib ...` directory (for instance the
same quantized graph emitted by two versions of the llvm backend: the QMatMul kernels before and
after kernels_qmatmul.py). Per thread count a child process (fresh thread pools) loads every artifact
(qcomp.load with num_threads), onnxruntime FP32 and onnxruntime quantize_dynamic (per-channel int8
weights, its default op types; intra_op_num_threads = N, sequential), and times them interleaved in
blocks (qcomp.bench.time_interleaved: each block after a pause and one untimed run) on the real
sentence's input_ids and attention_mask. Prints one table of medians in ms.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path


def child(spec: dict) -> dict:
    import numpy as np

    from qcomp.bench import load_qcomp, ort_session, time_interleaved
    from onnxruntime.quantization import QuantType, quantize_dynamic

    feeds = {k: v for k, v in np.load(spec["sentence"]).items()}
    threads = spec["threads"]
    engines = []
    for name, path in spec["artifacts"]:
        art = load_qcomp(path, threads)
        engines.append((f"qcomp {name}", lambda art=art: art.run(feeds)))
    fp32 = ort_session(spec["model"], threads)
    with tempfile.TemporaryDirectory(prefix="qmatmul-minilm-") as tmp:
        dyn_path = Path(tmp) / "dynamic.onnx"
        quantize_dynamic(spec["model"], str(dyn_path), per_channel=True, weight_type=QuantType.QInt8)
        dyn = ort_session(dyn_path, threads)
    engines += [("onnxruntime fp32", lambda: fp32.run(None, feeds)),
                ("onnxruntime quantize_dynamic", lambda: dyn.run(None, feeds))]
    timings = time_interleaved(engines, spec["runs"], spec["warmup"])
    return {t.name: statistics.median(t.seconds) * 1e3 for t in timings}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model")
    ap.add_argument("sentence")
    ap.add_argument("artifacts", nargs="*", help="NAME=ARTIFACT")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--runs", type=int, default=40)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return 0
    artifacts = [a.split("=", 1) for a in args.artifacts]
    rows = {}
    for n in (int(t) for t in args.threads.split(",")):
        spec = {"model": args.model, "sentence": args.sentence, "artifacts": artifacts, "threads": n,
                "runs": args.runs, "warmup": args.warmup}
        out = subprocess.run([sys.executable, __file__, "x", "y", "--child", json.dumps(spec)],
                             check=True, capture_output=True, text=True).stdout
        rows[n] = json.loads(out.strip().splitlines()[-1])
    names = list(next(iter(rows.values())))
    print("| engine | " + " | ".join(f"{n} thread{'s' if n > 1 else ''} (ms)" for n in rows) + " |")
    print("|---|" + "---:|" * len(rows))
    for name in names:
        print(f"| {name} | " + " | ".join(f"{rows[n][name]:.2f}" for n in rows) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
