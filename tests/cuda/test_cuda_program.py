"""The CUDA program without a device: routing (config.device='cuda'), placement of nodes on
generated kernels, cupy or the host, and the errors that name the missing piece."""
import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph.codegen import cuda
from symgraph.shared import shared
from symgraph.tensor.random import RandomStream

from cuda_marks import needs_nvrtc

no_gpu = pytest.mark.skipif(cuda.device_available(), reason="a CUDA device is present")


@no_gpu
def test_shared_on_cuda_without_a_device_names_the_missing_piece():
    with symgraph.change_flags(device="cuda"):
        with pytest.raises(cuda.CudaUnavailableError) as e:
            shared(np.zeros(3), "w")
    msg = str(e.value)
    assert "shared()" in msg and "device='cpu'" in msg
    assert ("CUDA device" in msg) or ("cupy" in msg and "not installed" in msg)


def test_missing_cupy_is_named_with_the_install_command(monkeypatch):
    monkeypatch.setattr(cuda, "cupy_or_none", lambda: None)
    with symgraph.change_flags(device="cuda"):
        with pytest.raises(cuda.CudaUnavailableError, match=r"pip install 'symgraph\[cuda\]'"):
            shared(np.zeros(3), "w")
        x = T.dvector("x")
        with pytest.raises(cuda.CudaUnavailableError, match="cupy"):
            symgraph.function([x], T.exp(x))
    with pytest.raises(cuda.CudaUnavailableError, match="cupy is not installed"):
        cuda.nvrtc_version()


@no_gpu
def test_function_on_cuda_without_a_device_raises_but_py_mode_runs():
    x = T.dvector("x")
    with symgraph.change_flags(device="cuda"):
        with pytest.raises(cuda.CudaUnavailableError, match="device"):
            symgraph.function([x], T.exp(x))
        f = symgraph.function([x], T.exp(x) + 1, mode="py")
    got = f(np.array([0.0, 1.0]))
    assert type(got) is np.ndarray
    np.testing.assert_allclose(got, np.exp([0.0, 1.0]) + 1)


class _FakeModule:
    def __init__(self):
        self.asked = []

    def get_function(self, name):
        self.asked.append(name)
        return name


@needs_nvrtc
def test_build_program_places_nodes_on_kernels_cupy_and_host(compiledir, monkeypatch):
    """Routing and placement with the device calls replaced: the module is compiled (PTX)
    but not loaded; each node gets a kernel thunk, a cupy thunk or the host fallback."""
    fake = _FakeModule()

    def get_module(source):
        path, key, parts = cuda.compile_source(source, "ptx", cuda.DEFAULT_ARCH)
        return fake, key, parts

    class _NumpyAsCupy:
        asarray = staticmethod(np.asarray)

    monkeypatch.setattr(cuda, "get_module", get_module)
    monkeypatch.setattr(cuda, "require_device", lambda what=None: _NumpyAsCupy)
    x, w, i = T.dmatrix("x"), T.dmatrix("w"), T.ivector("i")
    h = T.tanh(T.dot(x, w) + 1.5)
    srng = RandomStream(3)
    outs = [T.nnet.softmax(h), h.sum(axis=0), T.inc_subtensor(x[i], h[:2]),
            T.argmax(h, axis=1), x[1:, ::2], h.T, srng.normal((3, 4)),
            srng.binomial((2,), p=0.5),
            symgraph.grad(T.nnet.categorical_crossentropy(T.nnet.softmax(h), i).sum(), w),
            h.reshape((w.shape[0], -1))]
    with symgraph.change_flags(device="cuda"):
        f = symgraph.function([x, w, i], outs, on_unused_input="ignore")
    place = {type(n.op).__name__: p for n, p in f.maker.fgraph.placement.items()}
    assert place["LogSoftmaxGrad"] == place["NegLogProb1HotGrad"] == "cuda"
    assert place["Softmax"] == place["Sum"] == place["AdvancedIncSubtensor"] == "cuda"
    assert place["Dot"] == place["Subtensor"] == place["Reshape"] == "cuda"
    rv = {n.op.dist: p for n, p in f.maker.fgraph.placement.items()
          if type(n.op).__name__ == "RandomVariable"}
    assert rv == {"normal": "cuda", "binomial": "py"}
    assert place["Argmax"] == "py"                     # the numpy perform on host copies
    assert any(p == "cuda" for n, p in f.maker.fgraph.placement.items()
               if type(n.op).__name__ == "Elemwise")
    assert isinstance(f.program, cuda.CudaProgram)
    assert f.program.source.startswith("/* symgraph generated CUDA module")
    assert set(f.program.cache_info) == {"key", "parts"}
    assert any(name.endswith("_contig") for name in fake.asked)
    assert f.maker.fgraph.borrow_outputs == [False] * len(outs)
    assert len(f.maker.fgraph.outputs) == len(outs) + 2           # the two state updates


