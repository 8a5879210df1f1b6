"""The parts of benchmarks/accuracy.py: data, metrics, the qcomp and onnxruntime paths, one module
per benchmarked model, and the RESULTS.md writer."""
