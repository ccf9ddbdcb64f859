"""Builds the native entry runner (kernels/c/entry.c) as ``symgraph._entry`` at install time,
so no process waits for gcc to build it (everything else is in pyproject.toml). Optional: a
machine without a compiler still installs, and symgraph builds the runner into its compile
cache the first time it can (symgraph/codegen/native_entry.py)."""
import hashlib

import numpy
from setuptools import Extension, setup

SOURCE = "kernels/c/entry.c"
with open(SOURCE, "rb") as f:
    # the module says which source it was built from: a checkout whose entry.c has changed
    # since the install uses the cache-built runner instead (native_entry.py)
    sha = hashlib.sha256(f.read()).hexdigest()

setup(ext_modules=[Extension(
    "symgraph._entry", [SOURCE], include_dirs=[numpy.get_include()],
    define_macros=[("SG_ENTRY_EXTENSION", "1"), ("SG_ENTRY_SHA256", f'"{sha}"')],
    extra_compile_args=["-O2", "-Wall", "-Werror=implicit-function-declaration"], optional=True)])
