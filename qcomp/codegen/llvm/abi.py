"""The exported C ABI of runtime/qcomp.h, generated as LLVM IR around the kernels.

    qcomp_run_ex(workspace, size, inputs, outputs, flags)      flags: QCOMP_RAW_INPUTS (1),
                                                               QCOMP_RAW_OUTPUTS (2), QCOMP_MODEL_CODES (4)
      1. argument checks: NULL pointers -> QCOMP_ERR_NULL_ARGUMENT, size < qcomp_workspace_size()
         -> QCOMP_ERR_BUFFER_TOO_SMALL, workspace not aligned to QCOMP_WORKSPACE_ALIGN -> QCOMP_ERR_MISALIGNED;
         raw inputs asked for while an input has no int8 form -> QCOMP_ERR_NO_RAW_FORM (raw outputs:
         an output without an int8 form is written as without the flag, see qcomp_output_raw_dtype); a CPU without
         the target's features -> QCOMP_ERR_UNSUPPORTED_CPU (cpucheck.py); a flag bit beyond the three
         -> QCOMP_ERR_BAD_FLAGS; QCOMP_MODEL_CODES while a codes tensor has no exact form ->
         QCOMP_ERR_NO_RAW_FORM (abi_codes.py). Never aborts.
      2. every node's kernel in graph order (a kernel's nonzero status, e.g. QCOMP_ERR_BAD_INPUT
         for a Gather index out of range, is returned at once) on its value's pointer: a graph input / output is
         the caller's buffer, an intermediate is workspace + its planned offset (graph.memory),
         a constant is an internal global, a view (a Reshape the plan did not copy) is the pointer
         of the value it shares bytes with (MemoryPlan.storage); kernel scratch sits after the
         planned values.
      3. raw inputs replace the Quantize that reads a float input (its int8 result is copied in);
         raw outputs replace the Dequantize that writes an output (its int8 input is copied out);
         at an int16 boundary (A16W8 graph I/O) the raw form is the int16 values, as the reference's;
         model codes (QCOMP_MODEL_CODES) replace the same nodes by a copy xor 0x80 / a plain copy
         (abi_codes.py), and take precedence over the raw flag of their side.
    qcomp_run = qcomp_run_ex(.., 0);  qcomp_run_raw = qcomp_run_ex(.., 3)
    qcomp_output_raw_dtype(i): the dtype output i has under QCOMP_RAW_OUTPUTS (-1: bad index)
    qcomp_profiled_nodes, qcomp_profiled_node_name, qcomp_set_profiler: the per-node profiler
      (profile.py); with it on, step 2 reads the clock around every node
Tensor infos are a constant table of qcomp_tensor_info structs (C layout: ptr, i32, i32, i64[8],
float, i32 = 88 bytes on LP64). Status codes and messages, dtype codes, the flags and the alignment
come from runtime/qcomp.h through qcomp.abi; model strings enter the module only as byte arrays
(tensor names) and as a sanitized module name.
"""
from __future__ import annotations

from dataclasses import dataclass

from llvmlite import ir

from ... import abi
from ...errors import UnsupportedModelError
from ...ir import DType, Graph, Node
from ...ir.io_codes import code_nodes
from ...ir.io_quant import input_forms, output_forms
from ...ir.memory import MemoryPlan
from ...target import Target
from .abi_codes import emit_model_info, xor_copy
from .cpucheck import SYMBOL as CPU_SYMBOL
from .cpucheck import cpu_check_expr
from .irgen import F32, I32, I64, PTR, Module, c32, c64, memcpy
from .profile import Profiler

# status codes, dtype codes, flags and alignment: runtime/qcomp.h, through qcomp.abi
OK, ERR_NULL, ERR_INDEX, ERR_SMALL, ERR_ALIGN, ERR_CPU, ERR_NO_RAW = (abi.STATUS_OF[f"QCOMP_{s}"] for s in (
    "OK", "ERR_NULL_ARGUMENT", "ERR_BAD_INDEX", "ERR_BUFFER_TOO_SMALL", "ERR_MISALIGNED", "ERR_UNSUPPORTED_CPU",
    "ERR_NO_RAW_FORM"))
ERR_BAD_FLAGS = abi.STATUS_OF["QCOMP_ERR_BAD_FLAGS"]
_DTYPES = {t: abi.DTYPE_OF_NUMPY[t.np].value for t in (DType.FLOAT32, DType.INT8, DType.UINT8, DType.INT32, DType.INT64,
                                                                DType.BOOL, DType.INT16)}
INFO = ir.LiteralStructType([PTR, I32, I32, ir.ArrayType(I64, abi.MAX_RANK), F32, I32])
INFO_BYTES = 8 + 4 + 4 + 8 * abi.MAX_RANK + 4 + 4   # LP64, no padding


