"""--target native: the best CPU target this host runs, chosen from /proc/cpuinfo flags, printed and
recorded in the manifest."""
import json
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from qcomp.errors import QcompError
from qcomp.target import all_targets, get_target, host_cpu_flags, native_choice

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "fashion_mnist"


def _expected(flags: set[str], machine: str) -> str:
    """An independent statement of the rule: the highest native_rank target of the machine whose
    host_features are all in flags."""
    fits = [t for t in all_targets().values()
            if t.native_rank and t.host_arch == machine and set(t.host_features) <= flags]
    return max(fits, key=lambda t: t.native_rank).name


def test_every_ranked_target_is_chosen_on_a_cpu_with_exactly_its_features():
    ranked = [t for t in all_targets().values() if t.native_rank]
    assert {t.name for t in ranked} >= {"x86-vnni", "arm-sdot"}
    assert len({(t.host_arch, t.native_rank) for t in ranked}) == len(ranked), "ranks must not tie"
    for t in ranked:
        chosen, why = native_choice(set(t.host_features), t.host_arch)
        assert chosen.name == t.name == _expected(set(t.host_features), t.host_arch)
        assert why.startswith(t.name) and all(f in why for f in t.host_features)


def test_a_better_cpu_gets_the_best_target_and_the_reason_names_what_others_lack():
    x86 = set().union(*(t.host_features for t in all_targets().values() if t.host_arch == "x86_64"))
    best, why = native_choice(x86, "x86_64")
    assert best.name == "x86-vnni" == _expected(x86, "x86_64")
    no_512 = {f for f in x86 if not f.startswith("avx512")}
    if any(t.native_rank and set(t.host_features) <= no_512 for t in all_targets().values()):
        chosen, why = native_choice(no_512, "x86_64")
        assert chosen.name == _expected(no_512, "x86_64") != "x86-vnni"
        assert "not x86-vnni: this CPU lacks avx512f" in why


def test_no_runnable_target_is_one_clear_error():
    with pytest.raises(QcompError, match=r"--target native: no CPU target of qcomp runs on this x86_64 host "
                                         r"\(not x86-vnni: this CPU lacks avx512f.*use --target ref"):
        native_choice(set(), "x86_64")
    with pytest.raises(QcompError, match="qcomp has no CPU target for a riscv64 host; use --target ref"):
        native_choice({"rv64imafdc"}, "riscv64")


def test_get_target_resolves_native_and_names_it_among_the_choices():
    assert get_target("native").name == native_choice()[0].name
    with pytest.raises(QcompError, match="or native"):
        get_target("x86-vnnii")


@pytest.mark.skipif(platform.machine() != "x86_64" or not host_cpu_flags(), reason="needs an x86-64 Linux host")
def test_build_native_prints_and_records_the_choice_and_runs_bit_exact(tmp_path):
    chosen, why = native_choice()
    out = tmp_path / "fm"
    r = subprocess.run([sys.executable, "-m", "qcomp", "build", EXAMPLE / "model.onnx", "--target", "native",
                        "--calib", EXAMPLE / "calib.npz", "--calib-size", "32", "-o", out],
                       capture_output=True, text=True, timeout=600, cwd=REPO)
    assert r.returncode == 0, r.stderr
    assert f"--target native: {why}" in r.stdout
    m = json.loads((out / "manifest.json").read_text())
    assert m["target"] == chosen.name and m["target_choice"] == f"native: {why}"
    assert m["build_options"]["target"] == "native"
    import qcomp
    ref = qcomp.build(EXAMPLE / "model.onnx", target="ref", calib=str(EXAMPLE / "calib.npz"), calib_size=32,
                      out=tmp_path / "ref")
    x = dict(np.load(EXAMPLE / "input.npz"))
    got, want = qcomp.load(out).run(x, raw=True), qcomp.load(ref).run(x, raw=True)
    for k in want:
        np.testing.assert_array_equal(got[k], want[k])


@pytest.mark.parametrize("flags, want", [
    ({"fp", "asimd"}, "arm-neon"),
    ({"fp", "asimd", "asimddp"}, "arm-sdot"),
    ({"fp", "asimd", "asimddp", "i8mm"}, "arm-i8mm"),
    ({"fp", "asimd", "i8mm"}, "arm-neon"),          # i8mm without dotprod: arm-i8mm also needs dotprod (its features)
])
def test_aarch64_hosts_get_the_target_their_cpu_runs(flags, want):
    assert native_choice(flags, "aarch64")[0].name == want == _expected(flags, "aarch64")


@pytest.mark.parametrize("flags, want", [
    ({"sse4_2", "avx", "avx2"}, "x86-avx2"),
    ({"sse4_2", "avx", "avx2", "avx_vnni"}, "x86-avxvnni"),
    ({"avx2", "avx_vnni", "avx512f", "avx512bw", "avx512vl", "avx512_vnni"}, "x86-vnni"),
    ({"avx2", "avx512f", "avx512bw", "avx512vl"}, "x86-avx2"),      # AVX-512 without VNNI (Skylake-SP)
])
def test_x86_hosts_get_the_target_their_cpu_runs(flags, want):
    assert native_choice(flags, "x86_64")[0].name == want == _expected(flags, "x86_64")
