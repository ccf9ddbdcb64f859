"""``RandomStream``: symbolic random numbers whose generator states are shared variables.

>>> srng = RandomStream(seed=234)
>>> u = srng.uniform((2, 2))
>>> f = symgraph.function([], u)
>>> f(); f()          # two different draws: the state advances on every call

Each draw gets its own state, a shared ``uint64`` vector (a packed PCG64 state) seeded from
the stream's seed, whose ``default_update`` is the advanced state. ``function(...,
no_default_updates=True)`` freezes it; ``srng.seed(n)`` reseeds every state of the stream.
"""
from __future__ import annotations

import numpy as np

from ..config import config
from ..ops.random import STATE_TYPE, draw, state_from_seed
from ..shared import SharedVariable
from .var import as_tensor_variable

__all__ = ["RandomStream"]


class RandomStream:
    """A source of symbolic random draws: ``srng.normal((3, 4), avg=0, std=1)``."""

    def __init__(self, seed=None):
        self.default_instance_seed = seed
        self._master = np.random.default_rng(seed)
        self.state_updates = []

    def _new_state(self):
        return state_from_seed(int(self._master.integers(2 ** 63)))

    def seed(self, seed=None):
        """Reseed the stream and every state it made, as if it were new with `seed`."""
        self.default_instance_seed = seed
        self._master = np.random.default_rng(seed)
        for state, _ in self.state_updates:
            state.set_value(self._new_state(), borrow=True)

    def updates(self):
        """The (state, new state) pairs of every draw made so far (for scan/function)."""
        return list(self.state_updates)

    def gen(self, dist, size, params, dtype, replace=True):
        state = SharedVariable(STATE_TYPE, self._new_state(), name=f"rng_{dist}", borrow=True)
        new_state, sample = draw(dist, state, size, params, dtype, replace)
        state.default_update = new_state
        self.state_updates.append((state, new_state))
        sample.rng = state
        sample.update = (state, new_state)
        return sample

    def uniform(self, size=None, low=0.0, high=1.0, ndim=None, dtype=None):
        """Uniform on [low, high) (numpy Generator.uniform); dtype floatX by default."""
        return self.gen("uniform", size, [low, high], dtype or config.floatX)

    def normal(self, size=None, avg=0.0, std=1.0, ndim=None, dtype=None):
        """Normal with mean `avg` and standard deviation `std`; dtype floatX by default."""
        return self.gen("normal", size, [avg, std], dtype or config.floatX)

    def binomial(self, size=None, n=1, p=0.5, ndim=None, dtype="int64"):
        """Binomial(n, p) counts: ``srng.binomial(x.shape, p=0.5, dtype=x.dtype)`` for dropout."""
        return self.gen("binomial", size, [n, p], dtype)

    def integers(self, low, high=None, size=None, dtype="int64"):
        """Integers in [low, high) (numpy Generator.integers; [0, low) with one bound)."""
        if high is None:
            low, high = 0, low
        return self.gen("integers", size, [low, high], dtype)

    def choice(self, size=None, a=2, replace=True, p=None, ndim=None, dtype=None):
        """Draws from range(a) (an int) or from the vector `a`, with probabilities `p`."""
        if dtype is None:
            av = as_tensor_variable(a)
            dtype = av.dtype if av.ndim else "int64"
        params = [a] if p is None else [a, p]
        return self.gen("choice", size, params, dtype, replace=replace)

    def permutation(self, size=None, n=1, ndim=None, dtype="int64"):
        """A random permutation of range(n) (one per entry of `size` when given)."""
        if not isinstance(size, (tuple, list)) and size is not None and not hasattr(size, "type"):
            size, n = None, size  # permutation(n)
        return self.gen("permutation", size, [n], dtype)


RandomStreams = RandomStream
