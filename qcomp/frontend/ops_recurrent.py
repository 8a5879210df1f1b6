"""ONNX LSTM, GRU and RNN (opsets 11 to 21), unrolled at import into IR ops over the static sequence.

Every shape is static once the inputs are fixed, so the sequence length T is known and a recurrent
node becomes, per direction d (forward: t = 0 .. T-1; reverse: t = T-1 .. 0):

    xp      = Dense(X, W[d], bias)              one input projection of all steps, [T, B, G*H]
                                                (layout 1: [B, T, G*H]); bias = Wb + Rb, except
                                                GRU's Rbn with linear_before_reset = 1 (recurrent_cells.py)
    x_t     = Slice(xp, t)                       [1, B, G*H] (layout 1: [B, 1, G*H])
    h_t, c_t = cell(x_t, h_{t-1}, c_{t-1})       Dense with R[d], Add, Split, gate activations, Mul
    Y       = Concat(h_t over t), reshaped to [T, D, B, H] (layout 1: [B, T, D, H])
    Y_h/Y_c = the last state of each direction, Concat over directions: [D, B, H] (layout 1: [B, D, H])

No new IR op: every backend runs recurrent models through the ops it has, the quantizer gives the
gate matrix products int8 weights (per channel) and calibrates the gate values like any tensor, and
`--quant dynamic` runs the products as DynamicDense. The IR nodes are named "<node>/step<t>/<what>"
("<node>/fw/..." and "<node>/bw/..." for bidirectional nodes), so errors and reports name the step.
A node of more than MAX_STEPS steps is refused (the unrolled graph grows linearly with T). The
values carrying the state (LSTM c and the products summed into it, GRU h) are recorded in
graph.meta (ir/recurrent_state.py), which the quantizer keeps in int16 (passes/state16.py).

initial_h / initial_c may be constants or run-time values (a streaming model's state input); absent,
the state starts at zero and the first step has no recurrent product. sequence_lens must be
constant: a batch entry b of length L_b < T is processed at the steps t < L_b only (reverse: its
last L_b inputs are read in reverse, from t = L_b - 1), as onnxruntime does. At a step where some
entries are past their length:

    Y_t   = h_new * m_t                         m_t[b] = 1 if t < L_b else 0 (a constant)
    h_t   = rows of h_new where m_t, of h_{t-1} elsewhere (Slice / Concat along the batch axis)

so the outputs past an entry's length are zero and Y_h / Y_c hold its state at its last valid step.
"""
from __future__ import annotations

import numpy as np
import onnx

from ..ir import ops as irops
from ..ir import recurrent_state
from .context import Attrs, Const, Context, Unsupported, Val, Value
from .recurrent_cells import Act, Steps, parse_activations

MAX_STEPS = 512   # unrolled steps per direction

_GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}
_DEFAULT_ACTS = {"RNN": ["Tanh"], "GRU": ["Sigmoid", "Tanh"], "LSTM": ["Sigmoid", "Tanh", "Tanh"]}


def check_recurrent(node: onnx.NodeProto, opset: int) -> list[str]:
    a = Attrs(node)
    reasons = []
    direction = a.str("direction", "forward")
    if direction not in ("forward", "reverse", "bidirectional"):
        reasons.append(f"direction {direction!r} is not one of forward, reverse, bidirectional")
    if a.int("layout", 0) not in (0, 1):
        reasons.append(f"layout {a.int('layout', 0)} is not 0 or 1")
    if a.has("clip") and not a.float("clip", 0.0) > 0:
        reasons.append(f"clip {a.float('clip', 0.0)} must be positive")
    return reasons


def _weights(ctx: Context, ins: list[Value | None], k: int, what: str, shape: tuple[int, ...]) -> np.ndarray | None:
    if k >= len(ins) or ins[k] is None:
        return None
    arr = ctx.const(ins[k], f"{what} (input {k})")
    if arr.shape != shape:
        raise Unsupported(f"{what} (input {k}) has shape {arr.shape}; with X and R as given it must be {shape}")
    return arr.astype(np.float32)


