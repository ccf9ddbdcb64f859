"""The workloads of the benchmark suite (issue 10's table), one class each.

A workload builds its data from a seed, then each implementation (`numpy`, `symgraph`,
`jax`, `pytensor_c`, `pytensor_numba`) gives ``(step, compile_seconds)``: ``step()`` runs
the computation once and returns its result (converted to numpy), which the runner checks
against the numpy implementation's result. A workload whose implementation is missing in an
installed library (``symgraph.scan`` before it lands) raises `Unavailable`.

Compile-time workloads (W7) instead return the seconds of one compile from ``compile_once``
in a fresh process, with an empty or a warm cache.
"""
from __future__ import annotations

import numpy as np

__all__ = ["WORKLOADS", "Unavailable"]


class Unavailable(Exception):
    """This implementation cannot run this workload here (missing library or feature)."""


def _np_logsoftmax(x):
    m = x.max(axis=1, keepdims=True)
    z = x - m
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def _jax():
    try:
        import jax
    except ImportError as e:
        raise Unavailable("jax is not installed") from e
    jax.config.update("jax_enable_x64", True)
    return jax


def _pytensor(linker):
    try:
        import pytensor
    except ImportError as e:
        raise Unavailable("pytensor is not installed") from e
    if linker == "numba":
        try:
            import numba  # noqa: F401
        except ImportError as e:
            raise Unavailable("numba is not installed") from e
        return pytensor, "NUMBA"
    return pytensor, "FAST_RUN"


def _symgraph():
    import symgraph
    return symgraph


def _close(a, b, rtol=1e-6, atol=1e-9):
    a = [np.asarray(v) for v in (a if isinstance(a, (list, tuple)) else [a])]
    b = [np.asarray(v) for v in (b if isinstance(b, (list, tuple)) else [b])]
    if len(a) != len(b):
        return False, f"{len(a)} results, expected {len(b)}"
    worst = 0.0
    for x, y in zip(a, b):
        if x.shape != y.shape:
            return False, f"shape {x.shape}, expected {y.shape}"
        if not np.allclose(x, y, rtol=rtol, atol=atol):
            err = np.max(np.abs(x - y) / (atol + rtol * np.abs(y)))
            return False, f"differs (max scaled error {err:.3g})"
        if x.size:
            worst = max(worst, float(np.max(np.abs(x - y) / (1e-300 + np.abs(y) + atol))))
    return True, f"max rel error {worst:.2g}"


class Workload:
    key = ""
    title = ""
    unit = "ms"          # how `seconds per step` is shown
    per_step = 1         # a step covers this many units (W5: time steps)
    number = 1           # calls per timing sample
    rtol = 1e-6
    impls = ("numpy", "symgraph", "jax", "pytensor_c", "pytensor_numba")

    def __init__(self, quick=False, seed=0):
        self.quick = quick
        self.rng = np.random.default_rng(seed)
        self.setup_data()

    def setup_data(self):
        pass

    def build(self, impl):
        """(step, compile seconds) for `impl`."""
        import time
        t0 = time.perf_counter()
        step = getattr(self, impl)()
        return step, time.perf_counter() - t0

    def check(self, got, ref):
        return _close(got, ref, rtol=self.rtol)


# -- W1 ----------------------------------------------------------------------------------

class CallOverhead(Workload):
    key, title, unit, number = "W1", "call overhead of x + 1 on a 0-d input", "us", 2000

    def setup_data(self):
        self.x = np.array(1.5)

    def numpy(self):
        x = self.x
        return lambda: x + 1

    def symgraph(self):
        sg = _symgraph()
        import symgraph.tensor as T
        v = T.dscalar("x")
        f = sg.function([v], v + 1)
        x = self.x
        return lambda: f(x)

    def jax(self):
        jax = _jax()
        f = jax.jit(lambda v: v + 1)
        x = self.x
        f(x).block_until_ready()
        return lambda: f(x).block_until_ready()

    def _pt(self, linker):
        pytensor, mode = _pytensor(linker)
        import pytensor.tensor as pt
        v = pt.dscalar("x")
        f = pytensor.function([v], v + 1, mode=mode)
        x = self.x
        return lambda: f(x)

    def pytensor_c(self):
        return self._pt("c")

    def pytensor_numba(self):
        return self._pt("numba")


