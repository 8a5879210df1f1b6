"""MobileNetV2 (tests/models/cnn_zoo.py, width 1.0, 224x224, 1000 classes: the full-size network,
3.5 M parameters) through the dsp-c backend: raw int8 logits equal the --target ref artifact's on the
host and on Cortex-M4 under QEMU. It fits mps2-an386's 4 MiB of flash and of RAM (both checked on
the linked program); the peak stack measured by the runner stays within the build's stack bound.

Slow (~1.5 min on 2 cores: three builds, and 2 G instructions under QEMU): one Cortex-M4 input."""
from __future__ import annotations

import importlib
import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

import qcomp
from qcomp.target import get_target, host_support

pytestmark = pytest.mark.slow

MODELS = Path(__file__).resolve().parents[2] / "models"
WIDTH, IMAGE, CLASSES = 1.0, 224, 1000
FOUR_MIB = 4 * 1024 * 1024   # flash and RAM of mps2-an386 (runtime/dsp/mps2.ld)


def _cnn_zoo():
    """tests/models/cnn_zoo.py (loaded by path as part of its package: tests/ is not a package)."""
    name = "qcomp_test_models_c"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, MODELS / "__init__.py",
                                                      submodule_search_locations=[str(MODELS)])
        sys.modules[name] = module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return importlib.import_module(f"{name}.cnn_zoo")


@pytest.fixture(scope="module")
def mobilenet(tmp_path_factory):
    base = tmp_path_factory.mktemp("mobilenet_v2")
    onnx.save(_cnn_zoo().mobilenet_v2(width=WIDTH, image=IMAGE, num_classes=CLASSES), base / "model.onnx")
    rng = np.random.default_rng(0)
    np.save(base / "calib.npy", rng.normal(0, 1, (4, 3, IMAGE, IMAGE)).astype(np.float32))
    inputs = [rng.normal(0, 1, (1, 3, IMAGE, IMAGE)).astype(np.float32) for _ in range(2)]
    ref = qcomp.load(qcomp.build(base / "model.onnx", target="ref", calib=base / "calib.npy", out=base / "ref"))
    return base, inputs, [ref.run({"input": x}, raw=True) for x in inputs]


def _artifact(base: Path, target: str):
    support = host_support(get_target(target))
    if not support.can_run:
        pytest.skip(f"target {target}: {support.why}")
    return qcomp.load(qcomp.build(base / "model.onnx", target=target, calib=base / "calib.npy", out=base / target))


def test_host_raw_logits_equal_the_reference(mobilenet):
    base, inputs, wants = mobilenet
    c = _artifact(base, "dsp-c")
    for x, want in zip(inputs, wants):
        got = c.run({"input": x}, raw=True)
        for name in want:
            assert np.unique(want[name]).size > 20   # logits spread over the int8 range, not saturated
            np.testing.assert_array_equal(got[name], want[name], err_msg=name)
    assert c.manifest["workspace_bytes"] < c.manifest["activation_bytes"] / 2


def test_cortex_m4_raw_logits_equal_the_reference_and_fit_4_mib(mobilenet):
    base, inputs, wants = mobilenet
    c = _artifact(base, "cortex-m4")
    got = c.run({"input": inputs[0]}, raw=True)
    for name in wants[0]:
        np.testing.assert_array_equal(got[name], wants[0][name], err_msg=name)
    m = c.manifest
    # the whole linked program (model, runner, newlib): text + data in flash, data + bss in RAM
    line = subprocess.run(["arm-none-eabi-size", str(base / "cortex-m4" / "model.elf")], capture_output=True,
                          text=True, check=True).stdout.splitlines()[1].split()
    text, data, bss = (int(v) for v in line[:3])
    assert m["weight_bytes"] < m["flash_bytes"] < text + data <= FOUR_MIB
    assert data + bss + m["stack_bytes"] <= FOUR_MIB
    runner = c._runner   # qcomp.runtime.c.CRunner: figures of its last run
    assert runner.last_instructions > 100_000_000
    assert 0 < runner.last_stack_bytes <= m["stack_bytes"]
