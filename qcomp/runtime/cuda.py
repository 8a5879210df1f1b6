"""Running cuda artifacts: on a GPU (CUDA driver API) or, with emulate=True, on this CPU.

Emulation (`qcomp run ARTIFACT --emulate`): the artifact's model.cu is compiled for the host with
g++ against qcomp_cuda_emulate.h (the CUDA execution model: thread/block indices, shared memory,
__syncthreads via one fiber per CUDA thread, __dp4a), together with one host wrapper per launch
of the manifest's launch plan; the runner then replays the plan exactly as a GPU runner would
(the kernels, grids, blocks and buffer offsets of manifest["launches"]), so the emulation tests
the plan and the kernels' integer arithmetic bit for bit. The compiled library is cached by the
sha256 of its sources under $XDG_CACHE_HOME/qcomp (or ~/.cache/qcomp).

On a GPU, load() without emulate returns qcomp.runtime.cuda_driver.GpuRunner (CUDA driver API through
the optional cuda-bindings package); without a GPU, without the driver or without cuda-bindings it is
a clear error pointing at --emulate. Both runners turn the plan into launch arguments with the same
cuda_driver.marshal_launches. This module imports only qcomp.errors and cuda_driver.
"""
from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import numpy as np

from ..errors import QcompError
from . import cuda_codes
from .cuda_driver import GpuRunner, check_status, marshal_launches, probe_gpu, raw_dtypes

# The emulated execution model lives in process-global state (thread indices, fiber contexts; inline
# variables are unified across libraries): one emulated launch sequence at a time per process.
_EMULATION_LOCK = threading.Lock()


def _wrappers(launches: list[dict]) -> str:
    """One extern "C" host function per distinct kernel: unpack void* args, launch with the emulator."""
    out, seen = ['#include "model.cu"\n'], set()
    for launch in launches:
        k = launch["kernel"]
        if k in seen:
            continue
        seen.add(k)
        args = ", ".join(f"({a['type']}*)args[{i}]" for i, a in enumerate(launch["args"]))
        barriers = "true" if launch["barriers"] else "false"
        out.append(f'extern "C" void qcomp_emu_{k}(const unsigned* g, const unsigned* b, void* const* args) {{\n'
                   f"    qcomp_emu::launch(dim3(g[0], g[1], g[2]), dim3(b[0], b[1], b[2]), {barriers},\n"
                   f"                      [&] {{ {k}({args}); }});\n}}\n")
    return "\n".join(out)


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "qcomp" / "cuda-emulate"


def compile_emulation(path: Path, manifest: dict, arch: int = 80) -> Path:
    """The host shared library of the artifact's kernels (cached), emulating compute capability
    arch / 10 (80: the tensor-core GEMM path, 75: the __dp4a path)."""
    files = manifest["files"]
    try:
        source = (path / files["source"]).read_text()
        header = (path / files["emulation_header"]).read_text()
    except (KeyError, OSError, UnicodeDecodeError) as e:
        raise QcompError(f"artifact {str(path)!r} lacks a readable CUDA source or emulation header "
                         f"({str(e).splitlines()[0]}); rebuild it") from None
    wrappers = _wrappers(manifest["launches"])
    key = hashlib.sha256("\0".join([source, header, wrappers, str(arch)]).encode()).hexdigest()[:24]
    lib = _cache_dir() / f"{key}.so"
    if lib.is_file():
        return lib
    cxx = shutil.which("g++")
    if cxx is None:
        raise QcompError("--emulate compiles the CUDA kernels for this CPU with g++, which is missing "
                         "(apt-get install g++)")
    lib.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        (t / "model.cu").write_text(source)
        (t / "qcomp_cuda_emulate.h").write_text(header)
        (t / "wrappers.cpp").write_text(wrappers)
        cmd = [cxx, "-O2", "-std=c++17", "-fPIC", "-shared", "-ffp-contract=off", "-fno-strict-aliasing",
               "-DQCOMP_EMULATE", f"-DQCOMP_EMULATE_ARCH={arch}", "-x", "c++", "-I", tmp, "-o", str(t / "lib.so"),
               str(t / "wrappers.cpp")]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise QcompError(f"g++ could not compile {str(path / files['source'])!r} for emulation:\n"
                             f"{r.stderr.strip()[-3000:]}")
        tmp_lib = lib.with_suffix(f".{os.getpid()}.tmp")
        shutil.copyfile(t / "lib.so", tmp_lib)
        os.replace(tmp_lib, lib)
    return lib


