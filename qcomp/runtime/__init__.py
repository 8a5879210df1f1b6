"""Runtimes: load and run artifacts from Python (`qcomp.runtime.<target.backend>.load`).

A runtime imports nothing of qcomp but qcomp.errors: it reads what it needs from the manifest and
the artifact's own files (ABI of runtime/qcomp.h).
"""