@dataclass(frozen=True)
class RawForms:
    inputs: dict[str, Node]    # float graph input -> the Quantize that raw input replaces
    outputs: dict[str, Node]   # graph output -> the Dequantize that raw output replaces


_RAW = (DType.INT8, DType.INT16)   # an int16 boundary's raw form is its int16 values (as the reference's --raw)


def raw_forms(g: Graph) -> RawForms:
    """The int8 or int16 forms (qcomp.ir.io_quant) that raw I/O exchanges by replacing their node with a
    copy: an input read by its Quantize alone, an output no node reads (separate_raw_outputs sees to that)."""
    consumers = g.consumers()
    ins = {v: f.node for v, f in input_forms(g).items()
           if f is not None and f.node is not None and len(consumers.get(v, [])) == 1
           and f.node.outputs[0] not in g.outputs and g.types[f.node.outputs[0]].dtype in _RAW}
    outs = {v: f.node for v, f in output_forms(g).items()
            if f is not None and f.node is not None and not consumers.get(v) and g.outputs.count(v) == 1
            and g.types[f.node.inputs[0]].dtype in _RAW}
    return RawForms(ins, outs)


def separate_raw_outputs(g: Graph) -> Graph:
    """Give the nodes that read a Dequantize-written output their own Dequantize:

        q -> Dequantize -> y (output) -> F    becomes    q -> Dequantize -> y (output)
                                                         q -> Dequantize -> y' -> F

    Under QCOMP_RAW_OUTPUTS the caller's buffer of y receives the int8 values, so F cannot read y
    there; y' (same op, same values) lives in the workspace. Results are unchanged."""
    consumers = g.consumers()
    shared = [v for v, f in output_forms(g).items() if f is not None and f.node is not None and consumers.get(v)]
    if not shared:
        return g
    g = g.copy()
    producers = g.producers()
    for v in shared:
        node = producers[v]
        twin = g.unique_name(f"{v}.readers")
        g.types[twin] = g.types[v]
        for n in g.nodes:
            if v in n.inputs:
                n.inputs = tuple(twin if i == v else i for i in n.inputs)
        g.nodes.insert(g.nodes.index(node) + 1, Node(g.unique_node_name(f"{node.name}.readers"), node.op,
                                                     node.inputs, (twin,)))
    return g


def check_io(g: Graph, target_name: str) -> None:
    for v in g.outputs:
        if v in g.inputs or v in g.constants or g.outputs.count(v) > 1:
            raise UnsupportedModelError(f"target {target_name}: output {v!r} is a graph input, a constant or "
                                        f"listed twice; the llvm backend needs each output computed by a node")
    for v in g.inputs + g.outputs:
        if g.types[v].dtype not in _DTYPES:
            raise UnsupportedModelError(f"target {target_name}: {v!r} has dtype {g.types[v].dtype.value}; the "
                                        f"ABI carries float32, int8, uint8, int16, int32, int64 and bool")


def _info(mod: Module, g: Graph, v: str, form) -> ir.Constant:
    """The qcomp_tensor_info of `v`: scale and zero point of its int8 form, (0, 0) without one."""
    t = g.types[v]
    if t.rank > abi.MAX_RANK:
        raise UnsupportedModelError(f"{v!r} has rank {t.rank}; the ABI carries at most {abi.MAX_RANK} dimensions")
    q = form.quant if form is not None else None
    scale, zp = (float(q.scale[0]), int(q.zero_point[0])) if q is not None and not q.per_channel else (0.0, 0)
    shape = list(t.shape) + [0] * (abi.MAX_RANK - t.rank)
    return ir.Constant(INFO, [mod.cstring(v, "name"), c32(_DTYPES[t.dtype]), c32(t.rank),
                              ir.Constant(ir.ArrayType(I64, abi.MAX_RANK), [c64(d) for d in shape]),
                              ir.Constant(F32, scale), c32(zp)])


def _const_fn(mod: Module, name: str, t, value) -> None:
    _, b = mod.function(name, t, [], internal=False)
    b.ret(ir.Constant(t, value))


def _info_fn(mod: Module, name: str, infos: list[ir.Constant]) -> None:
    table = ir.GlobalVariable(mod.m, ir.ArrayType(INFO, max(len(infos), 1)), f"{name}.table")
    table.initializer = ir.Constant(table.value_type, infos or [ir.Constant(INFO, None)])
    table.global_constant, table.linkage = True, "internal"
    f, b = mod.function(name, I32, [I32, PTR], internal=False)
    index, info = f.args
    with b.if_then(b.icmp_unsigned("==", info, ir.Constant(PTR, None)), likely=False):
        b.ret(c32(ERR_NULL))
    with b.if_then(b.icmp_unsigned(">=", index, c32(len(infos))), likely=False):
        b.ret(c32(ERR_INDEX))
    src = b.gep(table, [c64(0), b.zext(index, I64)], source_etype=table.value_type)
    memcpy(mod, b, info, src, INFO_BYTES)
    b.ret(c32(OK))