def _lengths(ctx: Context, v: Value | None, batch: int, steps: int) -> np.ndarray | None:
    """sequence_lens as int64[B], or None when every entry runs all T steps."""
    if v is None:
        return None
    arr = ctx.const(v, "sequence_lens (input 4)").reshape(-1)
    if arr.shape != (batch,) or not np.issubdtype(arr.dtype, np.integer):
        raise Unsupported(f"sequence_lens (input 4) is {arr.dtype}{list(arr.shape)}; it must be int32[{batch}] "
                          f"(one length per batch entry)")
    if arr.min() < 1 or arr.max() > steps:
        raise Unsupported(f"sequence_lens {arr.tolist()} must lie in 1..{steps} (the sequence length of X)")
    return None if (arr == steps).all() else arr.astype(np.int64)


def _strings(node: onnx.NodeProto, key: str) -> list[str]:
    for attr in node.attribute:
        if attr.name == key:
            if attr.type != onnx.AttributeProto.STRINGS:
                raise Unsupported(f"attribute {key!r} must be a list of strings")
            try:
                return [v.decode() for v in attr.strings]
            except UnicodeDecodeError:
                raise Unsupported(f"attribute {key!r} is not valid UTF-8 text") from None
    return []


class _Node:
    """The parsed attributes and constant inputs of one recurrent node."""

    def __init__(self, ctx: Context, node: onnx.NodeProto):
        a = Attrs(node)
        self.kind = node.op_type
        ins = ctx.inputs(node)
        self.ins = ins
        x = ctx.val(ins[0], "X (input 0)")
        if ctx.dtype(x).value != "f32":
            raise Unsupported(f"X is {ctx.dtype(x).value}; qcomp imports {self.kind} on float32")
        self.layout = a.int("layout", 0)
        shape = ctx.shape(x)
        if len(shape) != 3:
            raise Unsupported(f"X has shape {shape}; {self.kind} takes a rank-3 X")
        self.time_axis, self.batch_axis = (0, 1) if self.layout == 0 else (1, 0)
        self.steps, self.batch, n_in = shape[self.time_axis], shape[self.batch_axis], shape[2]
        if self.steps > MAX_STEPS:
            raise Unsupported(f"X has {self.steps} time steps; qcomp unrolls a recurrent node over at most "
                              f"{MAX_STEPS} steps per direction. Fix a shorter sequence with --input-shape, or "
                              f"split the sequence into chunks carried through initial_h/initial_c")
        self.dirs = {"forward": ["fw"], "reverse": ["bw"], "bidirectional": ["fw", "bw"]}[a.str("direction", "forward")]
        n_dir, gates = len(self.dirs), _GATES[self.kind]
        r = ctx.const(ins[2], "R (input 2)")
        if r.ndim != 3 or r.shape[0] != n_dir or r.shape[1] % gates or r.shape[1] != gates * r.shape[2]:
            raise Unsupported(f"R (input 2) has shape {r.shape}; {self.kind} needs [{n_dir}, {gates}*H, H]")
        self.hidden = h = r.shape[2]
        if h < 1:
            raise Unsupported(f"R (input 2) has shape {r.shape}: the hidden size is 0")
        if a.int("hidden_size", h) != h:
            raise Unsupported(f"hidden_size {a.int('hidden_size', h)} disagrees with R's shape {r.shape}")
        self.r = r.astype(np.float32)
        w = _weights(ctx, ins, 1, "W", (n_dir, gates * h, n_in))
        if w is None:
            raise Unsupported("W (input 1) is missing")
        self.w = w
        b = _weights(ctx, ins, 3, "B", (n_dir, 2 * gates * h))
        self.b = np.zeros((n_dir, 2 * gates * h), np.float32) if b is None else b
        self.lengths = _lengths(ctx, ins[4] if len(ins) > 4 else None, self.batch, self.steps)
        self.p = _weights(ctx, ins, 7, "P", (n_dir, 3 * h)) if self.kind == "LSTM" else None
        clip = a.float("clip", 0.0)
        self.clip = clip if a.has("clip") else None
        names = _strings(node, "activations") or _DEFAULT_ACTS[self.kind] * n_dir
        per_dir = len(_DEFAULT_ACTS[self.kind])
        if len(names) != per_dir * n_dir:
            raise Unsupported(f"activations lists {len(names)} functions; a {a.str('direction', 'forward')} "
                              f"{self.kind} takes {per_dir * n_dir} ({per_dir} per direction)")
        acts = parse_activations(names, list(a.floats("activation_alpha") or ()), list(a.floats("activation_beta") or ()))
        self.acts: list[list[Act]] = [acts[d * per_dir:(d + 1) * per_dir] for d in range(n_dir)]
        self.input_forget = a.int("input_forget", 0) != 0
        self.linear_before_reset = a.int("linear_before_reset", 0) != 0
        self.x = ctx.plain(x)

    def state_shape(self) -> tuple[int, ...]:
        return (1, self.batch, self.hidden) if self.layout == 0 else (self.batch, 1, self.hidden)

    def initial(self, ctx: Context, k: int, d: int, what: str) -> str | None:
        """Direction d's slice of initial_h (k = 5) / initial_c (k = 6): None when absent or all zero."""
        v = self.ins[k] if k < len(self.ins) else None
        if v is None:
            return None
        n_dir, axis = len(self.dirs), self.time_axis   # [D, B, H] (layout 1: [B, D, H]): D on the time axis
        want = (n_dir, self.batch, self.hidden) if self.layout == 0 else (self.batch, n_dir, self.hidden)
        if ctx.shape(v) != want:
            raise Unsupported(f"{what} (input {k}) has shape {ctx.shape(v)}; it must be {want}")
        if isinstance(v, Const):
            part = np.take(v.array.astype(np.float32), [d], axis=axis)
            return None if not np.any(part) else ctx.constant(part, f"{ctx.node_name}/{what}_{self.dirs[d]}")
        starts, ends = [0, 0, 0], [None, None, None]
        starts[axis], ends[axis] = d, d + 1
        return ctx.emit(irops.Slice(tuple(starts), tuple(ends), (1, 1, 1)), [ctx.plain(v)],
                        suffix=f"{self.dirs[d] + '/' if n_dir == 2 else ''}{what}")[0]


