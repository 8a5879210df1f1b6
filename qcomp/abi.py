"""The facts of the artifact ABI, read once from their one definition: runtime/qcomp.h.

    STATUS           (Status(name, value, message), ...) in value order: QCOMP_OK = 0 .. the last
                     code; the message is the comment after the enumerator, with every QCOMP_ macro
                     #defined in qcomp.h replaced by its value ("aligned to 64 bytes")
    UNKNOWN_STATUS   what qcomp_status_string returns for any other value
    DTYPES           (Dtype(name, value, numpy dtype), ...): the qcomp_dtype enumerators; the numpy
                     dtype is the name without QCOMP_, lower case (QCOMP_INT8 -> int8)
    WORKSPACE_ALIGN  QCOMP_WORKSPACE_ALIGN: the workspace's alignment, and that of every planned
                     offset and constant table (a cache line, and a zmm register)
    RAW_INPUTS, RAW_OUTPUTS, ABI_VERSION, MAX_RANK (the length of qcomp_tensor_info.shape)
    MODEL_CODES      the run flag of the model's own integer codes (version 3); RUN_FLAGS every
                     flag bit qcomp_run_ex defines (any other bit: QCOMP_ERR_BAD_FLAGS)

Every backend that prints a status string, a dtype code or an alignment (C templates, LLVM IR,
CUDA), and every runtime that interprets one, takes it from here; tests/backends/test_abi_facts.py
checks that each generated copy agrees. A leaf module: it imports only qcomp.resources.
"""
from __future__ import annotations

import re
from typing import NamedTuple

import numpy as np

from .resources import data_dir


class Status(NamedTuple):
    name: str
    value: int
    message: str


class Dtype(NamedTuple):
    name: str
    value: int
    np: np.dtype


def _header() -> str:
    return (data_dir("runtime") / "qcomp.h").read_text()


def _parse(text: str):
    defines = {m.group(1): int(m.group(2)) for m in re.finditer(r"^#define (QCOMP_\w+) (\d+)\s*$", text, re.M)}

    def expand(message: str) -> str:
        return re.sub(r"\bQCOMP_\w+\b", lambda m: str(defines.get(m.group(0), m.group(0))), message)

    body = re.search(r"typedef enum \{([^{}]*)\} qcomp_status;", text).group(1)
    status = tuple(Status(m.group(1), int(m.group(2)), expand(m.group(3)))
                   for m in re.finditer(r"^\s*(QCOMP_\w+) = (\d+),?\s*/\* (.*?) \*/\s*$", body, re.M))
    if [s.value for s in status] != list(range(len(status))) or len(status) != body.count("="):
        raise RuntimeError("runtime/qcomp.h: every qcomp_status enumerator needs a value 0, 1, ... and a "
                           "/* message */ after it")
    body = re.search(r"typedef enum \{([^{}]*)\} qcomp_dtype;", text).group(1)
    dtypes = tuple(Dtype(m.group(1), int(m.group(2)), np.dtype(m.group(1).removeprefix("QCOMP_").lower()))
                   for m in re.finditer(r"(QCOMP_\w+) = (\d+)", body))
    max_rank = int(re.search(r"int64_t shape\[(\d+)\];", text).group(1))
    return status, dtypes, defines, max_rank


STATUS, DTYPES, _DEFINES, MAX_RANK = _parse(_header())
UNKNOWN_STATUS = "unknown status"
WORKSPACE_ALIGN: int = _DEFINES["QCOMP_WORKSPACE_ALIGN"]
RAW_INPUTS: int = _DEFINES["QCOMP_RAW_INPUTS"]
RAW_OUTPUTS: int = _DEFINES["QCOMP_RAW_OUTPUTS"]
ABI_VERSION: int = _DEFINES["QCOMP_ABI_VERSION"]
MODEL_CODES: int = _DEFINES["QCOMP_MODEL_CODES"]
RUN_FLAGS: int = RAW_INPUTS | RAW_OUTPUTS | MODEL_CODES
STATUS_OF: dict[str, int] = {s.name: s.value for s in STATUS}
DTYPE_OF_NUMPY: dict[np.dtype, Dtype] = {d.np: d for d in DTYPES}
NUMPY_OF_CODE: dict[int, np.dtype] = {d.value: d.np for d in DTYPES}


def status_message(value: int) -> str:
    """qcomp_status_string(value), as every artifact returns it."""
    return STATUS[value].message if 0 <= value < len(STATUS) else UNKNOWN_STATUS


def align(n: int) -> int:
    """n rounded up to a multiple of WORKSPACE_ALIGN."""
    return -(-n // WORKSPACE_ALIGN) * WORKSPACE_ALIGN
