"""Timing a cuda artifact's launch plan on the GPU with CUDA events (driver API), and reading ncu's CSV.

A GpuRunner (qcomp.runtime.cuda_driver) holds the device buffers, the loaded functions and the
marshalled kernel parameters; after one runner.run(feeds) the inputs sit in device memory, so the
timed sequence is exactly what run() sends to the GPU between its copies:

    cuMemsetD8(workspace)  then  cuLaunchKernel for every launch of the plan, in order, on stream 0

    model time   event before the memset, event after the last launch: cuEventElapsedTime,
                 after `warmup` untimed sequences, `repeats` timed ones; median (and p10/p90)
    kernel time  one event before every launch and one after the last: launch i takes
                 elapsed(e[i], e[i+1]); median over `repeats` sequences per launch (the event records
                 add about a microsecond per launch, so the sum exceeds the model time a little)
    host time    wall clock of runner.run(feeds): inputs in, the sequence, synchronize, outputs out

cuEventElapsedTime has a resolution of about 0.5 microseconds. The same functions run against the
stand-in driver of tests/backends/cuda (its events read the host clock), which is how the plumbing test
exercises them without a GPU.
"""
from __future__ import annotations

import csv
import io
import statistics
import time

from qcomp.runtime.cuda_driver import _check


def _sequence(runner, events=None) -> None:
    """Workspace memset and every launch, as GpuRunner.run does; events[i] recorded before launch i."""
    d, sizes = runner.driver, runner.layout.sizes
    if sizes["workspace"]:
        _check(d, d.cuMemsetD8(d.CUdeviceptr(runner.bases["workspace"]), 0, sizes["workspace"]), "cuMemsetD8")
    for i, (launch, (_values, pointers)) in enumerate(zip(runner.launches, runner._params)):
        if events is not None:
            _check(d, d.cuEventRecord(events[i], 0), "cuEventRecord")
        _check(d, d.cuLaunchKernel(runner.functions[launch.kernel], *launch.grid, *launch.block,
                                   launch.dynamic_shared_bytes, 0, pointers.ctypes.data, 0),
               f"cuLaunchKernel({launch.kernel})")
    if events is not None:
        _check(d, d.cuEventRecord(events[len(runner.launches)], 0), "cuEventRecord")


def _events(d, n: int) -> list:
    return [_check(d, d.cuEventCreate(0), "cuEventCreate") for _ in range(n)]


def _destroy(d, events) -> None:
    for e in events:
        d.cuEventDestroy(e)


def _elapsed_ms(d, a, b) -> float:
    return float(_check(d, d.cuEventElapsedTime(a, b), "cuEventElapsedTime"))


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def time_model(runner, feeds: dict, warmup: int = 20, repeats: int = 200, host_repeats: int = 50) -> dict:
    """Batch-1 latency of the whole plan (ms): CUDA events around the device sequence, and host wall clock
    of runner.run."""
    d = runner.driver
    runner.run(feeds)
    start, end = _events(d, 2)
    samples = []
    try:
        for i in range(warmup + repeats):
            _check(d, d.cuEventRecord(start, 0), "cuEventRecord")
            _sequence(runner)
            _check(d, d.cuEventRecord(end, 0), "cuEventRecord")
            _check(d, d.cuEventSynchronize(end), "cuEventSynchronize (a kernel failed)")
            if i >= warmup:
                samples.append(_elapsed_ms(d, start, end))
    finally:
        _destroy(d, (start, end))
    host = []
    for _ in range(host_repeats):
        t0 = time.perf_counter()
        runner.run(feeds)
        host.append(1e3 * (time.perf_counter() - t0))
    return {"median_ms": statistics.median(samples), "p10_ms": _pct(samples, 0.1), "p90_ms": _pct(samples, 0.9),
            "min_ms": min(samples), "repeats": repeats, "warmup": warmup,
            "host_median_ms": statistics.median(host), "host_repeats": host_repeats}


def time_kernels(runner, feeds: dict, warmup: int = 5, repeats: int = 50) -> list[float]:
    """Median microseconds of every launch of the plan, in plan order."""
    d = runner.driver
    runner.run(feeds)
    n = len(runner.launches)
    events = _events(d, n + 1)
    per_launch: list[list[float]] = [[] for _ in range(n)]
    try:
        for r in range(warmup + repeats):
            _sequence(runner, events)
            _check(d, d.cuEventSynchronize(events[n]), "cuEventSynchronize (a kernel failed)")
            if r >= warmup:
                for i in range(n):
                    per_launch[i].append(1e3 * _elapsed_ms(d, events[i], events[i + 1]))
    finally:
        _destroy(d, events)
    return [statistics.median(v) for v in per_launch]


NCU_METRICS = ("sm__warps_active.avg.pct_of_peak_sustained_active", "gpu__time_duration.sum")


def parse_ncu_csv(text: str) -> list[dict]:
    """`ncu --csv --metrics ...` output -> one dict per profiled launch, in launch order:
    {"kernel": name, METRIC: float, ...}. Lines before the CSV header (the program's own output, ncu's
    ==PROF== notes) are skipped; a missing header is an error naming what came instead."""
    lines = text.splitlines()
    head = next((i for i, line in enumerate(lines) if line.startswith('"ID"')), None)
    if head is None:
        raise ValueError("ncu printed no CSV table (no line starting with \"ID\"); its output ends with:\n"
                         + "\n".join(lines[-15:]))
    launches: dict[int, dict] = {}
    for row in csv.DictReader(io.StringIO("\n".join(lines[head:]))):
        if not row.get("ID", "").strip().isdigit():
            continue
        entry = launches.setdefault(int(row["ID"]), {"kernel": row["Kernel Name"].split("(")[0].strip()})
        value = row["Metric Value"].replace(",", "")
        try:
            entry[row["Metric Name"]] = float(value)
        except ValueError:
            entry[row["Metric Name"]] = value
    return [launches[k] for k in sorted(launches)]
