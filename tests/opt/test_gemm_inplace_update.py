"""Rule 'gemm_inplace_update' (opt/rules/blas.py): a Gemm that is the update of the shared
variable it reads as z (the SGD step ``w - lr * dot(h.T, g)``) writes into the shared
value's buffer, after every node that reads the old value (the Gemm's ordering inputs).

Checked against mode='py' (the numpy reference, which never writes in place): the updated
values after several steps, readers of the old weight scheduled anywhere in the graph, and
the cases where writing in place would be wrong (the old value or a view of it returned,
copied into another shared variable, or read by the product itself)."""
import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph.ops.blas import Gemm, gemm_no_inplace
from rewrite_helpers import RNG, reasons

RULE = "gemm_inplace_update"


def gemms(f):
    """The Gemm nodes whose z is a function input (the updates of shared weights)."""
    return [n for n in f.maker.fgraph.apply_nodes
            if isinstance(n.op, Gemm) and n.inputs[0].owner is None]


def rand(*shape):
    return RNG.normal(size=shape)


def _draws(*shapes):
    """Arguments of step k: the same random values for every mode."""
    def args(k):
        rng = np.random.default_rng(50 + k)
        return [rng.normal(size=s) for s in shapes]
    return args


def _pair(build, n_steps, args_of_step, modes=("FAST_RUN", "py")):
    """Build the same function (with fresh shared variables of the same values) in each
    mode, run `n_steps` calls, and return {mode: (fn, shared vars, results per step)}."""
    out = {}
    for mode in modes:
        fn, shared = build(mode)
        results = [fn(*args_of_step(k)) for k in range(n_steps)]
        out[mode] = (fn, shared, results)
    return out


def _assert_runs_agree(runs, rtol=1e-10, atol=1e-13):
    (_, sh_c, res_c), (_, sh_p, res_p) = runs["FAST_RUN"], runs["py"]
    for rc, rp in zip(res_c, res_p):
        for a, b in zip(rc if isinstance(rc, list) else [rc], rp if isinstance(rp, list) else [rp]):
            np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)
    for a, b in zip(sh_c, sh_p):
        np.testing.assert_allclose(a.get_value(), b.get_value(), rtol=rtol, atol=atol)


# -- where it fires -------------------------------------------------------------------------

def test_sgd_update_writes_into_the_shared_buffer():
    w0 = rand(6, 4)
    w = symgraph.shared(w0.copy(), name="w")
    h, g = T.dmatrix("h"), T.dmatrix("g")
    f = symgraph.function([h, g], [], updates=[(w, w - 0.1 * T.dot(h.T, g))])
    (node,) = gemms(f)
    assert node.op.inplace and RULE in reasons(f)
    buf = w.get_value(borrow=True)
    hv, gv = rand(8, 6), rand(8, 4)
    f(hv, gv)
    assert w.get_value(borrow=True) is buf            # no new array: the same storage
    np.testing.assert_allclose(buf, w0 - 0.1 * hv.T @ gv, rtol=1e-12)


def _mlp(mode, sizes=(20, 16, 12, 5), seed=0, reverse=False):
    rng = np.random.default_rng(seed)
    params = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        params += [symgraph.shared(rng.normal(size=(a, b)) / np.sqrt(a)),
                   symgraph.shared(rng.normal(size=b) * 0.1)]
    X, y = T.dmatrix("X"), T.lvector("y")
    W1, b1, W2, b2, W3, b3 = params
    h1 = T.tanh(T.dot(X, W1) + b1)
    h2 = T.tanh(T.dot(h1, W2) + b2)
    p = T.nnet.softmax(T.dot(h2, W3) + b3)
    loss = T.nnet.categorical_crossentropy(p, y).mean()
    grads = symgraph.grad(loss, params)
    updates = [(q, q - 0.05 * g) for q, g in zip(params, grads)]
    f = symgraph.function([X, y], loss, mode=mode,
                          updates=updates[::-1] if reverse else updates)
    return f, params


def _mlp_batches(k):
    rng = np.random.default_rng(100 + k)
    return rng.normal(size=(9, 20)), rng.integers(0, 5, size=9)