def _select(s: Steps, mask: np.ndarray, new: str, old: str | None, masked_new, axis: int) -> str | None:
    """Rows of `new` where mask, of `old` elsewhere (along the batch axis); `masked_new()` gives
    new * m, which is that selection when `old` is the zero state."""
    if mask.all():
        return new
    if not mask.any():
        return old
    if old is None:
        return masked_new()
    pieces, start = [], 0
    for b in range(1, len(mask) + 1):
        if b == len(mask) or mask[b] != mask[start]:
            starts, ends = [0, 0, 0], [None, None, None]
            starts[axis], ends[axis] = start, b
            src = new if mask[start] else old
            pieces.append(s.op(irops.Slice(tuple(starts), tuple(ends), (1, 1, 1)), [src], f"keep{start}")[0])
            start = b
    return s.op(irops.Concat(axis), pieces, "state")[0]


def _direction(ctx: Context, n: _Node, d: int) -> tuple[list[str], str, str | None]:
    """Direction d unrolled: (h_t in time order, the last h, the last c)."""
    name = n.dirs[d]
    s = Steps(ctx, f"{name}/" if len(n.dirs) == 2 else "", n.hidden, n.clip)
    gates, hid = _GATES[n.kind], n.hidden
    wb, rb = n.b[d, :gates * hid], n.b[d, gates * hid:]
    bias = wb + rb
    if n.kind == "GRU" and n.linear_before_reset:
        bias = np.concatenate([wb[:2 * hid] + rb[:2 * hid], wb[2 * hid:]])
    xp = s.op(irops.Dense(), [n.x, s.const(n.w[d], "W"), s.const(bias, "Wb")], "input_projection")[0]
    h, c = n.initial(ctx, 5, d, "initial_h"), n.initial(ctx, 6, d, "initial_c") if n.kind == "LSTM" else None
    order = range(n.steps) if name == "fw" else range(n.steps - 1, -1, -1)
    ys: dict[int, str] = {}
    p = n.p[d] if n.p is not None else None
    for t in order:
        s.where = f"step{t}"
        starts, ends = [0, 0, 0], [None, None, None]
        starts[n.time_axis], ends[n.time_axis] = t, t + 1
        x_t = s.op(irops.Slice(tuple(starts), tuple(ends), (1, 1, 1)), [xp], "x")[0]
        if n.kind == "RNN":
            h_new, c_new = s.rnn(x_t, h, n.r[d], n.acts[d]), None
        elif n.kind == "GRU":
            h_new, c_new = s.gru(x_t, h, n.r[d], rb[2 * hid:], n.acts[d], n.linear_before_reset), None
        else:
            h_new, c_new = s.lstm(x_t, h, c, n.r[d], p, n.acts[d], n.input_forget)
        if n.lengths is None:
            ys[t], h, c = h_new, h_new, c_new
            continue
        mask = n.lengths > t
        shape = [1, 1, 1]
        shape[n.batch_axis] = n.batch
        m = s.const(mask.astype(np.float32).reshape(shape) if mask.any() else np.float32(0.0), f"mask{t}")
        ys[t] = h_new if mask.all() else s.op(irops.Mul(), [h_new, m], "y")[0]
        h = _select(s, mask, h_new, h, lambda: ys[t], n.batch_axis)
        if c_new is not None:
            c = _select(s, mask, c_new, c, lambda: s.op(irops.Mul(), [c_new, m], "c_masked")[0], n.batch_axis)
        s.state.append(c if n.kind == "LSTM" else h if n.kind == "GRU" else None)   # the state kept
    s.where = ""
    recurrent_state.record(ctx.graph, s.state)
    assert h is not None    # every entry is active at t = 0 (lengths >= 1), so some step set the state
    return [ys[t] for t in range(n.steps)], h, c


