"""scan forward semantics against Python loops: taps, several outputs, outputs not fed back,
until, zero-length sequences, symbolic n_steps, go_backwards, map/reduce/foldl/foldr,
static types, errors naming the user's line inside fn, and every mode."""
import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph.scan_module import until

from control_helpers import MODES, Counted

RNG = np.random.default_rng(0)


@pytest.mark.parametrize("mode", MODES)
def test_sequence_taps_negative_zero_positive(mode):
    x = T.dvector('x')
    out, _ = symgraph.scan(lambda a, b, c: a * 100 + b * 10 + c,
                           sequences=dict(input=x, taps=[-2, 0, 1]))
    f = symgraph.function([x], out, mode=mode)
    xv = np.arange(7.)
    want = [xv[t - 2] * 100 + xv[t] * 10 + xv[t + 1] for t in range(2, 6)]
    np.testing.assert_allclose(f(xv), want)
    assert out.type.shape == (None,)


@pytest.mark.parametrize("mode", MODES)
def test_output_taps_and_several_outputs(mode):
    x0 = T.dvector('x0')
    s = T.dmatrix('s')
    w = T.dscalar('w')

    def step(s_t, x_tm3, x_tm1, acc_tm1, w):
        x_t = x_tm3 * w + x_tm1 + s_t
        return [x_t, acc_tm1 + x_t.sum(), x_t * 2]

    (xs, accs, doubled), upd = symgraph.scan(
        step, sequences=s,
        outputs_info=[dict(initial=T.stack([x0, x0 + 1, x0 + 2]), taps=[-3, -1]),
                      T.constant(0.0, dtype="float64"), None],
        non_sequences=w)
    assert upd == {}
    f = symgraph.function([x0, s, w], [xs, accs, doubled], mode=mode)
    x0v, sv, wv = RNG.random(2), RNG.random((5, 2)), 0.5
    hist = [x0v, x0v + 1, x0v + 2]
    acc, want_x, want_acc = 0.0, [], []
    for t in range(5):
        xt = hist[-3] * wv + hist[-1] + sv[t]
        hist.append(xt)
        acc += xt.sum()
        want_x.append(xt)
        want_acc.append(acc)
    got_x, got_acc, got_d = f(x0v, sv, wv)
    np.testing.assert_allclose(got_x, want_x)
    np.testing.assert_allclose(got_acc, want_acc)
    np.testing.assert_allclose(got_d, 2 * np.array(want_x))
    assert got_x.shape == (5, 2) and got_acc.shape == (5,)


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "int64"])
def test_dtypes_and_static_types(dtype):
    x = T.tensor(dtype=dtype, shape=(4, 3))
    out, _ = symgraph.scan(lambda r, acc: acc + r, sequences=x,
                           outputs_info=T.zeros((3,), dtype=dtype))
    assert out.dtype == dtype
    assert out.type.shape == (4, None) or out.type.shape == (4, 3)
    f = symgraph.function([x], out, mode="py")
    xv = (RNG.random((4, 3)) * 10).astype(dtype)
    got = f(xv)
    np.testing.assert_allclose(got, np.cumsum(xv, axis=0).astype(dtype), rtol=1e-6)
    assert got.dtype == dtype


@pytest.mark.parametrize("mode", MODES)
def test_until_stops_early(mode):
    # the tutorial's accumulator-with-until idea: powers of 2 until they pass a bound
    bound = T.dscalar('bound')
    vals, _ = symgraph.scan(lambda prev, bound: (prev * 2, until(prev * 2 > bound)),
                            outputs_info=T.constant(1.0, dtype="float64"),
                            non_sequences=bound, n_steps=1000)
    f = symgraph.function([bound], vals, mode=mode)
    np.testing.assert_allclose(f(40.0), [2., 4., 8., 16., 32., 64.])
    np.testing.assert_allclose(f(0.5), [2.])
    assert vals.type.shape == (None,)


def test_until_with_a_sequence_and_n_steps_limit():
    x = T.dvector('x')
    total, _ = symgraph.scan(lambda v, acc: [acc + v, until(acc + v > 10)],
                             sequences=x, outputs_info=T.constant(0.0, dtype="float64"))
    f = symgraph.function([x], total, mode="py")
    np.testing.assert_allclose(f(np.array([4., 5., 3., 1., 1.])), [4., 9., 12.])
    np.testing.assert_allclose(f(np.array([1., 2.])), [1., 3.])


