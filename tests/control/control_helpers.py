"""Test-only ops for the control-flow tests: one that counts its calls, one that raises."""
import numpy as np

from symgraph.graph import Apply, Op
from symgraph.tensor.var import as_tensor_variable


class Counted(Op):
    """x * 2 (numpy), counting how often it runs in ``calls``."""

    __props__ = ("tag_",)

    def __init__(self, tag_="c"):
        self.tag_ = tag_
        self.calls = 0

    def make_node(self, x):
        x = as_tensor_variable(x)
        return Apply(self, [x], [x.type()])

    def perform(self, node, inputs, output_storage):
        self.calls += 1
        output_storage[0][0] = np.asarray(inputs[0] * 2, dtype=node.outputs[0].dtype)

    def L_op(self, inputs, outputs, output_grads):
        return [output_grads[0] * 2]


class Explodes(Op):
    """Raises when it runs: a branch that must not be computed."""

    __props__ = ()

    def make_node(self, x):
        x = as_tensor_variable(x)
        return Apply(self, [x], [x.type()])

    def perform(self, node, inputs, output_storage):
        raise RuntimeError("the branch not taken was computed")


MODES = ["py", "FAST_COMPILE", "FAST_RUN"]