def test_mlp_three_steps_equal_py():
    runs = _pair(_mlp, 3, _mlp_batches)
    f = runs["FAST_RUN"][0]
    nodes = gemms(f)
    assert len(nodes) == 3 and all(n.op.inplace for n in nodes)
    # W2 and W3 are also read by the backward products (g @ W.T), which must run first
    waits = sorted(len(n.inputs) - 5 for n in nodes)
    assert waits == [0, 1, 1], waits
    _assert_runs_agree(runs)


def test_updates_listed_in_reverse_order_equal_py():
    """Another schedule: the readers of the old weights come later in the topological
    order than the Gemm that overwrites them."""
    runs = _pair(lambda mode: _mlp(mode, reverse=True), 3, _mlp_batches)
    assert all(n.op.inplace for n in gemms(runs["FAST_RUN"][0]))
    _assert_runs_agree(runs)


def test_old_value_read_after_the_update_in_the_graph():
    """Outputs computed from the old weight that nothing upstream of the Gemm needs: the
    schedule is free to put them anywhere, the ordering inputs put them first."""
    def build(mode):
        w = symgraph.shared(np.arange(12.0).reshape(3, 4) / 7, name="w")
        h, g, x2 = T.dmatrix("h"), T.dmatrix("g"), T.dmatrix("x2")
        outs = [T.dot(x2, w), T.tanh(w.T).sum(), (w * 2).sum(axis=0)]
        f = symgraph.function([h, g, x2], outs, mode=mode,
                              updates=[(w, w - 0.3 * T.dot(h.T, g))])
        return f, [w]
    runs = _pair(build, 3, _draws((5, 3), (5, 4), (2, 3)))
    (node,) = gemms(runs["FAST_RUN"][0])
    assert node.op.inplace and len(node.inputs) > 5
    _assert_runs_agree(runs)


def test_a_weight_read_by_a_second_function_sees_each_new_value():
    w = symgraph.shared(rand(4, 3), name="w")
    h, g, x = T.dmatrix("h"), T.dmatrix("g"), T.dmatrix("x")
    step = symgraph.function([h, g], [], updates=[(w, w - 0.5 * T.dot(h.T, g))])
    read = symgraph.function([x], T.dot(x, w))
    assert gemms(step)[0].op.inplace
    ref = w.get_value()
    for _ in range(3):
        hv, gv, xv = rand(6, 4), rand(6, 3), rand(2, 4)
        step(hv, gv)
        ref = ref - 0.5 * hv.T @ gv
        np.testing.assert_allclose(read(xv), xv @ ref, rtol=1e-12)


# -- where it must not fire -----------------------------------------------------------------

def _build_case(case):
    def build(mode):
        w = symgraph.shared(np.linspace(-1, 1, 16).reshape(4, 4), name="w")
        v = symgraph.shared(np.zeros((4, 4)), name="v")
        h, g = T.dmatrix("h"), T.dmatrix("g")
        new = w - 0.2 * T.dot(h.T, g)
        if case == "old value returned":
            return symgraph.function([h, g], w, mode=mode, updates=[(w, new)]), [w]
        if case == "view returned":
            return symgraph.function([h, g], w.T, mode=mode, updates=[(w, new)]), [w]
        if case == "copied to another shared":
            return symgraph.function([h, g], [], mode=mode,
                                     updates=[(w, new), (v, w)]), [w, v]
        if case == "product reads w":
            new = w - 0.2 * T.dot(w.T, g)
            return symgraph.function([h, g], [], mode=mode, updates=[(w, new)],
                                     on_unused_input="ignore"), [w]
        if case == "not an update":
            return symgraph.function([h, g], new, mode=mode), [w]
        if case == "update of another variable":
            return symgraph.function([h, g], [], mode=mode, updates=[(v, new)]), [w, v]
        raise AssertionError(case)
    return build


@pytest.mark.parametrize("case", ["old value returned", "view returned",
                                  "copied to another shared", "product reads w",
                                  "not an update", "update of another variable"])
def test_not_in_place_where_the_old_value_must_survive(case):
    runs = _pair(_build_case(case), 3, _draws((4, 4), (4, 4)))
    f = runs["FAST_RUN"][0]
    assert RULE not in reasons(f)
    assert not any(n.op.inplace and n.inputs[0].owner is None for n in gemms(f))
    _assert_runs_agree(runs)