def test_host_thunk_moves_values_both_ways(monkeypatch):
    moved = []
    monkeypatch.setattr(cuda, "to_device", lambda v: moved.append(v) or v)
    x = T.dmatrix("x")
    node = T.argmax(x, axis=1).owner
    storage = [[None]]
    cuda._host_thunk(node)(node, [np.array([[1.0, 3.0], [4.0, 2.0]])], storage)
    np.testing.assert_array_equal(storage[0][0], [1, 0])
    assert len(moved) == 1 and moved[0] is storage[0][0]


class _Kernel:
    """A stand-in for a loaded kernel: checks each launch against the PTX entry's parameter
    count (every parameter is 8 bytes: long long or a pointer) and the launch bounds."""

    def __init__(self, name, n_params, launches):
        self.name, self.n_params, self.launches = name, n_params, launches

    def __call__(self, grid, block, args):
        assert len(args) == self.n_params, (self.name, len(args), self.n_params)
        assert len(grid) in (1, 2) and 1 <= grid[0] <= cuda.MAX_GRID
        if len(grid) == 2:
            assert grid[1] > 1 and self.name.startswith("sg_k") and "_" not in self.name[3:]
        assert block == (cuda.BLOCK,)
        for a in args:
            assert isinstance(a, (np.int64, np.ndarray)), (self.name, type(a))
        self.launches.append(self.name)


def _numpy_cupy():
    """The parts of cupy the thunks use, backed by numpy (no device here)."""
    import types
    shim = types.SimpleNamespace(**{k: getattr(np, k) for k in (
        "empty", "empty_like", "ascontiguousarray", "moveaxis", "zeros", "broadcast_to",
        "array", "asarray", "dot", "matmul", "tensordot", "ndarray", "arange")})
    shim.random = types.SimpleNamespace(default_rng=np.random.default_rng)
    return shim


