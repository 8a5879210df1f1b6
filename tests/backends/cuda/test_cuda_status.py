"""The run's status word of cuda artifacts (runtime/cuda_driver.py): an artifact whose kernels check
run-time indices gets a 4-byte `status` buffer, zeroed before each run and read after it; a kernel
that finds an index out of range writes QCOMP_ERR_BAD_INPUT there and GpuRunner raises InputError.
Driven through the stand-in driver of test_cuda_driver_runtime.py (the kernels run on this CPU)."""
from __future__ import annotations

import ctypes

import numpy as np
import pytest

from cuda_harness import emulation_skip
from qcomp.errors import InputError
from qcomp.ref import run_integer
from qcomp.runtime.cuda_driver import GpuRunner, buffer_sizes
from test_cuda_driver_runtime import EmulatingDriver, _artifact, _cases


@pytest.mark.skipif(emulation_skip() is not None, reason=str(emulation_skip()))
def test_gpu_runner_reports_an_index_out_of_range(tmp_path):
    from qcomp.runtime.cuda import compile_emulation
    [(name, graph, feeds)] = _cases(["gather_run_time_ids"])
    manifest = _artifact(graph, tmp_path)
    assert buffer_sizes(manifest)["status"] == 4
    lib = ctypes.CDLL(str(compile_emulation(tmp_path, manifest, arch=80)))
    driver = EmulatingDriver(lib, {k["kernel"]: len(k["args"]) for k in manifest["launches"]}, cc=80)
    runner = GpuRunner(tmp_path, manifest, driver=driver)
    got, want = runner.run(feeds), run_integer(graph, feeds)
    for key in want:
        np.testing.assert_array_equal(got[key], want[key], err_msg=key)
    bad = dict(feeds, ids=feeds["ids"].copy())
    bad["ids"][1, 4] = -38
    with pytest.raises(InputError, match="out of range"):
        runner.run(bad)
    got = runner.run(feeds)    # the word is zeroed again before the next run
    np.testing.assert_array_equal(got["tokens"], want["tokens"])
    runner.close()
