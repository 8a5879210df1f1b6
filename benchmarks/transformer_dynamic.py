"""--quant dynamic on transformer encoders: qcomp per tensor and per row (`--dynamic-granularity row`),
optionally a baseline qcomp checkout's per-tensor build, against onnxruntime FP32 and quantize_dynamic.

    python benchmarks/transformer_dynamic.py --models minilm,bert_base --seq 128 --threads 1,2
    python benchmarks/transformer_dynamic.py --models minilm --baseline /path/to/older/qcomp/checkout

benchmarks/transformer.py's machinery, imported (the same exports, sentence, children, embedding
cosine): each engine timed alone in its own child process, median of `runs` after `warmup`, in the
order engine x thread count. Only the dynamic engines are built (transformer.py builds its static
ones too, which takes most of a BERT-base run). --baseline DIR builds "qcomp dynamic (baseline)" with
`python -m qcomp build` run from DIR (its own qcomp), then times that artifact like the others.
Prints a markdown table (write it into benchmarks/RESULTS.md by hand, with the machine's load).
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def _transformer():
    import importlib.util
    spec = importlib.util.spec_from_file_location("qcomp_transformer_bench", HERE / "transformer.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def prepare(name: str, model: Path, work: Path, baseline: str | None) -> dict[str, tuple[str, str]]:
    import qcomp
    from onnxruntime.quantization import QuantType, quantize_dynamic
    made = {}
    if baseline:
        out = work / f"{name}.dyn_base"
        subprocess.run([sys.executable, "-m", "qcomp", "build", str(model), "--quant", "dynamic", "--target",
                        "x86-vnni", "-o", str(out)], cwd=baseline, env={**os.environ, "PYTHONPATH": baseline},
                       check=True, capture_output=True)
        made["qcomp dynamic (baseline)"] = ("qcomp", str(out))
    made["qcomp dynamic"] = ("qcomp", str(qcomp.build(model, target="x86-vnni", quant="dynamic",
                                                      out=work / f"{name}.dyn")))
    made["qcomp dynamic row"] = ("qcomp", str(qcomp.build(model, target="x86-vnni", quant="dynamic",
                                                          dynamic_granularity="row", out=work / f"{name}.dynrow")))
    made["ort fp32"] = ("ort", str(model))
    dyn = work / f"{name}.ort_dynamic.onnx"
    quantize_dynamic(str(model), str(dyn), weight_type=QuantType.QInt8)
    made["ort dynamic"] = ("ort", str(dyn))
    return made


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="minilm,bert_base")
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--baseline", help="a qcomp checkout whose --quant dynamic build is timed too")
    args = ap.parse_args(argv)
    tr = _transformer()
    facts = tr.latency_lib().machine_facts()
    threads = [int(t) for t in args.threads.split(",") if t]
    rows = []
    with tempfile.TemporaryDirectory(prefix="qcomp-transformer-dyn-") as tmp:
        work = Path(tmp)
        for name in [m for m in args.models.split(",") if m]:
            folder = tr.export(name, args.seq)
            model, sentence = folder / "model.onnx", folder / "sentence.npz"
            engines = prepare(name, model, work, args.baseline)
            mask = np.load(sentence)["attention_mask"]
            results = {}
            for engine, (kind, path) in engines.items():
                for n in threads:
                    hidden = work / f"{name}-{engine.replace(' ', '_').replace('(', '').replace(')', '')}-{n}.npy"
                    r = tr.run_child([kind, path, str(sentence), n, args.runs, args.warmup, str(hidden)])
                    results[(engine, n)] = r
                    print(f"{name} {engine} {n} thread(s): {1e3 * statistics.median(r['seconds']):.2f} ms "
                          f"(load {r['load']:.1f})", flush=True)
            ref = tr.embedding(np.load(results[("ort fp32", threads[0])]["hidden"]), mask)
            for engine in engines:
                cos = tr.cosine(tr.embedding(np.load(results[(engine, threads[0])]["hidden"]), mask), ref)
                rows.append([tr.TITLES[name], engine] + [f"{1e3 * statistics.median(results[(engine, n)]['seconds']):.2f}"
                                                         for n in threads] + [f"{cos:.5f}"])
    print(f"\nCPU: {facts['cpu']} ({facts['cores']} cores), onnxruntime {facts['onnxruntime']}, qcomp at "
          f"{facts['commit']}{' (uncommitted changes)' if facts['dirty'] else ''}; load average at the start "
          f"{facts['load'][0]:.1f}, at the end {os.getloadavg()[0]:.1f}; sequence {args.seq}\n")
    header = ["model", "engine"] + [f"{t} thread{'s' if t > 1 else ''} ms" for t in threads] + ["cosine vs FP32"]
    print("\n".join(tr.latency_lib().table(header, rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
