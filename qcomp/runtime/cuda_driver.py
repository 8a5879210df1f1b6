"""Running a cuda artifact on an NVIDIA GPU through the CUDA driver API (the optional `cuda` extra:
cuda-bindings, module cuda.bindings.driver).

    runner = GpuRunner(path, manifest)        cuInit, cuDeviceGet, cuDevicePrimaryCtxRetain,
                                              cuModuleLoadData(model.fatbin), cuModuleGetFunction per kernel,
                                              ONE cuMemAlloc for every buffer, weights copied once
    runner.run(feeds, raw=False)              cuMemcpyHtoD inputs, cuLaunchKernel for every launch of the
                                              plan in order (stream 0), cuCtxSynchronize, cuMemcpyDtoH outputs

Device memory is one allocation (`device_layout`): the weights, the workspace (the offsets of
plan_memory plus kernel scratch), then one slot per caller input, output and raw int8 output, each
256-byte aligned. The launch plan of manifest["launches"] is turned into driver-API launch arguments by
`marshal_launches`, a pure function of the plan and the buffers' base addresses and sizes: every kernel
parameter is a pointer (base of its buffer + byte offset), checked to lie inside its buffer, and
cuLaunchKernel receives `kernelParams`, an array of N addresses each pointing at one 8-byte parameter
value (`kernel_params`). The CPU emulation (qcomp.runtime.cuda) replays the plan through the same
`marshal_launches`, so the op-case table and the model tests exercise this marshalling too.

Kernels use static shared memory only (manifest "shared_bytes" is what ptxas reserves), so every launch
asks for 0 bytes of dynamic shared memory. The workspace is zeroed before every run, as the emulation
does. Without cuda-bindings, without the NVIDIA driver, without a GPU or without model.fatbin (built
where nvcc was missing) the runner raises QcompError saying which, and pointing at --emulate; a
model.fatbin that is not a whole nvcc fatbin is refused before cuModuleLoadData reads it (check_fatbin).

This module has never run on a GPU in qcomp's CI (there is none); its driver calls are tested against
a stand-in driver that executes the launches with the CPU emulation (tests/backends/cuda).
"""
from __future__ import annotations

from collections.abc import Mapping
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError, QcompError

DEVICE_ALIGN = 256
MAX_THREADS_PER_BLOCK = 1024
MAX_STATIC_SHARED_BYTES = 48 * 1024
_ITEMSIZE = {"int8_t": 1, "int32_t": 4, "int64_t": 8, "float": 4, "uint8_t": 1, "int16_t": 2}


@dataclass(frozen=True)
class DeviceLayout:
    """Byte offset and size of every buffer inside the one device allocation."""
    offsets: dict[str, int]
    sizes: dict[str, int]
    total_bytes: int


def _nbytes(spec: dict) -> int:
    return int(np.prod(spec["shape"], dtype=np.int64)) * np.dtype(spec["dtype"]).itemsize


_RAW_DTYPES = {"int8_t": np.dtype(np.int8), "int16_t": np.dtype(np.int16)}


def raw_dtypes(manifest: dict) -> dict[int, np.dtype]:
    """Output index -> the element type of its raw buffer "raw:i" (the int8 or int16 value before the
    output's Dequantize, as the launch that writes it declares), for the outputs that have one."""
    return {int(a["buffer"].split(":")[1]): _RAW_DTYPES[a["type"]] for launch in manifest["launches"]
            for a in launch["args"] if a["buffer"].startswith("raw:")}


def buffer_sizes(manifest: dict) -> dict[str, int]:
    """Bytes of every buffer the launch plan names: weights, workspace, input:i, output:i, raw:i, and
    status where a launch names it (one int32: a kernel that finds a bad input, an index out of
    range, writes its qcomp_status there; the runner checks it after the run, see check_status)."""
    spec = manifest["buffers"]
    sizes = {"weights": int(manifest["weights_file_bytes"]), "workspace": int(manifest["workspace_bytes"])}
    if uses_status(manifest):
        sizes["status"] = 4
    for i, t in enumerate(spec["inputs"]):
        sizes[f"input:{i}"] = _nbytes(t)
    for i, t in enumerate(spec["outputs"]):
        sizes[f"output:{i}"] = _nbytes(t)
        sizes[f"raw:{i}"] = int(np.prod(t["shape"], dtype=np.int64)) * raw_dtypes(manifest).get(i, np.dtype(np.int8)).itemsize
    return sizes


