"""The Theano tutorial's "Loop" chapter, imports renamed (theano -> symgraph,
theano.tensor -> symgraph.tensor), checked against the tutorial's numpy versions and values."""
import numpy as np

import symgraph as theano
import symgraph.tensor as T
from symgraph.tensor.random import RandomStream

floatX = theano.config.floatX


def test_power_A_k():
    k = T.iscalar("k")
    A = T.vector("A")
    result, updates = theano.scan(fn=lambda prior_result, A: prior_result * A,
                                  outputs_info=T.ones_like(A), non_sequences=A, n_steps=k)
    final_result = result[-1]
    power = theano.function(inputs=[A, k], outputs=final_result, updates=updates)
    np.testing.assert_allclose(power(np.arange(10, dtype=floatX), 2),
                               [0., 1., 4., 9., 16., 25., 36., 49., 64., 81.])


def test_polynomial():
    coefficients = T.vector("coefficients")
    x = T.scalar("x")
    max_coefficients_supported = 10000
    components, updates = theano.scan(
        fn=lambda coefficient, power, free_variable: coefficient * (free_variable ** power),
        outputs_info=None,
        sequences=[coefficients, T.arange(max_coefficients_supported)],
        non_sequences=x)
    polynomial = components.sum()
    calculate_polynomial = theano.function(inputs=[coefficients, x], outputs=polynomial,
                                           mode="py")
    test_coefficients = np.asarray([1, 0, 2], dtype=floatX)
    test_value = 3
    assert calculate_polynomial(test_coefficients, test_value) == 19.0
    assert 1.0 * (3 ** 0) + 0.0 * (3 ** 1) + 2.0 * (3 ** 2) == 19.0


def test_tanh_x_W_b():
    X = T.matrix("X")
    W = T.matrix("W")
    b_sym = T.vector("b_sym")
    results, updates = theano.scan(lambda v: T.tanh(T.dot(v, W) + b_sym), sequences=X)
    compute_elementwise = theano.function(inputs=[X, W, b_sym], outputs=results)
    x = np.eye(2, dtype=floatX)
    w = np.ones((2, 2), dtype=floatX)
    b = np.ones((2), dtype=floatX)
    b[1] = 2
    got = compute_elementwise(x, w, b)
    np.testing.assert_allclose(got, np.tanh(x.dot(w) + b))
    np.testing.assert_allclose(got, [[0.96402758, 0.99505475], [0.96402758, 0.99505475]])


def test_recurrence_with_two_sequences_one_reversed():
    X = T.vector("X")
    W = T.matrix("W")
    U = T.matrix("U")
    Y = T.matrix("Y")
    V = T.matrix("V")
    P = T.matrix("P")
    results, updates = theano.scan(
        lambda y, p, x_tm1: T.tanh(T.dot(x_tm1, W) + T.dot(y, U) + T.dot(p, V)),
        sequences=[Y, P[::-1]], outputs_info=[X])
    compute_seq = theano.function(inputs=[X, W, Y, U, P, V], outputs=results, mode="py")
    x = np.zeros((2), dtype=floatX)
    x[1] = 1
    w = np.ones((2, 2), dtype=floatX)
    y = np.ones((5, 2), dtype=floatX)
    y[0, :] = -3
    u = np.ones((2, 2), dtype=floatX)
    p = np.ones((5, 2), dtype=floatX)
    p[0, :] = 3
    v = np.ones((2, 2), dtype=floatX)
    x_res = np.zeros((5, 2), dtype=floatX)
    x_res[0] = np.tanh(x.dot(w) + y[0].dot(u) + p[4].dot(v))
    for i in range(1, 5):
        x_res[i] = np.tanh(x_res[i - 1].dot(w) + y[i].dot(u) + p[4 - i].dot(v))
    np.testing.assert_allclose(compute_seq(x, w, y, u, p, v), x_res)


