"""Theano's ``theano.scan_module`` names: ``until``, ``scan``."""
from .scan import scan, until  # noqa: F401

__all__ = ["scan", "until"]
