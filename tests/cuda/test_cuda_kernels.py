"""The CUDA backend without a device: every kernel template renders for every op and dtype
the elementwise tests use and compiles to PTX with NVRTC; the cache stores PTX and a second
compile (in this process or another) is a hit; launch plans and launch arguments address
the right elements; conv2d's im2col + gemm path matches the reference."""
import ctypes
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph.codegen import cuda
from symgraph.errors import CompileError
from symgraph.ops.elemwise import Elemwise
from symgraph.ops.nnet import NegLogProb1Hot

from cuda_marks import needs_nvrtc

_spec = importlib.util.spec_from_file_location(
    "_sg_elemwise_cases_cuda", Path(__file__).parents[1] / "ops" / "test_elemwise.py")
cases = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cases)

PY_ONLY = {"Erfinv", "Psi", "TriGamma"}
DTYPES = ["float32", "float64", "int32", "int64", "bool"]
ROOT = Path(__file__).parents[2]


def _nodes(inputs, outputs):
    f = symgraph.function(inputs, outputs, mode="py", on_unused_input="ignore")
    return f.maker.fgraph.toposort()


def _lower_all(nodes):
    """(kinds by node, module source) for the nodes that lower; asserts their sources name
    their kernels with launch bounds."""
    kernels, origins, kinds, seen = [], [], {}, set()
    for k, node in enumerate(nodes):
        res = cuda.lower_node(node, f"sg_k{k}")
        if res is None:
            continue
        kind, src = res
        for fn in cuda.kernel_names(kind, f"sg_k{k}"):
            assert f"{fn}(" in src and f"__launch_bounds__({cuda.BLOCK})" in src
        assert 'extern "C" __global__' in src
        kinds[node] = kind
        # kernels equal but for their name and origin (e.g. other axes) compile once
        same = "\n".join(line for line in src.replace(f"sg_k{k}", "K").splitlines()
                         if not line.startswith("/* "))
        if same in seen:
            continue
        seen.add(same)
        kernels.append(src)
        origins.append(str(node.op))
    _lower_all.compiled = len(kernels)
    return kinds, cuda.module_source(kernels, origins)


def _ptx(source):
    path, key, parts = cuda.compile_source(source, "ptx", cuda.DEFAULT_ARCH)
    text = Path(path).read_text()
    assert text.lstrip().startswith("//") and ".entry" in text
    return text


def _elemwise_lowered(nodes, kinds):
    missing = [str(n.op) for n in nodes if isinstance(n.op, Elemwise) and n not in kinds
               and not any(p.lower() in str(n.op).lower() for p in PY_ONLY)]
    assert not missing, missing


@needs_nvrtc
@pytest.mark.parametrize("dtype", DTYPES)
def test_unary_elemwise_kernels_render_and_compile(compiledir, dtype):
    ins, outs = [], []
    for name, fn, _ref, _rng, _dtypes in cases.UNARY:
        x = T.tensor(dtype, shape=(None, 1, None))
        try:
            outs.append(fn(x))
        except (TypeError, ValueError, symgraph.errors.SymgraphError):
            continue          # the op refuses this dtype (as numpy's negative of bool)
        ins.append(x)
    nodes = _nodes(ins, outs)
    kinds, source = _lower_all(nodes)
    _elemwise_lowered(nodes, kinds)
    assert len(kinds) >= len(outs) - 3
    ptx = _ptx(source)
    for node, kind in kinds.items():
        assert kind == "elemwise"
    assert ptx.count(".entry") == 2 * _lower_all.compiled


@needs_nvrtc
@pytest.mark.parametrize("da,db", [("float32", "float32"), ("float64", "float64"),
                                   ("int32", "int32"), ("int64", "int64"),
                                   ("int32", "float64"), ("float32", "int64"),
                                   ("bool", "bool")])
def test_binary_elemwise_kernels_render_and_compile(compiledir, da, db):
    ins, outs = [], []
    for name, fn, _ref, dtypes in cases.BINARY:
        if da not in dtypes and db not in dtypes and da != "bool":
            continue
        for sa, sb in [((), ()), ((3, 1), (1, 4))]:     # all-scalar operands; broadcasting
            x, y = cases._typed(sa, da), cases._typed(sb, db)
            try:
                outs.append(fn(x, y))
            except (TypeError, ValueError, symgraph.errors.SymgraphError):
                continue
            ins += [x, y]
    nodes = _nodes(ins, outs)
    kinds, source = _lower_all(nodes)
    _elemwise_lowered(nodes, kinds)
    _ptx(source)


