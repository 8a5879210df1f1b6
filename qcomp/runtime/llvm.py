"""Run an llvm-backend artifact (model.so, ABI of runtime/qcomp.h) from Python through ctypes.

    runner = load(path, manifest, target);  runner.run(feeds, raw=False) -> {output name: array}

Before any code is loaded, the CPU features the manifest lists ("features", /proc/cpuinfo names)
are checked against this host: an artifact built for AVX512-VNNI on a CPU without it is a clear
QcompError, never SIGILL; and the library's ELF headers are checked before dlopen (check_elf: a
truncated model.so would kill the process with SIGBUS inside dlopen). Tensor shapes and dtypes come
from the library itself (qcomp_input_info / qcomp_output_info); one workspace of
qcomp_workspace_size() bytes, 64-byte aligned, is allocated once per runner. A run passes feeds that
are C-contiguous arrays of each input's dtype and shape to the library as they are (no copy; the
library only reads them) and converts or refuses any other; every run returns new output arrays. What
a run needs (names, shapes, dtypes, the ctypes pointer-array types) is derived once per runner. raw=True returns each
output's int8 form, the values before its Dequantize, and an output without one as it is
(qcomp_run_ex with QCOMP_RAW_OUTPUTS; qcomp_output_raw_dtype says which). num_threads=N sets the library's thread pool
(qcomp_set_num_threads; None keeps its default: QCOMP_NUM_THREADS, else the available cores);
results are identical for every count. profile(feeds, runs) times every node of the library
(qcomp_set_profiler, ABI version 2) and returns the nanoseconds per node and run. codes=True runs
with QCOMP_MODEL_CODES (ABI version 3): the tensors qcomp_input_model_info / qcomp_output_model_info
mark has_codes take and return the model's uint8 / int8 codes. Imports nothing of qcomp but qcomp.errors and qcomp.abi
(the codes of runtime/qcomp.h).
"""
from __future__ import annotations

import ctypes
import platform
import struct
import time
from pathlib import Path

import numpy as np

from .. import abi
from ..errors import InputError, QcompError

RAW_OUTPUTS = abi.RAW_OUTPUTS
MODEL_CODES = abi.MODEL_CODES
BAD_INPUT = abi.STATUS_OF["QCOMP_ERR_BAD_INPUT"]
_NUMPY = abi.NUMPY_OF_CODE
_ALIGN = abi.WORKSPACE_ALIGN
# the address of a writable array's data: a quarter of what a.ctypes.data costs (which builds a helper object)
_ADDRESS, _BYTES_OF = ctypes.addressof, ctypes.c_char.from_buffer


def _integer_feed(name: str, a, want: np.dtype):
    """An integer feed of another integer dtype (int32 values for an int16 input) converts exactly or
    is refused: a value outside the input's type would wrap silently in the conversion."""
    a = np.asarray(a)
    if a.dtype != want and a.dtype.kind in "iu" and want.kind in "iu" and a.size:
        lo, hi = np.iinfo(want).min, np.iinfo(want).max
        if a.min() < lo or a.max() > hi:
            raise InputError(f"input {name!r} is {want.name}, but the feed holds values in [{a.min()}, {a.max()}], "
                             f"outside [{lo}, {hi}]; quantize or clip it to {want.name} first")
    return a


class TensorInfo(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("dtype", ctypes.c_int32), ("rank", ctypes.c_int32),
                ("shape", ctypes.c_int64 * 8), ("scale", ctypes.c_float), ("zero_point", ctypes.c_int32)]


class ModelTensorInfo(ctypes.Structure):   # qcomp_model_tensor_info (ABI version 3)
    _fields_ = [("dtype", ctypes.c_int32), ("has_codes", ctypes.c_int32), ("scale", ctypes.c_float),
                ("zero_point", ctypes.c_int32)]


def model_infos(lib) -> tuple[list[ModelTensorInfo], list[ModelTensorInfo]] | None:
    """(inputs, outputs) as the model states them; None for a library older than ABI version 3."""
    if not hasattr(lib, "qcomp_input_model_info"):
        return None
    sides = []
    for fn, count in ((lib.qcomp_input_model_info, lib.qcomp_num_inputs()),
                      (lib.qcomp_output_model_info, lib.qcomp_num_outputs())):
        fn.argtypes, fn.restype = [ctypes.c_int32, ctypes.POINTER(ModelTensorInfo)], ctypes.c_int32
        rows = [ModelTensorInfo() for _ in range(count)]
        for i, row in enumerate(rows):
            if fn(i, ctypes.byref(row)) != abi.STATUS_OF["QCOMP_OK"]:
                raise QcompError(f"model.so: model tensor info {i} failed")
        sides.append(rows)
    return sides[0], sides[1]


def cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def check_host(manifest: dict, target_name: str, host_arch: str = "") -> None:
    if host_arch and platform.machine() != host_arch:
        raise QcompError(f"artifact for target {target_name!r} needs a {host_arch} CPU; this host is "
                         f"{platform.machine()}")
    missing = [f for f in manifest.get("features", []) if f not in cpu_flags()]
    if missing:
        raise QcompError(f"artifact for target {target_name!r} needs CPU features {', '.join(missing)}, which "
                         f"this CPU lacks; rebuild for a target this CPU supports (`qcomp targets`)")


_ELF_HEADER = struct.Struct("<16sHHIQQQIHHHHHH")     # Elf64_Ehdr
_ELF_PHDR = struct.Struct("<IIQQQQQQ")                # Elf64_Phdr
_ELF_MACHINES = {"x86_64": 62, "aarch64": 183}
_PT_LOAD = 1


def check_elf(library: Path) -> None:
    """Refuse what dlopen would crash on rather than report: not a little-endian ELF64 shared object
    for this machine, or a truncated one (a loadable segment or the section table past the end of the
    file: dlopen maps it and the process dies of SIGBUS)."""
    data = library.read_bytes()
    bad = f"{str(library)!r} is not a loadable shared library for this {platform.machine()} host"
    if len(data) < _ELF_HEADER.size or data[:6] != b"\x7fELF\x02\x01":
        raise QcompError(f"{bad} (not an ELF64 little-endian file); rebuild the artifact with `qcomp build`")
    (_, e_type, machine, _, _, phoff, shoff, _, _, phentsize, phnum, shentsize, shnum, _) = \
        _ELF_HEADER.unpack_from(data)
    want = _ELF_MACHINES.get(platform.machine())
    if e_type != 3 or (want is not None and machine != want):
        raise QcompError(f"{bad} (ELF type {e_type}, machine {machine}); rebuild the artifact with `qcomp build`")
    ends = [shoff + shentsize * shnum, phoff + phentsize * phnum]
    if ends[1] <= len(data) and phentsize >= _ELF_PHDR.size:
        for k in range(phnum):
            p_type, _, p_offset, _, _, p_filesz, _, _ = _ELF_PHDR.unpack_from(data, phoff + k * phentsize)
            if p_type == _PT_LOAD:
                ends.append(p_offset + p_filesz)
    if max(ends) > len(data):
        raise QcompError(f"{bad}: it is truncated ({len(data)} bytes, its headers reach byte {max(ends)}); "
                         f"rebuild the artifact with `qcomp build`")


def open_library(library: Path) -> ctypes.CDLL:
    """dlopen the artifact's library; a file that is not a loadable library for this host (check_elf),
    or one without the qcomp ABI, is a QcompError (qcomp.load has checked its sha256 before)."""
    library = Path(library)
    check_elf(library)
    try:
        lib = ctypes.CDLL(str(library))
    except OSError as e:
        raise QcompError(f"{str(library)!r} cannot be loaded ({str(e).splitlines()[0]}); rebuild the artifact with "
                         f"`qcomp build`") from None
    missing = [s for s in ("qcomp_run_ex", "qcomp_workspace_size", "qcomp_num_inputs", "qcomp_num_outputs",
                           "qcomp_input_info", "qcomp_output_info", "qcomp_output_raw_dtype", "qcomp_status_string")
               if not hasattr(lib, s)]
    if missing:
        raise QcompError(f"{str(library)!r} lacks the qcomp ABI ({', '.join(missing)}); rebuild the artifact with "
                         f"`qcomp build`")
    return lib


