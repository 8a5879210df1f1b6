"""`qcomp build`: import, float passes, calibration, quantization, artifact (ARCHITECTURE.md 1, 4).

    FLOAT graph --FLOAT_PASSES--> calibrate --> quantize --> QUANTIZED graph --TARGET_PASSES--> backend --> artifact/

One quantization feeds every target: the QUANTIZED graph (and its sha256 in the manifest) depends
only on the model, the calibration data and the quantization options, never on the target.

Builds are atomic (staging.staged_artifact): the artifact is written into a hidden sibling of -o
(`.OUT.tmp-XXXXXXXX`, same file system) and renamed into place only when complete, its manifest
last. A failure or an interrupt (KeyboardInterrupt included) removes the staging directory and
leaves -o exactly as it was; a previous artifact is replaced by rename, never emptied in place.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import sys
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

from .artifact import tensor_entry, write_manifest
from .staging import check_out as _check_out, staged_artifact
from .errors import QcompError
from .ir import Graph, ops, verify
from .ir.io_quant import io_quant
from .ir.prequant import prequant_of
from .ir.serialize import graph_sha256, save_graph
from .ir.stats import activation_bytes
from .passes import pass_name, run_passes
from .passes.absorb_flatten_transpose import absorb_flatten_transpose
from .passes.calibrate import CalibrationResult, calibrate
from .passes.eliminate_dead_code import eliminate_dead_code
from .passes.fold_batchnorm import fold_batchnorm
from .passes.fold_constants import fold_constants
from .passes.fold_dense_bias import fold_dense_bias
from .passes.fold_matmul_scale import fold_matmul_scale
from .passes.fold_pad import fold_pad
from .passes.fold_reshapes import fold_reshapes
from .passes.fold_transposes import fold_transposes
from .passes.fuse_activations import fuse_activations
from .passes.fuse_residual import fuse_residual
from .passes.fuse_layer_norm import fuse_layer_norm
from .passes.fuse_elementwise import fuse_elementwise
from .passes.fuse_dynamic import fuse_dynamic
from .passes.fold_dynamic_bias import fold_dynamic_bias
from .passes.fuse_dynamic_attention import fuse_dynamic_attention
from .passes.fuse_attention import fuse_attention
from .passes.fuse_lut_chain import fuse_lut_chain
from .passes.share_dynamic_input import share_dynamic_input
from .passes.lower_integer import lower_integer
from .passes.equalize import batchnorm_stats, equalize
from .passes.observers_auto import CALIB_METHODS
from .passes.precision import check_float_target, float_nodes, int16_values, int8_nodes, parse_precision
from .passes.state16 import STATE_KINDS, state16_values
from .passes.outlier16 import OUTLIER_KINDS, observed_values, outlier16_values
from .passes.smooth_layernorm import smooth_layernorm, smoothable, smoothing_refused
from .passes.split_outliers import split_outliers
from .passes.plan_memory import plan_memory
from .passes.quantize import QuantOptions, quantize
from .passes.quantize_weights import quantize_weights

FLOAT_PASSES = (fold_constants, absorb_flatten_transpose, fold_batchnorm, fuse_activations, fold_pad,
                eliminate_dead_code)
FLOAT_PASSES = (fold_constants, fuse_layer_norm, *FLOAT_PASSES[1:])   # the exporters' LayerNorm decomposition
# Transpose chains composed, order-keeping Reshape/Transpose chains made one Reshape (a view)
FLOAT_PASSES = (*FLOAT_PASSES[:2], fold_transposes, fold_reshapes, *FLOAT_PASSES[2:])
FLOAT_PASS_NAMES = tuple(pass_name(p) for p in FLOAT_PASSES)
# --quant full only (float_graph), after FLOAT_PASSES: fusions whose int8 form has fewer requantize
# points; told the names --skip / --precision use (keep=), each refuses where they name what it removes
STATIC_FLOAT_PASSES = (fold_dense_bias,)   # MatMul + bias Add -> Dense with bias (passes/fold_dense_bias.py)
STATIC_FLOAT_PASSES += (fuse_elementwise,)   # GELU etc. as a node chain -> one op, one Lut (passes/fuse_elementwise.py)
STATIC_FLOAT_PASSES += (fold_matmul_scale,)   # MatMul(Dense .., k) * c -> c in the Dense (passes/fold_matmul_scale.py)
TARGET_PASSES = (lower_integer, plan_memory)   # QUANTIZED -> TARGET graph with its memory plan, for a backend
# the TARGET-stage fusions a backend emits the fused ops of, run between lower_integer and plan_memory
# (backends missing here run TARGET_PASSES as they are: the unfused ops every backend has)
BACKEND_FUSIONS = {"llvm": (fuse_residual,)}
BACKEND_FUSIONS["llvm"] += (fuse_dynamic,)   # DynamicDense + bias + GELU (passes/fuse_dynamic.py)
BACKEND_FUSIONS["llvm"] += (fold_dynamic_bias,)   # DynamicDense(b = +0.0) + bias Add (passes/fold_dynamic_bias.py)
BACKEND_FUSIONS["llvm"] += (fuse_dynamic_attention,)   # DynamicMatMul * scale + mask (passes/fuse_dynamic_attention.py)
BACKEND_FUSIONS["llvm"] += (fuse_attention,)   # head split, scores, Softmax, P V, head merge (passes/fuse_attention.py)
BACKEND_FUSIONS["llvm"] += (fuse_lut_chain,)   # Lut(Lut(x)) -> one composed Lut (passes/fuse_lut_chain.py)
BACKEND_FUSIONS["llvm"] += (share_dynamic_input,)   # DynamicDense of one x: one quantize (passes/share_dynamic_input.py)
QUANT_MODES = ("full", "weight", "dynamic")


@dataclass(frozen=True)
class BuildOptions:
    """Every option of `qcomp build` (and of a `--config quant.toml` file)."""
    target: str = "ref"
    calib: str | None = None
    calib_size: int | None = None
    calib_method: str = "minmax"
    percentile: float = 99.99
    per_channel: bool = True
    skip: tuple[str, ...] = ()
    quant: str = "full"
    bias_correction: bool = False
    equalize: bool = False
    precision: tuple[str, ...] = ()        # NAME=int16|int8|float (passes/precision.py)
    accuracy: float | None = None          # --accuracy COS: raise tensors until the cosine reaches COS (qcomp/accuracy)
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    resize: int | None = None
    crop: int | None = None
    color: str = "rgb"
    layout: str = "NCHW"
    input_shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    dynamic_granularity: str = "tensor"    # --quant dynamic: an activation scale per "tensor" or per "row"
    mcpu: str | None = None                # --mcpu: the x86 CPU LLVM compiles for (qcomp/codegen/llvm/cpus.py)
    recurrent_state: str = "int16"         # LSTM cell / GRU hidden state: int16 or int8 (passes/state16.py)
    residual_outliers: str = "int16"       # residual sums with outlier channels: int16 or int8 (passes/outlier16.py)

    def check(self) -> None:
        if self.dynamic_granularity not in ("tensor", "row"):
            raise QcompError(f"--dynamic-granularity {self.dynamic_granularity!r}: choose tensor or row")
        if self.dynamic_granularity == "row" and self.quant != "dynamic":
            raise QcompError(f"--dynamic-granularity row applies to --quant dynamic, not --quant {self.quant}: "
                             "add --quant dynamic or drop the flag")
        if self.calib_method not in CALIB_METHODS:
            raise QcompError(f"--calib-method {self.calib_method!r}: choose one of {', '.join(CALIB_METHODS)}")
        parse_precision(self.precision)
        if self.recurrent_state not in STATE_KINDS:
            raise QcompError(f"--recurrent-state {self.recurrent_state!r}: choose int16 (the default) or int8")
        if self.residual_outliers not in OUTLIER_KINDS:
            raise QcompError(f"--residual-outliers {self.residual_outliers!r}: choose int16 (the default) or int8")
        if self.quant not in QUANT_MODES:
            raise QcompError(f"--quant {self.quant!r}: this qcomp version supports {', '.join(QUANT_MODES)}")
        if self.calib_size is not None and self.calib_size < 1:
            raise QcompError(f"--calib-size must be at least 1, got {self.calib_size}")
        if not 50 < self.percentile <= 100:
            raise QcompError(f"--percentile must be in (50, 100], got {self.percentile}")
        if self.accuracy is not None and (isinstance(self.accuracy, bool) or not isinstance(self.accuracy, (int, float))
                                          or not 0 < self.accuracy <= 1):
            raise QcompError(f"--accuracy is an output cosine in (0, 1], for example 0.99; got {self.accuracy!r}")


def _progress(total: int | None):
    """A rich progress bar on a terminal, nothing otherwise (CI logs stay clean)."""
    if not sys.stderr.isatty():
        return None, None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
    bar = Progress(TextColumn("calibrating"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                   transient=True)
    task = bar.add_task("calibrate", total=total)
    return bar, (lambda done, _total: bar.update(task, completed=done))


def _layout(shape) -> str:
    return "NCHW" if len(shape) == 4 else ""


def float_graph(g: Graph, options: BuildOptions, notes: list | None = None) -> Graph:
    """FLOAT_PASSES, then with --equalize cross-layer equalization (passes/equalize.py) on the
    BatchNorm statistics read before fold_batchnorm folds them. `notes` receives what it did."""
    passes = FLOAT_PASSES + static_float_passes(options)
    if not options.equalize:
        return run_passes(g, passes)
    stats = batchnorm_stats(g)
    return run_passes(g, (*passes, partial(equalize, bn_stats=stats, log=notes)))


def static_float_passes(options: BuildOptions) -> tuple:
    """STATIC_FLOAT_PASSES for --quant full (none otherwise), told the names --skip and --precision use."""
    if options.quant != "full":
        return ()
    keep = frozenset(options.skip) | frozenset(parse_precision(options.precision))
    return tuple(partial(p, keep=keep) for p in STATIC_FLOAT_PASSES)


@dataclass(frozen=True)
class Calibrated:
    """A FLOAT graph calibrated once, for quantize_model(..., calibrated=) to reuse: qcomp/accuracy
    quantizes the same calibration under many --precision choices (one trial each)."""
    graph: Graph                       # float_graph(imported model, options)
    graph_notes: tuple[str, ...]       # what float_graph did (--equalize)
    result: CalibrationResult
    data_format: str
    data_notes: tuple[str, ...]


def calibration_inputs(g: Graph) -> tuple[dict, dict]:
    """(input name -> (shape, dtype) the calibration data must hold, integer model inputs)."""
    from .frontend.int_io import read as read_int_io   # integer model inputs: calibrated on their codes
    inputs = {i: (g.types[i].shape, g.types[i].dtype.np) for i in g.inputs}
    int_inputs = {i: t for i, t in read_int_io(g).items() if i in inputs}
    inputs.update({i: (inputs[i][0], t["dtype"]) for i, t in int_inputs.items()})
    return inputs, int_inputs


def calibrate_model(g: Graph, options: BuildOptions, data=None) -> Calibrated:
    """Float passes and calibration of the imported graph `g` (--quant full) on `data` (default: the
    samples of options.calib, options.calib_size of them), with a progress bar on a terminal."""
    options.check()
    notes: list[str] = []
    gf = float_graph(g, options, notes)
    return _calibrate(g, gf, tuple(notes), options, data)


def _calibrate(g: Graph, gf: Graph, graph_notes: tuple[str, ...], options: BuildOptions, data) -> Calibrated:
    """calibrate_model on the float graph `gf` = float_graph(g, options) already made."""
    from .calibdata import load_calibration
    from .int_io import RealFeeds

    inputs, int_inputs = calibration_inputs(g)
    if data is None:
        data = load_calibration(options.calib, inputs, size=options.calib_size, mean=options.mean, std=options.std,
                                resize=options.resize, crop=options.crop, color=options.color, layout=options.layout)
    feeds = RealFeeds(data, int_inputs) if int_inputs else data
    outliers = options.residual_outliers == "int16"   # passes/outlier16.py, passes/smooth_layernorm.py

    def run(graph: Graph, progress=None) -> CalibrationResult:
        weighted_inputs = frozenset(n.inputs[0] for n in graph.nodes if isinstance(n.op, (ops.Conv2D, ops.Dense)))
        return calibrate(graph, feeds, options.calib_method, percentile=options.percentile, total=len(feeds),
                         progress=progress,
                         channel_means_of=weighted_inputs if options.bias_correction else frozenset(),
                         channel_absmax_of=observed_values(graph) | frozenset(smoothable(graph)) if outliers else frozenset())
    bar, progress = _progress(len(feeds))
    try:
        if bar is not None:
            bar.start()
        result = run(gf, progress)
    finally:
        if bar is not None:
            bar.stop()
    if outliers:   # outlier channels split off residual Dense layers, LayerNorm outputs' smoothed into their Dense
        # readers (passes/split_outliers.py, smooth_layernorm.py), then calibrated again
        notes: list[str] = []
        derived: dict = {}   # new value -> (lo, hi, per-channel max |x|), from the per-channel extents
        stats = {"absmax": result.channel_absmax, "log": notes, "extent": result.channel_extent, "derived": derived}
        smoothed = run_passes(gf, (partial(split_outliers, **stats), partial(smooth_layernorm, **stats)),
                              before=FLOAT_PASS_NAMES)
        if smoothed is not gf:
            new = {v for v in smoothed.types if v not in gf.types and v not in smoothed.constants}
            if options.calib_method == "minmax" and not options.bias_correction and new <= derived.keys():
                again = dataclasses.replace(   # minmax ranges of the new values are exact from the extents
                    result, ranges={**result.ranges, **{v: derived[v][:2] for v in new}},
                    methods={**result.methods, **{v: "minmax" for v in new}},
                    channel_absmax={**result.channel_absmax, **{v: derived[v][2] for v in new}})
            else:   # histogram methods, bias correction's channel means: calibrate the new graph
                again = run(smoothed)
            refused = smoothing_refused(smoothed, again.ranges)
            if refused is None:
                gf, result, graph_notes = smoothed, again, graph_notes + tuple(notes)
            else:
                graph_notes += (f"smooth_layernorm: not applied, {refused}",)
    return Calibrated(gf, graph_notes, result, data.format, tuple(data.notes))


def quantize_model(g: Graph, options: BuildOptions, calibrated: Calibrated | None = None) -> tuple[Graph, dict]:
    """FLOAT graph -> (QUANTIZED graph, calibration summary). `calibrated`: the float passes and
    calibration done before (calibrate_model) for this graph and these options, reused."""
    options.check()
    notes: list[str] = []
    if options.equalize and options.calib is None and prequant_of(g):
        raise QcompError("--equalize rescales channels of the weights and activations, so a pre-quantized "
                         "model's own scales would no longer fit them; build it without --equalize")
    if calibrated is None:
        imported, g = g, float_graph(g, options, notes)
    else:
        imported, g = g, calibrated.graph
        notes += calibrated.graph_notes
    passed = (*FLOAT_PASS_NAMES, *map(pass_name, static_float_passes(options)),
              *(("equalize",) if options.equalize else ()))
    precision = parse_precision(options.precision)
    skip = frozenset(options.skip) | float_nodes(g, precision, options.skip, before=imported)
    int16 = int16_values(g, precision, skip, before=imported)   # A16W8 values (passes/quantize16.py)
    extra = {"equalize": options.equalize, **({"precision": precision} if precision else {})}
    if options.quant != "full":
        _check_skip(g, options.skip)
        if int16:
            raise QcompError(f"--precision ...=int16 needs --quant full (int16 activations), not --quant "
                             f"{options.quant}; drop the int16 entries or quantize activations")
        quantize_pass = partial(quantize_weights, per_channel=options.per_channel,
                                dynamic=options.quant == "dynamic", skip=skip,
                                per_row=options.dynamic_granularity == "row")
        q = run_passes(g, (quantize_pass,), before=passed)
        return q, {"method": None, "samples": 0, "source": None, "mode": options.quant, "notes": notes, **extra}
    if options.calib is None and not prequant_of(g).source:   # (int_io.py: an integer Cast input is no QDQ)
        raise QcompError("--calib is required to quantize activations: give calibration samples "
                         "(an .npz, a directory of .npy, .bin or image files)")
    if options.calib is None:  # a pre-quantized (QDQ/QOperator) model: its own scales replace calibration
        quantize_pass = partial(quantize, ranges={}, options=QuantOptions(options.per_channel, skip, int16=int16))
        q = run_passes(g, (quantize_pass,), before=passed)
        return q, {"mode": "full", "method": "model", "samples": 0, "source": None,
                   "format": f"pre-quantized {prequant_of(g).source} model", "notes": notes, **extra}
    if calibrated is None:
        calibrated = _calibrate(imported, g, tuple(notes), options, None)
        notes[:] = calibrated.graph_notes
    g = calibrated.graph   # smooth_layernorm may have rewritten it (passes/smooth_layernorm.py)
    result = calibrated.result
    if options.recurrent_state == "int16":   # the LSTM cell / GRU hidden state in int16 (passes/state16.py)
        state16 = state16_values(g, skip | int8_nodes(g, precision, before=imported))   # NAME=int8 wins
        int16 = int16 | state16
        if state16:
            extra["recurrent_state"] = {"dtype": "int16", "values": len(state16)}
    if options.residual_outliers == "int16":   # residual sums with outlier channels in int16 (passes/outlier16.py)
        outlier16 = outlier16_values(g, result.channel_absmax, skip | int8_nodes(g, precision, before=imported))
        int16 = int16 | outlier16
        if outlier16:
            extra["residual_outliers"] = {"dtype": "int16", "values": len(outlier16)}
    quant_options = QuantOptions(options.per_channel, skip, options.bias_correction, int16=int16)
    q = run_passes(g, (partial(quantize, ranges=result.ranges, options=quant_options,
                               channel_means=result.channel_means),), before=(*passed, "calibrate"))
    summary = {"mode": "full", "method": options.calib_method, "samples": result.samples, "source": os.fspath(options.calib),
               "format": calibrated.data_format, "notes": list(calibrated.data_notes) + notes,
               "warnings": list(result.warnings), **extra}
    if options.calib_method == "auto":   # the method each tensor's range came from
        summary["methods"] = dict(sorted(result.methods.items()))
    if options.calib_method in ("percentile", "auto"):
        summary["percentile"] = options.percentile
    summary["bias_correction"] = options.bias_correction
    return q, summary


def _check_skip(g: Graph, skip) -> None:
    unknown = sorted(set(skip) - {n.name for n in g.nodes})
    if unknown:
        raise QcompError(f"--skip names no node of the model: {', '.join(unknown)}; "
                         f"`qcomp inspect MODEL` lists the node names")


def build(model: str | os.PathLike, out: str | os.PathLike | None = None,
          options: BuildOptions = BuildOptions()) -> Path:
    """Compile `model` for `options.target` into the artifact directory `out` (default MODEL_STEM.TARGET),
    atomically (staged_artifact); return its path."""
    from .api import load_model
    from .target import NATIVE, get_target, host_support, native_choice

    model = Path(model)
    target, choice = native_choice() if options.target == NATIVE else (get_target(options.target), None)
    from .codegen.llvm.cpus import with_mcpu
    target = with_mcpu(target, options.mcpu)   # before any work: a CPU without the target's features is refused
    support = host_support(target)
    if not support.can_build:
        raise QcompError(f"this host cannot build target {target.name!r}: {support.why}")
    final = Path(out) if out is not None else Path(f"{model.stem}.{target.name}")
    _check_out(final, model)   # before the long work: a refused -o costs nothing
    check_float_target(parse_precision(options.precision), target)
    options.check()
    if options.accuracy is not None:   # qcomp/accuracy: the precision of each tensor chosen by measurement
        from .accuracy import check_accuracy_target, choose_precision
        check_accuracy_target(options, target)
        g = load_model(model, options.input_shapes)
        q, calib_summary = choose_precision(g, options, target)
    else:
        g = load_model(model, options.input_shapes)
        q, calib_summary = quantize_model(g, options)
    with staged_artifact(final, model) as out:
        _write_artifact(out, model, target, q, options, calib_summary, choice)
    return final


def target_passes(target) -> tuple:
    """TARGET_PASSES with the fusions of `target`'s backend (BACKEND_FUSIONS) before plan_memory
    (or the backend's own planner, BACKEND_PLANS)."""
    return (lower_integer, *BACKEND_FUSIONS.get(target.backend, ()), BACKEND_PLANS.get(target.backend, plan_memory))


def plan_memory_strided(g: Graph) -> Graph:
    """plan_memory with strided Concat slices for the producers whose llvm kernels write rows with a
    stride (codegen/llvm/strided.py): an NHWC channel Concat of conv outputs runs no copy."""
    from .codegen.llvm.strided import why_not_strided_output
    return plan_memory(g, strided=why_not_strided_output)


BACKEND_PLANS = {"llvm": plan_memory_strided}


def _write_artifact(out: Path, model: Path, target, q: Graph, options: BuildOptions, calib_summary: dict,
                    choice: str | None = None) -> None:
    """The artifact's files into the (staging) directory `out`: model.qir, the backend's, manifest.json last.
    choice: why --target native chose `target` (recorded as the manifest's target_choice)."""
    from .codegen.llvm.cpus import manifest_entry
    int8_forms = io_quant(q)   # the manifest's quant params of each input and output
    save_graph(q, out / "model.qir")
    # the target's backend (qcomp/protocol.py): check() lists every node it cannot emit, all refused
    # in one error; emit(TARGET graph, target, out) writes its files and returns the manifest entries
    # it owns (files, workspace_bytes, flash/ram bytes, ...)
    from .protocol import backend_module, raise_problems
    backend = backend_module(target.backend)
    quantized_by = "quantize" if options.quant == "full" else "quantize_weights"
    lowered = run_passes(q, target_passes(target), before=(*FLOAT_PASS_NAMES, quantized_by))
    raise_problems(backend.check(lowered, target), target)
    backend_files = backend.emit(lowered, target, out)
    manifest = {
        "target": target.name, "features": list(target.host_features),
        **({"target_choice": f"native: {choice}"} if choice else {}),
        **({"cpu": manifest_entry(target, options.mcpu)} if target.backend == "llvm" and target.cpu else {}),
        "model": {"file": model.name, "sha256": hashlib.sha256(model.read_bytes()).hexdigest()},
        "quantized_graph_sha256": graph_sha256(q),
        "inputs": [tensor_entry(i, q.types[i], _layout(q.types[i].shape), int8_forms[i]) for i in q.inputs],
        "outputs": [tensor_entry(o, q.types[o], _layout(q.types[o].shape), int8_forms[o]) for o in q.outputs],
        "workspace_bytes": None, "activation_bytes": activation_bytes(q),
        "weight_bytes": int(sum(a.nbytes for a in q.constants.values())),
        "build_options": {k: v for k, v in asdict(options).items() if k != "input_shapes"}
        | {"input_shapes": {k: list(v) for k, v in options.input_shapes.items()}},
        "calibration": {k: v for k, v in calib_summary.items() if k != "accuracy"},
        **({"accuracy": calib_summary["accuracy"]} if "accuracy" in calib_summary else {}),   # --accuracy's choice
        "files": {"graph": "model.qir"},
    }
    from .frontend.int_io import read as read_int_io   # integer model I/O (qcomp/int_io.py)
    from .int_io import annotate
    annotate(manifest["inputs"] + manifest["outputs"], read_int_io(q))
    from .int_codes import mark_codes
    mark_codes(manifest["inputs"] + manifest["outputs"], lowered)   # "int_codes": QCOMP_MODEL_CODES runs them
    for key, value in backend_files.items():
        manifest[key] = manifest[key] | value if key == "files" else value
    write_manifest(out, manifest)
