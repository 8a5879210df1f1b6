"""Running cross-compiled llvm-backend artifacts (arm-sdot) through their static runner program.

    runner = load(path, manifest, target);  runner.run(feeds, raw=False) -> {output name: array}

A cross artifact cannot be loaded into this process (model.so is aarch64 code), so every run goes
through the artifact's `runner` (runtime/llvm/runner.c linked statically with libmodel.a): the
inputs are written as .npy files into a temporary directory, in the order of the ABI's inputs,
and the runner writes one .npy per output (dtype and shape from the library itself, int8 under
--raw). On a host of the target's architecture (`host_arch`, aarch64) the runner executes
natively; anywhere else it runs under the target's `[runner] command` (qemu-aarch64 -cpu max,
QEMU user mode). A missing emulator is a QcompError naming the Debian package to install.

Threads: num_threads=N (qcomp.load(..., num_threads=N), `qcomp run --threads N`) reaches the
artifact's thread pool as QCOMP_NUM_THREADS=N in the runner's environment (0: the pool's default).
Without it, the runner gets QCOMP_NUM_THREADS=1 under the emulator unless the environment sets it:
QEMU's timings mean nothing for a device, and the pool's workers would only add emulation work on
the host's cores (results are identical for every thread count).

The runner checks the CPU itself (getauxval(AT_HWCAP) & HWCAP_ASIMDDP for SDOT) before it runs any
model code: a core without dotprod gives its message (exit code 4) as a QcompError, never SIGILL.
`run_many(list of feeds)` runs several input sets (one runner start each); cost measurements use
`command()` with the runner's --repeat. Imports nothing of qcomp but qcomp.errors.
"""
from __future__ import annotations

import os
import platform
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from ..errors import QcompError

TIMEOUT_S = 900
# runner.c's exit codes
_EXIT = {2: "bad command line", 3: "file error", 4: "this CPU lacks a feature the code needs",
         5: "qcomp_run failed", 6: "out of memory"}