# -- W2 ----------------------------------------------------------------------------------

class FusedElemwise(Workload):
    key, title = "W2", "exp(-x*x)*sin(y) + log1p(abs(z))*0.5, float64"
    rtol = 1e-12

    def setup_data(self):
        n = 10 ** 6 if self.quick else 10 ** 7
        self.title += f", n={n:.0e}"
        self.x, self.y, self.z = (self.rng.standard_normal(n) for _ in range(3))

    def args(self):
        return self.x, self.y, self.z

    def numpy(self):
        x, y, z = self.args()
        return lambda: np.exp(-x * x) * np.sin(y) + np.log1p(np.abs(z)) * 0.5

    def symgraph(self):
        sg = _symgraph()
        import symgraph.tensor as T
        a, b, c = T.dvectors("x", "y", "z")
        f = sg.function([a, b, c], T.exp(-a * a) * T.sin(b) + T.log1p(abs(c)) * 0.5)
        x, y, z = self.args()
        return lambda: f(x, y, z)

    def jax(self):
        jax = _jax()
        jnp = jax.numpy
        f = jax.jit(lambda a, b, c: jnp.exp(-a * a) * jnp.sin(b) + jnp.log1p(jnp.abs(c)) * 0.5)
        x, y, z = (jax.device_put(v) for v in self.args())
        return lambda: np.asarray(f(x, y, z).block_until_ready())

    def _pt(self, linker):
        pytensor, mode = _pytensor(linker)
        import pytensor.tensor as pt
        a, b, c = pt.dvectors("x", "y", "z")
        f = pytensor.function([a, b, c], pt.exp(-a * a) * pt.sin(b) + pt.log1p(abs(c)) * 0.5,
                              mode=mode)
        x, y, z = self.args()
        return lambda: f(x, y, z)

    def pytensor_c(self):
        return self._pt("c")

    def pytensor_numba(self):
        return self._pt("numba")


# -- W3 ----------------------------------------------------------------------------------

class SoftmaxXent(Workload):
    key, title = "W3", "softmax crossentropy forward, int labels"
    rtol = 1e-9

    def setup_data(self):
        n, k = (1024, 1000) if self.quick else (4096, 1000)
        self.title += f", {n}x{k}"
        self.X = self.rng.standard_normal((n, k))
        self.y = self.rng.integers(0, k, size=n).astype(np.int64)

    def numpy(self):
        X, y = self.X, self.y
        rows = np.arange(len(y))
        return lambda: -_np_logsoftmax(X)[rows, y].mean()

    def symgraph(self):
        sg = _symgraph()
        import symgraph.tensor as T
        X, y = T.dmatrix("X"), T.lvector("y")
        loss = T.nnet.categorical_crossentropy(T.nnet.softmax(X), y).mean()
        f = sg.function([X, y], loss)
        return lambda: f(self.X, self.y)

    def jax(self):
        jax = _jax()
        jnp = jax.numpy

        def loss(X, y):
            ls = jax.nn.log_softmax(X, axis=1)
            return -jnp.take_along_axis(ls, y[:, None], axis=1).mean()
        f = jax.jit(loss)
        X, y = jax.device_put(self.X), jax.device_put(self.y)
        return lambda: np.asarray(f(X, y).block_until_ready())

    def _pt(self, linker):
        pytensor, mode = _pytensor(linker)
        import pytensor.tensor as pt
        X, y = pt.dmatrix("X"), pt.lvector("y")
        loss = pt.special.log_softmax(X, axis=1)[pt.arange(y.shape[0]), y].mean() * -1
        f = pytensor.function([X, y], loss, mode=mode)
        return lambda: f(self.X, self.y)

    def pytensor_c(self):
        return self._pt("c")

    def pytensor_numba(self):
        return self._pt("numba")


