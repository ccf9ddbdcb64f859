"""Reverse mode (grad, Lop), forward mode (Rop), jacobian/hessian and verify_grad."""
