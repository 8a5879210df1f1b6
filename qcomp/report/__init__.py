"""Per-layer quantization error report (`qcomp report MODEL --calib C [--data D] -o DIR`).

The model is quantized exactly as `qcomp build` quantizes it; the float graph (after the float
passes, the graph that was calibrated) and the integer reference interpreter then run on the same
samples, and every int8 activation q with params (scale, zero_point) is compared, dequantized,

    x_hat = (q - zero_point) * scale

with the float value x it stands for (same name in both graphs; qcomp.report.match):

    cosine = <x, x_hat> / (|x| |x_hat|)
    SNR    = 10 log10(sum x^2 / sum (x - x_hat)^2)  dB        (over all elements of all samples)
    max abs error = max |x - x_hat|
    clip rate = share of x outside the grid, beyond half a step: x / scale + zero_point rounds
                outside [qmin, qmax]
    min / q1 / median / q3 / max of x (a fixed-size histogram: streaming, no tensors kept)

Where the error enters. With NSR = 10^(-SNR/10) (noise over signal power) and NSR_in the largest
NSR among a layer's int8 inputs (0 when they are exact, as a graph input is):

    SNR drop = SNR_in - SNR                                  how much worse than its inputs
    own SNR  = -10 log10(NSR - NSR_in)      (+inf if NSR <= NSR_in)

own SNR is the SNR the layer would have on exact inputs if the error it receives passes through
in proportion and the error it makes is independent of it (the usual additive-noise model of
quantization). The entry points are the layers with the lowest own SNR among those that at
least double the noise they receive (drop >= 3 dB): a near-exact input followed by an ordinary
layer is a huge drop but a small error; a broken layer has a low own SNR wherever it sits.
The lowest SNRs, in contrast, are where the error has piled up.

    report = make_report(float_graph, BuildOptions(calib=...), data=...)
    write_report(report, "out/")      # report.csv, report.json, report.html (table + SVG chart)
"""
from .compare import Comparison, ReportError, compare
from .console import print_report, progress_bar
from .make import make_report
from .records import LayerRow, OutputRow, Report, Source, WeightRow
from .stats import Distribution, ErrorStats, ErrorSummary
from .write import write_report

__all__ = ["Comparison", "ReportError", "compare", "make_report", "write_report", "print_report", "progress_bar",
           "Report", "LayerRow", "WeightRow", "OutputRow", "Source", "Distribution", "ErrorStats", "ErrorSummary"]