# -- W4 ----------------------------------------------------------------------------------

class MLPStep(Workload):
    """One SGD step of a tanh MLP 784-512-256-10 with softmax crossentropy, updates in the
    graph. The step returns the loss; the first step from the common initial weights is
    the one checked (with the updated first-layer weights)."""
    key, title = "W4", "MLP 784-512-256-10 training step (batch 256, SGD in-graph)"
    sizes = (784, 512, 256, 10)
    rtol = 1e-8
    lr = 0.01

    def setup_data(self):
        self.batch = 256
        s = self.sizes
        self.params0 = []
        for a, b in zip(s[:-1], s[1:]):
            self.params0 += [self.rng.standard_normal((a, b)) / np.sqrt(a), np.zeros(b)]
        self.X = self.rng.standard_normal((self.batch, s[0]))
        self.y = self.rng.integers(0, s[-1], size=self.batch).astype(np.int64)

    def gemms(self):
        """The step's 8 matrix products alone (3 forward, 5 backward): the W4 target's
        anchor."""
        W1, _, W2, _, W3, _ = self.params0
        X = self.X
        h1 = np.tanh(X @ W1)
        h2 = np.tanh(h1 @ W2)
        g = np.ones((len(X), W3.shape[1]))
        g2, g1 = np.ones_like(h2), np.ones_like(h1)

        def step():
            X @ W1, h1 @ W2, h2 @ W3
            h2.T @ g, g @ W3.T, h1.T @ g2, g2 @ W2.T, X.T @ g1
            return None
        return step

    def numpy(self):
        params = [p.copy() for p in self.params0]
        X, y, lr = self.X, self.y, self.lr
        rows = np.arange(len(y))

        def step():
            W1, b1, W2, b2, W3, b3 = params
            h1 = np.tanh(X @ W1 + b1)
            h2 = np.tanh(h1 @ W2 + b2)
            ls = _np_logsoftmax(h2 @ W3 + b3)
            loss = -ls[rows, y].mean()
            g = np.exp(ls)
            g[rows, y] -= 1
            g /= len(y)
            gW3, gb3 = h2.T @ g, g.sum(0)
            g2 = (g @ W3.T) * (1 - h2 * h2)
            gW2, gb2 = h1.T @ g2, g2.sum(0)
            g1 = (g2 @ W2.T) * (1 - h1 * h1)
            gW1, gb1 = X.T @ g1, g1.sum(0)
            for p, gp in zip(params, (gW1, gb1, gW2, gb2, gW3, gb3)):
                p -= lr * gp
            return [loss, params[0].copy()]
        return step

    def symgraph(self):
        sg = _symgraph()
        import symgraph.tensor as T
        params = [sg.shared(p.copy(), f"p{k}") for k, p in enumerate(self.params0)]
        X, y = T.dmatrix("X"), T.lvector("y")
        W1, b1, W2, b2, W3, b3 = params
        h1 = T.tanh(T.dot(X, W1) + b1)
        h2 = T.tanh(T.dot(h1, W2) + b2)
        p = T.nnet.softmax(T.dot(h2, W3) + b3)
        loss = T.nnet.categorical_crossentropy(p, y).mean()
        grads = sg.grad(loss, params)
        f = sg.function([X, y], loss,
                        updates=[(q, q - self.lr * g) for q, g in zip(params, grads)])
        return lambda: [f(self.X, self.y), params[0].get_value(borrow=True)]

    def jax(self):
        jax = _jax()
        jnp = jax.numpy

        def loss_fn(params, X, y):
            W1, b1, W2, b2, W3, b3 = params
            h1 = jnp.tanh(X @ W1 + b1)
            h2 = jnp.tanh(h1 @ W2 + b2)
            ls = jax.nn.log_softmax(h2 @ W3 + b3, axis=1)
            return -jnp.take_along_axis(ls, y[:, None], axis=1).mean()

        @jax.jit
        def step(params, X, y):
            loss, g = jax.value_and_grad(loss_fn)(params, X, y)
            return loss, [p - self.lr * gp for p, gp in zip(params, g)]
        state = [[jax.device_put(p) for p in self.params0]]
        X, y = jax.device_put(self.X), jax.device_put(self.y)
        step(state[0], X, y)[0].block_until_ready()          # compile

        def run():
            loss, state[0] = step(state[0], X, y)
            return [np.asarray(loss.block_until_ready()), np.asarray(state[0][0])]
        return run

    def _pt(self, linker):
        pytensor, mode = _pytensor(linker)
        import pytensor.tensor as pt
        params = [pytensor.shared(p.copy(), f"p{k}") for k, p in enumerate(self.params0)]
        X, y = pt.dmatrix("X"), pt.lvector("y")
        W1, b1, W2, b2, W3, b3 = params
        h1 = pt.tanh(pt.dot(X, W1) + b1)
        h2 = pt.tanh(pt.dot(h1, W2) + b2)
        ls = pt.special.log_softmax(pt.dot(h2, W3) + b3, axis=1)
        loss = -ls[pt.arange(y.shape[0]), y].mean()
        grads = pytensor.grad(loss, params)
        f = pytensor.function([X, y], loss, mode=mode,
                              updates=[(q, q - self.lr * g) for q, g in zip(params, grads)])
        return lambda: [f(self.X, self.y), params[0].get_value(borrow=True)]

    def pytensor_c(self):
        return self._pt("c")

    def pytensor_numba(self):
        return self._pt("numba")


