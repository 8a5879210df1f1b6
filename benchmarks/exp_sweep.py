"""The llvm float32 exps against float64 exp over every float32 in [EXP_LO, EXP_HI] (or every STRIDE-th).

    python benchmarks/exp_sweep.py [--stride 1] [--fns exp_fma,exp_table]

Each function is compiled for x86-vnni as the kernels run it (16-lane vectors, then a scalar tail) and
fed the float32 bit patterns of [EXP_LO, -0.0] and [+0.0, EXP_HI] in chunks of 2^24. Prints per function
and per side the number of inputs, the largest error in ulps of the float32-rounded float64 exp (and
where), and how many results are not that correctly rounded float32. Needs a host that runs x86-vnni.
"""
from __future__ import annotations

import argparse
import ctypes
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qcomp.codegen.llvm import vecmath, vecmath_exp  # noqa: E402
from qcomp.codegen.llvm.compile import compile_object  # noqa: E402
from qcomp.codegen.llvm.irgen import F32, I64, PTR, VOID, Module, c64, loop  # noqa: E402
from qcomp.target import get_target  # noqa: E402

FUNCTIONS = {"exp": vecmath.exp, "exp_fma": vecmath.exp_fma, "exp_table": vecmath_exp.exp_table}
CHUNK = 1 << 24


def build(names: list[str], out: Path):
    """name -> f(x) running FUNCTIONS[name] over a float32 array (16-lane vectors, then scalars)."""
    target = get_target("x86-vnni")
    mod = Module("exp_sweep", target.triple)
    for name in names:
        f, b = mod.function(f"sweep_{name}", VOID, [PTR, PTR, I64], internal=False)
        x, y, n = f.args
        full = b.sdiv(n, c64(16))
        with loop(b, full, "v") as v:
            at = b.mul(v, c64(16))
            vecmath.vstore(b, FUNCTIONS[name](mod, b, vecmath.vload(b, x, at, vecmath.vec(16))), y, at)
        with loop(b, b.sub(n, b.mul(full, c64(16))), "t") as t:
            at = b.add(t, b.mul(full, c64(16)))
            vecmath.vstore(b, FUNCTIONS[name](mod, b, vecmath.vload(b, x, at, F32)), y, at)
        b.ret_void()
    (out / "m.ll").write_text(str(mod.m))
    compile_object(out / "m.ll", out / "m.o", target)
    subprocess.run(["gcc", "-shared", "-o", out / "m.so", out / "m.o"], check=True)
    lib = ctypes.CDLL(str(out / "m.so"))

    def runner(name):
        fn = getattr(lib, f"sweep_{name}")
        fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]

        def run(x):
            y = np.empty_like(x)
            fn(x.ctypes.data, y.ctypes.data, x.size)
            return y
        return run
    return {name: runner(name) for name in names}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stride", type=int, default=1, help="every STRIDE-th chunk of 2^24 inputs")
    ap.add_argument("--fns", default="exp_fma,exp_table")
    args = ap.parse_args()
    names = args.fns.split(",")
    sides = {"[EXP_LO, -0]": (0x80000000, int(np.float32(vecmath.EXP_LO).view(np.uint32))),
             "[+0, EXP_HI]": (0, int(np.float32(vecmath.EXP_HI).view(np.uint32)))}
    with tempfile.TemporaryDirectory() as tmp:
        runs = build(names, Path(tmp))
        for side, (first, last) in sides.items():
            stats = {name: [0, 0.0, 0.0, 0] for name in names}     # inputs, max ulp, its x, not rounded
            for start in range(first, last + 1, CHUNK * args.stride):
                x = np.arange(start, min(start + CHUNK, last + 1), dtype=np.uint32).view(np.float32)
                want = np.exp(x.astype(np.float64))
                nearest = want.astype(np.float32)
                spacing = np.spacing(np.abs(nearest)).astype(np.float64)
                for name in names:
                    got = runs[name](x)
                    err = np.abs(got - want) / spacing
                    s, i = stats[name], int(err.argmax())
                    s[0] += x.size
                    if err[i] > s[1]:
                        s[1], s[2] = float(err[i]), float(x[i])
                    s[3] += int((got != nearest).sum())
            for name, (count, worst, at, off) in stats.items():
                print(f"{name:10s} {side}: {count:,} inputs, max {worst:.4f} ulp at x = {at!r}, "
                      f"{off:,} not the correctly rounded float32")


if __name__ == "__main__":
    main()
