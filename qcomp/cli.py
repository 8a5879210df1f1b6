"""The `qcomp` command line (ARCHITECTURE.md section 5).

Every failure the user can cause prints one clear message to stderr and exits with code 2;
`--debug` shows the traceback as well. An exception that is not a QcompError is a bug in qcomp
and says so.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import traceback
from pathlib import Path

import numpy as np

from . import __version__, api
from .errors import QcompError

EXIT_USAGE = 2


def _add_shape_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--input-shape", action="append", metavar="NAME=D0,D1,...",
                   help="fix the shape of a model input with dynamic dimensions (repeat per input)")


def _add_quant_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("quantization")
    g.add_argument("--calib", metavar="PATH", help="calibration samples: an .npz (one array per input, "
                   "samples on axis 0), a directory of .npy, .bin or image files")
    g.add_argument("--calib-size", type=int, metavar="N", help="use a seeded random subset of N samples")
    g.add_argument("--calib-method", choices=("minmax", "percentile", "entropy", "mse", "auto"),
                   help="how activation ranges are chosen (default minmax); auto: per tensor, the method of "
                        "least quantization error")
    g.add_argument("--percentile", type=float, help="mass kept by --calib-method percentile (default 99.99)")
    g.add_argument("--per-tensor", action="store_true", help="one weight scale per tensor instead of per channel")
    g.add_argument("--skip", metavar="NODE[,NODE...]", help="keep these nodes in float")
    g.add_argument("--quant", choices=("full", "weight", "dynamic"),
                   help="full (default): int8 weights and activations; weight: int8 weights, float compute; "
                        "dynamic: int8 weights, activation scales per run for MatMul/Gemm (transformers)")
    g.add_argument("--dynamic-granularity", choices=("tensor", "row"),
                   help="--quant dynamic: one activation scale per tensor (default) or per row (token)")
    g.add_argument("--bias-correction", action="store_true",
                   help="shift each layer's bias to undo the mean error weight quantization causes")
    g.add_argument("--equalize", action="store_true",
                   help="cross-layer equalization of Conv/Dense pairs (with bias absorption) before calibration")
    g.add_argument("--precision", action="append", metavar="NAME=int16|int8|float",
                   help="a tensor (or a node's outputs) in int16 activations (A16W8), or a node in float or "
                        "int8; repeat per name")
    g.add_argument("--recurrent-state", choices=("int16", "int8"),
                   help="LSTM cell state and GRU hidden state: int16 (default of build, as TFLite's integer LSTM) "
                        "or int8 (default of quantize: QDQ export is int8)")
    g.add_argument("--config", metavar="quant.toml", help="read these options from a TOML file; flags win")
    img = p.add_argument_group("image calibration data")
    img.add_argument("--mean", help="per-channel mean subtracted from pixels in [0, 255], e.g. 127 or 123.7,116.3,103.5")
    img.add_argument("--std", help="per-channel divisor after the mean, e.g. 128 or 58.4,57.1,57.4")
    img.add_argument("--resize", type=int, help="resize the short side to this many pixels")
    img.add_argument("--crop", type=int, help="centre-crop to this square size")
    img.add_argument("--color", choices=("rgb", "bgr"), help="channel order (default rgb)")
    img.add_argument("--layout", choices=("NCHW", "NHWC"), help="the model input's layout (default NCHW)")


def _floats(text: str | None, flag: str) -> tuple[float, ...] | None:
    if text is None:
        return None
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise QcompError(f"{flag} {text!r}: expected numbers separated by commas, e.g. 127 or 123.7,116.3,103.5") from None


def _build_options(args):
    from .builder import BuildOptions
    opts = api.load_config(args.config) if args.config else {}
    flags = {"calib": args.calib, "calib_size": args.calib_size, "calib_method": args.calib_method,
             "percentile": args.percentile, "quant": args.quant, "resize": args.resize, "crop": args.crop,
             "color": args.color, "layout": args.layout, "target": args.target, "mcpu": getattr(args, "mcpu", None),
             "mean": _floats(args.mean, "--mean"), "std": _floats(args.std, "--std"),
             "accuracy": getattr(args, "accuracy", None),
             "dynamic_granularity": args.dynamic_granularity,
             "recurrent_state": getattr(args, "recurrent_state", None)}
    opts.update({k: v for k, v in flags.items() if v is not None})
    if args.per_tensor:
        opts["per_channel"] = False
    if args.bias_correction:
        opts["bias_correction"] = True
    if args.skip:
        opts["skip"] = tuple(s.strip() for s in args.skip.split(",") if s.strip())
    if args.equalize:
        opts["equalize"] = True
    if args.precision:   # flags add to the config's entries; a name given twice differently is refused
        opts["precision"] = tuple(opts.get("precision", ())) + tuple(args.precision)
    opts["input_shapes"] = api.parse_input_shapes(args.input_shape)
    try:
        return BuildOptions(**opts)
    except TypeError as e:
        raise QcompError(f"invalid build options: {e}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qcomp", description="Quantizing compiler: ONNX models to bit-exact int8 code.")
    parser.add_argument("--version", action="version", version=f"qcomp {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("build", help="quantize a model and compile it for a target into an artifact directory")
    p.add_argument("model", help="an ONNX model")
    p.add_argument("--target", default=None, help="a target of `qcomp targets` (x86-vnni, arm-sdot, cuda, dsp-c, cortex-m4, ref, ...) or "
                   "native: the best CPU target this host runs (default: ref)")
    p.add_argument("-o", "--output", metavar="OUT", help="artifact directory (default: MODEL_STEM.TARGET)")
    p.add_argument("--accuracy", type=float, metavar="COS", help="raise the fewest, cheapest activation tensors "
                   "(to int16, or to float on targets with float math) until the output cosine vs float on held-back "
                   "calibration samples reaches COS, e.g. 0.99; prints and records what it raised")
    p.add_argument("--mcpu", metavar="NAME", help="x86 llvm targets: the CPU to compile for (native, "
                   "sapphirerapids, icelake-server, znver4, znver5, x86-64-v4, ...; default: the target's own, "
                   "icelake-server for x86-vnni); the artifact then needs that CPU's extensions")
    _add_quant_flags(p)
    _add_shape_flag(p)
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("inspect", help="print a model's or an artifact's graph: nodes, shapes, dtypes, "
                                       "quant params, totals")
    p.add_argument("model", help="an ONNX model or an artifact directory")
    p.add_argument("--ir", action="store_true", help="print the IR text form instead of the table")
    _add_shape_flag(p)
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser("run", help="run an artifact (or an ONNX model, in float) on inputs from an .npz")
    p.add_argument("model", help="an artifact directory, or an ONNX model (float reference)")
    p.add_argument("--input", required=True, metavar="INPUTS.npz",
                   help="inputs keyed by the model's input names, in the model's own layout")
    p.add_argument("-o", "--output", metavar="OUTPUTS.npz", help="write outputs keyed by output name")
    p.add_argument("--raw", action="store_true", help="write the int8 outputs before dequantization "
                                                      "(compare two artifacts exactly)")
    p.add_argument("--emulate", action="store_true", help="run a CUDA artifact's kernels on the CPU")
    p.add_argument("--threads", type=int, metavar="N", help="threads of an x86-vnni/arm-sdot artifact "
                                                           "(default: QCOMP_NUM_THREADS, else all cores)")
    _add_shape_flag(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("quantize", help="quantize a model as `build` does and write qcomp's quantization as a "
                                        "QDQ ONNX model (QuantizeLinear/DequantizeLinear) that onnxruntime runs")
    p.add_argument("model", help="an ONNX model")
    p.add_argument("-o", "--output", metavar="OUT.onnx", help="the QDQ model (default: MODEL_STEM.qdq.onnx)")
    _add_quant_flags(p)
    _add_shape_flag(p)
    p.set_defaults(func=cmd_quantize, target=None)

    p = sub.add_parser("report", help="per-layer quantization error: quantize as build does, run float and "
                                      "int8 on data, compare every int8 tensor")
    p.add_argument("model", help="an ONNX model")
    p.add_argument("--data", metavar="PATH", help="evaluation samples, in any --calib format; an .npz may also "
                   "hold labels (default: the calibration data)")
    p.add_argument("--data-size", type=int, metavar="N", help="use a seeded random subset of N evaluation samples")
    p.add_argument("-o", "--output", metavar="DIR", help="report directory (default: MODEL_STEM.report)")
    p.add_argument("--top", type=int, default=10, metavar="K", help="layers in the printed worst-layers table")
    _add_quant_flags(p)
    _add_shape_flag(p)
    p.set_defaults(func=cmd_report, target=None)

    p = sub.add_parser("bench", help="time an artifact on random valid inputs (median, p90), optionally against "
                                     "onnxruntime FP32 and int8 on the same inputs")
    p.add_argument("model", metavar="ARTIFACT", help="an artifact directory")
    p.add_argument("--vs", choices=("onnxruntime",), help="also run the source ONNX model in onnxruntime FP32 and "
                   "onnxruntime int8 (quantize_static QDQ, per-channel, u8 x s8), interleaved with qcomp")
    p.add_argument("--model", dest="source", metavar="MODEL.onnx", help="the source ONNX model for --vs (default: "
                   "the file the manifest names, in the working directory or next to the artifact)")
    p.add_argument("--threads", type=int, metavar="N", help="threads for qcomp and onnxruntime (default: qcomp's "
                   "own default, onnxruntime as many as cores)")
    p.add_argument("--runs", type=int, default=50, metavar="N", help="timed runs per engine (default 50)")
    p.add_argument("--warmup", type=int, default=5, metavar="N", help="untimed runs first (default 5)")
    p.add_argument("--per-layer", action="store_true", help="time every node instead (llvm artifacts run here: "
                   "x86-vnni): median ms, share, MACs, GOPS and share of the CPU's VNNI peak, slowest first")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("targets", help="list the targets and whether this host can build and run each")
    p.set_defaults(func=cmd_targets)
    return parser


def _console():
    from rich.console import Console
    # Off a terminal (pipes, CI logs) keep lines whole instead of wrapping at 80 columns.
    return Console(width=None if sys.stdout.isatty() else 200, highlight=False)


def cmd_build(args) -> int:
    from .builder import build
    options = _build_options(args)
    out = build(args.model, args.output, options)
    from .artifact import read_manifest
    m = read_manifest(out)
    c = m["calibration"]
    console = _console()
    if c.get("method") == "model":
        how = "the pre-quantized model's own scales"
    elif c["mode"] == "full":
        how = f"calibrated on {c['samples']} samples with {c['method']}"
    else:
        how = f"--quant {c['mode']}, no calibration"
    if m.get("target_choice"):
        console.print(f"--target {m['target_choice']}", markup=False)
    console.print(f"built {m['target']} artifact {out}/  (quantized graph sha256 "
                  f"{m['quantized_graph_sha256'][:16]}..., {m['weight_bytes']:,} weight bytes, {how})",
                  markup=False)
    if m.get("flash_bytes") is not None:   # dsp-c / cortex-m4: the firmware budget
        console.print(f"flash {m['flash_bytes']:,} bytes (code + weights), RAM {m['ram_bytes']:,} bytes "
                      f"(arena {m['workspace_bytes']:,} + static data + stack bound {m['stack_bytes']:,})",
                      markup=False)
    for note in c.get("notes", []):
        console.print(f"note: {note}", markup=False)
    _print_warnings(c)
    if m.get("accuracy"):   # --accuracy: what was raised and why (qcomp/accuracy)
        from .accuracy import accuracy_lines
        lines, warning = accuracy_lines(m["accuracy"])
        for line in lines:
            console.print(line, markup=False)
        if warning:
            print(f"warning: {warning}", file=sys.stderr)
    return 0


def _print_warnings(summary: dict) -> None:
    """Calibration warnings (a range clipping > 1 % of a tensor's values), one line each, to stderr."""
    for w in summary.get("warnings", []):
        print(f"warning: {w}", file=sys.stderr)


def cmd_quantize(args) -> int:
    from .builder import quantize_model
    from .frontend.export_qdq import write_qdq
    options = _build_options(args)
    if args.recurrent_state is None:   # QDQ export is int8 only: the recurrent state too, unless asked
        options = dataclasses.replace(options, recurrent_state="int8")
    g = api.load_model(args.model, options.input_shapes)
    q, summary = quantize_model(g, options)
    out = write_qdq(q, args.output or f"{Path(args.model).stem}.qdq.onnx", producer_version=__version__)
    how = (f"calibrated on {summary['samples']} samples with {summary['method']}" if summary.get("samples")
           else "with the model's own scales" if summary.get("method") == "model"
           else f"--quant {summary.get('mode', options.quant)}")
    _console().print(f"wrote QDQ model {out} ({how}); run it with onnxruntime to cross-check qcomp's "
                     f"quantization", markup=False)
    _print_warnings(summary)
    return 0


def _is_artifact(path: str) -> bool:
    return Path(path).is_dir()


def cmd_inspect(args) -> int:
    if _is_artifact(args.model):
        return _inspect_artifact(args)
    from rich.table import Table

    from .ir import format_graph
    from .ir.stats import constant_stats, graph_macs, node_macs

    g = api.load_model(args.model, api.parse_input_shapes(args.input_shape))
    console = _console()
    if args.ir:
        console.print(format_graph(g, constants=False), markup=False)
        return 0
    table = Table(title=f"{Path(args.model).name}: {g.stage.name} graph, activations NHWC inside qcomp",
                  title_justify="left")
    for col in ("#", "node", "op", "inputs", "output", "MACs"):
        table.add_column(col, justify="right" if col in ("#", "MACs") else "left")
    for i, n in enumerate(g.nodes):
        ins = ", ".join(f"{name}:{g.types[name]}" if name not in g.constants else f"const {g.types[name]}"
                        for name in n.inputs)
        outs = ", ".join(str(g.types[o]) for o in n.outputs)
        macs = node_macs(g, n)
        table.add_row(str(i), n.name, n.kind, ins, outs, f"{macs:,}" if macs else "")
    console.print(table)
    params, wbytes = constant_stats(g)
    for kind, names in (("input", g.inputs), ("output", g.outputs)):
        for name in names:
            console.print(f"{kind:6s} {name}: {g.types[name]}", markup=False)
    console.print(f"nodes: {len(g.nodes)}   params: {params:,}   MACs: {graph_macs(g):,}   "
                  f"weight bytes: {wbytes:,}", markup=False)
    return 0


def cmd_run(args) -> int:
    from . import int_io   # integer model I/O: uint8/int8 feeds and outputs, .npy for one input
    notes = []
    if _is_artifact(args.model):
        art = api.load(args.model, emulate=args.emulate, num_threads=args.threads)
        feeds = int_io.load_npy(args.input, [t["name"] for t in art.manifest["inputs"]]) or api.load_npz(args.input)
        outs = art.run(feeds, raw=args.raw)
        if args.raw:   # the --raw contract (qcomp.artifact.Artifact.run)
            notes = [f"note: output {t['name']!r} has no int8 form (computed in float); --raw leaves it "
                     f"{t['dtype']}" for t in art.manifest["outputs"] if "quant" not in t]
    else:
        if args.raw:
            raise QcompError("--raw needs an artifact (int8 outputs); an ONNX model runs in float: "
                             "build it first with `qcomp build MODEL --target ref --calib DATA`")
        g = api.load_model(args.model, api.parse_input_shapes(args.input_shape))
        outs = api.run_float(g, int_io.load_npy(args.input, list(g.inputs)) or api.load_npz(args.input))
    console = _console()
    for name, arr in outs.items():
        line = f"{name}: {arr.dtype}{list(arr.shape)}  min {arr.min():.4g}  max {arr.max():.4g}"
        if arr.ndim >= 1 and arr.size == arr.shape[-1] and arr.size > 1:
            top = np.argsort(-arr.reshape(-1), kind="stable")[:5]
            line += "  top-5 " + " ".join(f"{int(k)}:{float(arr.reshape(-1)[k]):.3f}" for k in top)
        console.print(line, markup=False)
    for note in notes:
        console.print(note, markup=False)
    if args.output:
        path = api.save_npz(args.output, outs)
        console.print(f"wrote {path}", markup=False)
    return 0


def _inspect_artifact(args) -> int:
    from .artifact import read_graph, read_manifest
    from .ir import format_graph
    m = read_manifest(args.model)
    console = _console()
    console.print(f"artifact {args.model}: target {m['target']}, qcomp {m['qcomp_version']}, "
                  f"format {m['format_version']}", markup=False)
    for kind in ("inputs", "outputs"):
        for t in m[kind]:
            q = t.get("quant")
            qtext = f"  int8 scale={q['scale']:.6g} zero_point={q['zero_point']}" if q else ""
            if "int_dtype" in t:   # integer model I/O (qcomp/int_io.py)
                qtext += f"  model {t['int_dtype']} zero_point={t['int_quant']['zero_point']}"
            console.print(f"{kind[:-1]:6s} {t['name']}: {t['dtype']}{t['shape']} {t['layout']}{qtext}",
                          markup=False)
    console.print(f"weight bytes: {m['weight_bytes']:,}   activation bytes: {m['activation_bytes']:,}   "
                  f"quantized graph sha256: {m['quantized_graph_sha256']}", markup=False)
    g = read_graph(args.model, m)
    console.print(format_graph(g, constants=False), markup=False)
    return 0


def cmd_report(args) -> int:
    from .report import make_report, print_report, progress_bar, write_report
    options = _build_options(args)
    g = api.load_model(args.model, options.input_shapes)
    out = Path(args.output) if args.output else Path(f"{Path(args.model).stem}.report")
    with progress_bar() as progress:
        report = make_report(g, options, data=args.data, data_size=args.data_size, model_name=Path(args.model).name,
                             progress=progress)
    paths = write_report(report, out)
    console = _console()
    print_report(report, console, top=args.top)
    console.print("wrote " + ", ".join(str(p) for p in paths.values()), markup=False)
    return 0


def cmd_bench(args) -> int:
    from .bench import bench, format_result
    if not _is_artifact(args.model):
        raise QcompError(f"{args.model!r} is not an artifact directory; build one first with "
                         f"`qcomp build MODEL --target x86-vnni -o OUT`")
    if args.per_layer:
        return _bench_per_layer(args)
    result = bench(args.model, threads=args.threads, runs=args.runs, warmup=args.warmup, vs=args.vs,
                   model=args.source)
    console = _console()
    for line in format_result(result):
        console.print(line, markup=False)
    note = _emulated_timing_note(Path(args.model))
    if note:
        console.print(note, markup=False)
    return 0


def _bench_per_layer(args) -> int:
    from .layer_profile import format_profile, profile_layers
    if args.vs or args.source:
        raise QcompError("--per-layer times qcomp's own nodes; run --vs onnxruntime without --per-layer")
    console = _console()
    for line in format_profile(profile_layers(args.model, threads=args.threads, runs=args.runs, warmup=args.warmup)):
        console.print(line, markup=False)
    return 0


def _emulated_timing_note(artifact: Path) -> str | None:
    """A warning when the artifact ran under an emulator (a cross target run through QEMU): its
    wall times measure the emulator, not the device."""
    import platform

    from .target import get_target
    name = json.loads((artifact / "manifest.json").read_text()).get("target", "")
    try:
        t = get_target(name)
    except QcompError:
        return None
    if t.kind == "cross" and t.host_arch and t.host_arch != platform.machine():
        return (f"note: this {name} artifact ran under {' '.join(t.runner.get('command', ['an emulator'])[:1])} "
                f"on this {platform.machine()} host: its times measure the emulator, not the {t.host_arch} device "
                f"(benchmarks/arm_cost.py counts instructions instead)")
    return None


def cmd_targets(args) -> int:
    from rich.table import Table

    from .target import all_targets, host_support, native_choice

    table = Table(title="qcomp targets on this host", title_justify="left")
    for col in ("target", "build", "run", "description", "why not"):
        table.add_column(col)
    for t in all_targets().values():
        s = host_support(t)
        table.add_row(t.name, "yes" if s.can_build else "no", "yes" if s.can_run else "no",
                      t.description, s.why)
    console = _console()
    console.print(table)
    try:
        console.print(f"--target native here: {native_choice()[1]}", markup=False)
    except QcompError as e:
        console.print(str(e), markup=False)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except QcompError as e:
        if args.debug:
            traceback.print_exc()
        print(f"qcomp {args.command}: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:   # one line, no traceback; `qcomp build` leaves no partial artifact
        print(f"qcomp {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # a bug in qcomp, not in the user's input
        if args.debug:
            traceback.print_exc()
        print(f"qcomp {args.command}: internal error: {type(e).__name__}: {e}\n"
              f"This is a bug in qcomp; rerun with --debug and report the traceback.", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