# -- W5 ----------------------------------------------------------------------------------

class ElmanRNN(Workload):
    """h_t = tanh(x_t W + h_{t-1} U + b); cost = sum of h_t^2 / 2 over all steps; the step
    returns the cost and its gradients with respect to W, U, b (forward + BPTT)."""
    key, title, unit = "W5", "Elman RNN forward + BPTT via scan (hidden 128, input 64, batch 32)", "us"
    rtol = 1e-7

    def setup_data(self):
        self.T = 100 if self.quick else 1000
        self.per_step = self.T
        self.title += f", T={self.T}, per step"
        nin, nh, nb = 64, 128, 32
        self.X = self.rng.standard_normal((self.T, nb, nin)) * 0.5
        self.W = self.rng.standard_normal((nin, nh)) / np.sqrt(nin)
        self.U = self.rng.standard_normal((nh, nh)) / np.sqrt(nh) * 0.9
        self.b = np.zeros(nh)
        self.h0 = np.zeros((nb, nh))

    def numpy(self):
        X, W, U, b, h0 = self.X, self.W, self.U, self.b, self.h0

        def step():
            hs = np.empty((len(X),) + h0.shape)
            h = h0
            for t in range(len(X)):
                h = np.tanh(X[t] @ W + h @ U + b)
                hs[t] = h
            cost = 0.5 * (hs * hs).sum()
            gW, gU, gb = np.zeros_like(W), np.zeros_like(U), np.zeros_like(b)
            dh = np.zeros_like(h0)
            for t in range(len(X) - 1, -1, -1):
                dh = dh + hs[t]
                da = dh * (1 - hs[t] * hs[t])
                hprev = hs[t - 1] if t else h0
                gW += X[t].T @ da
                gU += hprev.T @ da
                gb += da.sum(0)
                dh = da @ U.T
            return [cost, gW, gU, gb]
        return step

    def symgraph(self):
        sg = _symgraph()
        try:
            from symgraph.scan import scan
        except ImportError as e:
            raise Unavailable("symgraph.scan has not landed") from e
        import symgraph.tensor as T
        X = T.dtensor3("X")
        W, U, b, h0 = T.dmatrix("W"), T.dmatrix("U"), T.dvector("b"), T.dmatrix("h0")
        hs, _ = scan(lambda x, h, W, U, b: T.tanh(T.dot(x, W) + T.dot(h, U) + b),
                     sequences=X, outputs_info=h0, non_sequences=[W, U, b])
        cost = 0.5 * (hs * hs).sum()
        gW, gU, gb = sg.grad(cost, [W, U, b])
        f = sg.function([X, W, U, b, h0], [cost, gW, gU, gb])
        args = (self.X, self.W, self.U, self.b, self.h0)
        return lambda: f(*args)

    def jax(self):
        jax = _jax()
        jnp = jax.numpy

        def cost_fn(W, U, b, X, h0):
            def body(h, x):
                h = jnp.tanh(x @ W + h @ U + b)
                return h, h
            _, hs = jax.lax.scan(body, h0, X)
            return 0.5 * (hs * hs).sum()
        f = jax.jit(jax.value_and_grad(cost_fn, argnums=(0, 1, 2)))
        args = [jax.device_put(v) for v in (self.W, self.U, self.b, self.X, self.h0)]

        def run():
            c, (gW, gU, gb) = f(*args)
            return [np.asarray(c.block_until_ready()), np.asarray(gW), np.asarray(gU),
                    np.asarray(gb)]
        return run

    def _pt(self, linker):
        pytensor, mode = _pytensor(linker)
        import pytensor.tensor as pt
        X = pt.dtensor3("X")
        W, U, b, h0 = pt.dmatrix("W"), pt.dmatrix("U"), pt.dvector("b"), pt.dmatrix("h0")
        hs, _ = pytensor.scan(lambda x, h, W, U, b: pt.tanh(pt.dot(x, W) + pt.dot(h, U) + b),
                              sequences=X, outputs_info=h0, non_sequences=[W, U, b])
        cost = 0.5 * (hs * hs).sum()
        gW, gU, gb = pytensor.grad(cost, [W, U, b])
        f = pytensor.function([X, W, U, b, h0], [cost, gW, gU, gb], mode=mode)
        args = (self.X, self.W, self.U, self.b, self.h0)
        return lambda: f(*args)

    def pytensor_c(self):
        return self._pt("c")

    def pytensor_numba(self):
        return self._pt("numba")


