"""Tests of qcomp.report: the per-layer quantization error report."""
