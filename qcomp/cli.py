"""The `qcomp` command line (ARCHITECTURE.md section 5).

Every failure the user can cause prints one clear message to stderr and exits with code 2;
`--debug` shows the traceback as well. An exception that is not a QcompError is a bug in qcomp
and says so. This module parses the command line (each subcommand's flags, BuildOptions from
them) and dispatches; the subcommands' bodies are cli_commands.py.
"""
from __future__ import annotations

import argparse
import sys
import traceback

from . import __version__, api
# the subcommands' bodies (cli_commands.py); _emulated_timing_note stays importable from here (tests)
from .cli_commands import (_emulated_timing_note, cmd_bench, cmd_build, cmd_inspect, cmd_quantize,  # noqa: F401
                           cmd_report, cmd_run, cmd_targets)
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
    g.add_argument("--residual-outliers", choices=("int16", "int8"),
                   help="residual sums (LayerNorm inputs) with outlier channels and the Dense outputs feeding them: "
                        "int16 (default of build) or int8 (default of quantize: QDQ export is int8)")
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
             "recurrent_state": getattr(args, "recurrent_state", None),
             "residual_outliers": getattr(args, "residual_outliers", None)}
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