def _stack(ctx: Context, parts: list[str], axis: int, out: str, what: str) -> str:
    if len(parts) == 1:
        return parts[0]
    return ctx.emit(irops.Concat(axis), parts, out=out, suffix=what)[0]


def recurrent(ctx: Context, node: onnx.NodeProto) -> list[Value]:
    n = _Node(ctx, node)
    wanted = [k < len(node.output) and bool(node.output[k]) for k in range(3)]
    results = [_direction(ctx, n, d) for d in range(len(n.dirs))]
    outs: list[Value | None] = [None, None, None]
    if wanted[0]:
        per_dir = []
        single = len(n.dirs) == 1
        for d, (ys, _, _) in enumerate(results):
            prefix = "" if single else f"{n.dirs[d]}/"
            seq = ctx.emit(irops.Concat(n.time_axis), ys, suffix=f"{prefix}Y_steps")[0] if len(ys) > 1 else ys[0]
            shape = (n.steps, 1, n.batch, n.hidden) if n.layout == 0 else (n.batch, n.steps, 1, n.hidden)
            per_dir.append(ctx.emit(irops.Reshape(shape), [seq], out=ctx.out_name(0) if single else None,
                                    suffix="Y" if single else f"{prefix}Y")[0])
        y = per_dir[0] if len(per_dir) == 1 else \
            ctx.emit(irops.Concat(1 if n.layout == 0 else 2), per_dir, out=ctx.out_name(0), suffix="Y")[0]
        outs[0] = Val(y, (0, 1, 2, 3))
    state_axis = 0 if n.layout == 0 else 1
    for k in (1, 2):
        if wanted[k] and (k == 1 or n.kind == "LSTM"):
            parts = [r[k] for r in results]
            assert all(p is not None for p in parts)
            outs[k] = Val(_stack(ctx, parts, state_axis, ctx.out_name(k), "Y_h" if k == 1 else "Y_c"), (0, 1, 2))
    return outs[:len(node.output)]


CONVERTERS = {"LSTM": recurrent, "GRU": recurrent, "RNN": recurrent}
CHECKS = {"LSTM": check_recurrent, "GRU": check_recurrent, "RNN": check_recurrent}
