"""(to be written: the blas op family)."""
__all__ = []