def device_layout(manifest: dict) -> DeviceLayout:
    """Place every buffer of buffer_sizes(manifest) in one allocation, DEVICE_ALIGN-aligned."""
    offsets, sizes, end = {}, buffer_sizes(manifest), 0
    for name, size in sizes.items():
        offsets[name] = end
        end += (max(size, 1) + DEVICE_ALIGN - 1) // DEVICE_ALIGN * DEVICE_ALIGN
    return DeviceLayout(offsets, sizes, end)


def uses_status(manifest: dict) -> bool:
    """Whether a launch of the plan takes the run's status word (the index kernels do)."""
    return any(a["buffer"] == "status" for launch in manifest["launches"] for a in launch["args"])


def check_status(status: int) -> None:
    """Raise InputError for the nonzero status word a run left (QCOMP_ERR_BAD_INPUT: a Gather index
    outside [-d, d); the kernel read a clamped row meanwhile, never out of bounds)."""
    if status != 0:
        raise InputError(f"a Gather index is out of range (qcomp status {status}); check the token ids or "
                         f"indices given")


@dataclass(frozen=True)
class KernelLaunch:
    """One cuLaunchKernel call: everything but the function handle and the stream."""
    kernel: str
    grid: tuple[int, int, int]
    block: tuple[int, int, int]
    dynamic_shared_bytes: int
    params: tuple[int, ...]     # the kernel's pointer parameters (device addresses), in order


def marshal_launches(launches: list[dict], bases: Mapping[str, int], sizes: Mapping[str, int]) -> list[KernelLaunch]:
    """The manifest's launch plan as launch arguments: every argument (buffer, offset) becomes the address
    bases[buffer] + offset, after checking that one element of its type lies inside the buffer, and that
    grid, block and shared memory are launchable. A plan that fails a check is a corrupt artifact."""
    out = []
    for n, launch in enumerate(launches):
        kernel = launch["kernel"]
        where = f"launch {n} ({kernel}, node {launch.get('node', '?')!r})"
        grid, block = tuple(int(v) for v in launch["grid"]), tuple(int(v) for v in launch["block"])
        if len(grid) != 3 or len(block) != 3 or min(grid + block) < 1:
            raise QcompError(f"{where}: grid {grid} / block {block} is not a launchable 3-D shape; the artifact "
                             f"is corrupt, rebuild it")
        if block[0] * block[1] * block[2] > MAX_THREADS_PER_BLOCK:
            raise QcompError(f"{where}: block {block} has more than {MAX_THREADS_PER_BLOCK} threads")
        if launch.get("shared_bytes", 0) > MAX_STATIC_SHARED_BYTES:
            raise QcompError(f"{where}: {launch['shared_bytes']} bytes of static shared memory exceed "
                             f"{MAX_STATIC_SHARED_BYTES}")
        params = []
        for j, a in enumerate(launch["args"]):
            buffer, offset = a["buffer"], int(a["offset"])
            if buffer not in bases:
                raise QcompError(f"{where}: argument {j} names buffer {buffer!r}, which the runtime does not "
                                 f"have; the artifact is corrupt, rebuild it")
            if offset < 0 or offset + _ITEMSIZE[a["type"]] > sizes[buffer]:
                raise QcompError(f"{where}: argument {j} at {buffer}+{offset} lies outside the buffer "
                                 f"({sizes[buffer]} bytes); the artifact is corrupt, rebuild it")
            params.append(int(bases[buffer]) + offset)
        out.append(KernelLaunch(kernel, grid, block, int(launch.get("dynamic_shared_bytes", 0)), tuple(params)))
    return out


def kernel_params(launch: KernelLaunch) -> tuple[np.ndarray, np.ndarray]:
    """cuLaunchKernel's kernelParams for `launch`: (values, pointers), values[i] the 8-byte device address
    of parameter i, pointers[i] the host address of values[i]. Pass pointers.ctypes.data as kernelParams
    and keep both arrays alive until the launch returns."""
    values = np.array(launch.params, dtype=np.uint64)
    pointers = np.array([values.ctypes.data + 8 * i for i in range(len(values))], dtype=np.uint64)
    return values, pointers


