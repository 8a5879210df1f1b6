"""Model strings made safe for generated source: identifiers, string literals and comments.

Names from the ONNX model (graph, node, value names, doc strings) may hold anything: quotes,
backslashes, newlines, `*/`, `??/`, `%`, `{{ }}`, non-ASCII, 10 kB. Nothing of a model string
reaches a generated file of any backend (C, CUDA, headers, Makefiles, LLVM IR) except through
these functions (manifest.json excepted: json.dumps escapes):

  CNames.ident(kind, s)  [A-Za-z0-9_] only, prefixed by `kind`, unique per CNames (a counter
                         suffix on a clash), at most 48 characters of the original kept
  c_string(s)            a C string literal: printable ASCII except `"`, `\\` and `?` as is (`?` is
                         escaped so that no trigraph forms), every other UTF-8 byte as a 3-digit
                         octal escape
  c_char_array(s)        an initializer of a `char[]` holding s and its NUL: c_string(s) while it
                         fits C99's 4095-character minimum for a literal, else a list of octal
                         character constants ('\303': a char whether char is signed or not)
  c_comment(s)           printable ASCII only (`?`, `\\` and the rest as `_`: no trigraph, no
                         line splice), with `*/` and `/*` broken up (`* /`, `/ *`), at most
                         COMMENT_CHARS characters (longer text ends in `...`)

`inert` is the `finalize` of the backends' Jinja environments: every value a template prints must
be a number, a string these functions produced, or a string with none of the characters that could
end a comment, a literal or a line; anything else is a qcomp bug and fails the build loudly.
"""
from __future__ import annotations

import re

_NOT_IDENT = re.compile(r"[^A-Za-z0-9_]+")
_MAX_KEPT = 48
COMMENT_CHARS = 160
C99_LITERAL_CHARS = 4095
_HOSTILE = re.compile(r'[^\x20-\x7e]|["\\?]|\*/|/\*')


class Sanitized(str):
    """A string made by this module: safe to print into generated source as it is."""


class CNames:
    """A namespace of identifiers: each (kind, model string) pair gets one unique identifier."""

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


def c_string(s: str) -> Sanitized:
    out = []
    for byte in s.encode("utf-8"):
        ch = chr(byte)
        if 32 <= byte < 127 and ch not in '"\\?':
            out.append(ch)
        else:
            out.append(f"\\{byte:03o}")
    return Sanitized('"' + "".join(out) + '"')


def c_char_array(s: str) -> Sanitized:
    data = s.encode("utf-8")
    if len(data) <= C99_LITERAL_CHARS:
        return c_string(s)
    return Sanitized("{ " + ", ".join(f"'\\{b:03o}'" for b in data) + ", 0 }")   # '\303': a char either signedness


def c_comment(s: str) -> Sanitized:
    if len(s) > COMMENT_CHARS:
        s = s[:COMMENT_CHARS - 3] + "..."
    text = "".join(ch if 32 <= ord(ch) < 127 and ch not in "?\\" else "_" for ch in s)
    while "*/" in text or "/*" in text:
        text = text.replace("*/", "* /").replace("/*", "/ *")
    return Sanitized(text)


def inert(value):
    """Jinja `finalize`: pass numbers and sanitized strings; refuse a string that could break out."""
    if isinstance(value, Sanitized) or not isinstance(value, str):
        return value
    bad = _HOSTILE.search(value)
    if bad:
        raise ValueError(f"a template was given the unsanitized string {value[:80]!r} ({bad.group(0)!r} at "
                         f"{bad.start()}); model strings reach generated code only through qcomp.codegen.names "
                         f"(a qcomp bug: report it)")
    return value
