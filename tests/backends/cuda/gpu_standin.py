"""The stand-in GPU of `scripts/gpu_check.sh --stand-in` (benchmarks/gpu_check.py), for its plumbing test.

StandInDriver is the stand-in cuda.bindings.driver of test_cuda_driver_runtime.py (device memory in host
arrays, cuLaunchKernel running the CPU emulation's kernels of the artifact) with what the check adds:
CUDA events (cuEventRecord reads the host clock; every launch has finished when it returns, so the
elapsed times are those of the emulated kernels), the device name and the driver version. It reports
compute capability 9.0, as an H100 does. Nothing here runs on a GPU.
"""
from __future__ import annotations

import ctypes
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from test_cuda_driver_runtime import EmulatingDriver  # noqa: E402

NAME = "qcomp stand-in (CPU emulation, no GPU)"


class StandInDriver(EmulatingDriver):
    def __init__(self, lib, nparams: dict[str, int], cc: int = 90):
        super().__init__(lib, nparams, cc=cc)
        self.events: dict[int, float] = {}

    def cuDriverGetVersion(self):
        return self._ok("cuDriverGetVersion", 0)

    def cuDeviceGetName(self, length, dev):
        return self._ok("cuDeviceGetName", NAME.encode().ljust(length, b"\0"))

    def cuEventCreate(self, Flags):
        handle = len(self.events) + 1
        self.events[handle] = 0.0
        return self._ok("cuEventCreate", handle)

    def cuEventRecord(self, hEvent, hStream):
        assert hStream == 0 and hEvent in self.events
        self.events[hEvent] = time.perf_counter()
        return self._ok("cuEventRecord")

    def cuEventSynchronize(self, hEvent):
        return self._ok("cuEventSynchronize")

    def cuEventElapsedTime(self, hStart, hEnd):
        return self._ok("cuEventElapsedTime", 1e3 * (self.events[hEnd] - self.events[hStart]))

    def cuEventDestroy(self, hEvent):
        self.events.pop(hEvent)
        return self._ok("cuEventDestroy")


def stand_in_driver(path: Path, manifest: dict, emulate_arch: int) -> StandInDriver:
    """A stand-in driver whose kernels are the artifact's model.cu compiled for the host, emulating
    compute capability emulate_arch / 10 (the kernel path of the variant's fatbin)."""
    from qcomp.runtime.cuda import compile_emulation
    lib = ctypes.CDLL(str(compile_emulation(path, manifest, arch=emulate_arch)))
    return StandInDriver(lib, {k["kernel"]: len(k["args"]) for k in manifest["launches"]})