# ---- the driver API ---------------------------------------------------------------------------

def _emulate_hint(path: Path) -> str:
    return f"run it on the CPU with `qcomp run {path} --emulate`, or qcomp.load({str(path)!r}, emulate=True)"


def import_driver(path: Path):
    """cuda.bindings.driver, or a QcompError saying how to install it."""
    try:
        from cuda.bindings import driver
    except ImportError:
        raise QcompError(f"artifact {str(path)!r} runs on an NVIDIA GPU through the CUDA driver API, which needs "
                         f"the optional package cuda-bindings: pip install 'qcomp[cuda]' on a machine with a GPU; "
                         f"without a GPU, {_emulate_hint(path)}") from None
    return driver


class DriverError(QcompError):
    """A CUDA driver call failed."""


def _check(driver, result, call: str):
    """cuda.bindings returns (CUresult, *values): the values, or DriverError naming the call and error."""
    err, *values = result if isinstance(result, tuple) else (result,)
    if err != driver.CUresult.CUDA_SUCCESS:
        name = str(err)
        try:
            e2, text = driver.cuGetErrorName(err)
            if e2 == driver.CUresult.CUDA_SUCCESS and text:
                name = text.decode() if isinstance(text, bytes) else str(text)
        except Exception:   # noqa: BLE001 - the error name is only decoration
            pass
        raise DriverError(f"CUDA driver: {call} failed with {name}")
    return values[0] if len(values) == 1 else tuple(values) if values else None


