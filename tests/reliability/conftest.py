"""Reliability tests compile into temporary compiledirs, never the user's cache."""
import shutil

import pytest

import symgraph


def have_cc():
    from symgraph.codegen.cache import NoCompilerError, compiler
    try:
        compiler()
        return True
    except NoCompilerError:
        return False


needs_cc = pytest.mark.skipif(not shutil.which("gcc"), reason="needs a C compiler")


@pytest.fixture(scope="module")
def compiledir(tmp_path_factory):
    d = tmp_path_factory.mktemp("compiledir")
    with symgraph.change_flags(compiledir=str(d)):
        yield d


@pytest.fixture
def fresh_compiledir(tmp_path):
    d = tmp_path / "compiledir"
    with symgraph.change_flags(compiledir=str(d)):
        yield d
