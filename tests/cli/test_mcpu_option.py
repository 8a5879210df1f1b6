"""`qcomp build --mcpu NAME`: the option reaches BuildOptions (flag and config file), a CPU qcomp does
not know and a CPU without the target's features are refused with one clear error each (before any
quantization or LLVM work), and what --mcpu does to a target (qcomp/codegen/llvm/cpus.py): LLVM's cpu, the CPU's
extensions added to the features LLVM gets and to those the artifact checks at run time."""
import dataclasses
import re

import pytest

from qcomp import cli
from qcomp.codegen.llvm.cpucheck import cpu_check_expr
from qcomp.codegen.llvm.cpus import CPUS, ISA_FLAGS, Cpu, manifest_entry, with_mcpu
from qcomp.errors import QcompError
from qcomp.target import get_target

VNNI = get_target("x86-vnni")


def test_the_flag_and_the_config_key_reach_build_options(tmp_path):
    args = cli.build_parser().parse_args(["build", "m.onnx", "--target", "x86-vnni", "--mcpu", "znver4"])
    assert cli._build_options(args).mcpu == "znver4"
    assert cli._build_options(cli.build_parser().parse_args(["build", "m.onnx"])).mcpu is None
    config = tmp_path / "quant.toml"
    config.write_text('mcpu = "sapphirerapids"\n')
    args = cli.build_parser().parse_args(["build", "m.onnx", "--config", str(config)])
    assert cli._build_options(args).mcpu == "sapphirerapids"


@pytest.mark.parametrize("argv, message", [
    (["--mcpu", "pentium9"], r"--mcpu 'pentium9' is not a CPU qcomp knows; choose one of: native, .*znver4"),
    (["--mcpu", "haswell"], r"--mcpu haswell lacks avx512f, avx512bw, avx512vl, avx512vnni, which target "
                            r"'x86-vnni' needs"),
    (["--mcpu", "skylake-avx512"], r"--mcpu skylake-avx512 lacks avx512vnni, which target 'x86-vnni' needs"),
    (["--mcpu", "znver2", "--target", "x86-avxvnni"], r"--mcpu znver2 lacks avxvnni, which target 'x86-avxvnni'"),
    (["--mcpu", "znver4", "--target", "arm-sdot"], r"--mcpu is for the x86 llvm targets .* 'arm-sdot'"),
])
def test_refusals_name_the_problem(argv, message, tmp_path, capsys):
    """Refused in the CLI with exit code 2 and one line; the model is never read (a missing file)."""
    if "--target" not in argv:
        argv = argv + ["--target", "x86-vnni"]
    code = cli.main(["build", str(tmp_path / "absent.onnx"), *argv])
    err = capsys.readouterr().err
    assert code == cli.EXIT_USAGE and len(err.strip().splitlines()) == 1, err
    assert re.search(message, err), err


def test_mcpu_sets_llvm_cpu_and_the_run_time_features():
    t = with_mcpu(VNNI, "znver4")
    assert t.cpu == "znver4" and t.name == "x86-vnni"
    assert t.features[:len(VNNI.features)] == VNNI.features             # the target's own stay first
    assert {"+avx512vbmi", "+avx512bf16", "+gfni"} <= set(t.features) and "+avx512fp16" not in t.features
    assert {"avx512vbmi", "avx512_bf16", "gfni"} <= set(t.host_features)
    check = cpu_check_expr(t)
    assert '__builtin_cpu_supports("avx512vbmi")' in check and '__builtin_cpu_supports("avx512bf16")' in check
    spr = with_mcpu(VNNI, "sapphirerapids")
    assert {"avx512_fp16", "avx_vnni"} <= set(spr.host_features)
    assert with_mcpu(VNNI, None) is VNNI
    adl = with_mcpu(get_target("x86-avx2"), "alderlake")   # AVX2 target on an AVX-VNNI CPU: accepted
    assert adl.cpu == "alderlake" and "+avxvnni" in adl.features and "avx_vnni" in adl.host_features
    assert manifest_entry(t, "znver4") == {"mcpu": "znver4", "llvm_cpu": "znver4", "zmm_halves": True}
    assert manifest_entry(VNNI, None)["mcpu"] == "default"


def test_native_is_exactly_the_hosts_extensions(monkeypatch):
    """LLVM's model of the host CPU may hold extensions a hypervisor hides: native disables those."""
    import qcomp.codegen.llvm.cpus as cpus
    host = Cpu("sapphirerapids", tuple(f for f in CPUS["sapphirerapids"].isa if f != "avx512fp16"), "intel")
    monkeypatch.setattr(cpus, "host_cpu", lambda: host)
    t = with_mcpu(VNNI, "native")
    assert t.cpu == "sapphirerapids" and "-avx512fp16" in t.features and "+avx512fp16" not in t.features
    assert "avx512_fp16" not in t.host_features
    assert "avx512fp16" not in cpu_check_expr(t)   # a disabled feature needs no check
    lacking = dataclasses.replace(host, isa=("avx2",))
    monkeypatch.setattr(cpus, "host_cpu", lambda: lacking)
    with pytest.raises(QcompError, match=r"--mcpu native \(sapphirerapids\) lacks avx512f"):
        with_mcpu(VNNI, "native")


def test_the_table_is_consistent():
    """Every tracked extension has a run-time check; each CPU's ISA uses only tracked names."""
    from qcomp.codegen.llvm.cpucheck import X86_FEATURES
    assert all(f"+{f}" in X86_FEATURES for f in ISA_FLAGS)
    for key, cpu in CPUS.items():
        assert set(cpu.isa) <= set(ISA_FLAGS) and cpu.name == key, key
