"""The host side of QCOMP_MODEL_CODES for cuda artifacts (GPU and --emulate runners): the model's own
uint8 / int8 codes in and out, integer operations only (manifest "model_codes", written by
qcomp/codegen/cuda/model_codes.py).

    input i (codes q):   the Quantize launches `skip` do not run; in each one's place (at its step of the
                         launch order, not before the run: the plan may give those workspace bytes to
                         a value that dies before the Quantize's step) the int8 form c = q ^ mask
                         (0x80 for uint8, 0 for int8) is written at the launch's output offset `into`
    output i:            the int8 value its Dequantize copied to "raw:i", returned as q = c ^ mask
                         in the model's dtype
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import abi
from ..errors import InputError, QcompError


@dataclass(frozen=True)
class CodesRun:
    skip: frozenset[int]                       # launch indices replaced by the host's writes
    writes: dict[int, tuple[int, np.ndarray]]  # launch index -> (workspace offset, int8 bytes) written in its place
    outputs: dict[int, tuple[np.dtype, int]]   # output index -> (model dtype, mask)
    inputs: frozenset[int]                     # input indices the feeds give as codes


def prepare(manifest: dict, feeds: dict[str, np.ndarray]) -> CodesRun:
    """The launches to skip and the workspace writes of a codes run; the feeds' codes checked."""
    plan = manifest.get("model_codes")
    if plan is None:
        raise QcompError("this cuda artifact predates the model's integer codes at the ABI (version 3); rebuild it "
                         "with `qcomp build`")
    if not plan["exact"]:
        raise QcompError(f"model codes: {abi.status_message(abi.STATUS_OF['QCOMP_ERR_NO_RAW_FORM'])} (a tensor the "
                         f"model states as integer codes is computed in float); feed float32 reals instead")
    spec = manifest["buffers"]["inputs"]
    skip, writes = set(), {}
    for entry in plan["inputs"]:
        t = spec[entry["index"]]
        q = np.asarray(feeds[t["name"]])
        if q.dtype != np.dtype(entry["dtype"]) or list(q.shape) != t["shape"]:
            raise InputError(f"input {t['name']!r} has dtype {q.dtype} and shape {q.shape}; the model's codes are "
                             f"{entry['dtype']}{tuple(t['shape'])}")
        c = (np.ascontiguousarray(q).view(np.uint8) ^ np.uint8(entry["mask"])).view(np.int8)
        skip.update(entry["skip"])
        writes.update({k: (offset, c) for k, offset in zip(entry["skip"], entry["into"])})
    outputs = {e["index"]: (np.dtype(e["dtype"]), e["mask"]) for e in plan["outputs"]}
    return CodesRun(frozenset(skip), writes, outputs, frozenset(e["index"] for e in plan["inputs"]))


def code_output(raw: np.ndarray, dtype: np.dtype, mask: int) -> np.ndarray:
    """The model's codes of an output from its int8 form."""
    return (np.ascontiguousarray(raw).view(np.uint8) ^ np.uint8(mask)).view(dtype)
