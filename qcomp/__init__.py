"""qcomp: an ahead-of-time quantizing compiler from ONNX to int8 code for real hardware."""
__version__ = "0.1.0"
