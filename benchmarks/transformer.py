"""Batch-1 latency and embedding accuracy of transformer encoders: qcomp x86-vnni (--quant dynamic
and static int8) against onnxruntime FP32, quantize_dynamic and static QDQ, on this machine.

    python benchmarks/transformer.py                       MiniLM and BERT-base, seq 128, 1 and 2 threads
    python benchmarks/transformer.py --models minilm --runs 10 --no-write

Models (tests/models/, exported through the export cache, QCOMP_MODEL_CACHE):
  minilm     all-MiniLM-L6-v2 (export_minilm.py): 6 layers, hidden 384, 12 heads
  bert_base  a BERT-base-size encoder with seeded random weights (export_bert_base.py): 12 layers,
             hidden 768, 12 heads, FFN 3072
both at sequence 128 (--seq), batch 1, inputs input_ids and attention_mask.

Engines, each timed alone in its own child process (fresh thread pools, nothing else loaded):
  qcomp dynamic      qcomp.build(target="x86-vnni", quant="dynamic"): int8 weights, activation
                     scales per run for MatMul/Gemm
  qcomp static       qcomp.build(target="x86-vnni", calib=...): int8 weights and activations,
                     calibrated (minmax) on the calibration inputs below
  ort fp32           onnxruntime on the exported model
  ort dynamic        onnxruntime.quantization.quantize_dynamic (QInt8 weights, per tensor, its
                     default op types)
  ort static QDQ     quant_pre_process, then quantize_static (QDQ, per-channel, QUInt8 activations x
                     QInt8 weights) on the same calibration inputs
  openvino int8      OpenVINO's IR of the ONNX model quantized by nncf.quantize (model_type
                     TRANSFORMER) on the same calibration inputs (benchmarks/peers.py); where
                     `openvino` / `nncf` are missing (scripts/setup.sh --bench installs them) or fail,
                     the table says why

Inputs: the evaluation input is the model's sentence.npz (MiniLM: a real tokenized sentence; BERT:
seeded random token ids, a quarter padding). Calibration: CALIB_SAMPLES inputs not including it
(MiniLM: benchmarks/accuracy_lib/minilm.py's first sentences, tokenized by the model's tokenizer;
BERT: seeded random token ids like its sentence.npz, other seeds). Accuracy: the cosine between
each engine's sentence embedding (the attention-masked mean of last_hidden_state) and onnxruntime
FP32's. Latency (peers.time_rounds): `rounds` rounds, in each every engine alone in a fresh child
process, `warmup` untimed runs then `runs` timed runs, the order of the engines reversed every other
round; an engine's figure is the median of its round medians, through each engine's Python call
(qcomp: Artifact.run; onnxruntime: InferenceSession.run; OpenVINO: InferRequest.infer), intra-op
threads = the thread count.

The script rewrites the `transformer` section of benchmarks/RESULTS.md (between its markers).
"""
from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:   # benchmarks/peers.py, also when this file is loaded by path (the tests)
    sys.path.insert(0, str(HERE))
REPO = HERE.parent
SECTION = "transformer"
CALIB_SAMPLES = 8
EXPORTS = {"minilm": "export_minilm.py", "bert_base": "export_bert_base.py"}
TITLES = {"minilm": "all-MiniLM-L6-v2", "bert_base": "BERT-base size (random weights)"}
INT8_PEERS = ("ort dynamic", "ort static QDQ", "openvino int8")
ENGINES = ("qcomp dynamic", "qcomp static", "ort fp32", "ort dynamic", "ort static QDQ", "openvino int8")


