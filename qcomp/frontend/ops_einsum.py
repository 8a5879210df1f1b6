"""Einsum as ReduceSum, Transpose, Reshape and MatMul (or Dense, for a constant operand).

    equation "t1,t2,...->out" (implicit form: the output is the labels used once, in alphabetical
    order, after the ellipsis dimensions); "..." stands for the same leading broadcast dimensions
    in every term (right-aligned, equal sizes).

The terms are contracted left to right. Before each step a term's labels that no later term and
not the output need are summed away (ReduceSum). Two terms A, B then split their labels into
    batch  (in both, needed later)   contracted (in both, not needed)
    left   (A only)                  right      (B only)
and become one MatMul of A as [batch, left, contracted] -> (Nb, Nl, Nk) by B as
[batch, contracted, right] -> (Nb, Nk, Nr), reshaped to [batch, left, right]; a constant B with one
batch is a Dense (w = B^T), which quantizes with per-channel int8 weights. A last Transpose puts
the labels in the output's order. This covers what exporters emit: batched products
('bij,bjk->bik', 'bhqd,bhkd->bhqk'), bilinear forms ('bn,anm,bm->ba'), transposes ('ij->ji') and
sums ('ij->i'). A label repeated within one term (a diagonal) is refused by name.
"""
from __future__ import annotations

import math
import string

import numpy as np
import onnx

from ..ir import ops as irops
from . import layout
from .context import Attrs, Const, Context, Unsupported, Val, Value
from .ops_math import matmul_values

_ELLIPSIS_LABELS = "0123456789"   # internal labels of the ellipsis dims (ONNX labels are letters)


def parse(equation: str, ranks: list[int]) -> tuple[list[list[str]], list[str]]:
    """The labels of every term and of the output, ellipses expanded."""
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(ranks):
        raise Unsupported(f"equation {equation!r} has {len(terms)} terms for {len(ranks)} inputs")
    n_ell = 0
    parsed = []
    for term, r in zip(terms, ranks):
        letters = term.replace("...", "")
        if any(ch not in string.ascii_letters for ch in letters) or term.count("...") > 1:
            raise Unsupported(f"term {term!r} of {equation!r}: labels are letters and at most one '...'")
        ell = r - len(letters) if "..." in term else 0
        if ell < 0 or (ell == 0 and "..." not in term and len(letters) != r):
            raise Unsupported(f"term {term!r} of {equation!r} does not match an input of rank {r}")
        n_ell = max(n_ell, ell)
        head, _, tail = term.partition("...")
        parsed.append(list(head) + [("...", ell)] + list(tail) if "..." in term else list(term))
    ell_labels = list(_ELLIPSIS_LABELS[:n_ell])
    out_terms = []
    for p in parsed:
        expanded = []
        for item in p:
            expanded += ell_labels[n_ell - item[1]:] if isinstance(item, tuple) else [item]
        if len(set(expanded)) != len(expanded):
            raise Unsupported(f"equation {equation!r} repeats a label within one term (a diagonal); qcomp "
                              f"imports Einsum without diagonals")
        out_terms.append(expanded)
    if arrow:
        if rhs.count("...") > 1 or any(ch not in string.ascii_letters for ch in rhs.replace("...", "")):
            raise Unsupported(f"output {rhs!r} of {equation!r}: labels are letters and at most one '...'")
        head, dots, tail = rhs.partition("...")
        out = list(head) + (ell_labels if dots else []) + list(tail)
    else:
        counts: dict[str, int] = {}
        for t in out_terms:
            for ch in t:
                counts[ch] = counts.get(ch, 0) + 1
        out = ell_labels + sorted(ch for ch, k in counts.items() if k == 1 and ch not in ell_labels)
    used = {ch for t in out_terms for ch in t}
    if any(ch not in used for ch in out) or len(set(out)) != len(out):
        raise Unsupported(f"output of {equation!r} names a label no input has, or one twice")
    return out_terms, out


class _Term:
    """One operand in ONNX layout with a label per axis (a Const array or an IR value name)."""

    def __init__(self, value: np.ndarray | str, labels: list[str], shape: tuple[int, ...]):
        self.value, self.labels, self.shape = value, labels, shape

    @property
    def const(self) -> bool:
        return isinstance(self.value, np.ndarray)


def _sum(ctx: Context, t: _Term, keep: set[str]) -> _Term:
    drop = [i for i, ch in enumerate(t.labels) if ch not in keep]
    if not drop:
        return t
    labels = [ch for ch in t.labels if ch in keep]
    shape = tuple(d for ch, d in zip(t.labels, t.shape) if ch in keep)
    if t.const:
        return _Term(np.sum(t.value, axis=tuple(drop), dtype=t.value.dtype), labels, shape)
    y = ctx.emit(irops.ReduceSum(tuple(drop), False), [t.value], suffix="sum")[0]
    return _Term(y, labels, shape)


def _arrange(ctx: Context, t: _Term, order: list[str], view: tuple[int, ...]) -> np.ndarray | str:
    perm = tuple(t.labels.index(ch) for ch in order)
    if t.const:
        return np.ascontiguousarray(np.transpose(t.value, perm)).reshape(view)
    v = t.value
    if perm != tuple(range(len(perm))):
        v = ctx.emit(irops.Transpose(perm), [v], suffix="transpose")[0]
    if ctx.graph.types[v].shape != view:
        v = ctx.emit(irops.Reshape(view), [v], suffix="view")[0]
    return v


