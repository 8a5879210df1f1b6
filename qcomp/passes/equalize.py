"""Cross-layer equalization (Nagel et al. 2019, data-free quantization), `--equalize`.

A pair is a Conv2D or Dense A whose only use is the data input of a Conv2D or Dense B (directly,
or through MaxPool2Ds that are the only use of what they read), with a positively homogeneous
activation fused into A between them: none, or ReLU (act_min = 0, no act_max). Positive homogeneity, f(x / s) = f(x) / s for s > 0, lets every output channel i of A
be scaled by 1 / s_i and every input channel i of B by s_i without changing B's output:

    W1'[i] = W1[i] / s_i,  b1'[i] = b1[i] / s_i         (A: axis 0 of OHWI / [N, K] weights)
    W2'[.., i] = W2[.., i] * s_i                        (B: input channel i; depthwise: its filter i)
    s_i = sqrt(r1_i / r2_i)    r1_i = max|W1[i]|,  r2_i = max|W2[.., i]|   (s_i = 1 where one is 0)

after which both layers' channel i has the range sqrt(r1_i r2_i): per-tensor weight scales stop
wasting their levels on one large channel. A chain (dw -> pw -> dw ...) is swept pair by pair
until no scale moves by more than 1e-4 (at most 50 sweeps), in graph order: deterministic. The
math is float64, the weights are stored back in their own dtype, so the float model's outputs
are kept to float32 rounding (tests: relative 1e-5).

B is a Conv2D with group 1 or a depthwise Conv2D (group = channels, one filter per channel), or
a Dense over A's channel axis; A is a Conv2D with group 1 or depthwise, or a Dense. ReLU6 and
other clips (act_max set, or act_min != 0) are not homogeneous (relu6(x / s) != relu6(x) / s):
such pairs are left alone with that reason. (The paper replaces ReLU6 by ReLU; that changes the
float model, which qcomp never does.)

High-bias absorption, where A is followed by ReLU and the BatchNorm folded into A left its
statistics (`bn_stats`, collected by `batchnorm_stats` before `fold_batchnorm`): A's pre-
activation output channel i is modelled as N(beta_i, gamma_i^2) (after scaling, both / s_i), and

    c_i = max(0, beta_i - 3 |gamma_i|)
    b1'[i] = b1[i] - c_i,  b2'[o] = b2[o] + sum_{taps, i} W2[o, taps, i] c_i

since relu(x - c) = relu(x) - c wherever x >= c (all but ~0.1 % of the modelled mass: the
paper's approximation, the one change to the float outputs this pass can make). It moves the
constant part of A's output into B's bias, so A's output range shrinks. The sum over B's taps
is exact only where every window of B is full: a B with padding is not absorbed into (with that
reason). Without BatchNorm statistics absorption is skipped, and the log says so.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ir import Graph, Node, ops

_LAYERS = (ops.Conv2D, ops.Dense)
SWEEPS, TOLERANCE = 50, 1e-4


@dataclass
class _Pair:
    a: Node
    b: Node


def batchnorm_stats(g: Graph) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """node name -> (beta, gamma) of the BatchNorm right after that Conv2D / Dense node, for the
    BatchNorms that fold_batchnorm will fold (constant parameters, A's only use)."""
    producers, consumers = g.producers(), g.consumers()
    out = {}
    for bn in g.nodes:
        if not isinstance(bn.op, ops.BatchNorm):
            continue
        prod = producers.get(bn.inputs[0])
        if (prod is None or not isinstance(prod.op, _LAYERS) or len(consumers[bn.inputs[0]]) != 1
                or not all(g.is_constant(v) for v in bn.inputs[1:3])):
            continue
        gamma, beta = (g.constants[v].astype(np.float64) for v in bn.inputs[1:3])
        out[prod.name] = (beta, gamma)
    return out


def _depthwise(n: Node, g: Graph) -> bool:
    w = g.types[n.inputs[1]].shape
    return isinstance(n.op, ops.Conv2D) and n.op.group > 1 and n.op.group == w[0] and w[3] == 1


def _through_maxpools(g: Graph, y: str, consumers: dict) -> tuple[str, Node | None]:
    """Follow `y` through MaxPool2Ds that are its only use (max(x / s) = max(x) / s for s > 0, and
    max(x - c) = max(x) - c: both commute); returns the last value and its only consumer, if one."""
    while True:
        uses = consumers.get(y, [])
        if len(uses) != 1 or y in g.outputs:
            return y, None
        if not isinstance(uses[0].op, ops.MaxPool2D):
            return y, uses[0]
        y = uses[0].outputs[0]


def why_not_pair(g: Graph, a: Node, b: Node | None, consumers: dict) -> str | None:
    """None when (a, b) can be equalized, else the reason."""
    if not isinstance(a.op, _LAYERS):
        return f"{a.name!r} is a {a.kind}, not a Conv2D or Dense"
    y, _ = _through_maxpools(g, a.outputs[0], consumers)
    if b is None:
        return f"the output of {a.name!r} does not go to exactly one node"
    if not isinstance(b.op, _LAYERS) or b.inputs[0] != y:
        return f"the output of {a.name!r} feeds a {b.kind}, not a Conv2D / Dense input"
    for n in (a, b):
        if not all(g.is_constant(v) for v in n.inputs[1:3]):
            return f"{n.name!r} has non-constant weights or bias"
        if isinstance(n.op, ops.Conv2D) and n.op.group != 1 and not _depthwise(n, g):
            return f"{n.name!r} is a grouped convolution ({n.op.group} groups), neither dense nor depthwise"
    if a.op.act_max is not None or a.op.act_min not in (None, 0.0):
        return (f"the activation of {a.name!r} clips to [{a.op.act_min}, {a.op.act_max}], which a "
                f"per-channel scale does not commute with (only ReLU or none does)")
    return None


def _in_axis(b: Node, g: Graph) -> int:
    """The axis of B's weights that indexes B's input channels."""
    if isinstance(b.op, ops.Dense):
        return 1
    return 0 if _depthwise(b, g) else 3


def _channel_max(w: np.ndarray, axis: int) -> np.ndarray:
    return np.abs(w).max(axis=tuple(d for d in range(w.ndim) if d != axis))


def _shape_for(axis: int, ndim: int) -> tuple[int, ...]:
    return tuple(-1 if d == axis else 1 for d in range(ndim))


class _Weights:
    """float64 working copies of the pairs' weights and biases, written back once at the end."""

    def __init__(self, g: Graph):
        self.g = g
        self.w: dict[str, np.ndarray] = {}
        self.b: dict[str, np.ndarray] = {}

    def of(self, n: Node) -> tuple[np.ndarray, np.ndarray]:
        if n.name not in self.w:
            self.w[n.name] = self.g.constants[n.inputs[1]].astype(np.float64)
            self.b[n.name] = self.g.constants[n.inputs[2]].astype(np.float64)
        return self.w[n.name], self.b[n.name]


def _equalize_once(pair: _Pair, wts: _Weights, g: Graph, scales: dict[str, np.ndarray]) -> float:
    """Scale one pair; returns max |log s_i| (how far it moved)."""
    w1, b1 = wts.of(pair.a)
    w2, _ = wts.of(pair.b)
    ax2 = _in_axis(pair.b, g)
    r1, r2 = _channel_max(w1, 0), _channel_max(w2, ax2)
    ok = (r1 > 0) & (r2 > 0)
    s = np.ones_like(r1)
    s[ok] = np.sqrt(r1[ok] / r2[ok])
    w1 /= s.reshape(_shape_for(0, w1.ndim))
    b1 /= s
    w2 *= s.reshape(_shape_for(ax2, w2.ndim))
    scales[pair.a.name] = scales.get(pair.a.name, np.ones_like(s)) * s
    return float(np.abs(np.log(s)).max()) if s.size else 0.0


def _absorb(pair: _Pair, wts: _Weights, g: Graph, stats, scales) -> str | None:
    """High-bias absorption from A into B; None when done, else why not."""
    a, b = pair.a, pair.b
    if a.op.act_min != 0.0:
        return f"{a.name!r} has no ReLU (nothing to absorb)"
    if a.name not in stats:
        return f"no BatchNorm statistics for {a.name!r} (none before folding)"
    if isinstance(b.op, ops.Conv2D) and any(b.op.pads):
        return f"{b.name!r} pads its input (a shift of its input is not a bias at the borders)"
    beta, gamma = stats[a.name]
    s = scales.get(a.name, np.ones_like(beta))
    c = np.maximum(0.0, (beta - 3.0 * np.abs(gamma)) / s)
    if not np.any(c > 0):
        return f"every channel of {a.name!r} reaches below beta - 3 gamma = 0 (nothing to absorb)"
    w1, b1 = wts.of(a)
    w2, b2 = wts.of(b)
    b1 -= c
    ax2 = _in_axis(b, g)
    if ax2 == 0:                               # depthwise: output channel i reads input channel i
        b2 += w2.reshape(w2.shape[0], -1).sum(axis=1) * c
    else:                                      # sum over taps and input channels
        b2 += np.tensordot(w2, c, axes=([ax2], [0])).reshape(w2.shape[0], -1).sum(axis=1)
    return None


def find_pairs(g: Graph) -> tuple[list[_Pair], list[str]]:
    """The equalizable pairs in graph order, and a reason for every Conv2D/Dense left out."""
    consumers = g.consumers()
    pairs, reasons = [], []
    for a in g.nodes:
        if not isinstance(a.op, _LAYERS):
            continue
        _, b = _through_maxpools(g, a.outputs[0], consumers)
        why = why_not_pair(g, a, b, consumers)
        if why is None:
            pairs.append(_Pair(a, b))
        else:
            reasons.append(why)
    return pairs, reasons


def equalize(g: Graph, bn_stats: dict | None = None, log: list | None = None) -> Graph:
    """Equalize every pair and absorb high biases (module docstring). `log`, where given, receives
    one line per pair equalized or left out and per absorption skipped."""
    pairs, reasons = find_pairs(g)
    say = log.append if log is not None else (lambda _s: None)
    if not pairs:
        say("--equalize: no Conv2D/Dense pair to equalize" + (f" ({reasons[0]}, ...)" if reasons else ""))
        return g
    out = g.copy()
    by_name = {n.name: n for n in out.nodes}
    pairs = [_Pair(by_name[p.a.name], by_name[p.b.name]) for p in pairs]
    wts, scales = _Weights(out), {}
    for sweep in range(SWEEPS):
        moved = max(_equalize_once(p, wts, out, scales) for p in pairs)
        if moved < TOLERANCE:
            break
    absorbed, why_not = [], []
    for p in pairs:
        why = _absorb(p, wts, out, bn_stats or {}, scales)
        (absorbed if why is None else why_not).append(p.a.name if why is None else why)
    for n in out.nodes:
        if n.name not in wts.w:
            continue
        dtype = out.constants[n.inputs[1]].dtype
        w_name = out.add_constant(f"{n.inputs[1]}_eq", wts.w[n.name].astype(dtype))
        b_name = out.add_constant(f"{n.inputs[2]}_eq", wts.b[n.name].astype(dtype))
        n.inputs = (n.inputs[0], w_name, b_name)
    out.prune()
    say(f"--equalize: {len(pairs)} Conv2D/Dense pairs equalized in {sweep + 1} sweeps "
        f"({', '.join(f'{p.a.name}->{p.b.name}' for p in pairs[:4])}{', ...' if len(pairs) > 4 else ''}); "
        f"high-bias absorption in {len(absorbed)}")
    if why_not:
        no_stats = [w.split("'")[1] for w in why_not if "no BatchNorm statistics" in w]
        if no_stats:
            say(f"--equalize: high-bias absorption skipped for {len(no_stats)} pairs: no BatchNorm statistics "
                f"(no BatchNorm followed {', '.join(no_stats[:3])}{', ...' if len(no_stats) > 3 else ''} "
                f"before folding)")
        others = [w for w in why_not if "no BatchNorm statistics" not in w]
        if others:
            say(f"--equalize: no absorption for {len(others)} pairs, e.g. {others[0]}")
    if reasons:
        say(f"--equalize: {len(reasons)} Conv2D/Dense nodes not equalized, e.g. {reasons[0]}")
    return out
