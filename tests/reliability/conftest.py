"""Helpers of the reliability tests (their temporary compiledirs come from tests/conftest.py)."""
import shutil

import pytest


def have_cc():
    from symgraph.codegen.cache import NoCompilerError, compiler
    try:
        compiler()
        return True
    except NoCompilerError:
        return False


needs_cc = pytest.mark.skipif(not shutil.which("gcc"), reason="needs a C compiler")