# -- W6 ----------------------------------------------------------------------------------

class Hessian(Workload):
    """The full Hessian of sum(tanh(A x)^2) + x.x/2; numpy's is hand-derived:
    A^T diag(2 (1 - t^2)(1 - 3 t^2)) A + I with t = tanh(A x)."""
    key, title = "W6", "full Hessian of sum(tanh(A x)^2) + x.x/2"
    rtol = 1e-8

    def setup_data(self):
        self.n = 300
        self.title += f", n={self.n}"
        self.A = self.rng.standard_normal((self.n, self.n)) / np.sqrt(self.n)
        self.x = self.rng.standard_normal(self.n)

    def numpy(self):
        A, x, eye = self.A, self.x, np.eye(self.n)

        def step():
            t = np.tanh(A @ x)
            d = 2 * (1 - t * t) * (1 - 3 * t * t)
            return (A.T * d) @ A + eye
        return step

    def symgraph(self):
        sg = _symgraph()
        import symgraph.tensor as T
        from symgraph.gradient import hessian
        A, x = T.dmatrix("A"), T.dvector("x")
        cost = (T.tanh(T.dot(A, x)) ** 2).sum() + T.dot(x, x) / 2
        f = sg.function([A, x], hessian(cost, x))
        return lambda: f(self.A, self.x)

    def jax(self):
        jax = _jax()
        jnp = jax.numpy
        f = jax.jit(jax.hessian(lambda x, A: (jnp.tanh(A @ x) ** 2).sum() + x @ x / 2))
        x, A = jax.device_put(self.x), jax.device_put(self.A)
        return lambda: np.asarray(f(x, A).block_until_ready())

    def _pt(self, linker):
        pytensor, mode = _pytensor(linker)
        import pytensor.tensor as pt
        from pytensor.gradient import hessian
        A, x = pt.dmatrix("A"), pt.dvector("x")
        cost = (pt.tanh(pt.dot(A, x)) ** 2).sum() + pt.dot(x, x) / 2
        f = pytensor.function([A, x], hessian(cost, x), mode=mode)
        return lambda: f(self.A, self.x)

    def pytensor_c(self):
        return self._pt("c")

    def pytensor_numba(self):
        return self._pt("numba")


