"""Integer inputs and outputs of an artifact (qcomp.frontend.int_io): what `Artifact.run` and
`qcomp run` do with a manifest entry that has "int_dtype" and "int_quant" (the ONNX tensor's own
dtype, scale and zero point).

    output (int_dtype uint8 / int8):  the output's int8 form c (the `--raw` value, identical on every
                                      target) shifted to the model's codes: y = c + 128 / y = c
    input  (int_dtype uint8 / int8):  the codes q as given; the artifact's input Quantize has the
                                      model's params (s, z'), z' = z - 128 for uint8, so the value
                                      x = float32((q - z) * s) it reads quantizes back to q - 128 / q
                                      exactly (|q - z| <= 255 and s x (1/s) is within 2 ulps of 1)

Per-channel (axis) and int16 integer tensors ("axis" in int_quant, qcomp.frontend.int_io) have no
int8 form with the model's params: they cross the artifact as their reals, x = (q - z[c]) * s[c] in and
y = saturate(round_half_even(x / s[c]) + z[c]) out (c: the index along the axis; `wide`).

The C ABI takes the same int8 codes directly (`qcomp_run_ex` with QCOMP_RAW_INPUTS /
QCOMP_RAW_OUTPUTS; a uint8 tensor's code is q - 128, i.e. q ^ 0x80).
A float feed for an integer input is still accepted (the reals, as before).
"""
from __future__ import annotations

import numpy as np

from .errors import InputError, QcompError

SHIFT = {"uint8": 128, "int8": 0}


def wide(t: dict) -> bool:
    """A per-channel or int16 integer tensor (int_quant or table row), carried as its reals."""
    return "axis" in t


def _params(t: dict, ndim: int):
    """(scale, zero point) of a table row / int_quant, broadcastable against an ndim-array."""
    if t.get("axis") is None:
        return np.float32(t["scale"]), np.int64(t["zero_point"])
    shape = [1] * ndim
    shape[t["axis"]] = -1
    return (np.asarray(t["scales"], np.float32).reshape(shape), np.asarray(t["zero_points"], np.int64).reshape(shape))


def has_int_io(manifest: dict) -> bool:
    return any("int_dtype" in t for t in manifest["inputs"] + manifest["outputs"])


def annotate(entries: list[dict], table: dict[str, dict]) -> None:
    """Manifest rows of integer tensors gain "int_dtype" and "int_quant" (builder)."""
    for e in entries:
        t = table.get(e["name"])
        if t is not None:
            e["int_dtype"] = t["dtype"]
            e["int_quant"] = {"scale": t["scale"], "zero_point": t["zero_point"]}
            if wide(t):   # its reals at the ABI (qcomp's own int8 form, if any, is calibrated)
                e["int_quant"] = {k: t[k] for k in ("scale", "zero_point", "axis", "scales", "zero_points")}
                continue
            q = e.get("quant")
            if q is None:   # no int8 form (--quant weight / dynamic, a float region): see outputs_out
                continue
            if q["scale"] != t["scale"] or q["zero_point"] != t["zero_point"] - SHIFT[t["dtype"]]:
                raise QcompError(f"{e['name']!r}: the model quantizes it with scale {t['scale']} and zero point "
                                 f"{t['zero_point']} ({t['dtype']}) but qcomp's int8 form is {q}; the integer "
                                 f"codes would not be exact. Remove --calib ranges that override the model's "
                                 f"params, or report this as a qcomp bug")


def feeds_in(manifest: dict, feeds: dict) -> dict:
    """Integer feeds of integer inputs -> the reals the artifact's input Quantize maps back to them."""
    out = dict(feeds)
    for t in manifest["inputs"]:
        name, dt = t["name"], t.get("int_dtype")
        if dt is None or name not in feeds:
            continue
        a = np.asarray(feeds[name])
        if a.dtype.kind == "f":
            continue
        if a.dtype != np.dtype(dt):
            raise InputError(f"input {name!r} has dtype {a.dtype}, expected {dt} (the model's integer input) or "
                             f"float32 (its reals)")
        scale, zp = _params(t["int_quant"], a.ndim)
        out[name] = ((a.astype(np.int64) - zp).astype(np.float32) * scale).astype(np.float32)
    return out


def outputs_out(manifest: dict, raw_out: dict, raw: bool) -> dict:
    """Outputs from a raw=True run: with raw, the int8 forms (the `--raw` contract); else integer
    outputs as the model's codes and the others as Artifact.run gives them."""
    out = {}
    for t in manifest["outputs"]:
        name, v, q = t["name"], raw_out[t["name"]], t.get("quant")
        if "int_dtype" in t and not raw and (q is None or wide(t["int_quant"])):   # QuantizeLinear as ONNX does it
            real = v if q is None else (v.astype(np.float32) - np.float32(q["zero_point"])) * np.float32(q["scale"])
            out[name] = float_outputs({name: {"dtype": t["int_dtype"], **t["int_quant"]}}, {name: real})[name]
        elif raw or q is None:   # --raw: the int8 form, as for every other output
            out[name] = v
        elif "int_dtype" in t:
            out[name] = (v.astype(np.int16) + SHIFT[t["int_dtype"]]).astype(t["int_dtype"])
        else:   # the --raw contract: dequantizing the int8 form gives the float output bit for bit
            out[name] = (v.astype(np.float32) - np.float32(q["zero_point"])) * np.float32(q["scale"])
    return out


def float_feeds(table: dict[str, dict], feeds: dict) -> dict:
    """The float reference of an ONNX model (`qcomp run MODEL.onnx`): integer feeds -> their reals.
    `table` is qcomp.frontend.int_io.read(graph)."""
    rows = [{"name": n, "int_dtype": t["dtype"], "int_quant": t} for n, t in table.items()]
    return feeds_in({"inputs": rows}, feeds)


def float_outputs(table: dict[str, dict], outs: dict) -> dict:
    """The float reference's outputs of QuantizeLinear graph outputs quantized as ONNX does:
    y = saturate(round_half_even(x / s) + z)."""
    out = dict(outs)
    for name, t in table.items():
        if name in outs and np.asarray(outs[name]).dtype.kind == "f":
            info = np.iinfo(np.dtype(t["dtype"]))
            x = np.asarray(outs[name], np.float32)
            scale, zp = _params(t, x.ndim)
            y = np.rint(x / scale).astype(np.float64) + zp
            out[name] = np.clip(y, info.min, info.max).astype(t["dtype"])
    return out


def load_npy(path: str, input_names: list[str]) -> dict | None:
    """`qcomp run --input X.npy` for a one-input model: the array keyed by the input's name; None
    for anything else (an .npz keyed by input name, read by the caller)."""
    if not (str(path).endswith(".npy") and len(input_names) == 1):
        return None
    try:
        return {input_names[0]: np.load(path, allow_pickle=False)}
    except (ValueError, OSError, EOFError) as e:
        raise InputError(f"--input {path!r} is not a readable .npy file ({e})") from None


class RealFeeds:
    """Calibration samples of a model with integer inputs: the data hold the integer codes (uint8
    frames, as the artifact takes them); calibration runs the float graph on their reals."""

    def __init__(self, data, table: dict[str, dict]):
        self._data, self._table = data, table

    def __len__(self) -> int:
        return len(self._data)

    def __iter__(self):
        for feeds in self._data:
            yield float_feeds(self._table, feeds)

    def __getattr__(self, name):
        return getattr(self._data, name)
