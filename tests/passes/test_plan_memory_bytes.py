"""The memory plan simulated byte by byte on seeded random graphs of Reshapes and Concats.

Each byte of every storage (the workspace at the plan's offsets, each caller buffer) is tagged with
what was last written there: (value, index) for byte `index` of a value a kernel wrote. Walking the
nodes in order, a kernel (every node the plan does not make a view) first checks that every byte it
reads holds what its input means, source(v, i) (a Reshape view: source(input, i); a Concat view:
the operand whose slice holds byte i; any other value: (v, i)), then tags its outputs' bytes.
After the last node every graph output must hold its bytes. A plan that lets two values alive
together share a byte, or puts a slice in the wrong place, fails; the verifier must accept the plan.
"""
import numpy as np
import pytest

from qcomp.ir import DType, Graph, QuantParams, Stage, TensorType, ops, qops, verify
from qcomp.ir.memory import plan_errors
from qcomp.ir.memory_concat import row_slices
from qcomp.passes.plan_memory import plan_memory

Q = QuantParams(0.1, 0)


def random_graph(seed: int) -> Graph:
    """int8 values of shape (1, 2, w) (w a multiple of 32): halvings, Reshapes and Concats along
    axis 2 (rows 2: strided) or of (1, n) flattenings (contiguous), some values graph outputs."""
    rng = np.random.default_rng(seed)
    g = Graph(stage=Stage.TARGET)
    g.add_input("x", TensorType((1, 2, 64), DType.INT8, Q))
    pool = ["x"]
    for k in range(int(rng.integers(8, 16))):
        kind = rng.choice(["halve", "halve", "reshape", "concat", "concat_flat"])
        name = f"v{k}"
        if kind == "halve":
            x = pool[rng.integers(len(pool))]
            g.add_node(qops.QRequantize(0, 1 << 30, 0, 0), [x], name,
                       out_types=[TensorType(g.types[x].shape, DType.INT8, Q)])
        elif kind == "reshape":
            x = pool[rng.integers(len(pool))]
            shape = (1, g.types[x].size) if len(g.types[x].shape) == 3 else (1, 2, g.types[x].size // 2)
            g.add_node(ops.Reshape(shape), [x], name, out_types=[TensorType(shape, DType.INT8, Q)])
        else:
            rank = 3 if kind == "concat" else 2
            cands = [v for v in pool if len(g.types[v].shape) == rank]
            if len(cands) < 1:
                continue
            xs = [cands[i] for i in rng.integers(len(cands), size=int(rng.integers(2, 4)))]
            if rng.random() < 0.6:   # fresh operands, read by this Concat only
                xs = [g.add_node(qops.QRequantize(0, 1 << 30, 0, 0), [x], f"{name}_{j}",
                                 out_types=[TensorType(g.types[x].shape, DType.INT8, Q)]).outputs[0]
                      for j, x in enumerate(xs)]
            axis = rank - 1
            t = ops.Concat(axis).infer([g.types[x] for x in xs])[0]
            g.add_node(ops.Concat(axis), xs, name, out_types=[TensorType(t.shape, DType.INT8, Q)])
        pool.append(name)
    produced = [o for n in g.nodes for o in n.outputs]
    read = {x for n in g.nodes for x in n.inputs}
    extra = [v for v in produced if rng.random() < 0.2]
    g.outputs = list(dict.fromkeys([v for v in produced if v not in read] + extra)) or [produced[-1]]
    return verify(g)


def simulate(g: Graph) -> None:
    plan = g.memory
    consts_inputs = set(g.inputs) | set(g.constants)

    def addr(v: str, i: int):
        root, at = plan.storage(v), plan.offset_in_storage(v)
        rows = plan.view_rows.get(v)
        byte = at + (i if rows is None else (i // rows[0]) * rows[1] + i % rows[0])
        return ("ws", plan.offsets[root] + byte) if root in plan.offsets else (root, byte)

    def source(v: str, i: int, views: dict):
        n = views.get(v)
        if n is None:
            return (v, i)
        if isinstance(n.op, ops.Reshape):
            return source(n.inputs[0], i, views)
        _, widths, starts, total = row_slices(g, n)
        r, c = divmod(i, total)
        j = max(k for k, s in enumerate(starts) if s <= c)
        return source(n.inputs[j], r * widths[j] + c - starts[j], views)

    views = {n.outputs[0]: n for n in g.nodes if plan.is_view(n)}
    mem = {addr(v, i): (v, i) for v in consts_inputs for i in range(g.types[v].nbytes)}
    for n in g.nodes:
        if plan.is_view(n):
            continue
        for x in n.inputs:
            for i in range(g.types[x].nbytes):
                assert mem.get(addr(x, i)) == source(x, i, views), f"{n.name} reads {x}[{i}]"
        for o in n.outputs:
            for i in range(g.types[o].nbytes):
                mem[addr(o, i)] = (o, i)
    for o in g.outputs:
        for i in range(g.types[o].nbytes):
            assert mem.get(addr(o, i)) == source(o, i, views), f"output {o}[{i}]"


def writes_rows(node, graph):
    return None if isinstance(node.op, qops.QRequantize) else "writes dense outputs only"


@pytest.mark.parametrize("strided", [None, writes_rows], ids=["dense", "strided"])
def test_random_plans_keep_every_byte(strided):
    made = {"views": 0, "strided": 0}
    for seed in range(60):
        g = random_graph(seed)
        p = plan_memory(g, strided=strided)
        assert not plan_errors(p, p.memory), (seed, plan_errors(p, p.memory))
        simulate(p)
        made["views"] += len(p.memory.concat_views)
        made["strided"] += len(p.memory.view_rows)
    assert made["views"] >= 10 and (made["strided"] > 0) == (strided is not None), made


def test_the_simulation_catches_a_clobbering_plan():
    g = plan_memory(random_graph(3))
    offsets = {v: 0 for v in g.memory.offsets}     # every workspace value at offset 0
    from qcomp.ir.memory import MemoryPlan
    m = g.memory
    g.memory = MemoryPlan(offsets, m.sizes, m.workspace_bytes, m.activation_bytes, m.aliases, m.view_offsets, m.view_rows,
                          m.concat_views)
    assert len(offsets) > 1
    with pytest.raises(AssertionError, match="reads"):
        simulate(g)