class EmulatedRunner:
    """Replays the manifest's launch plan with the host-compiled kernels."""

    def __init__(self, path: Path, manifest: dict, arch: int = 80):
        self.manifest = manifest
        library = compile_emulation(path, manifest, arch)
        try:
            self.lib = ctypes.CDLL(str(library))
        except OSError:    # a damaged cache entry: compile it again
            library.unlink(missing_ok=True)
            library = compile_emulation(path, manifest, arch)
            try:
                self.lib = ctypes.CDLL(str(library))
            except OSError as e:
                raise QcompError(f"the emulation library {str(library)!r} cannot be loaded "
                                 f"({str(e).splitlines()[0]})") from None
        weights_file = path / manifest["files"]["weights"]
        if not weights_file.is_file():
            raise QcompError(f"artifact {str(path)!r} lacks {manifest['files']['weights']!r}; rebuild it")
        self.weights = np.frombuffer(weights_file.read_bytes(), np.uint8).copy()
        if self.weights.size != manifest["weights_file_bytes"]:
            raise QcompError(f"artifact {str(path)!r}: weights.bin has {self.weights.size} bytes, the manifest "
                             f"says {manifest['weights_file_bytes']}; rebuild it")
        self.functions = {}
        for launch in manifest["launches"]:
            fn = getattr(self.lib, f"qcomp_emu_{launch['kernel']}", None)
            if fn is None:
                raise QcompError(f"artifact {str(path)!r}: its launch plan names kernel {launch['kernel']!r}, which "
                                 f"model.cu does not define; rebuild it")
            fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
            fn.restype = None
            self.functions[launch["kernel"]] = fn
        self.raw_outputs = raw_dtypes(manifest)

    def run(self, feeds: dict[str, np.ndarray], raw: bool = False, codes: bool = False) -> dict[str, np.ndarray]:
        spec = self.manifest["buffers"]
        buffers: dict[str, np.ndarray] = {"weights": self.weights,
                                          "workspace": np.zeros(max(self.manifest["workspace_bytes"], 1), np.uint8),
                                          "status": np.zeros(1, np.int32)}
        plan = cuda_codes.prepare(self.manifest, feeds) if codes else None   # QCOMP_MODEL_CODES, host side
        for i, t in enumerate(spec["inputs"]):
            if plan and i in plan.inputs:   # its Quantize does not run: the buffer stays unread
                buffers[f"input:{i}"] = np.zeros(t["shape"], np.dtype(t["dtype"]))
                continue
            a = np.asarray(feeds[t["name"]], dtype=np.dtype(t["dtype"]), order="C")   # keeps a scalar 0-d
            if list(a.shape) != t["shape"]:
                raise QcompError(f"input {t['name']!r} has shape {a.shape}, expected {tuple(t['shape'])}")
            buffers[f"input:{i}"] = a
        outputs = []
        for i, t in enumerate(spec["outputs"]):
            outputs.append(np.zeros(t["shape"], np.dtype(t["dtype"])))
            buffers[f"output:{i}"] = outputs[-1]
            buffers[f"raw:{i}"] = np.zeros(t["shape"], self.raw_outputs.get(i, np.int8))
        with _EMULATION_LOCK:
            self._launch_all(buffers, plan.writes if plan else {})
        check_status(int(buffers["status"][0]))
        result = {}
        for i, t in enumerate(spec["outputs"]):
            if plan and i in plan.outputs:
                result[t["name"]] = cuda_codes.code_output(buffers[f"raw:{i}"], *plan.outputs[i])
            else:
                result[t["name"]] = buffers[f"raw:{i}"] if raw and i in self.raw_outputs else outputs[i]
        return result

    def _launch_all(self, buffers: dict[str, np.ndarray], codes: dict[int, tuple[int, np.ndarray]] | None = None) -> None:
        """Every launch in order; a launch in `codes` (QCOMP_MODEL_CODES) is replaced by the host's write of an
        input's int8 form at its output offset, at its own step (cuda_codes.py)."""
        bases = {name: buf.ctypes.data for name, buf in buffers.items()}
        sizes = {name: buf.nbytes for name, buf in buffers.items()}
        for k, launch in enumerate(marshal_launches(self.manifest["launches"], bases, sizes)):
            if codes and k in codes:
                offset, c = codes[k]
                buffers["workspace"][offset:offset + c.nbytes] = c.view(np.uint8).ravel()
                continue
            ptrs = (ctypes.c_void_p * len(launch.params))(*launch.params)
            grid = (ctypes.c_uint * 3)(*launch.grid)
            block = (ctypes.c_uint * 3)(*launch.block)
            self.functions[launch.kernel](grid, block, ptrs)


@functools.cache
def gpu_unavailable() -> str | None:
    """None when this host has a GPU the driver API can use, else why not (qcomp.target.host_support)."""
    return probe_gpu()


def load(path, manifest: dict, target=None, emulate: bool = False, emulate_arch: int = 80):
    """A runner for the cuda artifact at `path`: emulate=True runs it on this CPU as a GPU of compute
    capability emulate_arch / 10 would (80 and up: tensor-core GEMMs; 75: __dp4a GEMMs)."""
    path = Path(path)
    for key in ("launches", "buffers", "weights_file_bytes"):
        if key not in manifest:
            raise QcompError(f"artifact {str(path)!r}: its manifest lacks {key!r} (not a cuda artifact of this "
                             f"qcomp version); rebuild it")
    if emulate:
        return EmulatedRunner(path, manifest, emulate_arch)
    return GpuRunner(path, manifest)