def emit_abi(mod: Module, g: Graph, steps: list[tuple[Node, ir.Function]], plan: MemoryPlan,
             workspace_bytes: int, scratch_offset: int, raw: RawForms, target: Target) -> None:
    """The exported functions; `steps` are (node, kernel) in graph order."""
    forms = input_forms(g) | output_forms(g)
    infos_in = [_info(mod, g, v, forms[v]) for v in g.inputs]
    infos_out = [_info(mod, g, v, forms[v]) for v in g.outputs]
    _const_fn(mod, "qcomp_abi_version", I32, abi.ABI_VERSION)
    _const_fn(mod, "qcomp_num_inputs", I32, len(g.inputs))
    _const_fn(mod, "qcomp_num_outputs", I32, len(g.outputs))
    _const_fn(mod, "qcomp_workspace_size", I64, workspace_bytes)
    _info_fn(mod, "qcomp_input_info", infos_in)
    _info_fn(mod, "qcomp_output_info", infos_out)
    emit_model_info(mod, g, OK, ERR_NULL, ERR_INDEX)   # version 3: the model's own codes
    raw_dtypes = ir.GlobalVariable(mod.m, ir.ArrayType(I32, max(len(g.outputs), 1)), "raw_dtype.table")
    raw_dtypes.initializer = ir.Constant(raw_dtypes.value_type, [
        c32(_DTYPES[g.types[raw.outputs[v].inputs[0]].dtype] if v in raw.outputs else _DTYPES[g.types[v].dtype])
        for v in g.outputs] or [c32(0)])
    raw_dtypes.global_constant, raw_dtypes.linkage = True, "internal"
    f, b = mod.function("qcomp_output_raw_dtype", I32, [I32], internal=False)
    with b.if_then(b.icmp_unsigned(">=", f.args[0], c32(len(g.outputs))), likely=False):
        b.ret(c32(-1))
    b.ret(b.load(b.gep(raw_dtypes, [c64(0), b.zext(f.args[0], I64)], source_etype=raw_dtypes.value_type), typ=I32))
    profiler = Profiler(mod, [node for node, _ in steps], OK, ERR_SMALL)
    run = _emit_run(mod, g, steps, plan, workspace_bytes, scratch_offset, raw, target, profiler)

    f, b = mod.function("qcomp_run", I32, [PTR, I64, PTR, PTR], internal=False)
    b.ret(b.call(run, [*f.args, c32(0)]))
    f, b = mod.function("qcomp_run_raw", I32, [PTR, I64, PTR, PTR], internal=False)
    complete = len(raw.inputs) + sum(g.types[v].dtype is DType.INT8 for v in g.inputs) == len(g.inputs) and \
        len(raw.outputs) + sum(g.types[v].dtype is DType.INT8 for v in g.outputs) == len(g.outputs)
    b.ret(b.call(run, [*f.args, c32(abi.RAW_INPUTS | abi.RAW_OUTPUTS)]) if complete else c32(ERR_NO_RAW))

    statuses = [s.message for s in abi.STATUS]
    strings = [mod.cstring(s, "status") for s in statuses] + [mod.cstring(abi.UNKNOWN_STATUS, "status")]
    table = ir.GlobalVariable(mod.m, ir.ArrayType(PTR, len(strings)), "status.table")
    table.initializer = ir.Constant(table.value_type, strings)
    table.global_constant, table.linkage = True, "internal"
    f, b = mod.function("qcomp_status_string", PTR, [I32], internal=False)
    s = f.args[0]
    s = b.select(b.icmp_unsigned("<", s, c32(len(statuses))), s, c32(len(statuses)))
    b.ret(b.load(b.gep(table, [c64(0), b.zext(s, I64)], source_etype=table.value_type), typ=PTR))