@needs_nvrtc
def test_thunks_launch_kernels_with_the_ptx_signatures(compiledir, monkeypatch):
    """Every thunk runs end to end with numpy standing in for cupy and the kernels replaced
    by signature checks: the launches match the compiled entries, the outputs have the
    reference's shapes and dtypes (the values need a device: test_cuda_device.py)."""
    import re
    import sys
    launches = []

    def get_module(source):
        path, key, parts = cuda.compile_source(source, "ptx", cuda.DEFAULT_ARCH)
        ptx = open(path).read()
        entries = {m.group(1): m.group(2).count(".param")
                   for m in re.finditer(r"\.entry (\w+)\(([^)]*)\)", ptx)}
        assert all(f".maxntid {cuda.BLOCK}, 1, 1" in ptx for _ in entries)

        class Mod:
            def get_function(self, name):
                return _Kernel(name, entries[name], launches)
        return Mod(), key, parts

    shim = _numpy_cupy()
    monkeypatch.setitem(sys.modules, "cupy", shim)
    monkeypatch.setattr(cuda, "get_module", get_module)
    monkeypatch.setattr(cuda, "require_device", lambda what=None: shim)
    x, w, i = T.fmatrix("x"), T.fmatrix("w"), T.lvector("i")
    t3 = T.ftensor3("t3")
    y = T.ivector("y")
    h = T.tanh(T.dot(x, w) + 1.5)
    srng = RandomStream(3)
    outs = [T.nnet.softmax(h), T.nnet.log_softmax(t3, axis=1), h.sum(axis=0),
            t3.max(axis=(0, 2), keepdims=True), T.all(t3 > 0, axis=None),
            T.inc_subtensor(x[i], h[:2]), T.nnet.categorical_crossentropy(T.nnet.softmax(h), y),
            x[1:, ::2] * 2, h.T + T.exp(x).T[:, 0].dimshuffle(0, "x"), srng.normal((3, 4)),
            T.argmax(h, axis=1), T.sum(T.exp(t3) * 2, axis=None),
            T.prod(T.ones((2, 40000)) * x[0, 0], axis=1), T.min(T.exp(w), axis=None),
            T.max(T.ones((300, 4)) * x[0, 0], axis=1),
            (x + 1).reshape((2, 6)),
            symgraph.grad(T.nnet.categorical_crossentropy(T.nnet.softmax(h), y).sum(), w),
            T.nnet.conv2d(t3.dimshuffle("x", 0, 1, 2), t3[:, :2, :2].dimshuffle("x", 0, 1, 2))]
    with symgraph.change_flags(device="cuda"):
        f = symgraph.function([x, w, i, t3, y], outs)
    fp = symgraph.function([x, w, i, t3, y], outs, mode="py")
    rng = np.random.default_rng(0)
    vals = [rng.normal(size=(4, 3)).astype("float32"), rng.normal(size=(3, 3)).astype("float32"),
            np.array([3, -1]), rng.normal(size=(2, 5, 6)).astype("float32"),
            np.array([0, 1, 2, 1], "int32")]
    with np.errstate(all="ignore"):          # the stand-in kernels leave garbage values
        got, want = f(*vals), fp(*vals)
    for k, (g, wv) in enumerate(zip(got, want)):
        assert g.dtype == wv.dtype and g.shape == wv.shape, (k, str(outs[k].owner.op))
    kinds = {name.rsplit("_", 1)[-1] if name.endswith(("_contig", "_strided", "_small",
                                                       "_final")) else "row"
             for name in launches}
    assert {"contig", "strided", "row", "small", "final"} <= kinds, launches
    assert len(launches) >= 8


@pytest.mark.parametrize("grad_op", ["NegLogProb1HotGrad", "CrossentropyCategorical1HotGrad"])
def test_label_gradients_through_cupy_match_the_reference(monkeypatch, grad_op):
    import sys
    from symgraph.ops import nnet
    monkeypatch.setitem(sys.modules, "cupy", _numpy_cupy())
    g, p, y = T.dvector("g"), T.dmatrix("p"), T.ivector("y")
    node = getattr(nnet, grad_op)()(g, p, y).owner
    rng = np.random.default_rng(5)
    gv, pv = rng.normal(size=6), rng.uniform(0.1, 1, size=(6, 4))
    yv = np.array([0, 3, -1, 2, -4, 1], "int32")
    want = [[None]]
    node.op.perform(node, [gv, pv, yv], want)
    got = cuda._cupy_scatter_grad(node, [gv, pv, yv])
    assert got.dtype == want[0][0].dtype and got.shape == want[0][0].shape
    np.testing.assert_allclose(got, want[0][0], rtol=1e-15)
    with pytest.raises(IndexError, match="out of range for 4 classes"):
        cuda._cupy_scatter_grad(node, [gv, pv, np.array([0, 4, 0, 0, 0, 0], "int32")])
