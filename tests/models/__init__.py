"""End-to-end model tests: synthetic CNNs built with onnx.helper and real models exported with torch,
imported by qcomp's frontend, run by qcomp's float reference and matched against onnxruntime."""