@needs_nvrtc
def test_special_ops_and_casts_compile(compiledir):
    c, a, b = T.bvector("c"), T.dvector("a"), T.drow("b")
    p, q = T.tensor("bool", shape=(None,)), T.tensor("bool", shape=(None,))
    f = T.fvector("f")
    outs = [T.switch(c, a, b), T.clip(a, -0.5, 0.5), ~p, p & q, p | q, p ^ q, p + q,
            T.cast(a * 3, "int8"), T.cast(a * 3, "uint8"), T.cast(c, "float32"),
            a.dimshuffle("x", 0) + b, a ** 2, T.clip(f, -1.0, 1.0), T.sigmoid(f),
            T.softplus(f), T.minimum(f, 0.5), T.maximum(a, -a), a // 2.0, f % 3,
            T.isnan(a), T.isinf(f), T.sgn(f), abs(c)]
    nodes = _nodes([c, a, b, p, q, f], outs)
    kinds, source = _lower_all(nodes)
    _elemwise_lowered(nodes, kinds)
    _ptx(source)


@needs_nvrtc
def test_fused_composite_compiles_and_is_one_kernel(compiledir):
    from symgraph.ops import scalar as S
    from symgraph.ops.composite import Composite as C
    comp = C(("float64", "int32"), (C.const_entry(1.0, "float64"), C.const_entry(-2, "int32")),
             ((S.Exp(), (("i", 0),), "float64"),
              (S.Add(), (("s", 0), ("c", 0)), "float64"),
              (S.IntDiv(), (("i", 1), ("c", 1)), "int32"),
              (S.Mul(), (("s", 1), ("s", 2)), "float64"),
              (S.Sigmoid(), (("s", 3),), "float64")))
    x, y = T.dtensor3("x"), T.ivector("y")
    node = Elemwise(comp)(x, y).owner
    kind, src = cuda.lower_node(node, "fused")
    assert kind == "elemwise"
    assert src.count("const double t") == 2 * 4       # 4 float temporaries, 2 kernels
    assert "sg_floordiv_int32_t" in src and "sg_sigmoid_double" in src
    # the strided kernel takes the output shape and a stride per operand and dimension
    assert "long long d2" in src and "long long s2_2" in src
    ptx = _ptx(cuda.module_source([src], ["fused"]))
    assert ".entry fused_contig" in ptx and ".entry fused_strided" in ptx


@needs_nvrtc
@pytest.mark.parametrize("dtype", DTYPES)
def test_reduction_kernels_render_and_compile(compiledir, dtype):
    x = T.tensor(dtype, shape=(None, None, None))
    outs = []
    for axis in [None, 0, 1, (0, 2), -1]:
        for fn in (T.sum, T.prod, T.max, T.min, T.any, T.all):
            try:
                outs.append(fn(x, axis=axis))
            except (TypeError, ValueError, symgraph.errors.SymgraphError):
                pass
    outs.append(T.sum(x, axis=1, keepdims=True))
    nodes = _nodes([x], outs)
    kinds, source = _lower_all(nodes)
    reduced = [n for n in nodes if type(n.op).__name__ in
               ("Sum", "Prod", "Max", "Min", "Any", "All")]
    assert reduced and all(kinds.get(n) == "reduce" for n in reduced)
    assert "__shared__" in source and "__syncthreads()" in source
    _ptx(source)


@needs_nvrtc
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_softmax_crossentropy_and_inc_rows_compile(compiledir, dtype):
    x = T.tensor(dtype, shape=(None, None))
    y = T.ivector("y")
    yl = T.lvector("yl")
    v = T.tensor(dtype, shape=(None, None))
    iv = T.ivector("iv")
    outs = [T.nnet.softmax(x), T.nnet.log_softmax(x),
            T.nnet.categorical_crossentropy(T.nnet.softmax(x), y),
            T.nnet.categorical_crossentropy(x, yl),
            NegLogProb1Hot()(T.nnet.log_softmax(x), y),
            T.inc_subtensor(x[iv], v)]
    nodes = _nodes([x, y, yl, v, iv], outs)
    kinds, source = _lower_all(nodes)
    got = sorted(set(kinds.values()))
    assert {"softmax", "crossentropy", "inc_rows"} <= set(got), got
    assert "sg_atomic_add" in source
    assert sum(kinds[n] == "crossentropy" for n in kinds) == 3
    assert "-log(p[r * m + k])" in source and "= -p[r * m + k]" in source
    _ptx(source)