def _emit_run(mod, g, steps, plan: MemoryPlan, workspace_bytes, scratch_offset, raw: RawForms,
              target: Target, profiler: Profiler) -> ir.Function:
    f, b = mod.function("qcomp_run_ex", I32, [PTR, I64, PTR, PTR, I32], internal=False)
    ws, size, inputs, outputs, flags = f.args
    null = ir.Constant(PTR, None)

    def fail_if(cond, status):
        with b.if_then(cond, likely=False):
            b.ret(c32(status))
    for p in (ws, inputs, outputs):
        fail_if(b.icmp_unsigned("==", p, null), ERR_NULL)
    fail_if(b.icmp_unsigned("<", size, c64(workspace_bytes)), ERR_SMALL)
    fail_if(b.icmp_unsigned("!=", b.and_(b.ptrtoint(ws, I64), c64(abi.WORKSPACE_ALIGN - 1)), c64(0)), ERR_ALIGN)
    if cpu_check_expr(target) is not None:
        cpu_ok = mod.intrinsic(CPU_SYMBOL, I32, [])
        fail_if(b.icmp_signed("==", b.call(cpu_ok, []), c32(0)), ERR_CPU)
    fail_if(b.icmp_unsigned("!=", b.and_(flags, c32(~abi.RUN_FLAGS)), c32(0)), ERR_BAD_FLAGS)
    raw_in = b.icmp_unsigned("!=", b.and_(flags, c32(abi.RAW_INPUTS)), c32(0))
    raw_out = b.icmp_unsigned("!=", b.and_(flags, c32(abi.RAW_OUTPUTS)), c32(0))
    codes = b.icmp_unsigned("!=", b.and_(flags, c32(abi.MODEL_CODES)), c32(0))
    code_quant, code_deq, exact = code_nodes(g)
    if not exact:
        fail_if(codes, ERR_NO_RAW)
    code_inputs = {v for v, _ in code_quant.values()}
    for v in g.inputs:   # raw inputs need an int8 form, unless the model's codes replace the raw flag
        if g.types[v].dtype is not DType.INT8 and v not in raw.inputs:
            fail_if(b.and_(raw_in, b.not_(codes)) if v in code_inputs else raw_in, ERR_NO_RAW)
    ptrs: dict[str, ir.Value] = {}
    for k, v in enumerate(g.inputs):
        ptrs[v] = b.load(b.gep(inputs, [c64(k)], source_etype=PTR), typ=PTR)
        fail_if(b.icmp_unsigned("==", ptrs[v], null), ERR_NULL)
    for k, v in enumerate(g.outputs):
        ptrs[v] = b.load(b.gep(outputs, [c64(k)], source_etype=PTR), typ=PTR)
        fail_if(b.icmp_unsigned("==", ptrs[v], null), ERR_NULL)
    for v, off in plan.offsets.items():
        ptrs[v] = b.gep(ws, [c64(off)], source_etype=ir.IntType(8))
    scratch = b.gep(ws, [c64(scratch_offset)], source_etype=ir.IntType(8))
    profiler.start(b)
    raw_quant = {id(n): v for v, n in raw.inputs.items()}    # by node, not name: names may repeat
    raw_deq = {id(n): v for v, n in raw.outputs.items()}

    def call_kernel(kernel, args):
        status = b.call(kernel, args)
        with b.if_then(b.icmp_unsigned("!=", status, c32(OK)), likely=False):
            b.ret(status)

    def pointer(v: str):
        root, offset = plan.storage(v), plan.offset_in_storage(v)
        if root not in ptrs:
            ptrs[root] = mod.table(g.constants[root], "const")
        if offset:   # a Concat slice (memory.py): not cached, the gep stays in the block that uses it
            return b.gep(ptrs[root], [c64(offset)], source_etype=ir.IntType(8))
        return ptrs[root]

    def plain(node, kernel, call):   # one node as in version 2: its kernel, or a raw flag's copy
        if id(node) in raw_quant:
            with b.if_else(raw_in) as (then, otherwise):
                with then:
                    memcpy(mod, b, pointer(node.outputs[0]), pointer(raw_quant[id(node)]),
                           g.types[node.outputs[0]].nbytes)
                with otherwise:
                    call_kernel(kernel, call)
        elif id(node) in raw_deq:
            with b.if_else(raw_out) as (then, otherwise):
                with then:
                    memcpy(mod, b, pointer(raw_deq[id(node)]), pointer(node.inputs[0]),
                           g.types[node.inputs[0]].nbytes)
                with otherwise:
                    call_kernel(kernel, call)
        else:
            call_kernel(kernel, call)

    for index, (node, kernel) in enumerate(steps):
        profiler.before(b)
        call = [pointer(v) for v in node.inputs] + [pointer(v) for v in node.outputs] + [scratch]
        code = code_quant.get(id(node)) or code_deq.get(id(node))
        if code is None:
            plain(node, kernel, call)
        else:   # QCOMP_MODEL_CODES first, then as without it
            v, mask = code
            with b.if_else(codes) as (then, otherwise):
                with then:
                    if id(node) in code_quant:
                        xor_copy(mod, b, pointer(node.outputs[0]), pointer(v), g.types[v].size, mask)
                    else:
                        xor_copy(mod, b, pointer(v), pointer(node.inputs[0]), g.types[v].size, mask)
                with otherwise:
                    plain(node, kernel, call)
        profiler.after(b, index)
    b.ret(c32(OK))
    return f
