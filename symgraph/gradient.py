"""Gradients: ``symgraph.gradient.grad``, Rop, Lop, jacobian, hessian, verify_grad, ..."""
from .grad.reverse import *  # noqa: F401,F403
