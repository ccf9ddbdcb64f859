"""Theano's module name for the random stream: ``RandomStreams`` is ``RandomStream``."""
from .random import RandomStream, RandomStream as RandomStreams  # noqa: F401

__all__ = ["RandomStreams", "RandomStream"]