def test_norms_of_rows_and_columns():
    X = T.matrix("X")
    results, updates = theano.scan(lambda x_i: T.sqrt((x_i ** 2).sum()), sequences=[X])
    compute_norm_lines = theano.function(inputs=[X], outputs=results, mode="py")
    results, updates = theano.scan(lambda x_i: T.sqrt((x_i ** 2).sum()), sequences=[X.T])
    compute_norm_cols = theano.function(inputs=[X], outputs=results, mode="py")
    x = np.diag(np.arange(1, 6, dtype=floatX), 1)
    np.testing.assert_allclose(compute_norm_lines(x), [1., 2., 3., 4., 5., 0.])
    np.testing.assert_allclose(compute_norm_cols(x), [0., 1., 2., 3., 4., 5.])


def test_trace():
    X = T.matrix("X")
    results, updates = theano.scan(lambda i, j, t_f: T.cast(X[i, j] + t_f, floatX),
                                   sequences=[T.arange(X.shape[0]), T.arange(X.shape[1])],
                                   outputs_info=np.asarray(0., dtype=floatX))
    result = results[-1]
    compute_trace = theano.function(inputs=[X], outputs=result)
    x = np.eye(5, dtype=floatX)
    x[0] = np.arange(5, dtype=floatX)
    assert compute_trace(x) == 4.0
    assert np.diagonal(x).sum() == 4.0


def test_taps_minus_two_minus_one():
    X = T.matrix("X")
    W = T.matrix("W")
    b_sym = T.vector("b_sym")
    U = T.matrix("U")
    V = T.matrix("V")
    n_sym = T.iscalar("n_sym")
    results, updates = theano.scan(
        lambda x_tm2, x_tm1: T.dot(x_tm2, U) + T.dot(x_tm1, V) + T.tanh(T.dot(x_tm1, W) + b_sym),
        n_steps=n_sym, outputs_info=[dict(initial=X, taps=[-2, -1])])
    compute_seq2 = theano.function(inputs=[X, U, V, W, b_sym, n_sym], outputs=results,
                                   mode="py")
    x = np.zeros((2, 2), dtype=floatX)
    x[1, 1] = 1
    w = 0.5 * np.ones((2, 2), dtype=floatX)
    u = 0.5 * (np.ones((2, 2), dtype=floatX) - np.eye(2, dtype=floatX))
    v = 0.5 * np.ones((2, 2), dtype=floatX)
    n = 10
    b = np.ones((2), dtype=floatX)
    x_res = np.zeros((10, 2))
    x_res[0] = x[0].dot(u) + x[1].dot(v) + np.tanh(x[1].dot(w) + b)
    x_res[1] = x[1].dot(u) + x_res[0].dot(v) + np.tanh(x_res[0].dot(w) + b)
    x_res[2] = x_res[0].dot(u) + x_res[1].dot(v) + np.tanh(x_res[1].dot(w) + b)
    for i in range(2, 10):
        x_res[i] = (x_res[i - 2].dot(u) + x_res[i - 1].dot(v) +
                    np.tanh(x_res[i - 1].dot(w) + b))
    np.testing.assert_allclose(compute_seq2(x, u, v, w, b, n), x_res)
    # the tutorial's printed values
    np.testing.assert_allclose(x_res[0], [1.40514825, 1.40514825], rtol=1e-7)
    np.testing.assert_allclose(x_res[-1], [54.28407732, 54.25282732], rtol=1e-7)


def test_jacobian_via_scan():
    v = T.vector()
    A = T.matrix()
    y = T.tanh(T.dot(v, A))
    results, updates = theano.scan(lambda i: T.grad(y[i], v), sequences=[T.arange(y.shape[0])])
    compute_jac_t = theano.function([A, v], results, allow_input_downcast=True, mode="py")
    x = np.eye(5, dtype=floatX)[0]
    w = np.eye(5, 3, dtype=floatX)
    w[2] = np.ones((3), dtype=floatX)
    np.testing.assert_allclose(compute_jac_t(w, x), ((1 - np.tanh(x.dot(w)) ** 2) * w).T)


