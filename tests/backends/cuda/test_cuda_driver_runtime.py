"""The GPU runtime (qcomp/runtime/cuda_driver.py) without a GPU.

- marshal_launches / device_layout / kernel_params: the launch plan -> cuLaunchKernel arguments, as pure
  functions (addresses, bounds checks, the kernelParams pointer array).
- GpuRunner against a stand-in for cuda.bindings.driver that keeps "device memory" in host arrays and
  executes cuLaunchKernel with the CPU emulation's kernels: the runner's whole call sequence (one
  cuMemAlloc, weights copied once, workspace zeroed, inputs in, every launch with its kernelParams,
  outputs out) gives bit-exact results on op-case graphs. The stand-in's calls have the arity of the
  real cuda.bindings.driver functions (checked when cuda-bindings is installed).
- No cuda-bindings, no NVIDIA driver, no GPU, no fatbin, a GPU too old for the fatbin: clear errors
  that say so and point at --emulate.
Nothing here runs on a GPU.
"""
from __future__ import annotations

import ctypes
import enum
import json
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

from cuda_harness import emulation_skip
from qcomp.errors import QcompError
from qcomp.ref import run_integer
from qcomp.runtime.cuda_driver import (DEVICE_ALIGN, FATBIN_MAGIC, GpuRunner, KernelLaunch, device_layout,
                                       kernel_params, marshal_launches, probe_gpu)

TESTS = Path(__file__).resolve().parents[2]


def _plan():
    return [{"kernel": "k0_conv", "node": "conv", "grid": [3, 2, 1], "block": [16, 16, 1], "shared_bytes": 2304,
             "args": [{"buffer": "input:0", "offset": 0, "type": "int8_t"},
                      {"buffer": "weights", "offset": 64, "type": "int32_t"},
                      {"buffer": "workspace", "offset": 96, "type": "int8_t"}]},
            {"kernel": "k1_deq", "node": "deq", "grid": [1, 1, 1], "block": [256, 1, 1], "shared_bytes": 0,
             "args": [{"buffer": "workspace", "offset": 96, "type": "int8_t"},
                      {"buffer": "output:0", "offset": 0, "type": "float"},
                      {"buffer": "raw:0", "offset": 0, "type": "int8_t"}]}]


def _manifest():
    return {"files": {"weights": "weights.bin"}, "weights_file_bytes": 200, "workspace_bytes": 300,
            "architectures": ["sm_75", "sm_80", "compute_90"],
            "buffers": {"inputs": [{"name": "x", "dtype": "int8", "shape": [1, 4, 4, 3]}],
                        "outputs": [{"name": "y", "dtype": "float32", "shape": [1, 10]}]},
            "launches": _plan()}


def test_device_layout_is_one_aligned_allocation():
    layout = device_layout(_manifest())
    assert layout.sizes == {"weights": 200, "workspace": 300, "input:0": 48, "output:0": 40, "raw:0": 10}
    spans = sorted((layout.offsets[k], layout.offsets[k] + layout.sizes[k]) for k in layout.sizes)
    assert all(start % DEVICE_ALIGN == 0 for start, _ in spans)
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(spans, spans[1:]))   # disjoint
    assert layout.total_bytes >= spans[-1][1] and layout.total_bytes % DEVICE_ALIGN == 0


def test_marshal_launches_adds_offsets_to_bases():
    layout = device_layout(_manifest())
    base = 0x7F0000000000
    bases = {k: base + v for k, v in layout.offsets.items()}
    got = marshal_launches(_plan(), bases, layout.sizes)
    assert got[0] == KernelLaunch("k0_conv", (3, 2, 1), (16, 16, 1), 0,
                                  (bases["input:0"], bases["weights"] + 64, bases["workspace"] + 96))
    assert got[1].params == (bases["workspace"] + 96, bases["output:0"], bases["raw:0"])
    assert got[1].grid == (1, 1, 1) and got[1].block == (256, 1, 1)


