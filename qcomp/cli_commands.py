"""The bodies of the `qcomp` subcommands: build, quantize, inspect, run, report, bench, targets.

cli.py parses the command line (the flags of each subcommand, their translation to BuildOptions)
and dispatches to the cmd_* function of this module that the subcommand's parser names; each
returns the exit code, 0 on success, and raises QcompError for a failure the user can cause (cli.main
turns it into one line on stderr and exit code 2). Split out of cli.py so that the parser and the
work of each subcommand can be read and changed apart; the output of every subcommand is
unchanged (rich tables and plain lines on stdout, warnings on stderr).
"""
from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

from . import __version__, api
from .errors import QcompError


def _build_options(args):
    """BuildOptions from the parsed flags: cli._build_options (imported here at call time, since
    cli imports this module)."""
    from .cli import _build_options as build_options
    return build_options(args)


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
    if args.residual_outliers is None:   # likewise the residual outlier rule (passes/outlier16.py)
        options = dataclasses.replace(options, residual_outliers="int8")
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