def test_hessian_via_scan():
    x = T.dvector('x')
    y = x ** 2
    cost = y.sum()
    gy = T.grad(cost, x)
    H, updates = theano.scan(lambda i, gy, x: T.grad(gy[i], x),
                             sequences=T.arange(gy.shape[0]), non_sequences=[gy, x])
    f = theano.function([x], H, updates=updates, mode="py")
    np.testing.assert_array_equal(f([4, 4]), [[2., 0.], [0., 2.]])


def test_jacobian_times_vector_via_scan():
    W = T.dmatrix('W')
    x = T.dvector('x')
    y = T.dot(x, W)
    J, updates = theano.scan(lambda i, y, W: T.grad(y[i], W), sequences=T.arange(y.shape[0]),
                             non_sequences=[y, W])
    f = theano.function([x, W], J, mode="py")
    got = f([0., 1.], np.ones((2, 2)))
    np.testing.assert_array_equal(got, [[[0., 0.], [1., 0.]], [[0., 0.], [0., 1.]]])


def test_accumulator_shared_variable_updates():
    k = theano.shared(0)
    n_sym = T.iscalar("n_sym")
    results, updates = theano.scan(lambda: {k: (k + 1)}, n_steps=n_sym)
    accumulator = theano.function([n_sym], [], updates=updates, allow_input_downcast=True)
    assert k.get_value() == 0
    accumulator(5)
    assert k.get_value() == 5
    accumulator(2)
    assert k.get_value() == 7


def test_shared_counter_b_and_c():
    # a shared variable updated inside the loop: the returned update is its final value
    a = theano.shared(1)
    values, updates = theano.scan(lambda: {a: a + 1}, n_steps=10)
    b = a + 1
    c = updates[a] + 1
    f = theano.function([], [b, c], updates=updates)
    assert [int(v) for v in f()] == [2, 12]
    assert a.get_value() == 11


def test_random_mask_outside_the_loop_and_draws_inside():
    X = T.matrix("X")
    W = T.matrix("W")
    b_sym = T.vector("b_sym")
    trng = RandomStream(1234)
    d = trng.binomial(size=W[1].shape)
    results, updates = theano.scan(lambda v: T.tanh(T.dot(v, W) + b_sym) * d, sequences=X)
    compute_with_bnoise = theano.function(inputs=[X, W, b_sym], outputs=results,
                                          updates=updates, allow_input_downcast=True)
    x = np.eye(10, 2, dtype=floatX)
    w = np.ones((2, 2), dtype=floatX)
    b = np.ones((2), dtype=floatX)
    out = compute_with_bnoise(x, w, b)
    # one mask for every step (d is drawn once, outside the loop)
    mask = (out[0] != 0).astype(int)
    np.testing.assert_allclose(out, np.tanh(x.dot(w) + b) * mask)

    # draws made inside the step get a new value every step, and the state advances
    srng = RandomStream(7)
    n = T.iscalar("n")
    draws, upd = theano.scan(lambda: srng.uniform((3,)), n_steps=n)
    assert len(upd) == 1
    f = theano.function([n], draws, updates=upd)
    a1, a2 = f(4), f(4)
    assert a1.shape == (4, 3)
    assert len({tuple(r) for r in a1}) == 4
    assert not np.array_equal(a1, a2)
    # without passing the updates, the draw's default update still advances it
    g = theano.function([n], draws)
    assert not np.array_equal(g(2), g(2))


def test_until_powers_of_two():
    # the scan documentation's early-stopping example
    def power_of_2(previous_power, max_value):
        return previous_power * 2, theano.scan_module.until(previous_power * 2 > max_value)

    max_value = T.scalar()
    values, _ = theano.scan(power_of_2, outputs_info=T.constant(1.), non_sequences=max_value,
                            n_steps=1024)
    f = theano.function([max_value], values)
    np.testing.assert_array_equal(f(45), [2., 4., 8., 16., 32., 64.])
