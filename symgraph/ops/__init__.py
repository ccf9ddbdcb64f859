"""Op families: one module each (scalar, elemwise, math, reduce, blas, shape, subtensor, linalg)."""