class GpuRunner:
    """Loads model.fatbin on GPU `device` and replays the launch plan; `driver` is cuda.bindings.driver
    (tests pass a stand-in with the same calls)."""

    def __init__(self, path: Path, manifest: dict, driver=None, device: int = 0):
        self.path, self.manifest = Path(path), manifest
        d = self.driver = driver if driver is not None else import_driver(self.path)
        self._ctx = self._module = self._dptr = None
        try:
            _check(d, d.cuInit(0), "cuInit")
            count = _check(d, d.cuDeviceGetCount(), "cuDeviceGetCount")
        except DriverError as e:
            raise QcompError(f"artifact {str(self.path)!r} needs an NVIDIA GPU: no GPU on this host ({e}); "
                             f"{_emulate_hint(self.path)}") from None
        except Exception as e:   # noqa: BLE001 - cuda.bindings raises when libcuda.so (the driver) is absent
            raise QcompError(f"artifact {str(self.path)!r} needs an NVIDIA GPU: no GPU on this host (the NVIDIA "
                             f"driver could not be loaded: {type(e).__name__}: {e}); {_emulate_hint(self.path)}"
                             ) from None
        if count < 1 or device >= count:
            raise QcompError(f"artifact {str(self.path)!r} needs an NVIDIA GPU: no GPU on this host (the driver "
                             f"reports {count} device(s)); {_emulate_hint(self.path)}")
        fatbin_name = manifest["files"].get("fatbin")
        if fatbin_name is None or not (self.path / fatbin_name).is_file():
            raise QcompError(f"artifact {str(self.path)!r} has no model.fatbin (it was built where nvcc was missing): "
                             f"install nvcc (pip install nvidia-cuda-nvcc, or the CUDA toolkit) and rebuild it, "
                             f"or {_emulate_hint(self.path)}")
        weights_file = self.path / manifest["files"]["weights"]
        weights = np.frombuffer(weights_file.read_bytes(), np.uint8) if weights_file.is_file() else None
        if weights is None or weights.size != manifest["weights_file_bytes"]:
            raise QcompError(f"artifact {str(self.path)!r}: weights.bin is missing or does not have the "
                             f"{manifest['weights_file_bytes']} bytes of the manifest; rebuild it")
        self.dev = _check(d, d.cuDeviceGet(device), "cuDeviceGet")
        attr = d.CUdevice_attribute
        major = _check(d, d.cuDeviceGetAttribute(attr.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, self.dev),
                       "cuDeviceGetAttribute")
        minor = _check(d, d.cuDeviceGetAttribute(attr.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, self.dev),
                       "cuDeviceGetAttribute")
        self.compute_capability = 10 * int(major) + int(minor)
        check_architecture(self.path, manifest, self.compute_capability)
        self._ctx = _check(d, d.cuDevicePrimaryCtxRetain(self.dev), "cuDevicePrimaryCtxRetain")
        _check(d, d.cuCtxSetCurrent(self._ctx), "cuCtxSetCurrent")
        # the fatbin image as a host address (cuModuleLoadData reads it during the call; kept alive anyway)
        image = (self.path / fatbin_name).read_bytes()
        check_fatbin(self.path / fatbin_name, image)
        self._image = np.frombuffer(image, np.uint8)
        self._module = _check(d, d.cuModuleLoadData(self._image.ctypes.data), "cuModuleLoadData(model.fatbin)")
        self.functions = {}
        for launch in manifest["launches"]:
            k = launch["kernel"]
            if k not in self.functions:
                self.functions[k] = _check(d, d.cuModuleGetFunction(self._module, k.encode()),
                                           f"cuModuleGetFunction({k})")
        self.layout = device_layout(manifest)
        self._dptr = _check(d, d.cuMemAlloc(self.layout.total_bytes), f"cuMemAlloc({self.layout.total_bytes})")
        base = int(self._dptr)
        self.bases = {name: base + off for name, off in self.layout.offsets.items()}
        if weights.size:
            _check(d, d.cuMemcpyHtoD(d.CUdeviceptr(self.bases["weights"]), weights.ctypes.data, weights.size),
                   "cuMemcpyHtoD(weights)")
        self._weights = weights
        self.launches = marshal_launches(manifest["launches"], self.bases, self.layout.sizes)
        self._params = [kernel_params(k) for k in self.launches]
        self.raw_outputs = raw_dtypes(manifest)

    def run(self, feeds: dict[str, np.ndarray], raw: bool = False, codes: bool = False) -> dict[str, np.ndarray]:
        from .cuda_codes import code_output, prepare
        d, spec, sizes = self.driver, self.manifest["buffers"], self.layout.sizes
        _check(d, d.cuCtxSetCurrent(self._ctx), "cuCtxSetCurrent")
        plan = prepare(self.manifest, feeds) if codes else None   # QCOMP_MODEL_CODES, host side
        inputs = []
        for i, t in enumerate(spec["inputs"]):
            if plan and i in plan.inputs:   # its Quantize does not run
                inputs.append(np.zeros(0, np.uint8))
                continue
            a = np.ascontiguousarray(feeds[t["name"]], dtype=np.dtype(t["dtype"]))
            if list(a.shape) != t["shape"]:
                raise QcompError(f"input {t['name']!r} has shape {a.shape}, expected {tuple(t['shape'])}")
            inputs.append(a)
        if sizes["workspace"]:
            _check(d, d.cuMemsetD8(d.CUdeviceptr(self.bases["workspace"]), 0, sizes["workspace"]),
                   "cuMemsetD8(workspace)")
        if "status" in self.bases:
            _check(d, d.cuMemsetD8(d.CUdeviceptr(self.bases["status"]), 0, 4), "cuMemsetD8(status)")
        for i, a in enumerate(inputs):
            if a.nbytes:
                _check(d, d.cuMemcpyHtoD(d.CUdeviceptr(self.bases[f"input:{i}"]), a.ctypes.data, a.nbytes),
                       f"cuMemcpyHtoD(input {i})")
        for k, (launch, (_values, pointers)) in enumerate(zip(self.launches, self._params)):
            if plan and k in plan.writes:   # in the skipped Quantize's place: cuMemcpyHtoD on the null stream
                offset, c = plan.writes[k]  # runs after the launches before it (cuda_codes.py)
                _check(d, d.cuMemcpyHtoD(d.CUdeviceptr(self.bases["workspace"] + offset), c.ctypes.data, c.nbytes),
                       "cuMemcpyHtoD(model codes)")
                continue
            _check(d, d.cuLaunchKernel(self.functions[launch.kernel], *launch.grid, *launch.block,
                                       launch.dynamic_shared_bytes, 0, pointers.ctypes.data, 0),
                   f"cuLaunchKernel({launch.kernel})")
        _check(d, d.cuCtxSynchronize(), "cuCtxSynchronize (a kernel failed)")
        if "status" in self.bases:
            status = np.zeros(1, np.int32)
            _check(d, d.cuMemcpyDtoH(status.ctypes.data, d.CUdeviceptr(self.bases["status"]), 4),
                   "cuMemcpyDtoH(status)")
            check_status(int(status[0]))
        result = {}
        for i, t in enumerate(spec["outputs"]):
            use_raw = (raw or (plan is not None and i in plan.outputs)) and i in self.raw_outputs
            out = np.empty(t["shape"], self.raw_outputs[i] if use_raw else np.dtype(t["dtype"]))
            key = f"raw:{i}" if use_raw else f"output:{i}"
            if out.nbytes:
                _check(d, d.cuMemcpyDtoH(out.ctypes.data, d.CUdeviceptr(self.bases[key]), out.nbytes),
                       f"cuMemcpyDtoH(output {i})")
            result[t["name"]] = code_output(out, *plan.outputs[i]) if plan and i in plan.outputs else out
        return result

    def close(self) -> None:
        d = self.driver
        if self._dptr is not None:
            d.cuMemFree(self._dptr)
            self._dptr = None
        if self._module is not None:
            d.cuModuleUnload(self._module)
            self._module = None
        if self._ctx is not None:
            d.cuDevicePrimaryCtxRelease(self.dev)
            self._ctx = None

    def __del__(self):
        try:
            self.close()
        except Exception:   # noqa: BLE001 - interpreter shutdown may have torn the driver down already
            pass


