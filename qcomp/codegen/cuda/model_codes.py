"""The model's own integer codes in a cuda artifact's launch plan (QCOMP_MODEL_CODES, runtime/qcomp.h
version 3; qcomp.ir.io_codes): the host side does the integer conversion, the kernels are unchanged.

    manifest["model_codes"] = {
      "inputs":  [{"index": i, "dtype": "uint8", "mask": 128, "skip": [launch k, ...],
                   "into": [workspace offset, ...]}],    the Quantize launches reading input i: under
                                                        codes the host skips them and writes
                                                        c = q ^ mask (int8) at their output offsets
      "outputs": [{"index": i, "dtype": "int8", "mask": 0}],   read from "raw:i" (the int8 value the
                                                        output's Dequantize copies there), q = c ^ mask
      "exact": every codes tensor has such a form (else a codes run is refused: QCOMP_ERR_NO_RAW_FORM)}
"""
from __future__ import annotations

from ...ir import Graph
from ...ir.io_codes import all_exact, model_inputs, model_outputs
from .context import Launch


def manifest_entry(g: Graph, launches: list[Launch]) -> dict:
    inputs = []
    for i, (v, m) in enumerate(zip(g.inputs, model_inputs(g))):
        if not m.nodes:
            continue
        names = {n.name for n in m.nodes}
        ks = [k for k, launch in enumerate(launches)
              if launch.node in names and launch.args and launch.args[0].buffer == f"input:{i}"]
        into = [launches[k].args[1] for k in ks]
        if len(ks) != len(m.nodes) or any(a.buffer != "workspace" for a in into):
            continue   # not the one-launch Quantize this plan expects: no codes form (exact is False below)
        inputs.append({"index": i, "dtype": str(m.dtype.np), "mask": m.mask, "skip": ks,
                       "into": [a.offset for a in into]})
    outputs = [{"index": i, "dtype": str(m.dtype.np), "mask": m.mask}
               for i, m in enumerate(model_outputs(g)) if m.nodes]
    stated = sum(m.has_codes for m in model_inputs(g) + model_outputs(g))
    return {"inputs": inputs, "outputs": outputs,
            "exact": all_exact(g) and len(inputs) + len(outputs) == stated}