@needs_nvrtc
@pytest.mark.parametrize("dtype", ["int32", "int64"])
def test_integer_inc_rows_compiles(compiledir, dtype):
    x, v, i = T.tensor(dtype, shape=(None,)), T.tensor(dtype, shape=(None,)), T.lvector()
    nodes = _nodes([x, v, i], [T.inc_subtensor(x[i], v)])
    kinds, source = _lower_all(nodes)
    assert list(kinds.values()) == ["inc_rows"]
    _ptx(source)


def test_set_subtensor_and_bool_index_do_not_use_atomic_kernel():
    x, v, i = T.dmatrix(), T.dmatrix(), T.ivector()
    for out in (T.set_subtensor(x[i], v), T.inc_subtensor(x[i, 1:], v[:, 1:])):
        nodes = _nodes([x, v, i], out)
        assert all(cuda.lower_node(n, "k") is None or cuda.lower_node(n, "k")[0] != "inc_rows"
                   for n in nodes)


@needs_nvrtc
def test_compile_error_carries_the_nvrtc_log(fresh_compiledir):
    with pytest.raises(CompileError, match="undefined_name_sg"):
        cuda.compile_source('extern "C" __global__ void k() { undefined_name_sg; }',
                            "ptx", cuda.DEFAULT_ARCH)
    # a failed build publishes nothing
    assert not list(Path(fresh_compiledir).rglob("meta.json"))


