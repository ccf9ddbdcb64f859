"""Builds the native entry runner (kernels/c/entry.c) as ``symgraph._entry`` at install time,
so no process waits for gcc to build it (everything else is in pyproject.toml). Optional: a
machine without a compiler still installs, and symgraph builds the runner into its compile
cache the first time it can (symgraph/codegen/native_entry.py)."""
import numpy
from setuptools import Extension, setup

setup(ext_modules=[Extension(
    "symgraph._entry", ["kernels/c/entry.c"], include_dirs=[numpy.get_include()],
    define_macros=[("SG_ENTRY_EXTENSION", "1")], extra_compile_args=["-O2", "-w"],
    optional=True)])
