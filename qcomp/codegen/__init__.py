"""Code generators, one module or folder per backend (`qcomp.codegen.<target.backend>.emit`).

Each backend turns a verified TARGET-stage graph into the files of an artifact; the only
importers of llvmlite and jinja2. Backends branch on qcomp.target.Target fields, never on names.
"""
from __future__ import annotations

import dataclasses

from ..fixedpoint import AddParams

ADD_PARAMS_FIELDS = tuple(f.name for f in dataclasses.fields(AddParams))   # the one field list of Add/Sub


def add_params(op) -> AddParams:
    """The AddParams of a QAdd / QSub op: every backend marshals Add and Sub from this dataclass's
    fields (in this order), so a field added to or renamed in fixedpoint.AddParams reaches each
    backend or fails its build loudly."""
    return AddParams(**{name: int(getattr(op, name)) for name in ADD_PARAMS_FIELDS})
