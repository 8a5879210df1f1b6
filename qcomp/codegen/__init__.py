"""Code generators, one module or folder per backend (`qcomp.codegen.<target.backend>.emit`).

Each backend turns a verified TARGET-stage graph into the files of an artifact; the only
importers of llvmlite and jinja2. Backends branch on qcomp.target.Target fields, never on names.
"""
