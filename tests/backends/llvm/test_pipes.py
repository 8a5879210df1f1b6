"""The 16-lane forms off the FMA pipes (vecmath.erf_table, pipes.times4, pipes.half) give the plain
steps' values bit for bit: erf_table's vector body against its scalar tail (the erf_table.py
docstring's steps as written) on seeded random bit patterns (every exponent, NaN payloads,
infinities, subnormals) and dense sweeps, times4's truncation against the multiply's, half against
the multiply by 0.5."""
import ctypes
import subprocess

import numpy as np
import pytest
from llvmlite import ir

from qcomp.codegen.llvm import pipes, vecmath
from qcomp.codegen.llvm.compile import compile_object
from qcomp.codegen.llvm.irgen import F32, I32, I64, PTR, VOID, Module, c64, loop
from qcomp.target import get_target, host_support

VNNI = get_target("x86-vnni")
pytestmark = pytest.mark.skipif(not host_support(VNNI).can_run, reason=f"target x86-vnni: {host_support(VNNI).why}")
VF = vecmath.vec(16)


def _splat(v):
    return ir.Constant(VF, [v] * 16)


FNS = {
    "erf_vec": (vecmath.erf_table, True),
    "erf_scalar": (vecmath.erf_table, False),
    "trunc4": (lambda mod, b, y: b.sitofp(b.fptosi(pipes.times4(b, y), vecmath.vec(16, I32)), VF), True),
    "trunc4_mul": (lambda mod, b, y: b.sitofp(b.fptosi(b.fmul(y, _splat(4.0)), vecmath.vec(16, I32)), VF), True),
    "half": (lambda mod, b, m: pipes.half(mod, b, m), True),
    "half_mul": (lambda mod, b, m: b.fmul(m, _splat(0.5)), True),
}


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    """`void f(float *x, float *y, i64 n)` for each of FNS: 16-lane vector steps (n a multiple of
    16), or one float at a time."""
    out = tmp_path_factory.mktemp("pipes")
    mod = Module("pipes_test", VNNI.triple)
    for name, (fn, vector) in FNS.items():
        f, b = mod.function(f"f_{name}", VOID, [PTR, PTR, I64], internal=False)
        x, y, n = f.args
        step = 16 if vector else 1
        with loop(b, b.sdiv(n, c64(step)), "v") as v:
            at = b.mul(v, c64(step))
            t = VF if vector else F32
            vecmath.vstore(b, fn(mod, b, vecmath.vload(b, x, at, t)), y, at)
        b.ret_void()
    (out / "m.ll").write_text(str(mod.m))
    compile_object(out / "m.ll", out / "m.o", VNNI)
    subprocess.run(["gcc", "-shared", "-o", out / "m.so", out / "m.o"], check=True)
    so = ctypes.CDLL(str(out / "m.so"))

    def run(name, x):
        x = np.ascontiguousarray(x, np.float32)
        assert x.size % 16 == 0
        y = np.empty_like(x)
        fn = getattr(so, f"f_{name}")
        fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
        fn(x.ctypes.data, y.ctypes.data, x.size)
        return y
    return run


def _pad16(x):
    return np.concatenate([x, np.zeros(-x.size % 16, np.float32)])


def _bits_sample(n: int, seed: int) -> np.ndarray:
    """n seeded random float32 bit patterns (every exponent, NaNs with payloads), quiet NaNs only."""
    bits = np.random.default_rng(seed).integers(0, 1 << 32, n, dtype=np.uint64).astype(np.uint32)
    x = bits.view(np.float32)
    bits[np.isnan(x)] |= 0x00400000          # a signalling NaN comes back quiet from erf_table's vector body
    return bits.view(np.float32)


SPECIAL = np.float32([0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan, 1e-45, -1e-45, 1e-38, -1e-38, 2.0 ** -100,
                      -(2.0 ** -100), 2.0 ** -26, 2.0 ** -25, -(2.0 ** -25), 0.25, 3.75, 4.0, -4.0, 5.6568542,
                      -5.6568542, 8.0, -8.0, 3e38, -3e38])


def _same_bits(a, b):
    return a.view(np.uint32).tolist() == b.view(np.uint32).tolist() if a.size < 100 else \
        bool((a.view(np.uint32) == b.view(np.uint32)).all())


def test_erf_table_vector_body_equals_its_scalar_steps(lib):
    """The vector body's integer and NaN-carrying forms against the docstring's steps, bit for bit."""
    x = _pad16(np.concatenate([_bits_sample(1 << 20, 0), np.linspace(-5, 5, 400_000, dtype=np.float32),
                               np.float32(np.geomspace(1e-40, 4.5, 100_000)), SPECIAL,
                               np.float32(np.arange(17) / 4), -np.float32(np.arange(17) / 4)]))
    got, want = lib("erf_vec", x), lib("erf_scalar", x)
    bad = got.view(np.uint32) != want.view(np.uint32)
    assert not bad.any(), (x[bad][:5], got[bad][:5], want[bad][:5])


def test_times4_truncates_like_the_multiply(lib):
    """floor(4 y) from the exponent + 2 form, every 64th float32 in [0, 4] and the interval edges."""
    y = np.arange(0, 0x40800001, 64, dtype=np.uint32).view(np.float32)
    y = _pad16(np.concatenate([y, np.float32(np.arange(17) / 4), np.nextafter(np.float32(np.arange(1, 17) / 4),
                                                                              np.float32(0))]))
    assert _same_bits(lib("trunc4", y), lib("trunc4_mul", y))
    assert (lib("trunc4", _pad16(np.float32([np.nan, -np.nan]))) == 0).all()   # NaN: index 0


def test_half_is_the_multiply_by_one_half(lib):
    """vscalefps(m, -1) against m * 0.5: every exponent, subnormal results and their rounding, NaN
    payloads, infinities and zeros, bit for bit."""
    m = _pad16(np.concatenate([_bits_sample(1 << 20, 2), np.arange(0, 1 << 24, 7, dtype=np.uint32).view(np.float32),
                               -np.arange(0, 1 << 24, 7, dtype=np.uint32).view(np.float32), SPECIAL]))
    got, want = lib("half", m), lib("half_mul", m)
    bad = got.view(np.uint32) != want.view(np.uint32)
    assert not bad.any(), (m[bad][:5], got[bad][:5], want[bad][:5])