# -- W7 ----------------------------------------------------------------------------------

class CompileTime(Workload):
    """Compile time in a fresh process: a 100-node elementwise/dot chain (and, as W7b,
    W4's training function), with an empty cache ('cold') or one filled by an earlier
    process ('warm'). The chain: h <- tanh(h @ W) * 0.5 + h * c_k, repeated."""
    key, title, unit = "W7", "compile a 100-node elementwise/dot chain", "s"
    impls = ("symgraph", "jax", "pytensor_c", "pytensor_numba")
    compile_workload = True
    which = "chain"

    def setup_data(self):
        self.W = self.rng.standard_normal((16, 16)) / 4
        self.h = self.rng.standard_normal(16)

    def _chain(self, tanh, dot, h, W):
        for k in range(20):      # 5 nodes each: dot, tanh, mul, mul, add
            h = tanh(dot(h, W)) * 0.5 + h * (0.1 + 0.01 * k)
        return h

    def numpy(self):
        return lambda: self._chain(np.tanh, np.dot, self.h, self.W)

    def compile_once(self, impl):
        """(seconds to compile, the compiled step) for `impl`."""
        import time
        if self.which == "mlp":
            mlp = MLPStep(quick=self.quick)
            t0 = time.perf_counter()
            step = getattr(mlp, impl)()
            return time.perf_counter() - t0, step
        t0 = time.perf_counter()
        if impl == "symgraph":
            sg = _symgraph()
            import symgraph.tensor as T
            h, W = T.dvector("h"), T.dmatrix("W")
            f = sg.function([h, W], self._chain(T.tanh, T.dot, h, W))
            dt = time.perf_counter() - t0
            return dt, lambda: f(self.h, self.W)
        if impl == "jax":
            jax = _jax()
            jnp = jax.numpy
            f = jax.jit(lambda h, W: self._chain(jnp.tanh, jnp.dot, h, W))
            c = f.lower(self.h, self.W).compile()
            dt = time.perf_counter() - t0
            return dt, lambda: np.asarray(c(self.h, self.W))
        pytensor, mode = _pytensor("numba" if impl == "pytensor_numba" else "c")
        import pytensor.tensor as pt
        h, W = pt.dvector("h"), pt.dmatrix("W")
        f = pytensor.function([h, W], self._chain(pt.tanh, pt.dot, h, W), mode=mode)
        if impl == "pytensor_numba":
            f(self.h, self.W)            # numba compiles on the first call
        dt = time.perf_counter() - t0
        return dt, lambda: f(self.h, self.W)

    def check(self, got, ref):
        if self.which == "mlp":
            return True, "compiled"
        return _close(got, ref, rtol=1e-10)


class CompileTimeMLP(CompileTime):
    key, title = "W7b", "compile W4's training function"
    which = "mlp"


# -- W8 ----------------------------------------------------------------------------------