class CrossRunner:
    """The artifact's runner program, run natively or under the target's emulator."""

    def __init__(self, program: Path, target, inputs: list[str], outputs: list[str], num_threads: int | None = None):
        if num_threads is not None and (isinstance(num_threads, bool) or not isinstance(num_threads, int)
                                        or num_threads < 0):
            raise QcompError(f"num_threads must be an integer >= 0 (0: the default), got {num_threads!r}")
        self.num_threads = num_threads
        if not program.is_file():
            raise QcompError(f"artifact {str(program.parent)!r} lacks its runner program {program.name!r}; "
                             f"rebuild it with `qcomp build MODEL --target {target.name}`")
        self.program, self.target = program, target
        self.inputs, self.outputs = list(inputs), list(outputs)

    def command(self) -> list[str]:
        """The runner's command line prefix: the program, under the emulator when this host is not
        of the target's architecture."""
        host_arch = getattr(self.target, "host_arch", "")
        if host_arch and platform.machine() == host_arch:
            return [str(self.program)]
        runner = getattr(self.target, "runner", {}) or {}
        emulator = list(runner.get("command", []))
        if not emulator:
            raise QcompError(f"artifact for target {self.target.name!r} needs a {host_arch or 'foreign'} CPU "
                             f"and the target names no emulator to run it on this {platform.machine()} host")
        if shutil.which(emulator[0]) is None:
            pkgs = " ".join(runner.get("debian_packages", [])) or emulator[0]
            raise QcompError(f"running {self.target.name!r} artifacts on this {platform.machine()} host needs "
                             f"the emulator {emulator[0]!r}, which is missing: apt-get install {pkgs}")
        return [*emulator, str(self.program)]

    def run(self, feeds: dict[str, np.ndarray], raw: bool = False, codes: bool = False) -> dict[str, np.ndarray]:
        return self.run_many([feeds], raw=raw, codes=codes)[0]

    def run_many(self, feeds_list: list[dict[str, np.ndarray]], raw: bool = False,
                 codes: bool = False) -> list[dict[str, np.ndarray]]:
        """Each input set of feeds_list through the runner, in one temporary directory (codes: the
        runner's --codes, QCOMP_MODEL_CODES)."""
        prefix = self.command()
        env = dict(os.environ)
        if self.num_threads:
            env["QCOMP_NUM_THREADS"] = str(self.num_threads)
        elif self.num_threads == 0:
            env.pop("QCOMP_NUM_THREADS", None)
        elif prefix[0] != str(self.program):   # emulated: one thread unless asked otherwise
            env.setdefault("QCOMP_NUM_THREADS", "1")
        results = []
        with tempfile.TemporaryDirectory(prefix="qcomp-cross-") as tmp:
            for feeds in feeds_list:
                args = [*prefix, *(["--raw"] if raw else []), *(["--codes"] if codes else [])]
                for k, name in enumerate(self.inputs):
                    if name not in feeds:
                        raise QcompError(f"missing input {name!r}: the model's inputs are {self.inputs}")
                    np.save(Path(tmp) / f"in{k}.npy", np.ascontiguousarray(feeds[name]))
                    args += ["-i", str(Path(tmp) / f"in{k}.npy")]
                for k in range(len(self.outputs)):
                    args += ["-o", str(Path(tmp) / f"out{k}.npy")]
                self._execute(args, env)
                results.append({name: self._output(Path(tmp) / f"out{k}.npy") for k, name in enumerate(self.outputs)})
        return results

    def _output(self, path: Path) -> np.ndarray:
        try:
            return np.load(path, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise QcompError(f"the {self.target.name} runner {str(self.program)!r} exited normally but wrote no "
                             f"readable {path.name} ({str(e).splitlines()[0]}); rebuild the artifact with "
                             f"`qcomp build MODEL --target {self.target.name}`") from None

    def _execute(self, args: list[str], env: dict) -> None:
        try:
            proc = subprocess.run(args, capture_output=True, text=True, errors="replace", timeout=TIMEOUT_S, env=env)
        except subprocess.TimeoutExpired:
            raise QcompError(f"the {self.target.name} runner did not finish within {TIMEOUT_S} s: "
                             f"{' '.join(args[:4])} ...") from None
        except OSError as e:    # not an executable at all (exec format error, permissions)
            raise QcompError(f"the {self.target.name} runner {str(self.program)!r} cannot be started ({e.strerror}); "
                             f"rebuild the artifact with `qcomp build MODEL --target {self.target.name}`") from None
        if proc.returncode == 0:
            return
        message = proc.stderr.strip()[-2000:]
        if proc.returncode < 0:
            try:
                name = signal.Signals(-proc.returncode).name
            except ValueError:
                name = f"signal {-proc.returncode}"
            raise QcompError(f"the {self.target.name} runner was killed by {name}\n{message}")
        if proc.returncode == 4:   # the runner's own CPU check: its message says what is missing
            raise QcompError(f"artifact for target {self.target.name!r} cannot run on this CPU: {message}")
        why = _EXIT.get(proc.returncode, f"exit code {proc.returncode}")
        raise QcompError(f"the {self.target.name} runner failed ({why}): {message}")


def load(path, manifest: dict, target, num_threads: int | None = None, **options) -> CrossRunner:
    """The runner of a cross artifact (manifest files["runner"]); inputs and outputs in manifest order."""
    if options:
        raise QcompError(f"target {manifest.get('target')!r} artifacts take no run options but num_threads, "
                         f"got {sorted(options)}")
    files = manifest.get("files", {})
    if "runner" not in files:
        raise QcompError(f"artifact {str(path)!r} has no runner program in its manifest; rebuild it with "
                         f"`qcomp build MODEL --target {target.name}`")
    return CrossRunner(Path(path) / files["runner"], target, [t["name"] for t in manifest["inputs"]],
                       [t["name"] for t in manifest["outputs"]], num_threads)