FATBIN_MAGIC = 0xBA55ED50
_FATBIN_HEADER = struct.Struct("<IHHQ")   # magic, version, header bytes, payload bytes (nvcc -fatbin)


def check_fatbin(path: Path, image: bytes) -> None:
    """cuModuleLoadData takes a pointer without a length and trusts the image's own header: a
    truncated or foreign file would be read past its end. Refuse anything but a whole nvcc fatbin."""
    if len(image) < _FATBIN_HEADER.size or _FATBIN_HEADER.unpack_from(image)[0] != FATBIN_MAGIC:
        raise QcompError(f"{str(path)!r} is not a CUDA fatbin (no fatbin header); rebuild the artifact with "
                         f"`qcomp build MODEL --target cuda`")
    _, _, header, payload = _FATBIN_HEADER.unpack_from(image)
    if header + payload > len(image):
        raise QcompError(f"{str(path)!r} is truncated ({len(image)} bytes, its header says {header + payload}); "
                         f"rebuild the artifact with `qcomp build MODEL --target cuda`")


def check_architecture(path: Path, manifest: dict, cc: int) -> None:
    """The fatbin has SASS for sm_XX and PTX for compute_YY: a GPU of compute capability cc runs it when
    some sm_XX has the same major version and XX <= cc, or YY <= cc (the driver JIT-compiles the PTX)."""
    sass, ptx = [], []
    for a in manifest.get("architectures", []):
        (sass if a.startswith("sm_") else ptx).append(int(a.split("_")[1]))
    if any(s // 10 == cc // 10 and s <= cc for s in sass) or any(p <= cc for p in ptx):
        return
    raise QcompError(f"artifact {str(path)!r} has code for {', '.join(manifest.get('architectures', []))}, which a "
                     f"GPU of compute capability {cc // 10}.{cc % 10} cannot run; rebuild it for a target listing "
                     f"sm_{cc}, or {_emulate_hint(path)}")


def probe_gpu(driver=None) -> str | None:
    """None when cuda-bindings, the NVIDIA driver and at least one GPU are there, else what is missing
    (with the --emulate hint)."""
    if driver is None:
        try:
            from cuda.bindings import driver
        except ImportError:
            return ("GPU runs need the optional package cuda-bindings (pip install 'qcomp[cuda]') and a GPU; "
                    "run with --emulate on the CPU")
    try:
        _check(driver, driver.cuInit(0), "cuInit")
        count = _check(driver, driver.cuDeviceGetCount(), "cuDeviceGetCount")
    except Exception as e:   # noqa: BLE001 - DriverError, or cuda.bindings failing to load libcuda.so
        return f"no GPU on this host ({type(e).__name__}: {str(e)[:200]}); run with --emulate"
    return None if count > 0 else "no GPU on this host (the CUDA driver sees 0 devices); run with --emulate"
