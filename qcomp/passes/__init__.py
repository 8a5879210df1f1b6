"""Graph passes: one pass per file, named as a verb, exporting one function of the same name.

A pass takes a Graph and returns a new Graph (or the same object when nothing changed).
`run_passes` runs an explicit tuple of them and verifies the graph after each one.
"""
from .pipeline import PassError, pass_name, run_passes

__all__ = ["PassError", "pass_name", "run_passes"]
