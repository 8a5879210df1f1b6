"""`qcomp report`: quantize a model exactly as `qcomp build` does and measure each int8 tensor.

    FLOAT graph --quantize_model--> QUANTIZED graph --lower_integer--> TARGET graph
         |                                                               |
    FLOAT_PASSES --> run_float (the calibrated graph)          run_integer (the ground truth)
                               \\________ compare per value, per sample ________/

and, on the same calibration, the measured sensitivity of each tensor (qcomp/report/sensitivity.py):
the output cosine gained by raising it alone, which ranks the tensors and makes the suggestions.

The evaluation data defaults to the calibration data; a report on held-out data (`--data`) says
how the quantization generalizes, one on the calibration data only how well it fits.
"""
from __future__ import annotations

import os
from pathlib import Path

from ..builder import BuildOptions, calibrate_model, float_graph, quantize_model
from ..errors import InputError, QcompError
from ..ir import Graph
from .compare import Progress, compare
from .data import open_data
from .records import Report, Source
from .sensitivity import report_sensitivity


def make_report(graph: Graph, options: BuildOptions, *, data: str | os.PathLike | None = None,
                data_size: int | None = None, model_name: str = "model",
                progress: Progress | None = None) -> Report:
    """Quantize the FLOAT graph with `options` (calibration included), then compare float and
    int8 on `data` (default: the calibration data, `options.calib`)."""
    if data_size is not None and data_size < 1:
        raise QcompError(f"--data-size must be at least 1, got {data_size}")
    source = data if data is not None else options.calib
    if source is None:
        raise QcompError("give evaluation samples with --data (or calibration samples with --calib, which "
                         "are then used for both)")
    inputs = {i: (graph.types[i].shape, graph.types[i].dtype.np) for i in graph.inputs}
    try:   # before calibrating, so bad evaluation data fails fast
        evaluation = open_data(source, inputs, options, data_size)
    except InputError as e:
        if data is None:
            raise
        msg = str(e)   # qcomp.calibdata speaks of calibration data; this is the evaluation data
        raise InputError("--data: " + ("evaluation " + msg.removeprefix("calibration ")
                                       if msg.startswith("calibration ") else msg)) from None
    calibrated = calibrate_model(graph, options) if options.quant == "full" and options.calib is not None else None
    q, calib = quantize_model(graph, options, calibrated=calibrated)
    sensitivity, sens_notes = None, ()
    if calibrated is not None:   # before compare: its progress bar holds the terminal from its first update
        sensitivity, sens_notes = report_sensitivity(graph, options, calibrated, evaluation)
    gf = calibrated.graph if calibrated is not None else float_graph(graph, options)   # the graph calibrated
    result = compare(gf, q, evaluation, label_key=evaluation.label_key, total=len(evaluation), progress=progress)
    notes = list(result.notes) + list(sens_notes)
    calibration = None
    if calib.get("source") is not None:
        calibration = Source(calib["source"], calib["format"], calib["samples"])
        if Path(source).resolve() == Path(calib["source"]).resolve():
            notes.append("evaluated on the calibration data: give held-out samples with --data to see how "
                         "the quantization generalizes")
    if not result.layers:
        notes.append(f"--quant {options.quant}: no int8 activations with fixed quant params; the report "
                     f"compares weights and outputs only")
    return Report(model=model_name, quant=options.quant, calibration=calibration,
                  calibration_method=calib.get("method"), calibration_methods=calib.get("methods", {}),
                  data=Source(os.fspath(source), evaluation.samples.format, result.samples),
                  labels=evaluation.label_key, layers=result.layers, weights=result.weights,
                  outputs=result.outputs, sensitivity=sensitivity,
                  notes=tuple(calib.get("notes", ())) + tuple(f"warning: {w}" for w in calib.get("warnings", ()))
                  + evaluation.notes + tuple(notes))