@pytest.mark.parametrize("mode", MODES)
def test_zero_length_sequences(mode):
    x = T.dmatrix('x')
    h0 = T.dvector('h0')
    (hs, ys), _ = symgraph.scan(lambda r, h: [h + r, (h * r).sum()], sequences=x,
                                outputs_info=[h0, None])
    total, _ = symgraph.reduce(lambda r, acc: acc + r.sum(), x,
                               T.constant(0.0, dtype="float64"))
    f = symgraph.function([x, h0], [hs, ys], mode=mode)
    got_h, got_y = f(np.zeros((0, 3)), np.ones(3))
    assert got_h.shape == (0, 3) and got_y.shape == (0,)
    assert got_h.dtype == got_y.dtype == np.float64
    g = symgraph.function([x], total, mode=mode)
    assert g(np.ones((2, 3))) == 6.0
    with pytest.raises(IndexError):   # [-1] of nothing, as numpy
        g(np.zeros((0, 3)))   # also when only the last state is kept (FAST_RUN)


def test_map_over_empty_sequence_keeps_item_shape():
    x = T.dmatrix('x')
    out, _ = symgraph.map(lambda r: r * 2, [x])
    f = symgraph.function([x], out, mode="py")
    assert f(np.zeros((0, 4))).shape == (0, 4)


@pytest.mark.parametrize("mode", MODES)
def test_symbolic_n_steps_and_sequences_limit(mode):
    n = T.iscalar('n')
    x = T.dvector('x')
    out, _ = symgraph.scan(lambda v, acc: acc * v, sequences=x,
                           outputs_info=T.constant(1.0, dtype="float64"), n_steps=n)
    f = symgraph.function([x, n], out, mode=mode)
    xv = np.array([2., 3., 4.])
    np.testing.assert_allclose(f(xv, 2), [2., 6.])
    np.testing.assert_allclose(f(xv, 10), [2., 6., 24.])   # at most the sequence length
    assert f(xv, 0).shape == (0,)


@pytest.mark.parametrize("mode", MODES)
def test_go_backwards(mode):
    x = T.dvector('x')
    out, _ = symgraph.scan(lambda v, acc: acc * 10 + v, sequences=x,
                           outputs_info=T.constant(0.0, dtype="float64"), go_backwards=True)
    f = symgraph.function([x], out, mode=mode)
    np.testing.assert_allclose(f(np.array([1., 2., 3.])), [3., 32., 321.])


def test_map_reduce_foldl_foldr():
    x = T.dvector('x')
    sq, _ = symgraph.map(lambda v: v ** 2, x)
    s, _ = symgraph.reduce(lambda v, acc: acc + v, x, T.constant(0.0, dtype="float64"))
    left, _ = symgraph.foldl(lambda v, acc: acc * 10 + v, x, T.constant(0.0, dtype="float64"))
    right, _ = symgraph.foldr(lambda v, acc: acc * 10 + v, x, T.constant(0.0, dtype="float64"))
    f = symgraph.function([x], [sq, s, left, right], mode="py")
    got = f(np.array([1., 2., 3.]))
    np.testing.assert_allclose(got[0], [1., 4., 9.])
    assert got[1] == 6.0 and got[2] == 123.0 and got[3] == 321.0


def test_outputs_not_fed_back_and_non_sequences_order():
    a = T.dvector('a')
    b = T.dvector('b')
    k = T.dscalar('k')
    seen = []

    def step(x_t, y_t, prev, k):
        seen.append((x_t.ndim, y_t.ndim, prev.ndim, k.ndim))
        return [x_t * y_t, prev + k]

    (prod, ramp), _ = symgraph.scan(step, sequences=[a, b],
                                    outputs_info=[None, T.constant(0.0, dtype="float64")],
                                    non_sequences=k)
    assert seen == [(0, 0, 0, 0)]
    f = symgraph.function([a, b, k], [prod, ramp], mode="py")
    got = f(np.array([1., 2.]), np.array([3., 4.]), 0.5)
    np.testing.assert_allclose(got[0], [3., 8.])
    np.testing.assert_allclose(got[1], [0.5, 1.0])


def test_loop_invariant_work_runs_once():
    w = T.dvector('w')
    x = T.dmatrix('x')
    counted = Counted()
    out, _ = symgraph.scan(lambda r, w: r * counted(w), sequences=x, non_sequences=w)
    inner_ops = [n.op for n in symgraph.graph.toposort(out.owner.op.inner.outputs)]
    assert counted not in inner_ops       # moved out of the step
    f = symgraph.function([w, x], out, mode="py")
    wv, xv = np.array([1., 2.]), np.ones((6, 2))
    np.testing.assert_allclose(f(wv, xv), xv * 2 * wv)
    assert counted.calls == 1


def test_shared_variables_are_implicit_and_updates_chain():
    w = symgraph.shared(np.array([1.0, 2.0]), name="w")
    count = symgraph.shared(np.int64(0), name="count")
    x = T.dmatrix('x')

    def step(r):
        return (r * w).sum(), {count: count + 1}

    out, upd = symgraph.scan(step, sequences=x)
    assert list(upd) == [count]
    f = symgraph.function([x], out, updates=upd, mode="py")
    np.testing.assert_allclose(f(np.ones((3, 2))), [3., 3., 3.])
    assert count.get_value() == 3
    w.set_value(np.array([0.0, 1.0]))
    np.testing.assert_allclose(f(np.ones((2, 2))), [1., 1.])
    assert count.get_value() == 5


