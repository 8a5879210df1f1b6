"""A damaged artifact gives one clear error on load (DamagedArtifactError naming the artifact, the file
and `rebuild it with qcomp build ...`), before any of its code is loaded; never a crash.

Damage: the manifest edited (a value changed, a key removed, invalid JSON); a compiled file, the
weights, the runner or the quantized graph truncated, replaced or removed. Past the digests (a
manifest re-signed after the damage, as a careless hand edit would not do), the runtimes still fail
cleanly: a library that will not dlopen, a program that is not executable or segfaults, CUDA source
that does not compile, a quantized graph that is not the one the manifest names.
Each target's artifact is built once per module; every test damages a copy.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import qcomp
from qcomp.artifact import write_manifest
from qcomp.errors import DamagedArtifactError, QcompError
from qcomp.target import get_target, host_support

REPO = Path(__file__).resolve().parents[1]
EX = REPO / "examples" / "fashion_mnist"
TARGETS = ("ref", "x86-vnni", "dsp-c", "cuda", "arm-sdot")
# the files whose damage each target's loader must catch (its code, weights and graph)
FILES = {"ref": ["model.qir"], "x86-vnni": ["model.so", "weights.bin", "model.qir"],
         "dsp-c": ["runner", "model.c"], "cuda": ["model.fatbin", "weights.bin", "model.cu"],
         "arm-sdot": ["runner", "model.so"]}


def _why_not(target: str) -> str | None:
    s = host_support(get_target(target))
    if not s.can_build:
        return f"this host cannot build {target}: {s.why}"
    if not s.can_run and target != "cuda":   # cuda runs through the CPU emulation
        return f"this host cannot run {target}: {s.why}"
    return None


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("built")
    return {t: qcomp.build(EX / "model.onnx", target=t, calib=EX / "calib.npz", out=root / t)
            for t in TARGETS if _why_not(t) is None}


def copy_of(built, target: str, tmp_path: Path) -> Path:
    if target not in built:
        pytest.skip(_why_not(target))
    return Path(shutil.copytree(built[target], tmp_path / f"fm.{target}", symlinks=True))


def load(path: Path, target: str):
    return qcomp.load(path, emulate=target == "cuda")


def _edit_manifest(p: Path, edit) -> None:
    m = json.loads((p / "manifest.json").read_text())
    edit(m)
    (p / "manifest.json").write_text(json.dumps(m, indent=2))


def _truncate(f: Path) -> None:
    data = f.read_bytes()
    f.write_bytes(data[: len(data) // 2])


def _replace(f: Path) -> None:
    f.write_bytes(np.random.default_rng(0).integers(0, 256, f.stat().st_size, dtype=np.uint8).tobytes())


DAMAGE = {
    "value": lambda p, _f: _edit_manifest(p, lambda m: m["outputs"][0]["quant"].update(zero_point=-9)),
    "key": lambda p, _f: _edit_manifest(p, lambda m: m.pop("workspace_bytes")),
    "json": lambda p, _f: _truncate(p / "manifest.json"),
    "truncate": lambda p, f: _truncate(p / f),
    "replace": lambda p, f: _replace(p / f),
    "remove": lambda p, f: (p / f).unlink(),
}
CASES = ([(t, kind, "manifest.json") for t in TARGETS for kind in ("value", "key", "json")]
         + [(t, kind, f) for t in TARGETS for f in FILES[t] for kind in ("truncate", "replace", "remove")])


def _cli_run(p: Path, target: str):
    args = [sys.executable, "-m", "qcomp", "run", str(p), "--input", str(EX / "input.npz")]
    return subprocess.run(args + (["--emulate"] if target == "cuda" else []), capture_output=True, text=True,
                          cwd=REPO, timeout=600)


@pytest.mark.parametrize("target, kind, name", CASES, ids=[f"{t}-{k}-{f}" for t, k, f in CASES])
def test_damage_is_one_clear_error(built, tmp_path, target, kind, name):
    p = copy_of(built, target, tmp_path)
    DAMAGE[kind](p, name)
    with pytest.raises(DamagedArtifactError) as e:
        load(p, target)
    msg = str(e.value)
    assert f"artifact {str(p)!r} is damaged" in msg and name in msg, msg
    assert f"rebuild it with `qcomp build model.onnx --target {target} -o {p}`" in msg or kind == "json", msg
    assert "\n" not in msg
    r = _cli_run(p, target)
    assert r.returncode == 2 and r.stderr.startswith("qcomp run: error: artifact "), r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr, r.stderr


def test_an_intact_copy_loads_on_every_target(built, tmp_path):
    """The control: copying an artifact elsewhere keeps it valid, and it runs bit-exact to ref."""
    x = dict(np.load(EX / "input.npz"))
    want = load(built["ref"], "ref").run(x, raw=True)["logits"]
    for target in built:
        p = Path(shutil.copytree(built[target], tmp_path / target, symlinks=True))
        np.testing.assert_array_equal(load(p, target).run(x, raw=True)["logits"], want)


def resign(p: Path) -> None:
    """Write the digests of the files as they are now (what damage past the digests looks like)."""
    m = json.loads((p / "manifest.json").read_text())
    for key in ("format_version", "qcomp_version", "file_sha256", "manifest_sha256"):
        m.pop(key)
    write_manifest(p, m)


def test_ref_graph_other_than_the_manifests_is_refused(built, tmp_path):
    from qcomp.ir.serialize import load_graph, save_graph
    p = copy_of(built, "ref", tmp_path)
    g = load_graph(p / "model.qir")
    name = next(k for k, a in g.constants.items() if a.dtype == np.int8)
    g.constants[name] = np.ascontiguousarray(-g.constants[name].clip(-127, 127))
    save_graph(g, p / "model.qir")
    resign(p)
    with pytest.raises(DamagedArtifactError, match=r"model.qir holds a graph whose sha256 differs"):
        load(p, "ref")
    r = subprocess.run([sys.executable, "-m", "qcomp", "inspect", str(p)], capture_output=True, text=True,
                       cwd=REPO, timeout=600)
    assert r.returncode == 2 and "model.qir holds a graph" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("keep", [0.5, -64, 40, 0])
def test_x86_truncated_library_past_the_digest(built, tmp_path, keep):
    """dlopen of a truncated library dies of SIGBUS: the runtime checks the ELF headers first."""
    p = copy_of(built, "x86-vnni", tmp_path)
    data = (p / "model.so").read_bytes()
    (p / "model.so").write_bytes(data[: int(len(data) * keep) if isinstance(keep, float) else keep])
    resign(p)
    with pytest.raises(QcompError, match=r"model.so' is not a loadable shared library .*rebuild the artifact"):
        load(p, "x86-vnni")


def test_x86_library_replaced_past_the_digest(built, tmp_path):
    p = copy_of(built, "x86-vnni", tmp_path)
    _replace(p / "model.so")
    resign(p)
    with pytest.raises(QcompError, match=r"not an ELF64"):
        load(p, "x86-vnni")
    shutil.copyfile("/bin/true" if Path("/bin/true").is_file() else sys.executable, p / "model.so")
    resign(p)   # an ELF executable, not a shared object with the qcomp ABI
    with pytest.raises(QcompError, match=r"model.so"):
        load(p, "x86-vnni")


@pytest.mark.parametrize("target", ["dsp-c", "arm-sdot"])
def test_runner_garbage_or_segfault_past_the_digest(built, tmp_path, target):
    p = copy_of(built, target, tmp_path)
    x = dict(np.load(EX / "input.npz"))
    _replace(p / "runner")
    resign(p)
    with pytest.raises(QcompError, match="runner"):
        load(p, target).run(x)
    (p / "runner").write_text("#!/bin/sh\nkill -SEGV $$\n")
    resign(p)
    with pytest.raises(QcompError, match="SIGSEGV|runner"):
        load(p, target).run(x)


def test_cuda_source_that_does_not_compile_past_the_digest(built, tmp_path):
    p = copy_of(built, "cuda", tmp_path)
    _replace(p / "model.cu")
    resign(p)
    with pytest.raises(QcompError, match="CUDA source|could not compile"):
        load(p, "cuda")
