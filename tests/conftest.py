"""Fixtures every test folder shares: temporary compiledirs, so that tests that inspect or
damage the kernel cache never touch the user's own."""
import pytest

import symgraph


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
