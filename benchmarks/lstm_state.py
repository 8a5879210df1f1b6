"""int8 against int16 recurrent state on long sequences: cosine vs FP32 and Cortex-M4 instructions.

    python benchmarks/lstm_state.py              prints the tables and updates RESULTS.md (section lstm-state)
    python benchmarks/lstm_state.py --no-write --steps 64

The recurrent models of tests/models/export_recurrent.py (seeded torch weights, not trained),
exported here with a long sequence (--steps, default 128): the keyword LSTM (x [1, T, 10], LSTM 10 ->
24, its last state -> Linear), the same with the forget gate's bias raised by 3 (f close to 1, a
long memory, as trained LSTMs often have), and the CRNN head (T columns, bidirectional GRU then
bidirectional LSTM, per-column logits; accuracy only). Calibration: 32 seeded standard-normal inputs;
evaluation: 16 others, the cosine of each against onnxruntime's FP32 output (mean and minimum). Also
the audio keyword model of tests/models/export_audio.py (STFT-like front end, then a 6-step LSTM) on
its seeded synthetic clips (tests/models/test_audio_frontend.py: 32 to calibrate, 16 to evaluate).

Variants (passes/state16.py): `int8 state` (--recurrent-state int8: every activation int8), `int16
state` (the default: the LSTM cell state and GRU hidden state int16, the gates int8), and `int16
state + gates` (also the gate pre-activations and activations int16 through --precision, as TFLite's
integer LSTM keeps them). Instructions: one inference of the cortex-m4 artifact
(arm-none-eabi-gcc -O2, qemu-system-arm -M mps2-an386 -icount shift=0, the runner's SysTick count),
its raw outputs checked equal to the ref artifact's.
"""
from __future__ import annotations

import argparse
import platform
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
for _p in (str(HERE), str(REPO)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import qcomp  # noqa: E402
from accuracy_lib.report import table, update_section  # noqa: E402
from tests.models.compare import cosine, run_onnxruntime  # noqa: E402

GATES = {"gates", "iof", "g", "i", "f", "o", "zr", "zr_pre", "n", "n_pre"}   # recurrent_cells.py's gate values


def export(out: Path, steps: int) -> dict[str, Path]:
    import torch
    sys.path.insert(0, str(REPO / "tests" / "models"))
    from export_recurrent import CrnnHead, KwsLstm
    torch.manual_seed(0)
    models = {"kws_lstm": (KwsLstm(), (1, steps, 10))}
    remember = KwsLstm()
    remember.load_state_dict(models["kws_lstm"][0].state_dict())
    with torch.no_grad():
        remember.lstm.bias_ih_l0[24:48] += 3.0     # torch's gate order i, f, g, o
    models["kws_lstm, forget bias +3"] = (remember, (1, steps, 10))
    models["crnn_head"] = (CrnnHead(), (1, 8, 4, steps))
    paths = {}
    for i, (name, (model, shape)) in enumerate(models.items()):
        paths[name] = out / f"m{i}.onnx"
        torch.onnx.export(model.eval(), (torch.zeros(shape),), str(paths[name]), input_names=["x"],
                          output_names=["logits"], opset_version=14, dynamo=False)
    return paths


def audio_model() -> tuple[Path, np.ndarray, np.ndarray]:
    """tests/models/export_audio.py's keyword model (cached export) and its seeded clips (calibration, test)."""
    from tests.models.export_cache import cached_export
    from tests.models.test_audio_frontend import clips
    return cached_export("export_audio.py") / "audio_kws.onnx", clips(2, 32), clips(1, 16)[:, None]


def gate_marks(path: Path) -> tuple[str, ...]:
    g = qcomp.load_model(path)
    return tuple(f"{n.name}=int16" for n in g.nodes if "/step" in n.name and n.name.rsplit("/", 1)[-1] in GATES)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=128)
    ap.add_argument("--no-write", action="store_true", help="print only, leave RESULTS.md alone")
    ap.add_argument("--no-m4", action="store_true", help="skip the Cortex-M4 instruction counts")
    args = ap.parse_args()
    acc_rows, cost_rows = [], []
    with tempfile.TemporaryDirectory(prefix="qcomp-lstm-state-") as tmp:
        root = Path(tmp)
        models = export(root, args.steps)
        models["audio_kws (STFT front end, 6 frames)"] = audio_model()[0]
        for name, path in models.items():
            inp = qcomp.load_model(path).inputs[0]
            shape = qcomp.load_model(path).types[inp].shape
            if name.startswith("audio"):
                _, calib, tests = audio_model()
            else:
                calib = np.random.default_rng(2).standard_normal((32,) + shape[1:]).astype(np.float32)
                tests = np.random.default_rng(1).standard_normal((16,) + shape).astype(np.float32)
            np.savez(root / "calib.npz", **{inp: calib})
            want = [run_onnxruntime(path, {inp: x})["logits"] for x in tests]
            variants = {"int8 state": {"recurrent_state": "int8"}, "int16 state (default)": {},
                        "int16 state + gates": {"precision": gate_marks(path)}}
            m4 = {}
            for variant, opts in variants.items():
                ref = qcomp.build(path, target="ref", calib=root / "calib.npz", out=root / "ref", **opts)
                runner = qcomp.load(ref)
                cos = [cosine(runner.run({inp: x})["logits"], w) for x, w in zip(tests, want)]
                acc_rows.append([name, variant, f"{np.mean(cos):.5f}", f"{np.min(cos):.5f}"])
                print(acc_rows[-1], flush=True)
                if args.no_m4 or name == "crnn_head":   # crnn_head: accuracy only (at 128 columns over 4 MiB flash)
                    continue
                art = qcomp.build(path, target="cortex-m4", calib=root / "calib.npz", out=root / "m4", **opts)
                m4_runner = qcomp.load(art)
                got = m4_runner.run({inp: tests[0]}, raw=True)
                ref_raw = runner.run({inp: tests[0]}, raw=True)
                if any(not np.array_equal(got[k], v) for k, v in ref_raw.items()):
                    raise SystemExit(f"{name} {variant}: cortex-m4 differs from ref")
                m4[variant] = m4_runner._runner.last_instructions   # the C runner's SysTick count (runtime/c.py)
                flash = m4_runner.manifest.get("flash_bytes")
                cost_rows.append([name, variant, f"{m4[variant]:,}",
                                  f"{m4[variant] / m4['int8 state']:.2f}x", f"{flash:,}" if flash else "-"])
                print(cost_rows[-1], flush=True)
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())
    lines = [f"Command: `python benchmarks/lstm_state.py --steps {args.steps}` (built on {cpu}; the accuracy is "
             f"the integer reference's, the same bits on every target). {args.steps} time steps; cosine of the "
             "logits vs onnxruntime FP32 over 16 seeded standard-normal inputs (the audio model: 16 synthetic clips; "
             "weights seeded, not trained).", ""]
    lines += table(["model", "recurrent state", "cosine mean", "cosine min"], acc_rows)
    if cost_rows:
        lines += ["", "Cortex-M4 (qemu-system-arm -M mps2-an386 -icount shift=0): instructions per inference, "
                  "raw outputs equal to ref's.", ""]
        lines += table(["model", "recurrent state", "instructions", "vs int8 state", "flash bytes"], cost_rows)
    body = "\n".join(lines)
    print(body)
    if not args.no_write:
        update_section(HERE / "RESULTS.md", "lstm-state", "## Recurrent state: int8 vs int16\n\n" + body + "\n")


if __name__ == "__main__":
    main()