@pytest.mark.parametrize("change, message", [
    (lambda p: p[0]["args"][1].update(offset=197), r"argument 1 at weights\+197 lies outside the buffer \(200 bytes\)"),
    (lambda p: p[0]["args"][0].update(buffer="input:3"), r"buffer 'input:3'"),
    (lambda p: p[0].update(block=[32, 33, 1]), r"more than 1024 threads"),
    (lambda p: p[1].update(grid=[0, 1, 1]), r"launch 1 \(k1_deq, node 'deq'\).*not a launchable"),
    (lambda p: p[0].update(shared_bytes=64 * 1024), r"static shared memory"),
])
def test_marshal_launches_rejects_a_corrupt_plan(change, message):
    layout = device_layout(_manifest())
    plan = _plan()
    change(plan)
    with pytest.raises(QcompError, match=message):
        marshal_launches(plan, layout.offsets, layout.sizes)


def test_kernel_params_point_at_the_parameter_values():
    launch = KernelLaunch("k", (1, 1, 1), (1, 1, 1), 0, (0x1000, 0xDEADBEEF00, 2**63 + 5))
    values, pointers = kernel_params(launch)
    assert pointers.dtype == np.uint64 and len(pointers) == 3
    for i, p in enumerate(pointers):
        assert ctypes.c_uint64.from_address(int(p)).value == launch.params[i]


# ---- a stand-in driver: device memory in host arrays, kernels run by the CPU emulation ----------

