"""One time step of the ONNX recurrent cells (RNN, GRU, LSTM) as IR ops, and their activations.

ops_recurrent.py unrolls a recurrent node over its static sequence; this module emits one step. The
input projection x_t = X_t W^T + (biases) is computed for every step at once before the loop, so a
step only adds the recurrence and the gates (ONNX operator specification, gate orders iofc / zrh):

    RNN   h  = f(clip(x_t + h' R^T))
    GRU   z  = f(clip(x_z + h' Rz^T))      r = f(clip(x_r + h' Rr^T))
          linear_before_reset = 0:  n = g(clip(x_n + (r * h') Rn^T))          (Rbn folded into x_n)
          linear_before_reset = 1:  n = g(clip(x_n + r * (h' Rn^T + Rbn)))
          h  = n + z * (h' - n)                    (= (1 - z) * n + z * h', one Mul fewer)
    LSTM  i  = f(clip(x_i + h' Ri^T + Pi * c'))  f = f(clip(x_f + h' Rf^T + Pf * c'))
          (input_forget: f = 1 - i)                 g = g(clip(x_c + h' Rc^T))
          c  = f * c' + i * g                       o = f(clip(x_o + h' Ro^T + Po * c))
          h  = o * h(c)

h' and c' are the previous state; clip (when given) bounds every gate's pre-activation, as
onnxruntime does (never the cell state). A state known to be zero (no initial_h / initial_c at the
first step) is `None` here and every term it would multiply is left out, so the first step has no
recurrent matrix product. Without peepholes the gates sharing an activation are activated together
(LSTM i, o, f are contiguous: one op over 3H; GRU z, r: one over 2H) and split afterwards.

Activations (activations / activation_alpha / activation_beta, names case-insensitive): Relu, Tanh,
Sigmoid, LeakyRelu(alpha), ThresholdedRelu(alpha), HardSigmoid(alpha, beta), Elu(alpha), Softsign,
Softplus, Affine = alpha x + beta, ScaledTanh = alpha tanh(beta x). The alphas and betas are taken in
order by the activations that use them; where the lists run out, onnxruntime's defaults: LeakyRelu
alpha 0.01, HardSigmoid 0.2 and 0.5, Elu 1.0, and 0 for the others (the ONNX spec gives none).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ir import ops as irops
from .context import Context, Unsupported

# name -> (uses alpha, uses beta, default alpha, default beta)
ACTIVATIONS = {
    "relu": (False, False, 0.0, 0.0), "tanh": (False, False, 0.0, 0.0), "sigmoid": (False, False, 0.0, 0.0),
    "leakyrelu": (True, False, 0.01, 0.0), "thresholdedrelu": (True, False, 0.0, 0.0),
    "hardsigmoid": (True, True, 0.2, 0.5), "elu": (True, False, 1.0, 0.0), "softsign": (False, False, 0.0, 0.0),
    "softplus": (False, False, 0.0, 0.0), "affine": (True, True, 0.0, 0.0), "scaledtanh": (True, True, 0.0, 0.0),
}


@dataclass(frozen=True)
class Act:
    name: str       # a key of ACTIVATIONS
    alpha: float
    beta: float


def parse_activations(names: list[str], alphas: list[float], betas: list[float]) -> list[Act]:
    out = []
    a_it, b_it = iter(alphas), iter(betas)
    for raw in names:
        name = raw.lower()
        if name not in ACTIVATIONS:
            raise Unsupported(f"activation {raw!r} is not one of the ONNX recurrent activations "
                              f"({', '.join(ACTIVATIONS)})")
        uses_a, uses_b, alpha, beta = ACTIVATIONS[name]
        if uses_a:
            alpha = next(a_it, alpha)
        if uses_b:
            beta = next(b_it, beta)
        out.append(Act(name, float(alpha), float(beta)))
    return out


class Steps:
    """Emits the IR ops of one direction of one recurrent node; `prefix` names them
    ("<node>/<prefix>step<t>/<what>"). Values are IR names; None stands for a zero tensor."""

    def __init__(self, ctx: Context, prefix: str, hidden: int, clip: float | None):
        self.ctx, self.prefix, self.hidden, self.clip = ctx, prefix, hidden, clip
        self.where = ""
        self.state: list[str | None] = []   # the state values and their summands (ir/recurrent_state.py)

    def op(self, op: irops.Op, ins: list[str], what: str) -> list[str]:
        return self.ctx.emit(op, ins, suffix=f"{self.prefix}{self.where + '/' if self.where else ''}{what}")

    def const(self, arr: np.ndarray, what: str) -> str:
        return self.ctx.constant(np.asarray(arr, np.float32), f"{self.ctx.node_name}/{self.prefix}{what}")

    # ---- zero-aware arithmetic ---------------------------------------------------------------
    def add(self, a: str | None, b: str | None, what: str) -> str | None:
        if a is None or b is None:
            return a if b is None else b
        return self.op(irops.Add(), [a, b], what)[0]

    def mul(self, a: str | None, b: str | None, what: str) -> str | None:
        if a is None or b is None:
            return None
        return self.op(irops.Mul(), [a, b], what)[0]

    def dense(self, h: str | None, w: np.ndarray, b: np.ndarray, what: str) -> str | None:
        """h W^T + b; for a zero h the constant b (None when b is zero too)."""
        if h is None:
            return None if not np.any(b) else self.const(b, f"{what}_bias")
        return self.op(irops.Dense(), [h, self.const(w, f"{what}_R"), self.const(b, f"{what}_Rb")], what)[0]

    def split(self, x: str, sizes: tuple[int, ...], what: str) -> list[str]:
        axis = len(self.ctx.graph.types[x].shape) - 1
        return self.op(irops.Split(axis, sizes), [x], what)

    def gate(self, pre: str | None, act: Act, what: str) -> str:
        """act(clip(pre)); a zero pre-activation (no input, no bias) cannot happen: x_t is never None."""
        assert pre is not None
        if self.clip is not None:
            pre = self.op(irops.Clip(-self.clip, self.clip), [pre], f"{what}_clip")[0]
        return self.activation(pre, act, what)

    def activation(self, x: str, act: Act, what: str) -> str:
        simple = {"relu": irops.Relu(), "tanh": irops.Tanh(), "sigmoid": irops.Sigmoid(),
                  "softsign": irops.Softsign(), "softplus": irops.Softplus(),
                  "leakyrelu": irops.LeakyRelu(act.alpha), "thresholdedrelu": irops.ThresholdedRelu(act.alpha),
                  "hardsigmoid": irops.HardSigmoid(act.alpha, act.beta), "elu": irops.Elu(act.alpha)}
        if act.name in simple:
            return self.op(simple[act.name], [x], what)[0]
        alpha, beta = self.const(np.float32(act.alpha), "alpha"), self.const(np.float32(act.beta), "beta")
        if act.name == "affine":
            ax = self.op(irops.Mul(), [x, alpha], f"{what}_scale")[0]
            return self.op(irops.Add(), [ax, beta], what)[0]
        bx = self.op(irops.Mul(), [x, beta], f"{what}_scale")[0]           # scaledtanh
        t = self.op(irops.Tanh(), [bx], f"{what}_tanh")[0]
        return self.op(irops.Mul(), [t, alpha], what)[0]

    # ---- the cells -------------------------------------------------------------------------------
    def rnn(self, x: str, h: str | None, r: np.ndarray, acts: list[Act]) -> str:
        pre = self.add(x, self.dense(h, r, np.zeros(r.shape[0], np.float32), "recurrence"), "pre")
        return self.gate(pre, acts[0], "h")

    def gru(self, x: str, h: str | None, r: np.ndarray, rb_n: np.ndarray, acts: list[Act],
            linear_before_reset: bool) -> str:
        n_h = self.hidden
        x_zr, x_n = self.split(x, (2 * n_h, n_h), "x")
        if linear_before_reset:
            if h is None:    # h' Rn^T + Rbn = Rbn
                rec_zr, rec_n = None, self.dense(None, r[2 * n_h:], rb_n, "recurrence")
            else:
                bias = np.concatenate([np.zeros(2 * n_h, np.float32), rb_n])
                rec_zr, rec_n = self.split(self.dense(h, r, bias, "recurrence"), (2 * n_h, n_h), "recurrence_split")
        else:
            rec_zr = self.dense(h, r[:2 * n_h], np.zeros(2 * n_h, np.float32), "recurrence")
        zr = self.gate(self.add(x_zr, rec_zr, "zr_pre"), acts[0], "zr")
        z, reset = self.split(zr, (n_h, n_h), "zr_split")
        if linear_before_reset:
            rec_n = self.mul(reset, rec_n, "reset_rec")
        else:
            rec_n = self.dense(self.mul(reset, h, "reset_h"), r[2 * n_h:], np.zeros(n_h, np.float32), "recurrence_n")
        n = self.gate(self.add(x_n, rec_n, "n_pre"), acts[1], "n")
        if h is None:    # h = (1 - z) * n = n - z * n
            zn = self.mul(z, n, "zn")
            h_new = self.op(irops.Sub(), [n, zn], "h")[0]
            self.state += [zn, h_new]
            return h_new
        diff = self.op(irops.Sub(), [h, n], "h_minus_n")[0]
        z_diff = self.mul(z, diff, "z_diff")
        h_new = self.add(n, z_diff, "h")
        self.state += [diff, z_diff, h_new]
        return h_new

    def lstm(self, x: str, h: str | None, c: str | None, r: np.ndarray, p: np.ndarray | None,
             acts: list[Act], input_forget: bool) -> tuple[str, str]:
        n_h = self.hidden
        f_act, g_act, h_act = acts
        gates = self.add(x, self.dense(h, r, np.zeros(4 * n_h, np.float32), "recurrence"), "gates")
        if p is None:
            iof, cand = self.split(gates, (3 * n_h, n_h), "gates_split")
            iof = self.gate(iof, f_act, "iof")
            i, o, f = self.split(iof, (n_h, n_h, n_h), "iof_split")
            cand = self.gate(cand, g_act, "g")
        else:
            i_pre, o_pre, f_pre, cand = self.split(gates, (n_h,) * 4, "gates_split")
            p_i, p_o, p_f = (self.const(p[k * n_h:(k + 1) * n_h], f"P{k}") for k in range(3))
            i = self.gate(self.add(i_pre, self.mul(c, p_i, "peep_i"), "i_pre"), f_act, "i")
            f = self.gate(self.add(f_pre, self.mul(c, p_f, "peep_f"), "f_pre"), f_act, "f")
            cand = self.gate(cand, g_act, "g")
        if input_forget:
            f = self.op(irops.Sub(), [self.const(np.float32(1.0), "one"), i], "f_coupled")[0]
        fc, ig = self.mul(f, c, "fc"), self.mul(i, cand, "ig")
        c_new = self.add(fc, ig, "c")
        assert c_new is not None
        self.state += [fc, ig, c_new]
        if p is not None:
            o = self.gate(self.add(o_pre, self.mul(c_new, p_o, "peep_o"), "o_pre"), f_act, "o")
        h_new = self.mul(o, self.activation(c_new, h_act, "c_act"), "h")
        assert h_new is not None
        return h_new, c_new