def _module(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def latency_lib():
    """benchmarks/latency.py: machine facts, child processes, tables, section writing."""
    return _module(HERE / "latency.py", "qcomp_latency_bench")


def export(name: str, seq: int) -> Path:
    cache = _module(REPO / "tests" / "models" / "export_cache.py", "export_cache")
    return cache.cached_export(EXPORTS[name], "--seq", str(seq))


def calibration_inputs(name: str, seq: int) -> list[dict[str, np.ndarray]]:
    if name == "minilm":
        sys.path.insert(0, str(HERE))
        from accuracy_lib import minilm
        return minilm.tokenize(minilm.SENTENCES[:CALIB_SAMPLES], seq)
    feeds = []
    for seed in range(1, CALIB_SAMPLES + 1):
        rng = np.random.default_rng(seed)
        real = int(rng.integers(seq // 4, seq + 1))
        ids, mask = np.zeros((1, seq), np.int64), np.zeros((1, seq), np.int64)
        ids[0, :real], mask[0, :real] = rng.integers(1000, 30000, real), 1
        ids[0, 0], ids[0, real - 1] = 101, 102
        feeds.append({"input_ids": ids, "attention_mask": mask})
    return feeds


def embedding(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The attention-masked mean over tokens of last_hidden_state [1, S, H] -> [H]."""
    m = mask[0].astype(np.float64)[:, None]
    return (hidden[0].astype(np.float64) * m).sum(0) / m.sum()


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


# ---- preparing the engines (parent) ---------------------------------------------------------

def prepare(name: str, model: Path, calib: list[dict], work: Path) -> dict[str, tuple[str, str]]:
    """engine -> (kind, path): qcomp artifacts and onnxruntime models, built once per model."""
    import qcomp
    from onnxruntime.quantization import QuantType, quantize_dynamic
    made = {}
    t0 = time.perf_counter()
    made["qcomp dynamic"] = ("qcomp", str(qcomp.build(model, target="x86-vnni", quant="dynamic",
                                                      out=work / f"{name}.dyn")))
    calib_npz = work / f"{name}.calib.npz"
    np.savez(calib_npz, **{k: np.concatenate([c[k] for c in calib]) for k in calib[0]})
    made["qcomp static"] = ("qcomp", str(qcomp.build(model, target="x86-vnni", calib=calib_npz,
                                                     out=work / f"{name}.static")))
    print(f"{name}: qcomp builds {time.perf_counter() - t0:.0f} s", flush=True)
    made["ort fp32"] = ("ort", str(model))
    dyn = work / f"{name}.ort_dynamic.onnx"
    quantize_dynamic(str(model), str(dyn), weight_type=QuantType.QInt8)
    made["ort dynamic"] = ("ort", str(dyn))
    made["ort static QDQ"] = ("ort", str(ort_static(model, calib, work / f"{name}.ort_qdq.onnx")))
    import peers
    xml = peers.openvino_int8(model, calib, work / f"{name}.ov", transformer=True)
    made["openvino int8"] = xml if isinstance(xml, peers.Unavailable) else ("openvino", str(xml))
    return made


def ort_static(model: Path, calib: list[dict], out: Path) -> Path:
    import logging

    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self):
            self._it = iter(calib)

        def get_next(self):
            return next(self._it, None)
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        pre = out.with_name(out.stem + ".pre.onnx")
        quant_pre_process(str(model), str(pre))
        quantize_static(str(pre), str(out), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    finally:
        root.setLevel(level)
    return out


# ---- timing children ------------------------------------------------------------------------

def child(kind: str, path: str, sentence: str, threads: int, runs: int, warmup: int, hidden_out: str) -> dict:
    """Time one engine alone (peers.time_engine); its last_hidden_state on the sentence saved to hidden_out."""
    import peers
    timing, hidden = peers.time_engine(kind, path, dict(np.load(sentence)), threads, runs, warmup,
                                       output="last_hidden_state")
    np.save(hidden_out, hidden)
    return {**timing, "hidden": hidden_out}


# ---- report ---------------------------------------------------------------------------------

def section(command: str, facts: dict, seq: int, rows: list[dict], engines_missing: list[str], lat,
            floors: dict | None = None) -> str:
    today = datetime.date.today().isoformat()
    lines = [f"## Transformer encoders on x86-vnni against onnxruntime ({today})", "",
             f"Command: `{command}`; CPU: {facts['cpu']} ({facts['cores']} cores available), "
             f"{', '.join(f'{k} {v}' for k, v in facts.get('peers', {'onnxruntime': facts['onnxruntime']}).items())}, qcomp at {facts['commit']}{' (uncommitted changes)' if facts['dirty'] else ''}; "
             f"load average at the start {facts['load'][0]:.1f} (a shared machine: compare ratios within this "
             f"table). Batch 1, sequence {seq}; median over rounds of each engine's median ms, each engine alone "
             f"in its own process, the order alternating over rounds; cosine: the sentence embedding (masked mean of last_hidden_state) "
             f"against onnxruntime FP32's.", ""]
    counts = sorted({r["threads"] for r in rows})
    header = ["model", "engine"] + [f"{t} thread{'s' if t > 1 else ''} ms" for t in counts] + ["cosine vs FP32"]
    table_rows = []
    keys = []
    for r in rows:
        if (r["model"], r["engine"]) not in keys:
            keys.append((r["model"], r["engine"]))
    for model, engine in keys:
        mine = [r for r in rows if r["model"] == model and r["engine"] == engine]
        cells = [TITLES[model], engine]
        for t in counts:
            hit = [r for r in mine if r["threads"] == t]
            cells.append(f"{hit[0]['ms']:.2f}" if hit else "-")
        cells.append(f"{mine[0]['cosine']:.5f}")
        table_rows.append(cells)
    lines += lat.table(header, table_rows)
    for model in dict.fromkeys(r["model"] for r in rows):
        for t in counts:
            mine = {r["engine"]: r["ms"] for r in rows if r["model"] == model and r["threads"] == t}
            q = min(((ms, e) for e, ms in mine.items() if e.startswith("qcomp")), default=None)
            peer = min(((ms, e) for e, ms in mine.items() if e in INT8_PEERS), default=None)
            if q and peer:
                lines += ["", f"{TITLES[model]}, {t} thread(s): qcomp's best ({q[1]}) at {q[0] / peer[0]:.2f}x the "
                          f"best int8 peer ({peer[1]}); the goal is <= 0.8x: "
                          f"{'met' if q[0] <= 0.8 * peer[0] else 'not met'}."]
                fl = (floors or {}).get(model)
                if fl:
                    floor_ms = fl["macs"] / (fl["macs_per_s"] * t) * 1e3
                    lines[-1] += (f" VNNI floor: {fl['macs'] / 1e6:,.0f} MMACs at {fl['basis']} x {t} core(s) = "
                                  f"{floor_ms:.2f} ms; 0.8x the peer ({0.8 * peer[0]:.2f} ms) needs "
                                  f"{100 * floor_ms / (0.8 * peer[0]):.0f} % of that peak over the whole run, "
                                  f"qcomp's best runs at {100 * floor_ms / q[0]:.0f} %, the peer at "
                                  f"{100 * floor_ms / peer[0]:.0f} %.")
    if engines_missing:
        lines += ["", "Not measured: " + "; ".join(engines_missing) + "."]
    return "\n".join(lines) + "\n"


def vnni_floor(artifact: str) -> dict:
    """The model's multiply-accumulates (the artifact's TARGET graph, qcomp.ir.stats.node_macs) and this
    CPU's VNNI peak (qcomp.layer_profile.cpu_peak: MACs per cycle per core, the measured clock), for the
    floor line: no int8 engine on this core runs the model's products faster than macs / peak."""
    from qcomp.ir.stats import node_macs
    from qcomp.layer_profile import _target_graph, cpu_peak
    from qcomp.target import get_target
    g = _target_graph(Path(artifact), get_target("x86-vnni"))
    peak = cpu_peak(1)
    return {"macs": int(sum(node_macs(g, n) or 0 for n in g.nodes)), "macs_per_s": peak.gops * 1e9 / 2,
            "basis": f"{peak.basis} at {peak.hz / 1e9:.2f} GHz ({peak.clock_source})"}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--models", default="minilm,bert_base")
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--runs", type=int, default=30, help="timed runs of each engine per round")
    ap.add_argument("--rounds", type=int, default=3, help="rounds, each engine alone in a child per round")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--engines", default=",".join(ENGINES), help="a subset of: " + ", ".join(ENGINES))
    ap.add_argument("--no-write", action="store_true", help="print the section instead of updating RESULTS.md")
    ap.add_argument("--results", default=str(HERE / "RESULTS.md"))
    ap.add_argument("--section", default=SECTION, help="the RESULTS.md section (markers) to rewrite or append")
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(*json.loads(args.child))))
        return 0
    lat = latency_lib()
    shown = [a for a in (argv if argv is not None else sys.argv[1:])]
    if "--results" in shown:
        i = shown.index("--results")
        del shown[i:i + 2]
    command = ("python benchmarks/transformer.py " + shlex.join(shown)).strip()
    threads = [int(t) for t in args.threads.split(",") if t]
    wanted = [e for e in args.engines.split(",") if e]
    import peers
    missing = []
    facts = lat.machine_facts()
    facts["peers"] = peers.versions()
    rows, floors = [], {}
    with tempfile.TemporaryDirectory(prefix="qcomp-transformer-") as tmp:
        work = Path(tmp)
        for name in [m for m in args.models.split(",") if m]:
            folder = export(name, args.seq)
            model, sentence = folder / "model.onnx", folder / "sentence.npz"
            calib = calibration_inputs(name, args.seq)
            made = {e: v for e, v in prepare(name, model, calib, work).items() if e in wanted}
            missing += [f"{e} on {TITLES[name]}: {v.why}" for e, v in made.items() if isinstance(v, peers.Unavailable)]
            engines = {e: v for e, v in made.items() if isinstance(v, tuple)}
            if "qcomp dynamic" in engines:
                floors[name] = vnni_floor(engines["qcomp dynamic"][1])
            mask = np.load(sentence)["attention_mask"]
            results = {}
            for n in threads:
                def spawn(engine, n=n):
                    kind, path = engines[engine]
                    hidden = work / f"{name}-{engine.replace(' ', '_')}-{n}.npy"
                    return peers.run_script_child(__file__, [kind, path, str(sentence), n, args.runs, args.warmup,
                                                             str(hidden)], REPO)
                for engine, r in peers.time_rounds(spawn, list(engines), args.rounds).items():
                    if "error" in r:
                        missing.append(f"{engine} on {TITLES[name]}, {n} thread(s): {r['error']}")
                        continue
                    results[(engine, n)] = r
                    print(f"{name} {engine} {n} thread(s): {r['ms']:.2f} ms (rounds {r['rounds']})", flush=True)
            ref = embedding(np.load(results[("ort fp32", threads[0])]["hidden"]), mask)
            for (engine, n), r in results.items():
                cos = cosine(embedding(np.load(r["hidden"]), mask), ref)
                rows.append({"model": name, "engine": engine, "threads": n, "ms": r["ms"], "cosine": cos})
    text = section(command, facts, args.seq, rows, missing, lat, floors)
    if args.no_write:
        print(text)
    else:
        write_section(Path(args.results), text, args.section)
        print(text)
    return 0


def write_section(results: Path, text: str, section: str = SECTION) -> None:
    """Replace the section between its markers, or append it (with markers) at the end."""
    doc = results.read_text()
    begin, end = f"<!-- {section}:begin -->", f"<!-- {section}:end -->"
    if begin in doc and end in doc:
        head, rest = doc.split(begin, 1)
        _, tail = rest.split(end, 1)
        results.write_text(head + begin + "\n" + text + end + tail)
    else:
        results.write_text(doc.rstrip("\n") + "\n\n" + begin + "\n" + text + end + "\n")


if __name__ == "__main__":
    sys.exit(main())