class EmulatingDriver:
    """The subset of cuda.bindings.driver that GpuRunner calls, with its conventions: every call returns
    (CUresult, *values); kernelParams is the address of an array of pointers to the parameter values."""

    class CUresult(enum.IntEnum):
        CUDA_SUCCESS = 0
        CUDA_ERROR_INVALID_VALUE = 1
        CUDA_ERROR_NOT_FOUND = 500

    class CUdevice_attribute(enum.IntEnum):
        CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75
        CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76

    class CUdeviceptr(int):
        pass

    def __init__(self, lib, nparams: dict[str, int], cc: int = 80, devices: int = 1):
        self.lib, self.nparams, self.cc, self.devices = lib, nparams, cc, devices
        self.calls: list[str] = []
        self.log: list[tuple[str, tuple]] = []    # every call with its arguments
        self.allocations: list[np.ndarray] = []
        self.image = None

    def __getattribute__(self, name):
        attr = object.__getattribute__(self, name)
        if name.startswith("cu") and callable(attr):
            log = object.__getattribute__(self, "log")

            def logged(*args):
                log.append((name, args))
                return attr(*args)
            return logged
        return attr

    def _ok(self, name, *values):
        self.calls.append(name)
        return (self.CUresult.CUDA_SUCCESS, *values)

    def _span(self, address: int, n: int) -> None:
        for a in self.allocations:
            if a.ctypes.data <= address and address + n <= a.ctypes.data + a.nbytes:
                return
        raise AssertionError(f"device range {address:#x}+{n} is outside every cuMemAlloc allocation")

    def cuInit(self, flags):
        return self._ok("cuInit")

    def cuDeviceGetCount(self):
        return self._ok("cuDeviceGetCount", self.devices)

    def cuDeviceGet(self, ordinal):
        return self._ok("cuDeviceGet", ordinal)

    def cuDeviceGetAttribute(self, attrib, dev):
        major = attrib == self.CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR
        return self._ok("cuDeviceGetAttribute", self.cc // 10 if major else self.cc % 10)

    def cuDevicePrimaryCtxRetain(self, dev):
        return self._ok("cuDevicePrimaryCtxRetain", "ctx")

    def cuCtxSetCurrent(self, ctx):
        assert ctx == "ctx"
        return self._ok("cuCtxSetCurrent")

    def cuModuleLoadData(self, image):
        self.image = image   # a host address
        return self._ok("cuModuleLoadData", "module")

    def cuModuleGetFunction(self, hmod, name):
        assert hmod == "module" and isinstance(name, bytes)
        if not hasattr(self.lib, f"qcomp_emu_{name.decode()}"):
            return (self.CUresult.CUDA_ERROR_NOT_FOUND, None)
        return self._ok("cuModuleGetFunction", name.decode())

    def cuMemAlloc(self, bytesize):
        a = np.full(bytesize, 0xA5, np.uint8)   # device memory is not cleared
        self.allocations.append(a)
        return self._ok("cuMemAlloc", self.CUdeviceptr(a.ctypes.data))

    def cuMemcpyHtoD(self, dstDevice, srcHost, ByteCount):
        self._span(int(dstDevice), ByteCount)
        ctypes.memmove(int(dstDevice), srcHost, ByteCount)
        return self._ok("cuMemcpyHtoD")

    def cuMemcpyDtoH(self, dstHost, srcDevice, ByteCount):
        self._span(int(srcDevice), ByteCount)
        ctypes.memmove(dstHost, int(srcDevice), ByteCount)
        return self._ok("cuMemcpyDtoH")

    def cuMemsetD8(self, dstDevice, uc, N):
        self._span(int(dstDevice), N)
        ctypes.memset(int(dstDevice), uc, N)
        return self._ok("cuMemsetD8")

    def cuLaunchKernel(self, f, gridDimX, gridDimY, gridDimZ, blockDimX, blockDimY, blockDimZ, sharedMemBytes,
                       hStream, kernelParams, extra):
        assert sharedMemBytes == 0 and extra == 0 and hStream == 0
        n = self.nparams[f]
        slots = (ctypes.c_uint64 * n).from_address(kernelParams)
        values = [ctypes.c_uint64.from_address(int(s)).value for s in slots]
        for v in values:
            self._span(v, 1)
        from qcomp.runtime.cuda import _EMULATION_LOCK
        with _EMULATION_LOCK:
            getattr(self.lib, f"qcomp_emu_{f}")((ctypes.c_uint * 3)(gridDimX, gridDimY, gridDimZ),
                                                (ctypes.c_uint * 3)(blockDimX, blockDimY, blockDimZ),
                                                (ctypes.c_void_p * n)(*values))
        return self._ok("cuLaunchKernel")

    def cuCtxSynchronize(self):
        return self._ok("cuCtxSynchronize")

    def cuMemFree(self, dptr):
        return self._ok("cuMemFree")

    def cuModuleUnload(self, hmod):
        return self._ok("cuModuleUnload")

    def cuDevicePrimaryCtxRelease(self, dev):
        return self._ok("cuDevicePrimaryCtxRelease")

    def cuGetErrorName(self, error):
        return (self.CUresult.CUDA_SUCCESS, self.CUresult(error).name.encode())


DRIVER_CALLS = [name for name in vars(EmulatingDriver) if name.startswith("cu") and callable(vars(EmulatingDriver)[name])
                and name != "__getattribute__"]


def test_stand_in_matches_the_cuda_bindings_signatures():
    """Every call GpuRunner makes exists in cuda.bindings.driver with the same number of arguments
    (read from the bindings' docstrings: `cuLaunchKernel(f, unsigned int gridDimX, ...)`)."""
    import inspect
    driver = pytest.importorskip("cuda.bindings.driver", reason="cuda-bindings is not installed (the cuda extra)")
    for name in DRIVER_CALLS:
        real = getattr(driver, name)
        first = real.__doc__.strip().splitlines()[0]
        inside = first[first.index("(") + 1:first.rindex(")")].strip()
        want = 0 if not inside else len(inside.split(","))
        got = len(inspect.signature(getattr(EmulatingDriver, name)).parameters) - 1
        assert got == want, f"{name}: stand-in takes {got} arguments, cuda.bindings: {first}"
    for attr in ("CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR", "CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR"):
        assert getattr(driver.CUdevice_attribute, attr) == getattr(EmulatingDriver.CUdevice_attribute, attr)
    assert int(driver.CUdeviceptr(1234)) == 1234


def test_cuda_bindings_accept_the_runners_arguments(tmp_path):
    """Replay every driver call a GpuRunner load + run makes (recorded with the stand-in) against the real
    cuda.bindings.driver, with the stand-in's handles replaced by the bindings' own types: the bindings
    convert every argument before they need the driver, so on this GPU-less host each call may fail only
    because libcuda.so is missing or no device is there, never with a TypeError on an argument."""
    driver = pytest.importorskip("cuda.bindings.driver", reason="cuda-bindings is not installed (the cuda extra)")
    if probe_gpu() is None:
        pytest.skip("this host has a GPU: replaying recorded pointers there is not safe")
    if emulation_skip() is not None:
        pytest.skip(emulation_skip())
    from qcomp.runtime.cuda import compile_emulation
    name, graph, feeds = _cases(["float_dense"])[0]
    manifest = _artifact(graph, tmp_path)
    lib = ctypes.CDLL(str(compile_emulation(tmp_path, manifest)))
    fake = EmulatingDriver(lib, {k["kernel"]: len(k["args"]) for k in manifest["launches"]})
    runner = GpuRunner(tmp_path, manifest, driver=fake)
    runner.run(feeds, raw=True)
    runner.close()
    kernels = set(fake.nparams)

    def real(value):
        if isinstance(value, EmulatingDriver.CUdeviceptr):
            return driver.CUdeviceptr(int(value))
        if isinstance(value, EmulatingDriver.CUdevice_attribute):
            return getattr(driver.CUdevice_attribute, value.name)
        if value == "ctx":
            return driver.CUcontext()
        if value == "module":
            return driver.CUmodule()
        if isinstance(value, str) and value in kernels:
            return driver.CUfunction()
        return value

    replayed = set()
    for call, args in fake.log:
        if call == "cuGetErrorName":
            continue
        try:
            getattr(driver, call)(*[real(a) for a in args])
        except (TypeError, ValueError, OverflowError) as e:
            pytest.fail(f"cuda.bindings rejects the arguments of {call}{args}: {e}")
        except Exception:   # noqa: BLE001 - the driver library is missing: expected here
            pass
        replayed.add(call)
    assert {"cuModuleLoadData", "cuMemAlloc", "cuMemcpyHtoD", "cuMemsetD8", "cuLaunchKernel", "cuMemcpyDtoH",
            "cuModuleGetFunction", "cuCtxSetCurrent", "cuDeviceGetAttribute"} <= replayed


def _cases(names):
    sys.path.insert(0, str(TESTS))
    try:
        from opcases.cases import CASES, materialize
    finally:
        sys.path.remove(str(TESTS))
    return [(c.name, *materialize(c)) for c in CASES if c.name in names]


def _artifact(graph, out: Path):
    from qcomp.codegen.cuda import emit
    from qcomp.target import get_target
    manifest = emit(graph, get_target("cuda"), out, fatbin=False)
    payload = b"fatbin of " + graph.name.encode()   # the stand-in never decodes past the header
    (out / "model.fatbin").write_bytes(struct.pack("<IHHQ", FATBIN_MAGIC, 1, 16, len(payload)) + payload)
    manifest["files"]["fatbin"] = "model.fatbin"
    return manifest


@pytest.mark.skipif(emulation_skip() is not None, reason=str(emulation_skip()))
@pytest.mark.parametrize("cc", [75, 86])
def test_gpu_runner_call_sequence_is_bit_exact(tmp_path, cc):
    from qcomp.runtime.cuda import compile_emulation
    names = ["conv3x3_s2_c17_o13", "conv_depthwise3x3_c13", "float_dense", "add_broadcast_channel"]
    for name, graph, feeds in _cases(names):
        out = tmp_path / name
        out.mkdir()
        manifest = _artifact(graph, out)
        lib = ctypes.CDLL(str(compile_emulation(out, manifest, arch=80 if cc >= 80 else 75)))
        driver = EmulatingDriver(lib, {k["kernel"]: len(k["args"]) for k in manifest["launches"]}, cc=cc)
        runner = GpuRunner(out, manifest, driver=driver)
        fatbin = (out / "model.fatbin").read_bytes()
        assert ctypes.string_at(driver.image, len(fatbin)) == fatbin
        assert driver.calls.count("cuMemAlloc") == 1   # one allocation; the weights are copied once:
        assert driver.calls.count("cuMemcpyHtoD") == (1 if manifest["weights_file_bytes"] else 0)
        for raw in (False, True):
            driver.calls.clear()
            got = runner.run({k: v.copy() for k, v in feeds.items()}, raw=raw)
            want = run_integer(graph, feeds, raw=raw)
            for key, value in want.items():
                assert got[key].dtype == value.dtype, (name, key)
                np.testing.assert_array_equal(got[key], value, err_msg=f"{name} raw={raw}: {key}")
            assert driver.calls.count("cuLaunchKernel") == len(manifest["launches"])
            assert driver.calls.index("cuCtxSynchronize") > max(i for i, c in enumerate(driver.calls)
                                                                 if c == "cuLaunchKernel")
            assert driver.calls.count("cuMemcpyDtoH") == len(want)
        runner.close()
        assert {"cuMemFree", "cuModuleUnload", "cuDevicePrimaryCtxRelease"} <= set(driver.calls)


def test_gpu_runner_refuses_what_it_cannot_run(tmp_path):
    from qcomp.ir import DType, Graph, Stage, TensorType, qops
    g = Graph(name="rq", stage=Stage.TARGET)
    g.add_input("x", TensorType((2, 5), DType.INT8))
    g.add_node(qops.QRequantize(0, 1 << 30, 0, 3), ["x"], "rq")
    g.outputs = ["rq"]
    manifest = _artifact(g, tmp_path)
    with pytest.raises(QcompError, match=r"no GPU on this host \(the driver reports 0 device\(s\)\).*--emulate"):
        GpuRunner(tmp_path, manifest, driver=EmulatingDriver(None, {}, devices=0))
    with pytest.raises(QcompError, match=r"compute capability 7\.0 cannot run; rebuild .*--emulate"):
        GpuRunner(tmp_path, manifest, driver=EmulatingDriver(None, {}, cc=70))
    whole = (tmp_path / "model.fatbin").read_bytes()   # cuModuleLoadData would read past a damaged image
    (tmp_path / "model.fatbin").write_bytes(whole[:-1])
    with pytest.raises(QcompError, match=r"model.fatbin' is truncated .*rebuild the artifact"):
        GpuRunner(tmp_path, manifest, driver=EmulatingDriver(None, {}))
    (tmp_path / "model.fatbin").write_bytes(b"\x00" * len(whole))
    with pytest.raises(QcompError, match=r"model.fatbin' is not a CUDA fatbin"):
        GpuRunner(tmp_path, manifest, driver=EmulatingDriver(None, {}))
    (tmp_path / "model.fatbin").unlink()
    del manifest["files"]["fatbin"]
    with pytest.raises(QcompError, match=r"no model.fatbin \(it was built where nvcc was missing\).*--emulate"):
        GpuRunner(tmp_path, manifest, driver=EmulatingDriver(None, {}))
    assert probe_gpu(EmulatingDriver(None, {})) is None
    assert "0 devices" in probe_gpu(EmulatingDriver(None, {}, devices=0))


def test_load_without_cuda_bindings_says_what_to_install(tmp_path, monkeypatch):
    from qcomp.runtime.cuda import load
    monkeypatch.setitem(sys.modules, "cuda.bindings", None)   # import fails as if not installed
    monkeypatch.setitem(sys.modules, "cuda.bindings.driver", None)
    manifest = _manifest()
    with pytest.raises(QcompError, match=r"cuda-bindings: pip install 'qcomp\[cuda\]'.*--emulate"):
        load(tmp_path, manifest)
    assert "cuda-bindings" in probe_gpu()


def test_load_with_cuda_bindings_but_no_gpu(tmp_path):
    """The real cuda-bindings on this GPU-less host: cuInit cannot load libcuda.so or finds no device."""
    pytest.importorskip("cuda.bindings.driver", reason="cuda-bindings is not installed (the cuda extra)")
    if probe_gpu() is None:
        pytest.skip("this host has a GPU")
    from qcomp.runtime.cuda import load
    with pytest.raises(QcompError, match=r"needs an NVIDIA GPU: no GPU on this host.*--emulate"):
        load(tmp_path, _manifest())

