"""Model strings made safe for C source: identifiers, string literals and comments.

Names from the ONNX model may hold anything (quotes, backslashes, newlines, `*/`, `??/`, non-ASCII).
Nothing of a model string reaches the C source except through these functions:

  CNames.ident(kind, s)  [A-Za-z0-9_] only, prefixed by `kind`, unique per CNames (a counter
                         suffix on a clash), at most 48 characters of the original kept
  c_string(s)            a C string literal: printable ASCII except `"`, `\\` and `?` as is (`?` is
                         escaped so that no trigraph forms), every other UTF-8 byte as a 3-digit
                         octal escape
  c_comment(s)           printable ASCII only (`?`, `\\` and the rest as `_`: no trigraph, no
                         line splice), with `*/` and `/*` broken up (`* /`, `/ *`)
"""
from __future__ import annotations

import re

_NOT_IDENT = re.compile(r"[^A-Za-z0-9_]+")
_MAX_KEPT = 48


class CNames:
    """A namespace of C identifiers: each (kind, model string) pair gets one unique identifier."""

    def __init__(self) -> None:
        self._of: dict[tuple[str, str], str] = {}
        self._used: set[str] = set()

    def ident(self, kind: str, s: str) -> str:
        key = (kind, s)
        if key in self._of:
            return self._of[key]
        body = _NOT_IDENT.sub("_", s.encode("ascii", "replace").decode("ascii"))[:_MAX_KEPT].strip("_")
        base = f"{kind}_{body}" if body else kind
        name, k = base, 1
        while name in self._used:
            k += 1
            name = f"{base}_{k}"
        self._used.add(name)
        self._of[key] = name
        return name


def c_string(s: str) -> str:
    out = []
    for byte in s.encode("utf-8"):
        ch = chr(byte)
        if 32 <= byte < 127 and ch not in '"\\?':
            out.append(ch)
        else:
            out.append(f"\\{byte:03o}")
    return '"' + "".join(out) + '"'


def c_comment(s: str) -> str:
    text = "".join(ch if 32 <= ord(ch) < 127 and ch not in "?\\" else "_" for ch in s)
    while "*/" in text or "/*" in text:
        text = text.replace("*/", "* /").replace("/*", "/ *")
    return text
