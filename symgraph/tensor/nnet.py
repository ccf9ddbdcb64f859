"""``T.nnet``: softmax, crossentropies, activations and conv2d."""
from ..ops.nnet import (binary_crossentropy, categorical_crossentropy, hard_sigmoid,  # noqa: F401
                        log_softmax, relu, sigmoid, sigmoid_binary_crossentropy, softmax,
                        softplus, ultra_fast_sigmoid)

__all__ = ["softmax", "log_softmax", "categorical_crossentropy", "binary_crossentropy",
           "sigmoid", "softplus", "relu", "ultra_fast_sigmoid", "hard_sigmoid",
           "sigmoid_binary_crossentropy"]
from ..ops.conv import conv2d  # noqa: F401,E402

__all__ += ["conv2d"]
