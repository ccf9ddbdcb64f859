"""CUDA backend tests: a temporary compiledir; NVRTC and device availability as fixtures.

Tests that only render and compile kernels (NVRTC, no device) run in CI. Tests marked
``gpu`` launch kernels and skip unless cupy sees a CUDA device.
"""
import pytest

import symgraph


@pytest.fixture(scope="module")
def compiledir(tmp_path_factory):
    d = tmp_path_factory.mktemp("cuda_compiledir")
    with symgraph.change_flags(compiledir=str(d)):
        yield d


@pytest.fixture
def fresh_compiledir(tmp_path):
    d = tmp_path / "compiledir"
    with symgraph.change_flags(compiledir=str(d)):
        yield d
