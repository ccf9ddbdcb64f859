"""Gradients: ``grad``, ``Lop``, ``Rop``, ``verify_grad`` and the gradient-only ops.

The machinery lives in ``symgraph/grad/`` (see its docstrings); this module is the public
face, as Theano's ``theano.gradient``.
"""
from .errors import DisconnectedInputError, GradientError  # noqa: F401
from .grad.batched import hessian, hessian_vector_product, jacobian  # noqa: F401
from .grad.forward import Rop  # noqa: F401
from .grad.ops import (consider_constant, disconnected_grad, grad_clip,  # noqa: F401
                       grad_scale, zero_grad)
from .grad.reverse import Lop, grad  # noqa: F401
from .grad.verify import GradientCheckError, numeric_grad, verify_grad  # noqa: F401

__all__ = ["grad", "Lop", "Rop", "verify_grad", "GradientCheckError", "numeric_grad",
           "jacobian", "hessian", "hessian_vector_product", "zero_grad", "consider_constant",
           "disconnected_grad", "grad_clip", "grad_scale",
           "DisconnectedInputError", "GradientError"]
