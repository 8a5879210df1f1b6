"""Running dsp-c artifacts: the compiled runner program, through a subprocess.

The runner (runner.c in the artifact) reads `qcomp_in.bin` from its working directory (one mode
byte: bit 0 = raw int8 outputs, abi.MODEL_CODES = the model's own uint8 / int8 codes for the inputs
and outputs whose manifest entry has "code_dtype"; then each input's bytes) and writes `qcomp_out.bin`
(each output's bytes). A host program runs directly; a Cortex-M program (model.elf) runs under the
manifest's runner command (qemu-system-arm ... -kernel model.elf) with semihosting file I/O in a
temporary directory. Everything needed comes from the manifest's "c_runner" entry.

Cost: a Cortex-M runner built with QCOMP_COST_SYSTICK prints `qcomp_cost_ticks N`; with the
manifest's instructions_per_tick (QEMU -icount shift=0), `runner.last_instructions` is the
instruction count of the last run (to one tick: 40 instructions on mps2-an386 and mps2-an500, 31.25 on
mps3-an547), else None; and
`runner.last_stack_bytes` the peak stack use of that run (the runner's stack painting), else None;
a runner built with -DQCOMP_COST_NODES as well gives `runner.last_node_instructions`, the instructions
of each kernel call of model.c in order (benchmarks/mlperf_tiny.py), else None.
"""
from __future__ import annotations

import re
import signal
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from .. import abi
from ..errors import InputError, QcompError

TIMEOUT_S = 300
_EXIT = {10: "cannot open qcomp_in.bin", 11: "short input file", 12: "short input file",
         13: "cannot create qcomp_out.bin", 14: "cannot write qcomp_out.bin", 3: "the program faulted"}
_STATUS_EXIT = 20   # runner.c exits with 20 + the qcomp_status of a failed run


class CRunner:
    def __init__(self, path: Path, runner: dict):
        self.path, self.spec = path, runner
        self.last_instructions: int | None = None
        self.last_stack_bytes: int | None = None
        self.last_node_instructions: list[int] | None = None
        self.program = (path / runner["program"]).absolute()   # a relative artifact path is not a PATH lookup
        if not self.program.is_file():
            raise QcompError(f"artifact {str(path)!r} lacks its program {runner['program']!r}; rebuild it")

    def command(self) -> list[str]:
        if self.spec["kind"] == "cross":
            return [*self.spec["command"], "-kernel", str(self.program)]
        return [str(self.program)]

    def run(self, feeds: dict[str, np.ndarray], raw: bool = False, codes: bool = False) -> dict[str, np.ndarray]:
        blob = bytearray([(1 if raw else 0) | (abi.MODEL_CODES if codes else 0)])
        for t in self.spec["inputs"]:
            code = codes and "code_dtype" in t
            dtype = np.dtype(t["code_dtype"] if code else t["dtype"])
            a = np.asarray(feeds[t["name"]])
            if code and a.dtype != dtype:
                raise InputError(f"input {t['name']!r} has dtype {a.dtype}, expected the model's codes ({dtype})")
            data = np.ascontiguousarray(a, dtype=dtype).tobytes()
            want_bytes = t["code_bytes"] if code else t["bytes"]
            if len(data) != want_bytes:
                raise QcompError(f"input {t['name']!r}: {len(data)} bytes, the artifact expects {want_bytes}")
            blob += data
        with tempfile.TemporaryDirectory(prefix="qcomp-c-") as tmp:
            (Path(tmp) / "qcomp_in.bin").write_bytes(bytes(blob))
            try:
                proc = subprocess.run(self.command(), cwd=tmp, capture_output=True, timeout=TIMEOUT_S)
            except subprocess.TimeoutExpired:
                raise QcompError(f"{self.program.name} did not finish within {TIMEOUT_S} s") from None
            except OSError as e:    # not an executable at all (exec format error, permissions)
                raise QcompError(f"{str(self.program)!r} cannot be started ({e.strerror}); rebuild the artifact "
                                 f"with `qcomp build`") from None
            if proc.returncode != 0:
                code = proc.returncode
                status = code - _STATUS_EXIT
                if status == abi.STATUS_OF["QCOMP_ERR_BAD_INPUT"]:
                    raise InputError(f"{self.program.name}: {abi.status_message(status)}; check the token ids "
                                     f"or indices given")
                why = (f"killed by {_signal_name(-code)}" if code < 0 else _EXIT.get(
                    code, f"qcomp status {status}: {abi.status_message(status)}"
                    if 0 <= status < len(abi.STATUS) else f"exit code {code}"))
                raise QcompError(f"running {self.program.name} failed: {why}\n"
                                 f"{proc.stderr.decode(errors='replace')[-2000:]}")
            try:
                data = (Path(tmp) / "qcomp_out.bin").read_bytes()
            except OSError:
                raise QcompError(f"{self.program.name} exited normally but wrote no qcomp_out.bin; rebuild the "
                                 f"artifact with `qcomp build`") from None
        ticks = re.search(rb"qcomp_cost_ticks (\d+)", proc.stdout)
        per_tick = self.spec.get("instructions_per_tick", 0)
        self.last_instructions = round(int(ticks.group(1)) * per_tick) if ticks and per_tick else None
        nodes = re.findall(rb"qcomp_node_ticks (\d+) (\d+)", proc.stdout)   # -DQCOMP_COST_NODES builds only
        self.last_node_instructions = ([round(int(n) * per_tick) for _, n in nodes] if nodes and per_tick
                                       else None)
        stack = re.search(rb"qcomp_stack_bytes (\d+)", proc.stdout)
        self.last_stack_bytes = int(stack.group(1)) if stack else None
        forms = [("code_dtype", "code_bytes") if codes and "code_dtype" in t else ("raw_dtype", "raw_bytes") if raw
                 else ("dtype", "bytes") for t in self.spec["outputs"]]
        want = sum(t[nbytes] for t, (_, nbytes) in zip(self.spec["outputs"], forms))
        if want != len(data):
            raise QcompError(f"{self.program.name} wrote {len(data)} bytes, expected {want}")
        outs, offset = {}, 0
        for t, (dtype_key, bytes_key) in zip(self.spec["outputs"], forms):
            dtype, nbytes = np.dtype(t[dtype_key]), t[bytes_key]
            outs[t["name"]] = np.frombuffer(data[offset:offset + nbytes], dtype=dtype).reshape(t["shape"]).copy()
            offset += nbytes
        return outs


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def load(path, manifest: dict, target=None, **options) -> CRunner:
    if options:
        raise QcompError(f"dsp-c artifacts take no run options, got {sorted(options)}")
    if "c_runner" not in manifest:
        raise QcompError(f"artifact {str(path)!r}: its manifest lacks 'c_runner'; rebuild it")
    return CRunner(Path(path), manifest["c_runner"])
