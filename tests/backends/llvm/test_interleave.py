"""interleave.Interleave: the epilogue calls' instruction slices are reordered round-robin in groups,
each slice keeping its order; calls separated by other code form separate runs; the reordered
function still verifies in LLVM (every value defined before its use)."""
import llvmlite.binding as llvm
from llvmlite import ir

from qcomp.codegen.llvm.interleave import Interleave

F32 = ir.FloatType()


def _function(calls, group, between=()):
    """f(p): calls epilogues that each load p[i], add i + 1 and multiply by 2, store to p[i]; an
    unrelated load after each index in `between`."""
    m = ir.Module("t")
    f = ir.Function(m, ir.FunctionType(ir.VoidType(), [ir.PointerType(F32)]), "f")
    b = ir.IRBuilder(f.append_basic_block("entry"))
    inter = Interleave(group)

    def epilogue(b, i):
        at = b.gep(f.args[0], [ir.Constant(ir.IntType(64), i)], name=f"at{i}")
        v = b.fadd(b.load(at, name=f"x{i}"), ir.Constant(F32, i + 1.0), name=f"a{i}")
        b.store(b.fmul(v, ir.Constant(F32, 2.0), name=f"m{i}"), at)
    wrapped = inter.wrap(epilogue)
    for i in range(calls):
        wrapped(b, i)
        if i in between:
            b.load(f.args[0], name=f"other{i}")
    b.ret_void()
    inter.apply()
    return m, [getattr(x, "name", "") or type(x).__name__ for x in b.block.instructions]


def test_slices_are_interleaved_in_groups():
    m, names = _function(4, 2)
    assert names[:8] == ["at0", "at1", "x0", "x1", "a0", "a1", "m0", "m1"]
    assert names[10:18] == ["at2", "at3", "x2", "x3", "a2", "a3", "m2", "m3"]
    llvm.parse_assembly(str(m)).verify()


def test_code_between_calls_starts_a_new_run():
    m, names = _function(4, 4, between=(1,))
    assert names[:8] == ["at0", "at1", "x0", "x1", "a0", "a1", "m0", "m1"]
    assert names[10] == "other1" and names[11:13] == ["at2", "at3"]
    llvm.parse_assembly(str(m)).verify()
