"""placeholder during development"""
from .kernels16 import emit_dot16_scalar as emit_dot16