class IfElseLazy(Workload):
    """ifelse(c, sum(X @ X), sum(X)): only the chosen branch may run. Timed with c false
    (the cheap branch; a non-lazy ifelse pays for the product) and c true."""
    key, title = "W8", "ifelse(c, sum(X@X), sum(X)), X 2000x2000"
    rtol = 1e-9
    cond = False

    def setup_data(self):
        n = 1000 if self.quick else 2000
        self.title = self.title.replace("2000x2000", f"{n}x{n}") + \
            f", c {'true' if self.cond else 'false'}"
        self.X = self.rng.standard_normal((n, n))

    def numpy(self):
        X, c = self.X, self.cond
        return lambda: np.sum(X @ X) if c else np.sum(X)

    def symgraph(self):
        sg = _symgraph()
        try:
            from symgraph.ifelse import ifelse
        except ImportError as e:
            raise Unavailable("symgraph.ifelse has not landed") from e
        import symgraph.tensor as T
        c, X = T.bscalar("c"), T.dmatrix("X")
        f = sg.function([c, X], ifelse(c, T.sum(T.dot(X, X)), T.sum(X)))
        cv = np.int8(self.cond)
        return lambda: f(cv, self.X)

    def jax(self):
        jax = _jax()
        jnp = jax.numpy
        f = jax.jit(lambda c, X: jax.lax.cond(c, lambda X: jnp.sum(X @ X),
                                               lambda X: jnp.sum(X), X))
        X = jax.device_put(self.X)
        return lambda: np.asarray(f(self.cond, X).block_until_ready())

    def _pt(self, linker):
        pytensor, mode = _pytensor(linker)
        import pytensor.tensor as pt
        from pytensor.ifelse import ifelse
        c, X = pt.bscalar("c"), pt.dmatrix("X")
        f = pytensor.function([c, X], ifelse(c, pt.sum(pt.dot(X, X)), pt.sum(X)), mode=mode)
        cv = np.int8(self.cond)
        return lambda: f(cv, self.X)

    def pytensor_c(self):
        return self._pt("c")

    def pytensor_numba(self):
        return self._pt("numba")

    def check(self, got, ref):
        return _close(got, ref, rtol=1e-9 if not self.cond else 1e-7)


class IfElseLazyTrue(IfElseLazy):
    key = "W8t"
    cond = True


# -- W9 ----------------------------------------------------------------------------------

class ScanStep(Workload):
    """A scan's cost per step when the step is nothing: h_t = h_{t-1} * a + x_t over a
    vector's scalars (no target in issue 10; the per-step overhead users see)."""
    key, title, unit = "W9", "scan per-step overhead: h = h*a + x_t over scalars", "us"
    rtol = 1e-12

    def setup_data(self):
        self.T = 10_000 if self.quick else 100_000
        self.per_step = self.T
        self.title += f", T={self.T}, per step"
        self.x = self.rng.standard_normal(self.T)

    def numpy(self):
        x = self.x

        def step():
            hs = np.empty_like(x)
            h = 0.0
            for t in range(len(x)):
                h = h * 0.5 + x[t]
                hs[t] = h
            return hs
        return step

    def symgraph(self):
        sg = _symgraph()
        import symgraph.tensor as T
        xs, a = T.dvector("x"), T.dscalar("a")
        hs, _ = sg.scan(lambda xt, h, a: h * a + xt, sequences=xs,
                        outputs_info=T.constant(np.float64(0.0)), non_sequences=a)
        f = sg.function([xs, a], hs)
        return lambda: f(self.x, 0.5)

    def jax(self):
        jax = _jax()

        def body(h, xt):
            h = h * 0.5 + xt
            return h, h
        f = jax.jit(lambda x: jax.lax.scan(body, 0.0 * x[0], x)[1])
        x = jax.device_put(self.x)
        return lambda: np.asarray(f(x).block_until_ready())

    def _pt(self, linker):
        pytensor, mode = _pytensor(linker)
        import pytensor.tensor as pt
        xs, a = pt.dvector("x"), pt.dscalar("a")
        hs, _ = pytensor.scan(lambda xt, h, a: h * a + xt, sequences=xs,
                              outputs_info=pt.constant(np.float64(0.0)), non_sequences=a)
        f = pytensor.function([xs, a], hs, mode=mode)
        return lambda: f(self.x, 0.5)

    def pytensor_c(self):
        return self._pt("c")

    def pytensor_numba(self):
        return self._pt("numba")


WORKLOADS = {w.key: w for w in (CallOverhead, FusedElemwise, SoftmaxXent, MLPStep,
                                ElmanRNN, Hessian, CompileTime, CompileTimeMLP, IfElseLazy,
                                IfElseLazyTrue, ScanStep)}