def test_errors_at_build_name_the_users_line():
    x = T.dvector('x')
    with pytest.raises(TypeError, match=r"scan(.|\n)*dtype(.|\n)*test_scan\.py"):
        symgraph.scan(lambda v, acc: acc + v, sequences=x,
                      outputs_info=T.constant(0.0, dtype="float32"))
    with pytest.raises(ValueError, match="n_steps"):
        symgraph.scan(lambda acc: acc + 1, outputs_info=T.constant(0.0, dtype="float64"))
    with pytest.raises(ValueError, match="outputs_info"):
        symgraph.scan(lambda v: [v, v], sequences=x, outputs_info=[None])


def test_errors_in_the_step_at_run_time_name_the_line_in_fn():
    x = T.dtensor3('x')
    w = T.dmatrix('w')

    def step(m, w):
        return T.dot(m, w)   # the line the error must point to

    out, _ = symgraph.scan(step, sequences=x, non_sequences=w)
    f = symgraph.function([x, w], out, mode="py")
    with pytest.raises(Exception) as info:
        f(np.ones((2, 3, 4)), np.ones((5, 2)))
    text = str(info.value)
    assert "test_scan.py" in text and "in step" in text and "step 0" in text
    assert "Scan" in text


def test_strict_requires_non_sequences():
    w = T.dvector('w')
    x = T.dmatrix('x')
    with pytest.raises(ValueError, match="strict"):
        symgraph.scan(lambda r: r * w, sequences=x, strict=True)
    sw = symgraph.shared(np.ones(2), name="sw")
    with pytest.raises(ValueError, match="strict"):
        symgraph.scan(lambda r: r * sw, sequences=x, strict=True)
    symgraph.scan(lambda r, sw: r * sw, sequences=x, non_sequences=sw, strict=True)
    out, _ = symgraph.scan(lambda r, w: r * w, sequences=x, non_sequences=w, strict=True)
    f = symgraph.function([x, w], out, mode="py")
    np.testing.assert_allclose(f(np.ones((2, 2)), np.array([1., 2.])), [[1., 2.], [1., 2.]])


def test_step_compiled_with_the_functions_pipeline_or_scans_mode():
    from symgraph.ops.elemwise import Elemwise
    x = T.dmatrix('x')
    out, _ = symgraph.scan(lambda r, h: T.exp(h * 0.5 + r) - 1, sequences=x,
                           outputs_info=T.zeros_like(x[0]))
    xv = RNG.random((3, 2))
    want = symgraph.function([x], out, mode="py")(xv)
    op = out.owner.op
    for mode in ("FAST_COMPILE", "FAST_RUN"):
        f = symgraph.function([x], out, mode=mode)
        np.testing.assert_allclose(f(xv), want)
        step = op.inner.function(f.maker.mode).maker.fgraph
        elemwise = [n for n in step.toposort() if isinstance(n.op, Elemwise)]
        assert len(elemwise) == 1      # the step's elementwise chain was fused
    assert "c" in set(op.inner.function(symgraph.Mode("FAST_RUN")).maker.fgraph
                      .placement.values())
    # scan(mode=...) overrides the function's mode for the step
    out_py, _ = symgraph.scan(lambda r, h: T.exp(h * 0.5 + r) - 1, sequences=x,
                              outputs_info=T.zeros_like(x[0]), mode="py")
    f = symgraph.function([x], out_py, mode="FAST_RUN")
    np.testing.assert_allclose(f(xv), want)
    step = out_py.owner.op.inner.function("py").maker.fgraph
    assert len([n for n in step.toposort() if isinstance(n.op, Elemwise)]) == 4


def test_functions_with_scan_and_ifelse_pickle():
    import pickle
    from symgraph.ifelse import ifelse
    x = T.dmatrix('x')
    c = T.iscalar('c')
    hs, _ = symgraph.scan(lambda r, h: T.tanh(h + r), sequences=x,
                          outputs_info=T.zeros_like(x[0]))
    out = ifelse(c, hs[-1], hs[0])
    g = symgraph.gradient.grad(out.sum(), x)
    f = symgraph.function([c, x], [out, g], mode="FAST_COMPILE")
    f2 = pickle.loads(pickle.dumps(f))
    xv = RNG.random((3, 2))
    for a, b in zip(f(1, xv) + f(0, xv), f2(1, xv) + f2(0, xv)):
        np.testing.assert_array_equal(a, b)