@needs_nvrtc
def test_cache_stores_ptx_and_second_compile_is_a_hit(fresh_compiledir, tmp_path):
    x = T.fmatrix("x")
    nodes = _nodes([x], [T.tanh(x) * 2 + 1, T.sum(x, axis=1)])
    _, source = _lower_all(nodes)
    before = dict(cuda.stats)
    path, key, parts = cuda.compile_source(source, "ptx", cuda.DEFAULT_ARCH)
    assert cuda.stats["builds"] == before["builds"] + 1
    entry = Path(path).parent
    assert entry.parent.name == key[:2] and entry.name == key
    assert str(entry).startswith(str(fresh_compiledir))
    meta = json.loads((entry / "meta.json").read_text())
    assert meta["parts"] == parts and parts["target"] == f"ptx:{cuda.DEFAULT_ARCH}"
    assert (entry / "source.cu").read_text() == source
    assert set(parts) == {"cache_format", "source_sha256", "nvrtc", "options", "target"}
    path2, key2, _ = cuda.compile_source(source, "ptx", cuda.DEFAULT_ARCH)
    assert (path2, key2) == (path, key)
    assert cuda.stats["builds"] == before["builds"] + 1
    assert cuda.stats["disk_hits"] == before["disk_hits"] + 1
    # another target is another key
    _, key3, _ = cuda.compile_source(source, "ptx", "80")
    assert key3 != key
    # a second process finds the entry on disk and does not compile
    log = tmp_path / "builds.log"
    env = dict(os.environ, SYMGRAPH_BUILD_LOG=str(log), SYMGRAPH_COMPILEDIR=str(fresh_compiledir),
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    code = ("import sys; from symgraph.codegen import cuda; "
            "p, k, _ = cuda.compile_source(sys.stdin.read(), 'ptx', cuda.DEFAULT_ARCH); "
            "print(k, cuda.stats['builds'], cuda.stats['disk_hits'])")
    out = subprocess.run([sys.executable, "-c", code], input=source, env=env, text=True,
                         capture_output=True, check=True).stdout.split()
    assert out == [key, "0", "1"]
    assert not log.exists()
    # a damaged binary is rebuilt
    Path(path).write_text("garbage")
    cuda.compile_source(source, "ptx", cuda.DEFAULT_ARCH)
    assert cuda.stats["builds"] == before["builds"] + 3
    assert Path(path).read_text().lstrip().startswith("//")


def test_launch_plans():
    assert cuda.elemwise_plan("k", 0) is None
    assert cuda.elemwise_plan("k", 1) == ("k", 1, cuda.BLOCK, 1)
    assert cuda.elemwise_plan("k", cuda.BLOCK + 1).grid == 2
    big = cuda.elemwise_plan("k", 10 ** 12)
    assert big.grid == cuda.MAX_GRID and big.block == cuda.BLOCK     # grid-stride beyond
    assert cuda.elemwise_plan("k", 5).grid_y == 1
    assert cuda.rows_plan("k", 0) is None
    assert cuda.rows_plan("k", 7) == ("k", 7, cuda.BLOCK, 1)
    assert cuda.rows_plan("k", 10 ** 9).grid == cuda.MAX_GRID


def _emulate_reduce(plans, chunk, rows, m, x, combine, init):
    """What the reduce kernels of `plans` compute (reduce.cu.j2), block by block."""
    def block(row, lo, hi):
        a = init(row, lo)
        for j in range(lo, hi):
            a = combine(a, row[j])
        return a
    first = plans[0]
    if first.kernel.endswith("_small"):
        return [block(x[r], 0, m) for r in range(rows)]
    parts = first.grid_y
    partial = [block(x[r], p * chunk, min(m, (p + 1) * chunk))
               for r in range(rows) for p in range(parts)]
    if len(plans) == 1:
        return partial
    assert plans[1].kernel.endswith("_final") and plans[1].grid_y == 1
    return [block(partial[r * parts:(r + 1) * parts], 0, parts) for r in range(rows)]


@pytest.mark.parametrize("rows,m", [(1, 1), (1, 10 ** 5), (3, 70000), (2000, 5), (300, 16),
                                    (10, 17), (5000, 300), (1, 0), (4, 0), (0, 9)])
def test_reduce_plans_cover_every_element_once(rows, m):
    plans, chunk = cuda.reduce_plan("k", rows, m)
    if rows == 0:
        assert plans == []
        return
    for p in plans:
        assert p.block == cuda.BLOCK and 1 <= p.grid <= cuda.MAX_GRID
    if m <= cuda.SMALL_ROW and rows >= cuda.BLOCK:
        assert [p.kernel for p in plans] == ["k_small"]
    elif m > cuda.SPLIT_ROW and rows < cuda.FEW_BLOCKS:
        assert [p.kernel for p in plans] == ["k", "k_final"] and plans[0].grid_y > 1
        assert (plans[0].grid_y - 1) * chunk < m <= plans[0].grid_y * chunk
    else:
        assert [p.kernel for p in plans] == ["k"] and plans[0].grid_y == 1
    if rows * m > 10 ** 6:
        return
    x = np.random.default_rng(rows + m).integers(-50, 50, size=(rows, m))
    got = _emulate_reduce(plans, chunk, rows, m, x, lambda a, b: a + b, lambda row, lo: 0)
    np.testing.assert_array_equal(got, x.sum(axis=1))
    if m:
        got = _emulate_reduce(plans, chunk, rows, m, x, max, lambda row, lo: row[lo])
        np.testing.assert_array_equal(got, x.max(axis=1))


def _emulate_strided(args, arrays, ndim):
    """The element offsets the strided kernel computes from its scalar launch arguments:
    one list (an offset per operand) per output element, as in elemwise.cu.j2."""
    n = int(args[0])
    shape = [int(a) for a in args[1:1 + ndim]]
    strides = [int(a) for a in args[1 + ndim:]]
    nops = len(arrays)
    out = []
    for i in range(n):
        rest, offs = i, [0] * nops
        for d in range(ndim - 1, -1, -1):
            c = rest % shape[d]
            rest //= shape[d]
            for k in range(nops):
                offs[k] += c * strides[k * ndim + d]
        out.append(offs)
    return out


@pytest.mark.parametrize("case", ["broadcast", "transposed", "negative", "scalar3d"])
def test_strided_launch_arguments_address_numpy_elements(case):
    rng = np.random.default_rng(0)
    base = rng.normal(size=(4, 6))
    if case == "broadcast":
        a, b = base[:, :1], rng.normal(size=(1, 5))
        shape = (4, 5)
    elif case == "transposed":
        a, b = base.T, rng.normal(size=(6, 4))
        shape = (6, 4)
    elif case == "negative":
        a, b = base[::-1, ::-2], base[1:, :3]
        shape = (4, 3)
        b = np.concatenate([b, b[:1]])
    else:
        a, b = rng.normal(size=(1, 1, 1)), rng.normal(size=(2, 3, 4))[:, ::2]
        shape = (2, 2, 4)
    out = np.empty(shape)
    arrays = [a, b, out]
    args = cuda.launch_args_elemwise(None, [x.shape for x in arrays],
                                     [x.strides for x in arrays],
                                     [x.itemsize for x in arrays], contiguous=False)
    assert all(isinstance(v, np.int64) for v in args)
    assert len(args) == 1 + len(shape) + len(arrays) * len(shape)
    want_a, want_b = np.broadcast_to(a, shape), np.broadcast_to(b, shape)
    for i, offs in enumerate(_emulate_strided(args, arrays, len(shape))):
        idx = np.unravel_index(i, shape)
        # element offsets from each array's first element, as the kernel indexes p[o]
        for arr, want, off in ((a, want_a, offs[0]), (b, want_b, offs[1])):
            start = arr.__array_interface__["data"][0]
            got = ctypes.c_double.from_address(start + off * arr.itemsize).value
            assert got == want[idx], (case, i, idx)
        assert offs[2] * out.itemsize == sum(c * s for c, s in zip(idx, out.strides))
    assert cuda.launch_args_elemwise(None, [(3, 4)] * 2, [(32, 8)] * 2, [8, 8], True) == [12]


def test_reduce_layout():
    assert cuda.reduce_layout((2, 3, 4), (1,), False) == ([0, 2, 1], 8, 3, (2, 4))
    assert cuda.reduce_layout((2, 3, 4), (0, 2), True) == ([1, 0, 2], 3, 8, (1, 3, 1))
    assert cuda.reduce_layout((2, 3), (0, 1), False) == ([0, 1], 1, 6, ())
    assert cuda.reduce_layout((0, 5), (1,), False) == ([0, 1], 0, 5, (0,))
    assert cuda.reduce_layout((5, 0), (1,), False) == ([0, 1], 5, 0, (5,))
    x = np.arange(24.0).reshape(2, 3, 4)
    perm, rows, m, oshape = cuda.reduce_layout(x.shape, (0, 2), False)
    rowsum = np.ascontiguousarray(x.transpose(perm)).reshape(rows, m).sum(axis=1)
    np.testing.assert_array_equal(rowsum.reshape(oshape), x.sum(axis=(0, 2)))


@pytest.mark.parametrize("border_mode,subsample,dilation,flip,dtype", [
    ("valid", (1, 1), (1, 1), True, "float64"), ("full", (2, 1), (1, 1), True, "float32"),
    ("half", (1, 2), (2, 1), False, "float64"), ((1, 2), (2, 2), (1, 2), True, "float32")])
def test_conv2d_im2col_gemm_matches_reference(border_mode, subsample, dilation, flip, dtype):
    from symgraph.ops.conv import Conv2d
    op = Conv2d(border_mode=border_mode, subsample=subsample, filter_flip=flip,
                filter_dilation=dilation)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 3, 7, 8)).astype(dtype)
    w = rng.normal(size=(4, 3, 3, 2)).astype(dtype)
    got = cuda.conv2d_forward(op, x, w, dtype, np)
    want = op.forward(x, w, dtype)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5 if dtype == "float32" else 1e-12)


def test_importing_symgraph_does_not_import_cupy():
    code = ("import sys, symgraph, symgraph.tensor as T, symgraph.codegen.cuda; "
            "x = T.dvector(); symgraph.function([x], x + 1)([1.0]); "
            "print('cupy' in sys.modules)")
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, "-c", code], env=env, text=True,
                         capture_output=True, check=True).stdout.strip()
    assert out == "False"


def test_an_input_overwritten_in_place_is_not_restrict():
    from symgraph.ops import scalar as S
    x, y = T.dvector(), T.dvector()
    _, src = cuda.lower_node(Elemwise(S.Add(), {0: 1})(x, y).owner, "k")
    assert "const double *__restrict__ p0" in src and "const double *p1," in src
    _, src = cuda.lower_node(Elemwise(S.Add())(x, y).owner, "k")
    assert "const double *__restrict__ p1" in src