class Runner:
    def __init__(self, library: Path, num_threads: int | None = None):
        lib = open_library(library)
        lib.qcomp_workspace_size.restype = ctypes.c_size_t
        lib.qcomp_num_inputs.restype = lib.qcomp_num_outputs.restype = ctypes.c_int32
        for name in ("qcomp_input_info", "qcomp_output_info"):
            getattr(lib, name).argtypes = [ctypes.c_int32, ctypes.POINTER(TensorInfo)]
            getattr(lib, name).restype = ctypes.c_int32
        lib.qcomp_run_ex.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_void_p),
                                     ctypes.POINTER(ctypes.c_void_p), ctypes.c_int32]
        lib.qcomp_run_ex.restype = ctypes.c_int32
        lib.qcomp_output_raw_dtype.argtypes = [ctypes.c_int32]
        lib.qcomp_output_raw_dtype.restype = ctypes.c_int32
        lib.qcomp_status_string.argtypes = [ctypes.c_int32]
        lib.qcomp_status_string.restype = ctypes.c_char_p
        self._lib = lib
        self._threads_api = hasattr(lib, "qcomp_set_num_threads")   # artifacts built before the pool lack it
        if self._threads_api:
            lib.qcomp_set_num_threads.argtypes = [ctypes.c_int32]
            lib.qcomp_set_num_threads.restype = lib.qcomp_get_num_threads.restype = ctypes.c_int32
        self._profiler_api = hasattr(lib, "qcomp_set_profiler")   # ABI version 2
        if self._profiler_api:
            lib.qcomp_profiled_nodes.restype = ctypes.c_int32
            lib.qcomp_profiled_node_name.argtypes = [ctypes.c_int32]
            lib.qcomp_profiled_node_name.restype = ctypes.c_char_p
            lib.qcomp_set_profiler.argtypes = [ctypes.c_void_p, ctypes.c_int32]
            lib.qcomp_set_profiler.restype = ctypes.c_int32
        if num_threads is not None:
            self.set_num_threads(num_threads)
        self.inputs = [self._info(lib.qcomp_input_info, i) for i in range(lib.qcomp_num_inputs())]
        self.outputs = [self._info(lib.qcomp_output_info, i) for i in range(lib.qcomp_num_outputs())]
        self.model = model_infos(lib)   # ABI version 3: the model's own codes
        # per run, precomputed: (name, shape, dtype) of each input; (name, shape, dtype, raw dtype) of each output
        self._in_spec = [(i.name.decode(), tuple(i.shape[:i.rank]), np.dtype(_NUMPY[i.dtype])) for i in self.inputs]
        self._out_spec = [(o.name.decode(), tuple(o.shape[:o.rank]), np.dtype(_NUMPY[o.dtype]),
                           np.dtype(_NUMPY[lib.qcomp_output_raw_dtype(k)])) for k, o in enumerate(self.outputs)]
        self._in_ptrs = ctypes.c_void_p * max(len(self.inputs), 1)
        self._out_ptrs = ctypes.c_void_p * max(len(self.outputs), 1)
        self._run_ex = lib.qcomp_run_ex
        size = int(lib.qcomp_workspace_size())
        self._buffer = np.zeros(size + _ALIGN, np.uint8)
        self._workspace = self._buffer.ctypes.data + (-self._buffer.ctypes.data) % _ALIGN
        self._size = size

    def set_num_threads(self, n: int) -> int:
        """Threads of this library's pool (0: the default); returns the count now in effect."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise QcompError(f"num_threads must be an integer >= 0 (0: the default), got {n!r}")
        if not self._threads_api:
            raise QcompError("this model.so has no thread pool (built by an older qcomp); rebuild it to set "
                             "num_threads")
        return int(self._lib.qcomp_set_num_threads(n))

    @property
    def num_threads(self) -> int:
        return int(self._lib.qcomp_get_num_threads()) if self._threads_api else 1

    def profiled_nodes(self) -> list[str]:
        """The names of the nodes the library times, in run order (qcomp_profiled_node_name)."""
        if not self._profiler_api:
            raise QcompError("this model.so has no per-node profiler (built by an older qcomp, ABI version 1); "
                             "rebuild the artifact with `qcomp build`")
        return [self._lib.qcomp_profiled_node_name(i).decode() for i in range(self._lib.qcomp_profiled_nodes())]

    def profile(self, feeds: dict[str, np.ndarray], runs: int, warmup: int = 0) -> tuple[list[str], np.ndarray,
                                                                                          list[float]]:
        """(node names, ns[runs, nodes] each node's time in each timed run, each run's wall seconds):
        `warmup` untimed runs, then `runs` runs with qcomp_set_profiler on, which is off again after."""
        names = self.profiled_nodes()
        for _ in range(warmup):
            self.run(feeds)
        node_ns = np.zeros(max(len(names), 1), np.uint64)
        times = np.zeros((runs, len(names)), np.uint64)
        walls = []
        status = self._lib.qcomp_set_profiler(node_ns.ctypes.data, len(names))
        if status != 0:
            raise QcompError(f"model.so: qcomp_set_profiler failed: {abi.status_message(status)}")
        try:
            for k in range(runs):
                node_ns[:] = 0
                t0 = time.perf_counter()
                self.run(feeds)
                walls.append(time.perf_counter() - t0)
                times[k] = node_ns[:len(names)]
        finally:
            self._lib.qcomp_set_profiler(None, 0)
        return names, times, walls

    @staticmethod
    def _info(fn, index: int) -> TensorInfo:
        info = TensorInfo()
        status = fn(index, ctypes.byref(info))
        if status != abi.STATUS_OF["QCOMP_OK"]:
            raise QcompError(f"model.so: tensor info {index} failed: {abi.status_message(status)}")
        return info

    def run(self, feeds: dict[str, np.ndarray], raw: bool = False, codes: bool = False) -> dict[str, np.ndarray]:
        """{output name: a new array} (never one a later run writes). Feeds that are C-contiguous arrays
        of each input's dtype and shape are passed to the library as they are (no copy); any other
        feed goes through _run_general's conversions and checks."""
        if codes:
            return self._run_general(feeds, raw, codes)
        ins = []
        for name, shape, dtype in self._in_spec:
            a = feeds.get(name) if type(feeds) is dict else None
            if type(a) is not np.ndarray or a.dtype != dtype or a.shape != shape or not a.flags.c_contiguous:
                return self._run_general(feeds, raw, codes)
            ins.append(_ADDRESS(_BYTES_OF(a)) if a.flags.writeable else a.ctypes.data)
        outs, ptrs = {}, []
        for name, shape, dtype, raw_dtype in self._out_spec:
            a = outs[name] = np.empty(shape, raw_dtype if raw else dtype)
            ptrs.append(_ADDRESS(_BYTES_OF(a)))
        # the feeds dict holds the input arrays (alive until the call returns)
        status = self._run_ex(self._workspace, self._size, self._in_ptrs(*ins), self._out_ptrs(*ptrs),
                              RAW_OUTPUTS if raw else 0)
        if status:
            self._status(status)
        return outs

    def _status(self, status: int) -> None:
        if status == BAD_INPUT:
            raise InputError(f"model.so: {self._lib.qcomp_status_string(status).decode()}; check the token ids "
                             f"or indices given")
        if status != 0:
            raise QcompError(f"model.so: qcomp_run failed: {self._lib.qcomp_status_string(status).decode()}")

    def _run_general(self, feeds: dict[str, np.ndarray], raw: bool, codes: bool) -> dict[str, np.ndarray]:
        if codes and self.model is None:
            raise QcompError("this model.so predates the model's integer codes at the ABI (version 3); rebuild the "
                             "artifact with `qcomp build`")
        ins = []
        for index, info in enumerate(self.inputs):
            name = info.name.decode()
            if name not in feeds:
                raise QcompError(f"missing input {name!r}")
            shape = tuple(info.shape[:info.rank])
            code = self.model[0][index] if codes and self.model[0][index].has_codes else None
            want = _NUMPY[code.dtype if code is not None else info.dtype]
            a = np.asarray(feeds[name]) if code is not None else _integer_feed(name, feeds[name], np.dtype(want))
            if code is not None and a.dtype != want:
                raise InputError(f"input {name!r} has dtype {a.dtype}, expected the model's codes ({want})")
            a = np.asarray(a, dtype=want, order="C")   # keeps a scalar 0-d
            if a.shape != shape:
                raise QcompError(f"input {name!r} has shape {a.shape}, expected {shape}")
            ins.append(a)
        outs = {}
        for index, info in enumerate(self.outputs):
            dtype = _NUMPY[self.model[1][index].dtype if codes and self.model[1][index].has_codes
                           else self._lib.qcomp_output_raw_dtype(index) if raw else info.dtype]
            outs[info.name.decode()] = np.empty(tuple(info.shape[:info.rank]), dtype)
        in_ptrs = (ctypes.c_void_p * max(len(ins), 1))(*[a.ctypes.data for a in ins])
        out_ptrs = (ctypes.c_void_p * max(len(outs), 1))(*[a.ctypes.data for a in outs.values()])
        self._status(self._lib.qcomp_run_ex(self._workspace, self._size, in_ptrs, out_ptrs,
                                            (RAW_OUTPUTS if raw else 0) | (MODEL_CODES if codes else 0)))
        return outs


def load(path, manifest: dict, target, num_threads: int | None = None, **options) -> Runner:
    if options:
        raise QcompError(f"target {manifest.get('target')!r} artifacts take no run options but num_threads, "
                         f"got {sorted(options)}")
    if getattr(target, "kind", "native") == "cross":   # aarch64 code: its runner, natively or under QEMU
        from .llvm_cross import load as load_cross
        return load_cross(path, manifest, target, num_threads=num_threads)
    check_host(manifest, manifest.get("target", "?"), getattr(target, "host_arch", ""))
    library = Path(path) / manifest["files"].get("library", "model.so")
    if not library.is_file():
        raise QcompError(f"artifact {str(path)!r} lacks {library.name}; rebuild it")
    return Runner(library, num_threads)
