"""The `qcomp` command line (ARCHITECTURE.md section 5).

Every failure the user can cause prints one clear message to stderr and exits with code 2;
`--debug` shows the traceback as well. An exception that is not a QcompError is a bug in qcomp
and says so.
"""
from __future__ import annotations

import argparse
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qcomp", description="Quantizing compiler: ONNX models to bit-exact int8 code.")
    parser.add_argument("--version", action="version", version=f"qcomp {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("inspect", help="print a model's graph: nodes, shapes, dtypes, quant params, totals")
    p.add_argument("model", help="an ONNX model")
    p.add_argument("--ir", action="store_true", help="print the IR text form instead of the table")
    _add_shape_flag(p)
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser("run", help="run a model on inputs from an .npz (float reference for ONNX files)")
    p.add_argument("model", help="an ONNX model")
    p.add_argument("--input", required=True, metavar="INPUTS.npz",
                   help="inputs keyed by the model's input names, in the model's own layout")
    p.add_argument("-o", "--output", metavar="OUTPUTS.npz", help="write outputs keyed by output name")
    _add_shape_flag(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("targets", help="list the targets and whether this host can build and run each")
    p.set_defaults(func=cmd_targets)
    return parser


def _console():
    from rich.console import Console
    # Off a terminal (pipes, CI logs) keep lines whole instead of wrapping at 80 columns.
    return Console(width=None if sys.stdout.isatty() else 200, highlight=False)


def cmd_inspect(args) -> int:
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
    g = api.load_model(args.model, api.parse_input_shapes(args.input_shape))
    feeds = api.load_npz(args.input)
    outs = api.run_float(g, feeds)
    console = _console()
    for name, arr in outs.items():
        line = f"{name}: {arr.dtype}{list(arr.shape)}  min {arr.min():.4g}  max {arr.max():.4g}"
        if arr.ndim >= 1 and arr.size == arr.shape[-1] and arr.size > 1:
            top = np.argsort(-arr.reshape(-1), kind="stable")[:5]
            line += "  top-5 " + " ".join(f"{int(k)}:{float(arr.reshape(-1)[k]):.3f}" for k in top)
        console.print(line, markup=False)
    if args.output:
        path = api.save_npz(args.output, outs)
        console.print(f"wrote {path}", markup=False)
    return 0


def cmd_targets(args) -> int:
    from rich.table import Table

    from .target import all_targets, host_support

    table = Table(title="qcomp targets on this host", title_justify="left")
    for col in ("target", "build", "run", "description", "why not"):
        table.add_column(col)
    for t in all_targets().values():
        s = host_support(t)
        table.add_row(t.name, "yes" if s.can_build else "no", "yes" if s.can_run else "no",
                      t.description, s.why)
    _console().print(table)
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
    except KeyboardInterrupt:
        print("qcomp: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # a bug in qcomp, not in the user's input
        if args.debug:
            traceback.print_exc()
        print(f"qcomp {args.command}: internal error: {type(e).__name__}: {e}\n"
              f"This is a bug in qcomp; rerun with --debug and report the traceback.", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