def _value(ctx: Context, v: np.ndarray | str, name: str) -> Value:
    return Const(v, name) if isinstance(v, np.ndarray) else Val(v, layout.identity(len(ctx.graph.types[v].shape)))


def _contract(ctx: Context, a: _Term, b: _Term, keep: set[str], step: int) -> _Term:
    size = dict(zip(a.labels, a.shape)) | dict(zip(b.labels, b.shape))
    for ch in set(a.labels) & set(b.labels):
        if dict(zip(a.labels, a.shape))[ch] != dict(zip(b.labels, b.shape))[ch]:
            raise Unsupported(f"label {ch!r} has sizes {dict(zip(a.labels, a.shape))[ch]} and "
                              f"{dict(zip(b.labels, b.shape))[ch]} in two terms")
    batch = [ch for ch in a.labels if ch in b.labels and ch in keep]
    contracted = [ch for ch in a.labels if ch in b.labels and ch not in keep]
    left = [ch for ch in a.labels if ch not in b.labels]
    right = [ch for ch in b.labels if ch not in a.labels]
    nb, nl, nk, nr = (math.prod(size[ch] for ch in group) for group in (batch, left, contracted, right))
    node = ctx.node_name
    if nb == 1:   # a 2-D product: a constant right operand becomes a Dense
        av = _arrange(ctx, a, left + contracted, (nl, nk))
        bv = _arrange(ctx, b, contracted + right, (nk, nr))
        if isinstance(av, np.ndarray):   # constant @ run-time: (B^T A^T)^T keeps the constant on the right
            y = matmul_values(ctx, _value(ctx, _arrange(ctx, b, right + contracted, (nr, nk)), f"{node}/b{step}"),
                              Const(np.ascontiguousarray(av.T), f"{node}/a{step}"), None, f"matmul{step}")
            y_name = ctx.emit(irops.Transpose((1, 0)), [ctx.plain(y)], suffix=f"matmul{step}_t")[0]
        else:
            y = matmul_values(ctx, _value(ctx, av, f"{node}/a{step}"), _value(ctx, bv, f"{node}/b{step}"), None,
                              f"matmul{step}")
            y_name = ctx.plain(y)
    else:
        av = _arrange(ctx, a, batch + left + contracted, (nb, nl, nk))
        bv = _arrange(ctx, b, batch + contracted + right, (nb, nk, nr))
        names = [ctx.constant(v.astype(np.float32), f"{node}/operand{step}") if isinstance(v, np.ndarray) else v
                 for v in (av, bv)]
        y_name = ctx.emit(irops.MatMul(), names, suffix=f"matmul{step}")[0]
    labels = batch + left + right
    shape = tuple(size[ch] for ch in labels)
    if ctx.graph.types[y_name].shape != shape:
        y_name = ctx.emit(irops.Reshape(shape), [y_name], suffix=f"unview{step}")[0]
    return _Term(y_name, labels, shape)


def einsum(ctx: Context, node: onnx.NodeProto) -> list[Value]:
    ins = ctx.inputs(node)
    if not ins:
        raise Unsupported("Einsum needs at least one input")
    for v in ins:
        if not ctx.dtype(v).is_float:
            raise Unsupported(f"Einsum of a {ctx.dtype(v).value} input: qcomp computes it on float tensors")
    terms_labels, out = parse(Attrs(node).str("equation", ""), [ctx.rank(v) for v in ins])
    terms = [_Term(v.array.astype(np.float32) if isinstance(v, Const) else ctx.plain(v), labels, ctx.shape(v))
             for v, labels in zip(ins, terms_labels)]
    if all(t.const for t in terms):
        raise Unsupported("every input is constant")   # the importer folds such nodes before this
    for i, t in enumerate(terms):
        for ch, d in zip(t.labels, t.shape):
            if any(ch in u.labels and dict(zip(u.labels, u.shape))[ch] != d for u in terms):
                raise Unsupported(f"label {ch!r} has different sizes in the inputs "
                                  f"{[u.shape for u in terms]}; qcomp does not broadcast Einsum labels")

    def needed(after: int) -> set[str]:
        return set(out).union(*[set(t.labels) for t in terms[after:]])

    acc = _sum(ctx, terms[0], needed(1))
    for k, t in enumerate(terms[1:], start=1):
        t = _sum(ctx, t, needed(k + 1) | set(acc.labels))
        acc = _sum(ctx, acc, needed(k + 1) | set(t.labels))
        acc = _contract(ctx, acc, t, needed(k + 1), k)
    acc = _sum(ctx, acc, set(out))
    if acc.const:
        raise Unsupported("every input is constant")
    perm = tuple(acc.labels.index(ch) for ch in out)
    name = acc.value
    if perm != tuple(range(len(perm))):
        name = ctx.emit(irops.Transpose(perm), [name], out=ctx.out_name())[0]
    return [Val(name, layout.identity(len(out)))]


CONVERTERS = {"Einsum": einsum}