def test_the_new_value_returned_as_an_output_is_a_copy():
    w = symgraph.shared(rand(3, 3), name="w")
    h, g = T.dmatrix("h"), T.dmatrix("g")
    new = w - 0.1 * T.dot(h.T, g)
    f = symgraph.function([h, g], new, updates=[(w, new)])
    assert gemms(f)[0].op.inplace
    out = f(rand(2, 3), rand(2, 3))
    np.testing.assert_array_equal(out, w.get_value())
    assert not np.shares_memory(out, w.get_value(borrow=True))
    out[:] = 0
    assert np.abs(w.get_value()).sum() > 0


def test_excluding_the_rule_by_name():
    w = symgraph.shared(rand(3, 3), name="w")
    h, g = T.dmatrix("h"), T.dmatrix("g")
    f = symgraph.function([h, g], [], updates=[(w, w - 0.1 * T.dot(h.T, g))],
                          mode=symgraph.Mode("FAST_RUN", excluding=[RULE]))
    assert not gemms(f)[0].op.inplace


@pytest.mark.parametrize("layout", ["fortran", "read-only"])
def test_a_shared_value_the_kernel_cannot_write_into_is_copied(layout):
    """A borrowed Fortran-ordered or read-only value: the kernel falls back to a copy and
    the update still lands in the shared variable."""
    w0 = rand(5, 4)
    arr = np.asfortranarray(w0) if layout == "fortran" else w0.copy()
    if layout == "read-only":
        arr.flags.writeable = False
    w = symgraph.shared(np.zeros((5, 4)), name="w")
    w.set_value(arr, borrow=True)
    h, g = T.dmatrix("h"), T.dmatrix("g")
    f = symgraph.function([h, g], [], updates=[(w, w - 0.1 * T.dot(h.T, g))])
    hv, gv = rand(3, 5), rand(3, 4)
    f(hv, gv)
    np.testing.assert_allclose(w.get_value(), w0 - 0.1 * hv.T @ gv, rtol=1e-12)
    if layout == "read-only":
        np.testing.assert_array_equal(arr, w0)


def test_debugmode_agrees_on_the_mlp_step():
    f, params = _mlp("DebugMode")
    assert all(n.op.inplace for n in gemms(f))
    fp, params_py = _mlp("py")
    for k in range(2):
        np.testing.assert_allclose(f(*_mlp_batches(k)), fp(*_mlp_batches(k)), rtol=1e-10)
    for a, b in zip(params, params_py):
        np.testing.assert_allclose(a.get_value(), b.get_value(), rtol=1e-10, atol=1e-13)


def test_in_place_elementwise_work_is_kept_beside_the_ordering_inputs():
    """The backward products read by the Gemm only for ordering are still overwritten in
    place by the ReLU/tanh-gradient that reads their value."""
    f, _ = _mlp("FAST_RUN")
    waited = {v for n in gemms(f) for v in n.inputs[5:]}
    assert waited
    for v in waited:
        readers = [c for c, k in f.maker.fgraph.clients[v] if c != "output"
                   and not isinstance(c.op, Gemm)]
        assert any(c.op.destroy_map for c in readers), readers


# -- the ordering inputs of the op ----------------------------------------------------------

def test_gemm_ordering_inputs_are_not_read_and_have_no_gradient():
    z, x, y, t = T.dmatrix("z"), T.dmatrix("x"), T.dmatrix("y"), T.dmatrix("t")
    a, b = T.dscalar("a"), T.dscalar("b")
    out = gemm_no_inplace(z, a, x, y, b, t)
    assert len(out.owner.inputs) == 6
    f = symgraph.function([z, a, x, y, b, t], out, mode="py")
    zv, xv, yv = rand(2, 3), rand(2, 4), rand(4, 3)
    np.testing.assert_allclose(f(zv, 0.5, xv, yv, 2.0, rand(7, 7)),
                               2 * zv + 0.5 * xv @ yv, rtol=1e-12)
    assert out.owner.op.connection_pattern(out.owner) == [[True]] * 5 + [[False]]
    gz = symgraph.grad(out.sum(), z)
    np.testing.assert_allclose(symgraph.function([z, a, x, y, b, t], gz,
                                                 on_unused_input="ignore")(
        zv, 0.5, xv, yv, 2.0, rand(1, 1)), np.full((2, 3), 2.0))
    with pytest.raises(TypeError, match="Gemm"):
        gemm_no_inplace(z, a, x, y, b, 3.0)
